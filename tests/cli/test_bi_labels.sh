#!/usr/bin/env bash
# test_bi_labels.sh GLINER SRC -- issue 11 item 10: JSONL whose texts carry different label lists on a
# bi-encoder (span, token, span with a CrossFuser) is predicted in batches, and every line equals the line
# --batch-size 1 prints (same spans and labels, scores within 1e-5). The texts have one word count: a
# CrossFuser attends padded words (the reference's behaviour), so only then is a batch the same as one text.
set -u
GLINER=$1 SRC=$2
PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: no python3 to compare the outputs"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$TMP/in.jsonl" <<'JEOF'
{"text": "John Smith works for Acme in Berlin.", "labels": ["person", "location", "organization"]}
{"text": "Paris is lovely in May this year.", "labels": ["location", "date"]}
{"text": "Maria moved to Lisbon to join Siemens.", "labels": ["city", "company name"]}
{"text": "Angela Merkel met Macron in Brussels today.", "labels": ["person", "location", "organization"]}
{"text": "Nothing to see here at all, really.", "labels": []}
{"text": "Tom Cruise was born 4 July 1990.", "labels": ["date", "person", "person", "date", "event"]}
{"text": "Google opened an office in Zurich yesterday.", "labels": ["location", "person", "organization"]}
{"text": "Ada Lovelace wrote notes on the Engine.", "labels": ["person"]}
JEOF
for m in bi_span_bert bi_token_bert bi_span_postfusion; do
  M=$SRC/tests/fixtures/models/$m
  thr=0.2; [ "$m" = bi_token_bert ] && thr=0.02
  "$GLINER" predict --model "$M" --threshold $thr --nested --batch-size 8 <"$TMP/in.jsonl" >"$TMP/batch.jsonl" 2>"$TMP/err" ||
    fail "$m: batch of per-text label lists: rc $?: $(cat "$TMP/err")"
  "$GLINER" predict --model "$M" --threshold $thr --nested --batch-size 1 <"$TMP/in.jsonl" >"$TMP/one.jsonl" 2>"$TMP/err" ||
    fail "$m: --batch-size 1: rc $?: $(cat "$TMP/err")"
  "$PY" - "$TMP/batch.jsonl" "$TMP/one.jsonl" "$m" <<'PYEOF' || exit 1
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
m = sys.argv[3]
if len(a) != 8 or len(b) != 8: sys.exit(f"FAIL: {m}: {len(a)} and {len(b)} lines, expected 8")
n = 0
for x, y in zip(a, b):
    ex, ey = x["entities"], y["entities"]
    key = lambda e: (e["start"], e["end"], e["label"], e["text"])
    if [key(e) for e in ex] != [key(e) for e in ey] or any(abs(p["score"] - q["score"]) > 1e-5 for p, q in zip(ex, ey)):
        sys.exit(f"FAIL: {m}: line {x['index']}: batch {ex} vs --batch-size 1 {ey}")
    n += len(ex)
if a[4]["entities"]: sys.exit(f"FAIL: {m}: the text without labels got entities")
if n < 5: sys.exit(f"FAIL: {m}: only {n} entities, the comparison shows nothing")
print(f"{m}: {n} entities, batch == --batch-size 1")
PYEOF
done
echo PASS
