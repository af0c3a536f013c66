"""The error of a failed batch write, naming the duplicate keys it held.

Every dialect's executor (``Connections.name_duplicates`` for SQLite,
``Executor.name_duplicates`` for PostgreSQL) finds the keys: repeated within
the batch, or (single-column keys) already stored. The message is built
here, once, so the generated ``save_many``/``append_many`` of every entity
and dialect report a duplicate the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from synthorg.persistence.errors import DuplicateRecordError


def duplicate_error(
    error: DuplicateRecordError, named: Sequence[object]
) -> DuplicateRecordError:
    """``error`` restated: the transaction rolled back, and which keys clashed.

    ``named`` empty means another unique constraint clashed: the driver's
    message (in ``error``) names it.
    """
    if not named:
        return DuplicateRecordError(f"{error}: nothing was written")
    shown = ", ".join(repr(key) for key in named[:5])
    more = f" and {len(named) - 5} more" if len(named) > 5 else ""
    return DuplicateRecordError(
        f"{error}; duplicate key(s) {shown}{more}: nothing was written"
    )
