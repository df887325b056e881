#!/usr/bin/env bash
# GPU smoke test for tui-lab: on a GPU box, run this first (under 5 minutes on one GPU).
#
#   bash benchmarks/gpu_smoke.sh            # PYTHON=/path/to/python to pick the interpreter
#
# Each check prints one line, PASS / FAIL / SKIP, through the real CLI (tui-lab train / predict)
# on tiny-bert and a small copy of sample_data/sentiment written to a temporary folder:
#   bf16 and fp16 runs (fp16 keeps its loss-scaler state in last/), a device event with every
#   NVML reading, the predictor on the GPU, stop then resume GPU->CPU and CPU->GPU, fine-tuning
#   a half-precision checkpoint (trained in fp32), resume with fewer visible GPUs, and a
#   2-process NCCL torchrun; large models: a decoder classifier (SMOKE_DECODER, default
#   Qwen/Qwen2.5-0.5B) with LoRA in bf16 and with QLoRA through tui-lab train (SKIP where the hub
#   is out of reach or bitsandbytes is missing), and benchmarks/plan_vs_peak.py on a local random
#   decoder: gradient checkpointing's memory drop and the memory plan within ±15% of
#   torch.cuda.max_memory_allocated. A check that needs more GPUs than the box has prints SKIP; a
#   CPU-only machine prints only SKIP lines and exits 0. Any FAIL makes the exit status 1.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python || command -v python3)}
FAILS=0
CHECKS=(
  "bf16 run"
  "fp16 run, scaler state in last/"
  "device event with util/mem/temp/power"
  "predictor on the GPU"
  "stop on GPU, resume on CPU"
  "stop on CPU, resume on GPU"
  "fine-tune a half-precision checkpoint in fp32"
  "resume with fewer visible GPUs"
  "2-process NCCL torchrun"
  "decoder classifier with LoRA in bf16"
  "decoder classifier with QLoRA"
  "gradient checkpointing lowers the peak"
  "memory plan within ±15% of the measured peak"
)
DECODER=${SMOKE_DECODER:-Qwen/Qwen2.5-0.5B}

say() { echo "$1 $2${3:+ ($3)}"; }
verdict() { # verdict NAME STATUS [WHY]
  if [ "$2" -eq 0 ]; then say PASS "$1"; else say FAIL "$1" "${3:-}"; FAILS=$((FAILS + 1)); fi
}

if ! NGPU=$("$PY" -c 'import torch, tui_lab; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)'); then
  echo "FAIL cannot import torch and tui_lab with $PY (set PYTHON=...)"
  exit 1
fi
if [ "$NGPU" -eq 0 ]; then
  for c in "${CHECKS[@]}"; do say SKIP "$c" "no CUDA GPU"; done
  exit 0
fi

TMP=$(mktemp -d)
trap '[ "$FAILS" -eq 0 ] && [ -z "${SMOKE_KEEP:-}" ] && rm -rf "$TMP"' EXIT
"$PY" - "$TMP/data" <<'PY'
import csv, sys
from pathlib import Path
out = Path(sys.argv[1]); out.mkdir(parents=True)
rows = list(csv.reader(open("sample_data/sentiment/train.csv", encoding="utf-8")))
header, body = rows[0], rows[1:]
for name, part in (("train.csv", body[:1200]), ("dev.csv", body[1200:1400])):
    with open(out / name, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *part])
PY
DATA="$TMP/data"
OUT="$TMP/runs"
FLAGS=(--train "$DATA" --model tiny-bert --max-length 64 --batch-size 32 --no-baseline --patience 0 --output-dir "$OUT" --json)

train() { # train NAME LOG [flags...]: tui-lab train, stdout+stderr to LOG
  local name=$1 log=$2; shift 2
  "$PY" -m tui_lab train "${FLAGS[@]}" --run-name "$name" "$@" >"$log" 2>&1
}

jq_py() { # jq_py RUN_DIR 'python expression over events (list of dicts) and run (Path)'
  "$PY" - "$1" "$2" <<'PY'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
events = [json.loads(l) for l in (run / "events.jsonl").read_text().splitlines() if l.strip()]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

stop_after_first_step() { # stop_after_first_step NAME: touch STOP once a step is logged
  local events="$OUT/$1/events.jsonl"
  for _ in $(seq 1 600); do
    if [ -f "$events" ] && grep -q '"event":"step"' "$events"; then touch "$OUT/$1/STOP"; return 0; fi
    sleep 0.1
  done
  return 1
}

stop_then_resume() { # stop_then_resume NAME START_GPUS RESUME_GPUS: "" means no GPU visible
  local name=$1 start=$2 again=$3
  CUDA_VISIBLE_DEVICES=$start "$PY" -m tui_lab train "${FLAGS[@]}" --run-name "$name" --device auto --precision auto \
    --epochs 2 --batch-size 8 --logging-steps 1 >"$TMP/$name.1.log" 2>&1 &
  local pid=$!
  stop_after_first_step "$name" || { kill "$pid"; wait "$pid"; echo "no step logged in 60 s"; return 1; }
  wait "$pid"; local rc=$?
  [ "$rc" -eq 130 ] && [ -d "$OUT/$name/last" ] || { echo "first leg exit $rc"; return 1; }
  CUDA_VISIBLE_DEVICES=$again "$PY" -m tui_lab train --resume "$OUT/$name" --json >"$TMP/$name.2.log" 2>&1 \
    || { echo "resume exit $?: $(tail -n 1 "$TMP/$name.2.log")"; return 1; }
  jq_py "$OUT/$name" "sum(e['event'] == 'run_started' for e in events) == 2 and any(e['event'] == 'run_finished' and e['status'] == 'completed' for e in events)"
}

ALL=$(seq -s, 0 $((NGPU - 1)))
CAP=$("$PY" -c 'import torch; print(int(torch.cuda.get_device_capability(0) >= (8, 0)))')

# 1. bf16
if [ "$CAP" -eq 1 ]; then
  train bf16 "$TMP/bf16.log" --device cuda:0 --precision bf16 --epochs 1
  rc=$?; [ $rc -eq 0 ] && jq_py "$OUT/bf16" "any(e.get('precision') == 'bf16' for e in events if e['event'] == 'run_started')"
  verdict "${CHECKS[0]}" $? "$(tail -n 1 "$TMP/bf16.log")"
else
  say SKIP "${CHECKS[0]}" "GPU 0 is older than compute capability 8.0"
fi

# 2. fp16 (the GradScaler's state goes into last/)
train fp16 "$TMP/fp16.log" --device cuda:0 --precision fp16 --epochs 1
rc=$?; [ $rc -eq 0 ] && [ -f "$OUT/fp16/last/scaler.pt" ]
verdict "${CHECKS[1]}" $? "$(tail -n 1 "$TMP/fp16.log")"

# 3. a device event with every reading
jq_py "$OUT/fp16" "any(e['event'] == 'device' and all(e.get(k) is not None for k in ('utilization', 'memory_used_mb', 'temperature_c', 'power_w')) and e.get('gpus') for e in events)"
verdict "${CHECKS[2]}" $? "no device event with util, memory, temperature and power"

# 4. the predictor on the GPU (bf16 autocast on Ampere+), then the CLI's predict
"$PY" - "$OUT/fp16" >"$TMP/predict.log" 2>&1 <<'PY' && "$PY" -m tui_lab predict "$OUT/fp16" "great place" --json >>"$TMP/predict.log" 2>&1
import sys, torch
from tui_lab.core.deploy.predictor import Predictor
p = Predictor.from_path(sys.argv[1], "cuda:0")
assert next(p.model.parameters()).device.type == "cuda", "model not on the GPU"
want = torch.bfloat16 if torch.cuda.get_device_capability(0) >= (8, 0) else None
assert p.autocast_dtype == want, p.autocast_dtype
assert p.predict(["great place", "awful room"])[0].label
PY
verdict "${CHECKS[3]}" $? "$(tail -n 1 "$TMP/predict.log")"

# 5-6. stop and resume across devices (the run's device is auto, so it follows what is visible)
why=$(stop_then_resume gpu2cpu 0 "")
verdict "${CHECKS[4]}" $? "$why"
why=$(stop_then_resume cpu2gpu "" 0)
verdict "${CHECKS[5]}" $? "$why"

# 7. fine-tuning a model saved in bf16 trains fp32 weights
"$PY" - "$TMP/half" <<'PY' >"$TMP/half.log" 2>&1
import sys, torch
from transformers import BertConfig, BertForSequenceClassification
from tui_lab.core.models import presets
texts = [l for l in open("sample_data/sentiment/train.csv", encoding="utf-8")][1:400]
tok = presets.train_wordpiece(texts, vocab_size=2000, max_length=64)
cfg = BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=128, max_position_embeddings=64)
BertForSequenceClassification(cfg).to(torch.bfloat16).save_pretrained(sys.argv[1])
tok.save_pretrained(sys.argv[1])
PY
train half "$TMP/half.train.log" --model "$TMP/half" --device cuda:0 --precision auto --epochs 1 --lr 1e-3
rc=$?; [ $rc -eq 0 ] && "$PY" -c '
import sys; from safetensors import safe_open
f = safe_open(sys.argv[1], "pt"); sys.exit(0 if {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"F32"} else 1)' \
  "$OUT/half/best/model.safetensors"
verdict "${CHECKS[6]}" $? "$(tail -n 1 "$TMP/half.train.log")"

# 8-9. need two GPUs
if [ "$NGPU" -ge 2 ]; then
  why=$(stop_then_resume fewer "$ALL" 1)
  verdict "${CHECKS[7]}" $? "$why"
  "$PY" -m torch.distributed.run --standalone --nproc_per_node=2 -m tui_lab train "${FLAGS[@]}" \
    --run-name ddp --device auto --precision auto --epochs 1 >"$TMP/ddp.log" 2>&1
  rc=$?; [ $rc -eq 0 ] && jq_py "$OUT/ddp" "any(e.get('world_size') == 2 for e in events if e['event'] == 'run_started')"
  verdict "${CHECKS[8]}" $? "$(tail -n 1 "$TMP/ddp.log")"
else
  say SKIP "${CHECKS[7]}" "needs 2 GPUs, $NGPU visible"
  say SKIP "${CHECKS[8]}" "needs 2 GPUs, $NGPU visible"
fi

# 10-11. a decoder LLM as a classifier: LoRA in bf16, then QLoRA (a 4-bit base), from the hub
if ! "$PY" -c 'import sys; from tui_lab.core import hub; sys.exit(hub.probe(sys.argv[1]) != "ok")' "$DECODER"; then
  say SKIP "${CHECKS[9]}" "the hub is out of reach for $DECODER"
  say SKIP "${CHECKS[10]}" "the hub is out of reach for $DECODER"
else
  DEC=(--model "$DECODER" --device cuda:0 --max-steps 20 --max-length 64 --batch-size 16 --lr 2e-4)
  if [ "$CAP" -eq 1 ]; then
    train lora "$TMP/lora.log" "${DEC[@]}" --peft lora --precision bf16
    rc=$?; [ $rc -eq 0 ] && [ -f "$OUT/lora/best/adapter_config.json" ] && "$PY" -c '
import sys; from transformers import pipeline
assert pipeline("text-classification", model=sys.argv[1], device=0)("great place")[0]["label"]' "$OUT/lora/best" >>"$TMP/lora.log" 2>&1
    verdict "${CHECKS[9]}" $? "$(tail -n 1 "$TMP/lora.log")"
  else
    say SKIP "${CHECKS[9]}" "GPU 0 is older than compute capability 8.0"
  fi
  if "$PY" -c 'import bitsandbytes' 2>/dev/null; then
    train qlora "$TMP/qlora.log" "${DEC[@]}" --peft qlora
    rc=$?; [ $rc -eq 0 ] && [ -f "$OUT/qlora/best/adapter_config.json" ]
    verdict "${CHECKS[10]}" $? "$(tail -n 1 "$TMP/qlora.log")"
  else
    say SKIP "${CHECKS[10]}" "bitsandbytes is not installed (pip install 'tui-lab[qlora]')"
  fi
fi

# 12-13. checkpointing's memory drop and the plan against the measured peak (no hub needed)
"$PY" benchmarks/plan_vs_peak.py >"$TMP/plan.out" 2>"$TMP/plan.log"
rc=$?
if [ "$(grep -c -E '^(PASS|FAIL|SKIP) ' "$TMP/plan.out")" -eq 2 ]; then
  cat "$TMP/plan.out"
  FAILS=$((FAILS + $(grep -c '^FAIL ' "$TMP/plan.out")))
else
  verdict "${CHECKS[11]}" 1 "plan_vs_peak.py exit $rc: $(tail -n 1 "$TMP/plan.log")"
  verdict "${CHECKS[12]}" 1 "see $TMP/plan.log"
fi

[ "$FAILS" -eq 0 ] || { echo "$FAILS check(s) failed; logs were in $TMP"; exit 1; }
