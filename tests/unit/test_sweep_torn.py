"""A sweep journal cut short mid-record, as a crash or a full disk leaves it (ARCHITECTURE.md rule 18):
``tui-lab sweep --resume`` keeps every complete record, sets the torn part aside and says so; the
faces that read the sweep (``--json``, the Sweep screen's reader) show it; the queue does the same."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from tests.ui.fake_runs import TRIALS, fake_sweep
from tui_lab.cli import main
from tui_lab.core.sweeps import board
from tui_lab.core.sweeps.journal import TolerantJournalBackend, repair_journal


def torn_sweep(tmp_path: Path) -> tuple[Path, bytes]:
    """A finished fake sweep whose journal's last record (a study attribute) is cut in half;
    returns the folder and the journal's whole part."""
    sweep = fake_sweep(tmp_path)
    journal = sweep / "study.journal"
    whole = journal.read_bytes()
    storage = JournalStorage(JournalFileBackend(str(journal)))
    optuna.load_study(study_name="sweep-a", storage=storage).set_user_attr("note", "x" * 40)
    journal.write_bytes(journal.read_bytes()[: len(whole) + 50])  # the crash: half a record
    return sweep, whole


def glue(journal: Path) -> None:
    """What Optuna's own backend does next to a torn journal: its append joins the torn start (and
    from the next record on, Optuna's reader raises)."""
    backend = JournalFileBackend(str(journal))
    for key, value in (("after", 1), ("later", 2)):
        backend.append_logs([{"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {key: value}}])


def test_resume_sets_a_torn_tail_aside_says_so_and_finishes(tmp_path: Path, capsys) -> None:
    sweep, whole = torn_sweep(tmp_path)
    assert main(["sweep", "--resume", str(sweep), "--json"]) == 0
    captured = capsys.readouterr()
    notes = [ln for ln in captured.err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "torn record (50 bytes at offset" in notes[0] and "torn-" in notes[0]
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert len(summary["trials"]) == len(TRIALS) and summary["best"]["value"] == pytest.approx(0.88)
    assert (sweep / f"study.journal.torn-{len(whole)}").stat().st_size == 50
    assert not board.trial_rows(sweep)[0].error  # the journal reads whole again, through Optuna too
    optuna.load_study(
        study_name="sweep-a", storage=JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    )


def test_a_record_appended_after_the_tear_is_kept(tmp_path: Path, capsys) -> None:
    """A journal that a writer appended to after the tear (an older tui-lab's failed resume did):
    Optuna's reader raises JSONDecodeError on it; the sweep reads, resumes, and keeps that record."""
    sweep, _ = torn_sweep(tmp_path)
    journal = sweep / "study.journal"
    glue(journal)
    with pytest.raises(ValueError):  # Optuna alone: json.JSONDecodeError
        optuna.load_study(study_name="sweep-a", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert len(board.trial_rows(sweep)) == len(TRIALS)  # read past the tear, nothing repaired yet
    note = repair_journal(journal)
    assert "joined to a torn one on line(s)" in note
    study = optuna.load_study(study_name="sweep-a", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert (
        study.user_attrs["after"] == 1 and study.user_attrs["later"] == 2 and "note" not in study.user_attrs
    )
    assert repair_journal(journal) == ""


def test_the_sweep_screens_reader_shows_a_torn_sweep(tmp_path: Path) -> None:
    from tui_lab.ui.widgets.sweep_data import SweepReader

    sweep, _ = torn_sweep(tmp_path)
    glue(sweep / "study.journal")
    snap = SweepReader(sweep).read()
    assert not snap.error and len(snap.trials) == len(TRIALS) and snap.best().value == pytest.approx(0.88)


def test_a_live_reader_waits_for_a_line_to_end_and_follows_a_repair(tmp_path: Path) -> None:
    journal = tmp_path / "study.journal"
    logs = [{"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"i": i}} for i in range(3)]
    lines = [json.dumps(log).encode() + b"\n" for log in logs]
    journal.write_bytes(lines[0] + lines[1][:10])  # a writer mid-write
    backend = TolerantJournalBackend(journal)
    assert backend.read_logs(0) == logs[:1]
    journal.write_bytes(lines[0] + lines[1][:10] + lines[2])  # torn, then another record glued on
    assert backend.read_logs(1) == logs[2:]
    repair_journal(journal)  # the same logs in the same order: numbered alike after the rewrite
    journal.write_bytes(journal.read_bytes() + lines[1])
    assert backend.read_logs(2) == logs[1:2] and backend.read_logs(0) == [logs[0], logs[2], logs[1]]


def test_adding_to_a_queue_whose_journal_is_torn_sets_the_tear_aside(tmp_path: Path) -> None:
    from tests.conftest import make_rows, write_csv
    from tui_lab.core.config import LabConfig
    from tui_lab.core.sweeps import queue as runqueue

    write_csv(tmp_path / "train.csv", make_rows(20, 1))
    config = LabConfig()
    config.data.train, config.train.output_dir = str(tmp_path / "train.csv"), str(tmp_path / "runs")
    for name in ("a", "b"):
        config.train.run_name = name
        assert runqueue.add(config, start=False).repaired == ""
    journal = runqueue.queue_dir(tmp_path / "runs") / "study.journal"
    journal.write_bytes(journal.read_bytes() + b'{"op_code":4,"worker_id":"w","study_id":0,"')  # a crash
    config.train.run_name = "c"
    added = runqueue.add(config, start=False)
    assert "ends in a torn record (43 bytes" in added.repaired and "study.journal.torn-" in added.repaired
    rows = board.trial_rows(journal.parent)
    assert [r.run_dir.rsplit("/", 1)[-1] for r in rows] == ["a", "b", "c"] and added.waiting == 3
