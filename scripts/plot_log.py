#!/usr/bin/env python3
"""plot_log.py -- draws a gliner.c training log: loss, gradient norm, learning rate and evaluation F1.

    /work/venv/bin/python scripts/plot_log.py OUTDIR/train_log.jsonl [-o plot.png] [--smooth 0.9] [--logy]
    /work/venv/bin/python scripts/plot_log.py OUTDIR/checkpoint-500/trainer_state.json   (its log_history)
    /work/venv/bin/python scripts/plot_log.py --demo /tmp/demo.png   (a synthetic log, to test the script)

THE LOG FORMAT (what the trainer appends to OUTDIR/train_log.jsonl): UTF-8 JSON Lines, one object per line,
in the order written:
    training step   {"step": 120, "epoch": 0.24, "loss": 0.8123, "lr": 3.0e-05, "grad_norm": 1.02}
    evaluation      {"step": 500, "epoch": 1.0, "f1": 0.61, "precision": 0.66, "recall": 0.57, "eval_loss": 0.9}
  step       int, required: optimizer steps taken (the x axis)
  epoch      float, optional
  loss       float: the training loss of that step (or the mean since the last logged step)
  lr         float: the learning rate of the step (the encoder group's when the two groups differ;
             "lr_others" may carry the other one)
  grad_norm  float: the global gradient norm before clipping
  f1, precision, recall   floats in [0, 1]: micro scores of host/train/eval.c (the reference's evaluator)
  eval_loss  float, optional
  Any other key (ms, tokens_per_s, ...) is ignored. A value that is not finite is written as null and skipped
  here. A line may carry training and evaluation keys at once. Blank lines are ignored; a line that is not a
  JSON object is an error naming the file and the line number (a truncated last line, from a run killed while
  writing, only gets a warning).
The HF spellings are accepted as aliases in both inputs: "learning_rate" for lr, "eval_f1" / "eval_precision" /
"eval_recall" for the scores. An HF-style trainer_state.json (a checkpoint's) is read too: its log_history.
host/train/checkpoint.h's train_log_write_jsonl writes exactly this format.
Writes a PNG (default: the log's name with .png) with one panel per quantity present. Needs matplotlib.
"""
import argparse
import json
import math
import os
import sys

KEYS = ("loss", "lr", "lr_others", "grad_norm", "f1", "precision", "recall", "eval_loss")
HF_KEYS = {"learning_rate": "lr", "eval_f1": "f1", "eval_precision": "precision", "eval_recall": "recall"}


def num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def read_log(path):
    """-> list of dicts with 'step' and the KEYS present (finite floats)"""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    records = []
    if path.endswith(".json"):
        obj = json.loads(text)
        hist = obj.get("log_history") if isinstance(obj, dict) else None
        if not isinstance(hist, list):
            raise ValueError(f"{path}: expected a trainer_state.json with a log_history list")
        raw = [(i + 1, {HF_KEYS.get(k, k): v for k, v in e.items()}) for i, e in enumerate(hist) if isinstance(e, dict)]
    else:
        raw = []
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                if i == len(lines) - 1 and not text.endswith("\n"):
                    print(f"{path}:{i + 1}: warning: incomplete last line ignored", file=sys.stderr)
                    continue
                raise ValueError(f"{path}:{i + 1}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{i + 1}: expected a JSON object, found {type(obj).__name__}")
            raw.append((i + 1, {HF_KEYS.get(k, k): v for k, v in obj.items()}))
    for line_no, obj in raw:
        step = obj.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            raise ValueError(f"{path}:{line_no}: \"step\": expected an integer, found {step!r}")
        r = {"step": step}
        for k in KEYS:
            v = num(obj.get(k))
            if v is not None:
                r[k] = v
        records.append(r)
    return records


def series(records, key):
    xs, ys = [], []
    for r in records:
        if key in r:
            xs.append(r["step"])
            ys.append(r[key])
    return xs, ys


def ema(ys, beta):
    out, m = [], None
    for y in ys:
        m = y if m is None else beta * m + (1 - beta) * y
        out.append(m)
    return out


def plot(records, out, title, smooth=0.0, logy=False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if any("loss" in r or "eval_loss" in r for r in records):
        panels.append("loss")
    if any("grad_norm" in r for r in records):
        panels.append("grad_norm")
    if any("lr" in r or "lr_others" in r for r in records):
        panels.append("lr")
    if any(k in r for r in records for k in ("f1", "precision", "recall")):
        panels.append("eval")
    if not panels:
        raise ValueError("nothing to plot: no loss, lr, grad_norm or f1 values")
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels) + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, p in zip(axes, panels):
        if p == "loss":
            xs, ys = series(records, "loss")
            if xs:
                ax.plot(xs, ys, color="tab:blue", alpha=0.35 if smooth > 0 else 1.0, lw=1, label="train loss")
                if smooth > 0:
                    ax.plot(xs, ema(ys, smooth), color="tab:blue", lw=1.5, label=f"train loss (EMA {smooth:g})")
            xs, ys = series(records, "eval_loss")
            if xs:
                ax.plot(xs, ys, "o-", color="tab:orange", ms=3, lw=1, label="eval loss")
            ax.set_ylabel("loss")
            if logy:
                ax.set_yscale("log")
        elif p == "grad_norm":
            xs, ys = series(records, "grad_norm")
            ax.plot(xs, ys, color="tab:purple", lw=1, label="grad norm")
            ax.set_ylabel("grad norm")
            if logy:
                ax.set_yscale("log")
        elif p == "lr":
            xs, ys = series(records, "lr")
            if xs:
                ax.plot(xs, ys, color="tab:green", lw=1.2, label="lr")
            xs, ys = series(records, "lr_others")
            if xs:
                ax.plot(xs, ys, "--", color="tab:olive", lw=1.2, label="lr (others)")
            ax.set_ylabel("learning rate")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        else:
            for k, style, color in (("f1", "o-", "tab:red"), ("precision", "^--", "tab:gray"), ("recall", "v--", "tab:brown")):
                xs, ys = series(records, k)
                if xs:
                    ax.plot(xs, ys, style, color=color, ms=4, lw=1.2 if k == "f1" else 0.8, label=k)
            xs, ys = series(records, "f1")
            if xs:
                best = max(range(len(ys)), key=lambda i: ys[i])
                ax.annotate(f"best F1 {ys[best]:.2%} @ {xs[best]}", (xs[best], ys[best]), textcoords="offset points",
                            xytext=(-4, 8), ha="right", fontsize=8)
            ax.set_ylabel("eval")
            ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def demo_log(path, steps=600, eval_every=100, seed=0):
    """a synthetic log in the format above: decaying noisy loss, linear warmup + decay lr, rising F1"""
    import random

    rng = random.Random(seed)
    warm = steps // 10
    with open(path, "w", encoding="utf-8") as f:
        for s in range(1, steps + 1):
            lr = 5e-5 * (s / warm if s <= warm else max(0.0, (steps - s) / (steps - warm)))
            loss = 40.0 * math.exp(-s / 120) + 2.0 + rng.gauss(0, 0.8)
            gn = float("nan") if s == 250 else abs(rng.gauss(3.0 * math.exp(-s / 300) + 0.5, 0.3))
            rec = {"step": s, "epoch": s / 200, "loss": loss, "lr": lr, "grad_norm": gn if math.isfinite(gn) else None}
            f.write(json.dumps(rec) + "\n")
            if s % eval_every == 0:
                f1 = 0.7 * (1 - math.exp(-s / 200))
                f.write(json.dumps({"step": s, "epoch": s / 200, "f1": f1, "precision": min(1.0, f1 * 1.1),
                                    "recall": f1 * 0.9, "eval_loss": 30.0 * math.exp(-s / 150) + 3}) + "\n")
        f.write('{"step": 601, "loss": 2.')  # a run killed mid-line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", nargs="?", help="train_log.jsonl or a trainer_state.json")
    ap.add_argument("-o", "--output", help="PNG to write (default: the log's path with .png)")
    ap.add_argument("--smooth", type=float, default=0.0, help="EMA factor for the loss curve (e.g. 0.9; 0 = off)")
    ap.add_argument("--logy", action="store_true", help="log scale for loss and grad norm")
    ap.add_argument("--title", help="figure title (default: the log's path)")
    ap.add_argument("--demo", metavar="PNG", help="write a synthetic log beside PNG and plot it")
    args = ap.parse_args()
    if args.demo:
        log = os.path.splitext(args.demo)[0] + ".jsonl"
        os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
        demo_log(log)
        args.log, args.output = log, args.demo
        args.smooth = args.smooth or 0.9
    if not args.log:
        ap.error("give a log file (or --demo PNG)")
    out = args.output or os.path.splitext(args.log)[0] + ".png"
    try:
        records = read_log(args.log)
        plot(records, out, args.title or args.log, smooth=args.smooth, logy=args.logy)
    except (OSError, ValueError) as e:
        print(f"plot_log: {e}", file=sys.stderr)
        return 1
    n_eval = sum(1 for r in records if "f1" in r)
    print(f"wrote {out} ({len(records)} records, {n_eval} evaluations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
