#!/usr/bin/env bash
# bench_cpu_e2e.sh -- the reference (PyTorch on the CPU) and `gliner predict` side by side on the same
# MiniLM-L6 GLiNER (scripts/make_minilm_gliner.py), the same N CoNLL-2003 test sentences, the same labels,
# batch size 8, threads 1 and 2: texts/s, ratio, peak RSS (/usr/bin/time -v), FLOPs (bench/flops.py)
# and the fraction of this machine's cblas_sgemm rate (bench_sgemm) reached.
#   reference: model.inference after a warm-up run, torch.set_num_threads(n), eval, no_grad; timed inside
#              Python (model load and imports excluded; reported separately)
#   gliner:    `gliner predict --threads n --batch-size 8` on a JSONL file; wall time with date +%s.%N;
#              the load time is the wall time of the same command on one one-word text, subtracted.
# The entities of both sides (threshold 0.5, flat) are compared too.
# Usage: bench/bench_cpu_e2e.sh [--results bench/RESULTS.md]
#   env: GLINER_MINILM_DIR (model), GLINER (binary, default build-rw/gliner), BENCH_SGEMM, N (512),
#        REPS (2 timed runs per side), THREADS ("1 2"), PY (/work/venv/bin/python)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${GLINER_MINILM_DIR:-$HOME/.cache/gliner_c/minilm_gliner}
GLINER=${GLINER:-$ROOT/build-rw/gliner}
BENCH_SGEMM=${BENCH_SGEMM:-$(dirname "$GLINER")/bench/bench_sgemm}
PY=${PY:-/work/venv/bin/python}
N=${N:-512}
REPS=${REPS:-2}
THREADS=${THREADS:-"1 2"}
RESULTS=""
[ "${1:-}" = "--results" ] && RESULTS=$2
[ -d "$MODEL" ] || { echo "no model at $MODEL: run $PY scripts/make_minilm_gliner.py" >&2; exit 1; }
[ -x "$GLINER" ] && [ -x "$BENCH_SGEMM" ] || { echo "build gliner and bench_sgemm first ($GLINER, $BENCH_SGEMM)" >&2; exit 1; }
W=$(mktemp -d /tmp/bench_cpu_e2e.XXXXXX)
echo "work dir: $W" >&2

"$PY" - "$N" > "$W/texts.jsonl" <<'EOF'
import json, sys
n = int(sys.argv[1])
s = [d["sentence"] for d in json.load(open("/work/shared/data/gliner_eval/conll2003/test.json", encoding="utf-8"))]
s = [x for x in s if len(x.split()) >= 3]
L = ["person", "organization", "location", "date", "disease", "chemical"]
for i in range(n):
    print(json.dumps({"text": s[int(i * len(s) / n)], "labels": L}, ensure_ascii=False))
EOF
echo '{"text": "x", "labels": ["person"]}' > "$W/one.jsonl"

now() { date +%s.%N; }
rss_kb() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

for t in $THREADS; do
  # ---- reference
  shapes=""; [ "$t" = "$(echo $THREADS | awk '{print $1}')" ] && shapes="--shapes"
  /usr/bin/time -v -o "$W/ref_time_$t.txt" env OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t \
    "$PY" "$ROOT/bench/bench_reference.py" --model "$MODEL" --input "$W/texts.jsonl" --threads "$t" \
    --batch-size 8 --reps "$REPS" --entities "$W/ref_ents_$t.jsonl" $shapes > "$W/ref_$t.json"
  [ -n "$shapes" ] && cp "$W/ref_$t.json" "$W/shapes.json"
  echo "{\"rss_kb\": $(rss_kb "$W/ref_time_$t.txt")}" > "$W/ref_rss_$t.json"
  # ---- gliner: load-only, then the whole file
  : > "$W/c_load_$t.txt"; : > "$W/c_run_$t.txt"
  for r in $(seq "$REPS"); do
    a=$(now); "$GLINER" predict --model "$MODEL" --threads "$t" --batch-size 8 < "$W/one.jsonl" > /dev/null; b=$(now)
    echo "$a $b" | awk '{printf "%.4f\n", $2 - $1}' >> "$W/c_load_$t.txt"
    a=$(now)
    /usr/bin/time -v -o "$W/c_time_${t}_$r.txt" "$GLINER" predict --model "$MODEL" --threads "$t" --batch-size 8 \
      --threshold 0.5 < "$W/texts.jsonl" > "$W/c_ents_$t.jsonl" 2> "$W/c_err_$t.txt"
    b=$(now)
    echo "$a $b $(rss_kb "$W/c_time_${t}_$r.txt")" | awk '{printf "%.4f %d\n", $2 - $1, $3}' >> "$W/c_run_$t.txt"
  done
done

# ---- sgemm rate at the dominant shapes (M averaged over the batches actually run)
"$PY" "$ROOT/bench/flops.py" "$MODEL/gliner_config.json" "$W/shapes.json" > "$W/flops.json"
for t in $THREADS; do
  "$BENCH_SGEMM" "$t" $("$PY" -c '
import json, sys
g = json.load(open(sys.argv[1]))["gemms"]
print(" ".join("%d %d %d" % (max(1, v["M_avg_per_batch"]), v["N"], v["K"]) for v in g.values()))' "$W/flops.json") > "$W/sgemm_$t.jsonl"
done

"$PY" - "$W" "$THREADS" "$MODEL" "$GLINER" "$N" "$REPS" > "$W/summary.md" <<'EOF'
import json, statistics, sys, os
W, threads, model, gliner, n, reps = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
fl = json.load(open(f"{W}/flops.json"))
gflop = fl["gflop_total"]
def ents(p):
    return [json.loads(l)["entities"] for l in open(p, encoding="utf-8") if l.strip()]
rows, notes = [], []
for t in threads:
    ref = json.load(open(f"{W}/ref_{t}.json"))
    ref_rss = json.load(open(f"{W}/ref_rss_{t}.json"))["rss_kb"]
    ref_s = statistics.median(ref["run_s"])
    c_load = statistics.median(float(x) for x in open(f"{W}/c_load_{t}.txt"))
    runs = [l.split() for l in open(f"{W}/c_run_{t}.txt")]
    c_wall = statistics.median(float(r[0]) for r in runs)
    c_rss = max(int(r[1]) for r in runs)
    c_s = c_wall - c_load
    # sgemm rate weighted by the FLOPs of each GEMM kind (time-weighted harmonic mean)
    sg = [json.loads(l) for l in open(f"{W}/sgemm_{t}.jsonl")]
    g = list(fl["gemms"].values())
    tot = sum(v["gflop"] for v in g)
    rate = tot / sum(v["gflop"] / s["gflops"] for v, s in zip(g, sg))
    a, b = ents(f"{W}/ref_ents_{t}.jsonl"), ents(f"{W}/c_ents_{t}.jsonl")
    key = lambda e: (e["start"], e["end"], e["label"], e["text"])
    diff = sum(1 for x, y in zip(a, b) if [key(e) for e in x] != [key(e) for e in y]) + abs(len(a) - len(b))
    smax = max((abs(e["score"] - f["score"]) for x, y in zip(a, b) for e, f in zip(x, y)), default=0)
    rows.append((t, n / ref_s, n / c_s, (n / c_s) / (n / ref_s), ref_rss / 1024, c_rss / 1024, gflop / ref_s, gflop / c_s,
                 rate, ref_s, c_s, ref["load_s"], c_load, n / (c_wall), diff, smax, sum(len(x) for x in b)))
print("| threads | reference texts/s | gliner.c texts/s | ratio | ref peak RSS MiB | gliner.c peak RSS MiB | ref GFLOP/s | gliner.c GFLOP/s | sgemm GFLOP/s (weighted) | ref % of sgemm | gliner.c % of sgemm |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | **{r[3]:.2f}x** | {r[4]:.0f} | {r[5]:.0f} | {r[6]:.1f} | {r[7]:.1f} | {r[8]:.1f} | {100*r[6]/r[8]:.0f}% | {100*r[7]/r[8]:.0f}% |")
print()
print("| threads | ref inference s | gliner.c predict s (wall - load) | ref load s (from_pretrained; imports excluded) | gliner.c load s | gliner.c texts/s incl. load | texts with different entities | max score diff | entities |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r[0]} | {r[9]:.2f} | {r[10]:.2f} | {r[11]:.2f} | {r[12]:.2f} | {r[13]:.1f} | {r[14]} | {r[15]:.2g} | {r[16]} |")
print()
print(f"FLOPs (bench/flops.py, padded shapes as both sides compute them): {gflop:.1f} GFLOP for {fl['texts']} texts = "
      f"{fl['gflop_per_text']:.3f} GFLOP/text; parts: " + ", ".join(f"{k} {100*v:.1f}%" for k, v in fl["parts_fraction"].items()))
print(f"Spans computed {fl['spans_computed']} (B*W*K), of which valid (span_mask) {fl['spans_valid']} "
      f"({100*fl['spans_valid']/fl['spans_computed']:.0f}%); span out_project on valid spans only would be "
      f"{fl['span_out_project_gflop_if_valid_spans_only']:.1f} GFLOP instead of {fl['parts_gflop']['span_out_project']:.1f}.")
print()
print("sgemm (bench_sgemm, Y = X.W^T, best of 7) at the GEMM shapes, M = average per batch:")
print()
print("| GEMM | M | N | K | GFLOP (all batches) | " + " | ".join(f"{t} thr GFLOP/s" for t in threads) + " |")
print("|---|---:|---:|---:|---:|" + "---:|" * len(threads))
sgs = {t: [json.loads(l) for l in open(f"{W}/sgemm_{t}.jsonl")] for t in threads}
for i, (k, v) in enumerate(fl["gemms"].items()):
    print(f"| {k} | {v['M_avg_per_batch']} | {v['N']} | {v['K']} | {v['gflop']:.1f} | " + " | ".join(f"{sgs[t][i]['gflops']:.1f}" for t in threads) + " |")
EOF
cat "$W/summary.md"
if [ -n "$RESULTS" ]; then
  {
    echo
    echo "## CPU end-to-end (MiniLM-L6 GLiNER)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(uname -sr); load average at the end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine perturbs the numbers)"
    echo "- model: $MODEL (scripts/make_minilm_gliner.py: real all-MiniLM-L6-v2 BERT, H 384, 6 layers, D 512, BiLSTM, markerV0, K 12); $N CoNLL-2003 test sentences (>= 3 words, evenly spaced), 6 labels, batch size 8, threshold 0.5 flat"
    echo "- reference: $("$PY" -c 'import gliner, torch, transformers; print(f"gliner {gliner.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")' 2>/dev/null)"
    echo "- command: \`bench/bench_cpu_e2e.sh --results bench/RESULTS.md\` (N=$N REPS=$REPS THREADS=\"$THREADS\"), i.e. per thread count n:"
    echo "  \`/usr/bin/time -v $PY bench/bench_reference.py --model \$MODEL --input texts.jsonl --threads n --batch-size 8 --reps $REPS\` and"
    echo "  \`/usr/bin/time -v $GLINER predict --model \$MODEL --threads n --batch-size 8 --threshold 0.5 < texts.jsonl\` ($REPS runs, median)"
    echo
    cat "$W/summary.md"
  } >> "$RESULTS"
fi
