#!/usr/bin/env bash
# test_predict_devices.sh GLINER SRC -- several devices in one `gliner predict` (issue 15): --device cpu,cpu and
# cpu,cpu,cpu (one copy of the model per item, --threads split between them, the batches dealt to the copies as they
# free up) write byte for byte what --device cpu writes: span and token models, bi-encoders (with and without a
# CrossFuser, whose batches run as label groups), per-text label lists, batch sizes 1 and 3 (more batches than
# copies), --window (the windows of one text in several batches), fewer batches than copies, and --on-error skip with
# bad inputs (a label that fails its whole batch, run again unit by unit on its copy; invalid UTF-8; invalid JSON).
# --on-error fail stops at the same input with the same lines and message. Bad device lists are one-line usage
# errors naming the item (exit 2); cuda:all without a GPU, and GLINER_PROFILE with several devices, one-line errors.
set -u
GLINER=$1 SRC=$2
F=$SRC/tests/fixtures/models
. "$SRC/tests/cli/predict_lib.sh" # TMP, fail, texts

# 40 texts of 1 to 24 words (every 7th with its own labels), then three bad inputs: a label that is not UTF-8 (its
# batch fails in collation), a text that is not UTF-8, a line that is not JSON
TEXT_WORDS="$TEXT_WORDS Smith Google Tokyo"
texts 40 11 1 24 7 >"$TMP/in.jsonl"
head -n 20 "$TMP/in.jsonl" >"$TMP/bad.jsonl"
printf '{"text": "John Smith visited Paris", "labels": ["person", "\377"]}\n' >>"$TMP/bad.jsonl"
printf '{"text": "bad \377 byte in Berlin"}\n' >>"$TMP/bad.jsonl"
printf '{"text": "not json"\n' >>"$TMP/bad.jsonl"
tail -n 20 "$TMP/in.jsonl" >>"$TMP/bad.jsonl"

# run NAME INPUT ARGS...: --device cpu with one thread, then 2 and 3 CPU copies with one thread each: same bytes
run() {
  local name=$1 in=$2
  shift 2
  "$GLINER" predict --device cpu --threads 1 "$@" <"$in" >"$TMP/ref" 2>"$TMP/ref.err" ||
    fail "$name: --device cpu: exit $?: $(cat "$TMP/ref.err")"
  grep -q '"start"' "$TMP/ref" || fail "$name: no entities to compare"
  for n in 2 3; do
    local d=cpu
    for ((k = 1; k < n; k++)); do d=$d,cpu; done
    GLINER_LOG=debug "$GLINER" predict --device $d --threads $n "$@" <"$in" >"$TMP/out" 2>"$TMP/out.err" ||
      fail "$name: --device $d: exit $?: $(cat "$TMP/out.err")"
    cmp -s "$TMP/ref" "$TMP/out" || fail "$name: --device $d differs from --device cpu: $(diff "$TMP/ref" "$TMP/out" | head -4)"
    grep -q "$n devices: cpu (1 thread)" "$TMP/out.err" || fail "$name: --device $d: not $n copies: $(grep model: "$TMP/out.err")"
  done
}

L=(--labels person,location,organization)
for m in uni_span_bert_markerV0 uni_token_deberta bi_span_bert bi_span_postfusion bi_token_bert; do
  thr=0.3
  case $m in *token*) thr=0.02 ;; esac
  for bs in 1 3; do
    run "$m --batch-size $bs" "$TMP/in.jsonl" --model "$F/$m" "${L[@]}" --threshold $thr --batch-size $bs
    run "$m --batch-size $bs --on-error skip" "$TMP/bad.jsonl" --model "$F/$m" "${L[@]}" --threshold $thr \
      --batch-size $bs --on-error skip
    [ "$(grep -c '"error"' "$TMP/out")" = 3 ] || fail "$m: --on-error skip: $(grep '"error"' "$TMP/out")"
  done
done
echo "ok: --device cpu,cpu and cpu,cpu,cpu write --device cpu's bytes (5 models, batch sizes 1 and 3, bad inputs skipped)"

run "--window" "$TMP/in.jsonl" --model "$F/uni_span_bert_markerV0" "${L[@]}" --threshold 0.3 --window 5 --stride 2 --batch-size 4
run "--window, nested" "$TMP/in.jsonl" --model "$F/uni_span_deberta_markerV0" "${L[@]}" --threshold 0.2 --window 6 --nested
run "one batch for three copies" "$TMP/in.jsonl" --model "$F/uni_span_bert_markerV0" "${L[@]}" --threshold 0.3 \
  --batch-size 64
head -n 2 "$TMP/in.jsonl" >"$TMP/two.jsonl"
run "two texts, three copies" "$TMP/two.jsonl" --model "$F/uni_span_bert_markerV0" "${L[@]}" --threshold 0.3 --batch-size 1
echo "ok: windows spread over batches, and fewer batches than copies"

# --on-error fail: the same lines before the bad input, the same message, exit 1
B=(predict --model "$F/uni_span_bert_markerV0" "${L[@]}" --batch-size 3)
"$GLINER" "${B[@]}" --threads 1 <"$TMP/bad.jsonl" >"$TMP/ref" 2>"$TMP/ref.err"
rc=$?
"$GLINER" "${B[@]}" --threads 2 --device cpu,cpu <"$TMP/bad.jsonl" >"$TMP/out" 2>"$TMP/out.err"
rc2=$?
[ $rc = 1 ] && [ $rc2 = 1 ] || fail "--on-error fail: exit $rc and $rc2, not 1: $(cat "$TMP/out.err")"
cmp -s "$TMP/ref" "$TMP/out" && cmp -s "$TMP/ref.err" "$TMP/out.err" ||
  fail "--on-error fail: cpu,cpu stops elsewhere: $(cat "$TMP/out.err") vs $(cat "$TMP/ref.err")"
[ "$(wc -l <"$TMP/out")" = 20 ] && grep -q 'stdin:21: label 1: invalid UTF-8' "$TMP/out.err" ||
  fail "--on-error fail: $(wc -l <"$TMP/out") lines: $(cat "$TMP/out.err")"
echo "ok: --on-error fail stops at the same input with the same message"

# bad lists: usage errors naming the item
check_bad() { # LIST EXPECTED-TEXT
  "$GLINER" "${B[@]}" --device "$1" "a text" >"$TMP/o" 2>"$TMP/e"
  local rc=$?
  [ $rc = 2 ] && [ "$(wc -l <"$TMP/e")" = 1 ] && grep -qF -- "$2" "$TMP/e" && [ ! -s "$TMP/o" ] ||
    fail "--device '$1': exit $rc: $(cat "$TMP/e")"
}
check_bad "cuda:0,,1" "device 'cuda:0,,1': item 2 is empty (expected cpu, cuda or cuda:N)"
check_bad "cpu,cpu," "item 3 is empty"
check_bad "cuda:1,1" "cuda:1 is listed twice (items 1 and 2)"
check_bad "cuda,cuda:0" "cuda:0 is listed twice"
check_bad "cpu,cuda" "mixes cpu and cuda"
check_bad "cpu,2" "item 2 '2': expected cpu, cuda or cuda:N"
check_bad "cuda:0,tpu" "item 2 'tpu'"
check_bad "cuda:all,cuda:0" "cuda:all stands alone"
check_bad "gpu" "device 'gpu': expected cpu, cuda, cuda:N, cuda:all or a list"
# cuda:all with no GPU (this machine or this build), and GLINER_PROFILE with several devices: failures, one line
if [ "$("$GLINER" version | grep -o 'devices: [0-9]*')" = "" ] || "$GLINER" version | grep -q 'devices: 0'; then
  "$GLINER" "${B[@]}" --device cuda:all "a text" >/dev/null 2>"$TMP/e"
  rc=$?
  [ $rc = 1 ] && [ "$(wc -l <"$TMP/e")" = 1 ] && grep -qE "device 'cuda:all': (no CUDA device is visible|this build has no CUDA backend)" "$TMP/e" ||
    fail "cuda:all without a GPU: exit $rc: $(cat "$TMP/e")"
fi
GLINER_PROFILE=1 "$GLINER" "${B[@]}" --device cpu,cpu "a text" >/dev/null 2>"$TMP/e"
rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$TMP/e")" = 1 ] && grep -q "GLINER_PROFILE profiles one device" "$TMP/e" ||
  fail "GLINER_PROFILE with cpu,cpu: exit $rc: $(cat "$TMP/e")"
echo "ok: bad device lists are one-line errors naming the item"
