"""An edit as data: operation, region, magnitude (and colour for drawing), frozen and hashable."""

from __future__ import annotations

from dataclasses import dataclass, field

from ....errors import I2IInputError
from .operations import COLORS, OPERATIONS, OpDef
from .regions import Region

__all__ = ["EditSpec"]


@dataclass(frozen=True)
class EditSpec:
    """One edit: ``op`` (a key of :data:`OPERATIONS`) on ``region`` at a magnitude.

    ``degree`` is "slightly", "default" or "a_lot" (ungraded operations such as flips take
    only "default"). ``amount`` is an explicit number in the operation's unit (brighten by
    30 percent, hue shift by 45 degrees, blur radius 3 pixels) and overrides ``degree``; only
    operations with a unit take one. ``color`` names the colour of a drawn shape (a key of
    :data:`COLORS`), required for drawing and refused elsewhere. ``region`` may be given as
    a region name.
    """

    op: str
    region: Region = field(default_factory=Region)
    degree: str = "default"
    amount: float | None = None
    color: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.region, str):
            object.__setattr__(self, "region", Region(self.region))
        if self.op not in OPERATIONS:
            raise I2IInputError(f"unknown operation {self.op!r}; valid operations: {', '.join(OPERATIONS)}")
        row = self.operation
        if self.degree not in row.degrees:
            raise I2IInputError(f"{self.op} takes degrees {row.degrees}, got {self.degree!r}")
        if self.amount is not None and (row.unit is None or self.degree != "default"):
            raise I2IInputError(f"{self.op} takes no number here (unit {row.unit}, degree {self.degree!r})")
        needs_color = row.shape is not None and row.fill == "color"
        if needs_color != (self.color is not None):
            raise I2IInputError(f"{self.op} {'needs' if needs_color else 'takes no'} colour, got {self.color!r}")
        if self.color is not None and self.color not in COLORS:
            raise I2IInputError(f"unknown colour {self.color!r}; valid colours: {', '.join(COLORS)}")

    @property
    def operation(self) -> OpDef:
        return OPERATIONS[self.op]

    def variant(self, op: str | None = None, region: Region | str | None = None) -> EditSpec:
        """This edit with another operation or region, keeping what carries over (magnitude, colour)."""
        op = op or self.op
        row = OPERATIONS[op]
        needs_color = row.shape is not None and row.fill == "color"
        color = (self.color or "red") if needs_color else None
        amount = self.amount if row.unit is not None and row.unit == self.operation.unit else None
        degree = self.degree if self.degree in row.degrees and amount is None else "default"
        return EditSpec(op, region if region is not None else self.region, degree, amount, color)
