"""Does the lab starve the training thread? The same run headless and inside the lab, side by side.

Runs ``tui-lab train`` (headless) and the lab in a real terminal (tmux: the lab draws its charts
while it trains, as a user would see it) on the same config, alternating, and compares the
training samples/s each run reports in its ``report.json``. Target: lab >= 0.9x headless.

    python benchmarks/lab_vs_headless.py [--repeat 3] [--epochs 5] [--train sample_data/sentiment]
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui_lab.core.config import LabConfig  # noqa: E402


def headless(config: Path, out: Path, name: str) -> float:
    """One ``tui-lab train --config`` run; its train samples/s."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_lab",
            "train",
            "--config",
            str(config),
            "--output-dir",
            str(out),
            "--run-name",
            name,
            "--json",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return json.loads((out / name / "report.json").read_text())["train_samples_per_second"]


def in_lab(config: Path, out: Path, timeout: float = 900) -> float:
    """One run started with ctrl+t in the lab inside tmux (120x40); its train samples/s."""
    session = f"tui-lab-bench-{uuid.uuid4().hex[:6]}"
    command = (
        f"unset COLUMNS LINES; {shlex.quote(sys.executable)} -m tui_lab --config {shlex.quote(str(config))}"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-c", str(ROOT), command],
        check=True,
    )
    try:
        _wait(lambda: "%" in _screen(session) and "Hyperparameters" in _screen(session), 120)
        time.sleep(3)  # let the dataset pane finish its analysis, as a user would
        before = set(out.glob("*/report.json"))
        subprocess.run(["tmux", "send-keys", "-t", session, "C-t"], check=True)
        _wait(lambda: set(out.glob("*/report.json")) - before, timeout)
        report = (set(out.glob("*/report.json")) - before).pop()
        return json.loads(report.read_text())["train_samples_per_second"]
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
    ).stdout


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the lab did not get there in time")
        time.sleep(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default="sample_data/sentiment")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed to run the lab in a real terminal")
    work = Path(tempfile.mkdtemp(prefix="tui-lab-bench-"))
    cfg = LabConfig()
    cfg.data.train = str((ROOT / args.train).resolve()) if (ROOT / args.train).exists() else args.train
    cfg.train.epochs = args.epochs
    cfg.train.output_dir = str(work / "lab-runs")
    config = cfg.save(work / "bench.toml")
    rows: dict[str, list[float]] = {"headless": [], "lab": []}
    for i in range(args.repeat):  # alternate, so drift in machine load hits both alike
        rows["headless"].append(headless(config, work / "headless-runs", f"h{i}"))
        rows["lab"].append(in_lab(config, work / "lab-runs"))
        print(
            f"round {i + 1}: headless {rows['headless'][-1]:,.0f}  lab {rows['lab'][-1]:,.0f} samples/s",
            flush=True,
        )
    h, lab = statistics.median(rows["headless"]), statistics.median(rows["lab"])
    print(f"\n| run | train samples/s (median of {args.repeat}) | ratio |")
    print("|---|---:|---:|")
    print(f"| headless `tui-lab train` | {h:,.0f} | 1.00 |")
    print(f"| lab (tmux 120x40, charts live) | {lab:,.0f} | {lab / h:.2f} |")
    print(f"\nlab / headless = {lab / h:.2f}  (target >= 0.90)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
