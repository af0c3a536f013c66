"""Services the backend builds on its repositories (``build_*`` methods).

Each is written once, against the generated repository Protocols, so it
behaves the same on SQLite and PostgreSQL; the only dialect-specific part
(PostgreSQL's NOTIFY for escalations) is injected by the backend.
"""
