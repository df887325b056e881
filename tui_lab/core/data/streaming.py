"""A large training split tokenised on a thread while its first batches already train.

The first run on a large file used to tokenise every row before its first step (about 10 s for
1,000,000 short reviews on two cores). Epoch 0's batch order is fixed before any length is read
(:func:`~tui_lab.core.data.batching.epoch_plan`): a batch is drawn from one window of
``MEGABATCH_FACTOR`` batches, and sorting that window by length needs only its own rows. So
:class:`StreamedTokens` encodes window after window, in the order epoch 0 first needs them, on a
background thread, and a batch waits only for its own window. The batches are exactly those of
:func:`~tui_lab.core.data.batching.length_grouped_batches` over the whole split, so a run trains
the same with or without streaming. Once every window is encoded, the split is put together in
row order (a ``TokenArrays``) and handed to ``on_done`` (the token cache stores it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tui_lab.core.data.batching import MEGABATCH_FACTOR, TokenArrays, epoch_plan, window_batches

STREAM_MIN_ROWS = 50_000  # smaller splits tokenise in a second or two: not worth a thread


class StreamedTokens:
    """Token ids of a split, encoded window by window on a thread; reads the ``TokenArrays`` way.

    ``rows(idx)`` waits only for the windows of ``idx``; ``values``, ``offsets`` and ``lengths``
    (whole-split views) wait for every window. An error on the thread is raised by the read that
    waits for it.
    """

    def __init__(
        self,
        texts: Sequence[str],
        encode: Callable[[list[str]], TokenArrays],
        plan: tuple[int, int, bool],
        on_done: Callable[[TokenArrays], None] | None = None,
    ) -> None:
        """Start encoding.

        Args:
            texts: the split's texts.
            encode: texts -> their token ids (truncated, unpadded).
            plan: ``(batch_size, seed, group_by_length)`` of epoch 0.
            on_done: called on the thread with the whole split once it is encoded.
        """
        self.plan = plan
        batch_size, seed, group = plan
        self._windows, self._order = epoch_plan(len(texts), batch_size, seed, group)
        self._n = len(texts)
        self._parts: dict[int, TokenArrays] = {}
        self._full: TokenArrays | None = None
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._where = np.empty((self._n, 2), dtype=np.int64)  # row -> (window, position in it)
        for w, rows in enumerate(self._windows):
            self._where[rows, 0] = w
            self._where[rows, 1] = np.arange(len(rows))
        args = (texts, encode, on_done)
        self._thread = threading.Thread(target=self._run, args=args, name="tui-lab-encode", daemon=True)
        self._thread.start()

    # -- the thread ----------------------------------------------------------------------------
    def _run(self, texts: Sequence[str], encode: Callable, on_done: Callable | None) -> None:
        try:
            for w in first_needed(self._order, len(self._windows)):
                part = encode([texts[i] for i in self._windows[w]])
                with self._changed:
                    self._parts[w] = part
                    self._changed.notify_all()
            full = self._assemble()
            with self._changed:
                self._full = full
                self._changed.notify_all()
        except BaseException as exc:  # raised again by the read that waits for it
            with self._changed:
                self._error = exc
                self._changed.notify_all()
            return
        if on_done is not None:
            on_done(full)

    def _assemble(self) -> TokenArrays:
        """The windows' ids scattered back into row order: two arrays, no Python loop over rows."""
        lengths = np.zeros(self._n, dtype=np.int64)
        for w, rows in enumerate(self._windows):
            lengths[rows] = self._parts[w].lengths
        offsets = np.zeros(self._n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.empty(int(offsets[-1]), dtype=np.int32)
        for w, rows in enumerate(self._windows):
            part = self._parts[w]
            starts = np.repeat(offsets[rows] - part.offsets[:-1], part.lengths)
            values[starts + np.arange(len(part.values))] = part.values
        return TokenArrays(values, offsets)

    # -- waiting -------------------------------------------------------------------------------
    def _wait(self, ready: Callable[[], bool]) -> None:
        with self._changed:
            while not ready():
                if self._error is not None:
                    raise self._error
                self._changed.wait()

    def window(self, w: int) -> TokenArrays:
        """Window ``w``'s ids (rows in the window's order), once encoded."""
        self._wait(lambda: w in self._parts or self._error is not None)
        if self._error is not None:
            raise self._error
        return self._parts[w]

    def full(self) -> TokenArrays:
        """The whole split in row order, once every window is encoded."""
        self._wait(lambda: self._full is not None or self._error is not None)
        if self._error is not None:
            raise self._error
        assert self._full is not None
        return self._full

    @property
    def done(self) -> bool:
        """Whether every window is encoded."""
        return self._full is not None

    # -- the TokenArrays face ------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def values(self) -> np.ndarray:
        return self.full().values

    @property
    def offsets(self) -> np.ndarray:
        return self.full().offsets

    @property
    def lengths(self) -> np.ndarray:
        return self.full().lengths

    def row(self, i: int) -> np.ndarray:
        """The ids of row ``i``."""
        if self._full is not None:
            return self._full.row(i)
        w, pos = self._where[i]
        return self.window(int(w)).row(int(pos))

    def rows(self, idx: Sequence[int]) -> list[np.ndarray]:
        """The ids of several rows (views, no copy)."""
        if self._full is not None:
            return self._full.rows(idx)
        return [self.row(int(i)) for i in idx]

    def take(self, idx: Sequence[int]) -> TokenArrays:
        """A new ``TokenArrays`` of the given rows, in that order."""
        return self.full().take(idx)

    def epoch0_batches(self) -> EpochBatches:
        """Epoch 0's batches (those of ``length_grouped_batches`` with this plan), each ready as
        soon as its window is encoded."""
        return EpochBatches(self)


class EpochBatches(Sequence):
    """Epoch 0's batches of a :class:`StreamedTokens`; batch ``k`` waits for its window only."""

    def __init__(self, tokens: StreamedTokens) -> None:
        self.tokens = tokens
        self._cut: dict[int, list[np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.tokens._order)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        w, j = divmod(self.tokens._order[k], MEGABATCH_FACTOR)
        if w not in self._cut:
            batch_size, _, group = self.tokens.plan
            rows = self.tokens._windows[w]
            self._cut[w] = window_batches(rows, self.tokens.window(w).lengths, batch_size, group)
        return self._cut[w][j]


def first_needed(order: Sequence[int], n_windows: int) -> list[int]:
    """Windows in the order epoch 0's batches first need them (window ``w`` holds batches
    ``w * MEGABATCH_FACTOR`` and on, laid end to end), then any never needed."""
    seen = dict.fromkeys(b // MEGABATCH_FACTOR for b in order)
    return list(seen) + [w for w in range(n_windows) if w not in seen]


def streamable(n_rows: int, world_size: int) -> bool:
    """Whether a split is worth streaming: large, and one process (torchrun ranks deal batches)."""
    return n_rows >= STREAM_MIN_ROWS and world_size == 1
