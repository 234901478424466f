"""``python -m mnistlab ...``: see ``mnistlab.cli``."""

import sys

from .cli import main

sys.exit(main())
