#!/usr/bin/env python
"""The reference side of bench/bench_cpu_e2e.sh: GLiNER (PyTorch, CPU) model.inference on a JSONL file of
texts ({"text": ..., "labels": [...]} per line; the labels of the first line are used for all), timed
after a warm-up run, with torch.set_num_threads(n), eval(), no_grad.

Prints one JSON line: load_s, run_s (each timed run), texts, entities, and the collated batch shapes
(B, T, W, C, real words) of every batch, for bench/flops.py. With --entities FILE it also writes the
entities (the same JSONL as `gliner predict`) so the script can check both sides agree.

Usage: bench_reference.py --model DIR --input texts.jsonl --threads N [--batch-size 8] [--reps 2]
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse
import json
import time
import warnings

warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--entities", default=None)
    ap.add_argument("--shapes", action="store_true", help="also report the collated batch shapes")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    from gliner import GLiNER

    t_import = time.perf_counter() - t0
    rows = [json.loads(l) for l in open(args.input, encoding="utf-8") if l.strip()]
    texts = [r["text"] for r in rows]
    labels = rows[0]["labels"]

    t0 = time.perf_counter()
    model = GLiNER.from_pretrained(args.model, local_files_only=True, load_tokenizer=True)
    model.eval()
    load_s = time.perf_counter() - t0

    def run():
        with torch.no_grad():
            return model.inference(texts, labels, threshold=args.threshold, flat_ner=True, batch_size=args.batch_size)

    t0 = time.perf_counter()
    run()  # warm-up
    warm_s = time.perf_counter() - t0
    runs = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        ents = run()
        runs.append(time.perf_counter() - t0)

    out = {
        "impl": "reference",
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "texts": len(texts),
        "labels": labels,
        "import_s": round(t_import, 3),
        "load_s": round(load_s, 3),
        "warmup_s": round(warm_s, 3),
        "run_s": [round(r, 3) for r in runs],
        "entities": sum(len(e) for e in ents),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    if args.shapes:
        prepared = model.prepare_batch(texts, labels)
        shapes = []
        for i in range(0, len(texts), args.batch_size):
            b = model.collate_batch(prepared["input_x"][i : i + args.batch_size], prepared["entity_types"])
            B, T = b["input_ids"].shape
            shapes.append(
                {
                    "B": int(B),
                    "T": int(T),
                    "W": int(b["span_idx"].shape[1] // model.config.max_width),
                    "C": len(prepared["entity_types"]),
                    "words": int(b["text_lengths"].sum()),
                    "lengths": [int(x) for x in b["text_lengths"].view(-1).tolist()],
                    "tokens": int(b["attention_mask"].sum()),
                }
            )
        out["batch_shapes"] = shapes
    if args.entities:
        with open(args.entities, "w", encoding="utf-8") as f:
            for i, e in enumerate(ents):
                f.write(
                    json.dumps(
                        {
                            "index": i,
                            "entities": [
                                {k: x[k] for k in ("start", "end", "text", "label", "score")} for x in e
                            ],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
