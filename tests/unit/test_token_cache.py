"""The token cache: a second run on the same data reads its token ids from disk, never stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_rows, record_calls, save_tiny_classifier
from tui_lab.core.data.token_cache import TokenCache, content_key, tokenizer_key
from tui_lab.core.tasks import ClassifyTask, NerTask
from tui_lab.core.tasks.base import Task
from tui_lab.core.training import distributed
from tui_lab.core.training.prepare import prepare


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project cache for this test (tokenizers and token arrays)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("TUI_LAB_CACHE", str(root))
    return root


@pytest.fixture
def encode_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every real encoding (Task.encode and the tasks that override it)."""
    calls: list[int] = []
    for cls in (Task, NerTask):
        record_calls(monkeypatch, cls, "encode", 2, keep=len, into=calls)
    return calls


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(save_tiny_classifier(tmp_path_factory.mktemp("model")))


def _split(n: int = 50, seed: int = 0) -> tuple[list[str], list[int]]:
    rows = make_rows(n, seed)
    return [t for t, _ in rows], [int(label == "pos") for _, label in rows]


def _same(a, b) -> bool:
    return np.array_equal(a.values, b.values) and np.array_equal(a.offsets, b.offsets)


def test_second_prepare_reads_the_cache_and_equals_no_cache(tiny_config, cache_root, encode_calls) -> None:
    first = prepare(tiny_config, distributed.DistInfo())
    assert len(encode_calls) == 3  # train, dev, test encoded once
    assert len(list((cache_root / "tokens").iterdir())) == 3
    second = prepare(tiny_config, distributed.DistInfo())
    assert len(encode_calls) == 3  # all three read back
    assert isinstance(second.train.tokens.values, np.memmap)
    tiny_config.data.token_cache_mb = 0
    plain = prepare(tiny_config, distributed.DistInfo())
    assert len(encode_calls) == 6  # 0 = off: encoded again
    for split in ("train", "dev", "test"):
        a, b, c = (getattr(s, split) for s in (first, second, plain))
        assert _same(a.tokens, b.tokens) and _same(b.tokens, c.tokens)
        assert np.array_equal(b.targets, c.targets) and b.targets.dtype == c.targets.dtype


def test_setting_zero_writes_nothing(tiny_config, cache_root, encode_calls) -> None:
    tiny_config.data.token_cache_mb = 0
    prepare(tiny_config, distributed.DistInfo())
    assert len(encode_calls) == 3
    assert not (cache_root / "tokens").exists()
    assert TokenCache.from_megabytes(0) is None


def test_any_change_to_what_encode_reads_is_a_miss(tokenizer, tmp_path, encode_calls) -> None:
    from transformers import BertTokenizerFast

    cache = TokenCache(2**30, tmp_path)
    task = ClassifyTask(["neg", "pos"])
    texts, labels = _split()
    run = lambda texts=texts, labels=labels, tok=tokenizer, n=32, t=task: t.encode_cached(  # noqa: E731
        tok, texts, labels, n, cache
    )
    run()
    run()
    assert len(encode_calls) == 1
    run(texts=[*texts[:-1], texts[-1] + " again"])  # one text changed
    run(labels=[*labels[:-1], 1 - labels[-1]])  # one label changed
    run(n=16)  # max_length
    other = BertTokenizerFast(vocab_file=str(Path(tokenizer.name_or_path) / "vocab.txt"), do_lower_case=False)
    run(tok=other)  # a tokenizer that differs in one setting
    run(t=ClassifyTask(["pos", "neg"]))  # another label mapping
    assert len(encode_calls) == 6
    run()
    assert len(encode_calls) == 6


def test_ner_targets_round_trip(tokenizer, tmp_path, encode_calls) -> None:
    cache = TokenCache(2**30, tmp_path)
    words = [text.split() for text in _split()[0]]
    tags = [[i % 3 for i in range(len(w))] for w in words]
    names = ["O", "B-X", "I-X"]
    fresh = NerTask(names).encode_cached(tokenizer, words, tags, 16, cache)
    task = NerTask(names)
    tokens, targets = task.encode_cached(tokenizer, words, tags, 16, cache)
    assert len(encode_calls) == 1 and task.width == 16  # what encode sets is set on a hit too
    assert _same(tokens, fresh[0]) and _same(targets.labels, fresh[1].labels)
    assert np.array_equal(targets.word_start, fresh[1].word_start)
    NerTask(names, label_all_subtokens=True).encode_cached(tokenizer, words, tags, 16, cache)
    assert len(encode_calls) == 2  # another alignment, another entry


def test_least_recently_used_entries_go_first(tmp_path) -> None:
    arrays = {"values": np.zeros(25_000, dtype=np.int32)}  # 100 kB an entry
    cache = TokenCache(250_000, tmp_path)  # room for two
    old = time.time() - 100
    for i, key in enumerate(("a", "b")):
        assert cache.put(key, arrays)
        os.utime(tmp_path / key, (old + i, old + i))
    assert cache.get("a") is not None  # a is now the most recently used
    assert cache.put("c", arrays)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c"]
    assert not cache.put("huge", {"values": np.zeros(100_000, dtype=np.int32)})  # over the bound alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c"]


@pytest.mark.parametrize("damage", ["truncate", "garbage_meta", "missing_array"])
def test_a_damaged_entry_is_encoded_again(tokenizer, tmp_path, encode_calls, damage) -> None:
    cache = TokenCache(2**30, tmp_path)
    task = ClassifyTask(["neg", "pos"])
    texts, labels = _split()
    expected, _ = task.encode(tokenizer, texts, labels, 32)
    task.encode_cached(tokenizer, texts, labels, 32, cache)
    (entry,) = list(tmp_path.iterdir())
    if damage == "truncate":
        path = entry / "values.npy"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage_meta":
        (entry / "meta.json").write_text("{not json")
    else:
        (entry / "offsets.npy").unlink()
    tokens, _ = task.encode_cached(tokenizer, texts, labels, 32, cache)
    assert len(encode_calls) == 3 and _same(tokens, expected)


def test_concurrent_writers_keep_one_entry(tmp_path) -> None:
    first, second = TokenCache(2**20, tmp_path), TokenCache(2**20, tmp_path)
    assert first.put("k", {"values": np.arange(5, dtype=np.int32)})
    assert second.put("k", {"values": np.arange(5, dtype=np.int32) + 1})  # lost the race: no error
    assert first.get("k")["values"].tolist() == [0, 1, 2, 3, 4]
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary folder left


def test_keys_are_stable_and_cheap_to_compare(tokenizer, tmp_path) -> None:
    from transformers import AutoTokenizer

    from tui_lab.core.models import presets

    texts, labels = _split(200)
    assert content_key(texts, labels) == content_key(list(texts), list(labels))
    assert content_key(["ab", "c"]) != content_key(["a", "bc"])  # lengths are part of the key
    assert content_key([[0], [1, 2]]) != content_key([[0, 1], [2]])  # multi-label rows, ragged
    assert content_key(labels) == content_key(np.asarray(labels)) != content_key(labels[::-1])
    # a preset vocabulary learned twice on the same texts hashes the same
    assert tokenizer_key(presets.train_wordpiece(texts, 300)) == tokenizer_key(
        presets.train_wordpiece(texts, 300)
    )
    learned = presets.preset_tokenizer(texts, 300, 32)
    learned.save_pretrained(tmp_path / "last")  # a resume loads the tokenizer of last/
    assert tokenizer_key(AutoTokenizer.from_pretrained(tmp_path / "last")) == tokenizer_key(learned)
    before = tokenizer_key(tokenizer)
    tokenizer(texts, truncation=True, max_length=8)  # leaves truncation set on the backend
    assert tokenizer_key(tokenizer) == before
