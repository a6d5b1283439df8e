#!/usr/bin/env bash
# test_train_relex.sh GLINER SRC -- `gliner train` on relex models (UniEncoderSpanRelex, UniEncoderTokenRelex), CPU:
#   1. every kind of relex head takes clean steps: an adjacency layer with the pair MLP (mlp), single step ("none"),
#      a triples scorer (DistMult), attention and gat (a record without entities in the batch: NaN rows the loss
#      ignores, see loss.c), token relex; with the augmentation of §7.8 on (augment_data_prob 1 in a copied config);
#   2. exact resume of a relex run (its augmentation and negative pairs drawn from the saved RNG);
#   3. evaluation on a relex file: entity and relation P/R/F1 in train.log, train_log.jsonl and trainer_state.json;
#   4. the checkpoint predicts relations here (gliner predict --relations);
#   5. bad relex records: one-line errors naming the record.
set -u
GLINER=$1 SRC=$2
. "$SRC/tests/cli/train_lib.sh" # TMP, fail, train_yaml, expect_err
M=$SRC/tests/fixtures/models

cat >"$TMP/train.json" <<'J'
[{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "in", "June", "."], "ner": [[0, 1, "person"], [3, 3, "location"], [5, 5, "date"]], "relations": [[0, 1, "visited"]]},
 {"tokenized_text": ["Apple", "hired", "Tim", "Cook", "."], "ner": [[2, 3, "person"], [0, 0, "organization"]], "relations": [[0, 1, "works for"], [1, 0, "employs"]]},
 {"tokenized_text": ["The", "Rhine", "flows", "through", "Basel", "and", "Cologne", "."], "ner": [[1, 1, "river"], [4, 4, "location"], [6, 6, "location"]], "relations": [[0, 1, "flows through"], [0, 2, "flows through"]]},
 {"tokenized_text": ["Nothing", "here", "."], "ner": []},
 {"tokenized_text": ["Marie", "Curie", "won", "the", "Nobel", "Prize", "in", "1903", "."], "ner": [[0, 1, "person"], [4, 5, "award"], [7, 7, "date"]], "relations": [[0, 1, "won"], [1, 2, "awarded in"]]},
 {"tokenized_text": ["Siemens", "opened", "a", "plant", "in", "Munich", "."], "ner": [[0, 0, "organization"], [5, 5, "location"]], "relations": [[0, 1, "located in"]], "rel_labels": ["located in", "works for"]},
 {"tokenized_text": ["Ada", "Lovelace", "worked", "with", "Charles", "Babbage", "in", "London", "."], "ner": [[0, 1, "person"], [4, 5, "person"], [7, 7, "location"]], "relations": [[0, 1, "worked with"], [1, 0, "worked with"], [0, 2, "lived in"], [1, 2, "lived in"]]}]
J
train_yaml "$TMP/c.yaml" "$TMP/train.json" 6 3 2

# a copy of a fixture with the reference's default augmentation (0.5) raised to every record
augmented() { # augmented MODEL -> prints the copy's directory
  local d=$TMP/aug_$1
  mkdir -p "$d"
  cp "$M/$1"/*.json "$M/$1/model.safetensors" "$d"/
  sed -i -e 's/"augment_data_prob": [0-9.e-]*/"augment_data_prob": 1.0/' -e 's/"augment_add_other_prob": [0-9.e-]*/"augment_add_other_prob": 0.5/' \
    "$d/gliner_config.json"
  grep -q '"augment_data_prob": 1.0' "$d/gliner_config.json" || fail "could not set augment_data_prob in $1's copy"
  echo "$d"
}

# ---- 1. every kind of relex head
for m in uni_span_relex_mlp uni_span_relex_none uni_span_relex_triples_DistMult uni_span_relex_attention uni_span_relex_gat \
         uni_token_relex_attn uni_token_relex_none_DistMult; do
  for v in plain aug; do
    src=$M/$m
    [ $v = aug ] && src=$(augmented $m)
    "$GLINER" train "$TMP/c.yaml" --model "$src" --output "$TMP/o_${m}_$v" --threads 1 >"$TMP/$m.$v.log" 2>&1 ||
      { cat "$TMP/$m.$v.log"; fail "6 steps of $m ($v)"; }
    grep -q "done: 6 steps (0 skipped)" "$TMP/$m.$v.log" || { cat "$TMP/$m.$v.log"; fail "$m ($v): not 6 clean steps"; }
    [ -f "$TMP/o_${m}_$v/checkpoint-6/model.safetensors" ] || fail "$m ($v): no checkpoint-6"
  done
  cmp -s "$TMP/o_${m}_plain/checkpoint-6/model.safetensors" "$TMP/o_${m}_aug/checkpoint-6/model.safetensors" &&
    fail "$m: the augmentation changed nothing"
done
echo "ok: span relex (mlp, none, DistMult, attention, gat) and token relex train, with and without augmentation"

# ---- 2. exact resume (augmentation on: its draws and the negative pairs come from the checkpoint's RNG state)
A=$(augmented uni_span_relex_mlp)
RUN="$GLINER train $TMP/c.yaml --model $A --threads 1"
$RUN --output "$TMP/r1" --steps 8 >/dev/null 2>&1 || fail "8-step relex run"
$RUN --output "$TMP/r2" --steps 8 --stop-at 3 >/dev/null 2>&1 && $RUN --output "$TMP/r2" --steps 8 --resume "$TMP/r2" >/dev/null 2>&1 ||
  fail "relex run with a resume"
for f in model.safetensors optimizer.safetensors; do
  cmp -s "$TMP/r1/checkpoint-8/$f" "$TMP/r2/checkpoint-8/$f" || fail "relex resume is not exact: $f differs"
done
echo "ok: 8 relex steps == 3 + resume + 5 (byte-identical)"

# ---- 3. evaluation on a relex file
"$GLINER" train "$TMP/c.yaml" --model "$M/uni_span_relex_mlp" --output "$TMP/ev" --eval-data "$TMP/train.json" \
  --threads 1 >"$TMP/ev.log" 2>&1 || { cat "$TMP/ev.log"; fail "relex run with evaluation"; }
grep -q "^step 6: eval P .* F1 " "$TMP/ev.log" || { cat "$TMP/ev.log"; fail "no entity evaluation line"; }
grep -q "^step 6: eval relations P .* F1 .*(12 gold, " "$TMP/ev.log" || { cat "$TMP/ev.log"; fail "no relation evaluation line over the 12 gold relations"; }
grep -q '"rel_f1": ' "$TMP/ev/train_log.jsonl" || fail "train_log.jsonl has no rel_f1"
grep -q '"eval_rel_f1":' "$TMP/ev/checkpoint-6/trainer_state.json" || fail "trainer_state.json has no eval_rel_f1"
echo "ok: entity and relation P/R/F1 logged"

# ---- 4. the checkpoint predicts relations here
"$GLINER" predict --model "$TMP/ev/checkpoint-6" --labels person,location --relations "lived in,worked with" \
  --threshold 0.01 "Ada Lovelace lived in London ." >"$TMP/p.txt" 2>&1 || { cat "$TMP/p.txt"; fail "predict --relations on our checkpoint"; }
grep -q '"relations"' "$TMP/p.txt" || fail "predict output has no relations: $(cat "$TMP/p.txt")"
echo "ok: the relex checkpoint predicts relations"

# ---- 5. bad relex records
R="$GLINER train $TMP/c.yaml --model $M/uni_span_relex_mlp --threads 1"
printf '[{"tokenized_text": ["a", "b"], "ner": [[0, 0, "x"]], "relations": [[0, 1, "r"]]}]' >"$TMP/b1.json"
expect_err 1 "record 0.*relations\[0\]: entity index 1 out of range (the record has 1 entities)" $R --train-data "$TMP/b1.json" --output "$TMP/e1"
printf '[{"tokenized_text": ["a"], "ner": [], "relations": [[0, 0, "r"]]}]' >"$TMP/b2.json"
expect_err 1 "record 0.*out of range (the record has 0 entities)" $R --train-data "$TMP/b2.json" --output "$TMP/e2"
printf '[{"tokenized_text": ["a", "b"], "ner": [[0, 0, "x"], [1, 1, "y"]], "relations": [[0, 1, "r"]], "rel_labels": ["r", "s", "r"]}]' >"$TMP/b3.json"
expect_err 1 "record 0.*rel_labels\[2\]: \"r\" repeats rel_labels\[0\]" $R --train-data "$TMP/b3.json" --output "$TMP/e3"
printf '[{"tokenized_text": ["a", "b"], "ner": [[0, 0, "x"], [1, 1, "y"]], "relations": [[0, 1, 7]]}]' >"$TMP/b4.json"
expect_err 1 "record 0.*relations\[0\]" $R --train-data "$TMP/b4.json" --output "$TMP/e4"
for e in e1 e2 e3 e4; do [ -e "$TMP/$e/checkpoint-6" ] && fail "a checkpoint was written from bad data ($e)"; done
# a relation whose type is not in the record's rel_labels is not trained (the reference drops it): no error
printf '[{"tokenized_text": ["a", "b"], "ner": [[0, 0, "x"], [1, 1, "y"]], "relations": [[0, 1, "r"]], "rel_labels": ["s"]}]' >"$TMP/ok.json"
$R --train-data "$TMP/ok.json" --output "$TMP/ok" --steps 2 >"$TMP/ok.log" 2>&1 || { cat "$TMP/ok.log"; fail "a relation outside rel_labels"; }
echo "ok: bad relex records give one-line errors"
echo "PASS"
