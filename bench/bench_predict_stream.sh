#!/usr/bin/env bash
# bench_predict_stream.sh -- streaming `gliner predict --file` on many short texts, on the CPU: peak RSS and
# texts/s for 10k, 100k and 1M texts (issue 11: memory must follow the chunk, not the input). The texts are the
# CoNLL-2003 test sentences (../shared/data/gliner_eval/conll2003/test.json) repeated in order, or short synthetic
# sentences when that file is absent; the model is the tiny fixture uni_span_bert_markerV0, so reading, tokenizing
# and writing weigh as much as the forward does. Output goes to /dev/null through stdout (every line is still
# formatted and written). Prints one row per size: texts, wall seconds, texts/s, peak RSS (MiB, /usr/bin/time -v).
#   SIZES ("10000 100000 1000000"), THREADS (2), CHUNK (the default, 10000), GLINER (./build/gliner),
#   MODEL (tests/fixtures/models/uni_span_bert_markerV0), OUT (build/predict_stream_bench) from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-10000 100000 1000000}
THREADS=${THREADS:-2}
GLINER=${GLINER:-./build/gliner}
MODEL=${MODEL:-tests/fixtures/models/uni_span_bert_markerV0}
OUT=${OUT:-build/predict_stream_bench}
CONLL=${CONLL:-../shared/data/gliner_eval/conll2003/test.json}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (GNU time) for the peak RSS"; exit 1; }
mkdir -p "$OUT"

# one sentence per line, no empty ones
if [ ! -s "$OUT/base.txt" ]; then
  if [ -f "$CONLL" ] && command -v python3 >/dev/null; then
    python3 -c "import json, sys
for d in json.load(open(sys.argv[1])):
    s = ' '.join(d['sentence'].split())
    if s: print(s)" "$CONLL" >"$OUT/base.txt"
  else
    awk 'BEGIN { n = split("John Smith lives in Paris and works for Apple in Berlin since 2019 .", W, " "); srand(1);
                 for (i = 0; i < 3453; i++) { k = 4 + int(rand() * 14); s = "";
                 for (j = 0; j < k; j++) s = s (j ? " " : "") W[1 + int(rand() * n)]; print s } }' >"$OUT/base.txt"
  fi
fi
CHUNK_ARG=()
[ -n "${CHUNK:-}" ] && CHUNK_ARG=(--chunk-size "$CHUNK")

printf '%-9s %9s %10s %14s   %s\n' texts wall_s texts/s peak_RSS_MiB "($(wc -l <"$OUT/base.txt") distinct sentences, $THREADS threads, $(basename "$MODEL"))"
for n in $SIZES; do
  f="$OUT/texts_$n.txt"
  [ -s "$f" ] || awk -v n="$n" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[i % NR + 1] }' "$OUT/base.txt" >"$f"
  GLINER_LOG=error /usr/bin/time -v "$GLINER" predict --model "$MODEL" --labels person,location,organization,misc \
    --threads "$THREADS" "${CHUNK_ARG[@]}" --file "$f" >/dev/null 2>"$OUT/time_$n.txt" ||
    { tail -5 "$OUT/time_$n.txt"; exit 1; }
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$OUT/time_$n.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$OUT/time_$n.txt")
  printf '%-9s %9.1f %10.0f %14s\n' "$n" "$wall" "$(awk -v n="$n" -v w="$wall" 'BEGIN { print n / w }')" "$rss"
done
