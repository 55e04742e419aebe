"""Checking generated CUDA without a GPU: compile it with nvcc, and run its scalar code on
the CPU.

``compile_ptx`` compiles kernel sources for a GPU architecture (what NVRTC does on a GPU
machine), so a kernel that does not compile is caught anywhere nvcc is installed.

``run_on_host`` goes further: every element and index function the code generator emits is
``__host__ __device__``, so a small C++ driver (generated here, compiled by nvcc with the
host compiler) calls them for every element on the CPU: the same loads through broadcast
strides, the same templates and conversions, the same reduction combine and finish, element
by element in order. Only the grid launch and the shared-memory tree are left to a real
GPU, and the device's own math library (CUDA's expf vs the host's, a few ulp apart).
"""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy as np

from graphc.backends.cupy.cuda_codegen import CudaKernel, combine_expr, finish_expr

ARCH = "sm_80"


def find_nvcc() -> str | None:
    """nvcc on PATH, else under the usual CUDA install prefixes."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in sorted(pathlib.Path("/usr/local").glob("cuda*"), reverse=True):
        candidate = root / "bin" / "nvcc"
        if candidate.exists():
            return str(candidate)
    return None


class CompileError(RuntimeError):
    """nvcc rejected generated code; the message holds its diagnostics."""


def _nvcc(args, workdir, sources: dict) -> None:
    nvcc = find_nvcc()
    if nvcc is None:
        raise FileNotFoundError("nvcc is not installed (looked on PATH and under /usr/local/cuda*)")
    for name, text in sources.items():
        (workdir / name).write_text(text)
    result = subprocess.run([nvcc, *args], cwd=workdir, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        listing = "\n\n".join(f"----- {n} -----\n{_numbered(t)}" for n, t in sources.items())
        raise CompileError(f"nvcc {' '.join(args)} failed:\n{result.stderr}{result.stdout}\n{listing}")


def _numbered(text: str) -> str:
    return "\n".join(f"{k + 1:4d}  {line}" for k, line in enumerate(text.splitlines()))


def compile_ptx(kernels, workdir=None) -> dict:
    """Compile the distinct kernel sources to PTX for ``ARCH`` — all in one translation unit,
    one nvcc run (the preamble is include-guarded, kernel names are hashes of their code).
    Returns {kernel name: the PTX of its entry points}. Raises CompileError with nvcc's
    diagnostics and the numbered source."""
    unique = {k.name: k for k in kernels}
    with _workdir(workdir) as d:
        sources = {"kernels.cu": "".join(k.code for k in unique.values())}
        _nvcc([f"-arch={ARCH}", "--ptx", "kernels.cu"], d, sources)
        ptx = (d / "kernels.ptx").read_text()
    sections = _entry_sections(ptx)
    return {name: "".join(sections.get(entry, "") for entry in k.entries) for name, k in unique.items()}


def _entry_sections(ptx: str) -> dict:
    """{entry name: its PTX text, from '.entry' to the next entry (or the end)}."""
    starts = [m for m in re.finditer(r"^\.visible \.entry (\w+)\(", ptx, re.M)]
    out = {}
    for m, nxt in zip(starts, starts[1:] + [None]):
        out[m.group(1)] = ptx[m.start() + len(".visible "):nxt.start() if nxt else len(ptx)]
    return out


def run_on_host(cases, workdir=None) -> list:
    """Run generated kernels' scalar code on the CPU.

    ``cases``: (CudaKernel, {input param name: array}) pairs. Returns, per case, {param name:
    array} for every full-size output (out*) and reduction result (red*)."""
    cases = list(cases)
    kernels = {k.name: k for k, _ in cases}
    with _workdir(workdir) as d:
        driver = _driver(list(kernels.values()))
        sources = {f"{name}.cuh": k.source for name, k in kernels.items()}
        sources["harness.cu"] = "".join(f'#include "{n}.cuh"\n' for n in kernels) + driver
        _nvcc([f"-arch={ARCH}", "-O1", "-o", "harness", "harness.cu"], d, sources)
        results = []
        for number, (k, arrays) in enumerate(cases):
            case = d / f"case{number}"
            case.mkdir()
            for p in k.inputs:
                value = np.array(arrays[p.name], dtype=p.dtype, order="C")
                if value.shape != p.shape:
                    raise ValueError(f"{k.name}: {p.name} is {p.shape}, got {value.shape}")
                value.tofile(case / f"{p.name}.bin")
            run = subprocess.run(["./harness", k.name, str(case)], cwd=d, capture_output=True,
                                 text=True, timeout=600)
            if run.returncode != 0:
                raise RuntimeError(f"harness for {k.name} failed: {run.stderr}{run.stdout}")
            results.append({p.name: np.fromfile(case / f"{p.name}.bin", dtype=p.dtype).reshape(p.shape)
                            for p in k.outputs + k.reductions})
        return results


class _workdir:
    def __init__(self, given):
        self.given = given
        self.tmp = None

    def __enter__(self) -> pathlib.Path:
        if self.given is not None:
            path = pathlib.Path(self.given)
            path.mkdir(parents=True, exist_ok=True)
            return path
        self.tmp = tempfile.TemporaryDirectory(prefix="graphc-cuda-")
        return pathlib.Path(self.tmp.name)

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()


def _driver(kernels) -> str:
    """C++: main(kernel name, case directory) reads the inputs, runs the kernel's passes
    element by element, writes the outputs."""
    out = ["#include <cstdio>", "#include <cstdlib>", "#include <cstring>", "#include <string>", "",
           "template <typename T> static T* load(const std::string& path, size_t count)",
           "{",
           "    T* data = (T*)calloc(count ? count : 1, sizeof(T));",
           "    FILE* f = fopen(path.c_str(), \"rb\");",
           "    if (!f || fread(data, sizeof(T), count, f) != count) { fprintf(stderr, \"cannot read %s\\n\", path.c_str()); exit(2); }",
           "    fclose(f);",
           "    return data;",
           "}",
           "",
           "template <typename T> static void save(const std::string& path, const T* data, size_t count)",
           "{",
           "    FILE* f = fopen(path.c_str(), \"wb\");",
           "    if (!f || fwrite(data, sizeof(T), count, f) != count) { fprintf(stderr, \"cannot write %s\\n\", path.c_str()); exit(2); }",
           "    fclose(f);",
           "}",
           ""]
    for k in kernels:
        out += _run_function(k)
    out.append("int main(int argc, char** argv)")
    out.append("{")
    out.append("    if (argc != 3) { fprintf(stderr, \"usage: harness KERNEL DIR\\n\"); return 2; }")
    for k in kernels:
        out.append(f"    if (!strcmp(argv[1], \"{k.name}\")) {{ run_{k.name}(argv[2]); return 0; }}")
    out.append("    fprintf(stderr, \"unknown kernel %s\\n\", argv[1]);")
    out.append("    return 2;")
    out.append("}")
    return "\n".join(out) + "\n"


def _run_function(k: CudaKernel) -> list:
    idx = k.index_ctype
    lines = [f"static void run_{k.name}(const std::string& dir)", "{"]
    for p in k.inputs:
        lines.append(f"    const {p.ctype}* {p.name} = load<{p.ctype}>(dir + \"/{p.name}.bin\", {_count(p)});")
    for p in k.outputs + k.reductions:
        lines.append(f"    {p.ctype}* {p.name} = ({p.ctype}*)calloc({max(_count(p), 1)}, sizeof({p.ctype}));")
    ins = [p.name for p in k.inputs]
    for ps in k.passes:
        if ps.axes is None:
            call = ", ".join(["i"] + ins + [p.name for p in k.outputs])
            lines.append(f"    for ({idx} i = 0; i < {ps.rows}; ++i) {ps.element}({call});")
            continue
        lines.append(f"    for ({idx} row = 0; row < {ps.rows}; ++row) {{")
        for n, red in enumerate(ps.reductions):
            lines.append(f"        {red.output.ctype} acc{n} = {red.identity};")
        lines.append(f"        for ({idx} j = 0; j < {ps.length}; ++j) {{")
        refs = [f"r{n}" for n in range(len(ps.reductions))]
        for r in refs:
            lines.append(f"            {ps.reductions[int(r[1:])].output.ctype} {r};")
        call = [f"{ps.index}(row, j)"] + ins + ([p.name for p in k.outputs] if ps.stores else []) + refs
        lines.append(f"            {ps.element}({', '.join(call)});")
        for n, red in enumerate(ps.reductions):
            lines.append(f"            acc{n} = {combine_expr(red.op, f'acc{n}', f'r{n}')};")
        lines.append("        }")
        for n, red in enumerate(ps.reductions):
            lines.append(f"        {red.output.name}[row] = {finish_expr(red, f'acc{n}', ps.length)};")
        lines.append("    }")
    for p in k.outputs + k.reductions:
        lines.append(f"    save<{p.ctype}>(dir + \"/{p.name}.bin\", {p.name}, {_count(p)});")
    lines.append("}")
    lines.append("")
    return lines


def _count(p) -> int:
    return int(np.prod(p.shape, dtype=np.int64))


__all__ = ["ARCH", "CompileError", "compile_ptx", "find_nvcc", "run_on_host"]
