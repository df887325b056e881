"""Screenshots of the lab for the README: idle, training mid-run, the console after predictions,
a sentence explained word by word (ctrl+e), the Analysis screen (F9) on the finished run with
the examples of one confusion cell, and the Export screen (F8) after exporting that run; the
Sweep screen (F10) on a sweep folder (``--sweep``: a given one, else one made with Optuna directly).

Drives the real app (Textual's Pilot, 120x40) on the sample data with a real training run, saves
SVGs, and converts them to PNG with ``rsvg-convert`` (Debian: librsvg2-bin) when it is installed.
Textual's SVG sets each run of text at its first cell and counts on ``textLength`` to keep it on the
grid; rsvg-convert ignores ``textLength`` and drops a leading no-break space, so its PNG drew a
span that starts with padding one cell left of a styled cell beside it (a leaderboard's coloured
state column looked shifted) and braille chart lines past their frame. The PNG is therefore made
from a copy of the SVG with every character at its own cell (:func:`on_the_grid`).

    python screenshots/make_screenshots.py
    python screenshots/make_screenshots.py --explain-only RUN_DIR   # lab-explain only, on a trained run
    python screenshots/make_screenshots.py --sweep [SWEEP_DIR]      # sweep only
    python screenshots/make_screenshots.py --png-only               # the PNGs again from the SVGs
    python screenshots/make_screenshots.py --label RUN_DIR POOL     # lab-label: the Label screen (F11)
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tui_lab.core.config import LabConfig  # noqa: E402
from tui_lab.ui.app import LabApp  # noqa: E402

SENTENCES = [
    "The staff were lovely and the room was spotless.",
    "It looked great in the photos, but the battery died after a day.",
    "Not bad at all: the pasta was fresh and the service quick.",
    "I wanted to like this film, but the plot made no sense.",
]

EXPLAINED = "The staff were lovely, but the room was noisy and the breakfast bland."


async def explain(app: LabApp, pilot, save) -> None:
    """Explain one sentence in the console (ctrl+e) and shoot it."""
    await pilot.press("f5", *EXPLAINED, "ctrl+e")
    await app.workers.wait_for_complete()
    await pilot.pause(0.5)
    save("lab-explain")


def saver(app: LabApp, shots: list[Path]):
    """A function that saves the app's screen as screenshots/<name>.svg."""

    def save(name: str) -> None:
        path = HERE / f"{name}.svg"
        app.save_screenshot(path.name, path=str(HERE))
        shots.append(path)

    return save


async def shoot_explain(run_dir: str, size: tuple[int, int] = (120, 40)) -> list[Path]:
    """Only the explanation shot, on a run that is already trained."""
    app = LabApp(LabConfig(), model_dir=run_dir)
    shots: list[Path] = []
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await explain(app, pilot, saver(app, shots))
    return shots


async def shoot(size: tuple[int, int] = (120, 40)) -> list[Path]:
    config = LabConfig()
    config.train.output_dir = tempfile.mkdtemp(prefix="tui-lab-shots-")
    app = LabApp(config)
    shots: list[Path] = []
    save = saver(app, shots)
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        save("lab-idle")
        await pilot.press("ctrl+t")
        while len(app.history.evaluated_at_steps) < 2:
            await pilot.pause(0.1)
        await pilot.pause(1.0)
        save("lab-training")
        while app.training:
            await pilot.pause(0.2)
        await pilot.press("f5")
        for sentence in SENTENCES:
            await pilot.press(*sentence)
            await pilot.press("enter")
            await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        save("lab-console")
        await explain(app, pilot, save)
        await shoot_analysis(app, pilot, save)
        await shoot_export(app, pilot, save)
    shutil.rmtree(config.train.output_dir, ignore_errors=True)
    return shots


async def shoot_analysis(app: LabApp, pilot, save) -> None:
    """F9 on the run just trained; then Enter on the fullest mistake cell."""
    from tui_lab.ui.widgets.analysis_screen import AnalysisScreen

    await pilot.press("f9")
    while not (isinstance(app.screen, AnalysisScreen) and app.screen.analysis and not app.screen.busy):
        await pilot.pause(0.2)
    await pilot.pause(0.5)
    save("lab-analysis")
    counts = app.screen.analysis.report.counts
    i, j = max(
        ((i, j) for i, r in enumerate(counts) for j in range(len(r)) if i != j),
        key=lambda c: counts[c[0]][c[1]],
    )
    await pilot.press(*(["down"] * i + ["right"] * j), "enter")
    await pilot.pause(0.5)
    save("lab-analysis-examples")


async def shoot_export(app: LabApp, pilot, save) -> None:
    """Back to the lab, F8, export the run just trained (e) and shoot its trade-off."""
    from tui_lab.ui.widgets.export_screen import ExportScreen

    await pilot.press("escape", "escape")  # the examples, then the Analysis screen
    await pilot.press("f8")
    while not isinstance(app.screen, ExportScreen):
        await pilot.pause(0.2)
    await pilot.press("e")
    while app.screen.exporting or not app.screen.query_one("#export-table").row_count:
        await pilot.pause(0.5)
    await pilot.pause(0.5)
    save("lab-export")


async def shoot_sweep(sweep_dir: str | None, size: tuple[int, int] = (120, 40)) -> list[Path]:
    """The Sweep screen on a sweep folder, once its importance bars are drawn."""
    from tui_lab.ui.widgets.sweep_screen import SweepScreen

    if not sweep_dir:  # no sweep given: trials over the default space told to an Optuna study
        sweep_dir = str(default_space_sweep(Path(tempfile.mkdtemp(prefix="tui-lab-shots-"))))
    app = LabApp(LabConfig(), watch=sweep_dir, warm_imports=False)
    shots: list[Path] = []
    async with app.run_test(size=size) as pilot:
        while not (isinstance(app.screen, SweepScreen) and app.screen.importances):
            await pilot.pause(0.2)
        await pilot.pause(0.5)
        saver(app, shots)("sweep")
    return shots


def default_space_sweep(output_dir: Path, trials: int = 6) -> Path:
    """A sweep folder over a preset's default space (five settings, "epochs" one of them) as
    ``tui-lab sweep`` writes it, its trials told to an Optuna study, each with a tiny run folder
    (its dev curve made up: better with a higher learning rate, pruned when it starts low)."""
    import json

    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from tests.ui.fake_runs import fake_run
    from tui_lab.core.sweeps.space import PRESET_SPACE, space_from_specs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = output_dir / "sweep-20261207-0930"
    sweep.mkdir(parents=True)
    spec = {"study": sweep.name, "storage": "study.journal", "metric": "f1_macro", "direction": "maximize"}
    spec |= {"space": PRESET_SPACE, "trials": trials, "parallel": 2, "devices": ["cpu"], "pruner": "median"}
    (sweep / "sweep.json").write_text(json.dumps(spec), encoding="utf-8")
    storage = JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    sampler = optuna.samplers.RandomSampler(seed=3)
    study = optuna.create_study(study_name=sweep.name, storage=storage, direction="maximize", sampler=sampler)
    space = space_from_specs(PRESET_SPACE)
    for number in range(trials):
        trial = study.ask()
        params = space.suggest(trial)
        top = 0.70 + 0.06 * (params["train.learning_rate"] / 3e-3) ** 0.3 - params["model.hidden_dropout"] / 4
        pruned = number in (2, 4)
        epochs = 2 if pruned else params["train.epochs"]
        dev = [round(top - 0.15 / (e + 1), 4) for e in range(epochs)]
        config = LabConfig()
        for path, value in params.items():
            config.set(path, value)
        fake_run(sweep / f"trial-{number:03d}", config, dev, "pruned" if pruned else "completed")
        trial.set_user_attr("run_dir", f"trial-{number:03d}")
        trial.set_user_attr("seconds", 9.0 * epochs + number)
        trial.set_user_attr("epochs", epochs)
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, max(dev))
    return sweep


TEXT = re.compile(
    r'<text class="(?P<cls>[^"]*)" x="(?P<x>[\d.]+)" y="(?P<y>[\d.]+)" textLength="(?P<length>[\d.]+)"'
    r"(?P<rest>[^>]*)>(?P<body>[^<]*)</text>"
)


async def shoot_label(run_dir: str, pool: str, size: tuple[int, int] = (120, 40)) -> list[Path]:
    """The Label screen (F11) on a trained run and a pool, two rows decided (a label, a skip);
    the decisions go to a corrections file in a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="tui-lab-label-"))
    shutil.copy(HERE.parent / "tui_lab" / "sample_data" / "sentiment" / "train.csv", folder / "train.csv")
    config = LabConfig()
    config.data.train, config.data.pool = str(folder / "train.csv"), pool
    config.train.output_dir = str(Path(run_dir).parent)
    app = LabApp(config, model_dir=run_dir)
    shots: list[Path] = []
    async with app.run_test(size=size) as pilot:
        await pilot.press("f11")
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        await pilot.press("1", "s")
        await pilot.pause(0.5)
        saver(app, shots)("lab-label")
    return shots


def on_the_grid(svg: str) -> str:
    """The SVG with each run of text split into one ``<text>`` a character, each at its own cell
    (spaces, which draw nothing, left out): any renderer then draws it on the terminal's grid."""
    from rich.cells import cell_len

    def split(m: re.Match[str]) -> str:
        chars = html.unescape(m["body"])
        cell = float(m["length"]) / max(1, cell_len(chars))
        x, out = float(m["x"]), []
        for ch in chars:
            if not ch.isspace():
                out.append(
                    f'<text class="{m["cls"]}" x="{x:.1f}" y="{m["y"]}"{m["rest"]}>{html.escape(ch)}</text>'
                )
            x += cell * cell_len(ch)
        return "".join(out)

    return TEXT.sub(split, svg)


def to_png(svg: Path) -> Path | None:
    """``svg`` as a PNG beside it (through :func:`on_the_grid` and rsvg-convert), if it is installed."""
    if not shutil.which("rsvg-convert"):
        return None
    png = svg.with_suffix(".png")
    grid = on_the_grid(svg.read_text(encoding="utf-8")).encode()
    subprocess.run(["rsvg-convert", "-o", str(png)], input=grid, check=True)  # the SVG on stdin
    return png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--explain-only", metavar="RUN_DIR", help="only lab-explain, on this run")
    parser.add_argument("--sweep", nargs="?", const="", metavar="SWEEP_DIR", help="only the Sweep screen")
    parser.add_argument("--png-only", action="store_true", help="only convert the SVGs here to PNG again")
    parser.add_argument("--label", nargs=2, metavar=("RUN_DIR", "POOL"), help="only the Label screen")
    args = parser.parse_args()
    if args.label:
        svgs = asyncio.run(shoot_label(*args.label))
    elif args.png_only:
        svgs = sorted(HERE.glob("*.svg"))
    elif args.sweep is not None:
        svgs = asyncio.run(shoot_sweep(args.sweep))
    else:
        svgs = asyncio.run(shoot_explain(args.explain_only) if args.explain_only else shoot())
    for svg in svgs:
        to_png(svg)
        print(svg.relative_to(HERE.parent))


if __name__ == "__main__":
    main()
