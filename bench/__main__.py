"""Entry point: ``python -m bench [--quick] [--output PATH]``."""

from bench.run import main

raise SystemExit(main())
