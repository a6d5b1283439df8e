#!/usr/bin/env bash
# bench_train_cpu.sh -- the real side-by-side training run of issue #6 on the CPU: the same model (all-MiniLM-L6-v2
# GLiNER from scripts/make_minilm_gliner.py, dropout set to 0 in both, since gliner.c has no dropout yet), the same
# YAML (configs/uni_encoder_span.yaml), the same CoNLL-2003 train file (scripts/conll_to_train.py), the same steps
# and threads; one trainer after the other, then test-set P/R/F1 with each one's evaluator on the full CoNLL-2003
# test split (flat NER, threshold 0.5). Prints both result lines and writes build/train_bench/summary.txt.
#   STEPS (1000), THREADS (2), BATCH (8) from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1000} THREADS=${THREADS:-2} BATCH=${BATCH:-8}
PY=${PY:-/work/venv/bin/python}
M=${MODEL:-$HOME/.cache/gliner_c/minilm_gliner_nodrop}
EVAL=${EVAL:-../shared/data/gliner_eval/conll2003}
OUT=build/train_bench
mkdir -p $OUT
[ -f build/conll2003_train.json ] || $PY scripts/conll_to_train.py build/conll2003_train.json
[ -d "$M" ] || { echo "no model at $M (scripts/make_minilm_gliner.py, then set dropout 0 in a copy)"; exit 1; }
rm -rf $OUT/ours
./build/gliner train configs/uni_encoder_span.yaml --model "$M" --train-data build/conll2003_train.json \
  --steps $STEPS --eval-every $STEPS --batch-size $BATCH --eval-data "$EVAL" --threads $THREADS --log-every 50 \
  --output $OUT/ours 2>&1 | tee $OUT/ours.log
OMP_NUM_THREADS=$THREADS PYTHONUNBUFFERED=1 $PY bench/bench_train_reference.py --model "$M" --train build/conll2003_train.json \
  --steps $STEPS --batch-size $BATCH --threads $THREADS --out $OUT/reference.json 2>&1 | tee $OUT/reference.log
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD): $STEPS steps, batch $BATCH, $THREADS threads"
  grep -E "eval P|done:" $OUT/ours.log | sed 's/^/gliner.c: /'
  $PY -c "import json; d=json.load(open('$OUT/reference.json')); e=d['eval']; print('reference: F1 %.4f P %.4f R %.4f; train %.1f s, %.3f samples/s; final loss %.4f; eval %.1f s' % (e['f1'], e['precision'], e['recall'], d['train_s'], d['samples_per_s'], d['final_loss'], e['eval_s']))"
} | tee $OUT/summary.txt
