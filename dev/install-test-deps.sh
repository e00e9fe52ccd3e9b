#!/usr/bin/env bash
# Installs what berth's test suite needs on a Debian machine, skipping what is already there:
# - the real container clients the registry tests drive (skopeo, podman, buildah, runc, and
#   Debian's dockerd, run sandboxed by shared/clients/dockerd-sandbox.sh);
# - the peer registry of the benchmarks (CNCF Distribution: docker-registry);
# - real content and reference tools for the detector tests (Go toolchain, rpm and Berkeley DB
#   tools, binutils, Ruby gems, Java jars, unzip);
# - the oras Python library;
# - the official SBOM schemas and validators dev/validate-sbom.py checks berth's SBOMs with
#   (cyclonedx-python-lib, spdx-tools, lib4sbom's copy of the SPDX 2.3 JSON schema).
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
if ! python3 -c 'import cyclonedx.validation.json, jsonschema, referencing, packageurl, spdx_tools.spdx, lib4sbom' >/dev/null 2>&1; then
  echo "installing the SBOM schemas and validators"
  python3 -m pip install -q "cyclonedx-python-lib[json-validation]>=11,<12" "spdx-tools>=0.8.5,<0.9" "lib4sbom>=0.10.4,<0.11"
fi
