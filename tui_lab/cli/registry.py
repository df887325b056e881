"""The ``tui-lab`` command: the lab, and headless train / eval / predict / runs / watch.

Imports stay light at the top (no torch, no transformers) so ``tui-lab --help`` answers at once;
each command imports what it needs. A user's error prints one line ``error: ...`` on stderr and
exits 2; Ctrl-C (or SIGTERM) during training saves ``last/`` and exits 130.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from tui_lab import __version__, cli_explain, env_cmd
from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError

EXIT_OK, EXIT_UNEXPECTED, EXIT_USER, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_setting_flags(parser: argparse.ArgumentParser, paths: list[str] | None = None) -> None:
    """One flag per setting, generated from the declaration in :mod:`tui_lab.core.config`.

    Values are kept as typed (``dest`` is the setting's path, default ``None`` = not given) and go
    through ``LabConfig.set``, so every bad value gets the validator's message. A boolean gets a
    ``--flag`` / ``--no-flag`` pair.
    """
    from tui_lab.core.config import flag_of, help_text, iter_fields, metavar_of

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
    from tui_lab.core.config import flag_of, iter_fields, metavar_of

    return {flag_of(p) for p, _ in iter_fields() if metavar_of(p) is not None}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USER)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    p = _Parser(
        prog="tui-lab",
        description="Fine-tune text classifiers from a terminal. Without a command, opens the lab.",
    )
    p.add_argument("--version", action="version", version=f"tui-lab {__version__}")
    p.add_argument("--config", metavar="FILE", help="a TOML config to prefill the lab's form")
    p.add_argument("--model-dir", metavar="DIR", help="a run or model folder for the console")
    add_setting_flags(p.add_argument_group("settings (prefill the lab's form; see tui-lab train --help)"))
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser(
        "train",
        help="train headless (rich progress on a terminal, plain lines otherwise)",
        description="Fine-tune a classifier without the lab. Flags override --config.",
    )
    add_run_flags(t, "train.warmup_ratio=0.06", "continue a stopped or crashed run from its last/")

    e = sub.add_parser("eval", help="evaluate a run or model folder on labelled data")
    e.add_argument("model", metavar="MODEL_OR_RUN_DIR")
    e.add_argument(
        "--data", required=True, metavar="PATH", help="a labelled file (or a folder: its test file)"
    )
    add_setting_flags(e, ["data.text_column", "data.label_column"])
    e.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    e.add_argument("--json", action="store_true")

    pr = sub.add_parser("predict", help="label texts with a run or model folder")
    pr.add_argument("model", metavar="MODEL_OR_RUN_DIR")
    pr.add_argument("texts", nargs="+", metavar="TEXT", help="texts to label; - reads lines from stdin")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    pr.add_argument("--json", action="store_true")

    w = sub.add_parser(
        "watch", help="open the lab's charts on a run another process is writing (or has written)"
    )
    w.add_argument("run_dir", metavar="RUN_DIR")

    r = sub.add_parser("runs", help="list the runs in the output folder")
    r.add_argument("--output-dir", default="runs", metavar="DIR")
    r.add_argument("--json", action="store_true")
    for module in _command_modules():
        module.add_parsers(sub)
    env_cmd.add_parser(sub)
    return p


def _command_modules() -> list[Any]:
    """The modules that add subcommands of their own (``add_parsers`` and ``COMMANDS``)."""
    from tui_lab import cli_analysis, cli_deploy, cli_pretrain

    return [cli_deploy, cli_explain, cli_pretrain, cli_analysis]


# -- entry point ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(_attach_negative_numbers(sys.argv[1:] if argv is None else argv))
    commands = {
        "train": cmd_train,
        "eval": cmd_eval,
        "predict": cmd_predict,
        "runs": cmd_runs,
        "watch": cmd_watch,
        "env": env_cmd.run,
    }
    for module in _command_modules():
        commands.update(module.COMMANDS)
    try:
        return commands.get(args.command or "", cmd_lab)(args)
    except LabError as exc:
        print(f"error: {exc.render('flag')}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def _quiet() -> None:
    """The libraries' own progress bars and warnings off: this command prints its own."""
    from tui_lab.core.imports import quiet_libraries

    quiet_libraries()


def _attach_negative_numbers(argv: list[str]) -> list[str]:
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
    from tui_lab.core.config import iter_fields

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


# -- train -----------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """Headless training with progress; ``--json`` prints the summary as the last stdout line."""
    config = config_from_args(args)
    if not args.resume:
        config.raise_if_invalid()
    _quiet()
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    from tui_lab.progress import make_progress_sink

    sink = make_progress_sink(sys.stderr) if os.environ.get("RANK", "0") == "0" else None
    try:
        from tui_lab.core.train import Trainer

        result = Trainer(config, [sink] if sink else [], stop=stop, resume=args.resume).run()
    finally:
        if sink:
            sink.close()
        restore()
    summary = result.summary()
    if os.environ.get("RANK", "0") != "0":
        pass  # under torchrun only rank 0 reports
    elif args.json:
        print(json.dumps(summary))
    else:
        _print_train_summary(summary)
    if result.status == "stopped":
        if os.environ.get("RANK", "0") == "0":
            print(
                f"stopped: last/ saved; resume with: tui-lab train --resume {result.run_dir}", file=sys.stderr
            )
        return EXIT_INTERRUPTED
    return EXIT_OK


def _install_stop_handlers(stop: threading.Event) -> Any:
    """First Ctrl-C or SIGTERM asks the trainer to stop (it saves last/); a second Ctrl-C aborts."""
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


def _print_train_summary(summary: dict[str, Any]) -> None:
    def fmt(metrics: dict[str, Any] | None) -> str:
        if not metrics:
            return "-"
        return "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))

    print(
        f"run:      {summary['run_dir']}  ({summary['status']}, {summary['epochs_completed']} epochs, "
        f"{summary['train_samples_per_second']:.0f} samples/s)"
    )
    print(f"best dev: {fmt(summary['best'])}")
    if summary["test"]:
        print(f"test:     {fmt(summary['test'])}")
    baseline = summary["baseline"]
    if baseline and "skipped" in baseline:
        print(f"baseline: skipped ({baseline['skipped']})")
    elif baseline:
        sample = f" (fitted on a {baseline['train_rows']:,}-row sample)" if baseline.get("sampled") else ""
        print(f"baseline: TF-IDF + logistic regression dev {fmt(baseline.get('dev'))}{sample}")


# -- eval ------------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    """Metrics of a trained model on a labelled file."""
    _quiet()
    from tui_lab.core.evaluate import evaluate_path

    columns = [getattr(args, p) or "" for p in ("data.text_column", "data.label_column")]
    result = evaluate_path(args.model, args.data, *columns, device=args.device)
    if args.json:
        print(json.dumps(result))
        return EXIT_OK
    print(f"model:     {result['model']}")
    print(f"data:      {result['data']}  (n={result['n']})")
    for key in result["headline"]:
        print(f"{key:<16} {result[key]:.4f}")
    per_type = {k: v for k, v in result.items() if k.startswith("f1/")}
    for key, value in per_type.items():
        print(f"{key:<16} {value:.4f}")
    if "confusion_matrix" not in result:
        return EXIT_OK
    width = max(len(label) for label in result["labels"])
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * (width + 2) + " ".join(f"{label[:8]:>8}" for label in result["labels"]))
    for label, row in zip(result["labels"], result["confusion_matrix"]):
        print(f"{label:>{width}}  " + " ".join(f"{v:>8}" for v in row))
    return EXIT_OK


# -- predict ---------------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    """Label each text; ``-`` reads one text per line from stdin."""
    texts: list[str] = []
    for text in args.texts:
        if text == "-":
            texts.extend(line.rstrip("\n") for line in sys.stdin if line.strip())
        else:
            texts.append(text)
    if not texts:
        raise LabError("no text to label: give TEXT arguments or lines on stdin with -.")
    _quiet()
    from tui_lab.core.masked_lm import load_predictor

    predictor = load_predictor(args.model, args.device)  # a masked LM fills [MASK] instead
    predictions = predictor.predict(texts)
    if args.json:
        print(
            json.dumps(
                {"model": predictor.source, "predictions": [p.to_dict() for p in predictions]},
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    for p in predictions:
        probs = "  ".join(f"{k} {v:.3f}" for k, v in p.probabilities.items())
        print(f"{p.label}\t{p.score:.3f}\t{probs}\t{p.text}")
    return EXIT_OK


# -- runs ------------------------------------------------------------------------------------------
def cmd_runs(args: argparse.Namespace) -> int:
    """The runs in the output folder with status and best metrics."""
    from tui_lab.core.runs import list_runs

    runs = list_runs(args.output_dir)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs]))
        return EXIT_OK
    if not runs:
        print(f"no runs in {args.output_dir}/")
        return EXIT_OK
    import time

    print(f"{'run':<36} {'status':<14} {'model':<24} {'started':<17} {'step':>11}  best")
    for r in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else "-"
        print(
            f"{r.name[:36]:<36} {r.status:<14} {r.model_label[:24]:<24} {started:<17} "
            f"{f'{r.step}/{r.total_steps}':>11}  {_headline(r.best)}"
        )
    return EXIT_OK


def _headline(best: dict[str, Any]) -> str:
    """A run's best dev metrics in a few words, whatever its task: ``acc 0.912 f1 0.910``,
    ``f1_micro 0.95``, ``entity f1 0.98``, ``ppl 41.2``; ``-`` before the first evaluation."""
    shown = [
        (label, best[key], fmt)
        for label, key, fmt in HEADLINE
        if isinstance(best.get(key), (int, float)) and not (key == "f1" and "f1_macro" in best)
    ]
    return "  ".join(f"{label} {value:{fmt}}" for label, value, fmt in shown) or "-"


# (label, metric, format) in the order a run's headline shows them
HEADLINE = (
    ("acc", "accuracy", ".3f"),
    ("f1", "f1_macro", ".3f"),
    ("f1_micro", "f1_micro", ".3f"),
    ("entity f1", "f1", ".3f"),
    ("ppl", "perplexity", ".1f"),
)


# -- watch ---------------------------------------------------------------------------------------
def cmd_watch(args: argparse.Namespace) -> int:
    """Open the lab on a run folder: replay its events, then follow new ones."""
    from tui_lab.core.runs import CONFIG_FILE, EVENTS_FILE

    run_dir = Path(args.run_dir).expanduser()
    if not run_dir.is_dir():
        raise LabError(f"{run_dir} is not a run folder (it does not exist or is a file).")
    if not (run_dir / EVENTS_FILE).exists() and not (run_dir / CONFIG_FILE).exists():
        raise LabError(
            f"{run_dir} has no events.jsonl; give a folder that tui-lab train writes (runs/<name>)."
        )
    config = LabConfig()
    config.train.output_dir = str(run_dir.resolve().parent)
    from tui_lab.ui.app import run_lab

    return run_lab(config, watch=str(run_dir))


# -- the lab ---------------------------------------------------------------------------------------
def cmd_lab(args: argparse.Namespace) -> int:
    """Open the Textual lab, prefilled from ``--config`` and the flags."""
    config = config_from_args(args)
    from tui_lab.ui.app import run_lab

    if args.model_dir and not Path(args.model_dir).exists():
        raise LabError(f"--model-dir {args.model_dir} does not exist.")
    return run_lab(config, model_dir=args.model_dir, config_path=args.config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
