"""CPU cost of the write-side value checks, per call (issue 9, defect 8).

``python -m bench.write_checks`` prints the best-of-9 CPU time
(``time.process_time``, so other processes on the machine barely move it)
of: building a ``Task`` from a dict (what every read does per row), the
SQLite ``_params`` of a ``Task``, the PostgreSQL ``_params`` plus psycopg's
serialisation of the bound values, and one key-argument check. Run it in
two checkouts (e.g. with ``PYTHONPATH=<old>/src:<old>``) for an A/B: the
end-to-end ``bench.profile --workload upsert`` is dominated by the commit
and too noisy on a shared machine to show a microsecond.
"""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable

from psycopg.adapt import PyFormat, Transformer

from bench.common import make_task
from synthorg.persistence.generated.postgres import tasks as pg_tasks
from synthorg.persistence.generated.sqlite import tasks as sqlite_tasks
from synthorg.persistence.generated.tasks import Task


def _best(fn: Callable[[], object], number: int) -> float:
    runs = timeit.repeat(fn, number=number, repeat=9, timer=time.process_time)
    return min(runs) / number * 1e6


def main() -> None:
    task = make_task(1, 10)
    data = task.model_dump()
    tx = Transformer()

    def pg_bind() -> None:
        params = pg_tasks._params(task)
        tx.dump_sequence(params, [PyFormat.AUTO] * len(params))

    check = getattr(sqlite_tasks, "arg_str", None)
    figures = {
        "Task.model_validate": _best(lambda: Task.model_validate(data), 20000),
        "sqlite _params": _best(lambda: sqlite_tasks._params(task), 20000),
        "postgres _params + bind": _best(pg_bind, 20000),
    }
    if check is not None:
        figures["key argument check"] = _best(
            lambda: check("task-000001", "tasks.entity_id"), 200000
        )
    for name, value in figures.items():
        print(f"{name:26} {value:8.2f} µs")


if __name__ == "__main__":
    main()
