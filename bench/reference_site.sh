#!/usr/bin/env bash
# reference_site.sh SITE LOG -- installs the pinned reference (the carried .deps/wheels from device_deps.sh: gliner,
# transformers, tokenizers) into SITE for PYTHONPATH, on the device machine, which has torch but no network. The pinned
# trio first; if it does not import against the image's torch, gliner alone on the image's transformers. Prints one line
# when it falls back or has no wheels (device_check.sh and device_train.sh put it in their report); pip's output goes
# to LOG. Leaves an existing SITE as it is.
SITE=$1 LOG=$2
PY=${PY:-python3}
[ -d "$SITE" ] && exit 0
if ! ls .deps/wheels/*.whl >/dev/null 2>&1; then
  echo "reference: no carried wheels (.deps/wheels): trying an installed gliner"
  exit 0
fi
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .deps/wheels/*.whl >"$LOG" 2>&1
if ! PYTHONPATH=$SITE $PY -c 'import gliner.modeling.base, transformers' >>"$LOG" 2>&1; then
  rm -rf "$SITE"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .deps/wheels/gliner-*.whl >>"$LOG" 2>&1
  echo "reference: the pinned transformers/tokenizers did not import here; using the image's transformers ($LOG)"
fi
