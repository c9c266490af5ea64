"""Helpers shared by the tests (tests/deploy, tests/image, tests/functional)
and the benchmarks (bench/): see playbook.py."""
