"""Describing a data set in the core: counts, sampled token lengths, leakage, file stamps."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_rows, write_csv
from tui_lab.core.models import loading, presets
from tui_lab.core.training import preview as dataset_stats
from tui_lab.core.training.preview import describe, file_stamps


def test_describe_counts_every_row_and_measures_lengths(tiny_config) -> None:
    stats = describe(tiny_config)
    assert stats.labels == ["neg", "pos"] and set(stats.splits) == {"train", "dev", "test"}
    train = stats.splits["train"]
    assert train.rows == 240 and sum(train.counts.values()) == 240 and len(train.lengths) == 240
    assert not train.sampled and stats.length_note == ""
    assert min(train.lengths) >= 3  # [CLS] + at least "the ... was <word>" + [SEP]
    assert stats.lengths(4)["truncated"] > 0 and stats.lengths(512)["truncated"] == 0.0
    assert (stats.text_column, stats.label_column) == ("text", "label")


def test_lengths_of_a_large_split_come_from_a_sample_and_say_so(tiny_config, monkeypatch) -> None:
    monkeypatch.setattr(dataset_stats, "LENGTH_SAMPLE", 100)
    stats = describe(tiny_config)
    assert len(stats.splits["train"].lengths) == 100 and stats.splits["train"].sampled
    assert stats.splits["train"].rows == 240 and sum(stats.splits["train"].counts.values()) == 240
    assert "lengths from 100 sampled rows" in stats.length_note


def test_the_run_reuses_the_tokenizer_the_description_learned(tiny_config, monkeypatch, tmp_path) -> None:
    from tui_lab.core import cache
    from tui_lab.core.data.splits import load_data

    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))  # empty: nothing learned yet
    cache.clear_memory()
    learned = []
    real = presets._learn_backend
    monkeypatch.setattr(presets, "_learn_backend", lambda *a: learned.append(1) or real(*a))
    describe(tiny_config)
    bundle = load_data(tiny_config.data, tiny_config.train.seed)
    tok, _ = loading.build(
        "tiny-bert", bundle.train.texts, bundle.label_names, 32, tiny_config.model.vocab_size
    )
    assert learned == [1] and len(tok) <= tiny_config.model.vocab_size


def test_train_dev_overlap_and_file_stamps(tmp_path: Path, tiny_config) -> None:
    rows = make_rows(80, 4)
    folder = tmp_path / "leaky"
    write_csv(folder / "train.csv", rows)
    write_csv(folder / "dev.csv", [(rows[0][0].upper() + "  ", rows[0][1])] + make_rows(20, 9))
    tiny_config.data.train = str(folder)
    stats = describe(tiny_config)
    assert stats.shared_train_dev >= 1
    before = file_stamps(tiny_config.data)
    assert {str(folder / "train.csv"), str(folder / "dev.csv")} <= set(before)
    write_csv(folder / "dev.csv", make_rows(30, 9))
    assert file_stamps(tiny_config.data) != before


def test_a_corrections_file_appearing_or_growing_changes_the_stamps(tmp_path: Path, tiny_config) -> None:
    from tui_lab.core.data import corrections

    rows = make_rows(40, 4)
    data = write_csv(tmp_path / "train.csv", rows)
    tiny_config.data.train = str(data)
    before = file_stamps(tiny_config.data)
    path = corrections.default_path(data)
    corrections.append(path, corrections.decision(data, 0, rows[0][0], "drop"))  # the Analysis screen's d
    created = file_stamps(tiny_config.data)
    assert created != before and created[str(path)][1] > 0
    corrections.append(path, corrections.decision(data, 1, rows[1][0], "keep"))
    assert file_stamps(tiny_config.data) != created
    tiny_config.data.corrections = "none"  # ignored: its changes change nothing a run sees
    assert str(path) not in file_stamps(tiny_config.data)
