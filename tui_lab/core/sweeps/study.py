"""A sweep's study: its ``sweep.json``, its storage, and which of its trials count.

The storage is Optuna's: by default a journal file in the sweep folder
(``JournalStorage`` on a journal file read past torn records, :mod:`.journal`, stored relative to the folder, as are the trials'
run folders, so a sweep folder copied or mounted elsewhere still resumes and opens), or an RDB URL (``postgresql://``, ``sqlite://``)
that workers on many machines share, with Optuna's heartbeat, stale-trial failing and
``RetryFailedTrialCallback``. A sweep of N trials ends with exactly N *counted* trials, whatever
the number of workers and machines: a trial a worker asks for once N others hold their places is
marked ``surplus`` and failed at once, and a trial whose worker died is replaced by a retry with
the same parameters (``retry_of``) that takes its place.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.atomic import write_text_atomically
from tui_lab.core.errors import ConfigError, LabError

SWEEP_FILE = "sweep.json"
JOURNAL_FILE = "study.journal"
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")  # a URL's scheme, as SQLAlchemy reads one
# the database URLs a sweep is usually shared through: (form shown, dialect, its drivers' modules)
RDB_FORMS = (
    ("sqlite:///PATH", "sqlite", ("sqlite3",)),
    ("postgresql://USER@HOST/DB", "postgresql", ("psycopg", "psycopg2")),
    ("mysql+pymysql://USER@HOST/DB", "mysql", ("pymysql", "MySQLdb")),
)
MAX_RETRIES = 2  # a trial whose worker dies is retried at most this many times
FATAL_AFTER = 3  # the first trials failing alike stop the sweep


@dataclass
class SweepInfo:
    """What ``sweep.json`` holds: how the sweep was asked for."""

    study: str
    storage: str
    metric: str
    direction: str
    space: dict[str, str]
    trials: int
    parallel: int = 1
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    sampler: str = "tpe"
    pruner: str = "median"
    keep_best: int = 0
    created: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    queue: bool = False  # a run queue: each trial a fixed config (user attr ``config``), no search

    def write(self, sweep_dir: Path) -> Path:
        """Write ``sweep.json`` into ``sweep_dir`` (atomically); a journal inside the folder is
        written relative to it, so the folder can be moved or mounted elsewhere."""
        path = Path(sweep_dir) / SWEEP_FILE
        data = asdict(self)
        if not is_rdb(self.storage):
            data["storage"] = stored_path(self.storage, sweep_dir)
        write_text_atomically(path, json.dumps(data, indent=2))
        return path


def read_sweep_info(sweep_dir: str | Path) -> SweepInfo:
    """The :class:`SweepInfo` of a sweep folder.

    Raises:
        LabError: the folder has no readable ``sweep.json``.
    """
    path = Path(sweep_dir).expanduser() / SWEEP_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        names = set(SweepInfo.__dataclass_fields__)
        info = SweepInfo(**{k: v for k, v in raw.items() if k in names})
    except (OSError, ValueError, TypeError):
        raise LabError(f"{Path(sweep_dir)} is not a sweep folder (no readable {SWEEP_FILE}).") from None
    if not is_rdb(info.storage):
        info.storage = str(read_path(info.storage or JOURNAL_FILE, path.parent))
    return info


# -- paths inside the sweep folder ---------------------------------------------------------------
def stored_path(path: str | Path, sweep_dir: str | Path) -> str:
    """``path`` as ``sweep.json`` or a trial stores it: relative to the sweep folder when inside it
    (the folder can then be copied, moved or mounted at another path), else absolute."""
    folder, full = Path(sweep_dir).expanduser().resolve(), Path(path).expanduser().resolve()
    try:
        return str(full.relative_to(folder))
    except ValueError:
        return str(full)


def read_path(stored: str | Path, sweep_dir: str | Path, inside: bool = False) -> Path:
    """A stored path read back: a relative one inside the sweep folder; an absolute one as it is,
    unless it is gone and the sweep folder has one of its name, or it is gone and was ``inside``
    the folder anyway (a folder written by an older tui-lab, since moved)."""
    folder, path = Path(sweep_dir).expanduser().resolve(), Path(stored).expanduser()
    if not path.is_absolute():
        return folder / path
    if not path.exists() and (inside or (folder / path.name).exists()):
        return folder / path.name
    return path


def run_dir_of(trial: Any, sweep_dir: str | Path, storage: str) -> Path | None:
    """The trial's run folder (user attribute ``run_dir``), read back as :func:`read_path` does
    (a journal sweep's run folders are all in its folder); with an RDB storage the folder is on
    the machine that ran the trial, so it stays as stored."""
    stored = trial.user_attrs.get("run_dir")
    if not stored:
        return None
    return Path(stored) if is_rdb(storage) else read_path(stored, sweep_dir, inside=True)


def run_dir_attr(run_dir: Path, sweep_dir: str | Path, storage: str) -> str:
    """How a trial stores its run folder: relative to a journal sweep's folder, else absolute."""
    return str(run_dir.resolve()) if is_rdb(storage) else stored_path(run_dir, sweep_dir)


# -- storage ---------------------------------------------------------------------------------------
def is_rdb(storage: str) -> bool:
    """Whether a storage string is an RDB URL (it has a ``scheme://``; else it is a journal file path)."""
    return SCHEME.match(storage) is not None


def accepted_storages() -> str:
    """The storage forms this machine can open, as a message lists them."""
    forms = ["a journal file path (no scheme://)"]
    for form, _, modules in RDB_FORMS:
        if any(importlib.util.find_spec(m) is not None for m in modules):
            forms.append(form)
    return ", ".join(forms)


def check_storage(storage: str) -> None:
    """Refuse a storage string that is neither a journal path nor a database URL SQLAlchemy can open
    here with its driver installed (a typo like ``postgres://``, ``ftp://``, ``mysql://`` without
    its driver); nothing is opened or created.

    Raises:
        ConfigError: one line naming the accepted forms.
    """
    match = SCHEME.match(storage)
    if match is None and "://" not in storage:
        return  # a journal file path
    problem = _url_problem(storage, match.group(1) if match else "")
    if problem:
        raise ConfigError(
            f"--storage {redacted(storage)}: {problem}; give {accepted_storages()}.", {"storage": problem}
        )


def _url_problem(url: str, scheme: str) -> str | None:
    """Why SQLAlchemy cannot open ``url`` here (None: it can)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(_driver_url(url))
        dialect = parsed.get_dialect()
    except NoSuchModuleError:  # (an ArgumentError too)
        hint = " (did you mean postgresql://?)" if scheme.split("+")[0].startswith("postgre") else ""
        return f"'{scheme}://' is no database SQLAlchemy knows{hint}"
    except ArgumentError:
        return "not a database URL"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return f"the {scheme} driver ({exc.name or 'its module'}) is not installed"
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        return "an in-memory sqlite database is not shared with the workers"
    return None


def redacted(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def open_storage(storage: str, heartbeat: bool = False) -> Any:
    """The Optuna storage behind a storage string.

    Args:
        storage: a journal file path, or an RDB URL (``postgresql://`` goes through psycopg 3).
        heartbeat: for an RDB, send a heartbeat and retry trials whose worker went silent
            (``RetryHeartbeatStaleTrialCallback``).

    Raises:
        LabError: the storage cannot be reached or opened (named, password hidden).
    """
    from optuna.storages.journal import JournalStorage

    from tui_lab.core.sweeps.journal import TolerantJournalBackend  # imports optuna

    if not is_rdb(storage):
        try:
            Path(storage).parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(TolerantJournalBackend(storage))
        except OSError as exc:
            raise LabError(f"cannot open the study storage {storage}: {exc.strerror}.") from None
    for attempt in range(3):
        try:
            return _rdb(storage, heartbeat)
        except Exception as exc:  # sqlalchemy's errors name the driver's reason on their first line
            if _created_meanwhile(exc) and attempt < 2:
                time.sleep(0.5)  # another process created the tables at the same moment
                continue
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LabError(f"cannot open the study storage {redacted(storage)}: {reason[:200]}") from None
    raise AssertionError("unreachable")


def _created_meanwhile(exc: Exception) -> bool:
    """Whether opening an RDB failed because another process was creating its tables at that moment
    (a unique row: ``IntegrityError``; PostgreSQL's ``relation "alembic_version" already exists``)."""
    return type(exc).__name__ == "IntegrityError" or "already exists" in str(exc).split("\n", 1)[0]


def _rdb(storage: str, heartbeat: bool) -> Any:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        kwargs: dict[str, Any] = {}
        if heartbeat:
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
            kwargs = {"heartbeat_interval": 5, "grace_period": 20, "heartbeat_stale_trial_callback": retry}
        return optuna.storages.RDBStorage(_driver_url(storage), **kwargs)


def _driver_url(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://`` (psycopg 3) when psycopg2 is not installed."""
    scheme, _, rest = url.partition("://")
    if scheme == "postgresql":
        if importlib.util.find_spec("psycopg2") is None:
            return f"postgresql+psycopg://{rest}"
    return url


def open_study(info: SweepInfo, heartbeat: bool = False) -> Any:
    """The sweep's study (created when new); an existing one must have the same direction and space.

    Raises:
        ConfigError: the study exists with another direction, metric or space.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(info.storage, heartbeat)
    study = optuna.create_study(
        study_name=info.study, storage=storage, direction=info.direction, load_if_exists=True
    )
    if study.direction.name.lower() != info.direction:
        raise ConfigError(
            f"study '{info.study}' in {redacted(info.storage)} already {study.direction.name.lower()}s; "
            f"use --direction {study.direction.name.lower()} or another --study."
        )
    attrs = study.user_attrs
    if not attrs:
        study.set_user_attr("space", info.space)
        study.set_user_attr("metric", info.metric)
    elif attrs.get("space") != info.space or attrs.get("metric") != info.metric:
        raise ConfigError(
            f"study '{info.study}' in {redacted(info.storage)} searches another space or metric "
            f"({attrs.get('metric')}: {attrs.get('space')}); use the same one or another --study."
        )
    return study


# -- which trials count -------------------------------------------------------------------------
def retry_of(trial: Any) -> int | None:
    """The number of the trial this one retries (Optuna's heartbeat retry or a coordinator's), else None."""
    history = trial.system_attrs.get("retry_history")
    return history[-1] if history else trial.user_attrs.get("retry_of")


def counted(trials: list[Any]) -> list[Any]:
    """The trials that hold a place in the sweep: not surplus, and not replaced by a retry that is."""
    live = [t for t in trials if not t.user_attrs.get("surplus")]
    replaced = {retry_of(t) for t in live} - {None}
    return [t for t in live if t.number not in replaced]


def is_surplus(study: Any, number: int, n_trials: int) -> bool:
    """Whether trial ``number`` came after N others had taken every place."""
    before = [t for t in counted(study.get_trials(deepcopy=False)) if t.number < number]
    return len(before) >= n_trials


def finished(trials: list[Any]) -> list[Any]:
    """The counted trials that ended (complete, pruned or failed)."""
    return [t for t in counted(trials) if t.state.is_finished()]


def has_work(study: Any, n_trials: int) -> bool:
    """Whether a worker could still take a trial (a place is free, or a retry waits)."""
    from optuna.trial import TrialState

    places = counted(study.get_trials(deepcopy=False))
    return len(places) < n_trials or any(t.state == TrialState.WAITING for t in places)


def fatal_reason(trials: list[Any], n_trials: int) -> str | None:
    """The one reason shared by the first trials, when they all failed with it (>= 2 of them)."""
    from optuna.trial import TrialState

    first = sorted(finished(trials), key=lambda t: t.number)[: min(FATAL_AFTER, n_trials)]
    if len(first) < min(FATAL_AFTER, n_trials) or len(first) < 2:
        return None
    reasons = {t.user_attrs.get("error") for t in first if t.state == TrialState.FAIL}
    if len(reasons) == 1 and None not in reasons and all(t.state == TrialState.FAIL for t in first):
        return reasons.pop()
    return None


def retry(study: Any, trial: Any) -> None:
    """Replace a trial whose worker is gone by a waiting retry with its parameters and run folder.

    The retry is enqueued before the trial is failed, so the trial's place passes straight to it.
    A trial retried :data:`MAX_RETRIES` times is only failed.
    """
    from optuna.trial import TrialState

    depth, trials = 0, {t.number: t for t in study.get_trials(deepcopy=False)}
    source = trial
    while retry_of(source) is not None and retry_of(source) in trials:
        depth, source = depth + 1, trials[retry_of(source)]
    if depth < MAX_RETRIES:
        attrs = {"retry_of": trial.number, "run_dir": trial.user_attrs.get("run_dir"), **fixed_attrs(trial)}
        study.enqueue_trial(trial.params, user_attrs={k: v for k, v in attrs.items() if v is not None})
    if trial.state == TrialState.RUNNING:
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def fixed_attrs(trial: Any) -> dict[str, Any]:
    """What a queued run's retry carries over: its whole config and its run name."""
    return {k: trial.user_attrs[k] for k in ("config", "run_name") if k in trial.user_attrs}


# -- workers --------------------------------------------------------------------------------------
def worker_id(pid: int | None = None) -> str:
    """``host:pid`` of this (or another local) process, as trials record it."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


WORKER_MARKERS = (b"sweeps.worker", b"sweeps.preload")  # a fresh worker's command line, a forked one's


def is_alive(pid: int, markers: tuple[bytes, ...] = WORKER_MARKERS) -> bool:
    """Whether a local sweep worker (a process whose command line has one of ``markers``: a fresh
    interpreter's, or the fork server's that a warm worker keeps) runs as ``pid`` (a zombie, or
    another program that took the number since, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            zombie = fh.read().rsplit(") ", 1)[1][0] == "Z"
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
        return not zombie and any(marker in cmdline for marker in markers)
    except (OSError, IndexError):
        return True  # no /proc to look in: trust that the process exists


def orphans(study: Any, gone: set[str] | None = None) -> list[Any]:
    """RUNNING trials of this host whose worker is gone (``gone``: worker ids known dead)."""
    from optuna.trial import TrialState

    host, out = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(t.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if gone is not None and worker in gone:
            out.append(t)
        elif gone is None and name == host and pid.isdigit() and not is_alive(int(pid)):
            out.append(t)
    return out


def keep_best(study: Any, k: int, direction: str, sweep_dir: Path, storage: str) -> None:
    """Delete ``best/`` of every finished trial outside the top ``k`` (logs, report, config stay)."""
    from optuna.trial import TrialState

    if k <= 0:
        return
    done = finished(study.get_trials(deepcopy=False))
    complete = [t for t in done if t.state == TrialState.COMPLETE and t.value is not None]
    complete.sort(key=lambda t: t.value, reverse=direction == "maximize")
    keep = {t.number for t in complete[:k]}
    for t in done:
        run_dir = run_dir_of(t, sweep_dir, storage)
        if t.number not in keep and run_dir and (run_dir / "best").exists():
            shutil.rmtree(run_dir / "best", ignore_errors=True)


def now_iso() -> str:
    """The local time, ISO 8601 to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
