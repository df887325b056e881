"""Why a run's model is wrong: error analysis of a run's best weights (``tui-lab analyze``, the lab's F9).

:func:`analyze_run` reloads a run's data exactly as it trained (its own config, same seed, so
the same dev split), predicts a split with ``best/`` and gathers, through the run's task:
per-class precision/recall/F1/support, a grid of cells with the examples behind each (the most
confident mistakes first), a reliability diagram and the 15-bin ECE, and — on the training
rows — likely label issues (cleanlab on cross-validated TF-IDF probabilities, see
:mod:`tui_lab.core.analysis.label_issues`). With ``calibrate`` it fits a softmax temperature on dev and
saves it into ``best/config.json`` (``tui_lab_temperature``), which predictions then use.
It reads a run another process is writing only when asked to (the lab does: the latest best).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.analysis import calibration
from tui_lab.core.analysis.label_issues import check_encoder, find_label_issues
from tui_lab.core.atomic import unwritable, write_text_atomically
from tui_lab.core.config import LabConfig
from tui_lab.core.data.splits import Split, load_data
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.errors import DataError, LabError, ModelError
from tui_lab.core.models import checkpoint
from tui_lab.core.tasks import TASKS
from tui_lab.core.training.runs import is_run_dir, run_config, run_info

ANALYSIS_FILE = "analysis.json"
ISSUES_FILE = "label_issues.csv"
SPLITS = ("dev", "test")


@dataclass
class Analysis:
    """Everything the Analysis screen and ``tui-lab analyze`` show.

    Attributes:
        run_dir: the run folder.
        model_dir: the weights analysed (``best/``).
        split: ``dev`` or ``test``.
        task: the run's task name.
        labels: class names.
        report: per-class scores and cells of the split (:class:`~tui_lab.core.tasks.reports.ErrorReport`).
        test_per_class: the test split's per-class scores when ``split`` is dev and there is a test split.
        ece: expected calibration error (15 bins) of the split at the temperature in use.
        reliability: the reliability diagram's bins at that temperature.
        temperature: the temperature the predictions used (1.0: none saved).
        calibration: after a fit: ``temperature``, ``ece_before``, ``ece_after``, ``nll_before``, ``nll_after``.
        label_issues: likely label issues among the training rows, likeliest first.
        label_issues_note: why there are none to show, when they could not be computed.
        label_issues_searched: (training rows, held-out dev rows of the training file) searched for
            label issues; the dev rows' search used the model's probabilities.
        timings: seconds per stage.
    """

    run_dir: str
    model_dir: str
    split: str
    task: str
    labels: list[str]
    report: Any
    test_per_class: dict[str, dict[str, float]] | None = None
    ece: float = 0.0
    reliability: list[dict[str, float]] = field(default_factory=list)
    temperature: float = 1.0
    calibration: dict[str, float] | None = None
    label_issues: list[Any] = field(default_factory=list)
    label_issues_note: str = ""
    label_issues_searched: tuple[int, int] = (0, 0)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def label_issues_scope(self) -> str:
        """Which rows were searched for label issues, and with what ("" before a search)."""
        train, held_out = self.label_issues_searched
        if not train:
            return ""
        scope = f"{train:,} training rows"
        if held_out:
            scope += (
                f" and the {held_out:,} dev rows cut from the training file (with the fine-tuned "
                "model's probabilities of those)"
            )
        return scope

    def to_json(self, top: int = 20) -> dict[str, Any]:
        """The ``--json`` object (``worst``: the ``top`` most confident mistakes; every label issue)."""
        worst = [
            {k: e.to_dict()[k] for k in ("row", "text", "label", "predicted", "confidence")}
            for e in self.report.mistakes[:top]
        ]
        return {
            "run_dir": self.run_dir,
            "split": self.split,
            "task": self.task,
            "labels": self.labels,
            "per_class": self.report.per_class,
            "test_per_class": self.test_per_class,
            "confusion_matrix": self.report.counts,
            "grid": {"rows": self.report.grid_rows, "columns": self.report.grid_cols},
            "ece": self.ece,
            "reliability": self.reliability,
            "temperature": self.temperature,
            "calibration": self.calibration,
            "worst": worst,
            "label_issues": [i.to_dict() for i in self.label_issues],
            "label_issues_note": self.label_issues_note,
            "label_issues_scope": self.label_issues_scope,
            "timings": self.timings,
        }


def check_run(run_dir: str | Path, allow_running: bool = False) -> Path:
    """The run's ``best/`` folder, once the run is one that can be analysed.

    Raises:
        LabError: not a run folder, a run still running (unless ``allow_running``), no ``best/``.
    """

    path = Path(run_dir).expanduser()
    if not path.is_dir() or not is_run_dir(path):
        raise LabError(f"{path} is not a run folder (no events.jsonl or config.toml); give runs/<name>.")
    status = run_info(path).status
    if status.active and not allow_running:
        raise LabError(
            f"{path.name} is still {status}; analyse it once it has finished (stop it with touch {path}/STOP)."
        )
    best = checkpoint.resolve(path / "best")
    if best is None:
        raise ModelError(
            f"{path.name} has no best/ weights and so no dev predictions yet; "
            f"train it until its first evaluation."
        )
    return best


def load_run_data(run_dir: Path) -> tuple[Any, Any]:
    """(config, data) of a run, the data read and split exactly as the run did."""

    raw = run_config(run_dir)
    if not raw:
        raise LabError(f"{run_dir} has no readable config (config.toml); cannot reload its data.")
    config = LabConfig.from_dict(raw, str(run_dir / "config.toml"))
    name = config.model.task
    try:
        data = TASKS[name].load_data(config.data, config.train.seed) if name in TASKS else None
        return config, data or load_data(config.data, config.train.seed, None)
    except DataError as exc:
        raise DataError(f"{run_dir.name}'s data cannot be read any more: {exc.message}") from None


def _calibrate(
    predictor: Any, best: Path, dev_logits: np.ndarray, dev_targets: np.ndarray
) -> dict[str, float]:
    """Fit and save a temperature on dev; ECE and NLL before (T = 1) and after."""
    t = calibration.fit_temperature(dev_logits, dev_targets)
    try:
        calibration.save_temperature(best, t)
    except OSError as exc:
        raise LabError(_cannot_write(best / "config.json", exc.strerror or str(exc))) from None
    before = calibration.softmax(dev_logits)
    after = calibration.softmax(dev_logits, t)
    ok = before.argmax(axis=1) == dev_targets
    return {
        "temperature": t,
        "ece_before": calibration.expected_calibration_error(before.max(axis=1), ok),
        "ece_after": calibration.expected_calibration_error(after.max(axis=1), ok),
        "nll_before": calibration.nll(dev_logits, dev_targets),
        "nll_after": calibration.nll(dev_logits, dev_targets, t),
    }


def analyze_run(
    run_dir: str | Path,
    split: str = "dev",
    calibrate: bool = False,
    allow_running: bool = False,
    label_issues: bool = True,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
    encoder: str | None = None,
) -> Analysis:
    """Analyse a run's best weights on ``split`` (and its training rows for label issues).

    Args:
        run_dir: the run folder.
        split: ``dev`` or ``test``.
        calibrate: fit a temperature on dev and save it in ``best/config.json`` first.
        allow_running: analyse the latest ``best/`` of a run that is still training.
        label_issues: look for label issues in the training rows (cross-validation + cleanlab).
        device: torch device for the predictions (default: the best available).
        progress: called with a short line as each stage starts.
        encoder: a model folder whose embeddings add a second cross-validated classifier to
            the label-issue search (``best`` means the run's ``best/``).

    Raises:
        LabError: the run cannot be analysed (see :func:`check_run`) or written to (see
            :func:`check_writable`), a split it does not have, an encoder that cannot load, or data
            that cannot be read any more.
    """
    say = progress or (lambda _line: None)
    best = _checked_request(run_dir, split, calibrate, allow_running, encoder if label_issues else None)
    run_path = Path(run_dir).expanduser()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    say("reading the run's data…")
    data = _run_data(run_path, split)

    say(f"loading {best}…")
    predictor = Predictor.from_path(best, device)
    if list(predictor.labels) != list(data.label_names):
        raise ModelError(f"{best}'s labels differ from the run's data; was the data changed since?")
    timings["load"], clock = time.perf_counter() - clock, time.perf_counter()
    dev_logits, cal = _calibrate_on_dev(predictor, best, data, say) if calibrate else (None, None)
    temperature = cal["temperature"] if cal else predictor.temperature
    issues = label_issues and not predictor.task.label_issues_refusal
    if issues and data.dev_from_train and dev_logits is None:
        say(f"predicting {len(data.dev):,} dev texts…")  # out of sample: label issues use them too
        dev_logits = predictor.logits(data.dev.texts)
    analysis = _split_analysis(predictor, data, split, dev_logits, temperature, say)
    timings["predict"], clock = time.perf_counter() - clock, time.perf_counter()
    analysis.run_dir, analysis.model_dir, analysis.calibration = str(run_path), str(best), cal
    if label_issues and predictor.task.label_issues_refusal:
        analysis.label_issues_note = f"no label issues: {predictor.task.label_issues_refusal}"
    elif issues:
        held_out = predictor.task.scores(dev_logits, temperature) if data.dev_from_train else None
        _find_label_issues(analysis, data, best, encoder, say, timings, held_out)
    analysis.timings = timings
    return analysis


def _checked_request(
    run_dir: str | Path, split: str, calibrate: bool, allow_running: bool, encoder: str | None
) -> Path:
    """The run's best weights, once the request is one that can be carried out.

    Raises:
        LabError: as :func:`analyze_run`.
    """
    if split not in SPLITS:
        raise LabError(f"split must be dev or test, got '{split}'.")
    best = check_run(run_dir, allow_running)
    check_writable(run_dir, calibrate)
    if encoder and encoder != "best":
        check_encoder(encoder)
    return best


def _run_data(run_path: Path, split: str) -> Any:
    """The run's data, read and split as the run did, once it has ``split``."""
    _, data = load_run_data(run_path)
    chosen = data.dev if split == "dev" else data.test
    if chosen is None or not len(chosen):
        raise DataError(f"{run_path.name} has no {split} split; use --split dev.")
    return data


def _calibrate_on_dev(
    predictor: Any, best: Path, data: Any, say: Callable[[str], None]
) -> tuple[np.ndarray, dict[str, float]]:
    """(dev logits, the fitted temperature's report), the temperature saved in ``best/``.

    Raises:
        ModelError: the task has no temperature (multi-label, NER).
    """
    if predictor.task.temperature_refusal:
        raise ModelError(predictor.task.temperature_refusal)
    say(f"predicting {len(data.dev):,} dev texts…")
    dev_logits = predictor.logits(data.dev.texts)
    return dev_logits, _calibrate(predictor, best, dev_logits, predictor.task.targets(data.dev.labels))


def _find_label_issues(
    analysis: Analysis,
    data: Any,
    best: Path,
    encoder: str | None,
    say: Callable[[str], None],
    timings: dict,
    dev_probs: np.ndarray | None = None,
) -> None:
    """Fill in the training file's likely label issues (or why there are none).

    ``dev_probs`` (the model's probabilities of the dev rows) is given when dev was cut from the
    training file: those rows are searched too, and as the model never trained on them, its
    probabilities are out of sample there and are averaged in (``benchmarks/label_noise_finetuned.py``).
    """

    rows, model_probs = data.train, None
    if dev_probs is not None:
        train, dev = data.train, data.dev
        rows = Split(train.texts + dev.texts, train.labels + dev.labels, train.rows + dev.rows)
        model_probs = (np.arange(len(train), len(rows)), dev_probs)
    analysis.label_issues_searched = (len(data.train), len(rows) - len(data.train))
    try:
        analysis.label_issues = find_label_issues(
            rows,
            data.label_names,
            progress=say,
            timings=timings,
            encoder=str(best) if encoder == "best" else encoder,
            model_probs=model_probs,
        )
    except ValueError as exc:
        analysis.label_issues_note = f"no label issues: {exc}"


def _split_analysis(
    predictor: Any,
    data: Any,
    split: str,
    dev_logits: np.ndarray | None,
    temperature: float,
    say: Callable[[str], None],
) -> Analysis:
    """The report, reliability and ECE of one split (and test's per-class scores beside dev's)."""
    task = predictor.task
    chosen = data.dev if split == "dev" else data.test
    test_per_class = None
    if split == "dev" and data.test is not None and len(data.test):
        say(f"predicting {len(data.test):,} test texts…")
        test_per_class = task.analyse_split(predictor, data.test, temperature)[0].per_class
    say(f"predicting {len(chosen):,} {split} texts…")
    report, conf, ok = task.analyse_split(
        predictor, chosen, temperature, dev_logits if split == "dev" else None
    )
    return Analysis(
        run_dir="",
        model_dir="",
        split=split,
        task=task.name,
        labels=list(report.labels),
        report=report,
        test_per_class=test_per_class,
        ece=calibration.expected_calibration_error(conf, ok),
        reliability=calibration.reliability(conf, ok),
        temperature=temperature,
    )


def write_analysis(analysis: Analysis, top: int = 20) -> Path:
    """Write ``RUN_DIR/analysis.json`` atomically; returns its path."""

    path = Path(analysis.run_dir) / ANALYSIS_FILE
    text = json.dumps(analysis.to_json(top), indent=2, ensure_ascii=False) + "\n"
    try:
        return write_text_atomically(path, text)
    except OSError as exc:
        raise LabError(_cannot_write(path, exc.strerror or str(exc))) from None


def check_writable(run_dir: str | Path, calibrate: bool = False) -> None:
    """Refuse, before any work, a run whose ``analysis.json`` (and with ``calibrate``
    ``best/config.json``) cannot be replaced.

    Raises:
        LabError: a folder in the file's place, or a folder that cannot be written.
    """
    run = Path(run_dir).expanduser()
    for path in (run / ANALYSIS_FILE, *([run / "best" / "config.json"] if calibrate else [])):
        problem = unwritable(path)
        if problem:
            raise LabError(_cannot_write(path, problem))


def _cannot_write(path: Path, problem: str) -> str:
    if path.is_dir():
        return f"{path} is a folder, so the results cannot be written there; move it away."
    return f"{path} cannot be written ({problem}); make {path.parent} writable."


def export_label_issues(issues: list[Any], path: str | Path) -> Path:
    """The label issues as CSV (``row,text,label,suggested,score``), written atomically."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("row", "text", "label", "suggested", "score"))
    for issue in issues:
        writer.writerow((issue.row, issue.text, issue.label, issue.suggested, f"{issue.score:.6f}"))
    return write_text_atomically(Path(path).expanduser(), buffer.getvalue())
