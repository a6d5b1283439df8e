#!/usr/bin/env bash
# bench_train_cpu.sh -- the real side-by-side training run of issue #6 on the CPU: the same model (all-MiniLM-L6-v2
# GLiNER from scripts/make_minilm_gliner.py; by default a copy with every dropout 0, so that both trainers compute
# the same function; MODEL=~/.cache/gliner_c/minilm_gliner trains with the reference's dropouts), the same
# YAML (configs/uni_encoder_span.yaml), the same CoNLL-2003 train file (scripts/conll_to_train.py), the same steps
# and threads; one trainer after the other, then test-set P/R/F1 with each one's evaluator on the full CoNLL-2003
# test split (flat NER, threshold 0.5). Prints both result lines and writes build/train_bench/summary.txt.
#   STEPS (1000), THREADS (2), BATCH (8) from the environment; DO_EVAL=0 skips the evaluation in both (a
#   throughput-only pair), OUT (build/train_bench) the output folder; FIXED=1: both trainers read the records in
#   file order with every record's classes fixed (ner_labels = the four CoNLL types), so they see the same batches
#   and prompts and differ only by floating-point rounding (the reference through a SequentialSampler); FIXED=0
#   (default): each shuffles with its own RNG, as train.py does.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1000} THREADS=${THREADS:-2} BATCH=${BATCH:-8}
PY=${PY:-/work/venv/bin/python}
M=${MODEL:-$HOME/.cache/gliner_c/minilm_gliner_nodrop}
EVAL=${EVAL:-../shared/data/gliner_eval/conll2003}
OUT=${OUT:-build/train_bench}
DO_EVAL=${DO_EVAL:-1}
EV_OURS="--eval-data $EVAL"; EV_REF=""
[ "$DO_EVAL" = 0 ] && { EV_OURS="--no-save"; EV_REF="--no-eval"; }
mkdir -p $OUT
[ -f build/conll2003_train.json ] || $PY scripts/conll_to_train.py build/conll2003_train.json
TRAIN=build/conll2003_train.json
SH_OURS=""; SH_REF=""
if [ "${FIXED:-0}" = 1 ]; then
  TRAIN=build/conll2003_train_fixed.json
  [ -f $TRAIN ] || $PY -c "import json; d = json.load(open('build/conll2003_train.json'))
for r in d: r['ner_labels'] = [l.lower() for l in json.load(open('$EVAL/labels.json'))]
json.dump(d, open('$TRAIN', 'w'))"
  SH_OURS="--no-shuffle"; SH_REF="--no-shuffle"
fi
[ -d "$M" ] || { echo "no model at $M (scripts/make_minilm_gliner.py, then set dropout 0 in a copy)"; exit 1; }
rm -rf $OUT/ours
./build/gliner train configs/uni_encoder_span.yaml --model "$M" --train-data $TRAIN $SH_OURS \
  --steps $STEPS --eval-every $STEPS --batch-size $BATCH $EV_OURS --threads $THREADS --log-every 50 \
  --output $OUT/ours 2>&1 | tee $OUT/ours.log
OMP_NUM_THREADS=$THREADS PYTHONUNBUFFERED=1 $PY bench/bench_train_reference.py --model "$M" --train $TRAIN $SH_REF \
  --steps $STEPS --batch-size $BATCH --threads $THREADS $EV_REF --out $OUT/reference.json 2>&1 | tee $OUT/reference.log
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD): $STEPS steps, batch $BATCH, $THREADS threads"
  grep -E "eval P|done:" $OUT/ours.log | sed 's/^/gliner.c: /'
  $PY -c "import json; d=json.load(open('$OUT/reference.json')); e=d['eval']; print('reference: F1 %s P %s R %s; train %.1f s, %.3f samples/s; final loss %.4f; eval %.1f s' % (e['f1'], e['precision'], e['recall'], d['train_s'], d['samples_per_s'], d['final_loss'], e['eval_s']))"
} | tee $OUT/summary.txt
