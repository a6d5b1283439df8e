#!/usr/bin/env bash
# Tokenizer throughput: the C tokenizers (bench_tokenizer) against HF `tokenizers` (bench_tokenizer.py)
# on the same corpus (tests/fixtures/tokenizers/corpus.txt), one thread each, for DeBERTa-v3, BERT and
# GPT-2, in two modes: whole text, and pre-split words (GLiNER's is_split_into_words path).
# Prints tokens/s (median of REPS measurements of >= MIN_SECONDS each) and the ratios; with --results FILE
# it also writes them as the section "## Tokenizers (CPU): ..." of FILE (replaced if there, else appended).
#
#   bench/run_tokenizer_bench.sh [--results bench/RESULTS.md]
#
# Environment: BUILD (build directory, default build; configured RelWithDebInfo or Release),
#   PY (python with `tokenizers`, default /work/venv/bin/python), REPS (5), MIN_SECONDS (2),
#   FAMILIES ("deberta-v3 bert gpt2"), CPU (core to pin both sides to with taskset, default 0).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
PY="${PY:-/work/venv/bin/python}"
REPS="${REPS:-5}"
MIN_SECONDS="${MIN_SECONDS:-2}"
FAMILIES="${FAMILIES:-deberta-v3 bert gpt2}"
CPU="${CPU:-0}"
RESULTS=""
if [ "${1:-}" = "--results" ]; then RESULTS="${2:?--results needs a file}"; fi
FIX="$ROOT/tests/fixtures/tokenizers"

cmake --build "$BUILD" --target bench_tokenizer -j2 >/dev/null
BENCH="$BUILD/bench/bench_tokenizer"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
plain() {  # fixture file, decompressing a .xz copy into $TMP when needed
  local f="$1" out="$TMP/$(echo "$1" | tr / _)"
  if [ -f "$FIX/$f" ]; then echo "$FIX/$f"; else xz -dc "$FIX/$f.xz" >"$out"; echo "$out"; fi
}
CORPUS="$(plain corpus.txt)"

export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
PIN=()
if command -v taskset >/dev/null 2>&1; then PIN=(taskset -c "$CPU"); fi

: >"$TMP/results.jsonl"
for fam in $FAMILIES; do
  TJ="$(plain "$fam/tokenizer.json")"
  echo "== $fam" >&2
  "${PIN[@]}" "$BENCH" "$TJ" "$CORPUS" --reps "$REPS" --min-seconds "$MIN_SECONDS" |
    sed "s/^{/{\"family\":\"$fam\",/" | tee -a "$TMP/results.jsonl" >&2
  "${PIN[@]}" "$PY" "$ROOT/bench/bench_tokenizer.py" "$TJ" "$CORPUS" --reps "$REPS" --min-seconds "$MIN_SECONDS" |
    sed "s/^{/{\"family\":\"$fam\",/" | tee -a "$TMP/results.jsonl" >&2
done

CMD="bench/run_tokenizer_bench.sh${RESULTS:+ --results $RESULTS} (REPS=$REPS MIN_SECONDS=$MIN_SECONDS, pinned: ${PIN[*]:-no})"
"$PY" - "$TMP/results.jsonl" "$RESULTS" "$ROOT" "$CMD" "$CORPUS" <<'EOF'
import json, platform, subprocess, sys, datetime
path, results, root, cmd, corpus = sys.argv[1:6]
rows = [json.loads(l) for l in open(path) if l.strip()]
by = {}
for r in rows:
    by[(r["family"], r["mode"], r["impl"])] = r
fams = list(dict.fromkeys(r["family"] for r in rows))
nlines = rows[0]["lines"] if rows else 0
out = ["| tokenizer | mode | tokens/pass | C tok/s | HF encode tok/s | HF encode_batch tok/s | C / encode | C / encode_batch |",
       "|---|---|---:|---:|---:|---:|---:|---:|"]
notes = []
for f in fams:
    for m in ("text", "words"):
        c, e, b = (by.get((f, m, i)) for i in ("c", "hf-encode", "hf-encode_batch"))
        if not (c and e and b):
            continue
        if c["tokens_per_pass"] != e["tokens_per_pass"]:
            notes.append(f"{f}/{m}: token counts differ (C {c['tokens_per_pass']}, HF {e['tokens_per_pass']}) -- parity is broken")
        out.append(f"| {f} | {m} | {c['tokens_per_pass']} | {c['tokens_per_s']:,.0f} | {e['tokens_per_s']:,.0f} | "
                   f"{b['tokens_per_s']:,.0f} | {c['tokens_per_s'] / e['tokens_per_s']:.2f}x | "
                   f"{c['tokens_per_s'] / b['tokens_per_s']:.2f}x |")
table = "\n".join(out + [""] + notes)
print(table)
if results:
    def sh(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True, cwd=root).stdout.strip()
        except Exception:
            return "?"
    cpu = "?"
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip(); break
    import os, tokenizers
    title = "## Tokenizers (CPU): C vs HF `tokenizers`"
    hdr = [
        title, "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {sh('git', '-C', root, 'rev-parse', '--short', 'HEAD')}"
        + (" (+ uncommitted changes)" if sh('git', '-C', root, 'status', '--porcelain') else ""),
        f"- machine: {os.cpu_count()} cores, {cpu}; {platform.system()} {platform.release()}; "
        f"load average at the end {os.getloadavg()[0]:.2f} (other work on the machine perturbs the numbers)",
        f"- python {platform.python_version()}, tokenizers {tokenizers.__version__}",
        f"- command: `{cmd}`",
        f"- corpus: tests/fixtures/tokenizers/corpus.txt ({nlines} lines); one thread on each side "
        "(RAYON_NUM_THREADS=1 for encode_batch; both pinned to one core with taskset)",
        "- tokens/s = sub-word tokens produced (no special tokens) / wall time; median of the runs, each run "
        "whole passes over the corpus for at least MIN_SECONDS. `words` = each line pre-split by the whitespace "
        "splitter (outside the timing), then every word encoded (HF: encode(words, is_pretokenized=True)). "
        "HF `encode` = Python loop over Tokenizer.encode; `encode_batch` = one call over the corpus.", "",
    ]
    section = ("\n".join(hdr) + "\n" + table + "\n\nRaw runs (tokens/s):\n\n```\n" +
               "\n".join(json.dumps(r) for r in rows) + "\n```\n")
    # replace this section of RESULTS.md if present (up to the next "## " heading), else append it
    old = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    i = old.find(title)
    if i >= 0:
        j = old.find("\n## ", i + len(title))
        old = old[:i] + section + ("\n" + old[j + 1:] if j >= 0 else "")
    else:
        old = old.rstrip("\n") + "\n\n" + section
    with open(results, "w") as fh:
        fh.write(old)
    print(f"wrote {results}")
EOF
