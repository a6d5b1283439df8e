#!/usr/bin/env python3
"""make_eval_fixtures.py -- fixtures for host/train/eval.c, written by the REFERENCE's own functions.

    /work/venv/bin/python scripts/make_eval_fixtures.py [--conll DIR] [--out tests/fixtures/eval]

Writes (compact JSON, UTF-8):
  prf_cases.json        {"versions", "cases": [{"gold": [[[s, e, label], ...] per example], "pred": [...],
                        "precision", "recall", "f1", "tp", "n_pred", "n_true", "out"}]}
                        Gold/prediction sets built with a seeded random.Random: duplicates, overlaps, nesting,
                        boundary shifts, label swaps (case differs too), empty predictions, empty gold, no examples,
                        gold entities whose word positions are None (null), predictions carrying a score (4th
                        element, ignored). Scored by gliner.evaluation.BaseNEREvaluator(all_true, all_outs):
                        evaluate() gives "out" and f1; compute_prf(*transform_data()) precision/recall/f_score;
                        extract_tp_actual_correct the counts.
  conll2003_test_head.json  the first 200 records of conll2003 test.json, verbatim (the reference's eval format)
  conll2003_test_head.expected.json  {"versions", "examples": create_dataset(...)'s test split for them,
                        "labels": its lower-cased labels.json}
  convert_tricky.json / convert_tricky.expected.json  the same for hand-made records: several spaces, leading and
                        trailing white space, tabs and Unicode white space, astral code points, unaligned and
                        reversed positions, float positions, upper-case and non-ASCII types (final sigma, U+0130),
                        duplicate keys, an empty sentence, two real conll2003 records whose entities end inside a
                        word; plus "lower": [[s, s.lower()], ...].
The conversion goes through gliner.evaluation.evaluate_ner.create_dataset on a temporary directory (train.json,
dev.json, test.json, labels.json) exactly as get_for_one_path calls it.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import warnings

import numpy as np

import gliner
from gliner.evaluation.evaluate_ner import create_dataset
from gliner.evaluation.evaluator import BaseNEREvaluator
from gliner.evaluation.utils import extract_tp_actual_correct, flatten_for_eval


def versions():
    return {"gliner": gliner.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


# ---------------------------------------------------------------- (a) P/R/F1 cases

LABELS = ["per", "loc", "org", "Per", "date", "é", "a b"]


def rand_span(rng, n_words):
    s = rng.randrange(n_words)
    e = min(n_words - 1, s + rng.choice([0, 0, 1, 2, 3]))
    return [s, e, rng.choice(LABELS)]


def make_example(rng, mode):
    n_words = rng.randint(1, 12)
    n_gold = rng.choice([0, 1, 1, 2, 3, 4, 6])
    gold = [rand_span(rng, n_words) for _ in range(n_gold)]
    if mode == "nested" and gold:  # a span inside another one, same or other label
        s, e, lab = gold[0]
        gold.append([s, s, rng.choice([lab, rng.choice(LABELS)])])
    if rng.random() < 0.1 and gold:  # the reference's None positions (unaligned conversion)
        g = rng.choice(gold)
        g[rng.choice([0, 1])] = None
        if rng.random() < 0.5:
            g[0] = g[1] = None
    if rng.random() < 0.15 and gold:
        gold.append(list(rng.choice(gold)))  # duplicate gold
    pred = []
    if mode == "empty_pred":
        return gold, pred
    for g in gold:
        r = rng.random()
        if r < 0.5:
            pred.append(list(g))  # hit (or a None copy: None == None)
        elif r < 0.65 and g[0] is not None and g[1] is not None:  # boundary shift
            s, e = g[0], g[1]
            if rng.random() < 0.5:
                s = max(0, s - 1)
            else:
                e = min(n_words - 1, e + 1)
            pred.append([s, e, g[2]])
        elif r < 0.8:
            pred.append([g[0], g[1], rng.choice(LABELS)])  # label swap (may be the same, or differ by case)
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        pred.append(rand_span(rng, n_words))  # spurious
    if rng.random() < 0.2 and pred:
        pred.append(list(rng.choice(pred)))  # duplicate prediction
    # None only ever comes from gold conversion; predictions are word indices
    pred = [p for p in pred if p[0] is not None and p[1] is not None]
    if mode == "overlap" and pred:
        s, e, lab = pred[0]
        pred.append([s, min(n_words - 1, e + 1), lab])
    if mode == "empty_gold":
        gold = []
    rng.shuffle(pred)
    if rng.random() < 0.3:
        pred = [p + [round(rng.random(), 2)] for p in pred]  # (start, end, label, score) tuples
    return gold, pred


def prf_cases(n_cases, seed):
    rng = random.Random(seed)
    modes = ["random", "random", "nested", "overlap", "empty_pred", "empty_gold"]
    cases = []
    for k in range(n_cases):
        mode = modes[k % len(modes)]
        n_ex = 0 if k % 50 == 7 else rng.choice([1, 1, 2, 3, 4, 6])
        exs = [make_example(rng, mode) for _ in range(n_ex)]
        if k % 50 == 13:
            exs = [([], []) for _ in range(rng.randint(1, 3))]  # nothing anywhere
        if k % 50 == 21:
            exs = [(g, [list(x) for x in g if x[0] is not None and x[1] is not None]) for g, _ in exs]  # perfect
        gold = [[tuple(x) for x in g] for g, _ in exs]
        pred = [[tuple(x) for x in p] for _, p in exs]
        ev = BaseNEREvaluator(gold, pred)
        out, f1 = ev.evaluate()
        t, p = ev.transform_data()
        prf = ev.compute_prf(t, p)
        ft, fp = flatten_for_eval(t, p)
        pred_sum, tp_sum, true_sum, _ = extract_tp_actual_correct(ft, fp)
        assert float(f1) == float(prf["f_score"])
        cases.append({
            "gold": [g for g, _ in exs], "pred": [p for _, p in exs],
            "precision": float(prf["precision"]), "recall": float(prf["recall"]), "f1": float(prf["f_score"]),
            "tp": int(np.sum(tp_sum)), "n_pred": int(np.sum(pred_sum)), "n_true": int(np.sum(true_sum)),
            "out": out,
        })
    return cases


# ---------------------------------------------------------------- (b) conversion

def convert_with_reference(records, labels):
    """create_dataset on a temporary directory, as get_for_one_path does; returns (test_dataset, labels)"""
    with tempfile.TemporaryDirectory() as d:
        for name, obj in (("train.json", []), ("dev.json", []), ("test.json", records), ("labels.json", labels)):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False)
        _, _, test, labs = create_dataset(d)
    return test, labs


def ner_json(ex):
    return {"tokenized_text": ex["tokenized_text"], "ner": [list(t) for t in ex["ner"]]}


TRICKY_LABELS = ["PERSON", "Location", "ΟΔΟΣ", "ΣΑ Σ", "İstanbul", "Straße", "ǅemal", "Ω KELVIN K Å", "ᏰᏱ", "ΑΣ'Β",
                 "ª\u03a3", "x\u0345\u03a3", ""]


def tricky_records(conll):
    T = []
    T.append({"sentence": "John  Smith lives in Berlin .",  # two spaces: positions after them shift
              "entities": [{"name": "John", "type": "PER", "pos": [0, 4]},
                           {"name": "Smith", "type": "PER", "pos": [6, 11]},
                           {"name": "Berlin", "type": "LOC", "pos": [21, 27]},
                           {"name": "Berlin", "type": "LOC", "pos": [20, 26]}]})
    T.append({"sentence": "  leading space and trailing  ",
              "entities": [{"name": "leading", "type": "x", "pos": [2, 9]}, {"name": "leading", "type": "x", "pos": [0, 7]}]})
    T.append({"sentence": "tab\there\u00a0nbsp\u3000ideo\u2028line\u0085nel\x1cfs end",
              "entities": [{"name": "here", "type": "Misc", "pos": [4, 8]}, {"name": "nbsp", "type": "Misc", "pos": [9, 13]},
                           {"name": "end", "type": "Misc", "pos": [35, 38]}]})
    T.append({"sentence": "\U0001F600 smile 😀😀 twice and é accents",  # astral code points count as one
              "entities": [{"name": "smile", "type": "EMOJI", "pos": [2, 7]}, {"name": "😀😀", "type": "EMOJI", "pos": [8, 10]},
                           {"name": "é", "type": "É", "pos": [21, 22]}, {"name": "twice and", "type": "Span", "pos": [11, 20]}]})
    T.append({"sentence": "Alpha Beta Gamma Delta",
              "entities": [{"name": "rev", "type": "t", "pos": [11, 10]}, {"name": "mid", "type": "t", "pos": [2, 10]},
                           {"name": "beyond", "type": "t", "pos": [17, 99]}, {"name": "float", "type": "t", "pos": [6.0, 10.0]},
                           {"name": "all", "type": "t", "pos": [0, 22]}, {"name": "empty", "type": "t", "pos": [6, 6]},
                           {"name": "dup", "type": "t", "pos": [6, 10]}, {"name": "dup", "type": "T", "pos": [6, 10]}]})
    T.append({"sentence": "", "entities": [{"name": "", "type": "none", "pos": [0, 0]}]})
    T.append({"sentence": "no entities here", "entities": []})
    T.append({"sentence": "Types ΟΔΟΣ and İ", "entities": [
        {"name": "ΟΔΟΣ", "type": "ΟΔΟΣ", "pos": [6, 10]}, {"name": "İ", "type": "İSTANBUL", "pos": [15, 16]},
        {"name": "x", "type": "ΣΑ Σ", "pos": [0, 5]}, {"name": "x", "type": "ΑΣ'Β", "pos": [0, 5]}]})
    # duplicate keys: Python's json keeps the last one (written by hand below, json.dump cannot)
    T.append({"sentence": "one two", "entities": [{"name": "two", "type": "b", "pos": [4, 7], "extra": 1}], "id": 9})
    T.append(conll[300])   # "Australia" ends inside "Australian": end None
    T.append(conll[1231])  # "African" starts inside "Franco-African": start None
    return T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conll", default="/work/shared/data/gliner_eval/conll2003")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "eval"))
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--head", type=int, default=200)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    os.makedirs(args.out, exist_ok=True)

    dump(os.path.join(args.out, "prf_cases.json"), {"versions": versions(), "seed": 20240611,
                                                     "cases": prf_cases(args.cases, 20240611)})

    with open(os.path.join(args.conll, "test.json"), encoding="utf-8") as f:
        conll = json.load(f)
    with open(os.path.join(args.conll, "labels.json"), encoding="utf-8") as f:
        conll_labels = json.load(f)
    head = conll[: args.head]
    dump(os.path.join(args.out, "conll2003_test_head.json"), head)
    test, labs = convert_with_reference(head, conll_labels)
    dump(os.path.join(args.out, "conll2003_test_head.expected.json"),
         {"versions": versions(), "source": "conll2003/test.json[:%d]" % args.head,
          "examples": [ner_json(e) for e in test], "labels_raw": conll_labels, "labels": labs})

    tricky = tricky_records(conll)
    text = json.dumps(tricky, ensure_ascii=False, separators=(",", ":"))
    # one record with duplicate keys: the last "sentence"/"type"/"pos" must win
    text = text.replace('{"sentence":"one two","entities":[{"name":"two","type":"b","pos":[4,7]',
                        '{"sentence":"zero","sentence":"one two","entities":[{"name":"two","type":"a","type":"b","pos":[0,3],"pos":[4,7]', 1)
    assert '"sentence":"zero"' in text
    with open(os.path.join(args.out, "convert_tricky.json"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "convert_tricky.json"), encoding="utf-8") as f:
        tricky_loaded = json.load(f)
    test, labs = convert_with_reference(tricky_loaded, TRICKY_LABELS)
    dump(os.path.join(args.out, "convert_tricky.expected.json"),
         {"versions": versions(), "examples": [ner_json(e) for e in test], "labels_raw": TRICKY_LABELS, "labels": labs,
          "lower": [[s, s.lower()] for s in TRICKY_LABELS + ["ΣΣ", "Σ", "aΣ.", "aΣ.b", "AΣ\u0301", "A\u00adΣ", "ẞ ΐ ǈ ᾈ"]]})
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print("wrote %s (%d bytes)" % (os.path.abspath(args.out), total))


if __name__ == "__main__":
    main()
