"""``python -m ddfa``: the ``ddfa`` command."""

import sys

from ddfa.cli.main import main

sys.exit(main())
