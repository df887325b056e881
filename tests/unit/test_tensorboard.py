"""The TensorBoard sink: transformers' tag layout, values as emitted, config and metrics in HParams."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_lab.core.config import LabConfig
from tui_lab.core.training.events import Evaluated, RunFinished, RunStarted, StepLogged
from tui_lab.core.training.tensorboard_sink import TensorBoardSink, make_tensorboard_sink

pytest.importorskip("tensorboard")


def _accumulator(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _started(start_step: int = 0) -> RunStarted:
    config = LabConfig()
    config.train.epochs = 2
    return RunStarted(
        run_dir="r",
        run_name="r",
        model="tiny-bert",
        labels=["a", "b"],
        n_train=4,
        n_dev=2,
        n_test=0,
        epochs=2,
        steps_per_epoch=2,
        total_steps=4,
        device="CPU",
        precision="fp32",
        start_step=start_step,
        config=config.to_dict(),
    )


def _step(step: int, loss: float) -> StepLogged:
    return StepLogged(
        step=step,
        total_steps=4,
        epoch=step / 2,
        loss=loss,
        learning_rate=1e-3 / step,
        grad_norm=step * 0.5,
        samples_per_second=10.0,
        elapsed=1.0,
        eta_seconds=1.0,
    )


def _eval(step: int, f1: float) -> Evaluated:
    return Evaluated(
        step=step,
        epoch=step / 2,
        split="dev",
        metrics={"f1_micro": f1, "loss": 1 - f1},
        confusion_matrix=None,
        labels=["a", "b"],
        is_best=True,
    )


def test_the_sink_writes_transformers_tags_and_hparams(tmp_path: Path) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    sink = TensorBoardSink(tmp_path / "tb")
    for event in (
        _started(),
        _step(1, 0.9),
        _step(2, 0.7),
        _eval(2, 0.6),
        _step(3, 0.5),
        _step(4, 0.4),
        _eval(4, 0.8),
    ):
        sink(event)
    sink(
        RunFinished(
            status="completed",
            step=4,
            epochs_completed=2,
            best={"f1_micro": 0.8, "f1/a": 0.9},
            test=None,
            train_samples_per_second=10.0,
            stopped_early=False,
        )
    )
    acc = _accumulator(tmp_path / "tb")
    scalars = acc.Tags()["scalars"]
    assert {
        "train/loss",
        "train/learning_rate",
        "train/grad_norm",
        "train/epoch",
        "eval/f1_micro",
        "eval/loss",
    } <= set(scalars)
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("train/loss")] == [
        (1, 0.9),
        (2, 0.7),
        (3, 0.5),
        (4, 0.4),
    ]
    assert [e.value for e in acc.Scalars("train/grad_norm")] == [0.5, 1.0, 1.5, 2.0]
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("eval/f1_micro")] == [(2, 0.6), (4, 0.8)]
    assert [round(e.value, 6) for e in acc.Scalars("final/dev/f1_micro")] == [0.8]
    assert "final/dev/f1/a" not in scalars  # per-label scores stay out of the HParams table
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["train.epochs"].number_value == 2 and hparams["model.name"].string_value == "tiny-bert"


def test_a_resumed_run_drops_what_came_after_its_step(tmp_path: Path) -> None:
    sink = TensorBoardSink(tmp_path / "tb")
    for event in (_started(), _step(1, 0.9), _step(2, 0.8), _step(3, 0.7)):
        sink(event)
    sink.close()  # stopped (or crashed) after step 3; last/ was saved at step 2
    for event in (_started(start_step=2), _step(3, 0.6), _step(4, 0.5)):
        sink(event)
    sink.close()
    values = [(e.step, round(e.value, 6)) for e in _accumulator(tmp_path / "tb").Scalars("train/loss")]
    assert values == [(1, 0.9), (2, 0.8), (3, 0.6), (4, 0.5)]


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_deleted_folder_does_not_kill_the_writer_thread_with_a_traceback(tmp_path: Path) -> None:
    import shutil

    sink = TensorBoardSink(tmp_path / "tb")
    sink(_started())
    sink(_step(1, 0.9))
    sink(_eval(1, 0.5))  # flushed: the event file exists
    shutil.rmtree(tmp_path / "tb")  # `rm -rf` of the run folder while the run goes on
    for step in range(2, 30):  # more records than the writer's queue holds
        sink(_step(step, 0.5))
    sink(_eval(29, 0.6))
    sink.close()  # joins the writer's thread: a record it failed to write has been tried by now
    assert not (tmp_path / "tb").exists()  # nothing recreated the folder


def test_the_setting_turns_it_off(tmp_path: Path) -> None:
    config = LabConfig()
    assert isinstance(make_tensorboard_sink(tmp_path, config), TensorBoardSink)
    config.set("train.tensorboard", "false")
    assert make_tensorboard_sink(tmp_path, config) is None


def test_a_training_run_writes_tb_beside_its_events(tiny_config) -> None:
    from tui_lab.core.training.events import read_events
    from tui_lab.core.training.loop import Trainer

    tiny_config.train.epochs = 1
    tiny_config.train.baseline = False
    result = Trainer(tiny_config).run()
    run = Path(result.run_dir)
    steps = [e for e in read_events(run / "events.jsonl") if isinstance(e, StepLogged)]
    acc = _accumulator(run / "tb")
    logged = acc.Scalars("train/loss")
    assert [e.step for e in logged] == [s.step for s in steps]
    assert [e.value for e in logged] == pytest.approx([s.loss for s in steps], rel=1e-6)
    assert {"eval/accuracy", "eval/f1_macro", "test/accuracy", "final/dev/f1_macro"} <= set(
        acc.Tags()["scalars"]
    )
