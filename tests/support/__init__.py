"""Shared test support code.

The PostgreSQL server starter moved into the package
(:mod:`synthorg.persistence.testing.pgserver`); ``tests.support.pgserver``
re-exports it.
"""
