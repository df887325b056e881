"""Writing a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, flush it, rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def unwritable(path: str | Path) -> str:
    """Why :func:`write_text_atomically` could not replace ``path`` ("" when it could): a folder
    in its place, a parent that is not a folder, or a parent it may not write to."""
    path = Path(path)
    if path.is_dir():
        return "a folder is in its place"
    if not path.parent.is_dir():
        return f"{path.parent} is not a folder"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return "permission denied"
    return ""
