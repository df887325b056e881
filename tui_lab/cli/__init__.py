"""The command-line face: ``tui-lab`` and its subcommands, one module each.

``commands`` registers them in one list (:data:`tui_lab.cli.commands.COMMANDS`) and is the entry point;
``common`` holds what they share (flags generated from the settings, exit codes, Ctrl-C handling,
a headless training run); ``progress`` prints a run's events on a terminal or in a log.
"""

from tui_lab.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]
