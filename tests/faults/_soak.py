"""Trial counts that ``make soak`` scales, and the figures each test prints.

``trials(n)`` is ``n`` in a normal run and ``n * SYNTHORG_SOAK`` under
``make soak``. ``report(name, **figures)`` prints one line of figures
(``trials=..., acknowledged=..., lost=0``) so a soak run ends with a table
of what was tried; under plain ``make test`` the line is captured by pytest.
"""

from __future__ import annotations

import os


def soak_factor() -> int:
    """The multiplier from ``SYNTHORG_SOAK`` (1 when unset or invalid)."""
    raw = os.environ.get("SYNTHORG_SOAK", "")
    try:
        factor = int(raw)
    except ValueError:
        return 1
    return max(1, factor)


def trials(normal: int) -> int:
    """How many trials to run: ``normal`` times the soak factor."""
    return normal * soak_factor()


def report(name: str, **figures: object) -> None:
    """Print one line of figures for the soak summary."""
    shown = ", ".join(f"{key}={value}" for key, value in figures.items())
    print(f"\n[soak] {name}: {shown}")
