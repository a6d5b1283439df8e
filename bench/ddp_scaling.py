#!/usr/bin/env python3
"""ddp_scaling.py -- the predicted scaling efficiency of data-parallel training on N GPUs, from one GPU's trace.

    GLINER_DDP=1 GLINER_DDP_TRACE=/tmp/tr gliner train CONFIG --device cuda ...   # writes /tmp/tr.rank0
    python3 bench/ddp_scaling.py /tmp/tr.rank0 [--gpus 8] [--busbw-gbs 450] [--latency-us 25] [--skip 3]

The trace (host/train/ddp.c) holds, per step, each gradient bucket's bytes and when the backward was done with it
(ms from the start of the step's forward, CUDA events on the compute stream), and when the reduction ended.
The model: on N GPUs every rank runs the same compute (the per-rank batch is unchanged, so the compute time is
the one measured here) and the buckets are all-reduced one after another on the communication stream, each
starting when the backward has finished it and the previous bucket's all-reduce has ended. A ring all-reduce of
B bytes on N ranks moves 2 (N - 1) / N x B bytes per rank, so it takes latency + 2 (N - 1) / N x B / busbw, where
busbw is NCCL's bus bandwidth (nccl-tests' "busbw", which is defined to make that formula hold). The time the
last all-reduce runs past the end of the backward is exposed; the efficiency is step / (step + exposed), the step
being the one-GPU step (forward, backward, update: `reduced_ms`, plus the optimizer measured separately if given).
Default busbw 450 GB/s: the all_reduce busbw NVIDIA's nccl-tests reach for large messages on 8x H100 SXM with
NVLink 4 / NVSwitch (about 450-480 GB/s); pass the figure of your own system (nccl-tests all_reduce_perf).
"""
import argparse
import json
import statistics
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--busbw-gbs", type=float, default=450.0, help="NCCL all-reduce bus bandwidth, GB/s")
    ap.add_argument("--latency-us", type=float, default=25.0, help="per all-reduce latency, microseconds")
    ap.add_argument("--skip", type=int, default=3, help="first steps left out (warm-up)")
    ap.add_argument("--update-ms", type=float, default=0.0, help="the optimizer step after the reduction, ms")
    a = ap.parse_args()
    steps = {}
    try:
        with open(a.trace) as f:
            for ln, line in enumerate(f, 1):
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"{a.trace}:{ln}: not a JSON line ({e.msg})")
                s = steps.setdefault(r["step"], {"buckets": []})
                if "bucket" in r:
                    s["buckets"].append((r["bucket"], r["bytes"], r["ready_ms"]))
                else:
                    s["end"] = r["reduced_ms"]
    except OSError as e:
        sys.exit(f"{a.trace}: {e.strerror}")
    keys = sorted(steps)[a.skip:]
    if not keys:
        sys.exit(f"{a.trace}: no steps after the first {a.skip}")
    n = a.gpus
    bw = a.busbw_gbs * 1e9 / 1e3  # bytes per ms
    effs, exposed_all, comm_all, step_all = [], [], [], []
    for k in keys:
        s = steps[k]
        # the launch order (ddp.c): the highest offsets first = bucket index descending
        bs = sorted(s["buckets"], key=lambda x: -x[0])
        bwd_end = max(r for _, _, r in bs)
        t = 0.0
        comm = 0.0
        for _, nbytes, ready in bs:
            d = a.latency_us / 1e3 + 2 * (n - 1) / n * nbytes / bw
            t = max(t, ready) + d
            comm += d
        exposed = max(0.0, t - bwd_end)
        step = s.get("end", bwd_end) + a.update_ms
        effs.append(step / (step + exposed))
        exposed_all.append(exposed)
        comm_all.append(comm)
        step_all.append(step)
    grad_bytes = sum(b for _, b, _ in steps[keys[0]]["buckets"])
    print(f"trace {a.trace}: {len(keys)} steps, {len(steps[keys[0]]['buckets'])} buckets, "
          f"{grad_bytes / 2**20:.1f} MiB of gradients")
    print(f"one GPU: step {statistics.median(step_all):.2f} ms (median)")
    print(f"{n} GPUs at {a.busbw_gbs:g} GB/s busbw, {a.latency_us:g} us per all-reduce: all-reduce time "
          f"{statistics.median(comm_all):.2f} ms per step, exposed after the backward "
          f"{statistics.median(exposed_all):.2f} ms")
    print(f"predicted scaling efficiency: {statistics.median(effs):.3f} of linear "
          f"(min {min(effs):.3f}, max {max(effs):.3f})")


if __name__ == "__main__":
    main()
