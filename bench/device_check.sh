#!/usr/bin/env bash
# One device call, everything the H200 session measures (issue #5), in about 8 minutes:
#   part                                        estimate on the H200 (16 cores)   cap
#   deps (carried .debs, wheels)                ~10 s
#   build for sm_90a only (-j16)                ~90 s  (3 storage dtypes per kernel)
#   ctest -L gpu (parity: every op fp32, bf16/fp16 ops, whole model fp32/bf16/fp16)   ~60 s   300 s
#   the NCCL communicator again on its own (1 rank; 2 ranks under mpirun with 2 GPUs)   ~10 s   120 s (+180 s)
#   compute-sanitizer memcheck: parity exes (model test fp32 only) + kernel benches --check-only,
#     racecheck: deberta/attention parity + bench_deberta_attention --check-only      ~60 s   SAN_S (90)
#   kernel benches (layer_norm, span_concat, deberta_attention, lstm_bidir)          ~60 s   120 s each
#   relex (issue 16): the parity suites' summary lines (relex backward kernels in parity_test_grad_ops, the weighted
#     triples modes in parity_test_relex_triples, the selection ops, the whole relex forward + training step CUDA vs CPU), bench_relex_select (device vs host selection) and
#     gliner predict --relations on a relex fixture with GLINER_RELEX_HOST_SELECT=0 / 1                  ~20 s    60 s
#   bench_e2e (random GLiNER-small/-base, fp32 + bf16; model files written ~10 s)    E2E_S (100)
#   bench_e2e again with GLINER_ATTN=v3 GLINER_SPAN_HEAD=v2 GLINER_LSTM=v2 GLINER_EPILOGUE=v2 GLINER_LINEAR=lt GLINER_PREFILTER=1 GLINER_SPAN_GRID=1 GLINER_GRAPHS=1, fp32/tf32/bf16, 64:5:1 and 256:25:128  E2E_V2_S (40)
#   bench_gpu_reference.py (pinned gliner + torch, fp32 + bf16 autocast)              REF_S (100) + ~30 s imports
#   bench/headline.py: bench/results/headline.json (issue 13's figure: small bf16 256/25/128, batch-1 p50) ~1 s
#   a global deadline (DEADLINE_S, 470 s) skips what is left, so the call always returns its table;
#   expected total ~480 s (8 min) with the budgets spent, less when the GPU parts run fast.
# Here, first:   bash bench/device_deps.sh      (.debs + wheels -> .deps/, ignored by git)
# Device call:   run(command="bash bench/device_check.sh", carry=[".deps"], timeout_s=540)
# Training (bench/device_train.sh, last): copy build/conll2003_train.json to bench/data/ (ignored) and carry it.
# Helpers must never call the device tool: a session has one budget, and a helper's calls spend it.
# A training-first session (about 6 minutes): mkdir -p bench/data && cp build/conll2003_train.json bench/data/, then
#   run(command="ONLY=train DEADLINE_S=420 bash bench/device_check.sh", carry=[".deps", "bench/data"], timeout_s=540)
# A shorter first look (correctness, sanitizer, end to end; no kernel labs), about 5.5 minutes:
#   run(command="KBENCH=0 DEADLINE_S=330 SAN_S=45 E2E_S=50 REF_S=50 bash bench/device_check.sh", carry=[".deps"], timeout_s=420)
# Dry run without a device (every GPU part prints one "no device" line):
#   BUILD_DIR=build-gpub bash bench/device_check.sh      (reuses an existing build; seconds)
# What comes back: $OUT/device_check.md (the table, also on stdout), $OUT/logs.tar.gz (every log, the
# csv files of bench/results/), and $OUT/results.tar.gz (bench/results/*.csv only, to commit).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-/tmp/device_check}
LOG=$(mktemp -d /tmp/device_check_logs.XXXX)
mkdir -p "$OUT" bench/results
REPORT="$OUT/device_check.md"
export PATH=/usr/local/cuda/bin:$PATH
# ONLY=train: build, GPU suites, a one-point bench_e2e (it writes the GLiNER-small model the training bench uses),
# the pinned reference's wheels, then the training section; no sanitizer, kernel labs or inference reference bench.
if [ "${ONLY:-all}" = train ]; then
  SAN_S=${SAN_S:-60} KBENCH=0 E2E_S=${E2E_S:-10} E2E_POINTS=${E2E_POINTS:-64:5:1} REF_S=0
fi
SAN_S=${SAN_S:-90}
E2E_S=${E2E_S:-100}
REF_S=${REF_S:-100}
DEADLINE_S=${DEADLINE_S:-470}
t0=$(date +%s)
RUN_START=$(date -u +%Y-%m-%dT%H:%M:%SZ) # bench/headline.py reads only this run's csv rows
el() { echo $(( $(date +%s) - t0 )); }
left() { echo $(( DEADLINE_S - $(el) )); }
say() { echo "$*" | tee -a "$REPORT"; }
finish() {
  say ""
  say "total: $(el) s"
  cp bench/results/*.csv "$LOG/" 2>/dev/null
  tar -czf "$OUT/logs.tar.gz" -C "$LOG" . 2>/dev/null
  tar -czf "$OUT/results.tar.gz" bench/results 2>/dev/null
}
trap finish EXIT
{
  echo "# device check $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /' || true
  echo "nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*')"
} | tee "$REPORT"
HAVE_GPU=0
nvidia-smi -L >/dev/null 2>&1 && HAVE_GPU=1
[ $HAVE_GPU = 1 ] || say "device: none (nvidia-smi finds no GPU): every GPU part below reports 'no device'"

# ---- dependencies: native if pkg-config finds them, else the carried .debs unpacked under /tmp/deps
MODS="libcjson yaml-0.1 openblas libutf8proc criterion"
if command -v pkg-config >/dev/null && pkg-config --exists $MODS 2>/dev/null; then
  say "deps: native"
elif [ -d .deps ] && ls .deps/*.deb >/dev/null 2>&1; then
  D=/tmp/deps
  mkdir -p $D
  for f in .deps/*.deb; do dpkg -x "$f" $D; done
  L=$D/usr/lib/x86_64-linux-gnu
  export PATH=$D/usr/bin:$PATH
  export LD_LIBRARY_PATH=$L:$L/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$L/pkgconfig:$L/openblas-pthread/pkgconfig:$D/usr/share/pkgconfig
  export PKG_CONFIG_SYSROOT_DIR=$D
  pkg-config --exists $MODS 2>"$LOG/pkgconfig.log"
  say "deps: carried .debs unpacked in $D (pkg-config rc=$?)"
else
  say "deps: MISSING (run bench/device_deps.sh here and carry .deps)"
fi

# ---- build (sm_90a only: half the compile time of the default 80+90a)
B=${BUILD_DIR:-build-gpu}
if [ -f "$B/CMakeCache.txt" ] && [ -n "${BUILD_DIR:-}" ]; then
  cmake --build $B -j"$(nproc)" >"$LOG/build.log" 2>&1
else
  cmake -S . -B $B -DCMAKE_CUDA_ARCHITECTURES=90a-real -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$LOG/cmake.log" 2>&1 &&
    cmake --build $B -j"$(nproc)" >"$LOG/build.log" 2>&1
fi
rc=$?
say "build ($B): rc=$rc ($(el) s)"
if [ $rc -ne 0 ]; then tail -30 "$LOG/build.log" "$LOG/cmake.log" 2>/dev/null; exit 1; fi
./$B/gliner version 2>&1 | head -5 | tee -a "$REPORT"

# ---- GPU suites (-V so the model test's MODEL_PARITY lines and the dtype suite's errors reach the log)
timeout 300 ctest --test-dir $B -L gpu -V --timeout 280 >"$LOG/gpu_tests.log" 2>&1
say "gpu tests: rc=$? -- $(grep -E 'tests passed|tests failed' "$LOG/gpu_tests.log" | tail -1) ($(el) s)"
say ""
say "| test | result | time |"
say "| --- | --- | --- |"
grep -E '^ *[0-9]+/[0-9]+ Test' "$LOG/gpu_tests.log" |
  sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) \.*[ *]*([A-Za-z]+[A-Za-z ]*[a-z])? +([0-9.]+ sec)/| \1 | \2 | \3 |/' | tee -a "$REPORT"
grep -q 'SKIP' "$LOG/gpu_tests.log" && [ $HAVE_GPU = 1 ] && say "WARNING: a GPU suite skipped on the GPU machine (see gpu_tests.log)"
grep -q 'SKIP' "$LOG/gpu_tests.log" && [ $HAVE_GPU = 0 ] && say "gpu tests: no device -- every parity suite Skipped (exit 77)"
grep -oE 'MODEL_PARITY .*' "$LOG/gpu_tests.log" | sed 's/^/    /' | tee -a "$REPORT"
grep -oE '(BF16|F16) +[a-z_]+ +rel L2 .*' "$LOG/gpu_tests.log" | sed 's/^/    /' | tee -a "$REPORT"
grep -E 'out of tolerance|overwritten|non-finite|differs|over [0-9.e-]+$|flipped' "$LOG/gpu_tests.log" | head -20 | tee -a "$REPORT"
# relex on the device (issue 16): the CUDA forward and training step against the CPU on every relex fixture, both
# selection paths (tests/parity/test_relex_model_cuda.c), and the backward kernels' cases (test_grad_ops.c relex_*)
grep -oE 'relex_model_cuda (forward|grads): .*' "$LOG/gpu_tests.log" | sed 's/^/    /' | tee -a "$REPORT"
grep -E '(relex_|triple_scores_bwd|pair_mask_bwd|mha_probs_bwd|gcn_norm_bwd|pair_relu_dot_bwd).*(FAIL|got|differs|beyond)' \
  "$LOG/gpu_tests.log" | head -10 | tee -a "$REPORT"
# the weighted triples modes (tests/parity/test_relex_triples.c: ops eval / train / dropout, the tape chain)
grep -oE 'relex_triples_parity ops: .*' "$LOG/gpu_tests.log" | sed 's/^/    /' | tee -a "$REPORT"
grep -E '(TransH|TransF|PairRE|TripleRE|TuckER|ERMLP|ConvKB).*(out of tolerance|overwritten|non-finite)' \
  "$LOG/gpu_tests.log" | head -10 | tee -a "$REPORT"
# the whole model again with every issue-13 switch on (GLINER_ATTN=v3 falls back to v2 where the flash kernel does not
# apply: fp32, Dh != 64): the bf16/fp16 models within the recorded tolerances, the same entities in fp32
if [ $HAVE_GPU = 1 ] && [ -x $B/tests/parity_test_model_cuda ]; then
  GLINER_ATTN=v3 GLINER_LSTM=v2 GLINER_SPAN_HEAD=v2 GLINER_EPILOGUE=v2 GLINER_LINEAR=lt GLINER_GRAPHS=1 timeout 150 $B/tests/parity_test_model_cuda --jobs=1 >"$LOG/model_v3.log" 2>&1
  say "parity_test_model_cuda with GLINER_ATTN=v3 GLINER_LSTM=v2 GLINER_SPAN_HEAD=v2 GLINER_EPILOGUE=v2 GLINER_LINEAR=lt GLINER_GRAPHS=1: rc=$? -- $(grep -E 'Synthesis' "$LOG/model_v3.log" | tail -1) ($(el) s)"
  grep -oE 'MODEL_PARITY .*' "$LOG/model_v3.log" | sed 's/^/    /' | tee -a "$REPORT"
fi

# issue 14's backward kernels beside the defaults (the *_v2 / *reduce_v2 tests set their switch themselves): the
# attention backward in GEMM form (GLINER_ATTN_BWD=v2), the two-stage reductions and sorted span scatter
# (GLINER_GRAD_REDUCE=v2), and the device-resident step's kernels (train plan, focal term)
if [ $HAVE_GPU = 1 ] && [ -x $B/tests/parity_test_grad_ops ]; then
  timeout 150 $B/tests/parity_test_grad_ops --jobs=1 >"$LOG/grad_ops_v2.log" 2>&1
  say "backward ops v1 + v2 (attention GEMM form, two-stage reductions, LSTM batched BPTT): rc=$? -- $(grep -E 'Synthesis' "$LOG/grad_ops_v2.log" | tail -1) ($(el) s)"
  grep -E 'out of tolerance|overwritten|v2 vs v1|differ' "$LOG/grad_ops_v2.log" | head -20 | tee -a "$REPORT"
fi

# the NCCL communicator (kernels/cuda/comm_nccl.cu; tests/dist/test_comm_nccl.c, one rank in the gpu suites above):
# its lines here, then 2 ranks under mpirun where this machine has 2 GPUs and Open MPI. Nothing without the binary.
if [ $HAVE_GPU = 1 ] && [ -x $B/tests/dist_test_comm_nccl ]; then
  timeout 120 $B/tests/dist_test_comm_nccl >"$LOG/comm_nccl.log" 2>&1
  say "nccl communicator, 1 rank: rc=$? -- $(grep -E 'checks ok|SKIP' "$LOG/comm_nccl.log" | tail -1) ($(el) s)"
  grep -E 'FAIL|\(the error' "$LOG/comm_nccl.log" | head -12 | tee -a "$REPORT"
  ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if [ "$ngpu" -ge 2 ] && command -v mpirun >/dev/null; then
    timeout 180 mpirun --allow-run-as-root --oversubscribe -np 2 $B/tests/dist_test_comm_nccl >"$LOG/comm_nccl_2.log" 2>&1
    say "nccl communicator, 2 ranks (mpirun -np 2): rc=$? -- $(grep -E 'checks ok|SKIP' "$LOG/comm_nccl_2.log" | tr '\n' ' ') ($(el) s)"
    grep -E 'FAIL|\(the error' "$LOG/comm_nccl_2.log" | head -12 | tee -a "$REPORT"
  else
    say "nccl communicator, 2 ranks: skipped ($ngpu GPU(s)$(command -v mpirun >/dev/null || echo ', no mpirun'))"
  fi
fi

# ---- compute-sanitizer: memcheck on the parity executables and the kernel labs (validation only),
#      racecheck on the attention kernels (the parity suite's deberta cases and the bench's v1/v2)
say ""
if [ "$SAN_S" = 0 ]; then
  say "sanitizer: skipped (SAN_S=0)"
elif [ $HAVE_GPU = 0 ]; then
  say "sanitizer: no device"
elif ! command -v compute-sanitizer >/dev/null; then
  say "sanitizer: compute-sanitizer not found"
else
  say "| sanitizer | target | rc | result |"
  say "| --- | --- | --- | --- |"
  san_end=$(( $(el) + SAN_S ))
  san() { # tool name cmd...
    local tool=$1 name=$2; shift 2
    local t=$(( san_end - $(el) )); [ $t -gt 60 ] && t=60
    if [ $t -le 5 ] || [ "$(left)" -le 60 ]; then say "| $tool | $name | - | skipped: sanitizer budget (SAN_S=$SAN_S) spent |"; return; fi
    timeout $t compute-sanitizer --tool $tool --error-exitcode 1 "$@" >"$LOG/${tool}_$name.log" 2>&1
    local r=$?
    local res=$(grep -oE '(ERROR|RACECHECK) SUMMARY: [0-9]+ [a-z]+' "$LOG/${tool}_$name.log" | tail -1)
    [ $r = 124 ] && res="timeout after ${t} s (partial: ${res:-no summary})"
    say "| $tool | $name | $r | $res |"
  }
  # the training kernels first (issue 14): every backward kernel, v1 and v2, and the step's kernels
  san memcheck parity_test_grad_ops $B/tests/parity_test_grad_ops --jobs=1
  san racecheck parity_test_grad_ops_v2 $B/tests/parity_test_grad_ops --jobs=1 --filter='grad_ops_parity/*v2*'
  san memcheck parity_test_train_kernels $B/tests/parity_test_train_kernels --jobs=1
  # relex (issue 16): the backward kernels' shared-memory rows and the selection's block scans
  san racecheck parity_test_grad_ops_relex $B/tests/parity_test_grad_ops --jobs=1 --filter='grad_ops_parity/relex_*'
  san memcheck parity_test_relex_triples $B/tests/parity_test_relex_triples --jobs=1 --filter='relex_triples_parity/ops'
  san racecheck parity_test_relex_triples $B/tests/parity_test_relex_triples --jobs=1 --filter='relex_triples_parity/ops'
  san memcheck parity_test_relex_select $B/tests/parity_test_relex_select --jobs=1
  san racecheck parity_test_relex_select $B/tests/parity_test_relex_select --jobs=1
  [ -x $B/bench/bench_attention_bwd ] && san memcheck bench_attention_bwd $B/bench/bench_attention_bwd --quick --check-only
  [ -x $B/bench/bench_lstm_bidir ] && san memcheck bench_lstm_bidir_bwd $B/bench/bench_lstm_bidir --bwd --check-only
  [ -x $B/bench/bench_lstm_bidir ] && san racecheck bench_lstm_bidir_bwd $B/bench/bench_lstm_bidir --bwd --check-only
  if [ "${ONLY:-all}" != train ]; then
    for b in deberta_attention span_concat layer_norm lstm_bidir; do
      [ -x $B/bench/bench_$b ] && san memcheck bench_$b $B/bench/bench_$b --quick --check-only
    done
    san racecheck bench_deberta_attention $B/bench/bench_deberta_attention --quick --check-only
    san racecheck bench_lstm_bidir $B/bench/bench_lstm_bidir --quick --check-only
    GLINER_ATTN=v3 san memcheck parity_test_attention_v3 $B/tests/parity_test_attention --jobs=1 --filter='deberta_attention_parity/flash_v3_16bit'
    for t in $B/tests/parity_test_attention $B/tests/parity_test_span_ops $B/tests/parity_test_gathers \
             $B/tests/parity_test_lstm $B/tests/parity_test_dtype $B/tests/parity_test_relex_ops; do
      [ -x "$t" ] && san memcheck "$(basename "$t")" "$t" --jobs=1
    done
    [ -x $B/tests/parity_test_model_cuda ] && san memcheck parity_test_model_cuda_fp32 $B/tests/parity_test_model_cuda --jobs=1 \
      --filter=model_cuda_parity/every_encoder_only_fixture
  fi
fi

# ---- kernel labs: vN | block | ms | GB/s | TFLOP/s rows (full output in the logs and bench/results/<gpu>.csv)
say ""
say "kernel benches ($(el) s):"
say '```'
for b in layer_norm span_concat deberta_attention lstm_bidir attention_bwd; do
  x=$B/bench/bench_$b
  [ -x "$x" ] || { say "bench_$b: not built"; continue; }
  [ "${KBENCH:-1}" = 0 ] && { say "bench_$b: skipped (KBENCH=0)"; continue; }
  if [ "$(left)" -le 150 ]; then say "bench_$b: skipped (deadline)"; continue; fi
  timeout 120 "$x" >"$LOG/bench_$b.log" 2>&1
  r=$?
  grep -E ' \| block |no device|VALIDATION|validated|backward FLOPs' "$LOG/bench_$b.log" | tee -a "$REPORT"
  [ $r -ne 0 ] && say "bench_$b: rc=$r"
done
# the BiLSTM backward, v1 against GLINER_LSTM_BWD=v2 (issue 14)
if [ -x $B/bench/bench_lstm_bidir ] && [ "${KBENCH:-1}" != 0 ] && [ "$(left)" -gt 150 ]; then
  timeout 150 $B/bench/bench_lstm_bidir --bwd >"$LOG/bench_lstm_bidir_bwd.log" 2>&1
  r=$?
  grep -E ' \| block |vs the twin|VALIDATION|validated' "$LOG/bench_lstm_bidir_bwd.log" | tee -a "$REPORT"
  [ $r -ne 0 ] && say "bench_lstm_bidir --bwd: rc=$r"
fi
say '```'

# ---- relex selection (issue 16): the ops relex_select_spans / relex_select_pairs against the host path that
#      GLINER_RELEX_HOST_SELECT=1 keeps, alone (bench_relex_select: GLiNER-small relex shapes) and in gliner predict on a
#      relex fixture (a tiny model, so the selection's share shows): 512 texts of ~120 words, batch 32, both ways, and
#      with pair_rep_layer split per entity (GLINER_RELEX_PAIR=v2)
if [ $HAVE_GPU = 1 ] && [ "$(left)" -gt 90 ]; then
  say ""
  say "relex selection, device vs host ($(el) s):"
  if [ -x $B/bench/bench_relex_select ]; then
    timeout 60 $B/bench/bench_relex_select >"$LOG/bench_relex_select.log" 2>&1
    say "bench_relex_select rc=$?"
    grep -E '^#|^check|\| .* ms' "$LOG/bench_relex_select.log" | sed 's/^/    /' | tee -a "$REPORT"
  fi
  RM=tests/fixtures/models/uni_span_relex
  if [ -f $RM/gliner_config.json ]; then
    python3 - "$RM" "$LOG/relex_texts.jsonl" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/reference/inputs.json"))["cases"]["main"]
with open(sys.argv[2], "w") as f:
    for i in range(512):
        t = c["texts"][i % len(c["texts"])]
        f.write(json.dumps({"text": " ".join([t] * 6) + " " + str(i), "labels": c["labels"], "relations": c["relations"]}) + "\n")
PY
    say "| gliner predict --relations, uni_span_relex, 512 texts, batch 32, fp32 | wall s | texts/s | rc |"
    say "| --- | ---: | ---: | --- |"
    k=0
    for envs in GLINER_RELEX_HOST_SELECT=0 GLINER_RELEX_HOST_SELECT=1 GLINER_RELEX_PAIR=v2; do
      a=$(date +%s.%N)
      env $envs timeout 40 ./$B/gliner predict --model $RM --device cuda --batch-size 32 --threshold 0.3 \
        <"$LOG/relex_texts.jsonl" >"$LOG/relex_predict_$k.jsonl" 2>"$LOG/relex_predict_$k.log"
      rc=$?
      w=$(python3 -c "print(f'{$(date +%s.%N) - $a:.2f}')")
      say "| $envs | $w | $(python3 -c "print(f'{512 / $w:.0f}')") | $rc |"
      k=$((k + 1))
    done
    cmp -s "$LOG/relex_predict_0.jsonl" "$LOG/relex_predict_1.jsonl" && say "relex predict: same output both ways" ||
      say "relex predict: outputs DIFFER between the device and the host selection (see relex_predict_*.jsonl)"
  fi
fi

# ---- end to end: gliner.c, then the pinned reference on the same weights and batches
say ""
say "bench_e2e ($(el) s; budget ${E2E_S} s):"
E2E_POINTS=${E2E_POINTS:-64:5:1,256:25:32,256:25:128,384:100:32,64:5:1@base,256:25:128@base}
$B/bench/bench_e2e --dtypes fp32,bf16 --points "$E2E_POINTS" --budget "$E2E_S" --reps 10 --dir /tmp/gliner_e2e \
  >"$LOG/bench_e2e.log" 2>&1
say "bench_e2e rc=$?"
grep -E '^\||no device' "$LOG/bench_e2e.log" | tee -a "$REPORT"
# the same with DeBERTa attention as the flash kernel in 16-bit storage and the GEMM form in fp32/tf32 (GLINER_ATTN=v3,
# E2E_ATTN=v2 for the GEMM form everywhere; issue #13 step 1), the fused markerV0 span
# head (GLINER_SPAN_HEAD=v2, step 4: no (B, S, 4D) hidden layer, so peak memory falls too) and the cluster BiLSTM
# (GLINER_LSTM=v2, step 2: 16-bit storage only), at the points they matter
if [ "$(left)" -gt 120 ] && [ "${E2E_V2_S:-40}" -gt 0 ]; then
  say ""
  say "bench_e2e, GLINER_ATTN=${E2E_ATTN:-v3} GLINER_SPAN_HEAD=v2 GLINER_LSTM=v2 GLINER_EPILOGUE=v2 GLINER_LINEAR=lt GLINER_PREFILTER=1 GLINER_SPAN_GRID=1 GLINER_GRAPHS=1 ($(el) s; budget ${E2E_V2_S:-40} s):"
  GLINER_ATTN=${E2E_ATTN:-v3} GLINER_SPAN_HEAD=v2 GLINER_LSTM=v2 GLINER_EPILOGUE=v2 GLINER_LINEAR=lt GLINER_PREFILTER=1 GLINER_SPAN_GRID=1 GLINER_GRAPHS=1 $B/bench/bench_e2e --dtypes fp32,tf32,bf16 --points "${E2E_V2_POINTS:-64:5:1,256:25:128}" --budget "${E2E_V2_S:-40}" \
    --reps 10 --dir /tmp/gliner_e2e --csv "$ROOT/bench/results/e2e-attn-v2.csv" >"$LOG/bench_e2e_v2.log" 2>&1
  say "bench_e2e (v2) rc=$?"
  grep -E '^\||no device' "$LOG/bench_e2e_v2.log" | tee -a "$REPORT"
fi

# ---- where the time goes: per-op wall time (GLINER_PROFILE, host/profile.h) of gliner predict on GLiNER-small,
#      64 texts of ~230 words, batch 32, fp32 and bf16 (the end-to-end gap at large batches is in our kernels);
#      then predict end to end (tokenization, forward, decoding, JSON) on 512 such texts, bf16, batch 32: the defaults
#      against every issue-13 switch (the pipeline, the prefilter and the span grid are host-path changes)
MD=/tmp/gliner_e2e/small
if [ $HAVE_GPU = 1 ] && [ -f $MD/model.safetensors ] && [ "$(left)" -gt 60 ]; then
  # bench_e2e writes weights and config only: the DeBERTa-v3 tokenizer of the fixtures, class_token_index its <<ENT>>
  python3 bench/setup_bench_model.py "$MD" >"$LOG/tokenizer_setup.log" 2>&1
  python3 -c "
import json
s = 'The European Commission said on Thursday it disagreed with German advice to consumers to shun British lamb until scientists determine whether mad cow disease can be transmitted to sheep . '
for i in range(512): print(json.dumps({'text': (s * 8) + str(i)}))" >"$LOG/predict_texts.jsonl"
  head -64 "$LOG/predict_texts.jsonl" >"$LOG/profile_texts.jsonl"
  for dt in fp32 bf16; do
    GLINER_PROFILE=1 timeout 60 ./$B/gliner predict --model $MD --device cuda --dtype $dt --batch-size 32 \
      --labels person,organization,location,date,event --threshold 0.5 <"$LOG/profile_texts.jsonl" >/dev/null 2>"$LOG/profile_$dt.log"
    rc=$?
    say ""
    say "per-op profile, $dt (rc=$rc):"
    grep -E '^\| ' "$LOG/profile_$dt.log" | head -14 | tee -a "$REPORT"
    [ $rc = 0 ] || tail -3 "$LOG/profile_$dt.log" | tee -a "$REPORT"
  done
  say ""
  say "| gliner predict, 512 texts x ~230 words, bf16, batch 32 | wall s | texts/s | rc |"
  say "| --- | ---: | ---: | --- |"
  for mode in defaults switches; do
    [ "$(left)" -gt 45 ] || { say "| $mode | skipped (deadline) | | |"; continue; }
    envs=""
    [ $mode = switches ] && envs="GLINER_ATTN=v3 GLINER_LSTM=v2 GLINER_SPAN_HEAD=v2 GLINER_EPILOGUE=v2 GLINER_LINEAR=lt GLINER_PREFILTER=1 GLINER_SPAN_GRID=1 GLINER_PIPELINE=1 GLINER_GRAPHS=1"
    a=$(date +%s.%N)
    env $envs timeout 40 ./$B/gliner predict --model $MD --device cuda --dtype bf16 --batch-size 32 \
      --labels person,organization,location,date,event --threshold 0.5 <"$LOG/predict_texts.jsonl" >"$LOG/predict_$mode.jsonl" 2>"$LOG/predict_$mode.log"
    rc=$?
    w=$(python3 -c "print(f'{$(date +%s.%N) - $a:.2f}')")
    say "| $mode | $w | $(python3 -c "print(f'{512 / $w:.0f}')") | $rc |"
  done
  cmp -s "$LOG/predict_defaults.jsonl" "$LOG/predict_switches.jsonl" && say "predict: same output with and without the switches" ||
    say "predict: outputs differ with the switches (bf16: entities within 1e-2 of the threshold may flip; see the logs)"
fi

say ""
say "reference ($(el) s; budget ${REF_S} s):"
if [ $HAVE_GPU = 0 ]; then
  say "bench_gpu_reference: no device"
elif ! ls /tmp/gliner_e2e/*/model.safetensors >/dev/null 2>&1; then
  say "bench_gpu_reference: no model written by bench_e2e"
elif [ "$(left)" -le 40 ] || [ "$REF_S" = 0 ]; then
  say "bench_gpu_reference: skipped (deadline or REF_S=0)"
else
  PY=${PY:-python3}
  SITE=/tmp/refsite
  rm -rf $SITE
  PY=$PY bash bench/reference_site.sh $SITE "$LOG/pip.log" | tee -a "$REPORT"
  ref_budget=$REF_S; [ "$(left)" -lt $(( REF_S + 30 )) ] && ref_budget=$(( $(left) - 30 ))
  PYTHONPATH=$SITE PYTHONUNBUFFERED=1 timeout $(( ref_budget + 90 )) $PY bench/bench_gpu_reference.py --dtypes fp32,bf16 \
    --points "$E2E_POINTS" --budget "$ref_budget" --reps 10 --dir /tmp/gliner_e2e \
    --ours "bench/results/$(ls -t bench/results/ 2>/dev/null | grep -- '-e2e.csv$' | head -1)" \
    --csv "bench/results/reference.csv" >"$LOG/bench_gpu_reference.log" 2>&1
  say "bench_gpu_reference rc=$?"
  grep -E '^\||^# |no device|Error|error' "$LOG/bench_gpu_reference.log" | tail -40 | tee -a "$REPORT"
fi

# ---- the headline (issue 13): GLiNER-small bf16 256/25/128 texts/s and batch-1 p50 against the reference, from this
#      run's csv rows only -> bench/results/headline.json (comes back in results.tar.gz)
if [ $HAVE_GPU = 1 ]; then
  say ""
  ours=$(ls -t bench/results/ 2>/dev/null | grep -- '-e2e.csv$' | head -1)
  python3 bench/headline.py --ours "bench/results/$ours" --ours bench/results/e2e-attn-v2.csv \
    --reference bench/results/reference.csv --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --since "$RUN_START" --out bench/results/headline.json >"$LOG/headline.log" 2>&1
  say "headline (rc=$?, 1 = a figure missing): $(tail -1 "$LOG/headline.log")"
fi

# ---- training (issue #6): CPU vs GPU losses, then gliner.c vs the reference trainer on the GPU
if [ $HAVE_GPU = 1 ] && [ "${TRAIN:-1}" = 1 ]; then
  LOGDIR=$LOG TRAIN_S=$(( $(left) > 40 ? $(left) : 40 )) bash bench/device_train.sh $B "$REPORT"
fi
