"""The Sweep screen (F10), driven by the keyboard on a sweep folder made with Optuna directly
(tests/ui/fake_runs.py): no training, no sweep process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from tests.ui.conftest import settle, wait_for
from tests.ui.fake_runs import SPACE, TRIALS, fake_sweep
from tui_lab.core.config import LabConfig
from tui_lab.core.training import detached
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.sweep_form import spec_problem
from tui_lab.ui.widgets.sweep_screen import SweepScreen


@pytest.fixture
def config(tmp_path: Path) -> LabConfig:
    config = LabConfig()
    config.train.output_dir = str(tmp_path / "runs")
    return config


@pytest.mark.parametrize(
    ("path", "text", "problem"),
    [
        ("train.learning_rate", "1e-5..1e-3:log", None),
        ("train.batch_size", "16,32,64", None),
        ("train.warmup_ratio", "0..0.2", None),
        ("train.precision", "fp32,bf16", None),
        ("train.batch_size", "64..16", "the low end 64 is above the high end 16"),
        ("train.weight_decay", "0..0.1:log", "a log range needs a low end above 0"),
        ("train.warmup_ratio", "0..1.5", "1.5 must be at most 1.0"),
        ("train.batch_size", "0,16", "0 must be at least 1"),
        ("train.batch_size", "8.5..16", "must be a whole number"),
        ("train.precision", "fp32..bf16", "a choice is searched as a list a,b,c"),
        ("train.precision", "fp32,fp8", "fp8 must be one of auto, fp32, bf16, fp16"),
        ("train.learning_rate", "1e-3", None),  # one value: fixed for every trial
        ("train.weight_decay", "0.01", None),
        ("train.learning_rate", "1e-3,", "give a range lo..hi, a list a,b,c or one value"),
        ("train.batch_size", "0", "0 must be at least 1"),
        ("train.learning_rate", "1e-5..1e-3:ln", "unknown scale ':ln' (only ':log')"),
    ],
)
def test_a_search_spec_is_checked_against_the_settings_limits(path, text, problem) -> None:
    assert spec_problem(path, text) == problem


async def test_typing_ranges_marks_the_invalid_ones_beside_the_field(config) -> None:
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f10")
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        screen.query_one("#sw-train-learning_rate", Input).focus()
        await pilot.press(*"1e-5..1e-3:log", "shift+tab", *"64..16")  # batch size is above
        await pilot.pause()
        assert screen.plan.space == {"train.learning_rate": "1e-5..1e-3:log"}
        error = screen.query_one("#sw-train-batch_size-error", Static)
        assert error.display and "the low end 64 is above the high end 16" in str(error.render())
        assert screen.query_one("#sw-train-batch_size", Input).has_class("-invalid")
        assert not screen.query_one("#sw-train-learning_rate-error", Static).display
        await pilot.press("ctrl+t")  # refused while a field is invalid: nothing starts
        assert screen.started is None and app.train_worker is None
        await pilot.press(*["backspace"] * 6, *"16,32,64")
        await pilot.pause()
        assert not error.display and screen.plan.space["train.batch_size"] == "16,32,64"


async def test_one_value_fixes_a_setting_and_typed_values_stand_apart_from_placeholders(
    config, monkeypatch
) -> None:
    launched: list[list[str]] = []

    class Process:
        def poll(self) -> None:
            return None

    monkeypatch.setattr(
        detached, "spawn_detached", lambda command, log: launched.append(command) or Process()
    )
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f10")
        screen = app.screen
        decay = screen.query_one("#sw-train-weight_decay", Input)
        decay.focus()
        await pilot.press(*"0.01")
        await pilot.pause()
        assert not screen.query_one("#sw-train-weight_decay-error", Static).display
        assert screen.plan.space == {"train.weight_decay": "0.01"}
        await pilot.press("ctrl+t")  # a fixed value alone searches nothing: refused
        assert screen.started is None and not launched
        typed, empty = decay.rich_style, screen.query_one("#sw-train-learning_rate", Input)
        placeholder = empty.get_component_rich_style("input--placeholder")
        assert typed.bold and not typed.italic and placeholder.italic and not placeholder.bold
        empty.focus()
        await pilot.press(*"1e-4..1e-3:log", "ctrl+t")
        await pilot.pause()
    assert "train.weight_decay=0.01" in launched[0] and "train.learning_rate=1e-4..1e-3:log" in launched[0]


def test_one_value_is_a_choice_of_one_for_every_trial() -> None:
    from tui_lab.core.sweeps.space import space_from_specs

    (param,) = space_from_specs({"weight_decay": "0.01"}).params
    assert param.choices == (0.01,)


async def test_ctrl_t_starts_tui_lab_sweep_detached_with_the_lab_config(config, monkeypatch) -> None:
    launched: list[tuple[list[str], Path]] = []

    class Process:
        def poll(self) -> None:
            return None

    def spawn(command: list[str], log: Path) -> Process:
        launched.append((command, log))
        return Process()

    monkeypatch.setattr(detached, "spawn_detached", spawn)
    config.train.epochs = 3
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f10")
        screen = app.screen
        screen.query_one("#sw-trials", Input).focus()
        await pilot.press("backspace", "backspace", "8", "tab", "backspace", "2", "tab")
        await pilot.press("enter", "down", "enter")  # the pruner: median -> hyperband
        screen.query_one("#sw-train-learning_rate", Input).focus()
        await pilot.press(*"1e-5..1e-3:log", "shift+tab", *"16,32,64")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.train_worker is None  # ctrl+t started the sweep, not a training run
    assert len(launched) == 1
    command, log = launched[0]
    name = screen.started.sweep_dir.name
    assert name.startswith("sweep-")
    toml = Path(config.train.output_dir) / ".detached" / f"{name}.toml"
    assert command == [
        sys.executable, "-m", "tui_lab", "sweep", "--config", str(toml), "--study", name,
        "--trials", "8", "--parallel", "2", "--pruner", "hyperband",
        "--search", "train.learning_rate=1e-5..1e-3:log", "--search", "train.batch_size=16,32,64",
        "--output-dir", config.train.output_dir,
    ]  # fmt: skip
    assert log == toml.with_suffix(".log")
    saved = LabConfig.load(toml)
    assert saved.to_dict() == app.config.to_dict() and saved.train.epochs == 3  # the lab's config
    assert screen.plan.sweep_dir == str(Path(config.train.output_dir).resolve() / name)


async def test_the_leaderboard_fills_sorts_and_copies_the_best_params_into_the_form(config, tmp_path) -> None:
    sweep = fake_sweep(tmp_path / "runs")
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and len(app.screen.rows) == 5, 30)
        screen = app.screen
        table = screen.query_one("#sweep-table", DataTable)
        assert table.row_count == len(TRIALS)
        values = [t.value for t in screen.rows]
        assert values[:3] == [0.88, 0.83, 0.75] and values[3:] == [None, None]  # best first
        assert {t.number: t.state for t in screen.rows} == {
            0: "complete", 1: "complete", 2: "pruned", 3: "complete", 4: "failed"
        }  # fmt: skip
        assert table.get_row("1")[4:6] == [
            "0.0005",
            "32",
        ]  # params, a column each, after trial/value/state/time
        counts, best = str(screen.query_one("#sweep-status", Static).render()).splitlines()
        assert counts == "5/5 trials · 3 complete · 1 pruned · 1 failed"
        assert best == "best 0.8800 (trial 1) · learning rate 0.0005, batch size 32"  # its own line
        table.focus()
        await pilot.press("o")  # sort by trial number
        assert [t.number for t in screen.rows] == [0, 1, 2, 3, 4]
        screen.sort_by("param:train.learning_rate")
        assert [t.params["train.learning_rate"] for t in screen.rows] == sorted(t[0] for t in TRIALS)
        screen.sort_by("value")
        await pilot.press("home", "p")  # the best trial's params into the form
        assert app.config.train.learning_rate == 5e-4 and app.config.train.batch_size == 32
        form = app.screen_stack[0]
        assert form.query_one("#hp-train-learning_rate", Input).value == "0.0005"
        assert form.query_one("#hp-train-batch_size", Input).value == "32"


async def test_importance_bars_show_once_three_trials_are_complete(config, tmp_path) -> None:
    sweep = fake_sweep(tmp_path / "runs")
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.importances, 60)
        screen = app.screen
        assert set(screen.importances) == {"train.learning_rate", "train.batch_size"}
        assert sum(screen.importances.values()) == pytest.approx(1.0)
        drawn = str(screen.query_one("#sweep-importance", Static).render())
        assert "learning rate" in drawn and "batch size" in drawn and "█" in drawn
        assert screen.query_one("#sweep-curves").curves == 4  # a curve a trial with a run folder
        assert screen.query_one("#sweep-best").points == 3  # a point a complete trial


async def test_enter_opens_a_trials_run_in_the_training_pane(config, tmp_path) -> None:
    sweep = fake_sweep(tmp_path / "runs")
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and len(app.screen.rows) == 5, 30)
        app.screen.query_one("#sweep-table", DataTable).focus()
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SweepScreen), 10)
        assert app.viewing == str(sweep / "trial-001")
        await wait_for(pilot, lambda: app.history.status == "completed", 10)


def test_watch_on_a_sweep_folder_opens_the_lab_on_it(tmp_path, monkeypatch) -> None:
    from tui_lab.cli import main
    from tui_lab.ui import app as app_module

    base = LabConfig()
    base.train.epochs = 7
    sweep = fake_sweep(tmp_path / "runs", config=base)
    opened: dict = {}
    monkeypatch.setattr(app_module, "run_lab", lambda config, **kw: opened.update(config=config, **kw) or 0)
    assert main(["watch", str(sweep)]) == 0
    assert opened["watch"] == str(sweep)
    assert opened["config"].train.epochs == 7  # the sweep's base config is the form's
    assert opened["config"].train.output_dir == str(tmp_path / "runs")


async def test_the_app_watching_a_sweep_folder_shows_the_sweep_screen(config, tmp_path) -> None:
    sweep = fake_sweep(tmp_path / "runs")
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), 10)
        screen = app.screen
        assert screen.plan.sweep_dir == str(sweep.resolve())
        await wait_for(pilot, lambda: screen.snapshot is not None, 30)
        await pilot.pause()
        assert screen.plan.space == SPACE  # the form shows the sweep's own plan
        assert screen.query_one("#sw-train-learning_rate", Input).value == "1e-5..1e-3:log"
        assert screen.query_one("#sw-parallel", Input).value == "2"
        await pilot.press("f10")  # f10 closes it, the panes are back
        assert not isinstance(app.screen, SweepScreen)


async def test_a_sweep_process_that_exits_with_an_error_says_why(config, monkeypatch) -> None:
    class Exited:
        def poll(self) -> int:
            return 2

    def spawn(command: list[str], log: Path) -> Exited:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            "tui-lab: error: --search train.epochs=1..x: must be a whole number\n", encoding="utf-8"
        )
        return Exited()

    monkeypatch.setattr(detached, "spawn_detached", spawn)
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f10")
        screen = app.screen
        screen.query_one("#sw-train-epochs", Input).focus()
        await pilot.press(*"1..3", "ctrl+t")
        status = screen.query_one("#sweep-status", Static)
        await wait_for(pilot, lambda: "stopped" in str(status.render()), 10)
        assert "the sweep process stopped: tui-lab: error: --search train.epochs" in str(status.render())


def five_setting_sweep(output_dir: Path) -> Path:
    """A finished sweep over the default space of a preset (five settings, "epochs" among them)."""
    import json

    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from tui_lab.core.sweeps.space import PRESET_SPACE, space_from_specs

    sweep = output_dir / "sweep-five"
    sweep.mkdir(parents=True)
    spec = {"study": "five", "storage": "study.journal", "metric": "f1_macro", "direction": "maximize"}
    spec |= {"space": PRESET_SPACE, "trials": 3, "parallel": 1, "devices": ["cpu"], "pruner": "median"}
    (sweep / "sweep.json").write_text(json.dumps(spec), encoding="utf-8")
    storage = JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    study = optuna.create_study(
        study_name="five", storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(0)
    )
    space = space_from_specs(PRESET_SPACE)
    for number in range(3):
        trial = study.ask()
        space.suggest(trial)
        trial.set_user_attr("seconds", 61.0 + number)
        trial.set_user_attr("epochs", 2.0)
        study.tell(trial, 0.7 + number / 100)
    return sweep


async def test_the_leaderboard_shows_value_state_and_time_at_120_columns(config, tmp_path) -> None:
    """Trial, value, state and time come first, then the five settings searched; the epochs a trial
    ran are named apart from the searched "epochs" setting."""
    sweep = five_setting_sweep(tmp_path / "runs")
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and len(app.screen.rows) == 3, 30)
        await pilot.pause(0.3)  # drawn (the screen reads its sweep every second: no settle)
        table = app.screen.query_one("#sweep-table", DataTable)
        header, best = table.render_line(0).text, table.render_line(1).text  # as drawn, cut at the edge
        assert header.split()[:4] == ["trial", "value", "state", "time"], header
        assert best.split()[:4] == ["2", "0.7200", "complete", "63s"], best
        labels = [str(c.label) for c in table.columns.values()]
        assert labels.count("epochs") == 1 and labels[-1] == "epochs run"
