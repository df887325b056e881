"""Runs that outlive the lab: a headless ``tui-lab train`` (or sweep) in its own process session.

The lab writes the config to a file, starts ``python -m tui_lab train --config ...`` with
``start_new_session=True`` (so closing the terminal or quitting the lab does not end it), sends
its output to a log file, and then watches the run folder like any other run. Stopping it is a
STOP file in the run folder, which the trainer polls every step.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tui_lab.core.config import LabConfig
from tui_lab.core.training.runs import create_run_dir, default_run_name

DETACHED_DIR = ".detached"


@dataclass
class Detached:
    """A started detached run."""

    run_dir: Path
    log: Path
    process: subprocess.Popen

    def failed_early(self) -> str | None:
        """The end of the log if the process exited with an error (before or during the run)."""
        code = self.process.poll()
        if code in (None, 0, 130):
            return None
        lines = [
            ln for ln in self.log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
        ]
        return lines[-1] if lines else f"the detached run exited with code {code}"


def start_detached(config: LabConfig) -> Detached:
    """Start a detached run of ``config``; its run folder exists when this returns.

    Raises:
        ConfigError: a bad run name or a run folder that already exists.
    """
    config = config.copy()
    config.train.run_name = config.train.run_name or default_run_name(config.model.name)
    run_dir = create_run_dir(config.train.output_dir, config.train.run_name)  # empty until it starts
    side = run_dir.parent / DETACHED_DIR
    side.mkdir(exist_ok=True)
    config_path = config.save(side / f"{run_dir.name}.toml")
    log = side / f"{run_dir.name}.log"
    process = spawn_detached([sys.executable, "-m", "tui_lab", "train", "--config", str(config_path)], log)
    return Detached(run_dir, log, process)


def spawn_detached(command: list[str], log: Path) -> subprocess.Popen:
    """Start ``command`` in a process session of its own (quitting the lab or closing the
    terminal does not end it), its output going to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
