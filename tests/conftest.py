"""Hypothesis profiles. The suite is reproducible by default: property tests draw the same
examples on every run, so CI is not a lottery. To hunt for new failures, run
``HYPOTHESIS_PROFILE=explore python -m pytest tests/passes/test_random_graphs.py``: fresh random
examples on every run (loop it for a long hunt); fix what it finds and pin it as a plain
test."""
import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
