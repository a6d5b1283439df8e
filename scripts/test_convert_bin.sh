#!/usr/bin/env bash
# test_convert_bin.sh [PYTHON] -- scripts/convert_bin.py on tests/fixtures/models/uni_span_decoder_gpt2, which
# ships both pytorch_model.bin and model.safetensors (with tied weights): the converted file must hold
# the same tensors (names, dtypes, shapes, values) as the reference's model.safetensors; an existing
# file is kept without --force; a directory without pytorch_model.bin is a one-line error.
# Needs torch + safetensors (default python: /work/venv/bin/python if present, else python3).
set -u
cd "$(dirname "$0")/.."
PY=${1:-}
[ -n "$PY" ] || { [ -x /work/venv/bin/python ] && PY=/work/venv/bin/python || PY=python3; }
"$PY" -c "import torch, safetensors" 2>/dev/null || { echo "SKIP: $PY has no torch/safetensors"; exit 77; }
FIX=tests/fixtures/models/uni_span_decoder_gpt2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cp "$FIX/pytorch_model.bin" "$FIX/gliner_config.json" "$TMP/"
"$PY" scripts/convert_bin.py "$TMP" >"$TMP/out.txt" 2>&1 || fail "convert: $(cat "$TMP/out.txt")"
[ -f "$TMP/model.safetensors" ] || fail "no model.safetensors written"
ls -a "$TMP" | grep -q '\.tmp$' && fail "a temporary file was left behind"
"$PY" - "$TMP/model.safetensors" "$FIX/model.safetensors" <<'PYEOF' || fail "tensors differ"
import sys, json, struct, torch
from safetensors.torch import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
assert set(a) == set(b), (set(a) ^ set(b))
for k in b:
    assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
    assert torch.equal(a[k], b[k]), k
with open(sys.argv[1], "rb") as f:
    meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
assert meta == {"format": "pt"}, meta
print(f"{len(b)} tensors equal")
PYEOF

# an existing file is kept, unless --force
cp "$TMP/model.safetensors" "$TMP/before"
"$PY" scripts/convert_bin.py "$TMP" >/dev/null 2>"$TMP/err" && fail "overwrote model.safetensors without --force"
grep -q "already exists (use --force" "$TMP/err" || fail "no-force error: $(cat "$TMP/err")"
"$PY" scripts/convert_bin.py "$TMP" --force >/dev/null 2>&1 || fail "--force failed"
cmp -s "$TMP/model.safetensors" "$TMP/before" || fail "--force wrote a different file"

# no pytorch_model.bin
mkdir "$TMP/empty"
"$PY" scripts/convert_bin.py "$TMP/empty" >/dev/null 2>"$TMP/err" && fail "converted a directory without pytorch_model.bin"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "pytorch_model.bin: not found" "$TMP/err" || fail "missing-bin error: $(cat "$TMP/err")"
echo PASS
