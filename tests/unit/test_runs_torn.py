"""A run's ``events.jsonl`` cut short mid-line (a crash, a full disk): every face that reads the run
shows what was read and says, in one line, what was not (ARCHITECTURE.md rule 18); the live follower
of a run still being written waits for an unfinished last line instead."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ui.fake_runs import fake_run
from tui_lab.cli import main
from tui_lab.core.config import LabConfig
from tui_lab.core.training.events import EventFollower, RunFinished, read_events_checked
from tui_lab.core.training.runs import run_info


def test_a_torn_event_log_is_read_whole_and_reported(tmp_path: Path, capsys) -> None:
    run = fake_run(tmp_path / "runs" / "a", LabConfig(), [0.6, 0.8], status="completed")
    log = run / "events.jsonl"
    whole = log.read_bytes()
    log.write_bytes(whole + b'{"event": "step", "step": 9, "lo')  # a crash mid-write, after the finish
    events, damage = read_events_checked(log)
    assert isinstance(events[-1], RunFinished) and f"offset {len(whole)}" in damage
    info = run_info(run)
    assert info.status == "completed" and info.best["f1_macro"] == 0.8 and "torn record" in info.damage
    assert main(["runs", "--output-dir", str(tmp_path / "runs")]) == 0
    out, err = capsys.readouterr()
    assert "completed" in out and len(err.splitlines()) == 1 and err.startswith("note: ") and "(run a)" in err
    assert main(["runs", "--output-dir", str(tmp_path / "runs"), "--json"]) == 0
    assert "torn record" in json.loads(capsys.readouterr().out)[0]["damage"]


def test_a_whole_log_says_nothing_and_the_follower_waits_for_a_line_to_end(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "a", LabConfig(), [0.7])
    log = run / "events.jsonl"
    assert read_events_checked(log)[1] == "" and run_info(run).damage == ""
    whole = log.read_bytes()
    end = json.dumps({"event": "run_failed", "message": "x", "error_type": "E"}).encode()
    log.write_bytes(whole + end[:10])
    follower = EventFollower(log)
    assert len(follower.poll()) == len(read_events_checked(log)[0])  # the partial line is not an event
    log.write_bytes(whole + end + b"\n")
    assert [type(e).__name__ for e in follower.poll()] == ["RunFailed"]
