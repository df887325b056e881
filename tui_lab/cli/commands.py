"""The ``tui-lab`` command: every subcommand registered in one list, and the entry point.

Each subcommand is a module of this package with ``NAME``, ``add_parser(sub)`` and
``run(args) -> exit code``; with no subcommand the lab opens (:mod:`tui_lab.cli.lab`). A user's
error prints one line ``error: ...`` on stderr and exits 2; Ctrl-C (or SIGTERM) during training
saves ``last/`` and exits 130.
"""

from __future__ import annotations

import argparse
import sys

from tui_lab import __version__
from tui_lab.cli import (
    analyze,
    corrections,
    distill,
    env,
    explain,
    export,
    lab,
    plan,
    predict,
    pretrain,
    queue,
    runs,
    serve,
    suggest,
    sweep,
    train,
    watch,
)
from tui_lab.cli import eval as eval_
from tui_lab.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USER,
    Parser,
    add_setting_flags,
    attach_negative_numbers,
)
from tui_lab.core.errors import LabError
from tui_lab.core.settings import render_error

# the subcommands, in the order ``tui-lab --help`` lists them
COMMANDS = [
    train,
    plan,
    pretrain,
    distill,
    sweep,
    queue,
    eval_,
    predict,
    explain,
    analyze,
    corrections,
    suggest,
    export,
    serve,
    runs,
    watch,
    env,
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    p = Parser(
        prog="tui-lab",
        allow_abbrev=False,  # a subcommand's own flag (corrections add --label) is no prefix of a setting's
        description="Fine-tune text classifiers from a terminal. Without a command, opens the lab.",
    )
    p.add_argument("--version", action="version", version=f"tui-lab {__version__}")
    p.add_argument("--config", metavar="FILE", help="a TOML config to prefill the lab's form")
    p.add_argument("--model-dir", metavar="DIR", help="a run or model folder for the console")
    add_setting_flags(p.add_argument_group("settings (prefill the lab's form; see tui-lab train --help)"))
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(attach_negative_numbers(sys.argv[1:] if argv is None else argv))
    runners = {command.NAME: command.run for command in COMMANDS}
    try:
        return runners.get(args.command or "", lab.run)(args)
    except LabError as exc:
        print(f"error: {render_error(exc, 'flag')}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
