#!/usr/bin/env bash
# Installs what berth's test suite needs on a Debian machine, skipping what is already there:
# the real container clients (skopeo, podman, buildah), the peer registry used by benchmarks
# (CNCF Distribution, package docker-registry) and the oras Python library.
set -euo pipefail

need_apt=()
for pair in skopeo:skopeo podman:podman buildah:buildah runc:runc docker-registry:docker-registry newuidmap:uidmap; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import oras' >/dev/null 2>&1; then
  echo "installing the oras Python library"
  python3 -m pip install -q oras
fi
