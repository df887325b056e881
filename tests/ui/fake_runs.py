"""Run folders and sweep folders made in a moment, without training: event logs written with the
project's own event classes, and an Optuna study told complete, pruned and failed trials."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.training.events import Evaluated, RunFinished, RunStarted, StepLogged

STEPS_PER_EPOCH = 4


def fake_run(
    folder: Path,
    config: LabConfig,
    dev: list[float],
    status: str = "completed",
    metric: str = "f1_macro",
) -> Path:
    """A run folder whose ``events.jsonl`` has one epoch of ``STEPS_PER_EPOCH`` steps and one dev
    evaluation (``metric`` = each value of ``dev``) a value, and a finish with ``status``."""
    folder.mkdir(parents=True, exist_ok=True)
    config.save(folder / "config.toml")
    epochs = len(dev)
    total = epochs * STEPS_PER_EPOCH
    events: list[Any] = [
        RunStarted(
            run_dir=str(folder),
            run_name=folder.name,
            model=config.model.name,
            labels=["neg", "pos"],
            n_train=64,
            n_dev=16,
            n_test=0,
            epochs=epochs,
            steps_per_epoch=STEPS_PER_EPOCH,
            total_steps=total,
            device="cpu",
            precision="fp32",
            pid=0,
            config=config.to_dict(),
            task="classify",
        )
    ]
    best = -math.inf
    for epoch, value in enumerate(dev, start=1):
        for k in range(STEPS_PER_EPOCH):
            step = (epoch - 1) * STEPS_PER_EPOCH + k + 1
            loss = 1.0 / (step + 1) + (1 - value) * 0.1
            events.append(StepLogged(step, total, step / STEPS_PER_EPOCH, loss, 1e-3, 1.0, 100.0, step, 0.0))
        is_best = value > best
        best = max(best, value)
        metrics = {metric: value, "accuracy": value, "loss": 1 - value}
        events.append(
            Evaluated(
                epoch * STEPS_PER_EPOCH, float(epoch), "dev", metrics, None, ["neg", "pos"], is_best, best
            )
        )
    events.append(
        RunFinished(status, epochs * STEPS_PER_EPOCH, float(epochs), {metric: best}, None, 100.0, False)
    )
    (folder / "events.jsonl").write_text("".join(e.to_json() + "\n" for e in events), encoding="utf-8")
    return folder


# trial: (learning rate, batch size, dev metric by epoch, Optuna state)
TRIALS = (
    (1e-4, 16, [0.60, 0.70, 0.75], "COMPLETE"),
    (5e-4, 32, [0.65, 0.80, 0.88], "COMPLETE"),
    (2e-5, 16, [0.50, 0.52], "PRUNED"),
    (3e-4, 64, [0.62, 0.78, 0.83], "COMPLETE"),
    (1e-5, 32, [], "FAIL"),
)
SPACE = {"train.learning_rate": "1e-5..1e-3:log", "train.batch_size": "16,32,64"}


def fake_sweep(output_dir: Path, name: str = "sweep-a", config: LabConfig | None = None) -> Path:
    """A sweep folder as ``tui-lab sweep`` writes it: ``sweep.json``, ``study.journal`` (an Optuna
    journal with the trials of :data:`TRIALS`) and a run folder a trial."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    config = config or LabConfig()
    sweep = output_dir / name
    sweep.mkdir(parents=True)
    spec = {
        "study": name,
        "storage": str(sweep / "study.journal"),
        "metric": "f1_macro",
        "direction": "maximize",
        "space": SPACE,
        "trials": len(TRIALS),
        "parallel": 2,
        "devices": ["cpu"],
        "sampler": "tpe",
        "pruner": "median",
        "keep_best": 1,
        "created": "2026-12-03T14:00:00",
        "config": config.to_dict(),
    }
    (sweep / "sweep.json").write_text(json.dumps(spec), encoding="utf-8")
    storage = JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    lr_dist = optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)
    bs_dist = optuna.distributions.CategoricalDistribution([16, 32, 64])
    space = {"train.learning_rate": lr_dist, "train.batch_size": bs_dist}
    for number, (lr, bs, dev, state) in enumerate(TRIALS):
        attrs = {"run_dir": str(sweep / f"trial-{number:03d}"), "worker": number % 2, "device": "cpu"}
        attrs |= {"seconds": 10.0 + number, "epochs": len(dev)}
        study.enqueue_trial({"train.learning_rate": lr, "train.batch_size": bs}, user_attrs=attrs)
        trial = study.ask(space)  # the enqueued params: the fixture is deterministic
        if dev:
            run_config = config.copy()
            run_config.train.learning_rate, run_config.train.batch_size = lr, bs
            status = "pruned" if state == "PRUNED" else "completed"
            fake_run(sweep / f"trial-{number:03d}", run_config, dev, status)
        if state == "COMPLETE":
            study.tell(trial, max(dev))
        else:
            study.tell(trial, state=getattr(optuna.trial.TrialState, state))
    return sweep
