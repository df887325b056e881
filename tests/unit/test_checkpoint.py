"""Checkpoints: atomic swaps, the .old fallback, and no unpickling of code."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from tui_lab.core.errors import CheckpointError
from tui_lab.core.models import checkpoint


def _write(content: str):
    def write(tmp: Path) -> None:
        (tmp / "config.json").write_text(content)

    return write


def test_atomic_write_replaces_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "last"
    checkpoint.write_atomically(target, _write("one"))
    checkpoint.write_atomically(target, _write("two"))
    assert (target / "config.json").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # no temp or .old left


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "best"
    checkpoint.write_atomically(target, _write("good"))

    def disk_full(tmp: Path) -> None:
        (tmp / "config.json").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(CheckpointError, match="No space left on device.*previous one is kept"):
        checkpoint.write_atomically(target, disk_full)
    assert (target / "config.json").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_resolve_falls_back_to_old_after_a_crash_mid_swap(tmp_path: Path) -> None:
    target = tmp_path / "last"
    checkpoint.write_atomically(target, _write("one"))
    target.rename(tmp_path / "last.old")  # the crash happened between the two renames
    assert checkpoint.resolve(target) == tmp_path / "last.old"
    assert checkpoint.resolve(tmp_path / "nothing") is None


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/tui-lab-pwned"),))


def test_a_planted_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = Path("/tmp/tui-lab-pwned")
    marker.unlink(missing_ok=True)
    bad = tmp_path / "optimizer.pt"
    with open(bad, "wb") as fh:
        pickle.dump({"state": _Evil()}, fh)
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load_tensor_file(bad)
    assert not marker.exists()


def test_tensor_files_and_rng_state_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(3)
    state = checkpoint.rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = torch.rand(3)
    checkpoint.set_rng_state(checkpoint.load_tensor_file(tmp_path / "rng.pt"))
    assert torch.equal(torch.rand(3), expected)
