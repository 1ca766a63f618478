"""`python -m infra.cli` runs the `tillroll` command line."""

import sys

from infra.cli import main

sys.exit(main())
