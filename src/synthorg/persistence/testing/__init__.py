"""Test support for code built on ``synthorg.persistence``.

* :mod:`synthorg.persistence.testing.plugin`: a pytest plugin, registered
  through the ``pytest11`` entry point ``synthorg_persistence``, so installing
  the package is enough to get the fixtures ``sqlite_backend``,
  ``sqlite_file_backend`` and ``postgres_backend`` (see ``docs/testing.md``).
* :mod:`synthorg.persistence.testing.pgserver`: starts a real, throwaway
  PostgreSQL server (``initdb`` + ``pg_ctl``) in a temporary directory.
* :mod:`synthorg.persistence.testing.databases`: migrated template databases
  and the background supply of their copies.

Importing this package imports nothing else: neither pytest nor psycopg.
"""

__all__: list[str] = []
