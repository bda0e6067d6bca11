"""The benchmarks: each one a module, run as `python -m benchmarks.<name>` (see harness.py)."""
