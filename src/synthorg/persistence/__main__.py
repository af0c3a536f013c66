"""``python -m synthorg.persistence``: the ``synthorg-persistence`` tool."""

from synthorg.persistence.cli import main

raise SystemExit(main())
