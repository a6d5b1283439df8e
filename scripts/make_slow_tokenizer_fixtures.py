#!/usr/bin/env python
"""Fixtures for tok_convert.c: small tokenizer directories that hold only the "slow" vocabulary files
(spm.model / sentencepiece.bpe.model, vocab.txt, vocab.json + merges.txt) and their configs, and what
transformers 4.x `AutoTokenizer.from_pretrained(dir)` makes of them. Writes, for each variant,

    tests/fixtures/slow_tokenizers/<variant>/source/...            the directory (large files .xz)
    tests/fixtures/slow_tokenizers/<variant>/tokenizer.json.xz     backend_tokenizer.to_str() after GLiNER's
                                                                   add_tokens(["[FLERT]","<<ENT>>","<<SEP>>"],
                                                                   special_tokens=True) (when "gliner")
    tests/fixtures/slow_tokenizers/<variant>/expected.jsonl.xz     ids for the first LINES lines of the
                                                                   tokenizer corpus (same fields as
                                                                   tests/fixtures/tokenizers/*/expected.jsonl)

The truth is transformers 4.x (the converter pipeline the published checkpoints' tokenizer.json came
from): run this script with the interpreter of a venv holding transformers 4.57.6 + tokenizers 0.22.2 +
sentencepiece + protobuf (no torch needed). With --compare PY (the /work/venv interpreter, transformers
5.1) it also reports, per variant, how many lines transformers 5.1's AutoTokenizer on the same directory
gets different (for tests/fixtures/slow_tokenizers/README.md).

Usage (repository root):
    python -m venv /tmp/venv4 && /tmp/venv4/bin/pip install transformers==4.57.6 tokenizers==0.22.2 sentencepiece protobuf
    /tmp/venv4/bin/python scripts/make_slow_tokenizer_fixtures.py [--compare /work/venv/bin/python]
Deterministic: a rerun gives byte-identical files.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import json
import lzma
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
OUT = FIX / "slow_tokenizers"
CORPUS = FIX / "tokenizers" / "corpus.txt"
TINY = FIX / "tiny_tokenizers"
LINES = 400
GLINER_TOKENS = ["[FLERT]", "<<ENT>>", "<<SEP>>"]
WORD_RE = re.compile(r"\w+(?:[-_]\w+)*|\S")


def tiny_bpe_files():
    """vocab.json + merges.txt of the tiny byte-level BPE fixture"""
    d = json.loads((TINY / "gpt2_bytelevel_bpe" / "tokenizer.json").read_text())
    vocab = json.dumps(d["model"]["vocab"], ensure_ascii=False, indent=2) + "\n"
    merges = "#version: 0.2\n" + "".join(" ".join(m) + "\n" for m in d["model"]["merges"])
    return {"vocab.json": vocab.encode(), "merges.txt": merges.encode()}


def spm_bytes():
    return (TINY / "deberta_v3_spm" / "spm.model").read_bytes()


def cfg(d):
    return (json.dumps(d, indent=2, ensure_ascii=False) + "\n").encode()


# variant -> (source files, add GLiNER's tokens)
def variants():
    spm = spm_bytes()
    bpe = tiny_bpe_files()
    bert_vocab = (TINY / "bert_wordpiece_uncased" / "vocab.txt").read_bytes()
    return {
        # XLM-R (and any XLMRobertaTokenizer backbone): fairseq id shift, <mask> last, its own normalizer
        "xlm_roberta": ({"sentencepiece.bpe.model": spm,
                         "tokenizer_config.json": cfg({"tokenizer_class": "XLMRobertaTokenizer"})}, True),
        # mDeBERTa-v3 / DeBERTa-v3 as microsoft/* ship them: no tokenizer_class, model_type in config.json
        "deberta_v2_model_type": ({"spm.model": spm,
                                   "tokenizer_config.json": cfg({"do_lower_case": False, "vocab_type": "spm"}),
                                   "config.json": cfg({"model_type": "deberta-v2"})}, True),
        # legacy layout: no added_tokens_decoder; special_tokens_map.json with dicts, added_tokens.json;
        # do_lower_case and split_by_punct switched on
        "deberta_v2_legacy_lower_punct": ({"spm.model": spm,
                                           "tokenizer_config.json": cfg({"tokenizer_class": "DebertaV2Tokenizer",
                                                                         "do_lower_case": True,
                                                                         "split_by_punct": True}),
                                           "special_tokens_map.json": cfg({
                                               "mask_token": {"content": "[MASK]", "lstrip": True,
                                                              "normalized": False, "rstrip": False,
                                                              "single_word": False},
                                               "unk_token": "[UNK]"}),
                                           "added_tokens.json": cfg({"[MASK]": 600, "<extra>": 601})}, True),
        # RoBERTa: BPE + RobertaProcessing, <s> </s> <unk> <pad> <mask> appended as added tokens
        "roberta": (dict(bpe, **{"tokenizer_config.json": cfg({"tokenizer_class": "RobertaTokenizer",
                                                                "add_prefix_space": True})}), True),
        # cased BERT without Chinese-character splitting, accents stripped
        "bert_cased": ({"vocab.txt": bert_vocab,
                        "tokenizer_config.json": cfg({"tokenizer_class": "BertTokenizerFast", "do_lower_case": False,
                                                      "tokenize_chinese_chars": False, "strip_accents": True})},
                       True),
    }


def expected_lines(tok, texts):
    out = []
    for i, text in enumerate(texts):
        ms = list(WORD_RE.finditer(text))
        words = [m.group() for m in ms]
        enc = tok.encode(text, add_special_tokens=True)
        wenc = tok.encode(words, is_pretokenized=True, add_special_tokens=True)
        rec = {"i": i, "text": text, "ids": enc.ids, "words": words, "spans": [[m.start(), m.end()] for m in ms],
               "word_ids": wenc.ids, "word_index": [-1 if w is None else w for w in wenc.word_ids]}
        out.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode("utf-8")


def write_xz(path, data):
    path.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))


def build(srcdir, gliner):
    from transformers import AutoTokenizer

    t = AutoTokenizer.from_pretrained(str(srcdir))
    if gliner:
        t.add_tokens(GLINER_TOKENS, special_tokens=True)
    return t


COMPARE_SNIPPET = r"""
import json, os, sys, warnings
warnings.filterwarnings("ignore")
os.environ["TRANSFORMERS_VERBOSITY"] = "error"
from transformers import AutoTokenizer
src, gliner, exp = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
t = AutoTokenizer.from_pretrained(src)
if gliner:
    t.add_tokens(["[FLERT]", "<<ENT>>", "<<SEP>>"], special_tokens=True)
full = split = 0
n = 0
for line in open(exp, encoding="utf-8"):
    r = json.loads(line)
    n += 1
    full += t(r["text"]).input_ids != r["ids"]
    split += t(r["words"], is_split_into_words=True).input_ids != r["word_ids"]
print(json.dumps({"lines": n, "full": full, "split": split}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", help="python of a transformers 5.x venv: report its differences")
    args = ap.parse_args()
    import tokenizers
    import transformers

    print(f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}", file=sys.stderr)
    texts = CORPUS.read_bytes().decode("utf-8").split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    texts = texts[:LINES]
    OUT.mkdir(parents=True, exist_ok=True)
    report = {}
    for name, (files, gliner) in variants().items():
        d = OUT / name
        shutil.rmtree(d, ignore_errors=True)
        (d / "source").mkdir(parents=True)
        with tempfile.TemporaryDirectory() as tmp:
            for f, data in files.items():
                (Path(tmp) / f).write_bytes(data)
                if len(data) > 64 * 1024:
                    write_xz(d / "source" / (f + ".xz"), data)
                else:
                    (d / "source" / f).write_bytes(data)
            tok = build(tmp, gliner)
            backend = tok.backend_tokenizer
            doc = json.loads(backend.to_str())
            write_xz(d / "tokenizer.json.xz", (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())
            exp = expected_lines(backend, texts)
            write_xz(d / "expected.jsonl.xz", exp)
            row = {"class": type(tok).__name__}
            if args.compare:
                ef = Path(tmp) / "expected.jsonl"
                ef.write_bytes(exp)
                r = subprocess.run([args.compare, "-c", COMPARE_SNIPPET, tmp, "1" if gliner else "0", str(ef)],
                                   capture_output=True, text=True)
                row["5.x"] = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else r.stderr[-300:]
            report[name] = row
            print(name, json.dumps(row), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
