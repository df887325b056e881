"""``tui-lab sweep`` inputs: the search space read and checked against the settings' declarations,
and every bad input refused with exit 2, one ``error:`` line and nothing written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.cli import main
from tui_lab.core.errors import ConfigError
from tui_lab.core.sweeps.space import default_space, parse_search_args, read_space_file, space_from_specs


class _Trial:
    """The part of an Optuna trial a space calls: records what was asked."""

    def __init__(self) -> None:
        self.asked: dict[str, tuple] = {}

    def suggest_float(self, name, low, high, log=False):
        self.asked[name] = ("float", low, high, log)
        return low

    def suggest_int(self, name, low, high, log=False):
        self.asked[name] = ("int", low, high, log)
        return low

    def suggest_categorical(self, name, choices):
        self.asked[name] = ("cat", tuple(choices))
        return choices[0]


def test_specs_become_distributions_of_the_settings_type() -> None:
    specs = parse_search_args(
        ["learning_rate=1e-5..1e-3:log", "batch_size=16,32,64", "warmup_ratio=0..0.2", "train.epochs=1..3"]
    )
    space = space_from_specs(specs)
    trial = _Trial()
    values = space.suggest(trial)
    assert trial.asked["train.learning_rate"] == ("float", 1e-5, 1e-3, True)
    assert trial.asked["train.batch_size"] == ("cat", (16, 32, 64))  # ints, not strings
    assert trial.asked["train.warmup_ratio"] == ("float", 0.0, 0.2, False)
    assert trial.asked["train.epochs"] == ("int", 1, 3, False)
    assert values["train.batch_size"] == 16 and isinstance(values["train.epochs"], int)
    assert space.specs()["train.learning_rate"] == "1e-5..1e-3:log"


def test_booleans_and_choices_are_categorical_and_grid_needs_lists() -> None:
    space = space_from_specs({"group_by_length": "true,false", "precision": "fp32,auto"})
    assert space.grid() == {"train.group_by_length": [True, False], "train.precision": ["fp32", "auto"]}
    with pytest.raises(ConfigError, match="range"):
        space_from_specs({"warmup_ratio": "0..0.2"}).grid()


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("learning_rate=1e-3..1e-5", "above the high end"),
        ("learning_rate=0..1e-3:log", "must be greater than 0"),
        ("warmup_ratio=0..0.2:log", "start above 0"),
        ("warmup_ratio=0..2", "must be at most 1.0"),
        ("hidden_dropout=0..1", "must be less than 1.0"),
        ("batch_size=0,16", "must be at least 1"),
        ("batch_size=1.5..4", "whole number"),
        ("precision=fp64,fp32", "must be one of"),
        ("no_such_key=1..2", "not a setting"),
        ("train=a,b", "cannot be swept"),
        ("run_name=a,b", "cannot be swept"),
        ("learning_rate", "KEY=SPEC"),
    ],
)
def test_bad_specs_name_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        space_from_specs(parse_search_args([spec]))


def test_space_file_and_default_spaces(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text('learning_rate = "1e-4..1e-2:log"\n[train]\nbatch_size = [8, 16]\n')
    assert read_space_file(path) == {"learning_rate": "1e-4..1e-2:log", "train.batch_size": "8,16"}
    scratch, pretrained = default_space("tiny-bert"), default_space("bert-base-uncased")
    assert scratch["train.learning_rate"] != pretrained["train.learning_rate"]
    for specs in (scratch, pretrained):  # every default dimension passes its setting's checks
        assert {p.path for p in space_from_specs(specs).params} >= {
            "train.learning_rate",
            "model.hidden_dropout",
        }


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweepdata")
    write_csv(root / "train.csv", make_rows(40, 1))
    write_csv(root / "dev.csv", make_rows(20, 2))
    return root


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--search", "learning_rate=1e-3..1e-5"], "above the high end"),
        (["--search", "data.train=a,b"], "cannot be swept"),
        (["--parallel", "0"], "--parallel must be at least 1"),
        (["--devices", "cuda:7"], "cuda:7 does not exist"),
        (["--devices", "tpu"], "is not cpu or cuda:N"),
        (["--sampler", "grid", "--search", "warmup_ratio=0..0.2"], "needs listed values"),
        (["--sampler", "cmaes"], "--sampler must be one of"),
        (["--pruner", "sometimes"], "--pruner must be one of"),
        (["--trials", "0"], "--trials must be at least 1"),
        (["--metric", "perplexity"], "not a metric of the classify task"),
        (["--space", "missing.toml"], "does not exist"),
        (["--storage", "postgresql://u:secret@127.0.0.1:1/x"], "cannot open the study storage"),
    ],
)
def test_bad_sweep_inputs_exit_2_with_one_line(args, says, data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["sweep", "--train", str(data), "--output-dir", str(out), "--trials", "2", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and says in err and len(err.splitlines()) == 1
    assert "secret" not in err  # a storage URL's password is never shown
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(
    ("storage", "says"),
    [
        ("ftp://host/db", "'ftp://' is no database"),
        ("postgres://u:secret@h/db", "did you mean postgresql://"),
        ("postgressql://h/db", "did you mean postgresql://"),
        ("mysql://h/db", "driver (MySQLdb) is not installed"),
        ("sqlite://", "in-memory sqlite"),
        ("://x", "not a database URL"),
    ],
)
def test_a_storage_nobody_can_open_exits_2_and_creates_nothing(
    storage: str, says: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A scheme typo or a database without its driver is refused before anything is read or written
    (it used to be taken as a journal path: a folder named ``ftp:`` in the working directory)."""
    if storage.startswith("mysql") and importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("a MySQL driver is installed here")
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", "--train", "missing.csv", "--output-dir", "out", "--storage", storage])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --storage ") and len(err.splitlines()) == 1
    assert says in err and "journal file path (no scheme://)" in err and "sqlite:///PATH" in err
    assert "secret" not in err
    assert list(tmp_path.iterdir()) == []  # no ftp: folder, no output folder


def test_storages_that_open_here_pass_the_check(tmp_path: Path) -> None:
    from tui_lab.core.sweeps.study import check_storage, is_rdb

    for ok in (str(tmp_path / "study.journal"), "ftp:/not-a-url/j.journal", f"sqlite:///{tmp_path}/o.db"):
        check_storage(ok)
    pytest.importorskip("psycopg")
    check_storage("postgresql://lab@db-host/optuna")
    check_storage("postgresql+psycopg://lab@db-host/optuna")
    assert is_rdb("postgresql+psycopg://h/d") and not is_rdb("runs/s/study.journal")


def test_resume_of_a_folder_that_is_no_sweep_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["sweep", "--resume", str(tmp_path)]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err


def test_dropout_settings_reach_the_models_config(tmp_path: Path) -> None:
    from tests.conftest import save_tiny_classifier
    from tui_lab.core.config import LabConfig
    from tui_lab.core.models import loading

    config = LabConfig()
    config.set("model.hidden_dropout", "0.25")
    config.set("model.attention_dropout", "0")
    overrides = loading.config_overrides(config)
    assert overrides == {"hidden_dropout_prob": 0.25, "attention_probs_dropout_prob": 0.0}
    assert loading.config_overrides(LabConfig()) == {}  # unset: the model's own
    texts = [t for t, _ in make_rows(40)]
    _, preset = loading.build("tiny-bert", texts, ["neg", "pos"], 32, 200, overrides=overrides)
    assert preset.config.hidden_dropout_prob == 0.25 and preset.config.attention_probs_dropout_prob == 0.0
    folder = save_tiny_classifier(tmp_path / "model")
    _, pretrained = loading.build(
        str(folder), texts, ["neg", "pos"], 32, overrides={**overrides, "not_a_field": 1}
    )
    assert pretrained.config.hidden_dropout_prob == 0.25 and not hasattr(pretrained.config, "not_a_field")


def test_two_machines_creating_a_databases_tables_at_once_both_open_it(monkeypatch) -> None:
    from tui_lab.core.sweeps import study

    class ProgrammingError(Exception):  # sqlalchemy's, as PostgreSQL raises it in that race
        pass

    calls: list[int] = []

    def racing(storage: str, heartbeat: bool) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ProgrammingError(
                '(psycopg.errors.DuplicateTable) relation "alembic_version" already exists\n[SQL: ...]'
            )
        return "storage"

    monkeypatch.setattr(study, "_rdb", racing)
    monkeypatch.setattr(study.time, "sleep", lambda s: None)
    assert study.open_storage("postgresql://lab@db/optuna") == "storage" and len(calls) == 2
    # any other failure is one line at once
    monkeypatch.setattr(
        study, "_rdb", lambda *a: (_ for _ in ()).throw(ProgrammingError("permission denied"))
    )
    with pytest.raises(study.LabError, match="permission denied"):
        study.open_storage("postgresql://lab@db/optuna")
