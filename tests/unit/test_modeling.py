"""Models: the from-scratch presets, their tokenizer, and the Hugging Face path (offline)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tui_lab.core.errors import ConfigError, ModelError
from tui_lab.core.models import loading, presets
from tui_lab.core.settings import render_error

TEXTS = [
    "the film was great",
    "the food was awful",
    "这家餐厅很好吃",
    "服务太差了",
    "unbelievably good service",
    "not good at all",
] * 5


def test_vocabulary_learning_is_deterministic_and_bpe_like() -> None:
    counts = Counter({"lower": 5, "lowest": 3, "newer": 6, "wider": 2})
    a = presets.learn_wordpiece_vocab(counts, 40, ["[PAD]", "[UNK]"])
    b = presets.learn_wordpiece_vocab(Counter(dict(reversed(list(counts.items())))), 40, ["[PAD]", "[UNK]"])
    assert a == b
    # the most frequent pair (##w ##e: 14 times) merges first; whole frequent words end up in it
    assert a[:2] == ["[PAD]", "[UNK]"] and a.index("##we") < a.index("lower") and "newer" in a
    assert len(a) == len(set(a))


def test_wordpiece_tokenizer_handles_cjk_and_round_trips(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = presets.train_wordpiece(TEXTS, vocab_size=200)
    tokens = tok.convert_ids_to_tokens(tok("这家餐厅很好吃")["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "餐" in tokens and "[UNK]" not in tokens  # one token per CJK character
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("the film was great")["input_ids"] == tok("the film was great")["input_ids"]


def test_presets_have_the_documented_shapes() -> None:
    tok = presets.train_wordpiece(TEXTS, vocab_size=200)
    tiny = presets.build_preset("tiny-bert", tok, ["neg", "pos"], 128)
    small = presets.build_preset("small-bert", tok, ["a", "b", "c"], 1024)
    c = tiny.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (
        128,
        2,
        2,
        512,
    )
    c = small.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (
        256,
        4,
        4,
        1024,
    )
    assert c.max_position_embeddings >= 1024 and c.id2label == {0: "a", 1: "b", 2: "c"}
    assert tiny.config.label2id == {"neg": 0, "pos": 1}


def _save_base_model(folder: Path, labels: list[str] | None = None) -> Path:
    """A pretrained-style folder as save_pretrained writes it (a base BERT, or a classifier)."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    tok = presets.train_wordpiece(TEXTS, vocab_size=200)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    if labels:
        cfg.num_labels, cfg.id2label = len(labels), dict(enumerate(labels))
        cfg.label2id = {n: i for i, n in enumerate(labels)}
        model = BertForSequenceClassification(cfg)
    else:
        model = BertModel(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_local_pretrained_folder_loads_through_the_auto_classes(tmp_path: Path) -> None:
    folder = _save_base_model(tmp_path / "base")
    tok, model = loading.load_pretrained(str(folder), ["neg", "pos"], max_length=32)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == {0: "neg", 1: "pos"}
    assert tok("the film")["input_ids"][0] == tok.cls_token_id


def test_a_classifier_with_other_labels_gets_a_new_head(tmp_path: Path) -> None:
    folder = _save_base_model(tmp_path / "clf", labels=["x", "y", "z"])
    _, model = loading.load_pretrained(str(folder), ["neg", "pos"], max_length=32)
    assert model.config.num_labels == 2 and model.classifier.out_features == 2


def test_max_length_above_the_model_positions(tmp_path: Path) -> None:
    folder = _save_base_model(tmp_path / "base")
    with pytest.raises(ConfigError, match="data.max_length 128 is above the 64 positions"):
        loading.load_pretrained(str(folder), ["a", "b"], max_length=128)


def test_unreachable_hub_id_names_the_way_out(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        loading.load_pretrained("no-such-org/no-such-model", ["a", "b"], 32)
    message = str(info.value)
    assert "tiny-bert" in message and "local model folder" in message and "\n" not in message


def test_folder_without_config_or_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a Hugging Face model folder"):
        loading.load_pretrained(str(tmp_path / "empty"), ["a", "b"], 32)
    with pytest.raises(ModelError, match="does not exist"):
        loading.load_pretrained(str(tmp_path / "gone" / "model"), ["a", "b"], 32)


def test_default_learning_rates() -> None:
    assert presets.default_learning_rate("tiny-bert") == 1e-3
    assert presets.default_learning_rate("bert-base-uncased") == 3e-5


def test_an_unreachable_hub_answers_at_once_with_the_reason(monkeypatch) -> None:
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    from tui_lab.core import hub
    from tui_lab.core.data.splits import load_data
    from tui_lab.core.errors import DataError
    from tui_lab.core.settings import DataConfig

    monkeypatch.setattr(hub, "offline", lambda: False)
    calls: list[tuple] = []

    def no_network(repo_id, timeout=None, **kw):
        calls.append((repo_id, timeout))
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "model_info", no_network)
    monkeypatch.setattr(huggingface_hub, "dataset_info", no_network)
    with pytest.raises(ModelError, match="hub cannot be reached") as info:
        loading.load_pretrained("someone/model", ["a", "b"], 32)
    assert "(--model tiny-bert or small-bert)" in render_error(info.value, "flag")
    with pytest.raises(DataError, match="hub cannot be reached.*local .csv"):
        load_data(DataConfig(train="someone/dataset"))
    assert calls == [("someone/model", hub.PROBE_TIMEOUT), ("someone/dataset", hub.PROBE_TIMEOUT)]

    class Response:  # the two attributes the hub's HTTP errors read
        headers: dict = {}
        request = None

    def missing(repo_id, timeout=None, **kw):
        raise RepositoryNotFoundError("404 Repository Not Found", response=Response())

    monkeypatch.setattr(huggingface_hub, "model_info", missing)
    with pytest.raises(ModelError, match="does not exist on the Hugging Face hub"):
        loading.load_pretrained("someone/model", ["a", "b"], 32)


def test_word_counting_matches_tokenizers_on_every_text() -> None:
    """The fast count (split once, each distinct chunk through tokenizers) equals the plain one."""
    normalizer, pre = presets._bert_components()
    texts = TEXTS + [
        "Ünïcode\tTAB\u0000ctrl, café CAFÉ Straße ﬁ İstanbul",
        "a\x1fb c\x0bd e\x85f g\x0ch",  # control characters BERT deletes but Python splits at
        "zero\u200bwidth\u200d x\u3000y\u2028z snake_case 5€ x\r\ny\ufffdz ｆｕｌｌ",
        "虽然贵，但是很好吃!!! (ok)",
        "",
        "   ",
    ]
    expected: Counter[str] = Counter()
    for text in texts:
        expected.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    assert presets.count_words(texts) == expected


def test_the_vocabulary_sample_is_bounded_and_fixed() -> None:
    texts = [f"text {i}" for i in range(1000)]
    a = presets.vocab_sample(texts, 100)
    assert len(a) == 100 and a == presets.vocab_sample(texts, 100) and len(set(a)) == 100
    assert a == sorted(a, key=lambda t: int(t.split()[1]))  # file order kept
    assert presets.vocab_sample(texts[:50], 100) == texts[:50]


def test_the_vocabulary_is_the_same_in_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import make_rows

    data = tmp_path / "texts.json"
    data.write_text(json.dumps([t for t, _ in make_rows(400, 5)] + TEXTS))
    code = (
        "import json, sys\nfrom tui_lab.core.models import presets\n"
        "texts = json.load(open(sys.argv[1]))\n"
        "print(json.dumps(presets.train_wordpiece(texts, 150).backend_tokenizer.get_vocab(), sort_keys=True))"
    )
    vocabs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code, str(data)], env=env, capture_output=True, text=True, check=True
        )
        vocabs.append(json.loads(out.stdout))
    assert len(vocabs[0]) == 150 and vocabs[0] == vocabs[1]


def test_the_preset_tokenizer_is_learned_once_and_cached(monkeypatch, tmp_path: Path) -> None:
    from tui_lab.core import cache

    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))
    cache.clear_memory()
    learned = []
    real = presets._learn_backend
    monkeypatch.setattr(presets, "_learn_backend", lambda *a: learned.append(1) or real(*a))
    first = presets.preset_tokenizer(TEXTS, 120, 64)
    files = list((tmp_path / "cache" / "tokenizers").glob("*.json"))
    assert learned == [1] and len(files) == 1  # written to disk, no temporary file left
    again = presets.preset_tokenizer(TEXTS, 120, 256)  # from memory
    cache.clear_memory()
    other_process = presets.preset_tokenizer(TEXTS, 120, 64)  # from disk
    assert learned == [1]
    assert first.get_vocab() == again.get_vocab() == other_process.get_vocab()
    assert again.model_max_length == 256
    presets.preset_tokenizer(TEXTS, 130, 64)  # another vocabulary size is another entry
    presets.preset_tokenizer(TEXTS[:-1], 120, 64)  # and so are other texts
    assert learned == [1, 1, 1]
    assert first.get_vocab() == presets.train_wordpiece(TEXTS, 120).get_vocab()


def test_a_cache_that_cannot_be_written_only_costs_time(monkeypatch, tmp_path: Path) -> None:
    from tui_lab.core import cache

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TUI_LAB_CACHE", str(blocker))
    cache.clear_memory()
    tok = presets.preset_tokenizer(TEXTS, 120, 64)
    assert tok.get_vocab() == presets.train_wordpiece(TEXTS, 120).get_vocab()
