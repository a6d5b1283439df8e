#!/usr/bin/env python
"""Throughput of HF `tokenizers` on a corpus -- the Python side of bench/run_tokenizer_bench.sh.

    bench_tokenizer.py TOKENIZER_JSON CORPUS_TXT [--mode text|words|both] [--min-seconds S] [--reps N]

Same corpus handling and measurement as bench_tokenizer.c: lines split on '\\n' only; "words" mode
pre-splits each line once with the reference's whitespace splitter regex (outside the timing) and
encodes the word list with is_pretokenized=True. No special tokens are added in either mode, so the
token counts match the C side's. Two ways are measured:
  encode        Tokenizer.encode(x) in a Python loop (one thread by construction)
  encode_batch  Tokenizer.encode_batch(corpus) -- run with RAYON_NUM_THREADS=1 to keep it on one thread
One measurement = whole passes until >= S seconds; median of N. Prints one JSON line per (way, mode).
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

from tokenizers import Tokenizer

WORD_RE = re.compile(r"\w+(?:[-_]\w+)*|\S")


def measure(fn, min_s, reps):
    fn()  # warm-up pass, also the token count of one pass
    runs = []
    for _ in range(reps):
        toks, t0 = 0, time.perf_counter()
        while True:
            toks += fn()
            t = time.perf_counter()
            if t - t0 >= min_s:
                break
        runs.append(toks / (t - t0))
    return statistics.median(runs), runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer")
    ap.add_argument("corpus")
    ap.add_argument("--mode", default="both", choices=["text", "words", "both"])
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    tok.no_truncation()
    tok.no_padding()
    with open(a.corpus, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    words = [WORD_RE.findall(t) for t in lines]
    nwords = sum(len(w) for w in words)

    for mode in ("text", "words"):
        if a.mode not in (mode, "both"):
            continue
        if mode == "text":
            def loop():
                return sum(len(tok.encode(t, add_special_tokens=False).ids) for t in lines)

            def batch():
                return sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
        else:
            def loop():
                return sum(len(tok.encode(w, is_pretokenized=True, add_special_tokens=False).ids) for w in words)

            def batch():
                return sum(len(e.ids) for e in tok.encode_batch(words, is_pretokenized=True, add_special_tokens=False))
        per_pass = loop()
        for way, fn in (("encode", loop), ("encode_batch", batch)):
            med, runs = measure(fn, a.min_seconds, a.reps)
            print(json.dumps({"impl": "hf-" + way, "mode": mode, "lines": len(lines), "words": nwords,
                              "tokens_per_pass": per_pass, "tokens_per_s": round(med, 1),
                              "runs": [round(r, 1) for r in runs],
                              "rayon_threads": os.environ.get("RAYON_NUM_THREADS")}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
