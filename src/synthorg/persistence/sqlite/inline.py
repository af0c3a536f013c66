"""SQLite reads on the event-loop thread, bounded by a VM-step budget.

Owns the inline read path of :class:`~synthorg.persistence.sqlite.driver.
Connections`: a read-only connection in WAL mode, used synchronously on the
loop thread, that answers a cheap read without the hop to an aiosqlite
worker thread, or gives up and lets the caller take that hop.

Why it is safe:

* WAL: a reader never waits for a writer and sees committed data only; the
  connection also has ``busy_timeout = 0``, so it never sleeps on a lock (a
  rare ``SQLITE_BUSY`` simply falls back).
* A progress handler runs every :data:`STEP` VM instructions and interrupts
  the statement once the per-call budget (a multiple of :data:`STEP`) is
  spent. The loop is then held for at most ``budget`` VM steps; the
  interrupted statement is discarded (nothing it produced is returned) and
  retried whole on the reader thread, on a fresh snapshot.
* The statement is reset on every path (the cursor is closed), so no read
  snapshot stays open on the connection.

Which reads try it is decided by the generator (every generated statement
is index-backed, held by ``tests/test_index_backed.py``): key and unique
lookups (:data:`POINT`), counts and aggregates over an indexed range
(:data:`RANGE`), and pages bounded by a LIMIT (:data:`PAGE`); counts and
pages only while no other call is in flight (``Connections._busy``). A
statement that overran its budget is not tried inline again for its next
:data:`COOLDOWN` calls, so one that is always too big for the budget
wastes at most ``budget / (COOLDOWN + 1)`` steps per call on average.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import Any

# The progress handler runs every STEP VM instructions; budgets count them.
STEP = 1000
# Budgets, in units of STEP VM instructions. Measured on SQLite 3.40 with
# the tasks table (docs/benchmarks.md, "Cheap reads inline"): a key lookup
# takes ~20 steps; a COUNT(*) over an index range 3 per row (15,013 for
# 5,000 rows, ~230 µs, ~65 steps/µs); a page ~31 per row (1,565 for 50 rows;
# with the row conversion 4-12 steps/µs). So the loop is held for at most
# ~0.6 ms by a count and ~2 ms by a page before either falls back.
POINT = 20
RANGE = 40
PAGE = 8
# Calls of a statement that go straight to the thread after it overran.
COOLDOWN = 8
# At most this many statements are remembered as cooling down.
_COOLING_MAX = 512
_INTERRUPTED = "interrupted"


@dataclass
class InlineStats:
    """What the inline path did: lets tests (and users) see which path ran.

    ``inline``: reads answered on the loop thread; ``over_budget``: reads
    interrupted by the step budget and retried on the reader thread;
    ``failed``: reads that failed inline for another reason (a lock, a
    value that cannot be decoded, a closed connection) and were retried
    there; ``cooling``: reads sent straight to the thread because their
    statement recently overran; ``offloaded``: counts and pages sent to the
    thread because other calls were in flight
    (``Connections._busy``).
    """

    inline: int = 0
    over_budget: int = 0
    failed: int = 0
    cooling: int = 0
    offloaded: int = 0


class InlineReader:
    """The loop-thread connection with its step budget and statistics."""

    __slots__ = ("_cooling", "_limit", "_steps", "conn", "stats")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.stats = InlineStats()
        self._steps = 0
        self._limit = POINT
        self._cooling: dict[str, int] = {}
        # Called every STEP VM instructions, also while SQLite (re)reads its
        # schema; a non-zero return interrupts the statement.
        conn.set_progress_handler(self._tick, STEP)

    def _tick(self) -> int:
        self._steps += 1
        return 1 if self._steps > self._limit else 0

    def warm(self) -> None:
        """Load the schema outside any read's budget.

        After a migration SQLite re-reads the whole schema on first use; that
        one-off parse must not count against (and defeat) inline reads.
        """
        self._steps = 0
        self._limit = 1_000_000
        # On failure, reads simply fall back to the reader thread.
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchall()

    def fetch(self, sql: str, params: Any, budget: int) -> list[Any] | None:
        """Every row of ``sql``, or None: the caller must take the thread hop.

        ``budget`` is in units of :data:`STEP` VM instructions. None means
        nothing was read (over budget, busy, cooling down); the statement
        must then run whole elsewhere. Never a partial result.
        """
        cooling = self._cooling
        if cooling:
            left = cooling.get(sql)
            if left is not None:
                if left <= 1:
                    del cooling[sql]
                else:
                    cooling[sql] = left - 1
                self.stats.cooling += 1
                return None
        self._steps = 0  # each read gets its whole budget
        self._limit = budget
        cursor = self.conn.cursor()
        try:
            rows = cursor.execute(sql, params).fetchall()
        except (sqlite3.OperationalError, sqlite3.ProgrammingError) as exc:
            # Over budget, busy or (ProgrammingError) the connection is gone.
            # Also a value that cannot be decoded: the reader thread then
            # raises the same error, mapped as usual.
            if str(exc) == _INTERRUPTED:
                self.stats.over_budget += 1
                if len(cooling) >= _COOLING_MAX:
                    cooling.clear()
                cooling[sql] = COOLDOWN
            else:
                self.stats.failed += 1
            return None
        finally:
            # Resets the statement on every path: an unreset statement keeps
            # the connection's read transaction, and its snapshot, open.
            cursor.close()
        self.stats.inline += 1
        return rows
