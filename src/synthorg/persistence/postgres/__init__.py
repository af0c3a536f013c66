"""PostgreSQL backend (psycopg 3 + psycopg_pool). Needs the ``postgres`` extra."""
