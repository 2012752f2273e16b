"""`python -m dgm ARGS` runs the `dgm` command."""

import sys

from dgm.cli.main import main

sys.exit(main())
