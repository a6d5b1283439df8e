#!/usr/bin/env bash
# test_predict_multi_gpu.sh GLINER SRC -- `gliner predict --device cuda:0,1` (issue 15): one copy of the model per GPU,
# each batch on whichever GPU frees up first, and the output byte for byte --device cuda:0's -- span and token models,
# a bi-encoder (its labels encoded on every GPU), fp32 and bf16, batch sizes 1 and 3, --window; cuda:all as well.
# The GPUs must be of one model (the same kernels give the same bits). Skipped (77) with fewer than 2 CUDA devices.
set -u
GLINER=$1 SRC=$2
F=$SRC/tests/fixtures/models
n=$("$GLINER" version | sed -n 's/.*devices: \([0-9]*\).*/\1/p')
[ "${n:-0}" -ge 2 ] || { echo "SKIP: ${n:-0} CUDA device(s) (a build without CUDA shows none); this test needs 2"; exit 77; }
. "$SRC/tests/cli/predict_lib.sh" # TMP, fail, texts

TEXT_WORDS="$TEXT_WORDS Smith Google Tokyo"
texts 200 17 1 40 9 >"$TMP/in.jsonl" # every 9th with labels of its own

for m in uni_span_bert_markerV0 uni_token_deberta bi_span_bert; do
  thr=0.3
  case $m in *token*) thr=0.02 ;; esac
  for dt in fp32 bf16; do
    for extra in "--batch-size 1" "--batch-size 3" "--batch-size 4 --window 8 --stride 4"; do
      A=(predict --model "$F/$m" --labels person,location,organization --threshold $thr --dtype $dt $extra)
      "$GLINER" "${A[@]}" --device cuda:0 <"$TMP/in.jsonl" >"$TMP/ref" 2>"$TMP/err" || fail "$m $dt $extra: cuda:0: $(cat "$TMP/err")"
      grep -q '"start"' "$TMP/ref" || fail "$m $dt $extra: no entities to compare"
      for d in cuda:0,1 cuda:all; do
        GLINER_LOG=debug "$GLINER" "${A[@]}" --device $d <"$TMP/in.jsonl" >"$TMP/out" 2>"$TMP/err" ||
          fail "$m $dt $extra: $d: $(cat "$TMP/err")"
        grep -q "devices: cuda:0, cuda:1" "$TMP/err" || fail "$m $dt $extra: $d: $(grep model: "$TMP/err")"
        cmp -s "$TMP/ref" "$TMP/out" || fail "$m $dt $extra: --device $d differs from cuda:0: $(diff "$TMP/ref" "$TMP/out" | head -3)"
      done
    done
  done
done
echo "ok: --device cuda:0,1 and cuda:all write cuda:0's bytes (3 models, fp32 and bf16, windows)"
"$GLINER" predict --model "$F/uni_span_bert_markerV0" --labels person --device cuda:0,$n "a text" >/dev/null 2>"$TMP/err" &&
  fail "a GPU past the last accepted"
grep -q "item 2, cuda:$n): no CUDA device $n on this machine ($n found)" "$TMP/err" || fail "cuda:0,$n: $(cat "$TMP/err")"
echo "ok: a GPU that is not there is named"
