#!/usr/bin/env bash
# test_torch_bin.sh GLINER SRC -- a checkpoint whose weights are only pytorch_model.bin (the published GLiNER layout;
# issue 12) loads with no Python: `gliner info` checks it, `gliner predict --model` gives byte for byte the output of
# the same model from model.safetensors, `gliner convert` writes model.safetensors from it (the .bin not carried
# along) identical to converting the original; a .bin whose pickle names a foreign global is refused in one line
# and runs nothing; a directory with neither file says so, naming both.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
M=$SRC/tests/fixtures/models/uni_span_deberta_markerV0
MB=$SRC/tests/fixtures/models_bin/uni_span_deberta_markerV0
[ -f "$MB/pytorch_model.bin" ] && [ ! -e "$MB/model.safetensors" ] || fail "fixture $MB: expected pytorch_model.bin only"

# 1. info
"$GLINER" info "$MB" >"$TMP/info.out" 2>"$TMP/info.err" || { cat "$TMP/info.err"; fail "gliner info on the .bin checkpoint"; }
grep -q "weights file .*pytorch_model.bin: 62 tensors" "$TMP/info.out" || fail "info: $(cat "$TMP/info.out")"
grep -q "ok: every tensor matches the config" "$TMP/info.out" || fail "info: $(cat "$TMP/info.out")"
echo "ok: gliner info reads pytorch_model.bin"

# 2. predict: the same bytes from either weights file
texts=("Barack Obama visited Paris in 2015 with Michelle." "Apple opened an office in Berlin, Germany, last March.")
for th in 0.0 0.5; do
  "$GLINER" predict --model "$M" --labels person,location,date,organization --threshold $th "${texts[@]}" >"$TMP/st.$th" \
    || fail "predict on model.safetensors"
  "$GLINER" predict --model "$MB" --labels person,location,date,organization --threshold $th "${texts[@]}" >"$TMP/bin.$th" \
    || fail "predict on pytorch_model.bin"
  [ -s "$TMP/st.$th" ] && cmp -s "$TMP/st.$th" "$TMP/bin.$th" || fail "threshold $th: outputs differ: $(diff "$TMP/st.$th" "$TMP/bin.$th" | head -5)"
done
grep -q '"text":' "$TMP/bin.0.0" || fail "no entities at threshold 0: $(cat "$TMP/bin.0.0")"
echo "ok: predict --model on pytorch_model.bin = on model.safetensors"

# 3. convert: model.safetensors from the .bin, no .bin in the output, same file as converting the original
"$GLINER" convert "$MB" "$TMP/out_bin" >/dev/null || fail "convert the .bin checkpoint"
"$GLINER" convert "$M" "$TMP/out_st" >/dev/null || fail "convert the safetensors checkpoint"
[ -f "$TMP/out_bin/model.safetensors" ] || fail "convert wrote no model.safetensors: $(ls -A "$TMP/out_bin")"
[ ! -e "$TMP/out_bin/pytorch_model.bin" ] || fail "convert carried pytorch_model.bin along"
cmp -s "$TMP/out_bin/model.safetensors" "$TMP/out_st/model.safetensors" || fail "model.safetensors from the .bin differs"
"$GLINER" info "$TMP/out_bin" >/dev/null 2>&1 || fail "gliner info on the converted directory"
echo "ok: gliner convert writes model.safetensors from pytorch_model.bin"

# 4. a foreign global in the pickle: one line naming it, exit 1, nothing executed
rm -f /tmp/gliner_torch_bin_pwned
mkdir "$TMP/evil"
cp "$MB"/*.json "$TMP/evil/"
cp "$SRC/tests/fixtures/torch_bin/hostile_os_system.bin" "$TMP/evil/pytorch_model.bin"
for cmd in info predict; do
  rc=0
  if [ $cmd = info ]; then "$GLINER" info "$TMP/evil" >/dev/null 2>"$TMP/evil.err" || rc=$?
  else "$GLINER" predict --model "$TMP/evil" --labels person "hello" >/dev/null 2>"$TMP/evil.err" || rc=$?; fi
  [ "$rc" = 1 ] || fail "$cmd on a hostile .bin: exit $rc, expected 1"
  [ "$(wc -l <"$TMP/evil.err")" = 1 ] || fail "$cmd: the error is not one line: $(cat "$TMP/evil.err")"
  grep -q "pytorch_model.bin: data.pkl: byte [0-9]*: global posix.system is not allowed" "$TMP/evil.err" \
    || fail "$cmd: $(cat "$TMP/evil.err")"
done
[ ! -e /tmp/gliner_torch_bin_pwned ] || fail "the pickle's command ran"
echo "ok: a foreign global is refused and nothing runs"

# 5. neither weights file
mkdir "$TMP/none"
cp "$MB"/*.json "$TMP/none/"
rc=0
"$GLINER" predict --model "$TMP/none" --labels person "hello" >/dev/null 2>"$TMP/none.err" || rc=$?
[ "$rc" = 1 ] && grep -q "no model.safetensors or pytorch_model.bin" "$TMP/none.err" || fail "no weights: exit $rc: $(cat "$TMP/none.err")"
echo "ok: no weights file names both"

# 6. gliner init on a backbone that ships only pytorch_model.bin: the same model as from its model.safetensors
BB=$SRC/tests/fixtures/backbones/bert_tiny
BBB=$SRC/tests/fixtures/backbones_bin/bert_tiny
for b in st bin; do
  d=$BB; [ $b = bin ] && d=$BBB
  printf '{"model_name": "%s", "name": "t", "hidden_size": 48, "max_width": 4, "max_len": 64, "span_mode": "markerV0"}\n' "$d" >"$TMP/init_$b.json"
  "$GLINER" init "$TMP/init_$b.json" "$TMP/init_$b" --seed 3 >/dev/null 2>"$TMP/init_$b.err" || { cat "$TMP/init_$b.err"; fail "gliner init on the $b backbone"; }
done
cmp -s "$TMP/init_st/model.safetensors" "$TMP/init_bin/model.safetensors" || fail "init from the .bin backbone differs"
echo "ok: gliner init reads a backbone's pytorch_model.bin"

# 7. gliner train --model on the .bin checkpoint: trains, and its checkpoints are model.safetensors
printf '[{"tokenized_text": ["Barack", "Obama", "visited", "Paris", "."], "ner": [[0, 1, "person"], [3, 3, "location"]]}]\n' >"$TMP/train.json"
cat >"$TMP/train.yaml" <<Y
model:
  name: "t"
data:
  root_dir: $TMP/unused
  train_data: "$TMP/train.json"
  val_data_dir: "none"
training:
  prev_path: null
  num_steps: 2
  train_batch_size: 1
  eval_every: 2
  save_total_limit: 1
  seed: 7
Y
"$GLINER" train "$TMP/train.yaml" --model "$MB" --output "$TMP/tr" --threads 1 >"$TMP/tr.log" 2>&1 || { cat "$TMP/tr.log"; fail "train from the .bin checkpoint"; }
ck=$(ls -d "$TMP"/tr/checkpoint-* | head -1)
[ -f "$ck/model.safetensors" ] && [ ! -e "$ck/pytorch_model.bin" ] || fail "checkpoint: $(ls -A "$ck")"
"$GLINER" info "$ck" >/dev/null 2>&1 || fail "gliner info on the checkpoint"
echo "ok: gliner train starts from pytorch_model.bin"
