#!/usr/bin/env bash
# test_predict_shard.sh GLINER SRC -- `gliner predict --shard I/N` (issue 15: N jobs over one input, e.g. a Slurm
# array): each shard runs the inputs whose index is I mod N, blank JSONL lines are not inputs, "index" stays the
# input's own, and the N outputs merged by index give the unsharded run's entities (scores within 1e-5: another
# batching pads differently). Bad values are one-line errors (--shard with a resume: test_predict_shard_resume.sh).
# Needs python3 (77 without).
set -u
GLINER=$1 SRC=$2
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
M=$SRC/tests/fixtures/models/uni_span_bert_markerV0
cat >"$TMP/in.jsonl" <<'J'
{"text": "Barack Obama visited Paris in June."}
{"text": "Apple hired Tim Cook."}

{"text": "Marie Curie won the Nobel Prize in 1903."}
{"text": "Tokyo and Osaka are in Japan."}
{"text": "Lionel Messi joined Inter Miami.", "labels": ["person", "organization"]}
{"text": "The Rhine flows through Basel."}
J
P="$GLINER predict --model $M --labels person,location --threads 1 --batch-size 2"
$P <"$TMP/in.jsonl" >"$TMP/all.jsonl" 2>"$TMP/all.err" || { cat "$TMP/all.err"; fail "unsharded run"; }
for i in 0 1 2; do
  $P --shard $i/3 <"$TMP/in.jsonl" >"$TMP/part$i.jsonl" 2>"$TMP/p$i.err" || { cat "$TMP/p$i.err"; fail "shard $i/3"; }
done
python3 - "$TMP" <<'PY' || fail "the merged shards differ from the unsharded run"
import json, sys
t = sys.argv[1]
whole = [json.loads(l) for l in open(f"{t}/all.jsonl")]
parts = [[json.loads(l) for l in open(f"{t}/part{i}.jsonl")] for i in range(3)]
for i, p in enumerate(parts):
    assert [r["index"] for r in p] == [k for k in range(len(whole)) if k % 3 == i], (i, [r["index"] for r in p])
merged = sorted((r for p in parts for r in p), key=lambda r: r["index"])
assert len(merged) == len(whole) == 6, (len(merged), len(whole))
for a, b in zip(whole, merged):
    ea = [(e["start"], e["end"], e["label"]) for e in a["entities"]]
    eb = [(e["start"], e["end"], e["label"]) for e in b["entities"]]
    assert ea == eb, (a["index"], ea, eb)
    assert all(abs(x["score"] - y["score"]) <= 1e-5 for x, y in zip(a["entities"], b["entities"])), a["index"]
PY
echo "ok: 3 shards merged by index give the unsharded entities"
for bad in 3/3 -1/2 1/0 x 1/2/3 1/; do
  $P --shard "$bad" "a text" >/dev/null 2>"$TMP/e" && fail "--shard $bad accepted"
  [ "$(wc -l <"$TMP/e")" = 1 ] && grep -q -- "--shard: expected I/N" "$TMP/e" || fail "--shard $bad: $(cat "$TMP/e")"
done
echo "ok: bad --shard values are one-line errors"
