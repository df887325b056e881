"""Warm sweep workers (:mod:`tui_lab.core.sweeps.warm`): forked from a fork server that imported
the training code once, with a fall-back to fresh interpreters. A real sweep with forked workers
runs in ``test_sweep_run`` (the killed-worker test checks that its worker is a forked one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui_lab.core.sweeps import coordinator, study, warm


def test_the_server_imports_the_models_own_code(tmp_path: Path) -> None:
    assert warm.model_modules("tiny-bert") == ["transformers.models.bert.modeling_bert"]
    local = tmp_path / "llama"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert warm.model_modules(str(local)) == ["transformers.models.llama.modeling_llama"]
    (local / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    assert warm.model_modules(str(local)) == ["transformers.models.xlm_roberta.modeling_xlm_roberta"]
    # a hub id is not fetched to learn its architecture; the worker imports it itself
    assert warm.model_modules("Qwen/Qwen2.5-7B") == []
    (local / "config.json").write_text("{not json")
    assert warm.model_modules(str(local)) == []


def test_warm_workers_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(warm.ENV_SWITCH, raising=False)
    assert warm.wanted() == (sys.platform != "win32")
    monkeypatch.setenv(warm.ENV_SWITCH, "0")
    assert not warm.wanted()
    starter = warm.WarmStarter()
    starter.start_server("tiny-bert")  # asked for fresh interpreters: no server
    assert not starter.usable
    starter.close()


class _Exited:
    """A worker process that has exited with ``code``."""

    def __init__(self, code: int, pid: int = 4242) -> None:
        self.returncode, self.pid = code, pid

    def poll(self) -> int:
        return self.returncode


def test_a_forked_worker_that_finds_cuda_taken_restarts_as_a_fresh_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    starter = warm.WarmStarter()
    starter.usable = True  # as if its server were up
    forked = warm.WarmProcess.__new__(warm.WarmProcess)
    forked._process, forked.pid = type("P", (), {"exitcode": warm.EXIT_COLD})(), 4242
    slot = coordinator._Slot("cuda:0", 0, proc=forked)
    monkeypatch.setattr(study, "orphans", lambda *a, **k: pytest.fail("a cold restart retries nothing"))
    coordinator._reap(object(), [slot], coordinator.threading.Event(), True, starter)
    assert slot.proc is None and slot.deaths == 0 and not starter.usable
    started: list[list[str]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda cmd, **kw: started.append(cmd) or _Exited(0))
    monkeypatch.setattr(starter, "start", lambda *a: pytest.fail("the fork server is not used again"))
    coordinator._start_worker(tmp_path, slot, 0, starter)
    assert started and started[0][1:3] == ["-m", "tui_lab.core.sweeps.worker"]
    # the same exit code from a fresh interpreter is an ordinary death
    slot.proc = _Exited(warm.EXIT_COLD)
    monkeypatch.setattr(study, "orphans", lambda *a, **k: [])
    coordinator._reap(object(), [slot], coordinator.threading.Event(), True, starter)
    assert slot.deaths == 1


def test_a_forked_worker_runs_the_worker_and_its_exit_code_comes_back(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    starter = warm.WarmStarter()
    starter.start_server("tiny-bert")
    assert starter.usable
    try:
        process = starter.start(["--sweep-dir", str(tmp_path / "none"), "--on", "cpu"], 1)
        assert process.wait(timeout=120) == 2  # the worker's own one-line error, exit 2
        assert process.poll() == 2 and process.returncode == 2
    finally:
        starter.close()
    out, err = capfd.readouterr()
    assert "error: sweep worker:" in err and "is not a sweep folder" in err
    assert "error" not in out  # a worker never writes on the sweep's stdout (its --json summary)
