"""Lazy re-exports: a package lists ``name -> submodule`` and pays for an import on first use.

So ``import i2imetric`` and ``import i2imetric.evaluation.results`` stay free of torch and
open_clip until a name that needs them is touched.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of a package that re-exports ``table`` lazily.

    Args:
        package: the package's ``__name__``.
        table: exported name -> the submodule (relative to ``package``) that defines it.
        namespace: the package's ``globals()``; a resolved name is cached there, so each
            import happens once.

    Example:
        >>> getattr_, dir_ = lazy_exports("i2imetric", {"list_pretrained": "hub.pretrained"}, {})
        >>> getattr_("list_pretrained").__name__
        'list_pretrained'
    """

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{table[name]}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace.get("__all__", ()), *table})

    return __getattr__, __dir__
