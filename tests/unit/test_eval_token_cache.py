"""``tui-lab eval`` on a NER file reads the file's token ids back from the on-disk token cache
(``core/data/token_cache.py``, as training does) when the same file is scored by the same model
again; a run whose ``data.token_cache_mb`` is 0 encodes every time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import record_calls
from tui_lab.core.config import LabConfig
from tui_lab.core.deploy.eval_file import evaluate_path, token_cache_for
from tui_lab.core.tasks import NerTask


@pytest.fixture
def encodes(monkeypatch, tmp_path: Path) -> list[int]:
    """Every real encoding of the NER task, in an empty cache folder of this test's own."""
    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))
    return record_calls(monkeypatch, NerTask, "encode", 2, keep=len)


def test_a_ner_file_scored_again_is_read_back_from_the_token_cache(ner_run: Path, encodes, tmp_path) -> None:
    data = ner_run.parent.parent / "data" / "test.conll"
    first = evaluate_path(str(ner_run), str(data))
    assert encodes == [20] and len(list((tmp_path / "cache" / "tokens").iterdir())) == 1
    second = evaluate_path(str(ner_run), str(data))
    assert encodes == [20]  # a hit: not encoded again
    assert second == first  # the same scores from the ids read back
    changed = tmp_path / "changed.conll"
    sentences = data.read_text(encoding="utf-8").split("\n\n")
    changed.write_text("\n\n".join(sentences[:-2]) + "\n", encoding="utf-8")  # another file: a miss
    evaluate_path(str(ner_run), str(changed))
    assert len(encodes) == 2


def test_a_run_with_the_token_cache_off_encodes_every_time(ner_run: Path, encodes, tmp_path) -> None:
    run = tmp_path / "ner"
    shutil.copytree(ner_run, run)
    config = LabConfig.load(run / "config.toml")
    config.data.token_cache_mb = 0
    config.save(run / "config.toml")
    assert token_cache_for(run) is None and token_cache_for(run / "best") is None
    data = ner_run.parent.parent / "data" / "test.conll"
    evaluate_path(str(run), str(data))
    evaluate_path(str(run), str(data))
    assert encodes == [20, 20] and not (tmp_path / "cache" / "tokens").exists()
