"""How long until the lab's first frame? Starts ``tui-lab`` in tmux (120x40) and polls the screen.

    python benchmarks/first_frame.py [--repeat 5]

Target: under 1 second on a 2-core machine (torch is imported in the background, after the first
frame). Also times ``tui-lab --help``, which must not import torch at all.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid


def first_frame(timeout: float = 30.0) -> float:
    """Seconds from starting the lab to a screen that shows its panes."""
    session = f"tui-lab-ff-{uuid.uuid4().hex[:6]}"
    command = f"unset COLUMNS LINES; {shlex.quote(sys.executable)} -m tui_lab; sleep 5"
    start = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True)
    try:
        while time.perf_counter() - start < timeout:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            )
            if "Hyperparameters" in screen.stdout:
                return time.perf_counter() - start
            time.sleep(0.01)
        raise TimeoutError("no frame")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def help_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui_lab", "--help"], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed")
    frames = [first_frame() for _ in range(args.repeat)]
    helps = [help_seconds() for _ in range(args.repeat)]
    print(
        f"first frame of the lab: median {statistics.median(frames):.2f} s (max {max(frames):.2f} s, "
        f"{args.repeat} runs; target < 1 s)"
    )
    print(f"tui-lab --help:         median {statistics.median(helps):.2f} s")


if __name__ == "__main__":
    main()
