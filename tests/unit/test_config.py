"""LabConfig: validation, string coercion, TOML round trip and its error messages."""

from __future__ import annotations

import pytest

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import ConfigError
from tui_lab.core.settings import iter_fields


def test_defaults_are_valid() -> None:
    assert LabConfig().validate() == {}


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("train.epochs", 0, "at least 1"),
        ("train.epochs", -3, "at least 1"),
        ("train.batch_size", 0, "at least 1"),
        ("train.learning_rate", 0.0, "greater than 0"),
        ("train.learning_rate", -1e-5, "greater than 0"),
        ("train.patience", -1, "at least 0"),
        ("train.precision", "fp8", "one of auto, fp32, bf16, fp16"),
        ("train.warmup_ratio", 1.5, "at most 1"),
        ("data.max_length", 4, "at least 8"),
        ("train.learning_rate", float("nan"), "finite"),
        ("train.run_name", "../escape", "plain folder name"),
        ("train.run_name", "a/b", "plain folder name"),
    ],
)
def test_validate_names_the_field(path: str, value: object, reason: str) -> None:
    cfg = LabConfig()
    cfg.set(path, value)
    errors = cfg.validate()
    assert path in errors and reason in errors[path]
    with pytest.raises(ConfigError) as info:
        cfg.raise_if_invalid()
    assert path in str(info.value) and "\n" not in str(info.value)


def test_set_from_strings_as_a_form_or_flag_gives_them() -> None:
    cfg = LabConfig()
    cfg.set("train.epochs", " 7 ")
    cfg.set("train.learning_rate", "2e-5")
    cfg.set("train.group_by_length", "no")
    assert (cfg.train.epochs, cfg.train.learning_rate, cfg.train.group_by_length) == (7, 2e-5, False)
    cfg.set("train.learning_rate", "")
    assert cfg.train.learning_rate is None


@pytest.mark.parametrize(
    ("path", "value"),
    [("train.epochs", "five"), ("train.learning_rate", "fast"), ("train.baseline", "maybe")],
)
def test_unreadable_strings_raise_with_the_field(path: str, value: str) -> None:
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        LabConfig().set(path, value)


def test_toml_round_trip(tmp_path) -> None:
    cfg = LabConfig()
    cfg.data.train = "data/train.jsonl"
    cfg.model.name = "bert-base-uncased"
    cfg.train.learning_rate = 3e-5
    cfg.train.precision = "bf16"
    path = cfg.save(tmp_path / "lab.toml")
    again = LabConfig.load(path)
    assert again == cfg
    for dotted, _ in iter_fields():
        assert again.get(dotted) == cfg.get(dotted)


def test_toml_unknown_key_is_named_with_a_suggestion(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[train]\nepochz = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train\.epochz'.*did you mean 'train\.epochs'"):
        LabConfig.load(path)


def test_toml_unknown_section_and_wrong_type(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[optimizer]\nlr = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[optimizer\]"):
        LabConfig.load(path)
    path.write_text('[train]\nepochs = "three"\n')
    with pytest.raises(ConfigError, match=r"train\.epochs must be a whole number"):
        LabConfig.load(path)
    path.write_text("[train]\nepochs = 2.5\n")
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        LabConfig.load(path)


def test_toml_syntax_error_and_missing_file(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        LabConfig.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        LabConfig.load(tmp_path / "nope.toml")


def test_copy_is_deep() -> None:
    cfg = LabConfig()
    other = cfg.copy()
    other.train.epochs = 99
    assert cfg.train.epochs != 99
