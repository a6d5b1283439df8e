#!/usr/bin/env bash
# test_predict_truncation.sh GLINER SRC -- texts longer than max_len words or than the encoder's sub-token cap
# (issue 11: a million-text run must not print a million warnings): the first 5 truncated texts are named on
# stderr with their input line (not their place in a chunk or batch), the rest are counted once at the end; the
# output lines are as without the warnings; --window reads every word (no warning); GLINER_LOG=error silences them.
set -u
GLINER=$1 SRC=$2
B=$SRC/tests/fixtures/models/uni_span_bert_markerV0 # max_len 64, model_max_length 128
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
P=("$GLINER" predict --model "$B" --labels person,location --threads 1)

long=$(for i in $(seq 70); do printf 'w%d ' "$i"; done)
{ for i in $(seq 12); do echo "short text $i"; echo "$long"; done; } >"$TMP/in.txt" # lines 2, 4, ..., 24 are long
"${P[@]}" --file "$TMP/in.txt" --chunk-size 3 --batch-size 2 >"$TMP/out" 2>"$TMP/err" || fail "exit $?: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/out")" -eq 24 ] || fail "expected 24 lines: $(cat "$TMP/out")"
n=$(grep -c 'truncated to max_len' "$TMP/err")
[ "$n" -eq 5 ] || fail "expected 5 named truncations, got $n: $(cat "$TMP/err")"
for l in 2 4 6 8 10; do
  grep -q "in.txt:$l: more than max_len 64 words" "$TMP/err" || fail "line $l not named: $(cat "$TMP/err")"
done
grep -q "in.txt:12:" "$TMP/err" && fail "a sixth truncation named: $(cat "$TMP/err")"
grep -q "12 of 24 texts were truncated in all" "$TMP/err" || fail "no summary count: $(cat "$TMP/err")"

# the sub-token cap, named the same way (TEXT arguments: "text N", N the argument's place)
"${P[@]}" --max-tokens 20 "a b" "one two three four five six seven eight nine ten eleven twelve thirteen fourteen" \
  >"$TMP/out" 2>"$TMP/err" || fail "exit $?: $(cat "$TMP/err")"
grep -q "text 1: more sub-tokens than the encoder takes; cut to the cap of 20 per sequence" "$TMP/err" ||
  fail "the cut text is not named: $(cat "$TMP/err")"
grep -q "text 0:" "$TMP/err" && fail "an uncut text named: $(cat "$TMP/err")"

# a window reads every word: nothing to report
"${P[@]}" --window 32 --file "$TMP/in.txt" >"$TMP/out" 2>"$TMP/err" || fail "exit $?: $(cat "$TMP/err")"
grep -q truncat "$TMP/err" && fail "--window still reports truncation: $(cat "$TMP/err")"
GLINER_LOG=error "${P[@]}" --file "$TMP/in.txt" >"$TMP/out" 2>"$TMP/err" || fail "exit $?"
[ -s "$TMP/err" ] && fail "GLINER_LOG=error still prints: $(cat "$TMP/err")"
echo "ok"
