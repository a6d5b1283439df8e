#!/usr/bin/env bash
# Run HERE (the development machine, Debian bookworm), before a device call: the lent GPU machine has
# nvcc, cmake and gcc but no network and none of our -dev libraries. This downloads their .deb files
# (apt-get download: no install, no root) into .deps/ at the repository root, which .git/info/exclude
# ignores; name `.deps` in the device call's `carry`. bench/device_check.sh unpacks them there with
# dpkg -x into /tmp/deps (never into /) when pkg-config does not find the libraries natively.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.deps/' .git/info/exclude 2>/dev/null || echo '/.deps/' >> .git/info/exclude
mkdir -p .deps
pkgs="libcjson1 libcjson-dev libyaml-0-2 libyaml-dev libopenblas0 libopenblas0-pthread libopenblas-dev
      libopenblas-pthread-dev libgfortran5 libquadmath0 libutf8proc2 libutf8proc-dev libzip4 libzip-dev
      libcriterion3 libcriterion-dev libboxfort-dev libnanomsg5 libnanomsg-dev libgit2-1.5 libgit2-dev
      libhttp-parser2.9 libmbedcrypto7 libmbedtls14 libmbedx509-1 libssh2-1 libffi8 libffi-dev
      libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 zlib1g-dev zlib1g
      pkgconf pkgconf-bin libpkgconf3"
(cd .deps && apt-get download $pkgs)   # libgit2's .pc (criterion's) requires libpcre2-8 and zlib: without them
                                      # pkg-config fails on the device (seen 2026-11-28)
# The reference side of the GPU bench (bench/bench_gpu_reference.py): the pinned gliner wheel (pure Python)
# and the pinned transformers / tokenizers (scripts/requirements.txt) -- the device image has torch and a
# newer transformers; bench/device_check.sh installs these with --no-deps into a venv that sees the image's
# site-packages, and falls back to the image's transformers if the pinned pair does not import there.
PY=${PY:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo python3)}
mkdir -p .deps/wheels
$PY -m pip download --no-deps -q -d .deps/wheels gliner==0.2.27
$PY -m pip download --no-deps -q -d .deps/wheels transformers==5.1.0
$PY -m pip download --no-deps -q -d .deps/wheels --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 tokenizers==0.22.2
ls -la .deps/wheels
du -sh .deps
# The training bench's data (bench/device_train.sh): CoNLL-2003 train in the reference's format, ~3 MB, ignored by
# git; carry "bench/data" beside ".deps"
mkdir -p bench/data
[ -f bench/data/conll2003_train.json ] || $PY scripts/conll_to_train.py bench/data/conll2003_train.json
