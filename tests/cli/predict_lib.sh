# predict_lib.sh -- shared by the `gliner predict` CLI tests: sourced, never run (the suite runs tests/cli/test_*.sh).
# Sourcing it makes TMP, a directory removed at exit, pids, background runs killed at exit, and fail MESSAGE.
TMP=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# texts N SEED MIN SPAN [EVERY]: N texts of MIN to MIN + SPAN - 1 words drawn from TEXT_WORDS, one per line, the same
# every run (seeded). With EVERY: JSONL records, every EVERY-th (from the 4th) with labels of its own.
TEXT_WORDS="John Paris lives in the Apple Inc. visited Berlin yesterday Marie Curie was born Warsaw ."
texts() {
  awk -v n="$1" -v seed="$2" -v min="$3" -v span="$4" -v every="${5:-0}" -v words="$TEXT_WORDS" '
    BEGIN { nw = split(words, W, " "); srand(seed)
            for (i = 0; i < n; i++) { k = min + int(rand() * span); s = ""
              for (j = 0; j < k; j++) s = s (j ? " " : "") W[1 + int(rand() * nw)]
              if (!every) print s
              else if (i % every == 3) printf "{\"text\": \"%s\", \"labels\": [\"person\", \"city\", \"company\"]}\n", s
              else printf "{\"text\": \"%s\"}\n", s } }'
}

# partials NAME: the partial outputs (temporaries .NAME.tmp.<pid>.<k>) beside $TMP/NAME
partials() { ls -A "$TMP" | grep "^\.$1\.tmp\." ; }

# kill_at NAME FEED LINES ERR CMD...: runs CMD in the background, its input the FIFO $TMP/fifo, feeds it the first FEED
# lines of $TMP/in.txt, and kill -9s it once its partial output beside $TMP/NAME holds LINES lines: the kill lands
# while it waits for its next chunk's input, at a known place. Sets PARTIAL (the partial output's name in $TMP).
kill_at() {
  local name=$1 feed=$2 lines=$3 err=$4 i run
  shift 4
  [ -p "$TMP/fifo" ] || mkfifo "$TMP/fifo"
  exec 3<>"$TMP/fifo" # read-write: the open never blocks; the input ends when the script closes it
  # (3>&-: the run must not hold the script's end of the FIFO, or its input would never end)
  "$@" 2>"$err" 3>&- &
  run=$!
  pids+=($run)
  timeout 60 head -n "$feed" "$TMP/in.txt" >&3
  for ((i = 0; i < 600; i++)); do
    PARTIAL=$(partials "$name" | head -1)
    [ -n "$PARTIAL" ] && [ "$(wc -l <"$TMP/$PARTIAL")" -ge "$lines" ] && break
    sleep 0.05
  done
  [ -n "$PARTIAL" ] && [ "$(wc -l <"$TMP/$PARTIAL")" = "$lines" ] ||
    fail "the run did not write its first $lines lines: $(ls -A "$TMP") $(cat "$err")"
  { kill -9 $run; wait $run; } 2>/dev/null
  exec 3>&-
}

# resume_start NAME ERR CMD...: starts CMD (a --resume of the run kill_at killed) in the background, its input the
# FIFO, and waits for its own temporary beside the partial output it continues (it has opened the FIFO by then: the
# input is opened before the output). Sets RUN. resume_finish: feeds it all of $TMP/in.txt, ends its input, waits;
# returns its exit status.
resume_start() {
  local name=$1 err=$2 i
  shift 2
  exec 3<>"$TMP/fifo"
  "$@" 2>"$err" 3>&- &
  RUN=$!
  pids+=($RUN)
  for ((i = 0; i < 400; i++)); do [ "$(partials "$name" | wc -l)" = 2 ] && break; sleep 0.05; done
}
resume_finish() {
  timeout 60 cat "$TMP/in.txt" >&3 # (a reader that died early must not hang the test)
  exec 3>&-
  wait $RUN
}
