"""``python -m vlexplore ...``: the ``vlexplore`` command (and what ``torchrun -m vlexplore`` starts)."""

import sys

from .cli import main

sys.exit(main())
