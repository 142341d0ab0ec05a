"""`python -m margin_gate`: same as the `margin-gate` console script."""

import sys

from margin_gate.cli import main

sys.exit(main())
