"""A disk cache of encoded splits: token ids (and targets) read back memory-mapped, not re-tokenised.

Every run on the same data, and every trial of a sweep, would otherwise tokenise the same texts
again. An entry is a folder ``<cache>/tokens/<key>/`` (see :func:`tui_lab.core.cache.cache_dir`)
of one ``.npy`` file per array and a ``meta.json``; the key hashes everything the arrays were made
from (the split's texts and labels, the tokenizer, ``max_length``, the task and what its encoding
reads), so a changed file, tokenizer or setting never reads a stale entry. Entries are written
into a temporary folder that is renamed into place (concurrent sweep workers and torchrun ranks
are safe: the first rename wins), read with ``np.load(mmap_mode="r")`` (processes share the
pages), touched on every hit and evicted least recently used first once the folder is over its
size bound (``data.token_cache_mb``). The cache is an optimisation only: an entry that is
missing, half-deleted or unreadable means encoding again, never an error, and the folder may be
deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.cache import cache_dir

KIND = "tokens"  # the sub-folder of the project cache
FORMAT_VERSION = 1  # bump when the layout of an entry or what a key hashes changes
META = "meta.json"
STALE_TEMP_SECONDS = 3600  # a temporary folder this old was left by a process that died


def content_key(*parts: Any) -> str:
    """A hex digest of ``parts``: sequences of strings (texts), of numbers or nested lists
    (labels, word lists), bytes, or any value with a stable ``repr``.

    Strings are hashed as their lengths plus their concatenation (no two lists collide) and
    numbers as one array's bytes: a small fraction of what tokenising the same texts costs.
    """
    digest = hashlib.sha256(repr(FORMAT_VERSION).encode())  # SHA extensions: ~2 GB/s
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()[:32]


def _feed(digest: Any, part: Any) -> None:
    if isinstance(part, bytes):
        digest.update(b"b%d:" % len(part))
        digest.update(part)
        return
    if isinstance(part, (list, tuple, np.ndarray)):
        try:
            joined = "".join(part)  # TypeError unless every item is a str
        except TypeError:
            joined = None
        if joined is not None:
            lengths = np.fromiter(map(len, part), dtype=np.int64, count=len(part))
            digest.update(b"s%d:" % len(part))
            digest.update(lengths.tobytes())
            digest.update(joined.encode("utf-8", "surrogatepass"))
            return
        numbers = _numeric(part)
        if numbers is not None:
            digest.update(f"n{numbers.dtype.str}{numbers.shape}:".encode())
            digest.update(numbers.tobytes())
            return
        part = list(part)
    text = repr(part)
    digest.update(b"r%d:" % len(text))
    digest.update(text.encode("utf-8", "surrogatepass"))


def _numeric(part: Any) -> np.ndarray | None:
    """``part`` as one numeric array (class indices, rectangular multi-hot rows), else ``None``."""
    try:
        array = np.asarray(part)
    except (ValueError, TypeError):  # ragged lists
        return None
    return np.ascontiguousarray(array) if array.dtype.kind in "biuf" else None


def tokenizer_key(tokenizer: Any) -> str:
    """A digest of what a tokenizer's ids depend on: its class, its Rust backend's full spec
    (vocabulary, normaliser, pre-tokenizer, post-processor; the truncation and padding state it
    happens to hold left out) and the Python-side settings; a slow tokenizer's vocabulary instead."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        body: Any = json.dumps(spec, sort_keys=True)
    else:
        vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
        body = sorted(vocab.items())
    extra = {
        name: getattr(tokenizer, name, None)
        for name in ("truncation_side", "add_prefix_space", "do_lower_case")
    }
    return content_key(type(tokenizer).__name__, repr(sorted(extra.items())), body)


class TokenCache:
    """Encoded splits on disk, bounded in size, least recently used evicted first."""

    def __init__(self, max_bytes: int, root: Path | None = None) -> None:
        self.max_bytes = int(max_bytes)
        self.root = Path(root) if root is not None else cache_dir() / KIND

    @classmethod
    def from_megabytes(cls, megabytes: int, root: Path | None = None) -> TokenCache | None:
        """The cache bounded to ``megabytes`` (MiB), or ``None`` when 0 (off)."""
        return cls(int(megabytes) * 2**20, root) if megabytes > 0 else None

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key`` (read-only memory maps), touched as just used; ``None``
        when there is no such entry or it cannot be read whole."""
        folder = self.root / key
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
            arrays = {
                name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                for name in meta["arrays"]
            }
            if {n: [str(a.dtype), list(a.shape)] for n, a in arrays.items()} != meta["arrays"]:
                return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        try:
            os.utime(folder)  # least recently used = oldest mtime
        except OSError:  # a read-only cache still serves its entries
            pass
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> bool:
        """Store ``arrays`` under ``key`` (atomically), then evict down to the size bound.

        Returns whether the entry is now in the cache (False: too large for the bound, or the
        folder cannot be written; neither is an error).
        """
        size = sum(int(np.asarray(a).nbytes) for a in arrays.values())
        if size > self.max_bytes:
            return False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{key}-"))
        except OSError:
            return False
        try:
            meta = {}
            for name, array in arrays.items():
                array = np.ascontiguousarray(array)
                np.save(tmp / f"{name}.npy", array, allow_pickle=False)
                meta[name] = [str(array.dtype), list(array.shape)]
            (tmp / META).write_text(json.dumps({"arrays": meta, "bytes": size}), encoding="utf-8")
            os.rename(tmp, self.root / key)  # fails if another process stored it first: theirs stays
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return (self.root / key / META).is_file()
        self.evict()
        return True

    def evict(self) -> None:
        """Remove least recently used entries until the folder is within its bound (and temporary
        folders that a dead process left behind)."""
        entries = []
        now = time.time()
        try:
            children = list(self.root.iterdir())
        except OSError:
            return
        for child in children:
            try:
                stat = child.stat()
                if child.name.startswith(".tmp-"):
                    if now - stat.st_mtime > STALE_TEMP_SECONDS:
                        _remove(child)
                    continue
                entries.append((stat.st_mtime, _folder_bytes(child), child))
            except OSError:
                continue
        total = sum(size for _, size, _ in entries)
        for _, size, child in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            _remove(child)
            total -= size


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def _remove(folder: Path) -> None:
    """Rename out of the way first, so no reader ever opens a half-deleted entry."""
    trash = folder.with_name(f".tmp-gone-{folder.name}-{os.getpid()}")
    try:
        os.rename(folder, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)
