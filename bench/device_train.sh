#!/usr/bin/env bash
# device_train.sh B_DIR REPORT -- the training half of a device session (issue #6), called by device_check.sh
# after bench_e2e has written its random GLiNER-small model to /tmp/gliner_e2e/small:
#   1. CPU vs GPU: 12 steps of the tiny BERT fixture on both backends from the same start, fp32 (--fp32); the per-step
#      losses must agree within 1e-3 relative (same batches, same dropout masks: dropout 0 in the fixture);
#   2. throughput: `gliner train --device cuda` on GLiNER-small (random weights) with CoNLL-2003 train at batch 8
#      and 32 for STEPS steps (training.bf16 as train.py sets it: bf16 matrix products), then the pinned reference trainer (bench/bench_train_reference.py --device cuda)
#      with --bf16 (torch autocast, as train.py's bf16=True) on the same model, data and steps; samples/s, tokens/s
#      and an MFU estimate (6 * parameters * tokens / s over the H200's dense bf16 peak, 989 TFLOP/s: attention and
#      the span head are not counted).
# Needs: bench/data/conll2003_train.json (made here by scripts/conll_to_train.py; copied into the snapshot),
#        .deps/wheels for the reference (device_deps.sh). STEPS (40), TRAIN_S (budget seconds, 150).
set -uo pipefail
B=$1 REPORT=$2
STEPS=${STEPS:-40}
TRAIN_S=${TRAIN_S:-150}
say() { echo "$*" | tee -a "$REPORT"; }
t0=$(date +%s)
left() { echo $(( TRAIN_S - ($(date +%s) - t0) )); }
TMP=$(mktemp -d /tmp/device_train.XXXX)
M=tests/fixtures/models/uni_span_bert_markerV0
cat >"$TMP/tiny.json" <<'J'
[{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "in", "June", "."], "ner": [[0, 1, "person"], [3, 3, "location"], [5, 5, "date"]]},
 {"tokenized_text": ["Apple", "hired", "Tim", "Cook", "."], "ner": [[0, 0, "organization"], [2, 3, "person"]]},
 {"tokenized_text": ["Marie", "Curie", "won", "the", "Nobel", "Prize", "in", "1903", "."], "ner": [[0, 1, "person"], [4, 5, "award"], [7, 7, "date"]]},
 {"tokenized_text": ["Tokyo", "and", "Osaka", "are", "in", "Japan", "."], "ner": [[0, 0, "location"], [2, 2, "location"], [5, 5, "country"]]}]
J
say ""
say "training on the GPU ($STEPS steps per throughput point; budget ${TRAIN_S} s):"
for dev in cpu cuda; do
  ./$B/gliner train configs/tiny/uni_encoder_span.yaml --model $M --train-data "$TMP/tiny.json" --steps 12 \
    --log-every 1 --no-save --fp32 --device $dev --output "$TMP/parity_$dev" >"$TMP/parity_$dev.log" 2>&1
  say "parity run on $dev: rc=$?"
done
python3 - "$TMP" <<'PY' | tee -a "$REPORT"
import json, sys
t = sys.argv[1]
def losses(dev):
    return [json.loads(l)["loss"] for l in open(f"{t}/parity_{dev}/train_log.jsonl") if '"loss"' in l]
try:
    a, b = losses("cpu"), losses("cuda")
    worst = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))
    print(f"cpu vs cuda losses over {min(len(a), len(b))} steps: worst rel {worst:.2e} -> {'OK' if worst <= 1e-3 and len(a) == len(b) == 12 else 'MISMATCH'}")
except Exception as e:
    print(f"cpu vs cuda losses: could not compare ({type(e).__name__}: {e})")
PY
DATA=bench/data/conll2003_train.json
SMALL=/tmp/gliner_e2e/small
if [ ! -f "$DATA" ] || [ ! -f "$SMALL/model.safetensors" ]; then
  say "throughput: skipped (need $DATA and $SMALL)"; exit 0
fi
NP=$(./$B/gliner info "$SMALL" 2>/dev/null | grep -oE '[0-9]+ parameters' | head -1 | grep -oE '[0-9]+')
say ""
say "| trainer | batch | steps | samples/s | tokens/s | MFU (6N tok/s over bf16 989 TF) |"
say "| --- | ---: | ---: | ---: | ---: | ---: |"
for bs in 8 32; do
  [ "$(left)" -le 30 ] && { say "| gliner.c | $bs | - | skipped (budget) | | |"; continue; }
  ./$B/gliner train configs/uni_encoder_span.yaml --model "$SMALL" --train-data "$DATA" --steps $STEPS --batch-size $bs \
    --device cuda --no-save --log-every $STEPS --output "$TMP/ours_$bs" >"$TMP/ours_$bs.log" 2>&1
  rc=$?
  sps=$(grep -oE 'training alone [0-9.]+ s, [0-9.]+ samples/s' "$TMP/ours_$bs.log" | grep -oE '[0-9.]+ samples' | grep -oE '[0-9.]+')
  tps=$(grep -oE '[0-9]+ tok/s' "$TMP/ours_$bs.log" | tail -1 | grep -oE '[0-9]+')
  mfu=$(python3 -c "print(f'{6*${NP:-0}*${tps:-0}/989e12*100:.3f}%')" 2>/dev/null)
  say "| gliner.c (rc $rc) | $bs | $STEPS | ${sps:-?} | ${tps:-?} | ${mfu:-?} |"
  [ $rc -ne 0 ] && tail -5 "$TMP/ours_$bs.log" | tee -a "$REPORT"
done
SITE=/tmp/refsite
if [ ! -d $SITE ] && ls .deps/wheels/*.whl >/dev/null 2>&1; then # the pinned reference, as device_check.sh installs it
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $SITE .deps/wheels/*.whl >/dev/null 2>&1
  PYTHONPATH=$SITE python3 -c 'import gliner.modeling.base, transformers' >/dev/null 2>&1 || {
    rm -rf $SITE
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $SITE .deps/wheels/gliner-*.whl >/dev/null 2>&1
  }
fi
for bs in 8 32; do
  [ "$(left)" -le 40 ] && { say "| reference | $bs | - | skipped (budget) | | |"; continue; }
  PYTHONPATH=$SITE PYTHONUNBUFFERED=1 timeout $(( $(left) )) python3 bench/bench_train_reference.py --model "$SMALL" \
    --train "$DATA" --steps $STEPS --batch-size $bs --device cuda --bf16 --no-eval --out "$TMP/ref_$bs.json" >"$TMP/ref_$bs.log" 2>&1
  rc=$?
  sps=$(python3 -c "import json; print(json.load(open('$TMP/ref_$bs.json'))['samples_per_s'])" 2>/dev/null)
  say "| reference (rc $rc) | $bs | $STEPS | ${sps:-?} | | |"
  [ $rc -ne 0 ] && tail -5 "$TMP/ref_$bs.log" | tee -a "$REPORT"
done
cp "$TMP"/*.log "${LOGDIR:-/tmp}/" 2>/dev/null
exit 0
