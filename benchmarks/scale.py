"""Data at scale: seconds to the first training step and peak memory at 100k and 1M rows.

Builds CSVs of short review sentences (the UCI sentiment sentences in
``/work/shared/data/uci_sentences`` repeated with light variation, or generated ones when that
folder is absent) in a temporary folder, never in the repository. For each size a fresh
process runs ``Trainer(config, [sink])`` with the defaults and ``--epochs 1``; the sink notes the
time of the first ``step`` event (and the ``baseline`` event's seconds) and sets the stop event,
so the run ends right after its first step. The parent measures from launching the process, and
reads the child's own peak RSS with ``os.wait4``.

``--parts`` also times the data-path pieces one at a time, each in its own process:
``load_data``, the preset tokenizer (learn, then encode all training texts in one call) and
the baseline. Every child starts with empty tokenizer and ``datasets`` caches (a first launch).

Usage::

    python benchmarks/scale.py                       # 100k and 1M rows
    python benchmarks/scale.py --rows 20000,200000   # other sizes
    python benchmarks/scale.py --parts               # also load / tokenizer / baseline alone
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UCI = Path("/work/shared/data/uci_sentences")
ROOT = Path(__file__).resolve().parents[1]
OPENERS = ["", "", "", "Honestly, ", "Overall, ", "Well, ", "To be fair, ", "In short, "]
CLOSERS = ["", "", "", " Really.", " That's it.", " Just saying.", " No more to add.", " Anyway."]
WORDS = "film phone pizza hotel staff book screen plot battery service room sound price".split()
POS = "great good lovely excellent fine nice superb amazing".split()
NEG = "bad awful poor terrible bland broken boring dreadful".split()

DRIVER = r"""
import json, sys, threading, time
from tui_lab.core.config import LabConfig
from tui_lab.core.training.loop import Trainer

csv_path, out = sys.argv[1], sys.argv[2]
cfg = LabConfig()
cfg.data.train = csv_path
cfg.train.epochs = 1
cfg.train.output_dir = out
cfg.train.run_name = "scale"
stop = threading.Event()
seen = {}

def sink(event):
    d = event.to_dict()
    if d["event"] == "step" and "first_step" not in seen:
        seen["first_step"] = time.time()
        stop.set()
    elif d["event"] == "baseline":
        seen["baseline_seconds"] = d.get("seconds")
        seen["baseline_at"] = time.time()
        if "skipped" in d and d["skipped"]:
            seen["baseline_skipped"] = d["skipped"]

Trainer(cfg, [sink], stop=stop).run()
print("RESULT " + json.dumps(seen))
"""

PARTS = r"""
import json, sys, time
from tui_lab.core.config import LabConfig
from tui_lab.core.data.splits import load_data
part, csv_path = sys.argv[1], sys.argv[2]
cfg = LabConfig()
cfg.data.train = csv_path
t0 = time.perf_counter()
bundle = load_data(cfg.data, cfg.train.seed)
took = {"load": time.perf_counter() - t0}
if part == "tokenizer":
    from tui_lab.core.models import loading
    t0 = time.perf_counter()
    tok = loading.build(cfg.model.name, bundle.train.texts, bundle.label_names, cfg.data.max_length,
                         cfg.model.vocab_size)[0]
    took["learn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tok(bundle.train.texts, truncation=True, max_length=cfg.data.max_length)
    took["encode"] = time.perf_counter() - t0
elif part == "baseline":
    from tui_lab.core.training.baseline import run_baseline
    t0 = time.perf_counter()
    r = run_baseline(bundle.train, bundle.dev, bundle.test, bundle.label_names, cfg.train.seed)
    took["baseline"] = time.perf_counter() - t0
    took["baseline_result"] = {k: v for k, v in r.items() if k not in ("dev", "test")}
print("RESULT " + json.dumps(took))
"""


def base_sentences() -> list[tuple[str, str]]:
    """(text, label) pairs: the UCI sentences, or generated ones when they are not here."""
    rows: list[tuple[str, str]] = []
    for path in sorted(UCI.glob("*.csv")) if UCI.is_dir() else []:
        with open(path, encoding="utf-8", newline="") as fh:
            rows += [(r["text"].strip(), r["label"]) for r in csv.DictReader(fh) if r["text"].strip()]
    if rows:
        return rows
    rng = random.Random(0)
    for i in range(3000):
        label = str(i % 2)
        adj = rng.choice(POS if label == "1" else NEG)
        rows.append((f"The {rng.choice(WORDS)} was {adj} and the {rng.choice(WORDS)} too.", label))
    return rows


def write_csv(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` rows of ``text,label`` with light variation around the base sentences."""
    base = base_sentences()
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for _ in range(n):
            text, label = base[rng.randrange(len(base))]
            out.writerow([f"{rng.choice(OPENERS)}{text}{rng.choice(CLOSERS)}", label])
    return path


def run_child(code: str, args: list[str], timeout: float) -> tuple[dict, float, float, float]:
    """(the child's RESULT json, launch time, exit time, peak RSS in MB)."""
    fresh = tempfile.mkdtemp(prefix="tui-lab-scale-cache-")  # a first launch: nothing cached yet
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        TOKENIZERS_PARALLELISM="false",
        TUI_LAB_CACHE=fresh,
        HF_DATASETS_CACHE=fresh + "/datasets",
    )
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    launched = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    ended = time.time()
    shutil.rmtree(fresh, ignore_errors=True)
    # communicate() reaped the child; its peak RSS is in the children's rusage of this process
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"child failed (rc {proc.returncode}):\n{stderr[-3000:]}")
    return json.loads(line[7:]), launched, ended, peak_mb


def measure(n: int, folder: Path, timeout: float) -> dict:
    """First step seconds, peak RSS and baseline seconds for an ``n``-row file (own process)."""
    path = folder / f"reviews_{n}.csv"
    if not path.exists():
        write_csv(path, n)
    # a fresh interpreter per size: RUSAGE_CHILDREN is a maximum over all children, so run each
    # size from its own parent to get that size's peak alone
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import scale; scale._one({n}, {str(folder)!r}, {timeout})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")), None)
    if line is None:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(line[4:])


def _one(n: int, folder: str, timeout: float) -> None:
    path = Path(folder) / f"reviews_{n}.csv"
    runs = Path(folder) / f"runs_{n}"
    shutil.rmtree(runs, ignore_errors=True)  # a kept folder's earlier run
    seen, launched, _, peak = run_child(DRIVER, [str(path), str(runs)], timeout)
    row = {
        "rows": n,
        "first_step_s": seen["first_step"] - launched if "first_step" in seen else None,
        "peak_rss_mb": peak,
        "baseline_s": seen.get("baseline_seconds"),
        "baseline_skipped": seen.get("baseline_skipped"),
        "file_mb": path.stat().st_size / 1e6,
    }
    print("ROW " + json.dumps(row))


def _part(part: str, n: int, folder: str, timeout: float) -> None:
    took, launched, ended, peak = run_child(PARTS, [part, str(Path(folder) / f"reviews_{n}.csv")], timeout)
    print(
        "ROW "
        + json.dumps({"part": part, "rows": n, "peak_rss_mb": peak, "wall_s": ended - launched, **took})
    )


def measure_part(part: str, n: int, folder: Path, timeout: float) -> dict:
    """One data-path piece (load / tokenizer / baseline) alone, in its own process."""
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import scale; scale._part({part!r}, {n}, {str(folder)!r}, {timeout})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")), None)
    if line is None:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(line[4:])


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    print(f"{'rows':>10} {'file MB':>8} {'first step s':>13} {'peak RSS MB':>12} {'baseline s':>11}")
    for r in rows:
        skipped = f"  (baseline skipped: {r['baseline_skipped']})" if r.get("baseline_skipped") else ""
        print(
            f"{r['rows']:>10,} {r['file_mb']:>8.1f} {fmt(r['first_step_s']):>13} "
            f"{r['peak_rss_mb']:>12.0f} {fmt(r['baseline_s']):>11}{skipped}"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        ratio = lambda k: fmt(b[k] / a[k], ".2f") if a.get(k) and b.get(k) else "-"  # noqa: E731
        label = f"x{b['rows'] / a['rows']:g} rows"
        print(
            f"{label:>10} {'':>8} {ratio('first_step_s'):>13} {ratio('peak_rss_mb'):>12} "
            f"{ratio('baseline_s'):>11}   growth {b['rows']:,} / {a['rows']:,}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated sizes (default 100k,1M)")
    parser.add_argument("--parts", action="store_true", help="also time load / tokenizer / baseline alone")
    parser.add_argument("--keep", help="folder for the CSVs and runs (default: a temporary one, removed)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child (default 1800)")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.rows.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="tui-lab-scale-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for n in sizes:
            write_csv(folder / f"reviews_{n}.csv", n)
            rows.append(measure(n, folder, args.timeout))
            print(json.dumps(rows[-1]), file=sys.stderr)
        print_table(rows)
        if args.parts:
            print(f"\n{'part':>10} {'rows':>10} {'seconds':>30} {'peak RSS MB':>12}")
            for n in sizes:
                for part in ("load", "tokenizer", "baseline"):
                    r = measure_part(part, n, folder, args.timeout)
                    secs = " ".join(
                        f"{k} {v:.1f}" for k, v in r.items() if k in ("load", "learn", "encode", "baseline")
                    )
                    print(f"{part:>10} {n:>10,} {secs:>30} {r['peak_rss_mb']:>12.0f}", flush=True)
                    if r.get("baseline_result"):
                        print(f"{'':>10} {json.dumps(r['baseline_result'])}")


if __name__ == "__main__":
    main()
