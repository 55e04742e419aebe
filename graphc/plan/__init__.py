"""What a backend receives: the schedule (kernels in run order), the memory plan (buffer reuse,
in place) and the Program that carries them."""
