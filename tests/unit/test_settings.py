"""One declaration per setting: the CLI flags, the lab's prefill flags and the rendering of a
setting named in a core message are all generated from ``tui_lab.core.config``."""

from __future__ import annotations

import pytest

from tui_lab.cli import build_parser, main
from tui_lab.cli.common import attach_negative_numbers, config_from_args
from tui_lab.core.config import LabConfig, coerce
from tui_lab.core.errors import DataError, setting_ref
from tui_lab.core.settings import (
    DATASET_PANE,
    FORM_GROUPS,
    field_type,
    flag_of,
    form_fields,
    form_group_of,
    iter_fields,
    label_of,
    render_error,
    render_settings,
)

SETTINGS = [path for path, _ in iter_fields()]

# the flags of tui-lab train before the settings were generated: a contract with scripts
OLD_FLAGS = {
    "--train": "data.train",
    "--dev": "data.dev",
    "--test": "data.test",
    "--text-column": "data.text_column",
    "--label-column": "data.label_column",
    "--max-length": "data.max_length",
    "--model": "model.name",
    "--epochs": "train.epochs",
    "--batch-size": "train.batch_size",
    "--lr": "train.learning_rate",
    "--weight-decay": "train.weight_decay",
    "--warmup-ratio": "train.warmup_ratio",
    "--grad-accum": "train.gradient_accumulation_steps",
    "--eval-steps": "train.eval_steps",
    "--logging-steps": "train.logging_steps",
    "--patience": "train.patience",
    "--metric": "train.metric_for_best_model",
    "--precision": "train.precision",
    "--seed": "train.seed",
    "--output-dir": "train.output_dir",
    "--run-name": "train.run_name",
}
OLD_SWITCHES = {
    "--drop-empty": ("data.drop_empty", True),
    "--trust-remote-code": ("model.trust_remote_code", True),
    "--no-baseline": ("train.baseline", False),
}


def _example(path: str) -> str:
    """A valid value for a setting, as a user would type it (and unlike its default)."""
    default = LabConfig().get(path)
    if path == "train.metric_for_best_model":
        return "accuracy"
    if path == "train.precision":
        return "fp32"
    if path == "train.device":
        return "cuda:1"
    if path == "model.task":
        return "multilabel"
    if path == "model.peft":
        return "lora"
    if path == "model.lora_targets":
        return "query,value"
    if field_type(path) is float:  # unset (None) floats too: learning_rate, the dropouts
        return "0.2"
    if field_type(path) is int:  # unset (None) ints too: lora_alpha
        return str((default or 0) + 1)
    return "somewhere"


def test_every_setting_has_one_unique_train_flag() -> None:
    flags = [flag_of(p) for p in SETTINGS]
    assert len(flags) == len(set(flags)) and all(f.startswith("--") for f in flags)
    parser = build_parser()
    for path in SETTINGS:
        default = LabConfig().get(path)
        if isinstance(default, bool):
            flag = "--no-" + flag_of(path)[2:] if default else flag_of(path)
            args = parser.parse_args(["train", flag])
        else:
            args = parser.parse_args(["train", flag_of(path), _example(path)])
        config = config_from_args(args)
        assert config.get(path) != LabConfig().get(path), path  # the flag reached its setting
        assert config.validate() == {}, path


@pytest.mark.parametrize(("flag", "path"), sorted(OLD_FLAGS.items()))
def test_old_flag_names_still_parse(flag: str, path: str) -> None:
    assert flag_of(path) == flag
    args = build_parser().parse_args(["train", flag, _example(path)])
    assert config_from_args(args).get(path) == coerce(path, _example(path)) != LabConfig().get(path)


@pytest.mark.parametrize(("flag", "expect"), sorted(OLD_SWITCHES.items()))
def test_old_switches_still_parse(flag: str, expect: tuple[str, bool]) -> None:
    path, value = expect
    config = config_from_args(build_parser().parse_args(["train", flag]))
    assert config.get(path) is value and LabConfig().get(path) is not value


def test_booleans_get_a_flag_pair_and_unset_flags_keep_the_config_file(tmp_path) -> None:
    saved = LabConfig()
    saved.train.baseline, saved.train.epochs = False, 9
    saved.save(tmp_path / "c.toml")
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "c.toml"), "--no-group-by-length"])
    config = config_from_args(args)
    assert config.train.baseline is False and config.train.epochs == 9
    assert config.train.group_by_length is False
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "c.toml"), "--baseline"])
    assert config_from_args(args).train.baseline is True


def test_every_setting_prefills_the_lab() -> None:
    args = build_parser().parse_args(["--epochs", "7", "--model", "small-bert", "--drop-empty"])
    config = config_from_args(args)
    assert (config.train.epochs, config.model.name, config.data.drop_empty) == (7, "small-bert", True)
    assert args.command is None


def test_negative_numbers_attach_to_every_valued_flag() -> None:
    for path in SETTINGS:
        if isinstance(LabConfig().get(path), bool):
            assert attach_negative_numbers([flag_of(path), "-1"]) == [flag_of(path), "-1"]
        else:
            assert attach_negative_numbers([flag_of(path), "-1"]) == [f"{flag_of(path)}=-1"]


def test_form_groups_and_labels_come_from_the_declaration() -> None:
    in_form = [p for p, _ in form_fields()]
    assert len(in_form) == len(set(in_form))
    for path in SETTINGS:
        group = form_group_of(path)
        assert group in FORM_GROUPS or group == DATASET_PANE, path
        assert (path in in_form) == (group in FORM_GROUPS)
    # the settings that had no form field before now have one
    assert {"model.vocab_size", "train.logging_steps", "data.dev_fraction", "data.drop_empty"} <= set(in_form)
    assert {p for p in SETTINGS if form_group_of(p) == DATASET_PANE} == {
        "data.train",
        "data.dev",
        "data.test",
        "data.text_column",
        "data.label_column",
    }
    labels = [label_of(p) for p in SETTINGS]
    assert len(labels) == len(set(labels))


def test_a_setting_named_in_a_message_renders_per_face() -> None:
    text = (
        f"use {setting_ref('data.max_length', 512)}, {setting_ref('data.drop_empty', True)}, "
        f"{setting_ref('train.baseline', False)} or {setting_ref('data.text_column')}"
    )
    assert (
        render_settings(text, "flag") == "use --max-length 512, --drop-empty, --no-baseline or --text-column"
    )
    assert render_settings(text, "label") == (
        'use "max length" = 512, "drop empty rows" = on, "TF-IDF baseline" = off '
        'or the Dataset pane\'s "text" field'
    )
    assert render_settings(text, "path") == (
        "use data.max_length = 512, data.drop_empty = true, train.baseline = false or data.text_column"
    )
    assert render_settings("no marker here", "flag") == "no marker here"
    exc = DataError(f"fix it or set {setting_ref('data.drop_empty', True)}.")
    assert str(exc) == "fix it or set data.drop_empty = true."
    assert render_error(exc, "flag") == "fix it or set --drop-empty." and "{setting:" in exc.message


def test_core_messages_name_settings_not_flags() -> None:
    import pathlib
    import re

    import tui_lab.core

    core = pathlib.Path(tui_lab.core.__file__).parent
    for path in core.rglob("*.py"):
        if path.name in ("settings.py", "errors.py"):  # where flags are declared and rendered
            continue
        for flag in (flag_of(p) for p in SETTINGS):
            found = re.findall(rf"{re.escape(flag)}\b(?![-_])", path.read_text())
            assert not found, f"{path.name} names {flag}; use setting_ref()"


def test_the_cli_prints_a_named_setting_as_its_flag(capsys, tmp_path) -> None:
    rows = [(f"text number {i}", "pos" if i % 2 else "neg") for i in range(20)] + [("", "pos")]
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "\n".join(f"{t},{lab}" for t, lab in rows) + "\n")
    code = main(["train", "--train", str(data), "--output-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.rstrip().endswith("fix them or set --drop-empty.") and "{setting" not in err


def test_device_setting_is_validated() -> None:
    config = LabConfig()
    assert config.train.device == "auto"
    for good in ("auto", "cpu", "cuda", "cuda:0", "cuda:12"):
        config.set("train.device", good)
        assert config.validate() == {}
    for bad in ("gpu", "cuda:", "cuda:x", "CPU ", "mps"):
        config.set("train.device", bad)
        assert config.validate() == {"train.device": "must be auto, cpu, cuda or cuda:N"}


def test_validate_checks_run_name_and_model_name() -> None:
    config = LabConfig()
    config.train.run_name, config.model.name = "../x", " "
    errors = config.validate()
    assert errors["train.run_name"].startswith("must be a plain folder name")
    assert errors["model.name"].startswith("is required")
