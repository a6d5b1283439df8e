#!/usr/bin/env bash
# test_predict_stream.sh GLINER SRC -- `gliner predict` streams (issue 11, "Streaming batch inference"):
#   the lines of a chunk are written while the input is still open (a FIFO fed by this script: the first chunk's
#   lines must appear before the rest of the input is written), in input order; chunking changes nothing in the
#   output (--batch-size 1: byte for byte, whatever --chunk-size); JSONL with per-text labels streams the same way;
#   --max-tokens is accepted; the progress line (texts/s, tokens/s, ETA) is on stderr when it is a terminal and
#   absent otherwise.
set -u
GLINER=$1 SRC=$2
B=$SRC/tests/fixtures/models/uni_span_bert_markerV0
TMP=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export GLINER_LOG=error
P=("$GLINER" predict --model "$B" --labels person,location --threads 1)

# waits up to $2 seconds for file $1 to hold at least $3 lines
wait_lines() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$3" ] && return 0
    sleep 0.05
  done
  return 1
}

# output while the input is still open: chunks of 2 over a FIFO
mkfifo "$TMP/in"
"${P[@]}" --chunk-size 2 --file "$TMP/in" >"$TMP/out" 2>"$TMP/err" &
run=$!
pids+=($run)
exec 3<>"$TMP/in" # read-write: never blocks, even when no reader came
printf 'John lives in Paris\nMarie Curie\nBerlin\nTokyo is big\nAlice\n' >&3
wait_lines "$TMP/out" 30 4 || fail "no output for the first chunks while the input stays open (read everything first?): $(cat "$TMP/out" "$TMP/err")"
printf 'Bob visited Rome\n' >&3
exec 3>&-
wait $run || fail "streaming run: exit $?: $(cat "$TMP/err")"
[ "$(cut -d, -f1 "$TMP/out" | tr '\n' ' ')" = '{"index":0 {"index":1 {"index":2 {"index":3 {"index":4 {"index":5 ' ] ||
  fail "lines not one per input in input order: $(cat "$TMP/out")"

# chunking is invisible in the output (batches of one text: the same bytes whatever the chunks)
for i in $(seq 1 40); do
  case $((i % 4)) in
    0) echo "John Smith lives in Paris and works for Apple number $i" ;;
    1) echo "Berlin" ;;
    2) echo "" ;;
    3) echo "Marie Curie was born in Warsaw in $i and moved to Paris later on" ;;
  esac
done >"$TMP/texts.txt"
"${P[@]}" --batch-size 1 --threshold 0.3 --file "$TMP/texts.txt" >"$TMP/whole" 2>"$TMP/err" || fail "whole: $(cat "$TMP/err")"
"${P[@]}" --batch-size 1 --threshold 0.3 --chunk-size 3 --file "$TMP/texts.txt" >"$TMP/chunked" 2>"$TMP/err" || fail "chunked: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/whole")" = 40 ] || fail "whole: $(wc -l <"$TMP/whole") lines for 40 texts"
cmp -s "$TMP/whole" "$TMP/chunked" || fail "--chunk-size 3 changed the output"
# and with real batches, the same entities (scores may differ in the last bits: other batches, other padding)
"${P[@]}" --threshold 0.3 --chunk-size 7 --file "$TMP/texts.txt" >"$TMP/batched" 2>"$TMP/err" || fail "batched: $(cat "$TMP/err")"
[ "$(sed 's/"score":[^}]*//g' "$TMP/whole")" = "$(sed 's/"score":[^}]*//g' "$TMP/batched")" ] || fail "--chunk-size 7 changed the entities"

# JSONL with per-text labels, in chunks
for i in $(seq 0 9); do
  if [ $((i % 2)) = 0 ]; then echo "{\"text\": \"John lives in Paris $i\", \"labels\": [\"person\"]}"
  else echo "{\"text\": \"John lives in Paris $i\", \"labels\": [\"location\", \"person\"]}"; fi
done >"$TMP/in.jsonl"
"$GLINER" predict --model "$B" --threads 1 --batch-size 1 --threshold 0 <"$TMP/in.jsonl" >"$TMP/j1" 2>"$TMP/err" || fail "JSONL: $(cat "$TMP/err")"
"$GLINER" predict --model "$B" --threads 1 --batch-size 1 --threshold 0 --chunk-size 3 <"$TMP/in.jsonl" >"$TMP/j3" 2>"$TMP/err" ||
  fail "JSONL chunked: $(cat "$TMP/err")"
cmp -s "$TMP/j1" "$TMP/j3" || fail "JSONL: --chunk-size 3 changed the output"
grep -q '"label":"location"' "$TMP/j1" && [ "$(sed -n 1p "$TMP/j1" | grep -c location)" = 0 ] ||
  fail "JSONL: per-text labels not applied: $(cat "$TMP/j1")"

# --max-tokens sets gliner_options.max_tokens (0: the model's limit)
"${P[@]}" --max-tokens 0 "John" >/dev/null 2>"$TMP/err" || fail "--max-tokens 0: $(cat "$TMP/err")"
GLINER_LOG=warn "${P[@]}" --max-tokens 12 "John Smith lives in Paris and works for Apple in Berlin since last year" \
  >/dev/null 2>"$TMP/err" || fail "--max-tokens 12: $(cat "$TMP/err")"
grep -q 'cut to the cap of 12' "$TMP/err" || fail "--max-tokens 12 did not reach the library: $(cat "$TMP/err")"
"${P[@]}" --max-tokens -1 "John" >/dev/null 2>&1
[ $? = 2 ] || fail "--max-tokens -1 must be a usage error"

# progress: never on a stderr that is not a terminal; on one that is, texts/s, tokens/s and an ETA
GLINER_LOG=info "${P[@]}" --chunk-size 5 --file "$TMP/texts.txt" >/dev/null 2>"$TMP/err" || fail "progress run"
grep -q 'texts/s' "$TMP/err" && fail "a progress line on a stderr that is not a terminal: $(cat "$TMP/err")"
if command -v script >/dev/null 2>&1; then
  script -qec "$(printf '%q ' "${P[@]}") --chunk-size 5 --file $TMP/texts.txt >/dev/null" /dev/null >"$TMP/tty" 2>&1 </dev/null ||
    fail "progress on a terminal: $(cat "$TMP/tty")"
  grep -q 'texts/s.*tokens/s.*ETA' "$TMP/tty" || fail "no progress line (texts/s, tokens/s, ETA) on a terminal: $(cat "$TMP/tty")"
else
  echo "note: no script(1); the progress line on a terminal is not checked"
fi
echo "ok: output while the input is open, in order, chunking invisible, JSONL labels, --max-tokens, progress only on a tty"
