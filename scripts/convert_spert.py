#!/usr/bin/env python3
"""Convert a SpERT-format relation data set (CoNLL04) to the reference's relex training JSON.

Input (SpERT, e.g. /work/shared/data/re/conll04/conll04_train.json): a JSON list of
    {"tokens": [word, ...],
     "entities": [{"type": T, "start": s, "end": e_exclusive}, ...],
     "relations": [{"type": R, "head": i, "tail": j}, ...],      # i, j index "entities"
     "orig_id": ...}                                             # dropped
and its types file (conll04_types.json):
    {"entities": {T: {"short": ..., "verbose": ...}}, "relations": {R: {"short": ..., "verbose": ..., "symmetric": b}}}
Output (the reference's relex format, spec section 11.2; the layout of /work/shared/data/re/ade exactly): a JSON list of
    {"tokenized_text": [word, ...],
     "ner": [[start, end_inclusive, label], ...],                # end = SpERT end - 1
     "relations": [[head_idx, tail_idx, label], ...]}            # indices into "ner", same order as SpERT's entities
written as json.dumps writes it (ASCII-escaped, ", " and ": " separators, no trailing newline), as ade's files are.
The reference reads relations as (head_idx, tail_idx, rel_type) into "ner" as given, sorting both itself
(gliner/data_processing/processor.py: sort_entities_and_relations), so the SpERT order is kept.

Labels (--names): "verbose" (default) writes the types file's natural-language names -- entities Location,
Organization, People, Other; relations "Work for", "Kill", "Organization based in", "Live in", "Located in" --
because GLiNER prompts the encoder with the label text itself: ade's labels are plain words ("Drug",
"Adverse Effect", "causes") and the published relex models are prompted with phrases ("works at", "located in"),
never with codes such as "OrgBased_In" or "OrgBI". "short" writes the short codes, "key" the SpERT type keys.
--lower lower-cases the labels (the reference's NER evaluator lower-cases its labels; ade keeps case).

Untrusted input: a malformed record (a missing or mistyped key, an entity with end <= start or past the tokens,
a relation whose head or tail is past the entity list or is the same entity, an unknown type) is one line on
stderr naming the file and record index, and exit 1 with nothing written; with --skip-bad such a record is
skipped, reported and counted instead. The output is written to a temporary file in its own directory, fsynced
and renamed over OUT, so OUT is either the previous file or the whole new one. Stdlib only.

Usage:
    python3 scripts/convert_spert.py IN.json OUT.json [--types TYPES.json] [--names verbose|short|key]
                                     [--lower] [--skip-bad]
--types defaults to the one *_types.json beside IN. CoNLL04 train: 922 records, 3377 entities, 1283 relations.
(SciERC in /work/shared/data/re/scierc is DyGIE document format, not SpERT: this script does not read it.)
"""

import argparse
import glob
import json
import os
import sys
import tempfile

PROG = "convert_spert.py"


class Bad(Exception):
    """A malformed input: the message is the whole one-line error after the file name."""


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise Bad(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")
    except UnicodeDecodeError as e:
        raise Bad(f"not UTF-8 text: byte {e.start}")
    except RecursionError:
        raise Bad("JSON nested too deeply")


def load_types(path, names, lower):
    """{kind: {spert_type: label}} for kind in ("entities", "relations")."""
    t = load_json(path)
    if not isinstance(t, dict):
        raise Bad("types file is not a JSON object")
    out = {}
    for kind in ("entities", "relations"):
        m = t.get(kind)
        if not isinstance(m, dict):
            raise Bad(f'types file has no "{kind}" object')
        out[kind] = {}
        for key, v in m.items():
            if names == "key":
                label = key
            else:
                label = v.get(names) if isinstance(v, dict) else None
                if not isinstance(label, str) or not label.strip():
                    raise Bad(f'{kind} type "{key}" has no "{names}" name')
            out[kind][key] = label.lower() if lower else label
    return out


def convert_record(r, types):
    """One SpERT record -> one relex record; raises Bad naming what is wrong."""
    if not isinstance(r, dict):
        raise Bad("not a JSON object")
    for k in ("tokens", "entities", "relations"):
        if k not in r:
            raise Bad(f'missing key "{k}"')
        if not isinstance(r[k], list):
            raise Bad(f'"{k}" is not a list')
    tokens = r["tokens"]
    if not tokens:
        raise Bad("no tokens")
    for i, w in enumerate(tokens):
        if not isinstance(w, str):
            raise Bad(f"token {i} is not a string")
    ner = []
    for i, e in enumerate(r["entities"]):
        if not isinstance(e, dict):
            raise Bad(f"entity {i} is not a JSON object")
        for k in ("type", "start", "end"):
            if k not in e:
                raise Bad(f'entity {i}: missing key "{k}"')
        s, end, t = e["start"], e["end"], e["type"]
        if not is_int(s) or not is_int(end):
            raise Bad(f"entity {i}: start and end must be integers")
        if s < 0 or end > len(tokens):
            raise Bad(f"entity {i}: [{s}, {end}) is outside the {len(tokens)} tokens")
        if end <= s:
            raise Bad(f"entity {i}: end {end} <= start {s}")
        if not isinstance(t, str) or t not in types["entities"]:
            raise Bad(f"entity {i}: unknown type {json.dumps(t)}")
        ner.append([s, end - 1, types["entities"][t]])
    rels = []
    for i, x in enumerate(r["relations"]):
        if not isinstance(x, dict):
            raise Bad(f"relation {i} is not a JSON object")
        for k in ("type", "head", "tail"):
            if k not in x:
                raise Bad(f'relation {i}: missing key "{k}"')
        h, tl, t = x["head"], x["tail"], x["type"]
        if not is_int(h) or not is_int(tl):
            raise Bad(f"relation {i}: head and tail must be integers")
        for name, v in (("head", h), ("tail", tl)):
            if v < 0 or v >= len(ner):
                raise Bad(f"relation {i}: {name} {v} is past the {len(ner)} entities")
        if h == tl:
            raise Bad(f"relation {i}: head and tail are the same entity {h}")
        if not isinstance(t, str) or t not in types["relations"]:
            raise Bad(f"relation {i}: unknown type {json.dumps(t)}")
        rels.append([h, tl, types["relations"][t]])
    return {"tokenized_text": list(tokens), "ner": ner, "relations": rels}


def write_atomic(path, text):
    """Write text to a temporary beside path, fsync, rename over path; nothing is left on failure."""
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as e:
        raise OSError(e.errno, e.strerror, path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror, path)
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def default_types(inp):
    found = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(inp)), "*_types.json")))
    if len(found) != 1:
        raise Bad(f"{len(found)} *_types.json files beside the input; name one with --types")
    return found[0]


def run(args):
    where = args.input
    try:
        data = load_json(args.input)
        if not isinstance(data, list):
            raise Bad("not a JSON list of records")
        where = "--types"
        types_path = args.types or default_types(args.input)
        where = types_path
        types = load_types(types_path, args.names, args.lower)
    except Bad as e:
        print(f"{PROG}: {where}: {e}", file=sys.stderr)
        return 1
    out, skipped = [], 0
    for i, r in enumerate(data):
        try:
            out.append(convert_record(r, types))
        except Bad as e:
            if not args.skip_bad:
                print(f"{PROG}: {args.input}: record {i}: {e}", file=sys.stderr)
                return 1
            print(f"{PROG}: {args.input}: record {i}: {e} (skipped)", file=sys.stderr)
            skipped += 1
    write_atomic(args.output, json.dumps(out))
    n_ent = sum(len(x["ner"]) for x in out)
    n_rel = sum(len(x["relations"]) for x in out)
    print(
        f"{PROG}: {args.input}: {len(data)} records -> {len(out)} records, {n_ent} entities, "
        f"{n_rel} relations ({skipped} bad records skipped) -> {args.output}",
        file=sys.stderr,
    )
    return 0


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("input", help="SpERT JSON file (a list of records)")
    ap.add_argument("output", help="relex JSON file to write (replaced atomically)")
    ap.add_argument("--types", help="SpERT types file (default: the one *_types.json beside the input)")
    ap.add_argument("--names", choices=("verbose", "short", "key"), default="verbose",
                    help="which type names become labels (default verbose)")
    ap.add_argument("--lower", action="store_true", help="lower-case the labels")
    ap.add_argument("--skip-bad", action="store_true", help="skip and count malformed records instead of failing")
    args = ap.parse_args()
    try:
        return run(args)
    except OSError as e:
        name = e.filename or args.output
        print(f"{PROG}: {name}: {e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
