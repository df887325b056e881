"""The core imports no UI library, and the CLI's help imports no torch (checked in subprocesses)."""

from __future__ import annotations

import subprocess
import sys

UI_MODULES = ("textual", "rich", "plotext", "textual_plotext", "tui_lab.ui")
CORE = [
    "config",
    "data",
    "modeling",
    "train",
    "events",
    "metrics",
    "checkpoint",
    "runs",
    "predict",
    "device",
    "baseline",
    "distributed",
    "evaluate",
    "envinfo",
]


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_core_imports_no_ui_module() -> None:
    imports = "\n".join(f"import tui_lab.core.{m}" for m in CORE)
    # also run a function that pulls in torch/transformers lazily
    loaded = _loaded_after(
        imports
        + "\nfrom tui_lab.core.modeling import train_wordpiece\ntrain_wordpiece(['a b c'], 50)"
        + "\nfrom tui_lab.core.envinfo import gather\ngather()"
    )
    bad = sorted(m for m in loaded if m.split(".")[0] in UI_MODULES or m.startswith("tui_lab.ui"))
    assert bad == []
    assert "transformers" in loaded  # the lazy path really ran


def test_cli_help_does_not_import_torch() -> None:
    # torch alone takes ~1.5 s to import; --help must not pay for it
    loaded = _loaded_after("import tui_lab.cli\ntui_lab.cli.build_parser().format_help()")
    assert "torch" not in loaded and "transformers" not in loaded and "textual" not in loaded
    for args in (["--help"], ["train", "--help"]):
        out = subprocess.run(
            [sys.executable, "-m", "tui_lab", *args], capture_output=True, text=True, check=True
        )
        assert "usage: tui-lab" in out.stdout
