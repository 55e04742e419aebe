"""Quickstart: build a graph, differentiate it, compile it, run it, look at it."""
import graphc as gc

a, b, c, d = (gc.placeholder(name=n) for n in "abcd")
h = (a + b) * (c + d)                       # the graph of h = (a + b)(c + d)
dh_da, dh_dc = gc.grad(h, [a, c])           # more graph: dh/da = c + d, dh/dc = a + b
f = gc.function([a, b, c, d], [h, dh_da, dh_dc])

print("h, dh/da, dh/dc at (1, 2, 3, 4):", [float(v) for v in f(1.0, 2.0, 3.0, 4.0)])
print("keyword call:", float(f(a=1.0, b=2.0, c=3.0, d=4.0)[0]))
print("\nGenerated source:\n" + f.source)
print(f.explain())

if __name__ == "__main__":
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    print("\nwrote", gc.render(h, f"{out}/quickstart_h.svg"), "and", gc.render(f, f"{out}/quickstart_f.svg"))
