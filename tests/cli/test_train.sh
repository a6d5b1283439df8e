#!/usr/bin/env bash
# test_train.sh GLINER SRC -- `gliner train` end to end on the CPU with tiny fixture models and a small
# training file written here:
#   1. exact resume: 16 steps in one run equal 7 steps, a stop (--stop-at), --resume and 9 more steps, byte for
#      byte in model.safetensors and optimizer.safetensors (the same schedule spans both);
#   2. the run's products: checkpoint-<step>/ with the reference's files, save_total_limit honoured, train.log,
#      train_log.jsonl (one JSON object per line), and the checkpoint loads back here (gliner info, predict);
#   3. every architecture the trainer covers takes a few steps (uni span, uni token, bi span, bi token);
#   4. bad input: one-line errors naming the file / record / flag, non-zero exit, no checkpoint written.
set -u
GLINER=$1 SRC=$2
. "$SRC/tests/cli/train_lib.sh" # TMP, fail, train_yaml, expect_err
M=$SRC/tests/fixtures/models

cat >"$TMP/train.json" <<'J'
[{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "in", "June", "."], "ner": [[0, 1, "person"], [3, 3, "location"], [5, 5, "date"]]},
 {"tokenized_text": ["Apple", "hired", "Tim", "Cook", "."], "ner": [[0, 0, "organization"], [2, 3, "person"]]},
 {"tokenized_text": ["The", "Rhine", "flows", "through", "Basel", "and", "Cologne", "."], "ner": [[1, 1, "river"], [4, 4, "location"], [6, 6, "location"]]},
 {"tokenized_text": ["Marie", "Curie", "won", "the", "Nobel", "Prize", "in", "1903", "."], "ner": [[0, 1, "person"], [4, 5, "award"], [7, 7, "date"]]},
 {"tokenized_text": ["Nothing", "here", "."], "ner": []},
 {"tokenized_text": ["Siemens", "opened", "a", "plant", "in", "Munich", "last", "year", "."], "ner": [[0, 0, "organization"], [5, 5, "location"], [6, 7, "date"]]},
 {"tokenized_text": ["Ada", "Lovelace", "wrote", "notes", "on", "the", "Analytical", "Engine", "."], "ner": [[0, 1, "person"], [6, 7, "machine"]]},
 {"tokenized_text": ["Tokyo", "and", "Osaka", "are", "in", "Japan", "."], "ner": [[0, 0, "location"], [2, 2, "location"], [5, 5, "country"]]},
 {"tokenized_text": ["The", "UN", "met", "on", "Monday", "."], "ner": [[1, 1, "organization"], [4, 4, "date"]]},
 {"tokenized_text": ["Lionel", "Messi", "joined", "Inter", "Miami", "."], "ner": [[0, 1, "person"], [3, 4, "organization"]]}]
J
yaml() { train_yaml "$1" "$TMP/train.json" "$2" "$3" "$4"; } # yaml OUT STEPS EVAL_EVERY LIMIT
yaml "$TMP/c.yaml" 16 5 2
RUN="$GLINER train $TMP/c.yaml --model $M/uni_span_bert_markerV0 --threads 1"

# ---- 1. exact resume
$RUN --output "$TMP/a" >"$TMP/a.log" 2>&1 || { cat "$TMP/a.log"; fail "16-step run"; }
$RUN --output "$TMP/b" --stop-at 7 >"$TMP/b1.log" 2>&1 || { cat "$TMP/b1.log"; fail "run stopped at 7"; }
[ -d "$TMP/b/checkpoint-7" ] || fail "--stop-at 7 left no checkpoint-7"
$RUN --output "$TMP/b" --resume "$TMP/b" >"$TMP/b2.log" 2>&1 || { cat "$TMP/b2.log"; fail "resumed run"; }
grep -q "resumed from .*checkpoint-7 at step 7" "$TMP/b2.log" || fail "the resumed run does not say where it resumed"
for f in model.safetensors optimizer.safetensors; do
  cmp -s "$TMP/a/checkpoint-16/$f" "$TMP/b/checkpoint-16/$f" || fail "resume is not exact: $f differs"
done
echo "ok: 16 steps == 7 + resume + 9 (model and optimizer state byte-identical)"

# ---- 2. products
for f in gliner_config.json model.safetensors tokenizer.json trainer_state.json optimizer.safetensors resume.json; do
  [ -f "$TMP/a/checkpoint-16/$f" ] || fail "checkpoint-16 has no $f"
done
n=$(ls -d "$TMP/a"/checkpoint-* | wc -l)
[ "$n" = 2 ] || fail "save_total_limit 2: $n checkpoints left ($(ls "$TMP/a"))"
[ -d "$TMP/a/checkpoint-15" ] || fail "the two newest checkpoints should be 15 and 16: $(ls "$TMP/a")"
ls -a "$TMP/a" | grep -q '^\.tmp' && fail "a temporary checkpoint directory was left behind"
[ -s "$TMP/a/train.log" ] || fail "no train.log"
grep -q "^step 16/16 .*loss .*lr .*grad .*tok/s .*ETA" "$TMP/a/train.log" || fail "no progress line for step 16 in train.log"
nl=$(grep -c '^{"step": [0-9]*, "epoch": [0-9.]*, "loss": [0-9.e+-]*, "lr": ' "$TMP/a/train_log.jsonl")
[ "$nl" -ge 8 ] || fail "train_log.jsonl: $nl loss lines"
"$GLINER" info "$TMP/a/checkpoint-16" >"$TMP/info.txt" 2>&1 || { cat "$TMP/info.txt"; fail "gliner info on our checkpoint"; }
"$GLINER" predict --model "$TMP/a/checkpoint-16" --labels person,location "Obama visited Paris" >"$TMP/p.txt" 2>&1 ||
  { cat "$TMP/p.txt"; fail "gliner predict on our checkpoint"; }
grep -q '"index": 0' "$TMP/p.txt" || grep -q '"index":0' "$TMP/p.txt" || fail "predict output: $(cat "$TMP/p.txt")"
echo "ok: checkpoints, rotation, logs, and the checkpoint loads back"

# ---- 3. the other architectures
yaml "$TMP/s.yaml" 3 3 1
for m in uni_token_deberta uni_token_represent_spans bi_span_bert bi_token_bert uni_span_deberta_markerV0 uni_span_fuse_layers uni_span_conv_share; do
  "$GLINER" train "$TMP/s.yaml" --model "$M/$m" --output "$TMP/o_$m" --threads 1 >"$TMP/$m.log" 2>&1 ||
    { cat "$TMP/$m.log"; fail "3 steps of $m"; }
  grep -q "done: 3 steps (0 skipped)" "$TMP/$m.log" || { cat "$TMP/$m.log"; fail "$m: not 3 clean steps"; }
  [ -f "$TMP/o_$m/checkpoint-3/model.safetensors" ] || fail "$m: no checkpoint-3"
done
echo "ok: token (also represent_spans), bi-encoder, DeBERTa, LayersFuser and conv_share models train"

# ---- gradient accumulation: 2 micro-batches of 3 per step (the header says so); an epoch of 10 records is
#      4 micro-batches (3, 3, 3 and the partial 1: drop_last is false), so 4 steps are exactly 2 epochs
sed 's/  seed: 7/  seed: 7\n  gradient_accumulation_steps: 2/' "$TMP/c.yaml" >"$TMP/acc.yaml"
grep -q "gradient_accumulation_steps: 2" "$TMP/acc.yaml" || fail "could not write the accumulation YAML"
"$GLINER" train "$TMP/acc.yaml" --model "$M/uni_span_bert_markerV0" --threads 1 --steps 4 --output "$TMP/acc" \
  --log-every 4 >"$TMP/acc.log" 2>&1 || { cat "$TMP/acc.log"; fail "gradient accumulation run"; }
grep -q "batch 3 x 2" "$TMP/acc.log" || fail "the header does not show batch 3 x 2: $(head -1 "$TMP/acc.log")"
grep -q '"step": 4, "epoch": 2,' "$TMP/acc/train_log.jsonl" || fail "4 steps of 2 micro-batches should be 2 epochs: $(cat "$TMP/acc/train_log.jsonl")"
echo "ok: gradient accumulation"

# ---- dropout: a copy of the BERT fixture with dropout 0.3 (heads), 0.1 (backbone hidden) and 0.1 (attention
#      probabilities); resume stays exact
D=$TMP/drop_model
mkdir -p "$D"
cp "$M/uni_span_bert_markerV0"/*.json "$M/uni_span_bert_markerV0/model.safetensors" "$D"/
sed -i -e 's/"dropout": 0.0/"dropout": 0.3/' -e 's/"hidden_dropout_prob": 0.0/"hidden_dropout_prob": 0.1/' \
  -e 's/"attention_probs_dropout_prob": 0.0/"attention_probs_dropout_prob": 0.1/' "$D/gliner_config.json"
grep -q '"dropout": 0.3' "$D/gliner_config.json" && grep -q '"attention_probs_dropout_prob": 0.1' "$D/gliner_config.json" ||
  fail "could not set dropout in the copied config"
DRUN="$GLINER train $TMP/c.yaml --model $D --threads 1"
$DRUN --output "$TMP/da" --steps 8 >"$TMP/da.log" 2>&1 || { cat "$TMP/da.log"; fail "dropout run"; }
$DRUN --output "$TMP/db" --steps 8 --stop-at 3 >/dev/null 2>&1 && $DRUN --output "$TMP/db" --steps 8 --resume "$TMP/db" >/dev/null 2>&1 ||
  fail "dropout run with a resume"
cmp -s "$TMP/da/checkpoint-8/model.safetensors" "$TMP/db/checkpoint-8/model.safetensors" || fail "dropout: resume is not exact"
$RUN --output "$TMP/dc" --steps 8 >/dev/null 2>&1 || fail "the same 8 steps without dropout"
cmp -s "$TMP/da/checkpoint-8/model.safetensors" "$TMP/dc/checkpoint-8/model.safetensors" && fail "dropout 0.3 changed nothing"
echo "ok: dropout trains, changes the result, and resumes exactly"

# ---- training.gradient_checkpointing: each encoder layer recomputed in the backward (its dropout masks redrawn the
#      same); on the BERT fixture (one layer alone feeds each gradient) the run is bit-identical to the plain one
sed 's/  seed: 7/  seed: 7\n  gradient_checkpointing: true/' "$TMP/c.yaml" >"$TMP/ckpt.yaml"
"$GLINER" train "$TMP/ckpt.yaml" --model "$M/uni_span_bert_markerV0" --threads 1 --output "$TMP/ck" --steps 8 \
  >"$TMP/ck.log" 2>&1 || { cat "$TMP/ck.log"; fail "gradient checkpointing run"; }
grep -q "gradient checkpointing: each encoder layer" "$TMP/ck.log" || fail "the checkpointing run does not say so"
cmp -s "$TMP/dc/checkpoint-8/model.safetensors" "$TMP/ck/checkpoint-8/model.safetensors" ||
  fail "gradient checkpointing changed the trained weights"
echo "ok: gradient checkpointing trains to the same weights"

# ---- a step whose loss or gradient is not finite is skipped (the rule of TrainStats, on the device where it runs):
#      a copy of the BERT fixture whose first 64 KiB of weights are NaN (0xff bytes): every step skipped, no update
N=$TMP/nan_model
mkdir -p "$N"
cp "$M/uni_span_bert_markerV0"/*.json "$M/uni_span_bert_markerV0/model.safetensors" "$N"/
hl=$(od -An -tu8 -N8 "$N/model.safetensors" | tr -d ' ')
head -c 65536 /dev/zero | tr '\0' '\377' | dd of="$N/model.safetensors" bs=1 seek=$((8 + hl)) conv=notrunc status=none ||
  fail "could not poison the copied weights"
"$GLINER" train "$TMP/c.yaml" --model "$N" --output "$TMP/nan" --steps 3 --log-every 1 --threads 1 >"$TMP/nan.log" 2>&1 ||
  { cat "$TMP/nan.log"; fail "the NaN run should finish (its steps skipped)"; }
grep -q "done: 3 steps (3 skipped)" "$TMP/nan.log" || { cat "$TMP/nan.log"; fail "NaN weights: not 3 skipped steps"; }
[ "$(grep -c 'not finite; the step is skipped' "$TMP/nan.log")" = 3 ] || fail "NaN weights: each skipped step is not reported"
grep -q '"loss"' "$TMP/nan/train_log.jsonl" && fail "a skipped step's loss was logged: $(cat "$TMP/nan/train_log.jsonl")"
echo "ok: non-finite steps are skipped and reported"

# ---- a new model from a backbone (train.py's GLiNER.from_config when prev_path is null): the tiny BERT backbone
BB=$SRC/tests/fixtures/backbones/bert_tiny
sed "s|  name: \"test\"|  name: \"test\"\n  model_name: \"$BB\"\n  span_mode: markerV0\n  hidden_size: 32\n  max_width: 4|" "$TMP/c.yaml" >"$TMP/new.yaml"
grep -q "model_name: \"$BB\"" "$TMP/new.yaml" || fail "could not write the new-model YAML"
"$GLINER" train "$TMP/new.yaml" --output "$TMP/new" --steps 4 --threads 1 >"$TMP/new.log" 2>&1 || { cat "$TMP/new.log"; fail "training a new model"; }
grep -q "built a new model from the config's backbone" "$TMP/new.log" || fail "no 'built a new model' line"
[ -f "$TMP/new/init-model/model.safetensors" ] && [ -f "$TMP/new/checkpoint-4/model.safetensors" ] || fail "no init-model or checkpoint-4"
"$GLINER" train "$TMP/new.yaml" --output "$TMP/new" --steps 6 --resume "$TMP/new" --threads 1 >"$TMP/new2.log" 2>&1 ||
  { cat "$TMP/new2.log"; fail "resuming the new model"; }
grep -q "built a new model" "$TMP/new2.log" && fail "the resumed run built the model again"
echo "ok: a new model from a backbone trains and resumes"

# ---- 4. bad input
expect_err 2 "usage" "$GLINER" train
expect_err 2 "unknown option '--bogus'" $RUN --bogus 1
expect_err 2 "\-\-steps: expected an integer" $RUN --steps -3
expect_err 2 "\-\-threshold: expected a number" $RUN --threshold 2
expect_err 1 "$TMP/missing.yaml" "$GLINER" train "$TMP/missing.yaml" --model "$M/uni_span_bert_markerV0"
printf 'training:\n  num_steps: [1\n' >"$TMP/bad.yaml"
expect_err 1 "bad.yaml:" "$GLINER" train "$TMP/bad.yaml" --model "$M/uni_span_bert_markerV0"
# (prev_path null and the default backbone, not in an empty cache, offline: never the network in a test)
expect_err 1 "model_name: microsoft/deberta-v3-small: not a local directory, and not in the Hugging Face cache" \
  env HF_HUB_OFFLINE=1 HF_HUB_CACHE="$TMP/empty_cache" "$GLINER" train "$TMP/c.yaml" --output "$TMP/nomodel"
expect_err 1 "$TMP/nope" "$GLINER" train "$TMP/c.yaml" --model "$TMP/nope" --output "$TMP/x"
printf '[{"tokenized_text": ["a"], "ner": []}, {"tokenized_text": ["b", "c"], "ner": [[1, 0, "x"]]}]' >"$TMP/bad.json"
expect_err 1 "record 1" $RUN --train-data "$TMP/bad.json" --output "$TMP/y"
[ -e "$TMP/y/checkpoint-5" ] && fail "a checkpoint was written from bad data"
expect_err 1 "$TMP/noeval" $RUN --eval-data "$TMP/noeval" --output "$TMP/z"
echo "ok: bad flags, files and records give one-line errors"
echo "PASS"
