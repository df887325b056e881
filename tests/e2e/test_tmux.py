"""The real `tui-lab` in a real terminal (tmux): train with ctrl+t, then ask the console."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    """A detached tmux session running one command."""

    def __init__(self, command: str, cwd: Path, width: int = 120, height: int = 40) -> None:
        self.name = f"tui-lab-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(width),
                "-y",
                str(height),
                "-c",
                str(cwd),
                command,
            ],
            check=True,
        )

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def cursor_line(self) -> str:
        """The screen line the terminal cursor is on (Textual puts it in the focused input)."""
        out = subprocess.run(
            ["tmux", "display-message", "-p", "-t", self.name, "#{cursor_y}"], capture_output=True, text=True
        )
        lines = self.screen().splitlines()
        row = int(out.stdout.strip() or -1)
        return lines[row] if 0 <= row < len(lines) else ""

    def wait_for_cursor_on(self, needle: str, timeout: float) -> None:
        """Wait until the cursor sits on a line holding ``needle`` (that input has the focus)."""
        deadline = time.monotonic() + timeout
        while needle not in self.cursor_line():
            if time.monotonic() > deadline:
                raise AssertionError(f"the cursor never reached {needle!r}; it is on:\n{self.cursor_line()}")
            time.sleep(0.2)

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run(
            ["tmux", "send-keys", "-t", self.name, *(["-l"] if literal else []), *keys], check=True
        )

    def wait_for(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if needle in screen:
                return screen
            time.sleep(0.5)
        raise AssertionError(f"{needle!r} never appeared; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_train_then_predict_in_a_real_terminal(tmp_path: Path) -> None:
    # COLUMNS/LINES inherited from pytest would override the real terminal size
    lab = Tmux(f"unset COLUMNS LINES; {shlex.quote(sys.executable)} -m tui_lab; sleep 30", cwd=tmp_path)
    try:
        lab.wait_for("Hyperparameters", timeout=60)
        lab.wait_for("50.0%", timeout=120)  # the sample data's label balance: the dataset pane is loaded
        lab.keys("C-t")
        lab.wait_for("● completed", timeout=600)
        assert list((tmp_path / "runs").glob("*/best/model.safetensors"))
        lab.keys("F5")
        lab.wait_for_cursor_on("type a sentence", timeout=30)  # the console's input has the focus
        lab.keys("The room was spotless and the staff were wonderful.", literal=True)
        lab.keys("Enter")
        screen = lab.wait_for("› The room was spotless", timeout=120)
        line = next(row for row in screen.splitlines() if "› The room was spotless" in row)
        assert "positive" in line
    finally:
        lab.close()
