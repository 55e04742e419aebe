"""``gc.function``: specializes a graph per input signature, runs the passes, plans it, hands the
Program to a backend by name and checks feeds at call time; plus its cache and profile."""
