#!/usr/bin/env bash
# test_predict_shard_resume.sh GLINER SRC -- a shard (`gliner predict --shard I/N`, issue 15) is resumed like a whole
# run, counting in the shard's own inputs (the lines its output holds):
#   --resume-from K on stdout skips the shard's first K inputs (same lines as the whole shard's from K on);
#   kill -9 mid-run, then the same command with --resume: the shard's FILE ends byte for byte as one uninterrupted
#   run of that shard, also when the kill cut a line (the run goes on at the start of the chunk the cut fell in);
#   a partial output of another shard is refused, naming the index it expected;
#   --on-error fail under --shard names the --resume-from K that continues (K: the shard's inputs before the bad one);
#   a rank of a launch (OMPI_COMM_WORLD_RANK/SIZE set, as mpirun sets them) resumes its own FILE.R-of-N.
# The input comes through a FIFO this script feeds, so the kill lands at a known place (as test_predict_resume.sh).
set -u
GLINER=$1 SRC=$2
B=$SRC/tests/fixtures/models/uni_span_bert_markerV0
. "$SRC/tests/cli/predict_lib.sh" # TMP, fail, texts, partials, kill_at, resume_start / resume_finish
export GLINER_LOG=info

texts 1500 5 3 9 >"$TMP/in.txt"
# shard 1/3: inputs 1, 4, 7, ... -- 500 of them, 5 chunks of 100
ARGS=(predict --model "$B" --labels person,location --threads 1 --chunk-size 100 --batch-size 3 --shard 1/3)
"$GLINER" "${ARGS[@]}" --file "$TMP/in.txt" --output "$TMP/ref.jsonl" 2>"$TMP/err" || fail "the uninterrupted shard: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/ref.jsonl")" = 500 ] && [ "$(head -c 10 "$TMP/ref.jsonl")" = '{"index":1' ] ||
  fail "the uninterrupted shard: $(wc -l <"$TMP/ref.jsonl") lines"

# --resume-from K on stdout: the shard's first K inputs skipped (batches of one: the same bytes)
head -n 60 "$TMP/in.txt" >"$TMP/in60.txt"
"$GLINER" "${ARGS[@]}" --batch-size 1 --file "$TMP/in60.txt" >"$TMP/all60" 2>/dev/null || fail "60 texts"
[ "$(wc -l <"$TMP/all60")" = 20 ] || fail "shard 1/3 of 60 inputs: $(wc -l <"$TMP/all60") lines"
"$GLINER" "${ARGS[@]}" --batch-size 1 --file "$TMP/in60.txt" --resume-from 7 >"$TMP/from7" 2>"$TMP/err" ||
  fail "--shard 1/3 --resume-from 7: $(cat "$TMP/err")"
tail -n +8 "$TMP/all60" | cmp -s - "$TMP/from7" || fail "--shard 1/3 --resume-from 7 is not the shard's lines 7..19"
[ "$(head -c 11 "$TMP/from7")" = '{"index":22' ] || fail "--resume-from 7 of shard 1/3 must start at input 22: $(head -c 40 "$TMP/from7")"
"$GLINER" "${ARGS[@]}" --file "$TMP/in60.txt" --resume-from 20 >"$TMP/o" 2>/dev/null && [ ! -s "$TMP/o" ] ||
  fail "--resume-from past the shard's end: output or failure"
echo "ok: --shard with --resume-from counts the shard's own inputs"

# kill -9 after 3 of the shard's chunks (inputs up to 1050 fed: 350 of the shard's), then --resume
OUT=(--file "$TMP/fifo" --output "$TMP/out.jsonl")
kill_at out.jsonl 1050 300 "$TMP/err1" "$GLINER" "${ARGS[@]}" "${OUT[@]}"
t=$PARTIAL
[ ! -e "$TMP/out.jsonl" ] || fail "kill -9 left FILE"
cmp -s "$TMP/$t" <(head -n 300 "$TMP/ref.jsonl") || fail "the partial output is not the uninterrupted shard's first lines"
truncate -s $(($(head -n 250 "$TMP/ref.jsonl" | wc -c) - 17)) "$TMP/$t" # a kill in the middle of a write
# a partial output of shard 1/3 is not shard 2/3's
cp "$TMP/$t" "$TMP/.other.jsonl.tmp.999999.0"
"$GLINER" predict --model "$B" --labels person,location --threads 1 --shard 2/3 --file "$TMP/in60.txt" \
  --output "$TMP/other.jsonl" --resume 2>"$TMP/err" && fail "another shard's partial output resumed"
grep -q '"index" 1, expected 2 ' "$TMP/err" || fail "another shard's partial output: $(cat "$TMP/err")"
[ ! -e "$TMP/other.jsonl" ] || fail "a refused resume wrote FILE"

resume_start out.jsonl "$TMP/err2" "$GLINER" "${ARGS[@]}" "${OUT[@]}" --resume
resume_finish || fail "the resumed shard: exit $?: $(cat "$TMP/err2")"
grep -q "resuming the interrupted run's output .*: 200 of its 249 results kept (whole chunks of 100), continuing at input 601" \
  "$TMP/err2" || fail "the resumed shard did not continue at the chunk the cut fell in: $(cat "$TMP/err2")"
cmp -s "$TMP/out.jsonl" "$TMP/ref.jsonl" || fail "killed + resumed shard is not byte for byte the uninterrupted shard"
[ -z "$(partials out.jsonl)" ] || fail "partial outputs left behind: $(partials out.jsonl)"
echo "ok: a shard killed and resumed ends byte for byte as the uninterrupted shard"

# --on-error fail under a shard: the --resume-from that continues counts the shard's inputs (1 and 4 before 7)
for i in 0 1 2 3 4 5 6 7 8 9; do
  if [ $i = 7 ]; then echo '{"text": "broken"'; else echo "{\"text\": \"text number $i in Paris\"}"; fi
done >"$TMP/bad.jsonl"
"$GLINER" predict --model "$B" --labels person,location --threads 1 --shard 1/3 <"$TMP/bad.jsonl" >"$TMP/o" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$TMP/o")" = 2 ] && grep -q "stopped at input 7 .*--resume-from 2 continues" "$TMP/err" ||
  fail "--on-error fail under --shard 1/3: exit $rc, $(wc -l <"$TMP/o") lines: $(cat "$TMP/err")"
sed -i 's/{"text": "broken"$/{"text": "fixed"}/' "$TMP/bad.jsonl"
"$GLINER" predict --model "$B" --labels person,location --threads 1 --shard 1/3 --resume-from 2 <"$TMP/bad.jsonl" \
  >"$TMP/o2" 2>"$TMP/err" || fail "--resume-from 2 after the fix: $(cat "$TMP/err")"
[ "$(head -c 10 "$TMP/o2")" = '{"index":7' ] && [ "$(wc -l <"$TMP/o2")" = 1 ] || fail "--resume-from 2: $(cat "$TMP/o2")"
echo "ok: --on-error fail under a shard names the --resume-from that continues"

# a rank of a launch resumes its own FILE.R-of-N (here rank 1 of 3: the same shard, the same chunks)
head -n 150 "$TMP/ref.jsonl" >"$TMP/.auto.jsonl.1-of-3.tmp.999999.0"
LA=(predict --model "$B" --labels person,location --threads 1 --chunk-size 100 --batch-size 3)
OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=3 "$GLINER" "${LA[@]}" --file "$TMP/in.txt" --output "$TMP/auto.jsonl" \
  --resume 2>"$TMP/err" || fail "rank 1 of 3 with --resume: $(cat "$TMP/err")"
grep -q "rank 1 of 3 (OMPI_COMM_WORLD_RANK): inputs whose index is 1 mod 3, written to $TMP/auto.jsonl.1-of-3" "$TMP/err" &&
  grep -q "100 of its 150 results kept" "$TMP/err" || fail "rank 1 of 3 with --resume: $(cat "$TMP/err")"
cmp -s "$TMP/auto.jsonl.1-of-3" "$TMP/ref.jsonl" || fail "rank 1 of 3, resumed, is not the uninterrupted shard 1/3"
[ ! -e "$TMP/auto.jsonl" ] || fail "rank 1 of 3 wrote FILE itself"
echo "ok: a rank of a launch resumes its own FILE.R-of-N"
