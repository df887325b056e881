"""Token ids in flat arrays, length-grouped batch order, and padding a batch into tensors.

A million texts as Python lists of lists cost about a kilobyte each; here every split's token ids
are one flat ``int32`` array plus row offsets (the layout of an Arrow list column), tokenised in
chunks by the Rust tokenizer (which spreads a batch over the cores itself). A batch is padded only
to its own longest row, and batches are drawn from windows of similar length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

MEGABATCH_FACTOR = 50  # length grouping sorts within windows of 50 batches, like HF's sampler
ENCODE_CHUNK = 20_000  # texts per tokenizer call: bounds the transient Python lists


@dataclass(frozen=True)
class TokenArrays:
    """Token ids of many texts: row ``i`` is ``values[offsets[i]:offsets[i + 1]]``."""

    values: np.ndarray  # (total_tokens,) int32
    offsets: np.ndarray  # (n_rows + 1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per row, ``(n_rows,)`` int64."""
        return np.diff(self.offsets)

    def row(self, i: int) -> np.ndarray:
        """The ids of row ``i``."""
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def rows(self, idx: Sequence[int]) -> list[np.ndarray]:
        """The ids of several rows (views, no copy)."""
        return [self.values[self.offsets[i] : self.offsets[i + 1]] for i in idx]

    def take(self, idx: Sequence[int]) -> TokenArrays:
        """A new ``TokenArrays`` of the given rows, in that order."""
        return from_lists(self.rows(idx))


def from_lists(rows: Sequence[Sequence[int]]) -> TokenArrays:
    """Flat arrays from a list of id lists."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=int(offsets[-1]))
    return TokenArrays(values, offsets)


def encode(tokenizer: Any, texts: Sequence[str], max_length: int, chunk: int = ENCODE_CHUNK) -> TokenArrays:
    """Token ids of every text, truncated to ``max_length``; batched calls, no padding.

    A fast tokenizer's Rust backend is called directly (``encode_batch`` on a copy set to
    truncate): the same ids as ``tokenizer(texts, truncation=True)``, about twice as fast, as it
    skips building a ``BatchEncoding``. Other tokenizers go through their ``__call__``.
    """
    encode_list = encoder(tokenizer, max_length)
    return concat([encode_list(list(texts[i : i + chunk])) for i in range(0, len(texts), chunk)])


def encoder(tokenizer: Any, max_length: int) -> Callable[[list[str]], TokenArrays]:
    """A function from a list of texts to their ids (what :func:`encode` calls per chunk)."""
    batch_ids = _batch_encoder(tokenizer, max_length)
    return lambda batch: from_lists(batch_ids(batch))


def _batch_encoder(tokenizer: Any, max_length: int) -> Any:
    """A function from a list of texts to their lists of token ids."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return lambda batch: tokenizer(
            batch,
            truncation=True,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
    from tokenizers import Tokenizer

    own = Tokenizer.from_str(backend.to_str())  # a copy: the shared tokenizer keeps its settings
    own.enable_truncation(max_length=max_length)
    own.no_padding()
    return lambda batch: [e.ids for e in own.encode_batch_fast(batch)]


def concat(parts: Sequence[TokenArrays]) -> TokenArrays:
    """Rows of several ``TokenArrays`` one after the other."""
    if not parts:
        return TokenArrays(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
    values = np.concatenate([p.values for p in parts])
    shifts = np.cumsum([0] + [len(p.values) for p in parts[:-1]])
    offsets = np.concatenate([parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)])
    return TokenArrays(values, offsets)


def length_grouped_batches(
    lengths: np.ndarray | Sequence[int], batch_size: int, seed: int, group: bool = True
) -> list[np.ndarray]:
    """Row indices of each batch for one epoch, in a random order fixed by ``seed``.

    With ``group``, a random permutation is cut into windows of ``MEGABATCH_FACTOR`` batches and
    each window is sorted by length (longest first, stable) before it is cut into batches, so a
    batch holds texts of similar length (little padding) while the order of batches stays random.
    """
    lengths = np.asarray(lengths)
    windows, order = epoch_plan(len(lengths), batch_size, seed, group)
    batches = [b for w in windows for b in window_batches(w, lengths[w], batch_size, group)]
    return [batches[i] for i in order]


def epoch_plan(n: int, batch_size: int, seed: int, group: bool = True) -> tuple[list[np.ndarray], list[int]]:
    """What :func:`length_grouped_batches` decides before it reads any length.

    Returns:
        (the windows: row indices in permutation order, ``batch_size * MEGABATCH_FACTOR`` rows
        each; the epoch's order of batches, as indices into the windows' batches laid end to end)
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen).numpy()
    window = batch_size * MEGABATCH_FACTOR
    windows = [perm[start : start + window] for start in range(0, n, window)]
    count = -(-n // batch_size)  # every window but the last holds whole batches
    order = torch.randperm(count, generator=gen).tolist() if group else list(range(count))
    return windows, order


def window_batches(
    rows: np.ndarray, lengths: np.ndarray, batch_size: int, group: bool = True
) -> list[np.ndarray]:
    """One window's batches: its rows sorted longest first (stable) when grouping, then cut."""
    if group:
        rows = rows[np.argsort(-lengths, kind="stable")]
    return [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]


def pad_batch(rows: Sequence[Sequence[int] | np.ndarray], pad_id: int, multiple: int = 1) -> dict[str, Any]:
    """``input_ids`` and ``attention_mask`` of a batch padded to its longest row (rounded up to
    ``multiple``), built with a few array operations."""
    import torch

    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    width = -(-int(lengths.max()) // multiple) * multiple
    mask = np.arange(width) < lengths[:, None]  # (B, T) bool
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)  # (B, T)
    input_ids[mask] = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(mask.astype(np.int64)),
    }
