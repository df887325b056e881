"""What every ``tui-lab`` subcommand shares: flags generated from the settings, the exit codes,
reading a config from flags, quieting the libraries, Ctrl-C handling, and a headless training run.

Imports stay light at the top (no torch, no transformers) so ``tui-lab --help`` answers at once;
each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError
from tui_lab.core.settings import flag_of, help_text, iter_fields, metavar_of, render_settings

EXIT_OK, EXIT_UNEXPECTED, EXIT_USER, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USER)


def add_setting_flags(parser: Any, paths: list[str] | None = None) -> None:
    """One flag per setting, generated from its declaration in :mod:`tui_lab.core.settings`.

    Values are kept as typed (``dest`` is the setting's path, default ``None`` = not given) and go
    through ``LabConfig.set``, so every bad value gets the validator's message. A boolean gets a
    ``--flag`` / ``--no-flag`` pair.
    """
    for path in paths or [p for p, _ in iter_fields()]:
        metavar = metavar_of(path)
        if metavar is None:
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag_of(path), dest=path, action=action, default=None, help=help_text(path))
        else:
            parser.add_argument(flag_of(path), dest=path, metavar=metavar, help=help_text(path))


def add_run_flags(
    parser: argparse.ArgumentParser, set_example: str, resume_help: str, paths: list[str] | None = None
) -> None:
    """The flags of a command that trains: ``--config``, the settings, ``--set``, ``--resume``, ``--json``."""
    parser.add_argument("--config", metavar="FILE", help="TOML config (as saved by the lab)")
    add_setting_flags(parser, paths)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"any config key, e.g. --set {set_example}",
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help=resume_help)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON summary as the last line of stdout"
    )


def valued_flags() -> set[str]:
    """The setting flags that take a value (the ones a negative number may follow)."""
    return {flag_of(p) for p, _ in iter_fields() if metavar_of(p) is not None}


def attach_negative_numbers(argv: list[str]) -> list[str]:
    """``--lr -1e-5`` -> ``--lr=-1e-5``: argparse would take ``-1e-5`` for an option and say only
    "expected one argument"; attached, the value reaches the validator, which says what is wrong."""
    flags = valued_flags()
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in flags and i + 1 < len(argv) and _is_number(argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def config_from_args(args: argparse.Namespace) -> LabConfig:
    """A ``LabConfig`` from ``--config`` (or the defaults) with the setting flags applied on top."""
    config = LabConfig.load(args.config) if getattr(args, "config", None) else LabConfig()
    values = vars(args)
    for path, _ in iter_fields():
        if values.get(path) is not None:
            config.set(path, values[path])
    for item in getattr(args, "set", []) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise LabError(f"--set needs KEY=VALUE, got '{item}'.")
        config.set(key.strip(), value)
    return config


def refuse_peft_change(args: argparse.Namespace) -> None:
    """A run resumes as it was trained: a ``--peft`` other than the run's is refused.

    Raises:
        LabError: ``--resume`` with a ``--peft`` that differs from the run's ``config.toml``.
    """
    wanted = vars(args).get("model.peft")
    saved = os.path.join(args.resume or "", "config.toml")
    if not args.resume or wanted is None or not os.path.isfile(saved):
        return
    had = LabConfig.load(saved).model.peft
    if wanted != had:
        raise LabError(
            f"{args.resume} was trained with --peft {had} and resumes with it; drop --peft {wanted}, "
            f"or start a new run."
        )


def quiet() -> None:
    """The libraries' own progress bars and warnings off: this command prints its own."""
    from tui_lab.core.imports import quiet_libraries  # imports transformers

    quiet_libraries()


def read_texts(args: list[str]) -> list[str]:
    """The TEXT arguments, ``-`` replaced by stdin's non-empty lines.

    Raises:
        LabError: stdin or an argument that is not UTF-8 text.
    """
    texts: list[str] = []
    for i, text in enumerate(args, 1):
        if text == "-":
            texts.extend(line.rstrip("\r") for line in _stdin_text().split("\n") if line.strip())
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # bytes the locale could not decode (kept as surrogates)
            raise LabError(
                f"TEXT {i} is not UTF-8 text; give it as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
            ) from None
        texts.append(text)
    return texts


def _stdin_text() -> str:
    """All of stdin, decoded as UTF-8.

    Raises:
        LabError: bytes that are not UTF-8.
    """
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text stream that is not a terminal or a pipe (tests)
        return sys.stdin.read()
    data = buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LabError(
            f"stdin is not UTF-8 text (bad byte at line {line}); re-encode it, e.g. iconv -f latin1 -t utf-8."
        ) from None


def install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    """First Ctrl-C or SIGTERM asks the trainer to stop (it saves last/); a second Ctrl-C aborts.

    Returns:
        a function that puts the previous handlers back.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this step (saving last/)... press Ctrl-C again to abort", file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, handler)

    def restore() -> None:
        if threading.current_thread() is threading.main_thread():
            for sig, old in previous.items():
                signal.signal(sig, old)

    return restore


def is_main_rank() -> bool:
    """Whether this process reports (always, except on ranks other than 0 under torchrun)."""
    return os.environ.get("RANK", "0") == "0"


def run_training(
    config: LabConfig,
    args: argparse.Namespace,
    command: str,
    summarize: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    print_summary: Callable[[dict[str, Any]], None] = print,
) -> int:
    """Train ``config`` headless with progress on stderr, Ctrl-C saving ``last/``; the summary on
    stdout (``--json``: one JSON object as the last line). Returns the exit code.

    Args:
        command: the subcommand (``train``, ``pretrain``), named in the resume hint.
        summarize: what of :meth:`RunResult.summary` to report.
        print_summary: prints it when not ``--json``.
    """
    if not args.resume:
        config.raise_if_invalid()
    refuse_peft_change(args)
    quiet()
    stop = threading.Event()
    restore = install_stop_handlers(stop)
    from tui_lab.cli.progress import make_progress_sink
    from tui_lab.core.distill import hooks_for
    from tui_lab.core.training.loop import Trainer  # imports torch

    if not args.resume and is_main_rank():
        warn_if_it_will_not_fit(config)
    hooks = hooks_for(config, args.resume)  # a teacher, if the config names one
    sink = make_progress_sink(sys.stderr) if is_main_rank() else None
    try:
        result = Trainer(config, [sink] if sink else [], stop=stop, resume=args.resume, hooks=hooks).run()
    finally:
        if sink:
            sink.close()
        restore()
    summary = summarize(result.summary())
    if is_main_rank():  # under torchrun only rank 0 reports
        if args.json:
            print(json.dumps(summary))
        else:
            print_summary(summary)
    if result.status == "stopped":
        if is_main_rank() and not result.run_dir:
            print(f"stopped: {result.report.get('reason', 'nothing was saved')}", file=sys.stderr)
        elif is_main_rank():
            print(
                f"stopped: last/ saved; resume with: tui-lab {command} --resume {result.run_dir}",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
    return EXIT_OK


def warn_if_it_will_not_fit(config: LabConfig) -> None:
    """One ``warning:`` line on stderr when the memory plan says the run will not fit (then train).

    A preset trained in full (megabytes) is not planned. A plan that cannot be made says nothing:
    the run itself then reports what is wrong.
    """
    from tui_lab.core.models.presets import is_preset
    from tui_lab.core.training.memory_plan import plan

    if is_preset(config.model.name) and config.model.peft == "none":
        return
    try:
        result = plan(config)
    except Exception:  # the run reports the cause (an unreachable model, a bad setting) itself
        return
    if not result.fits:
        print(f"warning: {render_settings(result.advice, 'flag')}", file=sys.stderr)
