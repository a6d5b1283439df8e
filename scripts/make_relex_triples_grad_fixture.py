#!/usr/bin/env python
"""Reference gradients of the TriplesScoreLayer modes with weights, for tests/golden/test_relex_triples.c
(Test weighted_modes_grad).

Reads tests/fixtures/relex_triples/interactions.safetensors (scripts/make_fixtures.py: every mode built by the
real `gliner` package with dim = 16 and random parameters, fixed h, r, t rows) and writes, beside it,
grads.safetensors + grads.json: for TransH, TransF, PairRE, TripleRE, TuckER (train() and eval), ERMLP and ConvKB,
the layer with the fixture's parameters scores head (B, P, D), tail (B, P, D) against rel (B, R, D) with the
reference's own forward_batched_relations (B = 2, P = 3, R = 2: the N = 12 triples in (b, p, r) order), and torch
autograd gives the gradients of sum(w * scores) w.r.t. head, tail, rel and every parameter.

The layer runs in train() (TuckER's BatchNorms on the batch statistics; "TuckER_eval" on the running ones) with
every nn.Dropout at p = 0: the reference's dropout draws come from torch's RNG, which gliner.c does not replay
(its dropouts are checked by finite differences with fixed seeds, tests/unit/test_grad_relex.c). For TuckER in
train() the running statistics after the forward (momentum 0.1, unbiased variance) are stored too.

To keep the file small, ERMLP's mlp.0.weight gradient (2048 x 48) is stored for its first 128 rows only.

Run from the repository root:

    /work/venv/bin/python scripts/make_relex_triples_grad_fixture.py

scripts/make_fixtures.py runs it too (write_grads) whenever it rebuilds relex_triples/, so the two stay in step.
Deterministic (its own seeded generator, 1 torch thread); versions pinned in scripts/requirements.txt.
"""

import json
import sys
from pathlib import Path

import gliner
import torch
from gliner.modeling.multitask.triples_layers import TriplesScoreLayer
from safetensors.torch import load_file, save_file

DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "relex_triples"
B, P, R = 2, 3, 2
ERMLP_ROWS = 128
CASES = [  # (name in the fixture, mode, train())
    ("TransH", "TransH", True),
    ("TransF", "TransF", True),
    ("PairRE", "PairRE", True),
    ("TripleRE", "TripleRE", True),
    ("TuckER", "TuckER", True),
    ("TuckER_eval", "TuckER", False),
    ("ERMLP", "ERMLP", True),
    ("ConvKB", "ConvKB", True),
]


def write_grads(d=DIR):
    """grads.safetensors + grads.json in d from d's interactions.*; returns the file names"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _write(Path(d))
    finally:
        torch.set_num_threads(threads)


def _write(d):
    src = load_file(str(d / "interactions.safetensors"))
    info = json.loads((d / "interactions.json").read_text())
    D = info["dim"]
    head = src["h"][: B * P].reshape(B, P, D).clone()
    tail = src["t"][: B * P].reshape(B, P, D).clone()
    rel = src["r"][: B * R].reshape(B, R, D).clone()
    w = torch.randn(B, P, R, generator=torch.Generator().manual_seed(20240607))
    out = {"head": head, "tail": tail, "rel": rel, "w": w}
    meta = {
        "versions": {"gliner": gliner.__version__, "torch": torch.__version__, "python": sys.version.split()[0]},
        "B": B, "P": P, "R": R, "dim": D, "ermlp_weight_rows": ERMLP_ROWS,
        "note": "TriplesScoreLayer(mode, dim) with interactions.safetensors' parameters, forward_batched_relations("
        "head, tail, rel), every nn.Dropout at p = 0; <case>.scores (B, P, R); <case>.grad.{head,tail,rel} and "
        "<case>.grad.<state-dict key> = d sum(w * scores) / d that; TuckER (train()): <case>.after.<running stat "
        "key> after the forward; ERMLP's mlp.0.weight gradient: its first ermlp_weight_rows rows.",
        "cases": {},
    }  # fmt: skip
    for name, mode, train in CASES:
        layer = TriplesScoreLayer(mode, dim=D)
        pre = f"{mode}.triples_score_layer."
        sd = {k[len(pre):]: v for k, v in src.items() if k.startswith(pre)}
        layer.load_state_dict(sd, strict=True)
        for m in layer.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        layer.train(train)
        h = head.clone().requires_grad_(True)
        t = tail.clone().requires_grad_(True)
        r = rel.clone().requires_grad_(True)
        scores = layer.forward_batched_relations(h, t, r)
        (w * scores).sum().backward()
        out[f"{name}.scores"] = scores.detach()
        out[f"{name}.grad.head"] = h.grad
        out[f"{name}.grad.tail"] = t.grad
        out[f"{name}.grad.rel"] = r.grad
        keys = []
        for k, p in layer.named_parameters():
            g = p.grad
            if mode == "ERMLP" and k == "interaction.mlp.0.weight":
                g = g[:ERMLP_ROWS]
            out[f"{name}.grad.triples_score_layer.{k}"] = g
            keys.append(f"triples_score_layer.{k}")
        if mode == "TuckER" and train:
            for k, v in layer.state_dict().items():
                if "running_" in k:
                    out[f"{name}.after.triples_score_layer.{k}"] = v
        meta["cases"][name] = {"mode": mode, "train": train, "params": keys}
    out = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in out.items()}
    save_file(out, str(d / "grads.safetensors"), metadata={"format": "pt"})
    with open(d / "grads.json", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote {d / 'grads.safetensors'} ({len(out)} tensors)")
    return ["grads.json", "grads.safetensors"]


if __name__ == "__main__":
    write_grads()
