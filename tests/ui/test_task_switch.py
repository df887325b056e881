"""The lab's task selector, by keyboard: pick ``ner`` in the form, train, and see the task's metrics."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, Select, Static

from tests.ui.conftest import settle, wait_for
from tui_lab.core.tasks import TASKS
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.dataset_pane import DatasetPane
from tui_lab.ui.widgets.hparam_form import widget_id

NER = Path(__file__).resolve().parents[2] / "sample_data" / "ner"


def _ner_subset(folder: Path) -> Path:
    """The first sentences of sample_data/ner: 80 train, 30 dev (CoNLL)."""
    folder.mkdir(parents=True)
    for split, n in (("train", 80), ("dev", 30)):
        sentences = (NER / f"{split}.conll").read_text(encoding="utf-8").split("\n\n")[:n]
        (folder / f"{split}.conll").write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    return folder


async def test_switch_the_task_to_ner_by_keyboard_and_train(tmp_path: Path, lab_config) -> None:
    lab_config.data.train, lab_config.data.max_length = str(_ner_subset(tmp_path / "ner")), 32
    lab_config.train.epochs, lab_config.train.batch_size = 1, 16
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        task = app.query_one("#" + widget_id("model.task"), Select)
        task.focus()
        await pilot.pause()
        choices = ["", *TASKS]
        steps = choices.index("ner") - choices.index(task.value)
        await pilot.press("enter", *(["down"] * steps), "enter")  # open the list, walk to ner, pick it
        await pilot.pause()
        assert task.value == "ner"
        assert app.query_one("#" + widget_id("data.max_length"), Input).value == "32"
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: len(app.history.steps) > 0)
        await wait_for(pilot, lambda: not app.training)
        await wait_for(pilot, lambda: "completed" in str(app.query_one("#train-status", Static).render()), 10)
        report = json.loads((Path(app.history.started.run_dir) / "report.json").read_text())
        assert report["task"] == "ner" and report["config"]["model"]["task"] == "ner"
        assert "best f1" in str(app.query_one("#train-status", Static).render())
        # per-entity-type F1 bars where a classifier shows its confusion matrix
        bars = str(app.query_one("#confusion", Static).render())
        assert "PER" in bars and "LOC" in bars


async def test_a_plain_text_file_previews_as_pretraining_data(tmp_path: Path, lab_config) -> None:
    texts = [f"the room was quiet and the staff were kind on day {i}" for i in range(60)]
    (tmp_path / "corpus.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    lab_config.data.train = str(tmp_path / "corpus.txt")
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not app.query_one("#data-error").display, str(app.query_one("#data-error", Static).render())
        assert app.query_one("#data-preview", DataTable).row_count == 60
        assert "cut at" in str(app.query_one("#length-summary", Static).render())
        assert "no labels: 57 texts to pretrain on" in str(app.query_one("#label-bars", Static).render())


TASK_FIELDS = {
    "train.mlm_probability": "pretrain",
    "train.whole_word_mask": "pretrain",
    "data.label_all_subtokens": "ner",
    "data.label_delimiter": "multilabel",
}


def _shown_task_fields(app: LabApp) -> set[str]:
    """The task-specific fields whose row is displayed in the form (scrolled to or not)."""
    form = app.query_one("#hparams")
    shown = set()
    for path in TASK_FIELDS:
        node = app.query_one("#" + widget_id(path) + "-row")
        while node is not form and node.display:
            node = node.parent
        if node is form:
            shown.add(path)
    return shown


def _own(task: str) -> set[str]:
    return {p for p, t in TASK_FIELDS.items() if t == task}


async def test_the_form_shows_a_tasks_own_fields_only_for_that_task(tmp_path: Path, lab_config) -> None:
    texts = [f"the room was quiet and the staff were kind on day {i}" for i in range(60)]
    (tmp_path / "corpus.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.config.model.task == ""  # auto, on a CSV of labelled texts: classify
        assert _shown_task_fields(app) == set()
        task = app.query_one("#" + widget_id("model.task"), Select)
        for name in ("pretrain", "ner", "multilabel", "classify"):
            task.value = name
            await pilot.pause()
            assert _shown_task_fields(app) == _own(name), name
        task.value = ""  # auto again: the task the Dataset pane's data asks for
        await pilot.pause()
        assert _shown_task_fields(app) == set()
        app.query_one(DatasetPane).set_path("train", str(tmp_path / "corpus.txt"))
        await settle(pilot)
        assert _shown_task_fields(app) == _own("pretrain")  # a .txt file: masked-LM pretraining
        app.query_one(DatasetPane).set_path("train", str(_ner_subset(tmp_path / "ner")))
        await settle(pilot)
        assert _shown_task_fields(app) == _own("ner")  # CoNLL files: token tags
        tickets = tmp_path / "tickets.jsonl"
        rows = [
            {"text": f"ticket {i} about my bill", "labels": ["billing", "refund"][: 1 + i % 2]}
            for i in range(40)
        ]
        tickets.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
        app.query_one(DatasetPane).set_path("train", str(tickets))
        await settle(pilot)
        assert _shown_task_fields(app) == _own("multilabel")  # list labels
