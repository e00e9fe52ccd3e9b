#!/usr/bin/env bash
# Installs what berth's test suite needs on a Debian machine, skipping what is already there:
# - the real container clients the registry tests drive (skopeo, podman, buildah, runc, and
#   Debian's dockerd, run sandboxed by shared/clients/dockerd-sandbox.sh);
# - the peer registry of the benchmarks (CNCF Distribution: docker-registry);
# - real content and reference tools for the detector tests (Go toolchain, rpm and Berkeley DB
#   tools, binutils, Ruby gems, Java jars, unzip);
# - the oras Python library.
set -euo pipefail

packages=(skopeo podman buildah runc uidmap docker.io docker-registry
          golang-go rpm db5.3-util binutils unzip ruby-rack libcommons-lang3-java)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import oras' >/dev/null 2>&1; then
  echo "installing the oras Python library"
  python3 -m pip install -q oras
fi
