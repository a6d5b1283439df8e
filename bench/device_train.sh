#!/usr/bin/env bash
# device_train.sh B_DIR REPORT -- the training half of a device session (issues #6 and #14), called by
# device_check.sh (ONLY=train: about 6 minutes in all) after bench_e2e has written its random GLiNER-small model to
# /tmp/gliner_e2e/small:
#   1. parity, fp32: 20 steps of the tiny BERT and DeBERTa fixtures on the CPU and on CUDA from the same start
#      (--fp32, dropout 0 in the fixtures: the same batches and function); per step the losses must agree within 1e-4
#      relative and the gradient norms within 1e-3 -- with the default kernels and with the issue-14 switches
#      (GLINER_ATTN_BWD=v2 GLINER_GRAD_REDUCE=v2 GLINER_LSTM_BWD=v2) -- and with training.gradient_checkpointing on CUDA;
#   2. bf16: the same 20 steps on CUDA with training.bf16 (bf16 matrix products) against 3 CPU fp32 runs with other
#      data seeds: the mean loss of the last 10 steps must lie within the CPU runs' range widened by half its width;
#   3. throughput: `gliner train --device cuda` on GLiNER-small (random weights, the fixtures' DeBERTa-v3 tokenizer)
#      with CoNLL-2003 train at batch 8 and 32 for STEPS steps (training.bf16 as train.py sets it), the default
#      kernels, the switches, and at batch 32 the switches with gradient checkpointing; then the pinned reference
#      trainer (bench/bench_train_reference.py --device cuda --bf16: torch autocast, train.py's bf16=True) on the
#      same model, data and steps. samples/s, tokens/s, MFU (6 x parameters x tokens/s over the card's dense bf16
#      peak, 989 TFLOP/s on H100 SXM and H200: attention and span-head FLOPs not counted, so it is a lower bound)
#      and the peak GPU memory (nvidia-smi's memory.used, sampled every 100 ms: the CUDA context included for both);
#   4. bench/results/train_headline.json = {"date", "commit", "gpu", "model", "batch", "gliner_samples_s",
#      "reference_samples_s", "ratio", "mfu"} at batch 32 (the faster of our two kernel sets; "config" says which);
#      a figure that is missing stays null.
# Needs: bench/data/conll2003_train.json (made here by scripts/conll_to_train.py; carried), .deps/wheels for the
#        reference (device_deps.sh). STEPS (40), TRAIN_S (budget seconds, 150). MINILM=DIR (optional): a GLiNER
#        model on the real all-MiniLM-L6-v2 backbone (scripts/make_minilm_gliner.py), timed the same way.
set -uo pipefail
B=$1 REPORT=$2
STEPS=${STEPS:-40}
TRAIN_S=${TRAIN_S:-150}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
say() { echo "$*" | tee -a "$REPORT"; }
t0=$(date +%s)
left() { echo $(( TRAIN_S - ($(date +%s) - t0) )); }
TMP=$(mktemp -d /tmp/device_train.XXXX)
SWITCHES="GLINER_ATTN_BWD=v2 GLINER_GRAD_REDUCE=v2 GLINER_LSTM_BWD=v2"
cat >"$TMP/tiny.json" <<'J'
[{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "in", "June", "."], "ner": [[0, 1, "person"], [3, 3, "location"], [5, 5, "date"]]},
 {"tokenized_text": ["Apple", "hired", "Tim", "Cook", "."], "ner": [[0, 0, "organization"], [2, 3, "person"]]},
 {"tokenized_text": ["Marie", "Curie", "won", "the", "Nobel", "Prize", "in", "1903", "."], "ner": [[0, 1, "person"], [4, 5, "award"], [7, 7, "date"]]},
 {"tokenized_text": ["Tokyo", "and", "Osaka", "are", "in", "Japan", "."], "ner": [[0, 0, "location"], [2, 2, "location"], [5, 5, "country"]]},
 {"tokenized_text": ["Siemens", "opened", "a", "plant", "in", "Munich", "last", "year", "."], "ner": [[0, 0, "organization"], [5, 5, "location"], [6, 7, "date"]]},
 {"tokenized_text": ["Lionel", "Messi", "joined", "Inter", "Miami", "."], "ner": [[0, 1, "person"], [3, 4, "organization"]]}]
J
sed 's/^training:/training:\n  gradient_checkpointing: true/' configs/tiny/uni_encoder_span.yaml >"$TMP/tiny_ckpt.yaml"
sed 's/^training:/training:\n  gradient_checkpointing: true/' configs/uni_encoder_span.yaml >"$TMP/ckpt.yaml"
say ""
say "training on the GPU (budget ${TRAIN_S} s):"

# ---- 1. + 2. parity and bf16
tiny() { # NAME MODEL DEVICE YAML SEED PRECISION(fp32|bf16) ENV... : 20 steps, every step logged
  local name=$1 model=$2 dev=$3 yaml=$4 seed=$5 prec=$6; shift 6
  local fp=--fp32; [ $prec = bf16 ] && fp=
  env "$@" ./$B/gliner train "$yaml" --model tests/fixtures/models/$model --train-data "$TMP/tiny.json" --steps 20 \
    --batch-size 2 --log-every 1 --no-save --seed "$seed" --device "$dev" $fp --output "$TMP/p_$name" >"$TMP/p_$name.log" 2>&1
  echo $?
}
for model in uni_span_bert_markerV0 uni_span_deberta_markerV0; do
  [ "$(left)" -le 60 ] && { say "parity $model: skipped (budget)"; continue; }
  Y=configs/tiny/uni_encoder_span.yaml
  r=$(tiny cpu_$model $model cpu $Y 7 fp32 X=1)$(tiny cuda_$model $model cuda $Y 7 fp32 X=1)
  r=$r$(tiny v2_$model $model cuda $Y 7 fp32 $SWITCHES)$(tiny ck_$model $model cuda "$TMP/tiny_ckpt.yaml" 7 fp32 X=1)
  r=$r$(tiny bf16_$model $model cuda $Y 7 bf16 X=1)
  for s in 8 9 10; do r=$r$(tiny seed${s}_$model $model cpu $Y $s fp32 X=1); done
  say "runs of $model (cpu, cuda, cuda+switches, cuda+checkpointing, cuda bf16, cpu seeds 8-10): rc $r"
  python3 - "$TMP" "$model" <<'PY' | tee -a "$REPORT"
import json, sys
t, m = sys.argv[1], sys.argv[2]
def log(name):
    try:
        return [json.loads(l) for l in open(f"{t}/p_{name}_{m}/train_log.jsonl") if '"loss"' in l]
    except OSError:
        return []
cpu = log("cpu")
for name in ("cuda", "v2", "ck"):
    g = log(name)
    if len(g) != 20 or len(cpu) != 20:
        print(f"  {m} {name}: {len(g)} / {len(cpu)} logged steps -> INCOMPLETE")
        continue
    wl = max(abs(a["loss"] - b["loss"]) / max(abs(b["loss"]), 1e-12) for a, b in zip(g, cpu))
    wg = max(abs(a["grad_norm"] - b["grad_norm"]) / max(abs(b["grad_norm"]), 1e-12) for a, b in zip(g, cpu))
    ok = wl <= 1e-4 and wg <= 1e-3
    print(f"  {m} {name} vs cpu, fp32, 20 steps: loss worst rel {wl:.2e} (1e-4), grad norm worst rel {wg:.2e} (1e-3)"
          f" -> {'OK' if ok else 'MISMATCH'}")
bf = log("bf16")
seeds = [log(f"seed{s}") for s in (8, 9, 10)] + [cpu]
if len(bf) == 20 and all(len(s) == 20 for s in seeds):
    mean = lambda l: sum(e["loss"] for e in l[-10:]) / 10
    ms = [mean(s) for s in seeds]
    lo, hi = min(ms), max(ms)
    w = (hi - lo) / 2
    ok = lo - w <= mean(bf) <= hi + w
    print(f"  {m} bf16 on cuda: mean loss of steps 11-20 {mean(bf):.4f}; 4 CPU fp32 seeds {lo:.4f} .. {hi:.4f}"
          f" -> {'OK' if ok else 'OUTSIDE'}")
else:
    print(f"  {m} bf16: incomplete runs")
PY
done

# ---- 3. throughput
DATA=bench/data/conll2003_train.json
SMALL=/tmp/gliner_e2e/small
if [ ! -f "$DATA" ] || [ ! -f "$SMALL/model.safetensors" ]; then
  say "throughput: skipped (need $DATA and $SMALL)"; exit 0
fi
python3 bench/setup_bench_model.py "$SMALL" >"$TMP/setup.log" 2>&1 || say "throughput: the tokenizer setup failed"
# ---- 3a. data parallel on one GPU (issue 15): the NCCL path at world size 1 (GLINER_DDP=1) trains the bytes of the
#      plain path; GLiNER-small's buckets timed in its backward (GLINER_DDP_TRACE: CUDA events) and the 8-GPU
#      efficiency bench/ddp_scaling.py predicts from them (8x H100 NVLink: 450 GB/s NCCL all-reduce busbw)
if [ "$(left)" -gt 90 ]; then
  sed 's/^training:/training:\n  zero_stage: 1\n  ddp_bucket_cap_mb: 0.002/' configs/tiny/uni_encoder_span.yaml >"$TMP/w1z.yaml"
  for mode in plain ddp zero; do
    y=configs/tiny/uni_encoder_span.yaml
    [ $mode = zero ] && y="$TMP/w1z.yaml"
    env $([ $mode != plain ] && echo GLINER_DDP=1) ./$B/gliner train "$y" \
      --model tests/fixtures/models/uni_span_bert_markerV0 --train-data tests/fixtures/train_ddp/data.json --no-shuffle \
      --steps 6 --fp32 --device cuda --output "$TMP/w1_$mode" >"$TMP/w1_$mode.log" 2>&1 || tail -3 "$TMP/w1_$mode.log" | tee -a "$REPORT"
  done
  for mode in ddp zero; do
    if cmp -s "$TMP/w1_plain/checkpoint-6/model.safetensors" "$TMP/w1_$mode/checkpoint-6/model.safetensors" &&
       cmp -s "$TMP/w1_plain/checkpoint-6/optimizer.safetensors" "$TMP/w1_$mode/checkpoint-6/optimizer.safetensors"; then
      say "data parallel ($mode), NCCL world size 1: 6 steps, the plain path's model and optimizer bytes ($(grep -o '^gradients: .*' "$TMP/w1_$mode.log" | head -1))"
    else
      say "data parallel ($mode), NCCL world size 1: DIFFERS from the plain path (or failed): $(grep -E '^gradients|error' "$TMP/w1_$mode.log" | head -2)"
    fi
  done
  GLINER_DDP=1 GLINER_DDP_TRACE="$TMP/ddp_trace" ./$B/gliner train configs/uni_encoder_span.yaml --model "$SMALL" \
    --train-data "$DATA" --steps 12 --batch-size 8 --device cuda --no-save --output "$TMP/ddp_small" >"$TMP/ddp_small.log" 2>&1
  python3 bench/ddp_scaling.py "$TMP/ddp_trace.rank0" --gpus 8 2>&1 | sed 's/^/    /' | tee -a "$REPORT"
  cp "$TMP/ddp_trace.rank0" "${LOGDIR:-/tmp}/ddp_trace_small.jsonl" 2>/dev/null
fi
mem_start() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$TMP/mem_$1" 2>/dev/null & MEMPID=$!; }
mem_stop() { kill $MEMPID 2>/dev/null; wait $MEMPID 2>/dev/null; sort -n "$TMP/mem_$1" 2>/dev/null | tail -1; }
ROWS="$TMP/rows.csv"
echo "who,model,batch,config,samples_s,tokens_s,mfu,peak_mib" >"$ROWS"
ours() { # LABEL MODEL BATCH YAML ENV...
  local label=$1 model=$2 bs=$3 yaml=$4; shift 4
  local np=$(./$B/gliner info "$model" 2>/dev/null | grep -oE '[0-9]+ parameters' | head -1 | grep -oE '[0-9]+')
  mem_start "$label"
  env "$@" ./$B/gliner train "$yaml" --model "$model" --train-data "$DATA" --steps $STEPS --batch-size $bs \
    --device cuda --no-save --log-every $STEPS --output "$TMP/o_$label" >"$TMP/o_$label.log" 2>&1
  local rc=$? peak=$(mem_stop "$label")
  local sps=$(grep -oE 'training alone [0-9.]+ s, [0-9.]+ samples/s' "$TMP/o_$label.log" | grep -oE '[0-9.]+ samples' | grep -oE '[0-9.]+')
  local tps=$(grep -oE '[0-9]+ tok/s' "$TMP/o_$label.log" | tail -1 | grep -oE '[0-9]+')
  local mfu=$(python3 -c "print(f'{6*${np:-0}*${tps:-0}/($PEAK_TFLOPS*1e12)*100:.2f}')" 2>/dev/null)
  say "| gliner.c $label (rc $rc) | $bs | $STEPS | ${sps:-?} | ${tps:-?} | ${mfu:-?}% | ${peak:-?} MiB |"
  [ $rc -ne 0 ] && tail -3 "$TMP/o_$label.log" | tee -a "$REPORT"
  grep -E '^memory:' "$TMP/o_$label.log" | sed 's/^/    /' | tee -a "$REPORT"
  echo "gliner,$(basename "$model"),$bs,$label,${sps:-},${tps:-},${mfu:-},${peak:-}" >>"$ROWS"
}
SITE=/tmp/refsite # the pinned reference (device_check.sh's, when its reference section ran)
bash bench/reference_site.sh $SITE "$TMP/pip.log" | tee -a "$REPORT"
ref() { # MODEL BATCH
  local model=$1 bs=$2 label=ref_$(basename "$1")_$2
  mem_start "$label"
  PYTHONPATH=$SITE PYTHONUNBUFFERED=1 timeout $(( $(left) > 30 ? $(left) : 30 )) python3 bench/bench_train_reference.py \
    --model "$model" --train "$DATA" --steps $STEPS --batch-size $bs --device cuda --bf16 --no-eval \
    --out "$TMP/$label.json" >"$TMP/$label.log" 2>&1
  local rc=$? peak=$(mem_stop "$label")
  local sps=$(python3 -c "import json; print(json.load(open('$TMP/$label.json'))['samples_per_s'])" 2>/dev/null)
  local tmem=$(python3 -c "import json; print(json.load(open('$TMP/$label.json'))['peak_mem_mib'])" 2>/dev/null)
  say "| reference (rc $rc) | $bs | $STEPS | ${sps:-?} | | | ${peak:-?} MiB (torch max allocated ${tmem:-?} MiB) |"
  [ $rc -ne 0 ] && tail -5 "$TMP/$label.log" | tee -a "$REPORT"
  echo "reference,$(basename "$model"),$bs,bf16 autocast,${sps:-},,,${peak:-}" >>"$ROWS"
}
for model in "$SMALL" ${MINILM:-}; do
  say ""
  say "$(basename "$model"): | trainer | batch | steps | samples/s | tokens/s | MFU (6N tok/s / ${PEAK_TFLOPS} TF) | peak GPU memory |"
  say "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for bs in 8 32; do
    [ "$(left)" -le 40 ] && { say "| gliner.c | $bs | - | skipped (budget) | | | |"; continue; }
    ours default $model $bs configs/uni_encoder_span.yaml X=1
    [ "$(left)" -gt 40 ] && ours switches $model $bs configs/uni_encoder_span.yaml $SWITCHES
    [ $bs = 32 ] && [ "$(left)" -gt 40 ] && ours switches+ckpt $model $bs "$TMP/ckpt.yaml" $SWITCHES
  done
  for bs in 8 32; do
    [ "$(left)" -le 40 ] && { say "| reference | $bs | - | skipped (budget) | | | |"; continue; }
    ref $model $bs
  done
done
cp "$ROWS" "${LOGDIR:-/tmp}/train_rows.csv" 2>/dev/null

# ---- 4. the headline
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
python3 - "$ROWS" "$GPU" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY' | tee -a "$REPORT"
import csv, json, sys, time
rows, gpu, commit = sys.argv[1], sys.argv[2], sys.argv[3]
r = [x for x in csv.DictReader(open(rows)) if x["model"] == "small" and x["batch"] == "32"]
f = lambda v: float(v) if v else None
ours = [x for x in r if x["who"] == "gliner" and f(x["samples_s"])]
best = max(ours, key=lambda x: f(x["samples_s"])) if ours else None
ref = next((x for x in r if x["who"] == "reference" and f(x["samples_s"])), None)
h = {"date": time.strftime("%Y-%m-%d"), "commit": commit, "gpu": gpu, "model": "GLiNER-small (random weights)",
     "batch": 32, "gliner_samples_s": f(best["samples_s"]) if best else None,
     "reference_samples_s": f(ref["samples_s"]) if ref else None, "ratio": None,
     "mfu": f(best["mfu"]) / 100 if best and best["mfu"] else None, "config": best["config"] if best else None}
if h["gliner_samples_s"] and h["reference_samples_s"]:
    h["ratio"] = round(h["gliner_samples_s"] / h["reference_samples_s"], 3)
json.dump(h, open("bench/results/train_headline.json", "w"), indent=1)
print("train headline:", json.dumps(h))
PY
cp "$TMP"/*.log "${LOGDIR:-/tmp}/" 2>/dev/null
exit 0
