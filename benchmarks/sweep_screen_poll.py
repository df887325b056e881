"""What the Sweep screen's once-a-second read of a sweep folder costs, by number of trials.

    python benchmarks/sweep_screen_poll.py [--trials 20 200]

Makes a sweep folder with Optuna directly (a journal study, N complete trials, a five-epoch run
folder each; no training), then times ``SweepReader.read()`` (off the UI thread in the lab): the
first read (the whole journal and every event log) and the mean of ten reads after it (only what
grew is read again).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ui.fake_runs import fake_run  # noqa: E402
from tui_lab.core.config import LabConfig  # noqa: E402
from tui_lab.ui.widgets.sweep_data import SweepReader  # noqa: E402


def make_sweep(root: Path, n: int) -> Path:
    """A sweep folder of ``n`` complete trials."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = root / f"sweep-{n}"
    sweep.mkdir()
    spec = {"study": "s", "storage": "study.journal", "metric": "f1_macro", "direction": "maximize"}
    (sweep / "sweep.json").write_text(
        json.dumps({**spec, "space": {"train.learning_rate": "1e-5..1e-3:log"}})
    )
    storage = JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    dist = {"train.learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)}
    for i in range(n):
        trial = study.ask(dist)
        trial.set_user_attr("run_dir", str(sweep / f"trial-{i:03d}"))
        value = 0.5 + i / (2 * n)
        fake_run(sweep / f"trial-{i:03d}", LabConfig(), [0.5, 0.6, 0.7, 0.8, value])
        study.tell(trial, value)
    return sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[20, 200], metavar="N")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tui-lab-sweep-poll-"))
    for n in args.trials:
        reader = SweepReader(make_sweep(root, n))
        start = time.perf_counter()
        reader.read()
        first = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(10):
            snap = reader.read()
        again = (time.perf_counter() - start) / 10
        print(
            f"{n:>5} trials: first read {first * 1000:6.0f} ms, then {again * 1000:5.0f} ms a read ({len(snap.trials)} rows)"
        )


if __name__ == "__main__":
    main()
