"""The core imports no UI library, and the CLI's help imports no torch (checked in subprocesses)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

UI_MODULES = ("textual", "rich", "plotext", "textual_plotext", "tui_lab.ui")
HEAVY = ("torch", "transformers", "datasets", "sklearn")


def _core_modules() -> list[str]:
    """Every module of tui_lab.core, found by walking the package (none listed by hand)."""
    import tui_lab.core

    return [m.name for m in pkgutil.walk_packages(tui_lab.core.__path__, "tui_lab.core.")]


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


PRELOAD = "tui_lab.core.sweeps.preload"  # importing it imports every heavy library: see below


def test_core_imports_no_ui_module() -> None:
    modules = [m for m in _core_modules() if m != PRELOAD]
    assert {"tui_lab.core.config", "tui_lab.core.training.loop", "tui_lab.core.hub"} <= set(modules)
    imports = "\n".join(f"import {m}" for m in modules)
    # also run a function that pulls in torch/transformers lazily
    loaded = _loaded_after(
        imports
        + "\nfrom tui_lab.core.models.presets import train_wordpiece\ntrain_wordpiece(['a b c'], 50)"
        + "\nfrom tui_lab.core.training.envinfo import gather\ngather()"
    )
    bad = sorted(m for m in loaded if m.split(".")[0] in UI_MODULES or m.startswith("tui_lab.ui"))
    assert bad == []
    assert "transformers" in loaded  # the lazy path really ran


def test_the_sweep_fork_servers_preload_imports_no_face() -> None:
    # the one module whose import is the heavy imports (the sweep's fork server imports it before
    # forking workers); scikit-learn's linear models import rich.progress for their own progress
    # callbacks, so rich may come with it; nothing of the lab's face may
    loaded = _loaded_after(f"import {PRELOAD}")
    bad = sorted(m for m in loaded if m.split(".")[0] in UI_MODULES and m.split(".")[0] != "rich")
    assert bad == [] and not any(m.startswith("tui_lab.ui") for m in loaded)
    assert {"torch", "transformers", "optuna", "tui_lab.core.training.loop"} <= loaded


def test_cli_help_does_not_import_torch() -> None:
    # torch alone takes ~1.5 s to import; --help must not pay for it
    loaded = _loaded_after("import tui_lab.cli\ntui_lab.cli.build_parser().format_help()")
    assert not {m.split(".")[0] for m in loaded} & {*HEAVY, *UI_MODULES}
    for args in (["--help"], ["train", "--help"]):
        out = subprocess.run(
            [sys.executable, "-m", "tui_lab", *args], capture_output=True, text=True, check=True
        )
        assert "usage: tui-lab" in out.stdout
    help_run = "import sys, tui_lab.cli\ntry:\n    tui_lab.cli.main(['--help'])\nexcept SystemExit:\n    pass"
    loaded = _loaded_after(help_run)
    assert not {m.split(".")[0] for m in loaded} & {*HEAVY, *UI_MODULES}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_tui_lab_has_no_import_cycle_function_level_imports_included() -> None:
    import grimp  # import-linter's graph builder: every import statement, in functions too

    graph = grimp.build_graph("tui_lab")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert "tui_lab.core.tasks.base" in edges["tui_lab.core.tasks.classify"]  # the graph is real
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
