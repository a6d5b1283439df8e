#!/usr/bin/env python3
"""Writes model.safetensors for a checkpoint directory that has only pytorch_model.bin.

gliner.c reads safetensors only; older GLiNER checkpoints on the Hugging Face Hub ship a pickled
pytorch_model.bin. This loads it with torch.load(weights_only=True) (no arbitrary code runs), gives
tensors that share storage (tied weights) their own copy, since safetensors refuses shared storage,
and writes the same tensors under the same names with metadata {"format": "pt"}, as transformers'
save_pretrained does. The file is written to a temporary name and renamed: model.safetensors is
either whole or absent. An existing model.safetensors is kept unless --force.

usage: python3 scripts/convert_bin.py CHECKPOINT_DIR [--force] [--output FILE]
       (needs torch and safetensors: pip install torch safetensors)
Exit status: 0 written, 1 failure (one line on stderr), 2 bad usage.
"""
import argparse
import os
import sys
import tempfile


def fail(msg):
    print(f"convert_bin: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description="pytorch_model.bin -> model.safetensors for a checkpoint directory")
    ap.add_argument("dir", help="checkpoint directory holding pytorch_model.bin")
    ap.add_argument("--force", action="store_true", help="overwrite an existing model.safetensors")
    ap.add_argument("--output", help="where to write (default: DIR/model.safetensors)")
    a = ap.parse_args()

    src = os.path.join(a.dir, "pytorch_model.bin")
    dst = a.output or os.path.join(a.dir, "model.safetensors")
    if not os.path.isfile(src):
        fail(f"{src}: not found (expected a checkpoint directory with pytorch_model.bin)")
    if os.path.exists(dst) and not a.force:
        fail(f"{dst}: already exists (use --force to overwrite it)")
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as e:
        fail(f"{e.name or e}: not installed (pip install torch safetensors)")

    try:
        sd = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- any unpickling error is the file's fault
        fail(f"{src}: cannot load with torch.load(weights_only=True): {type(e).__name__}: {e}")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd:
        fail(f"{src}: expected a state dict (name -> tensor), found {type(sd).__name__}")

    out, seen = {}, set()
    for name, t in sd.items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            fail(f"{src}: entry {name!r}: expected a tensor, found {type(t).__name__}")
        # tied weights share storage; safetensors wants each tensor on its own, contiguous
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) if t.numel() else None
        whole = t.untyped_storage().nbytes() == t.numel() * t.element_size()
        if key in seen or not t.is_contiguous() or not whole:
            t = t.detach().clone().contiguous()
        elif key is not None:
            seen.add(key)
        out[name] = t.detach()

    d = os.path.dirname(os.path.abspath(dst))
    fd, tmp = tempfile.mkstemp(prefix=".model.safetensors.", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        save_file(out, tmp, metadata={"format": "pt"})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException as e:
        os.unlink(tmp)
        if isinstance(e, Exception):
            fail(f"{dst}: cannot write: {type(e).__name__}: {e}")
        raise
    n = sum(t.numel() for t in out.values())
    print(f"convert_bin: wrote {dst}: {len(out)} tensors, {n} values")


if __name__ == "__main__":
    main()
