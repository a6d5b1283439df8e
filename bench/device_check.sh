#!/usr/bin/env bash
# One device call: build for the H200 (sm_90a only), run the GPU suites (`ctest -L gpu`: every CUDA op
# against its CPU twin, and the whole model on the CUDA backend against the reference's logits), run
# compute-sanitizer memcheck on each parity executable, run the benchmarks, and print a table.
# Here, first:   bash bench/device_deps.sh      (the .debs of our -dev libraries -> .deps/, ignored)
# Device call:   run(command="bash bench/device_check.sh", carry=[".deps"], timeout_s=540)
# What comes back: $OUT/device_check.md (the table, also on stdout) and $OUT/logs.tar.gz (every log);
# the device tool returns at most 8 files, so logs are never written to $OUT one by one.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device_check}
LOG=$(mktemp -d /tmp/device_check_logs.XXXX)
mkdir -p "$OUT"
REPORT="$OUT/device_check.md"
export PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s)
finish() {
  echo "total: $(( $(date +%s) - t0 )) s" | tee -a "$REPORT"
  tar -czf "$OUT/logs.tar.gz" -C "$LOG" . 2>/dev/null
}
trap finish EXIT
{
  echo "# device check $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
  echo "nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*')"
} | tee "$REPORT"

# ---- dependencies: native if pkg-config finds them, else the carried .debs unpacked under /tmp/deps
MODS="libcjson yaml-0.1 openblas libutf8proc criterion"
if command -v pkg-config >/dev/null && pkg-config --exists $MODS 2>/dev/null; then
  echo "deps: native" | tee -a "$REPORT"
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
  echo "deps: carried .debs unpacked in $D (pkg-config rc=$?)" | tee -a "$REPORT"
else
  echo "deps: MISSING (run bench/device_deps.sh here and carry .deps)" | tee -a "$REPORT"
fi

# ---- build (sm_90a only: half the compile time of the default 80+90a)
B=build-gpu
cmake -S . -B $B -DCMAKE_CUDA_ARCHITECTURES=90a-real -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$LOG/cmake.log" 2>&1 &&
  cmake --build $B -j16 >"$LOG/build.log" 2>&1
rc=$?
echo "build: rc=$rc ($(( $(date +%s) - t0 )) s)" | tee -a "$REPORT"
if [ $rc -ne 0 ]; then tail -30 "$LOG/build.log" "$LOG/cmake.log"; exit 1; fi
./$B/gliner version 2>&1 | head -5 | tee -a "$REPORT"

# ---- GPU suites
ctest --test-dir $B -L gpu --output-on-failure --timeout 300 >"$LOG/gpu_tests.log" 2>&1
echo "gpu tests: rc=$? -- $(grep -E 'tests passed|tests failed' "$LOG/gpu_tests.log" | tail -1)" | tee -a "$REPORT"
echo '| test | result | time |' | tee -a "$REPORT"
echo '| --- | --- | --- |' | tee -a "$REPORT"
grep -E '^ *[0-9]+/[0-9]+ Test' "$LOG/gpu_tests.log" |
  sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) \.*[ *]*([A-Za-z]+[A-Za-z ]*[a-z])? +([0-9.]+ sec)/| \1 | \2 | \3 |/' | tee -a "$REPORT"
grep -q 'SKIP' "$LOG/gpu_tests.log" && echo "WARNING: a GPU suite skipped on the GPU machine (see gpu_tests.log)" | tee -a "$REPORT"
grep -E 'out of tolerance|overwritten|non-finite|differs' "$LOG/gpu_tests.log" | head -20 | tee -a "$REPORT"

# ---- memcheck on each parity executable
if command -v compute-sanitizer >/dev/null; then
  echo '| memcheck | rc | errors |' | tee -a "$REPORT"
  echo '| --- | --- | --- |' | tee -a "$REPORT"
  for t in $B/tests/parity_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    timeout 240 compute-sanitizer --tool memcheck --error-exitcode 1 "$t" --jobs=1 >"$LOG/memcheck_$n.log" 2>&1
    r=$?
    echo "| $n | $r | $(grep -oE 'ERROR SUMMARY: [0-9]+ error' "$LOG/memcheck_$n.log" | tail -1) |" | tee -a "$REPORT"
  done
else
  echo "memcheck: compute-sanitizer not found" | tee -a "$REPORT"
fi

# ---- benchmarks (each at most 120 s)
for b in $B/bench/bench_*; do
  [ -x "$b" ] || continue
  timeout 120 "$b" >"$LOG/$(basename "$b").log" 2>&1
  echo "bench $(basename "$b"): rc=$? (logs.tar.gz: $(basename "$b").log)" | tee -a "$REPORT"
done
