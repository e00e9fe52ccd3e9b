#!/usr/bin/env bash
# Runs berth's fuzz targets with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   fuzz/run.sh                 every target, 60 s each
#   fuzz/run.sh rpm_ndb 300     one target, 300 s
#   fuzz/run.sh all 20          every target, 20 s each
#   fuzz/run.sh --list          the target names
#
# Not part of CI. Only stable Rust exists here, so RUSTC_BOOTSTRAP=1 unlocks the nightly-only
# flags cargo-fuzz passes (-Zsanitizer, sancov). Targets are built optimized with debug
# assertions and overflow checks on, so an arithmetic overflow is a crash too. cargo-fuzz is installed from crates.io into
# $BERTH_FUZZ_CACHE (default ~/.cache/berth-fuzz) when it is not on PATH; the build goes to
# $BERTH_FUZZ_CACHE/target. Seed corpora are copied at run time from real files (the shared
# images, the host's Debian packages, berth-detect's test fixtures) into fuzz/seeds/ (not
# committed); what libFuzzer learns goes to fuzz/corpus/<target>/, crashes to
# fuzz/artifacts/<target>/. Exit status: 0 when no target found a crash, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="${BERTH_SHARED:-$(cd "$root/.." && pwd)/shared}"
cache="${BERTH_FUZZ_CACHE:-$HOME/.cache/berth-fuzz}"

targets=(
  layer_read_sniffed layer_index_tar tar_header tar_pax path_normalize
  os_release dpkg_status apk_installed
  rpm_header rpm_sqlite rpm_bdb rpm_ndb
  python_metadata python_egg npm_package_json gemspec composer_installed dotnet_deps
  go_buildinfo cargo_auditable java_archive ownership_lists
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
which="${1:-all}"
seconds="${2:-60}"
if [ "$which" != "all" ]; then
  found=0
  for t in "${targets[@]}"; do [ "$t" = "$which" ] && found=1; done
  if [ "$found" = 0 ]; then
    echo "unknown target $which (fuzz/run.sh --list)" >&2
    exit 2
  fi
  targets=("$which")
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$cache/target"
mkdir -p "$cache"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  if [ ! -x "$cache/bin/cargo-fuzz" ]; then
    echo "installing cargo-fuzz into $cache (once)"
    CARGO_TARGET_DIR="$cache/install-target" cargo install cargo-fuzz --locked --root "$cache"
  fi
  export PATH="$cache/bin:$PATH"
fi

# ---- seed corpora, from real files ---------------------------------------------------------
seeds="$here/seeds"
fixtures="$root/crates/berth-detect/tests/fixtures"
rm -rf "$seeds"
mkdir -p "$seeds"
seed() { # seed TARGET FILE...: copy the existing, readable files (capped at 4 MiB each)
  local t="$1"; shift
  mkdir -p "$seeds/$t"
  for f in "$@"; do
    if [ -f "$f" ] && [ -r "$f" ]; then
      head -c 4194304 "$f" > "$seeds/$t/$(echo "$f" | tr '/' '_' | tail -c 120)"
    fi
  done
}
seed_text() { # seed_text TARGET NAME TEXT: a literal seed (printf format)
  mkdir -p "$seeds/$1"
  printf "$3" > "$seeds/$1/$2"
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Layers: small real tarballs made by GNU tar in its ustar, GNU and PAX formats (long names,
# symlinks, hard links, whiteouts), plain, gzip and zstd; plus the shared multi-arch image's
# layers (real umoci output without the end-of-archive blocks).
tree="$tmp/tree"
mkdir -p "$tree/etc" "$tree/var/lib/dpkg" "$tree/usr/lib/python3/site-packages/x-1.dist-info"
long="$tree/opt/$(printf 'a%.0s' $(seq 1 90))/$(printf 'b%.0s' $(seq 1 90))"
mkdir -p "$long"
printf 'ID=debian\nVERSION_ID="12"\n' > "$tree/etc/os-release"
printf 'Package: a\nStatus: install ok installed\nVersion: 1\n' > "$tree/var/lib/dpkg/status"
printf 'Name: x\nVersion: 1\n' > "$tree/usr/lib/python3/site-packages/x-1.dist-info/METADATA"
printf 'long\n' > "$long/file-with-a-long-path"
ln -s ../etc/os-release "$tree/var/os-link"
ln "$tree/etc/os-release" "$tree/etc/hard"
: > "$tree/etc/.wh.removed"
: > "$tree/var/.wh..wh..opq"
for fmt in ustar gnu pax; do
  tar --format="$fmt" -C "$tree" -cf "$tmp/layer-$fmt.tar" . 2>/dev/null || true
done
seed layer_index_tar "$tmp"/layer-*.tar
seed tar_header "$tmp"/layer-*.tar
for f in "$tmp"/layer-*.tar; do
  gzip -9 -c "$f" > "$f.gz"
  if command -v zstd >/dev/null 2>&1; then zstd -q -c "$f" > "$f.zst"; fi
done
seed layer_read_sniffed "$tmp"/layer-*
if [ -d "$shared/images/multiarch-hello/blobs/sha256" ]; then
  for b in "$shared"/images/multiarch-hello/blobs/sha256/*; do
    if [ "$(head -c 2 "$b" | od -An -tx1 | tr -d ' ')" = "1f8b" ]; then seed layer_read_sniffed "$b"; fi
  done
fi
seed_text tar_pax path '30 path=usr/lib/os-release/xyz\n'
seed_text tar_pax multi '27 mtime=1700000000.123456\n21 linkpath=../a/b\n16 size=1048576\n'
seed_text path_normalize abs '/usr/../etc/./os-release'
seed_text path_normalize dots '././../../a//b/.wh.c'
printf 'a/\377\376/b' > "$seeds/path_normalize/invalid-utf8"

# Files from the shared images' layers: dpkg status, METADATA, package.json.
bookworm="$shared/images/bookworm/blobs/sha256"
if [ -d "$bookworm" ]; then
  mkdir -p "$tmp/img"
  for b in "$bookworm"/*; do
    if [ "$(head -c 2 "$b" | od -An -tx1 | tr -d ' ')" = "1f8b" ]; then
      tar -xzf "$b" -C "$tmp/img" --wildcards --no-anchored \
        'status' 'METADATA' 'package.json' 'os-release' '*.list' 2>/dev/null || true
    fi
  done
  seed dpkg_status "$tmp/img/var/lib/dpkg/status"
  seed os_release "$tmp/img/usr/lib/os-release"
  mapfile -t metas < <(find "$tmp/img" -name METADATA | head -20)
  seed python_metadata "${metas[@]}"
  mapfile -t pjs < <(find "$tmp/img" -path '*node_modules*' -name package.json | head -40)
  seed npm_package_json "${pjs[@]}"
fi

# The host's Debian packages.
seed os_release /etc/os-release /etc/debian_version /etc/issue /etc/lsb-release
seed dpkg_status "$fixtures"/distroless/var/lib/dpkg/status.d/*
mapfile -t lists < <(ls /var/lib/dpkg/info/*.list 2>/dev/null | head -20)
seed ownership_lists "${lists[@]}"
mapfile -t pkginfos < <(ls /usr/lib/python3/dist-packages/*.egg-info/PKG-INFO 2>/dev/null | head -20)
seed python_metadata "${pkginfos[@]}"
mapfile -t specs < <(ls /usr/share/rubygems-integration/all/specifications/*.gemspec /var/lib/gems/*/specifications/*.gemspec 2>/dev/null | head -20)
seed gemspec "${specs[@]}"
mapfile -t jars < <(ls /usr/share/java/*.jar 2>/dev/null | head -5)
seed java_archive "${jars[@]}"
# Go: the build information region of Debian's Go binaries.
for bin in /usr/bin/docker-registry /usr/bin/skopeo; do
  if [ -f "$bin" ]; then
    python3 - "$bin" "$seeds/go_buildinfo/$(basename "$bin")" <<'PY' || true
import sys, os
data = open(sys.argv[1], 'rb').read()
at = 0
while True:
    at = data.find(b'\xff Go buildinf:', at)
    if at < 0 or at % 16 == 0:
        break
    at += 1
if at >= 0:
    os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
    open(sys.argv[2], 'wb').write(data[at:at + 8192])
PY
  fi
done

# berth-detect's fixtures: real cargo-auditable output, rpm's NDB database.
seed cargo_auditable "$fixtures/audit-hello" "$fixtures/audit-hello.dep-v0"
seed rpm_ndb "$fixtures/rpm-ndb/Packages.db"
python3 - "$fixtures/rpm-ndb/Packages.db" "$seeds/rpm_header" <<'PY' || true
# The header blobs inside the NDB fixture (slot: magic, package, block offset, block count).
import struct, sys, os
db = open(sys.argv[1], 'rb').read()
os.makedirs(sys.argv[2], exist_ok=True)
pages = struct.unpack_from('<I', db, 12)[0]
for at in range(32, pages * 4096, 16):
    magic, pkg, off, cnt = struct.unpack_from('<4sIII', db, at)
    if off:
        start = off * 16
        length = struct.unpack_from('<I', db, start + 12)[0]
        open(os.path.join(sys.argv[2], 'hdr-%d' % pkg), 'wb').write(db[start + 16:start + 16 + length])
PY

# rpm's SQLite and BerkeleyDB databases, made by the real tools when they are installed.
if command -v rpm >/dev/null 2>&1 && command -v rpmbuild >/dev/null 2>&1; then
  printf 'Name: seed\nVersion: 1.0\nRelease: 1\nEpoch: 3\nSummary: s\nLicense: MIT\nBuildArch: noarch\n%%description\ns\n%%install\nmkdir -p %%{buildroot}/usr/share/seed\ntouch %%{buildroot}/usr/share/seed/a\n%%files\n/usr/share/seed/a\n' > "$tmp/seed.spec"
  if rpmbuild --define "_topdir $tmp/rpmtop" --quiet -bb "$tmp/seed.spec" >/dev/null 2>&1; then
    mkdir -p "$tmp/rpmdb"
    rpm --initdb --dbpath "$tmp/rpmdb"
    rpm -i --justdb --nodeps --noscripts --dbpath "$tmp/rpmdb" "$tmp"/rpmtop/RPMS/noarch/*.rpm 2>/dev/null
    rpm --dbpath "$tmp/rpmdb" -qa >/dev/null
    seed rpm_sqlite "$tmp/rpmdb/rpmdb.sqlite"
    if command -v db5.3_load >/dev/null 2>&1; then
      python3 - "$tmp/rpmdb/rpmdb.sqlite" "$tmp/dump.txt" <<'PY' && db5.3_load -f "$tmp/dump.txt" "$tmp/Packages" && seed rpm_bdb "$tmp/Packages" || true
import sqlite3, struct, sys
rows = sqlite3.connect(sys.argv[1]).execute('SELECT hnum, blob FROM Packages').fetchall()
with open(sys.argv[2], 'w') as f:
    f.write('VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n')
    f.write(' %s\n %s\n' % (struct.pack('<I', 0).hex(), struct.pack('<I', len(rows) + 1).hex()))
    for hnum, blob in rows:
        f.write(' %s\n %s\n' % (struct.pack('<I', hnum).hex(), bytes(blob).hex()))
    f.write('DATA=END\n')
PY
    fi
  fi
fi

# A zipped egg from setuptools, when it is installed.
if python3 -c 'import setuptools' >/dev/null 2>&1; then
  mkdir -p "$tmp/egg"
  printf 'X = 1\n' > "$tmp/egg/demo.py"
  printf "from setuptools import setup\nsetup(name='seed-egg', version='1.0', py_modules=['demo'])\n" > "$tmp/egg/setup.py"
  (cd "$tmp/egg" && python3 -W ignore setup.py -q bdist_egg --dist-dir out >/dev/null 2>&1) || true
  seed python_egg "$tmp"/egg/out/*.egg
fi

# Formats with no real file on a Debian host: small literal documents of the real shapes.
seed_text apk_installed installed 'C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383152\nI:622592\nT:the musl c library\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Timo Teras <timo.teras@iki.fi>\nt:1700000000\nc:1234abcd\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1xyz=\nR:libc.musl-x86_64.so.1\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\no:busybox\nF:bin\nR:busybox\n\n'
seed_text composer_installed v2 '{"packages":[{"name":"monolog/monolog","version":"2.9.1","version_normalized":"2.9.1.0","type":"library"},{"name":"psr/log","version":"3.0.0"}],"dev":true,"dev-package-names":[]}'
seed_text composer_installed v1 '[{"name":"symfony/polyfill-mbstring","version":"v1.28.0"}]'
seed_text dotnet_deps deps '{"runtimeTarget":{"name":".NETCoreApp,Version=v8.0"},"targets":{".NETCoreApp,Version=v8.0":{"App/1.0.0":{"dependencies":{"Newtonsoft.Json":"13.0.1"}},"Newtonsoft.Json/13.0.1":{"runtime":{"lib/net6.0/Newtonsoft.Json.dll":{}}}}},"libraries":{"App/1.0.0":{"type":"project","serviceable":false,"sha512":""},"Newtonsoft.Json/13.0.1":{"type":"package","serviceable":true,"sha512":"sha512-x","path":"newtonsoft.json/13.0.1"}}}'
seed_text gemspec literal '# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = "rack".freeze\n  s.version = "2.2.4"\nend\n'
seed_text python_metadata literal 'Metadata-Version: 2.1\nName: Django\nVersion: 3.2\n\nbody\n'
seed_text os_release literal 'NAME="openSUSE Tumbleweed"\n# VERSION="20240329"\nID="opensuse-tumbleweed"\nVERSION_ID="20240329"\n'
seed_text npm_package_json literal '{"name":"lodash","version":"4.17.4"}'

# ---- run ----------------------------------------------------------------------------------
# Inputs up to this size; the targets reading whole databases or binaries get more room.
max_len() {
  case "$1" in
    layer_read_sniffed|layer_index_tar|rpm_sqlite|java_archive|cargo_auditable|python_egg) echo 1048576 ;;
    rpm_ndb|rpm_bdb|dpkg_status) echo 262144 ;;
    *) echo 65536 ;;
  esac
}

failed=()
summary=()
cd "$here"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
  echo "=== $t (${seconds}s)"
  log="$cache/$t.log"
  set +e
  cargo fuzz run --release --debug-assertions "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=4096 \
    -timeout=30 -print_final_stats=1 2>&1 | tee "$log" | grep -E '^(#[0-9]+.*(INITED|DONE)|==[0-9]+==|thread .* panicked|SUMMARY|Test unit written|stat::number_of_executed_units)'
  rc=${PIPESTATUS[0]}
  set -e
  # A crash, leak or timeout leaves an input in artifacts/ whatever the exit status says.
  if [ "$rc" = 0 ] && [ -n "$(ls -A "artifacts/$t")" ]; then rc=1; fi
  execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')"
  summary+=("$t: exit $rc, ${execs:-?} execs")
  if [ "$rc" != 0 ]; then failed+=("$t"); fi
done
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/<target>/, logs in $cache/<target>.log)"
  exit 1
fi
