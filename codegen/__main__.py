"""``python -m codegen generate|check``."""

import sys

from codegen.cli import main

sys.exit(main())
