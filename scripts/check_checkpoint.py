#!/usr/bin/env python3
"""check_checkpoint.py -- proves that the reference package loads a training checkpoint gliner.c wrote
(host/train/checkpoint.c) and predicts with it exactly as with the model it came from.

    /work/venv/bin/python scripts/check_checkpoint.py CKPT_DIR --source MODEL_DIR [--changed]
    /work/venv/bin/python scripts/check_checkpoint.py --root DIR [--fixtures tests/fixtures/models]

The second form checks every DIR/<model>/checkpoint-<N> against tests/fixtures/models/<model>; that is the
layout tests/unit/test_checkpoint.c writes when run with GLINER_CKPT_TEST_OUT=DIR:

    GLINER_CKPT_TEST_OUT=/tmp/ck build/tests/unit_test_checkpoint --filter='checkpoint/round_trip*'
    /work/venv/bin/python scripts/check_checkpoint.py --root /tmp/ck

For each pair the reference loads both with GLiNER.from_pretrained(dir, load_tokenizer=True) and compares:
the class it picks, every config field, every state-dict tensor (bit-identical), the tokenizer's ids, the
raw logits of every batch (torch.equal) and the entities of GLiNER.inference on a few texts. With --changed
(parameters trained since) only the loadability, class, config and tensor names/shapes/dtypes must match.
It also checks our own files beside the model: trainer_state.json (global_step = N, log_history a list),
resume.json (format, rng) and optimizer.safetensors (exp_avg.* / exp_avg_sq.* exactly the parameters'
names and shapes, float32, and a scalar int64 "step").
Exit code 0 when every checkpoint passes; one line per checkpoint either way.
"""
import argparse
import json
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from gliner import GLiNER  # noqa: E402

TEXTS = [
    "Barack Obama was born in Honolulu, Hawaii on August 4, 1961.",
    "Zürich is a city in Switzerland; 東京 is in Japan.",
    "Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!",
]
LABELS = ["person", "location", "date of birth"]
IGNORED_CONFIG_KEYS = {"transformers_version", "_name_or_path", "architectures"}


def config_dict(model):
    return {k: v for k, v in model.config.to_dict().items() if k not in IGNORED_CONFIG_KEYS}


def state(model):
    return {k: v.detach().clone() for k, v in model.model.state_dict().items()}


def run(model):
    """entities of inference() and the raw logits of every batch it ran"""
    logits = []
    orig = model.run_batch

    def recording(batch, *a, **k):
        out = orig(batch, *a, **k)
        x = out[0]
        logits.append(x.detach().clone() if isinstance(x, torch.Tensor) else torch.as_tensor(x))
        return out

    model.run_batch = recording
    torch.manual_seed(0)
    try:
        ents = model.inference(TEXTS, LABELS, threshold=0.3)
    except Exception as e:  # architectures that need more inputs: compared equally
        ents = f"inference raised {type(e).__name__}: {e}"
    finally:
        model.run_batch = orig
    return ents, logits


def tokenizer_ids(model):
    tok = model.data_processor.transformer_tokenizer
    return [tok(t)["input_ids"] for t in TEXTS]


def check_trainer_files(ckpt, ours_state):
    problems = []
    m = re.fullmatch(r"checkpoint-(\d+)", ckpt.name)
    try:
        ts = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        if m and ts.get("global_step") != int(m.group(1)):
            problems.append(f"trainer_state.json: global_step {ts.get('global_step')} != {m.group(1)}")
        if not isinstance(ts.get("log_history"), list):
            problems.append("trainer_state.json: log_history is not a list")
    except Exception as e:
        problems.append(f"trainer_state.json: {type(e).__name__}: {e}")
    try:
        rs = json.loads((ckpt / "resume.json").read_text(encoding="utf-8"))
        if rs.get("format") != "gliner.c-resume" or len(rs.get("rng", [])) != 4:
            problems.append("resume.json: bad format or rng")
        elif not all(re.fullmatch(r"[0-9a-f]{16}", r) for r in rs["rng"]):
            problems.append("resume.json: rng entries are not 16 hex digits")
    except Exception as e:
        problems.append(f"resume.json: {type(e).__name__}: {e}")
    opt = ckpt / "optimizer.safetensors"
    if opt.exists():
        try:
            o = load_file(str(opt))
            params = ours_state
            step = o.pop("step", None)
            if step is None or step.dtype != torch.int64 or step.dim() != 0:
                problems.append("optimizer.safetensors: no scalar int64 'step'")
            names = {k.split(".", 1)[1] for k in o}
            for k, v in o.items():
                kind, name = k.split(".", 1)
                if kind not in ("exp_avg", "exp_avg_sq"):
                    problems.append(f"optimizer.safetensors: unexpected tensor {k}")
                elif name not in params:
                    problems.append(f"optimizer.safetensors: {k} names no parameter of the model")
                elif v.dtype != torch.float32 or v.shape != params[name].shape:
                    problems.append(f"optimizer.safetensors: {k} {v.dtype} {tuple(v.shape)} vs {tuple(params[name].shape)}")
            if len({k for k in o if k.startswith("exp_avg.")}) != len({k for k in o if k.startswith("exp_avg_sq.")}):
                problems.append("optimizer.safetensors: exp_avg and exp_avg_sq differ in number")
            if not names:
                problems.append("optimizer.safetensors: no state")
        except Exception as e:
            problems.append(f"optimizer.safetensors: {type(e).__name__}: {e}")
    return problems


def compare(ckpt, source, changed):
    try:
        ref = GLiNER.from_pretrained(str(source), load_tokenizer=True, local_files_only=True)
        ours = GLiNER.from_pretrained(str(ckpt), load_tokenizer=True, local_files_only=True)
    except Exception as e:
        return [f"the reference cannot load it: {type(e).__name__}: {e}"], None
    ref.eval()
    ours.eval()
    problems = []
    if type(ref).__name__ != type(ours).__name__:
        problems.append(f"class {type(ours).__name__} != {type(ref).__name__}")
    cr, co = config_dict(ref), config_dict(ours)
    for k in sorted(set(cr) | set(co)):
        if cr.get(k, "<absent>") != co.get(k, "<absent>"):
            problems.append(f"config.{k}: {co.get(k, '<absent>')!r} != {cr.get(k, '<absent>')!r}")
    sr, so = state(ref), state(ours)
    if set(sr) != set(so):
        problems.append(f"state-dict keys differ: missing {sorted(set(sr) - set(so))[:5]}, extra {sorted(set(so) - set(sr))[:5]}")
    for k in sorted(set(sr) & set(so)):
        if sr[k].shape != so[k].shape or sr[k].dtype != so[k].dtype:
            problems.append(f"tensor {k}: {so[k].dtype} {tuple(so[k].shape)} != {sr[k].dtype} {tuple(sr[k].shape)}")
        elif not changed and not torch.equal(sr[k], so[k]):
            problems.append(f"tensor {k} differs (max |d| {float((sr[k].float() - so[k].float()).abs().max()):.3g})")
    if tokenizer_ids(ref) != tokenizer_ids(ours):
        problems.append("the tokenizers give different ids")
    if not changed:
        er, lr = run(ref)
        eo, lo = run(ours)
        if not lr and not isinstance(er, str):
            problems.append("no logits were recorded (run_batch not called?)")
        if len(lr) != len(lo) or not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(lr, lo)):
            problems.append("logits differ")
        if er != eo:
            if isinstance(er, list) and isinstance(eo, list) and len(er) == len(eo):
                i = next(i for i in range(len(er)) if er[i] != eo[i])
                problems.append(f"entities of text {i} differ: {str(eo[i])[:300]} != {str(er[i])[:300]}")
            else:
                problems.append(f"entities differ: {str(eo)[:300]} != {str(er)[:300]}")
    problems += check_trainer_files(ckpt, so)
    return problems, ours


def against_ours(ckpt, gliner_bin, model=None):
    """our `gliner predict` on the checkpoint against the reference's inference on the same checkpoint: the same
    entities (start, end, label) and scores within 1e-4 (a trained checkpoint: the reference reads our weights)"""
    import subprocess
    if model is None:
        model = GLiNER.from_pretrained(str(ckpt), load_tokenizer=True, local_files_only=True)
        model.eval()
    ref = model.inference(TEXTS, LABELS, threshold=0.3)
    lines = "\n".join(json.dumps({"text": t, "labels": LABELS}) for t in TEXTS) + "\n"
    p = subprocess.run([gliner_bin, "predict", "--model", str(ckpt), "--threshold", "0.3"], input=lines,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        return [f"gliner predict failed: {p.stderr.strip()[:300]}"], 0
    ours = [json.loads(l)["entities"] for l in p.stdout.splitlines() if l.strip()]
    problems, n = [], 0
    for i, (r, o) in enumerate(zip(ref, ours)):
        kr = [(e["start"], e["end"], e["label"]) for e in r]
        ko = [(e["start"], e["end"], e["label"]) for e in o]
        if kr != ko:
            problems.append(f"text {i}: entities {ko[:4]} != the reference's {kr[:4]}")
            continue
        n += len(kr)
        for er, eo in zip(r, o):
            if abs(er["score"] - eo["score"]) > 1e-4:
                problems.append(f"text {i}: score {eo['score']:.6f} != {er['score']:.6f}")
    if len(ours) != len(ref):
        problems.append(f"{len(ours)} output lines for {len(ref)} texts")
    return problems, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ckpt", nargs="?", help="a checkpoint directory (with --source)")
    ap.add_argument("--source", help="the model directory the checkpoint's parameters came from")
    ap.add_argument("--root", help="check ROOT/<model>/checkpoint-* against FIXTURES/<model>")
    ap.add_argument("--fixtures", default=str(Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "models"))
    ap.add_argument("--changed", action="store_true", help="parameters were trained: compare structure only")
    ap.add_argument("--gliner", help="also compare our `gliner predict` (this binary) on the checkpoint with the"
                    " reference's inference on it: same entities, scores within 1e-4")
    args = ap.parse_args()
    pairs = []
    if args.root:
        for mdir in sorted(Path(args.root).iterdir()):
            for ck in sorted(mdir.glob("checkpoint-*")):
                pairs.append((ck, Path(args.fixtures) / mdir.name))
    elif args.ckpt and args.source:
        pairs.append((Path(args.ckpt), Path(args.source)))
    else:
        ap.error("give CKPT --source MODEL_DIR, or --root DIR")
    if not pairs:
        print("no checkpoints found")
        return 1
    failed = 0
    for ck, src in pairs:
        problems, ours = compare(ck, src, args.changed)
        n_ents = None
        if args.gliner and ours is not None:
            p2, n_ents = against_ours(ck, args.gliner, ours)
            problems += p2
        if problems:
            failed += 1
            print(f"FAIL {ck}: " + "; ".join(problems[:6]))
        else:
            what = "same structure" if args.changed else "identical tensors, tokenizer ids, logits and entities"
            if n_ents is not None:
                what += f"; gliner predict == the reference on it ({n_ents} entities)"
            print(f"ok   {ck}: {type(ours).__name__}, {len(state(ours))} tensors, {what}")
    print(json.dumps({"checkpoints": len(pairs), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
