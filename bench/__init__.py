"""Benchmark of the generated repositories against raw drivers and an ORM.

Run with ``make bench`` (full) or ``make bench-quick``; see
``docs/benchmarks.md`` for the method and the latest table.
"""
