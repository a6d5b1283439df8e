#!/usr/bin/env bash
# test_profile.sh GLINER SRC -- GLINER_PROFILE=1 (host/profile.h): `gliner predict` runs normally (the same
# entities as without it) and prints a per-op table to stderr with the ops a span model runs.
set -u
GLINER=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
M=$SRC/tests/fixtures/models/uni_span_bert_markerV0
ARGS=(predict --model "$M" --labels person,location --threshold 0.3 "Barack Obama visited Paris." "Tokyo is big.")
"$GLINER" "${ARGS[@]}" >"$TMP/plain.jsonl" 2>/dev/null || fail "predict without the profiler"
GLINER_PROFILE=1 "$GLINER" "${ARGS[@]}" >"$TMP/prof.jsonl" 2>"$TMP/prof.err" || { cat "$TMP/prof.err"; fail "predict with the profiler"; }
cmp -s "$TMP/plain.jsonl" "$TMP/prof.jsonl" || fail "the profiler changed the output"
for op in linear attention lstm_bidir span_pair_relu total; do
  grep -q "^| $op |" "$TMP/prof.err" || { cat "$TMP/prof.err"; fail "no row for $op"; }
done
echo "PASS"
