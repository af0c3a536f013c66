"""``python -m synthorg.persistence``: the ``synthorg-persistence`` command."""

from synthorg.persistence.cli import main

raise SystemExit(main())
