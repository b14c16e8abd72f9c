"""``python -m jaxdl`` is the ``jaxdl`` command."""

import sys

from jaxdl.cli import main

if __name__ == "__main__":  # importing the module (the API docs do) must not run the CLI
    sys.exit(main())
