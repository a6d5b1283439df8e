#!/usr/bin/env bash
# test_predict_decoder.sh GLINER SRC -- `gliner predict` on every generative decoder fixture (uni_span_decoder_*): each
# run of reference/decoder.json (greedy, greedy with --gen-constraints, beam search with --num-gen-sequences 2 with and
# without constraints, nested decoding) gives the reference's entities with their "generated_labels" (strings
# identical, scores within 1e-5), from TEXT arguments and from JSONL; the constraints from a file as from a list; the
# reference's crash case "no span above the threshold" answers with no entities; --no-generate drops the labels;
# --sample with one --seed twice gives one output; and the one-line errors: generation flags on a model without a
# decoder (exit 2), --window with generation (exit 2). Runs from SRC: the fixtures name their decoder tokenizer by a
# repository-relative path, as the reference resolves it.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$SRC" || fail "cd $SRC"
n=0
for M in tests/fixtures/models/uni_span_decoder_*/; do
  [ -f "$M/reference/decoder.json" ] || continue
  for RUN in greedy greedy_constrained beam2 beam2_constrained greedy_nested; do
    python3 - "$M" "$RUN" "$TMP/args" "$TMP/cons.txt" <<'PY' || fail "$M $RUN: no such run"
import json, sys
d = json.load(open(sys.argv[1] + "/reference/decoder.json"))
r = d["runs"][sys.argv[2]]
g = d["runs"]["greedy"]
src = r if "max_new_tokens" in r else g
flags = ["--threshold", repr(r["threshold"]), "--flat" if r["flat_ner"] else "--nested",
         "--max-new-tokens", str(src["max_new_tokens"]), "--num-gen-sequences", str(src["num_gen_sequences"])]
if r["multi_label"]: flags.append("--multi-label")
if src.get("gen_constraints"):
    open(sys.argv[4], "w").write("\n".join(src["gen_constraints"]) + "\n")
    flags += ["--gen-constraints", ",".join(src["gen_constraints"])]
json.dump({"texts": r["texts"], "labels": r["labels"], "flags": flags}, open(sys.argv[3], "w"))
PY
    mapfile -t FL < <(python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["flags"]]' "$TMP/args")
    mapfile -t TX < <(python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["texts"]]' "$TMP/args")
    L=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["labels"]))' "$TMP/args")
    "$GLINER" predict --model "$M" --threads 1 "${FL[@]}" --labels "$L" "${TX[@]}" >"$TMP/o" 2>"$TMP/e" ||
      fail "$M $RUN: exit $?: $(cat "$TMP/e")"
    python3 - "$M" "$RUN" "$TMP/o" <<'PY' || fail "$M $RUN: output differs from the reference"
import json, sys
ref = json.load(open(sys.argv[1] + "/reference/decoder.json"))["runs"][sys.argv[2]]["entities"]
got = [json.loads(l)["entities"] for l in open(sys.argv[3])]
assert len(got) == len(ref), (len(got), len(ref))
for i, (a, b) in enumerate(zip(got, ref)):
    assert len(a) == len(b), (i, a, b)
    for x, y in zip(a, b):
        assert list(x) == list(y), (i, "keys", list(x), list(y))
        for k in x:
            if k == "score": assert abs(x[k] - y[k]) < 1e-5, (i, k, x[k], y[k])
            else: assert x[k] == y[k], (i, k, x[k], y[k])
PY
    # the same from JSONL, and the constraints from a file
    python3 -c 'import json,sys
a=json.load(open(sys.argv[1]))
[print(json.dumps({"text": t, "labels": a["labels"]})) for t in a["texts"]]' "$TMP/args" >"$TMP/in.jsonl"
    FL2=()
    for ((k = 0; k < ${#FL[@]}; k++)); do
      if [ "${FL[k]}" = --gen-constraints ]; then FL2+=(--gen-constraints "$TMP/cons.txt"); k=$((k + 1))
      else FL2+=("${FL[k]}"); fi
    done
    "$GLINER" predict --model "$M" --threads 1 "${FL2[@]}" <"$TMP/in.jsonl" >"$TMP/o2" 2>"$TMP/e" ||
      fail "$M $RUN JSONL: $(cat "$TMP/e")"
    cmp -s "$TMP/o" "$TMP/o2" || fail "$M $RUN: JSONL input (constraints from a file) differs from the arguments"
    n=$((n + 1))
  done
  # the reference crashes when no span passes the threshold (generate on an empty batch): entities [], exit 0
  T=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/reference/decoder.json"))["crashes"]["no_span_above_threshold"]["threshold"])' "$M")
  "$GLINER" predict --model "$M" --threads 1 --threshold "$T" --labels person,location "Paris is big." >"$TMP/o" 2>"$TMP/e" ||
    fail "$M: no span above the threshold: $(cat "$TMP/e")"
  grep -q '"entities":\[\]' "$TMP/o" || fail "$M: no span above the threshold: $(cat "$TMP/o")"
  # --no-generate: the same entities without labels
  "$GLINER" predict --model "$M" --threads 1 --threshold 0.5 --no-generate --labels person,location "Paris is big." >"$TMP/o" 2>"$TMP/e" ||
    fail "$M --no-generate: $(cat "$TMP/e")"
  grep -q generated_labels "$TMP/o" && fail "$M --no-generate: $(cat "$TMP/o")"
done
[ "$n" -ge 10 ] || fail "only $n runs compared"

M=tests/fixtures/models/uni_span_decoder_gpt2
# sampling: the seed decides; the same seed twice, the same output
for k in 1 2; do
  "$GLINER" predict --model "$M" --threads 1 --threshold 0.5 --sample --temperature 1.5 --seed 7 --labels person,location \
    "Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!" >"$TMP/s$k" 2>"$TMP/e" || fail "--sample: $(cat "$TMP/e")"
done
cmp -s "$TMP/s1" "$TMP/s2" || fail "--sample --seed 7 twice gave two outputs"
grep -q generated_labels "$TMP/s1" || fail "--sample: no generated labels: $(cat "$TMP/s1")"

# errors
"$GLINER" predict --model tests/fixtures/models/uni_span_deberta_markerV0 --labels person --gen-constraints person x >"$TMP/o" 2>"$TMP/e"
[ $? -eq 2 ] || fail "--gen-constraints on a model without a decoder: expected exit 2"
grep -q "no generative labels decoder" "$TMP/e" || fail "--gen-constraints on a model without a decoder: $(cat "$TMP/e")"
"$GLINER" predict --model "$M" --labels person --window 4 x >"$TMP/o" 2>"$TMP/e"
[ $? -eq 2 ] || fail "--window with generation: expected exit 2"
grep -q "sliding window" "$TMP/e" || fail "--window with generation: $(cat "$TMP/e")"
"$GLINER" predict --model "$M" --labels person --num-gen-sequences 0 x >"$TMP/o" 2>"$TMP/e"
[ $? -eq 2 ] || fail "--num-gen-sequences 0: expected exit 2"
echo "ok: $n decoder runs"
