"""The token cache side by side: seconds to the first step with it off, cold and warm.

Writes the 1M-row review CSV of ``scale.py`` (in a temporary folder) and launches
``tui-lab train FILE --max-steps 50`` four times, every other default on, as a user meets it:
the wall time from launching the process to the first ``step`` line in the run's
``events.jsonl`` (then the process is killed: the rest of the run is not measured).

1. ``cold-first``: an empty project cache (``TUI_LAB_CACHE``), with streaming switched off: the
   preset vocabulary is learned and every split tokenised before the first step (what a first
   run did before the training split was tokenised on a thread).
2. ``cold``: another empty cache, as a user meets it: the vocabulary is learned, dev tokenised,
   and the training split tokenised on a thread while its first batches train (then stored).
3. ``warm``: the same cache: vocabulary and token ids read back.
4. ``off``: the same cache with ``--token-cache-mb 0`` and no streaming: the vocabulary read
   back, every split tokenised again (what every run did before the token cache).

It also times, in one process, hashing the training split (the cache key) against tokenising it.
The machine may be shared: the load (``os.getloadavg``) is printed beside the numbers; compare
ratios.

Usage::

    python benchmarks/encode_cache.py                  # 1M rows
    python benchmarks/encode_cache.py --rows 100000    # another size
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale  # noqa: E402  (the benchmark's file generator)

ROOT = Path(__file__).resolve().parents[1]

HASH_VS_ENCODE = r"""
import json, sys, time
from tui_lab.core.config import LabConfig
from tui_lab.core.data.splits import load_data
from tui_lab.core.data.token_cache import content_key, tokenizer_key
from tui_lab.core.data.batching import encode
from tui_lab.core.models import presets
cfg = LabConfig()
cfg.data.train = sys.argv[1]
bundle = load_data(cfg.data, cfg.train.seed)
tok = presets.preset_tokenizer(bundle.train.texts, cfg.model.vocab_size, cfg.data.max_length)
t0 = time.perf_counter()
content_key(bundle.train.texts, bundle.train.labels, tokenizer_key(tok), cfg.data.max_length)
hashed = time.perf_counter() - t0
t0 = time.perf_counter()
encode(tok, bundle.train.texts, cfg.data.max_length)
encoded = time.perf_counter() - t0
print("RESULT " + json.dumps({"rows": len(bundle.train.texts), "hash_s": hashed, "encode_s": encoded}))
"""


NO_STREAM = "(encode first)"
ENCODE_FIRST = r"""
import json, sys
from tui_lab.core.data import streaming
streaming.STREAM_MIN_ROWS = 10**12
from tui_lab.cli import main
sys.exit(main(json.loads(sys.argv[1])))
"""


def first_step(csv_path: Path, runs: Path, name: str, cache: Path, extra: list[str], timeout: float) -> float:
    """Seconds from launching ``tui-lab train`` to the first ``step`` event in its events.jsonl."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TUI_LAB_CACHE=str(cache))
    env["HF_DATASETS_CACHE"] = str(cache / "datasets")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    argv = ["train", "--train", str(csv_path), "--output-dir", str(runs), "--run-name", name]
    argv += ["--max-steps", "50", *[a for a in extra if a != NO_STREAM]]
    cmd = [sys.executable, "-m", "tui_lab", *argv]
    if NO_STREAM in extra:  # what every first run did before streaming: encode all, then train
        cmd = [sys.executable, "-c", ENCODE_FIRST, json.dumps(argv)]
    events = runs / name / "events.jsonl"
    launched = time.time()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        while time.time() - launched < timeout:
            if _has_step(events):
                return time.time() - launched
            if proc.poll() is not None:
                raise SystemExit(
                    f"{name}: the run ended without a step (rc {proc.returncode}):\n{proc.stderr.read()[-3000:]}"
                )
            time.sleep(0.05)
        raise SystemExit(f"{name}: no step within {timeout:.0f} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the baseline's child too
        proc.wait()


def _has_step(events: Path) -> bool:
    try:
        text = events.read_text(encoding="utf-8")
    except OSError:
        return False
    return any(line.startswith('{"event":"step"') for line in text.splitlines())


def hash_vs_encode(csv_path: Path, cache: Path) -> dict:
    """Hashing the training split (the cache key) against tokenising it, in one fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TUI_LAB_CACHE=str(cache), TOKENIZERS_PARALLELISM="true")
    out = subprocess.run(
        [sys.executable, "-c", HASH_VS_ENCODE, str(csv_path)], capture_output=True, text=True, env=env
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(line[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the CSV (default 1M)")
    parser.add_argument(
        "--keep", help="folder for the CSV, cache and runs (default: a temporary one, removed)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run (default 900)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-lab-encode-cache-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / f"reviews_{args.rows}.csv"
        if not csv_path.exists():
            scale.write_csv(csv_path, args.rows)
        cache, runs = folder / "cache", folder / "runs"
        results = {}
        plan = (
            ("cold-first", folder / "cache-encode-first", [NO_STREAM]),
            ("cold", cache, []),
            ("warm", cache, []),
            ("off", cache, ["--token-cache-mb", "0", NO_STREAM]),
        )
        for name, cache_dir, extra in plan:
            load = os.getloadavg()[0]
            results[name] = first_step(csv_path, runs, name, cache_dir, extra, args.timeout)
            print(
                f"{name:>5}: first step {results[name]:6.1f} s   (load average before: {load:.2f})",
                flush=True,
            )
        parts = hash_vs_encode(csv_path, cache)
        print(
            f"\n{args.rows:,} rows: warm / off {results['warm'] / results['off']:.2f}, "
            f"warm / cold {results['warm'] / results['cold']:.2f}, "
            f"cold streamed / cold encoding first {results['cold'] / results['cold-first']:.2f}; hashing {parts['rows']:,} training "
            f"texts {parts['hash_s']:.2f} s vs tokenising them {parts['encode_s']:.2f} s "
            f"({parts['encode_s'] / parts['hash_s']:.0f}x)"
        )


if __name__ == "__main__":
    main()
