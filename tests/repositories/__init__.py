"""Behaviour of the repositories' methods, one file per method kind, both backends.

Each file is named after what it covers (``test_lookup.py``: the ``lookup``
methods; ``test_constraints.py``: what the tables refuse). The row
factories and seeders they share live in :mod:`tests.repositories._rows`.
"""
