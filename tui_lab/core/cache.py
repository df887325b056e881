"""A small cache for things that are slow to compute and keyed by their inputs (learned tokenizers).

Entries are text files under :func:`cache_dir` (``$TUI_LAB_CACHE``, else
``$XDG_CACHE_HOME/tui-lab``, else ``~/.cache/tui-lab``), written atomically (a temporary file
renamed into place), with an in-process LRU in front. The cache is an optimisation only: a
folder that cannot be written or a file that cannot be read means computing again, never an error.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

MEMORY_ENTRIES = 8
_memory: OrderedDict[tuple[str, str], str] = OrderedDict()
_lock = threading.Lock()


def cache_dir() -> Path:
    """The cache's root folder (not created here)."""
    explicit = os.environ.get("TUI_LAB_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "tui-lab"


def text_key(texts: Iterable[str], *parts: object) -> str:
    """A hex digest of ``parts`` and every text (length-prefixed, so no two lists collide)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8"))
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:32]


def get_text(kind: str, key: str, suffix: str = "") -> str | None:
    """The cached text for ``key``: from memory, else from disk, else ``None``."""
    with _lock:
        if (kind, key) in _memory:
            _memory.move_to_end((kind, key))
            return _memory[(kind, key)]
    try:
        text = (cache_dir() / kind / f"{key}{suffix}").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    _remember(kind, key, text)
    return text


def put_text(kind: str, key: str, suffix: str, text: str) -> None:
    """Store ``text`` in memory and, atomically, on disk (silently memory-only if that fails)."""
    _remember(kind, key, text)
    folder = cache_dir() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, folder / f"{key}{suffix}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


def clear_memory() -> None:
    """Forget the in-process entries (the files stay)."""
    with _lock:
        _memory.clear()


def _remember(kind: str, key: str, text: str) -> None:
    with _lock:
        _memory[(kind, key)] = text
        _memory.move_to_end((kind, key))
        while len(_memory) > MEMORY_ENTRIES:
            _memory.popitem(last=False)
