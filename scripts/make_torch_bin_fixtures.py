#!/usr/bin/env python3
"""make_torch_bin_fixtures.py -- files written by torch.save for the native pytorch_model.bin reader
(host/io/torch_bin.c, tests/unit/test_torch_bin.c, tests/cli/test_torch_bin.sh).

    /work/venv/bin/python scripts/make_torch_bin_fixtures.py

writes
  tests/fixtures/torch_bin/
    all.bin              zip format (torch.save's default): every dtype the reader maps (f32 f16 bf16 f64,
                         int64 int32 int16 int8 uint8 bool), a Parameter, two names on one storage (tied
                         weights), a view at a storage offset, a transpose, a strided slice, a 0-d scalar,
                         an empty tensor, and a model-style OrderedDict with _metadata (BUILD)
    all_legacy.bin       the same dict, _use_new_zipfile_serialization=False
    expected.safetensors every tensor of all.bin as a contiguous copy, written by the safetensors package:
                         the C test compares the reader's output to it bit for bit
    hostile_os_system.bin   a torch zip whose data.pkl calls os.system("touch /tmp/gliner_torch_bin_pwned")
    hostile_eval.bin        ... builtins.eval through STACK_GLOBAL (protocol 4)
    hostile_torch_global.bin ... an unknown torch global (torch._utils._rebuild_qtensor)
    big_endian.bin       all.bin with byteorder "big"
    nested.bin           {"state_dict": {...}} (a training checkpoint, not a flat state dict)
  tests/fixtures/models_bin/uni_span_deberta_markerV0/
    the fixture model with model.safetensors replaced by pytorch_model.bin (torch.save of the same dict)
  tests/fixtures/backbones_bin/bert_tiny/
    the tiny BERT backbone, likewise (for `gliner init` on a backbone that ships only pytorch_model.bin)
"""
import io
import os
import pickle
import shutil
import sys
import zipfile
from collections import OrderedDict

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "torch_bin")


def state_dict():
    g = torch.Generator().manual_seed(12)
    base = torch.randn(4, 6, generator=g)
    sd = OrderedDict()
    sd["f32"] = torch.randn(3, 5, generator=g)
    sd["f16"] = torch.randn(2, 3, generator=g).half()
    sd["bf16"] = torch.randn(7, generator=g).bfloat16()
    sd["f64"] = torch.randn(2, 2, generator=g).double()
    sd["position_ids"] = torch.arange(9, dtype=torch.int64).unsqueeze(0)
    sd["i32"] = torch.tensor([-3, 0, 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 5], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127, 1], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True, True])
    sd["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    sd["tied_a"] = base                      # two names, one storage
    sd["tied_b"] = base
    sd["row2"] = base[2]                     # contiguous view at storage offset 12
    sd["transposed"] = base.t()              # non-contiguous: strides (1, 6)
    sd["strided"] = base[1:, ::2]            # offset 6, strides (6, 2)
    sd["scalar"] = torch.tensor(2.5)         # 0-d
    sd["empty"] = torch.zeros(0, 3)
    # what Module.state_dict() returns: an OrderedDict carrying _metadata (pickled with BUILD)
    sd._metadata = OrderedDict([("", {"version": 1})])
    return sd


def rezip(src, dst, replace):
    """copy a torch zip entry by entry (same names, stored uncompressed), replacing some entries' bytes"""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            base = info.filename.split("/", 1)[1]
            zout.writestr(info.filename, replace.get(base, data))


class Evil:
    """pickles as a call of an arbitrary global -- what the reader must refuse"""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    torch.save(sd, os.path.join(OUT, "all.bin"))
    torch.save(sd, os.path.join(OUT, "all_legacy.bin"), _use_new_zipfile_serialization=False)
    save_file({k: v.detach().contiguous().clone() for k, v in sd.items()}, os.path.join(OUT, "expected.safetensors"))

    # hostile pickles inside a proper torch zip (data.pkl replaced)
    small = os.path.join(OUT, "_small.bin")
    torch.save({"w": torch.ones(2)}, small)
    import builtins

    rezip(small, os.path.join(OUT, "hostile_os_system.bin"),
          {"data.pkl": pickle.dumps({"w": Evil(os.system, "touch /tmp/gliner_torch_bin_pwned")}, protocol=2)})
    rezip(small, os.path.join(OUT, "hostile_eval.bin"),
          {"data.pkl": pickle.dumps({"w": Evil(builtins.eval, "__import__('os').system('touch /tmp/gliner_torch_bin_pwned')")},
                                    protocol=4)})
    # an unknown torch global, by hand: GLOBAL 'torch._utils _rebuild_qtensor' EMPTY_TUPLE REDUCE inside a dict
    qt = b"\x80\x02}q\x00X\x01\x00\x00\x00wctorch._utils\n_rebuild_qtensor\n)Rs."
    rezip(small, os.path.join(OUT, "hostile_torch_global.bin"), {"data.pkl": qt})
    rezip(os.path.join(OUT, "all.bin"), os.path.join(OUT, "big_endian.bin"), {"byteorder": b"big"})
    os.remove(small)
    torch.save({"state_dict": {"w": torch.ones(2)}}, os.path.join(OUT, "nested.bin"))

    # the fixture model in the published layout's weights file: pytorch_model.bin instead of model.safetensors
    src = os.path.join(ROOT, "tests", "fixtures", "models", "uni_span_deberta_markerV0")
    dst = os.path.join(ROOT, "tests", "fixtures", "models_bin", "uni_span_deberta_markerV0")
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    for f in ("gliner_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, f), dst)
    weights = load_file(os.path.join(src, "model.safetensors"))
    torch.save(OrderedDict(sorted(weights.items())), os.path.join(dst, "pytorch_model.bin"))

    # the tiny BERT backbone with pytorch_model.bin only (gliner init reads Hub backbones that ship just that)
    src = os.path.join(ROOT, "tests", "fixtures", "backbones", "bert_tiny")
    dst = os.path.join(ROOT, "tests", "fixtures", "backbones_bin", "bert_tiny")
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    for f in sorted(os.listdir(src)):
        if f != "model.safetensors":  # the tokenizer files are relative links: same depth, so they still resolve
            shutil.copy(os.path.join(src, f), dst, follow_symlinks=False)
    torch.save(load_file(os.path.join(src, "model.safetensors")), os.path.join(dst, "pytorch_model.bin"))

    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("# torch.save fixtures for host/io/torch_bin.c\n\n"
                "Written by `/work/venv/bin/python scripts/make_torch_bin_fixtures.py` with torch %s, safetensors "
                "(scripts/requirements.txt), Python %s. What each file holds: the script's docstring.\n"
                "Also writes tests/fixtures/models_bin/uni_span_deberta_markerV0/ and tests/fixtures/backbones_bin/bert_tiny/ "
                "(the fixture model and backbone with pytorch_model.bin instead of model.safetensors).\n" % (torch.__version__, sys.version.split()[0]))
    print("wrote", OUT, "and", dst)


if __name__ == "__main__":
    main()
