"""`python -m fuzz`: the fuzz command line."""

import sys

from fuzz.cli import main

sys.exit(main())
