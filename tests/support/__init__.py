"""Shared test support code (real PostgreSQL servers for tests and benchmarks)."""
