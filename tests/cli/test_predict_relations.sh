#!/usr/bin/env bash
# test_predict_relations.sh GLINER SRC -- `gliner predict --relations` on every relex fixture (a config with
# relations_layer): the reference's main case in its flat, single-label mode (inputs.json decoded["thr=0.3,flat_ner=True,
# multi_label=False"], or, in the mode fixtures, decoded["threshold=T,adjacency_threshold=A,relation_threshold=R,
# flat_ner=True,multi_label=False"] with the thresholds tuned per case) gives the same entities and relations (fields,
# order, entity_idx; scores within 1e-5), from TEXT arguments and from JSONL with per-text "relations"; and the one-line
# errors: --relations on a model that is not relex (exit 2), an empty --relations, JSONL "relations" that is not a
# non-empty list of strings.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
n=0
for M in "$SRC"/tests/fixtures/models/*/; do
  grep -q '"relations_layer": *"' "$M/gliner_config.json" || continue
  python3 - "$M" "$TMP/args" <<'PY' || fail "$M: no usable reference case"
import json, re, sys
d = json.load(open(sys.argv[1] + "/reference/inputs.json"))
c = d["cases"]["main"]
key = next(k for k in c["decoded"] if "flat_ner=True" in k and "multi_label=False" in k)
num = lambda name: (re.search(name + r"=([0-9.]+)", key) or [None, ""])[1]
flags = ["--threshold", num("thr") or num("threshold")]
for f, name in (("--adjacency-threshold", "adjacency_threshold"), ("--relation-threshold", "relation_threshold")):
    if num(name): flags += [f, num(name)]
json.dump({"texts": c["texts"], "labels": c["labels"], "relations": c["relations"], "key": key, "flags": flags},
          open(sys.argv[2], "w"))
PY
  mapfile -t FL < <(python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["flags"]]' "$TMP/args")
  mapfile -t TX < <(python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["texts"]]' "$TMP/args")
  L=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["labels"]))' "$TMP/args")
  R=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["relations"]))' "$TMP/args")
  "$GLINER" predict --model "$M" --threads 1 "${FL[@]}" --labels "$L" --relations "$R" "${TX[@]}" >"$TMP/o" 2>"$TMP/e" ||
    fail "$M: exit $?: $(cat "$TMP/e")"
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]+"/reference/inputs.json"))["cases"]["main"]["texts"]
[print(json.dumps({"text": t, "labels": sys.argv[2].split(","), "relations": sys.argv[3].split(",")})) for t in d]' "$M" "$L" "$R" >"$TMP/in.jsonl"
  "$GLINER" predict --model "$M" --threads 1 "${FL[@]}" <"$TMP/in.jsonl" >"$TMP/o2" 2>"$TMP/e" || fail "$M JSONL: $(cat "$TMP/e")"
  cmp -s "$TMP/o" "$TMP/o2" || fail "$M: per-text JSONL relations differ from --relations"
  python3 - "$M" "$TMP/o" "$TMP/args" <<'PY' || fail "$M: output differs from the reference"
import json, sys
key = json.load(open(sys.argv[3]))["key"]
ref = json.load(open(sys.argv[1] + "/reference/inputs.json"))["cases"]["main"]["decoded"][key]
if "error" in ref: sys.exit(0)  # the reference failed on this case (padded classes): nothing to compare
got = [json.loads(l) for l in open(sys.argv[2])]
def close(a, b, path):
    if isinstance(a, dict):
        assert set(a) == set(b), (path, sorted(a), sorted(b))
        assert list(a) == list(b), (path, "key order", list(a), list(b))
        for k in a: close(a[k], b[k], path + "." + k)
    elif isinstance(a, list):
        assert len(a) == len(b), (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)): close(x, y, "%s[%d]" % (path, i))
    elif isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) < 1e-5, (path, a, b)
    else:
        assert a == b, (path, a, b)
for i, g in enumerate(got):
    close(g["entities"], ref["entities"][i], "entities[%d]" % i)
    close(g["relations"], ref["relations"][i], "relations[%d]" % i)
print("ok", sys.argv[1], sum(len(r) for r in ref["relations"]), "relations")
PY
  n=$((n + 1))
done
[ $n -ge 2 ] || fail "only $n relex fixtures"

RX=$SRC/tests/fixtures/models/uni_span_relex
B=$SRC/tests/fixtures/models/uni_span_bert_markerV0
"$GLINER" predict --model "$B" --labels person --relations "born in" "John" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc = 2 ] || fail "--relations on a plain NER model: exit $rc (expected 2)"
[ "$(wc -l <"$TMP/e")" = 1 ] && grep -q -- "--relations: the model is not a relation extraction model" "$TMP/e" ||
  fail "--relations on a plain NER model: $(cat "$TMP/e")"
"$GLINER" predict --model "$RX" --labels person --relations " , " "John" >"$TMP/o" 2>"$TMP/e" && fail "empty --relations accepted"
[ "$(wc -l <"$TMP/e")" = 1 ] && grep -q -- "--relations ' , ': expected a comma-separated list" "$TMP/e" || fail "empty --relations: $(cat "$TMP/e")"
for bad in '"relations": "born in"' '"relations": [1]' '"relations": []'; do
  echo "{\"text\": \"John\", \"labels\": [\"person\"], $bad}" | "$GLINER" predict --model "$RX" >"$TMP/o" 2>"$TMP/e" &&
    fail "JSONL $bad accepted"
  [ "$(wc -l <"$TMP/e")" -le 2 ] && grep -q 'stdin:1: "relations": ' "$TMP/e" || fail "JSONL $bad: $(cat "$TMP/e")"
done
echo '{"text": "John", "labels": ["person"], "relations": ["born in"]}' | "$GLINER" predict --model "$B" >"$TMP/o" 2>"$TMP/e" &&
  fail "JSONL relations on a plain NER model accepted"
grep -q '"relations": the model is not a relation extraction model' "$TMP/e" || fail "JSONL relations, plain model: $(cat "$TMP/e")"
echo ok
