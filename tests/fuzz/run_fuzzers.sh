#!/usr/bin/env bash
# run_fuzzers.sh -- runs every libFuzzer target of a GLINER_FUZZ build for a bounded time, as CI does
# (.ci/run), and fails on any finding: a crash, a sanitizer report (ASan, UBSan, LeakSanitizer), a timeout
# of one input or an out-of-memory. Each target fuzzes a scratch copy of its committed corpus
# (tests/fuzz/corpus/<target>/); the committed corpus is never written, except with --merge.
#
#   tests/fuzz/run_fuzzers.sh [--merge] BUILD_DIR SECONDS_PER_TARGET [TARGET...]
#
#   BUILD_DIR    a build configured with CC=clang -DGLINER_FUZZ=ON (cmake --build BUILD_DIR --target fuzzers)
#   TARGET       names without the fuzz_ prefix (default: every tests/fuzz/fuzz_*.c)
#   --merge      afterwards, fold what the run found into tests/fuzz/corpus/<target>/ (targets without a
#                finding only), minimised by libFuzzer's -merge=1: named seeds stay as they are; the files
#                named by their SHA-1 are replaced by the inputs that add coverage beyond the named seeds
#   environment: FUZZ_JOBS (targets run at once; default the number of CPUs), FUZZ_TIMEOUT (seconds one
#                input may take; default 25), FUZZ_RSS_MB (memory limit, also for one malloc; default 2048),
#                FUZZ_MERGE_MAX_LEN (--merge cuts new inputs to this many bytes; default 4096: the corpus is
#                in the repository)
#
# On a finding it prints the target's report (the sanitizer's stack), the input (kept as
# BUILD_DIR/fuzz-failures/<target>-<crash|leak|timeout|oom>-<sha1>) with its size and base64, and the commands
# that reproduce it and turn it into a regression test; the exit status is then 1.
set -euo pipefail

merge=0
if [ "${1:-}" = "--merge" ]; then merge=1; shift; fi
if [ $# -lt 2 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
secs=$2
shift 2
case $secs in '' | *[!0-9]* | 0) echo "run_fuzzers.sh: SECONDS_PER_TARGET: expected a whole number >= 1 (0 would be libFuzzer's 'no limit'), found '$secs'" >&2; exit 2 ;; esac

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$src"/tests/fuzz/fuzz_*.c; do
        n=$(basename "$f" .c)
        targets+=("${n#fuzz_}")
    done
fi
for t in "${targets[@]}"; do
    if [ ! -x "$build/tests/fuzz_$t" ]; then
        echo "run_fuzzers.sh: $build/tests/fuzz_$t: missing (build with: CC=clang cmake -S . -B BUILD -DGLINER_CUDA=OFF" \
             "-DGLINER_FUZZ=ON && cmake --build BUILD --target fuzzers)" >&2
        exit 2
    fi
    [ -d "$src/tests/fuzz/corpus/$t" ] || { echo "run_fuzzers.sh: tests/fuzz/corpus/$t: missing" >&2; exit 2; }
done

jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
timeout_s=${FUZZ_TIMEOUT:-25}
rss_mb=${FUZZ_RSS_MB:-2048}
merge_max=${FUZZ_MERGE_MAX_LEN:-4096}
# everything of the run lives in one directory, in memory when possible: the scratch corpora, the logs, and
# TMPDIR, where the targets that read files write their scratch model directories (a target that crashes or
# is stopped cannot remove its own; the trap removes them all)
tmp_root=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then tmp_root=/dev/shm; fi
work=$(mktemp -d "$tmp_root/gliner-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmp"
export TMPDIR=$work/tmp
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# one target: fuzz a copy of its corpus; the log and any artifact stay in $work/$t
run_one() {
    local t=$1 d=$work/$1
    mkdir -p "$d/corpus" "$d/artifacts"
    cp -R "$src/tests/fuzz/corpus/$t/." "$d/corpus/"
    local rc=0
    # -timeout: one input; -rss_limit_mb also bounds one malloc (malloc_limit_mb defaults to it);
    # absolute paths: some targets change the working directory during a run
    "$build/tests/fuzz_$t" "$d/corpus" -max_total_time="$secs" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
        -artifact_prefix="$d/artifacts/" -print_final_stats=1 >"$d/log" 2>&1 || rc=$?
    echo "$rc" >"$d/rc"
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true
wall=$(($(date +%s) - start))

failed=0
printf '%-15s %10s %9s %7s %8s %7s  %s\n' target runs exec/s cov corpus peakMB result
for t in "${targets[@]}"; do
    d=$work/$t
    rc=$(cat "$d/rc" 2>/dev/null || echo "?")
    final() { grep -m1 "^stat::$1:" "$d/log" | awk '{print $2}'; }
    last=$(grep -E '^#[0-9]+' "$d/log" | tail -1 || true)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
    arts=$(find "$d/artifacts" -type f ! -name 'slow-unit-*' | sort)
    result=ok
    if [ "$rc" != 0 ] || [ -n "$arts" ]; then result="FAILED (exit $rc)"; failed=1; fi
    printf '%-15s %10s %9s %7s %8s %7s  %s\n' "$t" "$(final number_of_executed_units)" "$(final average_exec_per_sec)" \
        "${cov:-?}" "${corp:-?}" "$(final peak_rss_mb)" "$result"
done
echo "fuzzing: ${#targets[@]} targets x ${secs}s, $jobs at a time: ${wall}s wall"

for t in "${targets[@]}"; do
    d=$work/$t
    rc=$(cat "$d/rc" 2>/dev/null || echo "?")
    arts=$(find "$d/artifacts" -type f ! -name 'slow-unit-*' | sort)
    [ "$rc" = 0 ] && [ -z "$arts" ] && continue
    echo
    echo "==================== fuzz_$t: FAILED (exit $rc)"
    # the report: from the first sanitizer / libFuzzer error line to the end (bounded)
    awk '/==[0-9]+==ERROR|ERROR: libFuzzer|runtime error:|internal error:|^SUMMARY:/ && !p {p=1} p' "$d/log" | head -150
    [ -n "$arts" ] || { echo "(no input saved; the last lines of the log:)"; tail -40 "$d/log"; }
    for a in $arts; do
        keep="$build/fuzz-failures/$t-$(basename "$a")"
        mkdir -p "$build/fuzz-failures" && cp "$a" "$keep" 2>/dev/null || keep=$a
        size=$(wc -c <"$a")
        echo "---- reproducer: $keep ($size bytes)"
        echo "reproduce:  $build/tests/fuzz_$t $keep      (any build: build/tests/fuzz_$t FILE replays it)"
        echo "regression: fix it, then  cp $keep tests/fuzz/corpus/$t/regress_<what>  (ctest -L fuzz replays it)"
        echo "base64 (decode with: base64 -d > input):"
        if [ "$size" -le 262144 ]; then base64 -w 76 "$a"; else head -c 262144 "$a" | base64 -w 76; echo "(first 256 KiB of $size bytes)"; fi
    done
done

is_sha1() { [[ $(basename "$1") =~ ^[0-9a-f]{40}$ ]]; }
if [ "$merge" = 1 ]; then
    for t in "${targets[@]}"; do
        if [ "$(cat "$work/$t/rc")" != 0 ] || [ -n "$(find "$work/$t/artifacts" -type f ! -name 'slow-unit-*')" ]; then
            echo "not merged $t: it has a finding"
            continue
        fi
        c=$src/tests/fuzz/corpus/$t
        m=$work/$t/merged
        mkdir -p "$m"
        # named seeds stay; everything else (named by its SHA-1) must earn its place again
        for f in "$c"/*; do if ! is_sha1 "$f"; then cp "$f" "$m/"; fi; done
        "$build/tests/fuzz_$t" -merge=1 -max_len="$merge_max" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" "$m" "$work/$t/corpus" \
            >"$work/$t/merge.log" 2>&1 || { echo "merge of $t failed:"; tail -20 "$work/$t/merge.log"; exit 1; }
        for f in "$c"/*; do if is_sha1 "$f"; then rm "$f"; fi; done
        for f in "$m"/*; do if is_sha1 "$f"; then cp "$f" "$c/"; fi; done
        echo "merged $t: $(find "$c" -type f | wc -l) files, $(du -sk "$c" | cut -f1) KiB"
    done
fi
exit "$failed"
