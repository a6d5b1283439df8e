#!/usr/bin/env bash
# One device call: build for the H200 (sm_90a), run the GPU suites and the benchmarks, write a short
# table to $OUT/device_check.md (and stdout). Usage on the lent machine:  bash bench/device_check.sh
# Keep it under the session's device budget: the build is -j16 and the suites are small.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s)
{
  echo "# device check $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
} | tee "$OUT/device_check.md"
bash scripts/install_deps.sh >"$OUT/deps.log" 2>&1 || echo "deps: see deps.log" | tee -a "$OUT/device_check.md"
cmake -S . -B build-gpu -DCMAKE_CUDA_ARCHITECTURES=90a-real -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1 &&
  cmake --build build-gpu -j16 >"$OUT/build.log" 2>&1
echo "build: rc=$? ($(( $(date +%s) - t0 )) s)" | tee -a "$OUT/device_check.md"
./build-gpu/gliner version | tee -a "$OUT/device_check.md"
ctest --test-dir build-gpu -L gpu --output-on-failure >"$OUT/gpu_tests.log" 2>&1
echo "gpu tests: rc=$? -- $(grep -E 'tests passed|tests failed' "$OUT/gpu_tests.log" | tail -1)" | tee -a "$OUT/device_check.md"
grep -E '^\s+[0-9]+/[0-9]+ Test' "$OUT/gpu_tests.log" | sed 's/^/  /' | tee -a "$OUT/device_check.md"
if command -v compute-sanitizer >/dev/null; then
  for t in build-gpu/tests/parity_*; do
    compute-sanitizer --tool memcheck --error-exitcode 1 "$t" >"$OUT/memcheck_$(basename "$t").log" 2>&1
    echo "memcheck $(basename "$t"): rc=$?" | tee -a "$OUT/device_check.md"
  done
fi
for b in build-gpu/bench/bench_*; do
  [ -x "$b" ] || continue
  timeout 120 "$b" >"$OUT/$(basename "$b").log" 2>&1
  echo "bench $(basename "$b"): rc=$? (see $(basename "$b").log)" | tee -a "$OUT/device_check.md"
done
echo "total: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/device_check.md"
