#!/usr/bin/env bash
# The whole test suite: installs what it needs, checks formatting and lints, runs every test.
# Tests that need ../shared find it through BERTH_SHARED (default: the folder beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

./dev/install-test-deps.sh
export BERTH_SHARED="${BERTH_SHARED:-$(cd .. && pwd)/shared}"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
