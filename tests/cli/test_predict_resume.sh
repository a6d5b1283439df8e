#!/usr/bin/env bash
# test_predict_resume.sh GLINER SRC -- a killed `gliner predict` does not start over (issue 11, streaming):
#   --resume-from N on stdout skips the first N inputs and keeps the original "index" numbering;
#   with --output FILE, after kill -9 (a) FILE is untouched, and the same command with --resume continues the
#   partial output and ends with FILE byte for byte an uninterrupted run's, also when the kill cut a line;
#   (b) a run without --resume leaves the partial output in place (and says so) until it has committed FILE itself;
#   (c) a second run on FILE while one runs is refused, naming the first one's pid.
# The input comes through a FIFO this script feeds, so the kill lands at a known place: after 5 chunks of 200 are
# written and while the run waits for the 6th chunk's lines.
set -u
GLINER=$1 SRC=$2
B=$SRC/tests/fixtures/models/uni_span_bert_markerV0
. "$SRC/tests/cli/predict_lib.sh" # TMP, fail, texts, partials, kill_at, resume_start / resume_finish
export GLINER_LOG=info

texts 3000 7 3 7 >"$TMP/in.txt"
ARGS=(predict --model "$B" --labels person,location --threads 1 --chunk-size 200)

# the uninterrupted run
"$GLINER" "${ARGS[@]}" --file "$TMP/in.txt" --output "$TMP/ref.jsonl" 2>"$TMP/err" || fail "reference run: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/ref.jsonl")" = 3000 ] || fail "reference run: $(wc -l <"$TMP/ref.jsonl") lines"

# --resume-from on stdout: the same lines from N on, numbered as in the whole run (batches of one: same bytes)
head -n 50 "$TMP/in.txt" >"$TMP/in50.txt"
"$GLINER" "${ARGS[@]}" --batch-size 1 --file "$TMP/in50.txt" >"$TMP/all50" 2>/dev/null || fail "50 texts"
"$GLINER" "${ARGS[@]}" --batch-size 1 --file "$TMP/in50.txt" --resume-from 17 >"$TMP/from17" 2>"$TMP/err" ||
  fail "--resume-from 17: $(cat "$TMP/err")"
tail -n +18 "$TMP/all50" | cmp -s - "$TMP/from17" || fail "--resume-from 17 is not the whole run's lines 17..49"
"$GLINER" "${ARGS[@]}" --file "$TMP/in50.txt" --resume-from 80 >"$TMP/o" 2>/dev/null && [ ! -s "$TMP/o" ] ||
  fail "--resume-from past the end: output or failure"

# (a) kill -9 mid-run: FILE untouched
echo "old content" >"$TMP/out.jsonl"
OUT=(--file "$TMP/fifo" --output "$TMP/out.jsonl")
kill_at out.jsonl 1050 1000 "$TMP/err1" "$GLINER" "${ARGS[@]}" "${OUT[@]}" # after its first 5 chunks
t=$PARTIAL
[ "$(cat "$TMP/out.jsonl")" = "old content" ] || fail "kill -9 changed FILE"
[ "$(partials out.jsonl | wc -l)" = 1 ] || fail "the partial output of the killed run is gone"
cmp -s "$TMP/$t" <(head -n 1000 "$TMP/ref.jsonl") || fail "the partial output is not the uninterrupted run's first lines"
# a kill in the middle of a write: cut the partial inside its 5th chunk
truncate -s $(($(head -n 930 "$TMP/ref.jsonl" | wc -c) - 25)) "$TMP/$t"

# (b) a run without --resume that fails keeps it, and says how to continue
"$GLINER" predict --model "$TMP/nonexistent" --labels person --file "$TMP/in.txt" --output "$TMP/out.jsonl" 2>"$TMP/err" &&
  fail "a run on a missing model succeeded"
grep -q "partial output of an interrupted run is kept at .*$t.*--resume" "$TMP/err" || fail "(b) not told about the partial output: $(cat "$TMP/err")"
[ -f "$TMP/$t" ] || fail "(b) a run that failed removed the partial output"
[ "$(cat "$TMP/out.jsonl")" = "old content" ] || fail "(b) a failed run changed FILE"

# (c) the same command with --resume continues it; a second run meanwhile is refused
resume_start out.jsonl "$TMP/err2" "$GLINER" "${ARGS[@]}" "${OUT[@]}" --resume
"$GLINER" "${ARGS[@]}" --file "$TMP/in.txt" --output "$TMP/out.jsonl" 2>"$TMP/err3"
rc=$?
[ $rc = 1 ] && grep -q "another gliner predict (pid $RUN) is writing it" "$TMP/err3" ||
  fail "(c) a second run on the same FILE: exit $rc: $(cat "$TMP/err3")"
resume_finish || fail "the resumed run: exit $?: $(cat "$TMP/err2")"
grep -q "resuming the interrupted run's output .*: 800 of its 929 results kept" "$TMP/err2" ||
  fail "the resumed run did not continue at the chunk the cut fell in: $(cat "$TMP/err2")"
cmp -s "$TMP/out.jsonl" "$TMP/ref.jsonl" || fail "(a) killed + resumed is not byte for byte the uninterrupted run"
[ -z "$(partials out.jsonl)" ] || fail "partial outputs left behind: $(partials out.jsonl)"

# (b) again: a complete run without --resume removes a partial output only once FILE is committed
cp "$TMP/ref.jsonl" "$TMP/.out.jsonl.tmp.999999.0"
"$GLINER" "${ARGS[@]}" --file "$TMP/in50.txt" --output "$TMP/out.jsonl" 2>"$TMP/err" || fail "fresh run: $(cat "$TMP/err")"
grep -q 'partial output of an interrupted run is kept' "$TMP/err" && grep -q 'removed .*tmp.999999.0' "$TMP/err" ||
  fail "a fresh run must name the partial output, then remove it: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/out.jsonl")" = 50 ] && [ -z "$(partials out.jsonl)" ] || fail "fresh run: FILE or the partial output"

# a partial output that is not this command's: refused, not mixed in
printf '{"index":5,"entities":[]}\n' >"$TMP/.out.jsonl.tmp.999999.0"
"$GLINER" "${ARGS[@]}" --file "$TMP/in50.txt" --output "$TMP/out.jsonl" --resume 2>"$TMP/err" && fail "a foreign partial output resumed"
grep -q '"index" 5, expected 0' "$TMP/err" || fail "foreign partial output: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/out.jsonl")" = 50 ] || fail "a refused resume changed FILE"
echo "ok: --resume-from, kill -9 + --resume byte-identical, partial outputs kept until replaced, one writer per FILE"
