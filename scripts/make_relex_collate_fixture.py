#!/usr/bin/env python
"""Reference-side fixture for gliner.c's relex training targets (host/train/labels_relex.c; spec §7.7).

The REAL reference processor (RelationExtractionSpanProcessor / RelationExtractionTokenProcessor of gliner 0.2.27,
through each fixture model's own data collator) collates batches of real relation data with explicit entity and
relation types (no class sampling, no augmentation: collate_raw_batch's entity_types / relation_types path) and its
create_relation_labels builds adj_matrix / rel_matrix. Those draw random negative pairs (random.uniform ratio,
random.randint pairs): our RNG is not Python's, so the fixture keeps what does not depend on the draw, per record:

    n_b          the entity count the targets use (span models: candidate spans with a positive label; token
                 models: the gold spans)
    positives    [[h, t, [class ids...]], ...]: the pairs whose rel_matrix row has a 1, with their classes
    reversed     the reversed positives that are not positives (always negatives)
    n_pairs      every pair the adjacency holds (positives + negatives); single step: n_b (n_b - 1)
    span_idx     token models: the gold spans the forward takes
and per batch the shapes (N = adj side, P, R). tests/golden/test_relex_targets.c rebuilds the targets with our
collator and checks all of it, and that the random negatives are as many as the reference's rule allows.

Data: the first 96 records of CoNLL04 train (converted by scripts/convert_spert.py, verbose names) and 96 of ADE
train, words cut to 40 (entities ending past the cut dropped, relations touching them dropped), batches of 8 with
types = the sorted union of the batch's gold types plus two types absent from it (so some records' types are not all
theirs and a relation type can be missing: one batch drops the batch's last relation type from its list).

Run: /work/venv/bin/python scripts/make_relex_collate_fixture.py  (offline; writes tests/fixtures/relex_collate.json)
"""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import json
import random
import subprocess
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "re"
MODELS = ["uni_span_relex_mlp", "uni_span_relex_none", "uni_token_relex_attn", "uni_token_relex_none_DistMult"]
MAX_WORDS, PER_SET, BATCH = 40, 96, 8


def cut(rec):
    words = rec["tokenized_text"][:MAX_WORDS]
    keep, ner = {}, []
    for i, (s, e, lab) in enumerate(rec["ner"]):
        if e < len(words):
            keep[i] = len(ner)
            ner.append([s, e, lab])
    rels = [[keep[h], keep[t], lab] for h, t, lab in rec.get("relations", []) if h in keep and t in keep]
    return {"tokenized_text": words, "ner": ner, "relations": rels}


def load():
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "conll04.json"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "convert_spert.py"),
                        str(DATA / "conll04" / "conll04_train.json"), str(out)], check=True)
        conll = json.load(open(out))
    ade = json.load(open(DATA / "ade" / "train.json"))
    return [cut(r) for r in conll[:PER_SET]] + [cut(r) for r in ade[:PER_SET]]


def main():
    import torch
    from gliner import GLiNER

    records = load()
    batches = []
    for k in range(0, len(records), BATCH):
        b = records[k:k + BATCH]
        ents = sorted({e[2] for r in b for e in r["ner"]}) + ["Zeppelin", "weekday"]
        rels = sorted({x[2] for r in b for x in r["relations"]}) + ["sister of"]
        if (k // BATCH) % 5 == 3 and len(rels) > 2:
            rels = rels[:-2] + rels[-1:]  # the batch's last gold relation type is not asked for
        batches.append({"records": b, "entity_types": ents, "relation_types": rels})
    out = {"versions": {"gliner": __import__("gliner").__version__, "torch": torch.__version__},
           "batches": batches, "models": {}}
    for name in MODELS:
        m = GLiNER.from_pretrained(str(ROOT / "tests" / "fixtures" / "models" / name))
        collator = m._create_data_collator()
        cfg = m.config
        token = "token" in type(m.model).__name__.lower()
        per_batch = []
        for bi, bt in enumerate(batches):
            random.seed(1000 + bi)
            B = len(bt["records"])
            x = collator(bt["records"], entity_types=[bt["entity_types"]] * B, relation_types=[bt["relation_types"]] * B)
            adj, rel = x.get("adj_matrix"), x["rel_matrix"]
            recs = []
            for i in range(B):
                r = {}
                if adj is not None:
                    a = adj[i]
                    pairs = [(h, t) for h in range(a.shape[0]) for t in range(a.shape[1]) if a[h, t] > 0.5]
                    rows = [p for p in range(len(pairs))]
                else:
                    pairs = None
                pos, rmat = [], rel[i]
                if pairs is not None:
                    for p, (h, t) in enumerate(pairs):
                        cls = [c + 1 for c in range(rmat.shape[1]) if rmat[p, c] > 0.5]
                        if cls:
                            pos.append([h, t, cls])
                    pset = {(h, t) for h, t, _ in pos}
                    r["reversed"] = sorted([t, h] for h, t in pset if (t, h) not in pset)
                    r["n_pairs"] = len(pairs)
                else:
                    for p in range(rmat.shape[0]):
                        cls = [c + 1 for c in range(rmat.shape[1]) if rmat[p, c] > 0.5]
                        if cls:
                            pos.append([p, -1, cls])  # single step: the pair's row (h, t follow from n_b)
                r["positives"] = pos
                recs.append(r)
            if token:
                sm = x["span_mask"]
                si = x["span_idx"]
                for i in range(B):
                    n = int(sm[i].sum())
                    recs[i]["n_b"] = n
                    recs[i]["span_idx"] = si[i, :n].tolist()
            else:
                nb = (x["span_label"] > 0).sum(-1).tolist() if "span_label" in x else None
                if nb is None:  # the collated batch keeps only model inputs: count the rows of labels
                    nb = (x["labels"].amax(-1) == 1).sum(-1).tolist()
                for i in range(B):
                    recs[i]["n_b"] = int(nb[i])
            per_batch.append({"N": None if adj is None else int(adj.shape[1]), "P": int(rel.shape[1]),
                              "R": int(rel.shape[2]), "records": recs})
        out["models"][name] = {"single_step": cfg.relations_layer == "none", "token": token,
                               "max_width": cfg.max_width, "max_len": cfg.max_len, "batches": per_batch}
    dst = ROOT / "tests" / "fixtures" / "relex_collate.json"
    dst.write_text(json.dumps(out, separators=(",", ":")))
    print(f"wrote {dst} ({dst.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
