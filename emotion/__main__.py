"""``python -m emotion``: see :mod:`emotion.cli`."""

import sys

from .cli import main

sys.exit(main())
