"""Benchmarks and test-CPU tooling, outside the installed package: `nox -s bench` runs `python -m benchmarks.bench`."""
