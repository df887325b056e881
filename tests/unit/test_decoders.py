"""Decoder LLMs (Llama, Qwen2, Mistral, GPT-2, Gemma) as classifiers and taggers: the pad token,
and padding that never changes a prediction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DECODER_FAMILIES, make_rows, save_tiny_decoder, tiny_train_flags, write_csv
from tui_lab.core.data.batching import length_grouped_batches, pad_batch
from tui_lab.core.models.loading import load_pretrained

SHORT = "the film was great"
LONG = "the hotel was awful, the room and the staff and the screen and the plot were poor, boring and bland"


@pytest.fixture(scope="module")
def decoders(tmp_path_factory) -> dict[str, Path]:
    """Each family's tiny causal LM, saved once; ``llama-eos`` ends every text in ``</s>``."""
    root = tmp_path_factory.mktemp("decoders")
    folders = {family: save_tiny_decoder(root / family, family) for family in DECODER_FAMILIES}
    folders["llama-eos"] = save_tiny_decoder(root / "llama-eos", "llama", eos_suffix=True)
    return folders


def classifier(folder: Path, head: str = "sequence"):
    import torch

    torch.manual_seed(0)
    labels = ["O", "B-X", "I-X"] if head == "token" else ["neg", "pos"]
    tokenizer, model = load_pretrained(str(folder), labels, 64, head=head)
    return tokenizer, model.eval()


def logits(model, batch, **kwargs):
    import torch

    with torch.no_grad():
        return model(**batch, **kwargs).logits


def left_padded(tokenizer, texts: list[str]) -> tuple[dict, object]:
    """The tokenizer's batch padded on the left, and position ids counted from each first real token."""
    tokenizer.padding_side = "left"
    enc = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    tokenizer.padding_side = "right"
    return enc, (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)


@pytest.mark.parametrize("family", [*DECODER_FAMILIES, "llama-eos"])
def test_a_text_scores_the_same_alone_and_beside_a_long_one(decoders, family) -> None:
    import torch

    tokenizer, model = classifier(decoders[family])
    pad = tokenizer.pad_token_id
    if family != "qwen2":  # Qwen2's tokenizer class brings its own <|endoftext|> pad
        assert tokenizer.pad_token == tokenizer.eos_token == "</s>"
    assert model.config.pad_token_id == pad and pad < model.get_input_embeddings().num_embeddings
    assert tokenizer.padding_side == "right"
    short, long = tokenizer([SHORT, LONG])["input_ids"]
    assert len(long) > 2 * len(short)
    if family == "llama-eos":
        assert short[-1] == tokenizer.pad_token_id  # the text itself ends in the pad token
    alone = logits(model, pad_batch([short], pad))[0]
    right = logits(model, pad_batch([long, short], pad))[1]  # the loop's batches: right padding
    torch.testing.assert_close(right, alone, atol=1e-5, rtol=1e-4)
    enc, positions = left_padded(tokenizer, [LONG, SHORT])
    assert enc["input_ids"][1, 0] == tokenizer.pad_token_id
    left = logits(model, enc, position_ids=positions)[1]
    torch.testing.assert_close(left, alone, atol=1e-5, rtol=1e-4)


def test_a_text_ending_in_eos_is_read_at_its_last_word(decoders) -> None:
    """pad == eos: the head reads the last token that is not a pad, the word before the EOS."""
    import torch

    tokenizer, model = classifier(decoders["llama-eos"])
    with_eos = tokenizer([SHORT])["input_ids"][0]
    alone = logits(model, pad_batch([with_eos], 2))[0]
    torch.testing.assert_close(logits(model, pad_batch([with_eos[:-1]], 2))[0], alone)
    assert not torch.allclose(logits(model, pad_batch([with_eos[:-2]], 2))[0], alone)


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2"])
def test_a_tagger_tags_a_text_the_same_alone_and_in_a_batch(decoders, family) -> None:
    import torch

    tokenizer, model = classifier(decoders[family], head="token")
    assert type(model).__name__.endswith("ForTokenClassification")
    short, long = tokenizer([SHORT, LONG])["input_ids"]
    alone = logits(model, pad_batch([short], tokenizer.pad_token_id))[0]
    right = logits(model, pad_batch([long, short], tokenizer.pad_token_id))[1, : len(short)]
    torch.testing.assert_close(right, alone, atol=1e-5, rtol=1e-4)
    enc, positions = left_padded(tokenizer, [LONG, SHORT])
    left = logits(model, enc, position_ids=positions)[1, -len(short) :]
    torch.testing.assert_close(left, alone, atol=1e-5, rtol=1e-4)


def test_a_tokenizer_with_neither_pad_nor_eos_gets_a_pad_token(decoders) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tui_lab.core.models.decoders import set_pad_token

    tokenizer = AutoTokenizer.from_pretrained(decoders["gpt2"])
    tokenizer.eos_token = None
    model = AutoModelForSequenceClassification.from_pretrained(decoders["gpt2"], num_labels=2)
    rows = model.get_input_embeddings().num_embeddings
    tokenizer.padding_side = "left"
    set_pad_token(tokenizer, model)
    assert tokenizer.pad_token == "<pad>" and model.config.pad_token_id == tokenizer.pad_token_id == rows
    assert model.get_input_embeddings().num_embeddings == rows + 1
    assert tokenizer.padding_side == "right"


def test_a_llama_trains_from_the_cli_and_its_best_loads_in_a_pipeline(tmp_path, capsys) -> None:
    """The issue's case: a Llama whose config has no pad id (here its tokenizer has one) ended in
    ``Cannot handle batch sizes > 1 if no padding token is defined``."""
    from transformers import pipeline

    from tui_lab.cli import main

    folder = save_tiny_decoder(tmp_path / "llama", "llama", pad=True)
    capsys.readouterr()
    data = tmp_path / "data"
    write_csv(data / "train.csv", make_rows(48, 1))
    write_csv(data / "dev.csv", make_rows(16, 2))
    flags = tiny_train_flags(data, tmp_path / "runs", "llama", epochs=1)
    assert main(["train", "--model", str(folder), *flags, "--max-steps", "2", "--batch-size", "8"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "shards" not in err and "Loading weights" not in err, err
    best = Path(json.loads(out.strip().splitlines()[-1])["run_dir"]) / "best"
    assert json.loads((best / "config.json").read_text())["pad_token_id"] == 3  # the tokenizer's <pad>
    assert json.loads((best / "tokenizer_config.json").read_text()).get("padding_side", "right") == "right"
    classify = pipeline("text-classification", model=str(best), top_k=None)
    alone = classify([SHORT])[0]
    batched = classify([LONG, SHORT], batch_size=2)[1]
    score = {d["label"]: d["score"] for d in alone}
    for d in batched:
        assert d["score"] == pytest.approx(score[d["label"]], abs=1e-5)


@pytest.fixture(scope="module")
def llama_run(tmp_path_factory) -> Path:
    """A tiny Llama classifier trained a few steps (length grouping and the token cache on): its folder."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    root = tmp_path_factory.mktemp("llama-run")
    write_csv(root / "data" / "train.csv", make_rows(64, 1))
    write_csv(root / "data" / "dev.csv", make_rows(24, 2))
    cfg = LabConfig()
    cfg.model.name = str(save_tiny_decoder(root / "llama", "llama"))
    cfg.data.train, cfg.data.max_length = str(root / "data"), 32
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.output_dir = 4, 8, str(root / "runs")
    cfg.train.baseline, cfg.train.tensorboard, cfg.train.run_name = False, False, "llama"
    assert cfg.train.group_by_length and cfg.data.token_cache_mb > 0
    return Path(Trainer(cfg).run().run_dir)


def test_a_decoder_run_predicts_the_same_alone_and_in_a_batch(llama_run) -> None:
    from tui_lab.core.deploy.predictor import Predictor

    predictor = Predictor.from_path(llama_run, device="cpu", backend="pytorch")
    predictor.tokenizer.padding_side = "left"  # as saved by some checkpoints: loading puts it back
    predictor = Predictor.from_path(llama_run, device="cpu", backend="pytorch")
    assert predictor.tokenizer.padding_side == "right"
    alone = predictor.predict([SHORT])[0]
    batched = predictor.predict([LONG, SHORT, "awful"])[1]
    assert batched.label == alone.label
    assert batched.probabilities == pytest.approx(alone.probabilities, abs=1e-5)


def test_a_decoder_trains_with_lora_and_predicts_the_same_alone_and_in_a_batch(tmp_path: Path) -> None:
    from transformers import pipeline

    from tui_lab.core.config import LabConfig
    from tui_lab.core.deploy.predictor import Predictor
    from tui_lab.core.training.loop import Trainer

    write_csv(tmp_path / "data" / "train.csv", make_rows(64, 1))
    write_csv(tmp_path / "data" / "dev.csv", make_rows(24, 2))
    cfg = LabConfig()
    llama = save_tiny_decoder(tmp_path / "llama", "llama")
    cfg.model.name, cfg.model.peft, cfg.model.lora_r = str(llama), "lora", 4
    cfg.data.train, cfg.data.max_length = str(tmp_path / "data"), 32
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.output_dir = 4, 8, str(tmp_path / "runs")
    cfg.train.baseline, cfg.train.tensorboard, cfg.train.run_name = False, False, "llama-lora"
    best = Path(Trainer(cfg).run().run_dir) / "best"
    adapter = json.loads((best / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and "score" in adapter["modules_to_save"]
    assert adapter["base_model_name_or_path"] == str(llama.resolve())  # named, not copied
    predictor = Predictor.from_path(best, device="cpu", backend="pytorch")
    alone = predictor.predict([SHORT])[0]
    batched = predictor.predict([LONG, SHORT, "awful"])[1]
    assert batched.label == alone.label
    assert batched.probabilities == pytest.approx(alone.probabilities, abs=1e-5)
    classify = pipeline("text-classification", model=str(best), top_k=None)
    by_pipeline = {d["label"]: d["score"] for d in classify([LONG, SHORT], batch_size=2)[1]}
    assert by_pipeline == pytest.approx(alone.probabilities, abs=1e-4)


def test_a_decoder_run_reads_its_tokens_back_from_the_cache(llama_run, monkeypatch) -> None:
    from tui_lab.core.config import LabConfig
    from tui_lab.core.data.token_cache import TokenCache
    from tui_lab.core.training.distributed import DistInfo
    from tui_lab.core.training.prepare import prepare

    hits: list[bool] = []
    get = TokenCache.get
    monkeypatch.setattr(
        TokenCache, "get", lambda self, key: hits.append(get(self, key) is not None) or get(self, key)
    )
    config = LabConfig.load(llama_run / "config.toml")
    prepare(config, DistInfo())  # the run stopped mid-epoch, before its streamed train split was cached
    hits.clear()
    setup = prepare(config, DistInfo())
    assert len(hits) >= 2 and all(hits)  # every split read back, none encoded again
    lengths = setup.train.tokens.lengths

    def padding(batches) -> int:
        return sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)

    # grouped by length: less padding than the same rows in a plain shuffle
    assert padding(setup.epoch_batches(0)) < padding(length_grouped_batches(lengths, 8, 0, False)) / 2


def test_a_decoder_run_is_analysed_and_explained(llama_run) -> None:
    from tui_lab.core.analysis.analyze import analyze_run
    from tui_lab.core.analysis.explain import embeddings_layer, explain_texts
    from tui_lab.core.deploy.predictor import Predictor

    analysis = analyze_run(llama_run, device="cpu", label_issues=False)
    assert analysis.labels == ["neg", "pos"] and 0.0 <= analysis.ece <= 1.0
    predictor = Predictor.from_path(llama_run, device="cpu", backend="pytorch")
    model = predictor.backend.model
    assert embeddings_layer(model) is model.get_input_embeddings()  # a decoder has no .embeddings
    text = "the pizza was awful, truly"
    (explanation,) = explain_texts(predictor, [text], n_steps=8)
    assert explanation.label == predictor.predict([text])[0].label
    assert [w.word for w in explanation.words] == text.split()
    assert max(abs(w.score) for w in explanation.words) == pytest.approx(1.0)
