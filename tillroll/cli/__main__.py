"""`python -m tillroll.cli` runs the `tillroll` command line."""

import sys

from tillroll.cli import main

sys.exit(main())
