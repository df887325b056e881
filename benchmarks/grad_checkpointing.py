"""Peak training memory with and without gradient checkpointing, on the CPU.

Each measure runs in its own process: a model (the ``small-bert`` preset's shape, or a Llama-style
decoder) is built at random, the process's resident memory is read, a few training steps run
(forward, backward, AdamW), and the peak is the process's resident high-water mark
(``ru_maxrss``) minus that reading: what the steps added on top of the model, its activations
above all. glibc is told to ``mmap`` every large block (``MALLOC_MMAP_THRESHOLD_``), so a freed
tensor leaves the resident set at once and the high-water mark follows the live tensors.
The losses of both modes are printed too: they must agree.

    nice -n 10 python benchmarks/grad_checkpointing.py            # both models, 16 x 256 tokens
    python benchmarks/grad_checkpointing.py --batch-size 8 --length 128 --models decoder
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODELS = ("encoder", "decoder")


def build(kind: str, vocab: int = 8000):
    """A random model of ``kind``: small-bert's shape, or a Llama of the same width and depth."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    shape = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024}
    if kind == "encoder":
        config = AutoConfig.for_model("bert", vocab_size=vocab, max_position_embeddings=512, **shape)
    else:
        config = AutoConfig.for_model(
            "llama",
            vocab_size=vocab,
            max_position_embeddings=512,
            num_key_value_heads=4,
            pad_token_id=0,
            **shape,
        )
    config.num_labels = 2
    return AutoModelForSequenceClassification.from_config(config)


def rss_mb() -> float:
    """Resident memory now (MB), from ``/proc/self/statm``."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(kind: str, checkpointing: bool, batch_size: int, length: int, steps: int) -> dict:
    """One measure, in this process."""
    import torch

    from tui_lab.core.models.decoders import prepare_for_training

    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = build(kind)
    prepare_for_training(model, checkpointing)
    model.train()
    ids = torch.randint(5, 8000, (batch_size, length))
    labels = torch.randint(0, 2, (batch_size,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    # AdamW's states are made at its first step: count them in the base, not as activations
    for p in model.parameters():
        optimizer.state[p] = {
            "step": torch.tensor(0.0),
            "exp_avg": torch.zeros_like(p),
            "exp_avg_sq": torch.zeros_like(p),
        }
        p.grad = torch.zeros_like(p)
    base = rss_mb()
    losses, start = [], time.perf_counter()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        losses.append(round(loss.item(), 6))
    seconds = (time.perf_counter() - start) / steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    params = sum(p.numel() for p in model.parameters())
    return {
        "peak_mb": round(peak - base, 1),
        "s_per_step": round(seconds, 3),
        "losses": losses,
        "params": params,
    }


def measure(kind: str, checkpointing: bool, args: argparse.Namespace) -> dict:
    """One measure in a fresh process."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--child", kind, "--batch-size", str(args.batch_size)]
    cmd += ["--length", str(args.length), "--steps", str(args.steps)] + (["--on"] if checkpointing else [])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--on", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.on, args.batch_size, args.length, args.steps)))
        return
    print(f"batch {args.batch_size} x {args.length} tokens, {args.steps} steps, {os.cpu_count()} cores")
    print(
        f"{'model':8} {'params':>8} {'peak off':>9} {'peak on':>8} {'saved':>6} {'s/step off':>10} {'on':>6}  losses agree"
    )
    for kind in args.models.split(","):
        off, on = measure(kind, False, args), measure(kind, True, args)
        agree = all(abs(a - b) <= 1e-4 * max(1.0, abs(a)) for a, b in zip(off["losses"], on["losses"]))
        saved = 1 - on["peak_mb"] / off["peak_mb"]
        print(
            f"{kind:8} {off['params'] / 1e6:7.1f}M {off['peak_mb']:7.0f}MB {on['peak_mb']:6.0f}MB {saved:6.0%} "
            f"{off['s_per_step']:10.2f} {on['s_per_step']:6.2f}  {agree} {off['losses']} {on['losses']}"
        )


if __name__ == "__main__":
    main()
