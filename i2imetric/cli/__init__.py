"""The ``i2imetric`` command line: :mod:`.main` dispatches, one module per command.

Only this package imports its modules; the library never imports the command line.
"""

from .main import main

__all__ = ["main"]
