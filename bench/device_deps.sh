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
      libopenblas-pthread-dev libgfortran5 libquadmath0 libutf8proc2 libutf8proc-dev
      libcriterion3 libcriterion-dev libboxfort-dev libnanomsg5 libnanomsg-dev libgit2-1.5 libgit2-dev
      libhttp-parser2.9 libmbedcrypto7 libmbedtls14 libmbedx509-1 libssh2-1 libffi8 libffi-dev
      pkgconf pkgconf-bin libpkgconf3"
(cd .deps && apt-get download $pkgs)
du -sh .deps
