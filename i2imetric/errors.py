"""Exceptions raised by i2imetric.

Every error the library raises on purpose is an :class:`I2IError`, names the file, row or
argument at fault, and says how to fix it. The command line turns any of them into one
line on stderr and exit status 2; a traceback therefore always means a bug.
"""

__all__ = ["I2IError", "I2IInputError", "CheckpointError", "BaseWeightsError", "ConfigError", "ResultsError"]


class I2IError(Exception):
    """Base class of every error i2imetric raises on purpose."""


class I2IInputError(I2IError, ValueError):
    """A user-supplied image, instruction, record or argument is unusable."""


class CheckpointError(I2IError, ValueError):
    """A metric checkpoint folder or training state is incomplete, unsafe or incompatible."""


class BaseWeightsError(I2IError, RuntimeError):
    """Base encoder weights could not be found, fetched or verified."""


class ConfigError(I2IError, ValueError):
    """A model or training configuration has unknown or invalid keys."""


class ResultsError(I2IError, ValueError):
    """A results file cannot be resumed or read: another metric, a lock held, garbage."""
