"""``tui-lab corrections``: the decisions on a data file's rows, headless.

- ``list --data FILE [--json]``: the decisions that stand (later lines win, undos taken back);
- ``apply --data FILE --out FILE``: a corrected copy in the format of ``--out``, every other
  column kept (the data file itself is never written);
- ``add --data FILE --row N --label L | --drop | --keep | --undo``: one decision, for scripts.

``--corrections PATH`` names the corrections file (default: ``<data file>.corrections.jsonl``).
A bad file, a label the data does not have or a row past the end exit 2 with one line, and
nothing is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tui_lab.cli.common import EXIT_OK

NAME = "corrections"


def add_parser(sub: Any) -> None:
    """Add ``corrections`` and its ``list``, ``apply`` and ``add`` to the CLI's subparsers."""
    p = sub.add_parser(
        NAME,
        help="list, apply or add decisions on a data file's rows (relabel, drop, keep)",
        description="Decisions on rows are kept in <data file>.corrections.jsonl and applied by every run.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=type(p))
    listing = verbs.add_parser("list", help="the decisions that stand")
    applying = verbs.add_parser("apply", help="write a corrected copy of the data file")
    adding = verbs.add_parser("add", help="append one decision on a row")
    for q in (listing, applying, adding):
        q.add_argument("--data", required=True, metavar="FILE", help="the data file the decisions are on")
        q.add_argument(
            "--corrections", metavar="PATH", help="the corrections file (default: beside the data)"
        )
        q.add_argument("--text-column", default="", metavar="NAME")
        q.add_argument("--label-column", default="", metavar="NAME")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    applying.add_argument(
        "--out", required=True, metavar="FILE", help="the corrected copy (.csv .tsv .jsonl .parquet)"
    )
    adding.add_argument(
        "--row", required=True, type=int, metavar="N", help="0-based data row, as analyze reports it"
    )
    what = adding.add_mutually_exclusive_group(required=True)
    what.add_argument("--label", metavar="L", help="relabel the row (several: L1|L2 on multi-label data)")
    what.add_argument("--drop", action="store_true", help="leave the row out of every run")
    what.add_argument("--keep", action="store_true", help="mark the row reviewed, as it is")
    what.add_argument("--undo", action="store_true", help="take back the latest decision on the row")


def _path(args: argparse.Namespace) -> Path:
    from tui_lab.core.data import corrections

    return Path(args.corrections).expanduser() if args.corrections else corrections.default_path(args.data)


def run(args: argparse.Namespace) -> int:
    """Run the verb; exit 0 (a user's error raises and exits 2)."""
    return {"list": _list, "apply": _apply, "add": _add}[args.verb](args)


def _list(args: argparse.Namespace) -> int:
    from tui_lab.core.data import corrections

    found = corrections.read(_path(args))
    standing = list(found.standing().values())
    if args.json:
        print(
            json.dumps(
                {"file": str(found.path), "decisions": standing, "torn": found.torn}, ensure_ascii=False
            )
        )
        return EXIT_OK
    print(f"{len(standing)} decision(s) in {found.path}" + (f" ({found.torn})" if found.torn else ""))
    for r in standing:
        what = corrections_word(r)
        print(f"  row {r['row']:>6}  {what:<20} {r['text'][:70]}")
    return EXIT_OK


def corrections_word(record: dict[str, Any]) -> str:
    """``relabel -> pos``, ``drop``, ``keep``, ``add pos``."""
    label = record.get("label")
    shown = "|".join(map(str, label)) if isinstance(label, list) else str(label)
    return {"relabel": f"relabel -> {shown}", "add": f"add {shown}"}.get(record["action"], record["action"])


def _apply(args: argparse.Namespace) -> int:
    from tui_lab.core.data import corrections
    from tui_lab.core.data.corrected_copy import apply_to_file, write_table
    from tui_lab.core.errors import DataError

    if Path(args.out).expanduser().resolve() == Path(args.data).expanduser().resolve():
        raise DataError(f"--out {args.out} is the data file itself; write the corrected copy elsewhere.")
    found = corrections.read(_path(args))
    table, summary = apply_to_file(args.data, found, (args.text_column, args.label_column))
    out = write_table(table, args.out)
    print(f"{summary.describe()}; {len(table)} rows written to {out}")
    return EXIT_OK


def _add(args: argparse.Namespace) -> int:
    from tui_lab.core.data import corrections
    from tui_lab.core.data.corrected_copy import add

    corrections.read(_path(args))  # a file that is not JSON lines is refused before anything is added
    label: Any = None
    action = "drop" if args.drop else "keep" if args.keep else "undo" if args.undo else "relabel"
    if action == "relabel":
        label = args.label.split("|") if "|" in args.label else args.label
    record = add(args.data, args.row, action, label, _path(args), (args.text_column, args.label_column))
    print(f"row {record['row']}: {corrections_word(record)} -> {_path(args)}")
    return EXIT_OK
