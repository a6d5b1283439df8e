#!/usr/bin/env python3
"""headline.py -- issue 13's headline figure from one device run's csv files: GLiNER-small, bf16, 256 words,
25 labels, batch 128 (texts/s, gliner.c against the reference on the same card) and batch-1 p50 at 64 words /
5 labels. gliner.c's rows come from bench_e2e (the default kernels and the run with the issue-13 switches: the
faster counts, and "config" says which); the reference's from bench_gpu_reference.py. Only rows of the given
GPU written since --since (the run's start) are read, so older runs in the same files are not mixed in.

  python3 bench/headline.py --ours bench/results/X-e2e.csv [--ours bench/results/e2e-attn-v2.csv ...]
      --reference bench/results/reference.csv --gpu NAME --commit SHA --since 2026-12-07T00:00:00Z
      [--out bench/results/headline.json]

Writes {"date", "commit", "gpu", "model", "point", "gliner_texts_s", "reference_texts_s", "ratio",
"batch1_p50_ms", "reference_batch1_p50_ms", "config"}; a figure missing from the csv files is null (and the
exit status 1), never made up."""
import argparse
import csv
import json
import os
import sys
import time


def rows(path, since, gpu):
    if not path or not os.path.exists(path):
        return []
    out = []
    for r in csv.DictReader(open(path)):
        if r.get("date", "") >= since and (not gpu or r.get("gpu", "") == gpu):
            out.append(r)
    return out


def pick(rs, W, C, B, key, best):
    m = [r for r in rs if r.get("model") == "small" and r.get("dtype", "").startswith("bf16") and
         int(r["W"]) == W and int(r["C"]) == C and int(r["B"]) == B]
    if not m:
        return None, None
    r = (max if best == "max" else min)(m, key=lambda r: float(r[key]))
    return float(r[key]), r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", action="append", default=[])
    ap.add_argument("--reference", required=True)
    ap.add_argument("--gpu", default="")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--since", default="")
    ap.add_argument("--out", default="bench/results/headline.json")
    a = ap.parse_args()
    ours = []
    for p in a.ours:
        for r in rows(p, a.since, a.gpu):
            r["config"] = "defaults" if "attn-v2" not in os.path.basename(p) else "issue-13 switches"
            ours.append(r)
    ref = rows(a.reference, a.since, a.gpu)
    g_tps, g_row = pick(ours, 256, 25, 128, "texts_per_s", "max")
    r_tps, _ = pick(ref, 256, 25, 128, "texts_per_s", "max")
    g_p50, g1 = pick(ours, 64, 5, 1, "p50_ms", "min")
    r_p50, _ = pick(ref, 64, 5, 1, "p50_ms", "min")
    card = a.gpu or (g_row or g1 or {}).get("gpu")  # the card the rows name when no filter was given
    h = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": a.commit, "gpu": card,
         "model": "GLiNER-small dims (DeBERTa-v3, 6 layers, random weights), markerV0, bf16",
         "point": "256 words, 25 labels, batch 128",
         "gliner_texts_s": g_tps, "reference_texts_s": r_tps,
         "ratio": round(g_tps / r_tps, 3) if g_tps and r_tps else None,
         "batch1_p50_ms": g_p50, "reference_batch1_p50_ms": r_p50,
         "config": {"throughput": g_row["config"] if g_row else None, "batch1": g1["config"] if g1 else None}}
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        json.dump(h, f, indent=1)
        f.write("\n")
    os.replace(a.out + ".tmp", a.out)
    print(json.dumps(h))
    return 0 if None not in (g_tps, r_tps, g_p50, r_p50) else 1


if __name__ == "__main__":
    sys.exit(main())
