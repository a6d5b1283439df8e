#!/usr/bin/env bash
# test_predict_errors.sh GLINER SRC -- bad input and failed writes in `gliner predict` (issue 11, items 5 and 9):
#   --on-error fail stops at the first bad input with an error naming it (stdin:LINE:COL, FILE:LINE, text N) and
#   writes every line before it and none for it; --on-error skip writes {"index", "error"} in its place and counts
#   the skipped inputs on stderr; a JSONL line with two objects or trailing text is an error naming the column;
#   --file naming a directory, --labels naming a missing path are errors, an existing label file is read (and said);
#   --flat --nested is a usage error; usage errors exit 2 and runtime errors 1 in every subcommand; a failed
#   write to stdout (/dev/full) exits 1 naming the lines lost, in predict, tokenize, info and version;
#   --output to a FIFO is written in place (never replaced by a file).
set -u
GLINER=$1 SRC=$2
B=$SRC/tests/fixtures/models/uni_span_bert_markerV0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export GLINER_LOG=info
P=("$GLINER" predict --model "$B" --threads 1)

# --on-error fail: lines before the bad one, nothing for it or after, exit 1, the line named
printf '%s\n' '{"text": "John lives in Paris", "labels": ["person"]}' '' '{"text": "ok"}' \
  '{"text": "a"} {"text": "b"}' '{"text": "after"}' >"$TMP/two.jsonl"
"${P[@]}" --labels location <"$TMP/two.jsonl" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc = 1 ] || fail "a JSONL line with two objects: exit $rc (expected 1); stderr: $(cat "$TMP/e")"
grep -q 'stdin:4:15: a second JSON object on the line' "$TMP/e" || fail "two objects: the error must name line 4, column 15: $(cat "$TMP/e")"
[ "$(wc -l <"$TMP/o")" = 2 ] && grep -q '"index":0' "$TMP/o" && grep -q '"index":1' "$TMP/o" ||
  fail "--on-error fail: the 2 inputs before the bad one must be written, nothing for it: $(cat "$TMP/o")"

printf '%s\n' '{"text": "x"}   garbage' >"$TMP/trail.jsonl"
"${P[@]}" --labels location <"$TMP/trail.jsonl" >"$TMP/o" 2>"$TMP/e" && fail "trailing text after the object accepted"
grep -q 'stdin:1:17: unexpected text after the JSON object' "$TMP/e" || fail "trailing text: $(cat "$TMP/e")"
[ -s "$TMP/o" ] && fail "trailing text: output for the bad line: $(cat "$TMP/o")"

# --dtype: tf32 (and the 16-bit ones) need --device cuda; an unknown one names the choices
"${P[@]}" --labels location --dtype tf32 "John" >"$TMP/o" 2>"$TMP/e" && fail "--dtype tf32 on the CPU accepted"
grep -q "dtype 'tf32' needs --device cuda" "$TMP/e" || fail "--dtype tf32 on the CPU: $(cat "$TMP/e")"
"${P[@]}" --labels location --dtype fp8 "John" >"$TMP/o" 2>"$TMP/e" && fail "--dtype fp8 accepted"
grep -q "dtype 'fp8': expected fp32, tf32, bf16 or fp16" "$TMP/e" || fail "--dtype fp8: $(cat "$TMP/e")"

# --on-error skip: an error line in place, the rest runs, the count on stderr, exit 0
printf '%s\n' '{"text": "John"}' '{"text": "a"} {"text": "b"}' $'{"text": "bad \xff byte"}' \
  $'{"text": "q", "labels": ["\xff"]}' '{"text": "Paris", "labels": [1]}' 'not json' '{"text": "Berlin"}' >"$TMP/skip.jsonl"
"${P[@]}" --labels location --on-error skip <"$TMP/skip.jsonl" >"$TMP/o" 2>"$TMP/e" || fail "--on-error skip: exit $?: $(cat "$TMP/e")"
[ "$(wc -l <"$TMP/o")" = 7 ] || fail "--on-error skip: one line per input expected: $(cat "$TMP/o")"
for want in '{"index":1,"error":"stdin:2:15: a second JSON object' '{"index":2,"error":"stdin:3: invalid UTF-8 at byte 4"}' \
  '{"index":3,"error":"stdin:4: label 0: invalid UTF-8' '{"index":4,"error":"stdin:5: \"labels\": expected a list of strings"}' \
  '{"index":5,"error":"stdin:6:1: invalid JSON' '{"index":6,"entities":' '{"index":0,"entities":'; do
  grep -qF "$want" "$TMP/o" || fail "--on-error skip: no line $want in: $(cat "$TMP/o")"
done
grep -q '5 of 7 inputs skipped' "$TMP/e" || fail "--on-error skip: the count on stderr: $(cat "$TMP/e")"
# the good ones get exactly what a run without the bad ones gives them (the bad label's batch is re-run text by text)
printf '%s\n' '{"text": "John"}' '{"text": "Berlin"}' | "${P[@]}" --labels location >"$TMP/good" 2>/dev/null || fail "good lines alone"
[ "$(grep '"entities"' "$TMP/o" | sed 's/"index":[0-9]*//')" = "$(sed 's/"index":[0-9]*//' "$TMP/good")" ] ||
  fail "--on-error skip changed the good inputs' entities: $(cat "$TMP/o") vs $(cat "$TMP/good")"

# TEXT arguments and --file: the error names "text N" / FILE:LINE
"${P[@]}" --labels person "fine" $'bad \xff' "after" >"$TMP/o" 2>"$TMP/e" && fail "invalid UTF-8 in a TEXT accepted"
grep -q 'text 1: invalid UTF-8 at byte 4' "$TMP/e" || fail "TEXT error: $(cat "$TMP/e")"
[ "$(wc -l <"$TMP/o")" = 1 ] || fail "TEXT error: the line before it must be written: $(cat "$TMP/o")"
printf 'fine\nbad \xff\n' >"$TMP/texts.txt"
"${P[@]}" --labels person --file "$TMP/texts.txt" >/dev/null 2>"$TMP/e" && fail "invalid UTF-8 in --file accepted"
grep -q "texts.txt:2: invalid UTF-8 at byte 4" "$TMP/e" || fail "--file error: $(cat "$TMP/e")"

# --file naming a directory
"${P[@]}" --labels person --file "$TMP" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc = 1 ] && grep -q 'is a directory' "$TMP/e" || fail "--file DIR: exit $rc: $(cat "$TMP/e")"

# --labels: a missing path is an error, a file is read (and said), a list is a list
"${P[@]}" --labels ./typo.txt "John" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc = 1 ] && grep -qF -- '--labels ./typo.txt: no such file (for a label list, give comma-separated labels)' "$TMP/e" ||
  fail "--labels ./typo.txt: exit $rc: $(cat "$TMP/e") $(cat "$TMP/o")"
"${P[@]}" --labels labels.json "John" >/dev/null 2>"$TMP/e" && fail "--labels labels.json (missing) accepted"
printf 'person\n\nlocation\n' >"$TMP/labels.txt"
"${P[@]}" --labels "$TMP/labels.txt" --threshold 0 "John in Paris" >"$TMP/o1" 2>"$TMP/e" || fail "label file: $(cat "$TMP/e")"
grep -q 'read 2 labels from the file' "$TMP/e" || fail "a label file is not reported as such: $(cat "$TMP/e")"
"${P[@]}" --labels person,location --threshold 0 "John in Paris" >"$TMP/o2" 2>/dev/null || fail "comma-separated labels"
cmp -s "$TMP/o1" "$TMP/o2" || fail "the label file and the list differ"

# usage errors: 2; runtime errors: 1 -- in every subcommand
expect() {
  local want=$1
  shift
  "$GLINER" "$@" </dev/null >/dev/null 2>"$TMP/e"
  local rc=$?
  [ $rc = "$want" ] || fail "gliner $*: exit $rc, expected $want ($(head -1 "$TMP/e"))"
}
expect 2
expect 2 bogus
expect 2 predict --labels person "John"
expect 2 predict --model "$B" --labels person --flat --nested "John"
expect 2 predict --model "$B" --labels person --bogus "John"
expect 2 predict --model "$B" --labels person --batch-size 0 "John"
expect 2 predict --model "$B" --labels person --on-error maybe "John"
expect 2 predict --model "$B" --labels person --resume "John"
expect 2 predict --model "$B" --labels person --file "$TMP/texts.txt" "John"
expect 2 predict --model "$B" "John"
expect 2 predict --model "$B" --labels
expect 1 predict --model "$TMP/nonexistent" --labels person "John"
expect 1 predict --model "$B" --labels person --file "$TMP/nonexistent.txt"
expect 2 train
expect 2 train --bogus
expect 2 train a.yaml b.yaml
expect 2 train a.yaml --steps x
expect 1 train "$TMP/nonexistent.yaml"
expect 2 init
expect 2 init a
expect 2 init --seed -1 a b
expect 1 init "$TMP/nonexistent.yaml" "$TMP/newdir"
expect 2 convert
expect 2 convert --dtype x a b
expect 1 convert "$TMP/nonexistent" "$TMP/newdir"
expect 2 info
expect 2 info --bogus
expect 1 info "$TMP/nonexistent"
expect 2 tokenize
expect 2 tokenize --model
expect 1 tokenize --model "$TMP/nonexistent"
expect 2 version extra
expect 0 version

# a failed write to stdout: exit 1 naming what was lost (in every subcommand that prints results)
[ -w /dev/full ] || { echo "SKIP part: no /dev/full"; echo ok; exit 0; }
"${P[@]}" --labels person "John" "Paris" >/dev/full 2>"$TMP/e"
rc=$?
[ $rc = 1 ] && grep -q 'stdout: write failed after 0 of 2 lines: No space left on device' "$TMP/e" ||
  fail "predict > /dev/full: exit $rc: $(cat "$TMP/e")"
echo '{"text": "John", "labels": ["person"]}' | "$GLINER" tokenize --model "$B" >/dev/full 2>"$TMP/e"
rc=$?
[ $rc = 1 ] && grep -q 'No space left on device' "$TMP/e" || fail "tokenize > /dev/full: exit $rc: $(cat "$TMP/e")"
for c in "info $B" "version" "predict --help"; do
  "$GLINER" $c >/dev/full 2>"$TMP/e"
  rc=$?
  [ $rc = 1 ] && grep -q 'stdout: write failed: No space left on device' "$TMP/e" || fail "$c > /dev/full: exit $rc: $(cat "$TMP/e")"
done

# --output to a FIFO: written in place, still a FIFO afterwards
mkfifo "$TMP/fifo"
timeout 60 cat "$TMP/fifo" >"$TMP/from_fifo" &
reader=$!
"${P[@]}" --labels person --output "$TMP/fifo" "John" "Paris" 2>"$TMP/e" || fail "--output FIFO: $(cat "$TMP/e")"
wait $reader
[ -p "$TMP/fifo" ] || fail "--output FIFO: the FIFO was replaced"
[ "$(wc -l <"$TMP/from_fifo")" = 2 ] || fail "--output FIFO: the reader got: $(cat "$TMP/from_fifo")"
echo "ok: --on-error fail/skip, JSONL columns, --file DIR, --labels paths, exit codes 2/1, /dev/full, --output FIFO"
