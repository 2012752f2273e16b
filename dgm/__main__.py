"""`python -m dgm ARGS` runs the `dgm` command."""

import sys

from dgm.cli.main import main

if __name__ == "__main__":  # importing the module (pydoc) runs nothing
    sys.exit(main())
