"""Exceptions raised by i2imetric.

Every error names the file, row or argument at fault and says how to fix it.
"""

__all__ = ["I2IInputError", "CheckpointError", "BaseWeightsError", "ConfigError"]


class I2IInputError(ValueError):
    """A user-supplied image, instruction, record or argument is unusable."""


class CheckpointError(ValueError):
    """A metric checkpoint folder is incomplete, unsafe or incompatible."""


class BaseWeightsError(RuntimeError):
    """Base encoder weights could not be found, fetched or verified."""


class ConfigError(ValueError):
    """A model or training configuration has unknown or invalid keys."""
