#!/usr/bin/env python3
"""make_optimizer_fixtures.py -- fixtures for host/train/optim.c, written by the real libraries
(run with /work/venv/bin/python; offline, deterministic):

  tests/fixtures/optim/schedules.json  LR multipliers of transformers.get_scheduler (linear, cosine, constant,
                                       constant_with_warmup) per step, and TrainingArguments.get_warmup_steps
                                       for some (num_steps, warmup) pairs (ceil(N * ratio) quirks included).
  tests/fixtures/optim/adamw.json      three steps of torch.optim.AdamW (foreach=False, fused=False: the CPU
                                       single-tensor path) on small tensors in the four parameter groups of
                                       Trainer.create_optimizer (encoder / others x decay / no-decay), each step preceded by
                                       torch.nn.utils.clip_grad_norm_(max_norm=1.0) and a LambdaLR linear schedule
                                       (warm-up 1 step of 4), as the HF Trainer does; inputs, per-step norms and
                                       lrs, resulting params, exp_avg, exp_avg_sq.
  tests/fixtures/optim/decay.json      for each fixture model under tests/fixtures/models that GLiNER.from_pretrained
                                       loads: the inner-model parameter names the reference's Trainer.create_optimizer
                                       puts in a no-decay group (get_parameter_names(model, [nn.LayerNorm]) minus names
                                       containing "bias"), with the "model." prefix stripped, and the count of all names
                                       (every other named parameter is in a decay group).
"""
import json
import math
import os
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

import torch
from torch import nn
from transformers import TrainingArguments, get_scheduler
from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS
from transformers.trainer_pt_utils import get_parameter_names

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "optim"


def f32list(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def schedules():
    N = 50
    cases = []
    for name in ["linear", "cosine", "constant", "constant_with_warmup"]:
        for W in [0, 5]:
            p = nn.Parameter(torch.zeros(1))
            opt = torch.optim.AdamW([p], lr=1.0)
            kw = {} if name == "constant" else {"num_warmup_steps": W}
            if name in ("linear", "cosine"):
                kw["num_training_steps"] = N
            sch = get_scheduler(name, opt, **kw)
            mult = []
            for _ in range(N + 3):  # a few steps past the end
                mult.append(sch.get_last_lr()[0])
                opt.step()
                sch.step()
            cases.append({"type": name, "num_training_steps": N, "warmup_steps": W if name != "constant" else 0,
                          "multipliers": mult})
    warm = []
    # TrainingArguments() itself needs accelerate (not installed): call its get_warmup_steps on a stand-in
    for N, ws in [(50, 0.1), (30, 0.1), (10000, 0.1), (7, 0.05), (100, 0.0), (100, 5.0), (100, 0.5), (3, 0.7)]:
        args = SimpleNamespace(warmup_steps=ws)
        warm.append({"num_training_steps": N, "warmup": ws,
                     "warmup_steps": TrainingArguments.get_warmup_steps(args, N)})
    return {"schedules": cases, "get_warmup_steps": warm}


def adamw():
    g = torch.Generator().manual_seed(1234)
    # the names put each tensor in one of the reference's four groups (encoder = "token_rep_layer" in the name,
    # no-decay = LayerNorm or "bias"), so the C test can run them through optim_step
    shapes = {"token_rep_layer.lin.weight": (3, 4), "token_rep_layer.lin.bias": (4,), "head.weight": (5,),
              "head.norm.weight": (6,)}
    params = {k: nn.Parameter(torch.randn(*s, generator=g)) for k, s in shapes.items()}
    grads = [{k: torch.randn(*s, generator=g) * (0.3 if step != 1 else 0.05) for k, s in shapes.items()}
             for step in range(3)]
    # step 1's gradients are small, so clipping leaves them alone (coef clamped to 1)
    hp = {"lr_encoder": 1e-2, "weight_decay_encoder": 0.1, "lr_others": 3e-2, "weight_decay_other": 0.05}
    groups = [  # Trainer.create_optimizer's order: others decay, others no-decay, encoder decay, encoder no-decay
        {"names": ["head.weight"], "lr": hp["lr_others"], "weight_decay": hp["weight_decay_other"]},
        {"names": ["head.norm.weight"], "lr": hp["lr_others"], "weight_decay": 0.0},
        {"names": ["token_rep_layer.lin.weight"], "lr": hp["lr_encoder"], "weight_decay": hp["weight_decay_encoder"]},
        {"names": ["token_rep_layer.lin.bias"], "lr": hp["lr_encoder"], "weight_decay": 0.0},
    ]
    inputs = {k: f32list(p) for k, p in params.items()}
    opt = torch.optim.AdamW([{"params": [params[n] for n in gr["names"]], "lr": gr["lr"],
                              "weight_decay": gr["weight_decay"]} for gr in groups],
                            betas=(0.9, 0.999), eps=1e-8, foreach=False, fused=False)
    sch = get_scheduler("linear", opt, num_warmup_steps=1, num_training_steps=4)
    steps = []
    for s in range(3):
        for k, p in params.items():
            p.grad = grads[s][k].clone()
        lrs = [pg["lr"] for pg in opt.param_groups]
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm=1.0)
        clipped = {k: f32list(p.grad) for k, p in params.items()}
        opt.step()
        sch.step()
        steps.append({
            "grads": {k: f32list(v) for k, v in grads[s].items()},
            "lrs": lrs,
            "norm": float(norm),
            "clipped_grads": clipped,
            "params": {k: f32list(p) for k, p in params.items()},
            "exp_avg": {k: f32list(opt.state[p]["exp_avg"]) for k, p in params.items()},
            "exp_avg_sq": {k: f32list(opt.state[p]["exp_avg_sq"]) for k, p in params.items()},
        })
    # the first step runs at lr multiplier 0 (warm-up): only m and v change
    return {"shapes": {k: list(s) for k, s in shapes.items()}, "order": list(shapes), "hparams": hp, "groups": groups,
            "betas": [0.9, 0.999], "eps": 1e-8, "max_grad_norm": 1.0,
            "schedule": {"type": "linear", "warmup_steps": 1, "num_training_steps": 4},
            "initial": inputs, "steps": steps}


def decay():
    from gliner import GLiNER
    out = {}
    for d in sorted((ROOT / "tests" / "fixtures" / "models").iterdir()):
        if not (d / "gliner_config.json").exists():
            continue
        try:
            m = GLiNER.from_pretrained(str(d), local_files_only=True)
        except Exception as e:  # noqa: BLE001 -- a fixture the installed package cannot load is left out
            print(f"skip {d.name}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        dec = get_parameter_names(m, ALL_LAYERNORM_LAYERS)
        dec = set(n for n in dec if "bias" not in n)
        names = [n for n, _ in m.named_parameters()]
        strip = lambda n: n[len("model."):] if n.startswith("model.") else n  # noqa: E731
        out[d.name] = {"num_parameters_named": len(names),
                       "no_decay": [strip(n) for n in names if n not in dec]}
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, fn in [("schedules", schedules), ("adamw", adamw), ("decay", decay)]:
        with open(OUT / f"{name}.json", "w") as f:
            json.dump(fn(), f, indent=None if name == "decay" else 1)
            f.write("\n")
        print("wrote", OUT / f"{name}.json")


if __name__ == "__main__":
    main()
