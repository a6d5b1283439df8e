#!/usr/bin/env bash
# bench_relex_cpu.sh -- the relex side-by-side of issue 16 on the CPU: gliner.c's `gliner train` and the reference's
# Trainer (bench/bench_relex_reference.py train) on the same UniEncoderSpanRelex model (all-MiniLM-L6-v2,
# relations_layer mlp, markerV0, K 12, every dropout 0, augment_data_prob 0: scripts/make_minilm_relex.py), the same
# YAML (configs/uni_encoder_span_relex.yaml; LR_ENCODER / LR_OTHERS, when set, rewrite lr_encoder / lr_others in a
# copy, $OUT/config.yaml, which both trainers then read), the same CoNLL04 train split (scripts/convert_spert.py,
# verbose labels), the same steps, batch and threads, one trainer after the other. Then both final checkpoints go
# through the same evaluator on the CoNLL04 test split (bench_relex_reference.py eval: the reference's forward and
# decoder, BaseNEREvaluator / BaseRelexEvaluator, strict relations, threshold 0.5, flat_ner False and True), and
# gliner.c's own evaluation of its checkpoint (--eval-data on the test file: "eval relations P R F1") is printed
# beside the Python scoring of the same checkpoint.
#   STEPS (300), BATCH (8), THREADS (2), SEED (42, both trainers' --seed), OUT (build/relex_bench/seed$SEED),
#   MODEL (build/minilm_relex, made when missing), ONLY=ours|reference (one trainer; the evaluation of what exists).
# Training throughput: gliner.c's "done:" line (training alone: evaluation and checkpoints excluded), the reference's
# trainer.train() wall time (no evaluation or checkpoint inside it). Python evaluation runs under `ulimit -v` (an
# under-trained model with flat_ner False can predict thousands of entities per text and the pair tensors grow with
# their square: the untrained model took 23 GB and was OOM-killed).
# The body is one function, called on the last line: bash parses all of it before running any, so editing this
# file while a run is under way cannot change what that run does.
set -euo pipefail
main() {
  cd "$(dirname "$0")/.."
  STEPS=${STEPS:-300} BATCH=${BATCH:-8} THREADS=${THREADS:-2} SEED=${SEED:-42}
  PY=${PY:-/work/venv/bin/python}
  M=${MODEL:-build/minilm_relex}
  OUT=${OUT:-build/relex_bench/seed$SEED}
  EVAL_VMEM_KB=${EVAL_VMEM_KB:-12000000}
  mkdir -p "$OUT"
  for s in train test; do
    [ -f build/conll04_$s.json ] || python3 scripts/convert_spert.py /work/shared/data/re/conll04/conll04_$s.json \
      build/conll04_$s.json
  done
  [ -f "$M/gliner_config.json" ] || $PY scripts/make_minilm_relex.py --out "$M"
  CFG=configs/uni_encoder_span_relex.yaml
  if [ -n "${LR_ENCODER:-}${LR_OTHERS:-}" ]; then
    sed -e "s/^\(  lr_encoder:\) [^ ]*/\1 ${LR_ENCODER:-1e-5}/" -e "s/^\(  lr_others:\) [^ ]*/\1 ${LR_OTHERS:-3e-5}/" \
      $CFG > "$OUT/config.yaml"
    CFG="$OUT/config.yaml"
  fi
  grep -E "^  (lr_encoder|lr_others):" $CFG
  load() { echo "$1 $(date -u +%H:%M:%S) loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"; }
  if [ "${ONLY:-ours}" != reference ]; then
    rm -rf "$OUT/ours"
    load "gliner.c start"
    ./build/gliner train $CFG --model "$M" --train-data build/conll04_train.json --eval-data build/conll04_test.json \
      --steps $STEPS --eval-every $STEPS --batch-size $BATCH --threads $THREADS --seed $SEED --log-every 1 \
      --output "$OUT/ours" 2>&1 | tee "$OUT/ours.log"
    load "gliner.c end  "
  fi
  if [ "${ONLY:-reference}" != ours ]; then
    rm -rf "$OUT/ref_model"
    load "reference start"
    OMP_NUM_THREADS=$THREADS PYTHONUNBUFFERED=1 $PY bench/bench_relex_reference.py train --model "$M" \
      --config $CFG --train build/conll04_train.json --steps $STEPS --batch-size $BATCH --threads $THREADS --seed $SEED \
      --log-every 25 --save "$OUT/ref_model" --out "$OUT/reference_train.json" > "$OUT/reference.log" 2>&1 \
      || { tail -20 "$OUT/reference.log"; exit 1; }
    load "reference end  "
    grep -E "^step" "$OUT/reference.log" || true
  fi
  CK_OURS=$(ls -d "$OUT"/ours/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1)
  for who in ours reference; do
    ck=$([ $who = ours ] && echo "$CK_OURS" || echo "$OUT/ref_model")
    [ -n "$ck" ] && [ -f "$ck/gliner_config.json" ] || continue
    (ulimit -v $EVAL_VMEM_KB; OMP_NUM_THREADS=$THREADS $PY bench/bench_relex_reference.py eval --model "$ck" \
      --test build/conll04_test.json --threads $THREADS --out "$OUT/eval_$who.json" > "$OUT/eval_$who.log" 2>&1) \
      || echo "evaluation of $ck failed: $OUT/eval_$who.log"
  done
  {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD): $STEPS steps, batch $BATCH, $THREADS threads," \
      "seed $SEED, $(grep -E '^  lr_(encoder|others):' $CFG | tr -s ' ' | tr '\n' ' ')"
    [ -f "$OUT/ours.log" ] && grep -E "eval (P|relations)|done:" "$OUT/ours.log" | sed 's/^/gliner.c own evaluator: /'
    $PY - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
for who in ("ours", "reference"):
    p = os.path.join(out, f"eval_{who}.json")
    if not os.path.exists(p):
        continue
    d = json.load(open(p))
    for fl in ("false", "true"):
        r = d[f"flat_ner_{fl}"]
        e, x = r["entities"], r["relations"]
        print(f"python evaluator, {who:9s} checkpoint, flat_ner {fl:5s}: relations P {100*x['precision']:.2f} "
              f"R {100*x['recall']:.2f} F1 {100*x['f1']:.2f} ({x['tp']}/{x['gold']} gold, {x['pred']} predicted) | "
              f"entities P {100*e['precision']:.2f} R {100*e['recall']:.2f} F1 {100*e['f1']:.2f} "
              f"({e['gold']} gold, {e['pred']} predicted) | inference() identical {r['inference_identical']}")
p = os.path.join(out, "ours", "train_log.jsonl")
if os.path.exists(p):
    L = [json.loads(l) for l in open(p)]
    ls = [x["loss"] for x in L if "loss" in x]  # one entry a step (--log-every 1)
    if ls:
        print(f"gliner.c training: mean loss {sum(ls)/len(ls):.2f}, last 50 {sum(ls[-50:])/len(ls[-50:]):.2f}, "
              f"NaN losses {sum(1 for x in ls if x != x)}")
p = os.path.join(out, "reference_train.json")
if os.path.exists(p):
    d = json.load(open(p))
    print(f"reference training: {d['steps']} steps in {d['train_s']:.1f} s, {d['samples_per_s']:.3f} samples/s "
          f"(steady {d['steady_samples_per_s']}), mean loss {d['mean_loss']:.2f}, last 50 {d['mean_loss_last50']:.2f}, "
          f"NaN losses {d['nan_losses']}")
EOF
    cat "$OUT/load.txt" 2>/dev/null || true
  } | tee "$OUT/summary.txt"
}
main "$@"
