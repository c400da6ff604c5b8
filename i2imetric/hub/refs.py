"""How a weights or scorer reference names the Hugging Face hub: ``"hf-hub:org/repo[/file]"``.

Torch-free, so the command line can tell a hub id from a name before importing a model.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["HUB_PREFIX", "hub_ref"]

HUB_PREFIX = "hf-hub:"


def hub_ref(text: str) -> Optional[str]:
    """``"org/repo[/file]"`` for an ``"hf-hub:org/repo[/file]"`` reference, else None.

    Example:
        >>> hub_ref("hf-hub:timm/vit_base"), hub_ref("openai")
        ('timm/vit_base', None)
    """
    return text[len(HUB_PREFIX):] if isinstance(text, str) and text.startswith(HUB_PREFIX) else None
