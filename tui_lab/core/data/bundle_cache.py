"""Loaded splits on disk: a rerun on the same files reads its checked train/dev/test back.

Reading a 1,000,000-row CSV back from the ``datasets`` cache, dropping empty rows, mapping labels
and cutting the dev split cost about 3 s on two cores before every run: most of what a run with
warm token ids still waited for. An entry holds what :func:`~tui_lab.core.data.splits.load_data`
returned for the same file bytes, paths, data settings and seed: each split's texts as one UTF-8
buffer with offsets (Arrow's string layout, read back in one pass), its labels and source rows,
and the bundle's label names, columns, sources and notes. Entries live in ``loaded/`` of the
project cache, stored like the token ids (:class:`~tui_lab.core.data.token_cache.TokenCache`:
atomic, least recently used out past ``data.token_cache_mb``, safe to delete; ``0`` = off). A
file is keyed by its bytes, so an edited file is a miss; hub datasets (``hf:``) are not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from tui_lab.core.cache import cache_dir
from tui_lab.core.data.token_cache import TokenCache, content_key

KIND = "loaded"  # the project cache's sub-folder
VERSION = 2  # bump when what load_data returns, or how it is stored, changes
SPLITS = ("train", "dev", "test")


def bundle_cache(megabytes: int) -> TokenCache | None:
    """The store of loaded splits, bounded like the token ids (``None``: off)."""
    return TokenCache.from_megabytes(megabytes, cache_dir() / KIND)


def bundle_key(sources: dict[str, str | None], settings: tuple[Any, ...]) -> str | None:
    """The key of the splits read from ``sources`` with ``settings`` (``None``: not cacheable, a
    hub dataset or a file that cannot be read, which the loader reports)."""
    digests: list[str | None] = []
    places = {
        name: os.path.realpath(s) if s and not s.startswith("hf:") else s for name, s in sources.items()
    }
    for name in SPLITS:
        source = sources.get(name)
        if source is None:
            digests.append(None)
            continue
        if source.startswith("hf:"):
            return None
        try:
            digests.append(_file_digest(source))
        except OSError:
            return None
    # the same file by another path (relative, a link) is the same entry
    return content_key(VERSION, repr(sorted(places.items())), repr(digests), repr(settings))


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def to_arrays(bundle: Any) -> dict[str, np.ndarray]:
    """A :class:`~tui_lab.core.data.splits.DataBundle` as named arrays (what the cache stores)."""
    meta = {
        "label_names": bundle.label_names,
        "text_column": bundle.text_column,
        "label_column": bundle.label_column,
        "sources": bundle.sources,
        "notes": bundle.notes,
        "multilabel": bundle.multilabel,
        "dev_from_train": bundle.dev_from_train,
        "corrections": bundle.corrections,
        "splits": [name for name in SPLITS if getattr(bundle, name) is not None],
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for name in meta["splits"]:
        split = getattr(bundle, name)
        arrays.update(_texts_arrays(name, split.texts))
        arrays[f"{name}.rows"] = np.asarray(split.rows, dtype=np.int64)
        arrays.update(_label_arrays(name, split.labels, bundle.multilabel))
    return arrays


def from_arrays(arrays: dict[str, np.ndarray], bundle_type: Any, split_type: Any) -> Any:
    """The bundle :func:`to_arrays` stored (``bundle_type``/``split_type``: the data classes)."""
    meta = json.loads(bytes(np.asarray(arrays["meta"])).decode("utf-8"))
    splits = {name: None for name in SPLITS}
    for name in meta["splits"]:
        texts = _texts_from(arrays[f"{name}.offsets"], arrays[f"{name}.data"])
        labels = _labels_from(arrays, name, meta["multilabel"])
        splits[name] = split_type(texts, labels, arrays[f"{name}.rows"].tolist())
    return bundle_type(
        splits["train"],
        splits["dev"],
        splits["test"],
        meta["label_names"],
        meta["text_column"],
        meta["label_column"],
        meta["sources"],
        meta["notes"],
        meta["multilabel"],
        dev_from_train=meta["dev_from_train"],
        corrections=meta.get("corrections"),
    )


def _texts_arrays(name: str, texts: list[str]) -> dict[str, np.ndarray]:
    import pyarrow as pa

    column = pa.array(texts, type=pa.large_string())
    _, offsets, data = column.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64)[: len(texts) + 1].copy()
    blob = (
        np.frombuffer(data, dtype=np.uint8)[: int(offs[-1])].copy()
        if data is not None
        else np.zeros(0, np.uint8)
    )
    return {f"{name}.offsets": offs, f"{name}.data": blob}


def _texts_from(offsets: np.ndarray, data: np.ndarray) -> list[str]:
    import pyarrow as pa

    column = pa.LargeStringArray.from_buffers(
        len(offsets) - 1,
        pa.py_buffer(np.ascontiguousarray(offsets)),
        pa.py_buffer(np.ascontiguousarray(data)),
    )
    return column.to_pylist()


def _label_arrays(name: str, labels: list[Any], multilabel: bool) -> dict[str, np.ndarray]:
    if not multilabel:
        return {f"{name}.labels": np.asarray(labels, dtype=np.int64)}
    lengths = np.fromiter((len(row) for row in labels), dtype=np.int64, count=len(labels))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.fromiter((v for row in labels for v in row), dtype=np.int64, count=int(offsets[-1]))
    return {f"{name}.labels": values, f"{name}.label_offsets": offsets}


def _labels_from(arrays: dict[str, np.ndarray], name: str, multilabel: bool) -> list[Any]:
    values = arrays[f"{name}.labels"].tolist()
    if not multilabel:
        return values
    offsets = arrays[f"{name}.label_offsets"].tolist()
    return [values[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
