#!/usr/bin/env python
"""A fixture checkpoint in the layout of the published GLiNER models (tests/fixtures/published/).

urchade/gliner_small-v2.1 and its siblings ship only a legacy gliner_config.json (no class_token_index, no
vocab_size, no encoder_config, training keys of the 2024 trainer) and a pytorch_model.bin; the reference takes the
tokenizer and the encoder's config from the backbone named by model_name (microsoft/deberta-v3-small: spm.model,
a two-key tokenizer_config.json, config.json; no tokenizer.json), adds [FLERT] <<ENT>> <<SEP>> and resizes.

This script re-lays out the reference-written tiny model tests/fixtures/models/uni_span_deberta_markerV0 that way:

    published/backbone/          the backbone "acme-backbones/tiny-deberta-v3": spm.model (the tiny SentencePiece
                                 model of tiny_tokenizers/deberta_v3_spm), config.json, and
                                 tokenizer_config.json = {"do_lower_case": false, "vocab_type": "spm"} as
                                 microsoft/deberta-v3-small has it
    published/gliner_legacy/     gliner_config.json (legacy keys only, model_name "acme-backbones/tiny-deberta-v3"),
                                 pytorch_model.bin (torch.save of the state dict, zip format)
    published/expected.json      what the reference predicts after GLiNER.from_pretrained(gliner_legacy) with the
                                 backbone in a Hugging Face cache (HF_HUB_CACHE, offline): entities per text, the
                                 tokenizer length, class_token_index and vocab_size it derived

and the bi-encoder tests/fixtures/models/bi_span_bert the same way (its backbones' configs were in its
gliner_config.json; here they are the backbones' config.json, and the tokenizer is a vocab.txt, as on the Hub):

    published/backbone_bert_text/, backbone_bert_labels/   "acme-backbones/tiny-bert-text", ".../tiny-bert-labels":
                                 vocab.txt, tokenizer_config.json (do_lower_case, model_max_length), config.json
    published/bi_legacy/         gliner_config.json without encoder_config / labels_encoder_config, pytorch_model.bin
    published/expected_bi.json   the reference's entities

Run (repository root):  /work/venv/bin/python scripts/make_published_fixtures.py
Versions: scripts/requirements.txt (gliner 0.2.27, torch 2.15.0, transformers 5.1.0, tokenizers 0.22.2).
"""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC_MODEL = ROOT / "tests/fixtures/models/uni_span_deberta_markerV0"
SRC_TOK = ROOT / "tests/fixtures/tiny_tokenizers/deberta_v3_spm"
OUT = ROOT / "tests/fixtures/published"
BACKBONE_ID = "acme-backbones/tiny-deberta-v3"
REVISION = "0123456789abcdef0123456789abcdef01234567"

TEXTS = [
    "Paris",
    "Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!",
    "Zürich and 東京 were visited by Ana Müller on 3 May 2001.",
    "EU rejects German call to boycott British lamb , said Peter Blackburn , born 12 June 1961 in Brussels .",
]
LABELS = ["person", "location", "date of birth"]
THRESHOLD = 0.5

# gliner_small-v2.1's gliner_config.json, key for key (values of the tiny model where they shape it)
LEGACY_KEYS = [
    ("model_name", BACKBONE_ID), ("name", "correct"), ("max_width", None), ("hidden_size", None),
    ("dropout", 0.4), ("fine_tune", True), ("subtoken_pooling", "first"), ("span_mode", "markerV0"),
    ("num_steps", 30000), ("train_batch_size", 8), ("eval_every", 5000), ("warmup_ratio", 0.1),
    ("scheduler_type", "linear"), ("loss_alpha", -1), ("loss_gamma", 0), ("label_smoothing", 0),
    ("loss_reduction", "sum"), ("lr_encoder", "1e-5"), ("lr_others", "5e-5"), ("weight_decay_encoder", 0.01),
    ("weight_decay_other", 0.01), ("root_dir", "gliner_logs"), ("train_data", "data.json"),
    ("val_data_dir", "none"), ("prev_path", "none"), ("save_total_limit", 10), ("size_sup", -1),
    ("max_types", 25), ("shuffle_types", True), ("random_drop", True), ("max_neg_type_ratio", 1),
    ("max_len", None), ("freeze_token_rep", False), ("log_dir", "logs"),
]


def hf_cache(cache: Path, repo: str, files: Path):
    """huggingface_hub's cache layout: models--owner--name/{refs/main, snapshots/<rev>/<files>}."""
    d = cache / ("models--" + repo.replace("/", "--"))
    (d / "refs").mkdir(parents=True, exist_ok=True)
    (d / "refs/main").write_text(REVISION)
    snap = d / "snapshots" / REVISION
    snap.mkdir(parents=True, exist_ok=True)
    for f in files.iterdir():
        shutil.copy(f, snap / f.name)


BI_MODEL = ROOT / "tests/fixtures/models/bi_span_bert"
BERT_TOK = ROOT / "tests/fixtures/tiny_tokenizers/bert_wordpiece_uncased"
BI_TEXT_ID = "acme-backbones/tiny-bert-text"
BI_LABELS_ID = "acme-backbones/tiny-bert-labels"


def bert_backbone(d: Path, enc_cfg: dict):
    d.mkdir(parents=True)
    shutil.copy(BERT_TOK / "vocab.txt", d / "vocab.txt")
    cfg = {k: v for k, v in enc_cfg.items() if k not in ("_name_or_path", "transformers_version", "id2label",
                                                           "label2id", "architectures", "dtype", "problem_type")}
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 128}) + "\n")


def make_bi(cache: Path, versions: dict):
    import torch
    from safetensors.torch import load_file
    from gliner import GLiNER

    src = json.loads((BI_MODEL / "gliner_config.json").read_text())
    bt, bl, ck = OUT / "backbone_bert_text", OUT / "backbone_bert_labels", OUT / "bi_legacy"
    bert_backbone(bt, src["encoder_config"])
    bert_backbone(bl, src["labels_encoder_config"])
    ck.mkdir(parents=True)
    cfg = {k: v for k, v in src.items() if k not in ("encoder_config", "labels_encoder_config", "transformers_version",
                                                      "model_type", "class_token_index", "vocab_size")}
    cfg["model_name"], cfg["labels_encoder"] = BI_TEXT_ID, BI_LABELS_ID
    (ck / "gliner_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    sd = load_file(str(BI_MODEL / "model.safetensors"))
    torch.save(sd, ck / "pytorch_model.bin")
    hf_cache(cache, BI_TEXT_ID, bt)
    hf_cache(cache, BI_LABELS_ID, bl)
    model = GLiNER.from_pretrained(str(ck))
    msd = model.model.state_dict()
    for k, v in sd.items():
        assert torch.equal(msd[k], v), k
    tok = model.data_processor.transformer_tokenizer
    ents = model.inference(TEXTS, LABELS, threshold=THRESHOLD)
    out = {"generator": "scripts/make_published_fixtures.py", "versions": versions, "revision": REVISION,
           "backbone_ids": [BI_TEXT_ID, BI_LABELS_ID], "len_tokenizer": len(tok),
           "len_labels_tokenizer": len(model.data_processor.labels_tokenizer),
           "class_token_index": model.config.class_token_index, "vocab_size": model.config.vocab_size,
           "threshold": THRESHOLD, "labels": LABELS, "texts": TEXTS, "entities": entities(ents)}
    (OUT / "expected_bi.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("bi:", json.dumps({k: out[k] for k in ("len_tokenizer", "len_labels_tokenizer", "class_token_index",
                                                  "vocab_size")}), sum(len(e) for e in out["entities"]), "entities")


def entities(ents):
    return [[{"start": e["start"], "end": e["end"], "text": e["text"], "label": e["label"], "score": e["score"]}
             for e in es] for es in ents]


def main():
    import torch
    from safetensors.torch import load_file

    src_cfg = json.loads((SRC_MODEL / "gliner_config.json").read_text())
    if OUT.exists():
        shutil.rmtree(OUT)
    bb = OUT / "backbone"
    ck = OUT / "gliner_legacy"
    bb.mkdir(parents=True)
    ck.mkdir(parents=True)

    shutil.copy(SRC_TOK / "spm.model", bb / "spm.model")
    bb_cfg = json.loads((SRC_TOK / "config.json").read_text())
    bb_cfg.pop("transformers_version", None)
    bb_cfg["vocab_size"] = 601  # the backbone's own table: spm pieces + [MASK]; GLiNER's tokens come on top
    (bb / "config.json").write_text(json.dumps(bb_cfg, indent=2) + "\n")
    (bb / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}) + "\n")

    cfg = {}
    for k, v in LEGACY_KEYS:
        cfg[k] = src_cfg[k] if v is None else v
    cfg["dropout"] = src_cfg["dropout"]
    (ck / "gliner_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    sd = load_file(str(SRC_MODEL / "model.safetensors"))
    torch.save(sd, ck / "pytorch_model.bin")

    # the reference, loading the published layout with the backbone in an offline HF cache
    cache = Path(tempfile.mkdtemp())
    hf_cache(cache, BACKBONE_ID, bb)
    os.environ["HF_HUB_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from gliner import GLiNER
    import gliner, transformers, tokenizers

    model = GLiNER.from_pretrained(str(ck))
    tok = model.data_processor.transformer_tokenizer
    emb = model.model.token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight
    # the re-laid-out model must be the same model: every tensor loaded as saved
    msd = model.model.state_dict()
    for k, v in sd.items():
        assert torch.equal(msd[k], v), k
    ents = model.inference(TEXTS, LABELS, threshold=THRESHOLD)
    out = {
        "generator": "scripts/make_published_fixtures.py",
        "versions": {"gliner": gliner.__version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
        "backbone_id": BACKBONE_ID, "revision": REVISION,
        "len_tokenizer": len(tok), "class_token_index": model.config.class_token_index,
        "vocab_size": model.config.vocab_size, "embedding_rows": int(emb.shape[0]),
        "gliner_token_ids": tok.convert_tokens_to_ids(["[FLERT]", "<<ENT>>", "<<SEP>>"]),
        "threshold": THRESHOLD, "labels": LABELS, "texts": TEXTS,
        "input_ids": [tok([w for w, _, _ in model.data_processor.words_splitter(t)], is_split_into_words=True).input_ids
                      for t in TEXTS],
        "entities": entities(ents),
    }
    (OUT / "expected.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    make_bi(cache, out["versions"])
    shutil.rmtree(cache)
    print(json.dumps({k: out[k] for k in ("len_tokenizer", "class_token_index", "vocab_size", "embedding_rows",
                                           "gliner_token_ids")}))
    print(sum(len(e) for e in out["entities"]), "entities")


if __name__ == "__main__":
    sys.exit(main())
