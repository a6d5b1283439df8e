#!/usr/bin/env bash
# test_convert_spert.sh GLINER SRC -- scripts/convert_spert.py (issue 16): SpERT JSON (CoNLL04) -> the reference's
# relex training JSON, in the layout of shared/data/re/ade (tokenized_text, ner [s, e_inclusive, label],
# relations [head, tail, label] into ner; json.dumps' own text). Checks the exact output of an inline sample, the
# label choices, each malformed-input error (one line naming the file and record; exit 1; OUT untouched, no
# temporary left), --skip-bad, and, where shared/data/re/conll04 is beside the checkout, the real train split's
# counts. GLINER is not used. Stdlib python3 only; exit 77 (skip) without python3.
set -u
SRC=$2
PY=$(command -v python3) || { echo "SKIP: python3 not found"; exit 77; }
CONV=$SRC/scripts/convert_spert.py
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$TMP/s_types.json" <<'EOF'
{"entities": {"Loc": {"short": "Loc", "verbose": "Location"}, "Peop": {"short": "Peop", "verbose": "People"}},
 "relations": {"Live_In": {"short": "Live", "verbose": "Live in", "symmetric": false}}}
EOF
cat >"$TMP/s.json" <<'EOF'
[{"tokens": ["John", "Smith", "lives", "in", "São", "Paulo", "."],
  "entities": [{"type": "Loc", "start": 4, "end": 6}, {"type": "Peop", "start": 0, "end": 2}],
  "relations": [{"type": "Live_In", "head": 1, "tail": 0}], "orig_id": 7},
 {"tokens": ["Nothing", "here"], "entities": [], "relations": []}]
EOF

# 1. exact output, default names (verbose); the types file found beside the input
"$PY" "$CONV" "$TMP/s.json" "$TMP/out.json" 2>"$TMP/err" || { cat "$TMP/err"; fail "converting the sample"; }
want='[{"tokenized_text": ["John", "Smith", "lives", "in", "S\u00e3o", "Paulo", "."], "ner": [[4, 5, "Location"], [0, 1, "People"]], "relations": [[1, 0, "Live in"]]}, {"tokenized_text": ["Nothing", "here"], "ner": [], "relations": []}]'
[ "$(cat "$TMP/out.json")" = "$want" ] || fail "output differs:
got:  $(cat "$TMP/out.json")
want: $want"
[ -z "$(tail -c 1 "$TMP/out.json")" ] && fail "trailing newline (ade's files have none)"
grep -q "2 records -> 2 records, 2 entities, 1 relations" "$TMP/err" || fail "summary: $(cat "$TMP/err")"
echo "ok: sample converted exactly (verbose labels, inclusive ends)"

# 2. --names short / key, --lower, an explicit --types
"$PY" "$CONV" "$TMP/s.json" "$TMP/o2.json" --names short --lower --types "$TMP/s_types.json" 2>/dev/null || fail "--names short"
grep -q '\[\[4, 5, "loc"\], \[0, 1, "peop"\]\], "relations": \[\[1, 0, "live"\]\]' "$TMP/o2.json" || fail "short+lower: $(cat "$TMP/o2.json")"
"$PY" "$CONV" "$TMP/s.json" "$TMP/o3.json" --names key 2>/dev/null || fail "--names key"
grep -q '"relations": \[\[1, 0, "Live_In"\]\]' "$TMP/o3.json" || fail "key: $(cat "$TMP/o3.json")"
echo "ok: --names short|key, --lower"

# 3. malformed records: one line naming the file and record, exit 1, OUT untouched, no temporary left
good='{"tokens": ["a", "b", "c"], "entities": [{"type": "Loc", "start": 0, "end": 1}, {"type": "Peop", "start": 1, "end": 3}], "relations": [{"type": "Live_In", "head": 1, "tail": 0}]}'
bad() {  # NAME RECORD EXPECTED-MESSAGE-PART
  printf '[%s, %s]\n' "$good" "$2" >"$TMP/b_$1.json"
  echo previous >"$TMP/keep.json"
  rc=0
  "$PY" "$CONV" "$TMP/b_$1.json" "$TMP/keep.json" --types "$TMP/s_types.json" >/dev/null 2>"$TMP/err" || rc=$?
  [ "$rc" = 1 ] || fail "$1: exit $rc, expected 1: $(cat "$TMP/err")"
  [ "$(wc -l <"$TMP/err")" = 1 ] || fail "$1: the error is not one line: $(cat "$TMP/err")"
  grep -q "Traceback" "$TMP/err" && fail "$1: traceback"
  grep -qF "$TMP/b_$1.json: record 1: $3" "$TMP/err" || fail "$1: message: $(cat "$TMP/err")"
  [ "$(cat "$TMP/keep.json")" = previous ] || fail "$1: OUT was replaced"
  ls -A "$TMP" | grep -q '\.tmp$' && fail "$1: temporary left: $(ls -A "$TMP")"
  echo "ok: $1 -> $(cat "$TMP/err")"
}
bad missing_tokens '{"entities": [], "relations": []}' 'missing key "tokens"'
bad missing_relations '{"tokens": ["a"], "entities": []}' 'missing key "relations"'
bad missing_end '{"tokens": ["a"], "entities": [{"type": "Loc", "start": 0}], "relations": []}' 'entity 0: missing key "end"'
bad end_past_tokens '{"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": 1, "end": 3}], "relations": []}' 'entity 0: [1, 3) is outside the 2 tokens'
bad negative_start '{"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": -1, "end": 1}], "relations": []}' 'entity 0: [-1, 1) is outside'
bad end_le_start '{"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": 1, "end": 1}], "relations": []}' 'entity 0: end 1 <= start 1'
bad float_index '{"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": 0.0, "end": 1}], "relations": []}' 'entity 0: start and end must be integers'
bad unknown_entity_type '{"tokens": ["a"], "entities": [{"type": "Org", "start": 0, "end": 1}], "relations": []}' 'entity 0: unknown type "Org"'
bad tail_past_entities '{"tokens": ["a"], "entities": [{"type": "Loc", "start": 0, "end": 1}], "relations": [{"type": "Live_In", "head": 0, "tail": 1}]}' 'relation 0: tail 1 is past the 1 entities'
bad head_is_tail '{"tokens": ["a"], "entities": [{"type": "Loc", "start": 0, "end": 1}], "relations": [{"type": "Live_In", "head": 0, "tail": 0}]}' 'relation 0: head and tail are the same entity 0'
bad unknown_relation_type '{"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": 0, "end": 1}, {"type": "Loc", "start": 1, "end": 2}], "relations": [{"type": "Kill", "head": 0, "tail": 1}]}' 'relation 0: unknown type "Kill"'
bad not_object '[1, 2]' 'not a JSON object'
bad token_not_string '{"tokens": ["a", 3], "entities": [], "relations": []}' 'token 1 is not a string'

# whole-file errors: not JSON, not a list, a types file without names
for c in 'not json:[{' '{"tokens": []}'; do
  printf '%s' "${c#not json:}" >"$TMP/w.json"
  rc=0
  "$PY" "$CONV" "$TMP/w.json" "$TMP/w_out.json" --types "$TMP/s_types.json" 2>"$TMP/err" || rc=$?
  [ "$rc" = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -qF "$TMP/w.json: " "$TMP/err" && [ ! -e "$TMP/w_out.json" ] \
    || fail "whole-file error ($c): rc $rc: $(cat "$TMP/err")"
  echo "ok: $(cat "$TMP/err")"
done
echo '{"entities": {"Loc": {"short": "Loc"}}, "relations": {}}' >"$TMP/t_bad.json"
rc=0
"$PY" "$CONV" "$TMP/s.json" "$TMP/w_out.json" --types "$TMP/t_bad.json" 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "$TMP/t_bad.json: entities type \"Loc\" has no \"verbose\" name" "$TMP/err" || fail "types: $(cat "$TMP/err")"
echo "ok: $(cat "$TMP/err")"

# 4. --skip-bad: bad records skipped, reported and counted; the rest written
printf '[%s, {"tokens": ["a"], "entities": [{"type": "Loc", "start": 0, "end": 5}], "relations": []}, %s, {"tokens": []}]\n' \
  "$good" "$good" >"$TMP/mixed.json"
"$PY" "$CONV" "$TMP/mixed.json" "$TMP/m_out.json" --types "$TMP/s_types.json" --skip-bad 2>"$TMP/err" \
  || { cat "$TMP/err"; fail "--skip-bad"; }
grep -q "record 1: entity 0: \[0, 5) is outside the 1 tokens (skipped)" "$TMP/err" || fail "skip report: $(cat "$TMP/err")"
grep -q "4 records -> 2 records, 4 entities, 2 relations (2 bad records skipped)" "$TMP/err" || fail "skip count: $(cat "$TMP/err")"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==2 and d[0]==d[1]' "$TMP/m_out.json" || fail "--skip-bad output"
echo "ok: --skip-bad skipped and counted 2 of 4"

# 5. the real CoNLL04 train split, if the shared data is beside the checkout
D=$SRC/../shared/data/re/conll04
if [ -f "$D/conll04_train.json" ]; then
  "$PY" "$CONV" "$D/conll04_train.json" "$TMP/c04.json" 2>"$TMP/err" || { cat "$TMP/err"; fail "conll04 train"; }
  "$PY" - "$D/conll04_train.json" "$TMP/c04.json" <<'EOF' || fail "conll04 counts"
import json, sys
src, out = (json.load(open(p)) for p in sys.argv[1:3])
ns = (len(src), sum(len(r["entities"]) for r in src), sum(len(r["relations"]) for r in src))
no = (len(out), sum(len(r["ner"]) for r in out), sum(len(r["relations"]) for r in out))
print(f"conll04 train: SpERT {ns[0]} records / {ns[1]} entities / {ns[2]} relations; "
      f"relex {no[0]} / {no[1]} / {no[2]}")
assert ns == no, "counts differ"
for a, b in zip(src, out):
    assert a["tokens"] == b["tokenized_text"]
    assert [[e["start"], e["end"] - 1] for e in a["entities"]] == [n[:2] for n in b["ner"]]
    assert [[x["head"], x["tail"]] for x in a["relations"]] == [x[:2] for x in b["relations"]]
labels = sorted({n[2] for r in out for n in r["ner"]}), sorted({x[2] for r in out for x in r["relations"]})
print("labels:", labels)
assert labels == (["Location", "Organization", "Other", "People"],
                  ["Kill", "Live in", "Located in", "Organization based in", "Work for"])
EOF
  echo "ok: conll04 train converted, counts and spans match"
else
  echo "note: $D not found; the real-data check is skipped"
fi
echo "all convert_spert checks passed"
