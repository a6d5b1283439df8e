#!/usr/bin/env python3
"""Proves that what gliner.c writes, the reference package reads.

For every fixture checkpoint under tests/fixtures/models/ (written by the reference's save_pretrained):
  1. `gliner convert IN OUT` rewrites it with our writers (gliner_config.json, model.safetensors,
     tokenizer files copied); `--dtype bf16` does the same with every weight cast to bf16.
  2. The reference loads IN and OUT with GLiNER.from_pretrained and we compare: the class it picks,
     every config field, every state-dict tensor (bit-identical for f32; for bf16, equal to the f32
     weights rounded to bf16), and the entities and raw logits it predicts on a few texts.
With --published, the checkpoints of tests/fixtures/published/ (legacy config, pytorch_model.bin, no tokenizer:
the backbones named by model_name / labels_encoder are put in a scratch Hugging Face cache for both sides) are
converted instead, and the reference must load the result as it loads the original (the cache stays: the reference
loads a bi-encoder's label tokenizer by its labels_encoder name whatever the checkpoint holds).
Run from the repository root:  venv/bin/python scripts/check_roundtrip.py [--gliner build/gliner] [--published]
Exit code 0 when every fixture round-trips; one line per fixture either way.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

torch = GLiNER = None  # imported in main(), after HF_HUB_CACHE is chosen

TEXTS = [
    "Barack Obama was born in Honolulu, Hawaii on August 4, 1961.",
    "Zürich is a city in Switzerland; 東京 is in Japan.",
]
LABELS = ["person", "location", "date of birth"]
IGNORED_CONFIG_KEYS = {"transformers_version", "_name_or_path", "architectures"}


def config_dict(model):
    d = model.config.to_dict()
    return {k: v for k, v in d.items() if k not in IGNORED_CONFIG_KEYS}


def state(model):
    return {k: v.detach().clone() for k, v in model.model.state_dict().items()}


def predict(model):
    torch.manual_seed(0)  # the decoder variant samples its generated labels by default
    try:
        return model.inference(TEXTS, LABELS, threshold=0.3)
    except Exception as e:  # relations/decoder variants may need extra inputs; record, compare equally
        return f"inference raised {type(e).__name__}: {e}"


def compare(name, ref, ours, bf16):
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
        want = sr[k].to(torch.bfloat16).to(sr[k].dtype) if bf16 and sr[k].is_floating_point() else sr[k]
        if not torch.equal(want, so[k]):
            problems.append(f"tensor {k} differs (max |d| {float((want.float() - so[k].float()).abs().max()):.3g})")
    if not bf16:
        pr, po = predict(ref), predict(ours)
        if pr != po:
            problems.append(f"entities differ: {po} != {pr}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gliner", default="build/gliner")
    ap.add_argument("--fixtures", default="tests/fixtures/models")
    ap.add_argument("--published", action="store_true",
                    help="the legacy checkpoints of tests/fixtures/published, their backbones in a scratch HF cache")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gliner_roundtrip_"))
    if args.published:
        args.fixtures = "tests/fixtures/published"
        pub = Path(args.fixtures)
        rev = json.loads((pub / "expected.json").read_text())["revision"]
        backbones = {json.loads((pub / "expected.json").read_text())["backbone_id"]: pub / "backbone"}
        bi = json.loads((pub / "expected_bi.json").read_text())["backbone_ids"]
        backbones.update({bi[0]: pub / "backbone_bert_text", bi[1]: pub / "backbone_bert_labels"})
        cache = tmp / "hf_cache"
        for repo, src in backbones.items():
            d = cache / ("models--" + repo.replace("/", "--"))
            (d / "snapshots" / rev).mkdir(parents=True)
            (d / "refs").mkdir()
            (d / "refs/main").write_text(rev)
            for f in src.iterdir():
                shutil.copy(f, d / "snapshots" / rev / f.name)
        os.environ["HF_HUB_CACHE"] = str(cache)
    global torch, GLiNER
    import torch
    from gliner import GLiNER
    torch.manual_seed(0)
    failed = 0
    dirs = sorted(p for p in Path(args.fixtures).iterdir() if (p / "gliner_config.json").exists())
    try:
        for d in dirs:
            for bf16 in (False, True):
                out = tmp / (d.name + (".bf16" if bf16 else ""))
                cmd = [args.gliner, "convert", str(d), str(out)] + (["--dtype", "bf16"] if bf16 else [])
                r = subprocess.run(cmd, capture_output=True, text=True)
                tag = f"{d.name}{' (bf16)' if bf16 else ''}"
                if r.returncode != 0:
                    print(f"FAIL {tag}: gliner convert exited {r.returncode}: {r.stderr.strip()}")
                    failed += 1
                    continue
                try:
                    ref = GLiNER.from_pretrained(str(d), local_files_only=True)
                    ours = GLiNER.from_pretrained(str(out), local_files_only=True)
                except Exception as e:
                    print(f"FAIL {tag}: the reference cannot load it: {type(e).__name__}: {e}")
                    failed += 1
                    continue
                ref.eval()
                ours.eval()
                problems = compare(d.name, ref, ours, bf16)
                if problems:
                    failed += 1
                    print(f"FAIL {tag}: " + "; ".join(problems[:6]))
                else:
                    print(f"ok   {tag}: {type(ours).__name__}, {len(state(ours))} tensors identical"
                          f"{', bf16-rounded' if bf16 else ', same entities'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"fixtures": len(dirs), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
