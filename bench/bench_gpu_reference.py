#!/usr/bin/env python3
"""bench_gpu_reference.py -- the reference side of bench/bench_e2e.c: the pinned Python package
(gliner 0.2.27, PyTorch, transformers) running the SAME random-weight model on the SAME batches on the
same GPU, printed in bench_e2e's table format, and the ratio gliner.c / reference when bench_e2e's csv
is given.

Model: the directory bench_e2e wrote (--dir, default /tmp/gliner_e2e/<model>): gliner_config.json gives
the architecture -- the reference's inner model built directly, gliner.modeling.base.UniEncoderSpanModel(
UniEncoderSpanConfig(**config), from_pretrained=False), since the GLiNER wrapper would fetch a tokenizer
and nothing can be downloaded -- and model.safetensors the weights (load_state_dict; the missing and
unexpected counts are printed).
Batch: make_batch below is bench_e2e.c's make_batch (same ids, masks, span_idx), collated as the
reference's collator does. Timed: model.model(input_ids, attention_mask, words_mask, text_lengths,
span_idx, span_mask) under torch.inference_mode(), then logits.float().cpu() -- the same work as one
gliner_forward (index upload, forward, logits to the host). Warm-up once, then --reps repeats, each timed
with torch.cuda.synchronize() and perf_counter; p50/p99; texts/s = B / p50;
peak MiB = torch.cuda.max_memory_allocated (reset per point).
dtypes: fp32 (plain fp32: torch's matmul default is no TF32), bf16 (torch.autocast(bfloat16), how GLiNER
users run mixed precision), bf16-cast (model.to(torch.bfloat16), the closest to our bf16 storage).
Usage: bench_gpu_reference.py [--models small,base] [--dtypes fp32,bf16,bf16-cast] [--points ...]
       [--reps N] [--budget S] [--dir DIR] [--ours bench/results/<gpu>-e2e.csv] [--csv PATH] [--device cuda]
"""
import argparse
import csv
import json
import math
import os
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

VOCAB, CLS, SEP, ENT, ENTSEP, K = 128100, 1, 2, 128001, 128002, 12


def seq_len(W, C):
    return 3 + 3 * C + W + W // 4


def make_batch(torch, B, W, C):
    """bench_e2e.c make_batch: [CLS] (<<ENT>> l l) x C <<SEP>> words [SEP]; word w has 1 sub-token, 2 when w % 4 == 3."""
    T = seq_len(W, C)
    ids = torch.zeros(B, T, dtype=torch.long)
    wm = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        row, wrow = [CLS], [0]
        for c in range(C):
            row += [ENT] + [1000 + (c * 7 + j + b * 17) % 50000 for j in range(2)]
            wrow += [0, 0, 0]
        row.append(ENTSEP)
        wrow.append(0)
        for w in range(W):
            for j in range(1 + (w % 4 == 3)):
                row.append(2000 + (w * 13 + j + b * 31) % 100000)
                wrow.append(w + 1 if j == 0 else 0)
        row.append(SEP)
        wrow.append(0)
        assert len(row) == T
        ids[b] = torch.tensor(row)
        wm[b] = torch.tensor(wrow)
    am = torch.ones(B, T, dtype=torch.long)
    tl = torch.full((B, 1), W, dtype=torch.long)
    i = torch.arange(W).repeat_interleave(K)
    k = torch.arange(K).repeat(W)
    si = torch.stack([i, i + k], dim=-1).unsqueeze(0).repeat(B, 1, 1)
    sm = (i + k < W).unsqueeze(0).repeat(B, 1)
    return dict(input_ids=ids, attention_mask=am, words_mask=wm, text_lengths=tl, span_idx=si, span_mask=sm)


def parse_points(s):
    pts = []
    for p in s.split(","):
        model = "small"
        if "@" in p:
            p, model = p.split("@")
        W, C, B = (int(x) for x in p.split(":"))
        pts.append((W, C, B, model))
    return pts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="small,base")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--points", default="64:5:1,64:25:32,256:25:32,256:25:128,384:100:32,64:5:1@base,256:25:128@base")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--budget", type=float, default=240)
    ap.add_argument("--dir", default="/tmp/gliner_e2e")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--ours", default=None, help="bench_e2e's csv: adds the gliner.c / reference ratio column")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()

    import torch

    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu_reference: no device (torch.cuda.is_available() is False): skipped")
        return 0
    import gliner
    from gliner.config import UniEncoderSpanConfig
    from gliner.modeling.base import UniEncoderSpanModel
    from safetensors.torch import load_file

    import transformers

    gpu = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
    print(f"# reference: gliner {gliner.__version__}, torch {torch.__version__}, transformers {transformers.__version__}"
          f" on {gpu}; {args.reps} reps, budget {args.budget:.0f} s")
    ours = {}
    if args.ours and os.path.exists(args.ours):
        for r in csv.DictReader(open(args.ours)):
            ours[(r["model"], r["dtype"], int(r["W"]), int(r["C"]), int(r["B"]))] = float(r["texts_per_s"])  # last wins
    print("| model | dtype | W | C | B | T | texts/s | p50 ms | p99 ms | peak MiB | gliner.c texts/s | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    sys.stdout.flush()
    out_rows = []
    t_start = time.perf_counter()
    pts = parse_points(args.points)
    for mname in ("small", "base"):
        if mname not in args.models.split(","):
            continue
        mp = [p for p in pts if p[3] == mname]
        if not mp:
            continue
        mdir = os.path.join(args.dir, mname)
        if not os.path.exists(os.path.join(mdir, "model.safetensors")):
            print(f"bench_gpu_reference: {mdir}/model.safetensors missing (run bench_e2e first)")
            continue
        cfg = json.load(open(os.path.join(mdir, "gliner_config.json")))
        inner = UniEncoderSpanModel(UniEncoderSpanConfig(**cfg), from_pretrained=False)
        sd = load_file(os.path.join(mdir, "model.safetensors"))
        res = inner.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
        print(f"# {mname}: loaded {len(sd)} tensors, missing {len(res.missing_keys)} "
              f"{res.missing_keys[:3]}, unexpected {len(res.unexpected_keys)} {res.unexpected_keys[:3]}")
        inner = inner.eval().to(dev)
        for dt in args.dtypes.split(","):
            net = inner
            if dt == "bf16-cast":
                import copy

                net = copy.deepcopy(inner).to(torch.bfloat16)
            for (W, C, B, _) in mp:
                T = seq_len(W, C)
                if time.perf_counter() - t_start > args.budget:
                    print(f"| {mname} | {dt} | {W} | {C} | {B} | {T} | skipped: over the {args.budget:.0f} s budget | | | | | |")
                    continue
                batch = make_batch(torch, B, W, C)

                def fwd():
                    x = {k: v.to(dev, non_blocking=False) for k, v in batch.items()}
                    with torch.inference_mode():
                        if dt == "bf16":
                            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                                o = net(**x)
                        else:
                            o = net(**x)
                        lg = o.logits if hasattr(o, "logits") else o[0]
                        return lg.float().cpu()

                try:
                    if dev.startswith("cuda"):
                        torch.cuda.empty_cache()
                        torch.cuda.reset_peak_memory_stats()
                    t0 = time.perf_counter()
                    fwd()
                    if dev.startswith("cuda"):
                        torch.cuda.synchronize()
                    warm = time.perf_counter() - t0
                    left = args.budget - (time.perf_counter() - t_start)
                    reps = max(3, min(args.reps, int(left / max(warm, 1e-6) / 2)))
                    lat = []
                    for _ in range(reps):
                        a = time.perf_counter()
                        fwd()  # .cpu() synchronizes
                        lat.append(time.perf_counter() - a)
                    lat.sort()
                    p50 = lat[len(lat) // 2]
                    p99 = lat[max(0, math.ceil(0.99 * len(lat)) - 1)]
                    mib = torch.cuda.max_memory_allocated() / 1048576 if dev.startswith("cuda") else 0
                except Exception as e:  # an OOM or an API mismatch: report and go on
                    print(f"| {mname} | {dt} | {W} | {C} | {B} | {T} | FAILED: {type(e).__name__}: {str(e)[:120]} | | | | | |")
                    continue
                tps = B / p50
                o = ours.get((mname, "bf16" if dt.startswith("bf16") else dt, W, C, B))
                ratio = f"{o / tps:.2f}x" if o else "-"
                print(f"| {mname} | {dt} | {W} | {C} | {B} | {T} | {tps:.1f} | {p50 * 1e3:.2f} | {p99 * 1e3:.2f} | {mib:.0f} | "
                      f"{o if o else '-'} | {ratio} |")
                sys.stdout.flush()
                out_rows.append(dict(date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), gpu=gpu.replace(" ", "_"),
                                     impl="reference", model=mname, dtype=dt, W=W, C=C, B=B, T=T, reps=len(lat),
                                     texts_per_s=round(tps, 2), p50_ms=round(p50 * 1e3, 3), p99_ms=round(p99 * 1e3, 3),
                                     peak_mib=round(mib), ratio=ratio))
            if net is not inner:
                del net
    if args.csv and out_rows:
        new = not os.path.exists(args.csv) or os.path.getsize(args.csv) == 0
        with open(args.csv, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(out_rows[0].keys()))
            if new:
                w.writeheader()
            w.writerows(out_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
