#!/usr/bin/env python
"""Convert the CoNLL-2003 eval-format split to the reference's NER training format.

Input (eval format, /work/shared/data/gliner_eval/conll2003/<split>.json): a list of
    {"sentence": str, "entities": [{"name": str, "type": str, "pos": [char_start, char_end]}]}
Output (training format, spec section 11.1; what train.py / GLiNER.train_model read): a list of
    {"tokenized_text": [word, ...], "ner": [[start_word, end_word_inclusive, label], ...]}

The conversion is the reference's own: gliner.evaluation.evaluate_ner.process() -- the function
create_dataset() / get_for_one_path() (eval.py) apply to every split -- which splits the sentence with
str.split(), maps character offsets to word indices assuming single spaces, and lower-cases the type.
Labels are therefore exactly the ones the evaluator prompts with (labels.json lower-cased):
"person", "organization", "location", "else". The CoNLL MISC class is already called "else" in this data
set (labels.json: ["location", "else", "organization", "person"]); it is kept as "else", as the evaluator
uses it. An entity whose character offsets do not fall on word boundaries gets start or end None from
process(); such entities are dropped and counted: 80 in CoNLL-2003 train, all annotation slips where the
span ends inside a word (e.g. "German" annotated inside "Germans"). Dropping them is what the reference span
models do implicitly (a (start, None) span matches no enumerated span, so it never becomes a label).

Usage (do not commit the output, ~3 MB):

    /work/venv/bin/python scripts/conll_to_train.py OUT.json \
        [--input /work/shared/data/gliner_eval/conll2003/train.json] [--drop-empty]

By default sentences without entities are kept (the reference's create_dataset keeps them too);
--drop-empty removes them.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

DEFAULT_INPUT = "/work/shared/data/gliner_eval/conll2003/train.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="output JSON path")
    ap.add_argument("--input", default=DEFAULT_INPUT)
    ap.add_argument("--drop-empty", action="store_true", help="drop sentences without entities")
    args = ap.parse_args()

    from gliner.evaluation.evaluate_ner import process  # the reference's char -> word conversion

    with open(args.input, encoding="utf-8") as f:
        data = json.load(f)
    out, dropped_ents, dropped_sents = [], 0, 0
    labels = {}
    for d in data:
        ex = process(d)
        ner = []
        for s, e, lab in ex["ner"]:
            if s is None or e is None:
                dropped_ents += 1
                continue
            ner.append([int(s), int(e), lab])
            labels[lab] = labels.get(lab, 0) + 1
        if not ner and args.drop_empty:
            dropped_sents += 1
            continue
        out.append({"tokenized_text": ex["tokenized_text"], "ner": ner})
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    print(
        f"{args.input}: {len(data)} sentences -> {len(out)} examples, "
        f"{sum(labels.values())} entities {dict(sorted(labels.items()))}; "
        f"dropped {dropped_ents} misaligned entities, {dropped_sents} empty sentences -> {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
