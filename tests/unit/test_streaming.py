"""A large split tokenised on a thread: the same ids and batches as encoding first, the first
batch before the last window, and a run that trains exactly as it would without streaming."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.conftest import make_rows
from tui_lab.core.data import batching, streaming
from tui_lab.core.data.batching import TokenArrays, from_lists, length_grouped_batches
from tui_lab.core.data.streaming import StreamedTokens
from tui_lab.core.training import distributed
from tui_lab.core.training.loop import Trainer
from tui_lab.core.training.prepare import prepare


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> int:
    """Windows of 2 batches, so a few hundred rows make many windows."""
    for module in (batching, streaming):
        monkeypatch.setattr(module, "MEGABATCH_FACTOR", 2)
    return 2


def _texts(n: int) -> list[str]:
    return [text for text, _ in make_rows(n, 4)]


def _fake_encode(calls: list[int] | None = None, gate: threading.Event | None = None):
    """Ids = the characters' code points mod 97, one id per word; optionally held at a gate
    after the first window."""

    def encode(texts: list[str]) -> TokenArrays:
        if calls is not None:
            calls.append(len(texts))
            if gate is not None and len(calls) > 1:
                gate.wait(10)
        return from_lists([[sum(map(ord, w)) % 97 for w in t.split()] for t in texts])

    return encode


@pytest.mark.parametrize("group", [True, False])
def test_streamed_ids_and_batches_equal_encoding_first(small_windows, group) -> None:
    texts = _texts(301)
    eager = _fake_encode()(texts)
    done: list[TokenArrays] = []
    streamed = StreamedTokens(texts, _fake_encode(), (7, 3, group), done.append)
    batches = streamed.epoch0_batches()
    want = length_grouped_batches(eager.lengths, 7, 3, group)
    assert len(batches) == len(want) == 43
    for got, expected in zip(batches, want):
        assert np.array_equal(got, expected)
        assert all(np.array_equal(a, b) for a, b in zip(streamed.rows(got), eager.rows(got)))
    assert np.array_equal(streamed.values, eager.values) and np.array_equal(streamed.offsets, eager.offsets)
    assert len(done) == 1 and np.array_equal(done[0].values, eager.values)
    assert streamed.done and len(streamed) == 301


def test_the_first_batch_trains_before_the_last_window_is_encoded(small_windows) -> None:
    calls: list[int] = []
    gate = threading.Event()
    streamed = StreamedTokens(_texts(400), _fake_encode(calls, gate), (10, 0, True))
    first = streamed.epoch0_batches()[0]  # its window is encoded first; the others wait at the gate
    assert len(streamed.rows(first)) == 10 and not streamed.done
    assert len(calls) <= 2  # the first window, and at most the second waiting at the gate
    gate.set()
    assert len(streamed.lengths) == 400 and sum(calls) == 400 and len(calls) == 20


def test_an_error_on_the_thread_is_raised_by_the_read_that_waits(small_windows) -> None:
    def broken(texts: list[str]) -> TokenArrays:
        raise RuntimeError("tokenizer exploded")

    streamed = StreamedTokens(_texts(100), broken, (10, 0, True))
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        streamed.epoch0_batches()[0]
    with pytest.raises(RuntimeError, match="tokenizer exploded"):
        _ = streamed.values


def test_a_streamed_run_trains_exactly_like_an_encoded_one(
    tiny_config, tmp_path, monkeypatch: pytest.MonkeyPatch, small_windows
) -> None:
    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))
    tiny_config.train.epochs = 2
    tiny_config.data.token_cache_mb = 0
    monkeypatch.setattr(streaming, "STREAM_MIN_ROWS", 10**9)
    plain = Trainer(tiny_config).run()
    monkeypatch.setattr(streaming, "STREAM_MIN_ROWS", 1)
    setup = prepare(tiny_config, distributed.DistInfo())
    assert isinstance(setup.train.tokens, StreamedTokens)
    assert not isinstance(setup.dev.tokens, StreamedTokens)  # dev is encoded before the run starts
    tiny_config.train.run_name = "streamed"
    streamed = Trainer(tiny_config).run()
    assert (streamed.step, streamed.best, streamed.test) == (plain.step, plain.best, plain.test)


def test_a_streamed_split_is_stored_in_the_token_cache_once_whole(
    tiny_config, tmp_path, monkeypatch: pytest.MonkeyPatch, small_windows
) -> None:
    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(streaming, "STREAM_MIN_ROWS", 1)
    first = prepare(tiny_config, distributed.DistInfo())
    assert isinstance(first.train.tokens, StreamedTokens)
    whole = first.train.tokens.full()
    first.train.tokens._thread.join(10)  # the store runs on the thread, after the split is whole
    second = prepare(tiny_config, distributed.DistInfo())
    assert isinstance(second.train.tokens.values, np.memmap)  # a hit: no thread, read from disk
    assert np.array_equal(second.train.tokens.values, whole.values)
    assert np.array_equal(second.train.targets, first.train.targets)
