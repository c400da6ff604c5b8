"""Upload a checkpoint folder to a Hugging Face hub repo (``save_pretrained(push_to_hub=...)``).

The folder is always written locally first; uploading is a second step that fails at once,
in one line, naming the local folder and the command to upload it later. It never retries:
offline (``HF_HUB_OFFLINE=1``) it does not even try, and any error from the hub (no token,
no network, no permission) is reported as it is, instead of waiting a minute on retries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..errors import CheckpointError
from .refs import hub_ref
from .weights import hub_is_offline

__all__ = ["push_folder_to_hub"]


def _later_hint(folder: Path, repo_id: str) -> str:
    return (
        f"the checkpoint was written locally to {folder}; upload it later with "
        f"`huggingface-cli upload {repo_id} {folder} .` (or save_pretrained(..., push_to_hub={repo_id!r}) when online)"
    )


def push_folder_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: Optional[bool] = None,
    commit_message: Optional[str] = None,
    token: Optional[str] = None,
) -> str:
    """Create hub repo ``repo_id`` if needed and upload ``folder`` to its root; return the repo id.

    Args:
        folder: a checkpoint folder already written by ``save_pretrained``.
        repo_id: ``"org/name"`` (an ``"hf-hub:org/name"`` reference is accepted too).
        private: make a newly created repo private (an existing repo is left as it is).
        commit_message: the hub commit's message (default: "Upload i2imetric checkpoint").
        token: a hub token (default: huggingface_hub's own lookup, e.g. ``HF_TOKEN``).

    Raises:
        CheckpointError: offline, a malformed repo id, or the hub refused or could not be
            reached; one line saying where the folder was written and how to upload it later.
    """
    folder = Path(folder)
    repo_id = hub_ref(repo_id) or repo_id
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise CheckpointError(
            f"push_to_hub={repo_id!r} is not a hub repo id 'org/name'; {_later_hint(folder, '<org/name>')}"
        )
    if hub_is_offline():
        raise CheckpointError(
            f"push_to_hub={repo_id!r}: HF_HUB_OFFLINE=1 forbids uploading; {_later_hint(folder, repo_id)}"
        )
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            commit_message=commit_message or "Upload i2imetric checkpoint",
        )
    except Exception as exc:  # noqa: BLE001 - any hub failure becomes one line with the way out
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise CheckpointError(f"push_to_hub={repo_id!r} failed ({detail}); {_later_hint(folder, repo_id)}") from exc
    return repo_id
