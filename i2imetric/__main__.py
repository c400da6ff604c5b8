"""``python -m i2imetric`` (and ``accelerate launch -m i2imetric``) runs the CLI."""

import sys

from .cli.main import main

sys.exit(main())
