"""``python -m i2imetric`` (and ``accelerate launch -m i2imetric``) runs the CLI."""

import sys

from .cli import main

sys.exit(main())
