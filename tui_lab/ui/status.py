"""How a run's status looks, in the Training pane and the Runs screen alike."""

from __future__ import annotations

from rich.text import Text

from tui_lab.core.training.events import RunStatus

STATUS_STYLE: dict[str, str] = {  # RunStatus -> rich style (a RunStatus is a str)
    RunStatus.EMPTY: "dim",
    RunStatus.IDLE: "dim",
    RunStatus.STARTING: "yellow",
    RunStatus.RUNNING: "bold yellow",
    RunStatus.PAUSED: "bold cyan",
    RunStatus.COMPLETED: "bold green",
    RunStatus.EARLY_STOPPED: "bold green",
    RunStatus.STOPPED: "bold magenta",
    RunStatus.PRUNED: "magenta",
    RunStatus.FAILED: "bold red",
    RunStatus.INTERRUPTED: "red",
}


def status_label(status: str) -> str:
    """``early_stopped`` -> ``early stopped``."""
    return str(status).replace("_", " ")


def status_cell(status: str, prefix: str = "") -> Text:
    """The status as styled text (``prefix`` goes before the label, in the same style)."""
    return Text(f"{prefix}{status_label(status)}", STATUS_STYLE.get(status, ""))
