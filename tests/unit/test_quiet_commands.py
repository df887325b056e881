"""Every subcommand, run as a user runs it (``python -m tui_lab ...`` in a subprocess), says on
stderr only tui-lab's own lines: no library progress bars, no warnings, no tracebacks.

One tiny run is trained by ``train`` itself (4 steps), then the other commands run side by side
on it; ``serve`` is started, asked for /health and one prediction, and stopped with SIGTERM.
``watch`` opens the lab on a terminal and is left to the lab's own tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.cli.commands import COMMANDS

pytestmark = pytest.mark.slow

# what a library prints on its own: progress bars, warnings, tracebacks
NOISE = re.compile(
    r"Loading weights|%\||it/s\]|s/it\]|Warning|warnings\.warn|Traceback|^\s*File \"|site-packages"
)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
CHECKED = [
    "train",
    "pretrain",
    "distill",
    "sweep",
    "queue",
    "eval",
    "predict",
    "explain",
    "analyze",
    "export",
    "serve",
    "runs",
    "env",
    "suggest",
    "plan",
    "corrections",
]


def tui_lab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_lab", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def serve(run_dir: str, cwd: Path) -> subprocess.CompletedProcess:
    """Start ``serve``, wait for /health, label one text, stop it with SIGTERM."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "tui_lab", "serve", run_dir, "--port", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=ENV)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        if proc.poll() is None:
            answer = httpx.post(f"{url}/predict", json={"inputs": "the film was great"}, timeout=30)
            assert answer.status_code == 200, answer.text
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """What each command printed: one run trained by ``train``, the rest side by side on it."""
    root = tmp_path_factory.mktemp("quiet")
    write_csv(root / "data" / "train.csv", make_rows(120, 1))
    write_csv(root / "data" / "dev.csv", make_rows(40, 2))
    write_csv(root / "data" / "test.csv", make_rows(40, 3))
    (root / "texts.txt").write_text("\n".join(t for t, _ in make_rows(60, 4)) + "\n", encoding="utf-8")
    tiny = ["--max-steps", "4", "--max-length", "32", "--batch-size", "16", "--set", "model.vocab_size=300"]
    first = {  # what needs no trained run starts beside train
        "train": ["train", "--train", "data", "--output-dir", "runs", "--run-name", "r", *tiny, "--no-baseline", "--json"],
        "pretrain": ["pretrain", "--train", "texts.txt", "--output-dir", "pretrained", "--run-name", "p", *tiny],
        "env": ["env"],
        "plan": ["plan", "--model", "small-bert", "--peft", "lora"],
        "corrections": ["corrections", "list", "--data", "data/train.csv", "--json"],  # read only: train reads the same file
        "sweep": ["sweep", "--train", "data", "--output-dir", "sweeps", "--trials", "2", *tiny, "--no-baseline",
                  "--search", "learning_rate=1e-4..1e-2:log", "--devices", "cpu", "--json"],
        "queue": ["queue", "--train", "data", "--output-dir", "queued", "--run-name", "q", *tiny, "--no-baseline"],
    }  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = {name: pool.submit(tui_lab, *args, cwd=root) for name, args in first.items()}
        train = jobs["train"].result()
        assert train.returncode == 0, train.stderr
        run = json.loads(train.stdout.strip().splitlines()[-1])["run_dir"]
        then = {
            "eval": ["eval", run, "--data", "data/test.csv"],
            "predict": ["predict", run, "the film was great", "the pizza was awful"],
            "explain": ["explain", run, "the film was great", "--explain-steps", "8"],
            "analyze": ["analyze", run, "--calibrate"],
            "export": ["export", run, "--rounds", "1"],
            "runs": ["runs", "--output-dir", "runs"],
            "suggest": ["suggest", run, "--pool", "texts.txt", "--top", "5"],
            "distill": ["distill", "--teacher", run, "--train", "data", "--output-dir", "runs", "--run-name", "d",
                        *tiny, "--no-baseline", "--json"],
        }  # fmt: skip
        jobs |= {name: pool.submit(tui_lab, *args, cwd=root) for name, args in then.items()}
        jobs["serve"] = pool.submit(serve, run, root)
        return {name: job.result() for name, job in jobs.items()}


def test_every_subcommand_but_watch_is_checked() -> None:
    assert sorted(CHECKED) == sorted(c.NAME for c in COMMANDS if c.NAME != "watch")


@pytest.mark.parametrize("command", CHECKED)
def test_stderr_holds_only_tui_labs_own_lines(transcripts, command: str) -> None:
    result = transcripts[command]
    assert result.returncode == 0, result.stderr
    noise = [line for line in result.stderr.splitlines() if NOISE.search(line)]
    assert noise == [], result.stderr
    assert "\r" not in result.stderr  # no bar redrawn in place: a log or a pipe gets whole lines
