"""Labelling the pool: ranking by margin, entropy, diversity or at random; ``tui-lab suggest``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_rows, save_tiny_classifier
from tui_lab.cli import main
from tui_lab.core import active
from tui_lab.core.data import corrections
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.errors import ConfigError


def test_margin_and_entropy_put_the_least_sure_first() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.34, 0.33, 0.33], [0.6, 0.4, 0.0]])
    assert active.rank(probs, "margin", 4)[0] == [2, 1, 3, 0]
    assert active.rank(probs, "entropy", 4)[0] == [2, 1, 3, 0]
    sure_pair = np.array([[0.5, 0.5, 0.0], [0.4, 0.3, 0.3]])  # margin: a tie is least sure
    assert active.rank(sure_pair, "margin", 1)[0] == [0]
    assert active.rank(sure_pair, "entropy", 1)[0] == [1]  # entropy: the flatter one


def test_multi_label_uncertainty_is_closeness_to_one_half() -> None:
    probs = np.array([[0.99, 0.01], [0.9, 0.55], [0.7, 0.2], [0.02, 0.97]])
    assert active.rank(probs, "margin", 4, multi_label=True)[0] == [1, 2, 3, 0]
    scores = active.uncertainty(probs, "entropy", True)
    assert scores[2] > scores[1] > scores[0]  # the sum over labels: two half-sure labels beat one


def test_random_is_a_seeded_draw_of_distinct_rows() -> None:
    probs = np.full((50, 2), 0.5)
    first = active.rank(probs, "random", 10, seed=3)[0]
    assert first == active.rank(probs, "random", 10, seed=3)[0]
    assert len(set(first)) == 10 and first != active.rank(probs, "random", 10, seed=4)[0]


def test_diverse_takes_the_most_uncertain_of_each_cluster_not_near_copies() -> None:
    # rows 0-9 are near-copies and all very unsure; rows 10-19 another topic, a little surer
    p = np.r_[np.linspace(0.50, 0.52, 10), np.linspace(0.56, 0.58, 10), np.full(20, 0.95)]
    probs = np.c_[p, 1 - p]
    vectors = np.r_[np.tile([1.0, 0.0], (10, 1)), np.tile([0.0, 1.0], (10, 1)), np.tile([1.0, 1.0], (20, 1))]
    vectors = vectors + np.random.default_rng(0).normal(0, 0.01, vectors.shape)
    assert active.rank(probs, "margin", 2)[0] == [0, 1]
    picks, _ = active.rank(probs, "diverse", 2, embed=lambda rows: vectors[rows])
    assert picks == [0, 10]  # one from each cluster, the least sure first


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match="strategy must be one of diverse, margin, entropy, random"):
        active.rank(np.ones((2, 2)) / 2, "least", 1)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("active") / "model")


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.txt"
    path.write_text("\n".join(text for text, _ in make_rows(60, 5)) + "\n\n")
    return path


@pytest.mark.parametrize("strategy", active.STRATEGIES)
def test_suggest_ranks_a_pool_with_the_predictor(model: Path, pool: Path, strategy: str) -> None:
    texts = active.read_pool(str(pool))
    seen: list[tuple[int, int]] = []
    rows = active.suggest(
        Predictor.from_path(model, "cpu"), texts, strategy, 5, progress=lambda *a: seen.append(a)
    )
    assert len(rows) == 5 and len({r.row for r in rows}) == 5
    assert all(
        r.text == texts[r.row] and r.predicted in ("neg", "pos") and 0.5 <= r.confidence <= 1 for r in rows
    )
    if strategy != "random":
        assert [r.score for r in rows] == sorted(r.score for r in rows)[::-1] or strategy == "diverse"
        assert seen[-1] == (len(texts), len(texts))  # the whole pool was scored, with progress


def test_decided_pool_texts_are_left_out_and_adds_are_training_examples(
    model: Path, pool: Path, tmp_path: Path
) -> None:
    texts = active.read_pool(str(pool))
    predictor = Predictor.from_path(model, "cpu")
    file = tmp_path / "train.csv.corrections.jsonl"
    first = active.suggest(predictor, texts, "margin", 3)
    active.record(file, str(pool), first[0].row, first[0].text, "add", "pos")
    active.record(file, str(pool), first[1].row, first[1].text, "skip")
    active.record(file, str(pool), first[2].row, first[2].text, "unusable")
    assert active.decided_texts(file) == {s.text for s in first}
    assert [r["action"] for r in corrections.read(file).records] == ["add"]  # a corrections file a run reads
    assert [r["action"] for r in active.read_records(active.skipped_file(file)).records] == [
        "skip",
        "unusable",
    ]
    again = active.suggest(predictor, texts, "margin", 3, exclude=active.decided_texts(file))
    assert not {s.text for s in again} & {s.text for s in first}
    added = [r for r in active.read_records(file).records if r["action"] == "add"]
    assert added == [
        {**added[0], "file": "pool.txt", "row": first[0].row, "text": first[0].text, "label": "pos"}
    ]
    corrections.append(file, corrections.decision("pool.txt", first[0].row, first[0].text, "undo"))
    assert first[0].text not in active.decided_texts(file)  # an undone add is suggested again


def test_a_multi_label_model_guesses_every_label_over_one_half(tmp_path: Path, pool: Path) -> None:
    folder = save_tiny_classifier(tmp_path / "ml", ("a", "b", "c"), problem_type="multi_label_classification")
    rows = active.suggest(Predictor.from_path(folder, "cpu"), active.read_pool(str(pool)), "diverse", 4)
    assert len(rows) == 4
    for r in rows:
        assert all(name in ("a", "b", "c") for name in r.predicted.split("|") if name)


def test_the_suggest_command_prints_json(model: Path, pool: Path, capsys) -> None:
    assert (
        main(["suggest", str(model), "--pool", str(pool), "--top", "3", "--strategy", "margin", "--json"])
        == 0
    )
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert out["strategy"] == "margin" and len(out["rows"]) == 3
    assert set(out["rows"][0]) == {"row", "text", "predicted", "confidence", "score"}
    assert "scoring the pool: 60/60 texts" in captured.err


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("nums.csv", b"a,b\n1,2\n", "has no text column"),
        ("latin.txt", "caf\xe9 ok\n".encode("latin-1"), "is not UTF-8"),
        ("gone.txt", None, "--pool"),
    ],
)
def test_suggest_refuses_a_bad_pool_in_one_line(
    model: Path, tmp_path: Path, capsys, name, content, expect
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    before = sorted(tmp_path.rglob("*"))
    assert main(["suggest", str(model), "--pool", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and expect in err[0], err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
