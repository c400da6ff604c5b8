"""Checks of instruction text, torch-free so the command line can run them before a model import."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import I2IInputError

__all__ = ["check_instruction", "check_instructions"]


def check_instruction(text: Any, *, name: str = "instruction") -> str:
    """Return ``text`` stripped, or raise if it is not a non-empty string."""
    if not isinstance(text, str):
        raise I2IInputError(f"{name}: expected a str instruction, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise I2IInputError(f"{name}: the instruction is empty; give the edit in words, e.g. 'make it brighter'")
    return stripped


def check_instructions(texts: Sequence[Any], *, name: str = "instructions") -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise I2IInputError(f"{name}: expected a list of str, got {type(texts).__name__}")
    return [check_instruction(t, name=f"{name}[{i}]") for i, t in enumerate(texts)]
