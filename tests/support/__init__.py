"""Helpers shared by tests (and the benchmarks' checks): importable as tests.support.*."""
