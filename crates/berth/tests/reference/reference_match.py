#!/usr/bin/env python3
"""Reference vulnerability matcher: the oracle for berth's matcher tests.

An independent re-derivation of "which advisories affect which packages of an image",
written from the feeds' own formats and the upstream tools' version orderings, not from
berth's Rust code. Clarity over speed.

Usage:
    python3 reference_match.py --vulndata DIR --index-report FILE.json [--node-modules DIR]
                               [--summary]

Prints a sorted JSON list of findings to stdout:
    [{"package": <binary package name>, "version": <package version>, "advisory": <id>}, ...]
one per (package id, advisory id) pair, identical triples deduplicated. --summary also
prints counts per ecosystem to stderr.

Inputs
  DIR is the recorded feed folder (shared/vulndata, see its MANIFEST.md); tarballs are read
  in place with tarfile. FILE.json is a Clair v4 IndexReport (or a VulnerabilityReport: only
  packages / distributions / repository / environments are read).

Which ecosystem a package is in (from the report only)
  E1. Packages of kind "source" are skipped.
  E2. A language package's ecosystem is the name of a repository of its environment:
      pypi -> PyPI, npm -> npm, go -> Go, crates.io -> crates.io, maven -> Maven,
      rubygems -> RubyGems, nuget -> NuGet, packagist -> Packagist.
  E3. An OS package's ecosystem comes from its environment's package_db: a path containing
      "dpkg/" is Debian-family (the distribution's `did`: debian or ubuntu), one containing
      "apk/db/installed" is Alpine, rpm databases are skipped (no RPM feed is recorded).
      The distribution is the environment's distribution_id (if that is empty and the report
      has exactly one distribution, that one).
  E4. A package with several environments is matched once per distinct (ecosystem,
      distribution); findings are deduplicated per (package id, advisory id).

Matching rules
  D1. Debian: advisories are OSV records (debian-osv-bookworm-subset/records). They are keyed
      by SOURCE package: name = package.source.name (the binary name if there is no source),
      version = package.source.version if non-empty, else package.version. An affected entry
      applies only if its ecosystem is exactly "Debian:<major of VERSION_ID>" (bookworm:
      "Debian:12"); Ubuntu images use "Ubuntu:<VERSION_ID>" (no Ubuntu data is recorded).
      Versions are ordered by `dpkg --compare-versions` (the real tool, batched in one shell).
  O1. OSV (Debian, PyPA, Go vulndb, GHSA npm subset): a record with `withdrawn` is ignored.
      A package is affected by a record if, for some affected[] entry naming its ecosystem and
      name, the version is in `versions` or inside one of its ranges, evaluated exactly as the
      OSV schema's "Evaluation" section says:
          for each range of type ECOSYSTEM or SEMVER (GIT ranges are ignored):
            if there are limit events and the version is not < any of them: skip the range;
            sort the other events by version (introduced "0" lowest; ties keep file order);
            affected = False; for each event in order:
              introduced and v >= introduced    -> affected = True
              elif fixed and v >= fixed         -> affected = False
              elif last_affected and v > it     -> affected = False
            if affected: the package is affected.
      `versions` membership is exact string equality, except PyPI where it is PEP 440
      equality (packaging's Version ==).
  O2. Version orders: PyPI -> packaging.version.Version (legacy versions that packaging
      rejects make that comparison unknown: the event is skipped, with a warning on stderr);
      npm, crates.io -> SemVer via node's `semver` package (semver.compare);
      Go -> SemVer via node `semver` after stripping a leading "v" (module versions "v1.2.3")
      or "go" (toolchain versions "go1.19.8"); the `stdlib` package's version as given;
      Debian -> dpkg. A version the order cannot parse matches nothing (warning on stderr).
  O3. Names: PyPI names compare PEP 503-normalised (lowercase, runs of -_. -> "-"); all
      other ecosystems compare names exactly. PyPA records are read only from the folders
      vulns/<name>/ of packages present in the image.
  N1. Node.js Security WG (vuln/npm/<n>.json only; vuln/core is Node itself, skipped): an npm
      package named module_name is affected if semver.satisfies(version, vulnerable_versions)
      and, when patched_versions is non-empty, not semver.satisfies(version,
      patched_versions) (node `semver`, default options). Advisory id "NSWG-ECO-<id>".
  R1. RustSec (crates/<crate>/RUSTSEC-*.md, TOML front matter read with tomllib): a crates.io
      package named [advisory].package is affected unless its version satisfies any
      [versions].patched or [versions].unaffected requirement (Cargo's requirement syntax,
      implemented below: comma-separated comparators ^ ~ = > >= < <= * and wildcards, a bare
      version meaning ^, caret rules for 0.x; a pre-release version only matches a
      requirement with a comparator that has a pre-release on the same major.minor.patch).
      Advisories with `withdrawn` are ignored; `informational` advisories are ignored unless
      informational == "unsound". [affected] (functions, os, arch) is not used: matching is
      on versions only.
  A1. Alpine secdb (v3.X/{main,community}.yaml, X from the image's VERSION_ID): keyed by the
      origin (source) package name; for each secfixes entry {fixed_version: [ids]}, fixed
      "0" means "never affected" and is skipped, otherwise the package is affected by each id
      (each whitespace-separated token of an id string) if version < fixed_version in apk
      order. The apk order is a minimal implementation of apk-tools' rules (numbers, one
      letter, _alpha/_beta/_pre/_rc < release < _cvs/_svn/_git/_hg/_p suffixes, -rN); the
      recorded images are all Debian, so this rule is not exercised by them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tomllib
from collections import defaultdict
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("reference_match.py needs PyYAML (pip install pyyaml)")
try:
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover
    sys.exit("reference_match.py needs packaging (pip install packaging)")


def warn(msg: str) -> None:
    print(f"reference_match: {msg}", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# The image's packages (rules E1-E4)
# ---------------------------------------------------------------------------------------

LANGUAGE_REPOSITORIES = {
    "pypi": "PyPI",
    "npm": "npm",
    "go": "Go",
    "crates.io": "crates.io",
    "maven": "Maven",
    "rubygems": "RubyGems",
    "nuget": "NuGet",
    "packagist": "Packagist",
}


def load_report(path: Path) -> dict:
    report = json.loads(path.read_text())
    # Accept a report nested under a key (e.g. a wrapper holding the index report).
    if "packages" not in report:
        for key in ("index_report", "indexReport", "report"):
            if isinstance(report.get(key), dict) and "packages" in report[key]:
                return report[key]
    return report


def image_packages(report: dict) -> list[dict]:
    """One entry per (package id, ecosystem, distribution): the matcher's inputs."""
    packages = report.get("packages") or {}
    distributions = report.get("distributions") or {}
    repositories = report.get("repository") or {}
    environments = report.get("environments") or {}
    out = []
    for pkg_id, pkg in packages.items():
        if pkg.get("kind") == "source":
            continue
        seen = set()
        for env in environments.get(pkg_id) or []:
            ecosystem, dist = None, None
            for repo_id in env.get("repository_ids") or []:
                repo_name = (repositories.get(repo_id) or {}).get("name", "")
                if repo_name in LANGUAGE_REPOSITORIES:
                    ecosystem = LANGUAGE_REPOSITORIES[repo_name]
                    break
            if ecosystem is None:
                db = env.get("package_db", "")
                dist_id = env.get("distribution_id") or ""
                if not dist_id and len(distributions) == 1:
                    dist_id = next(iter(distributions))
                dist = distributions.get(dist_id)
                if "dpkg/" in db:
                    did = (dist or {}).get("did", "debian")
                    ecosystem = {"debian": "Debian", "ubuntu": "Ubuntu"}.get(did)
                elif "apk/db/installed" in db:
                    ecosystem = "Alpine"
            if ecosystem is None:
                continue  # rpm, or unknown: no feed
            key = (ecosystem, json.dumps(dist, sort_keys=True))
            if key in seen:
                continue
            seen.add(key)
            out.append({"id": pkg_id, "pkg": pkg, "ecosystem": ecosystem, "dist": dist or {}})
    return out


def source_of(pkg: dict) -> tuple[str, str]:
    """(name, version) of the source package an OS advisory is keyed by (rule D1)."""
    src = pkg.get("source") or {}
    name = src.get("name") or pkg["name"]
    version = src.get("version") or pkg["version"]
    return name, version


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------
# Version orders, by the real tools (rule O2)
# ---------------------------------------------------------------------------------------

NODE_HELPER = r"""
const semver = require(process.argv[1]);
let input = '';
process.stdin.on('data', c => input += c);
process.stdin.on('end', () => {
  const q = JSON.parse(input);
  const compare = q.compare.map(([a, b]) =>
    (semver.valid(a) === null || semver.valid(b) === null) ? null : semver.compare(a, b));
  const satisfies = q.satisfies.map(([v, r]) =>
    semver.valid(v) === null ? null : semver.satisfies(v, r));
  process.stdout.write(JSON.stringify({compare, satisfies}));
});
"""


class NodeSemver:
    """node's `semver` package; queries are batched into one node process per call."""

    def __init__(self, node_modules: Path | None):
        self.node_modules = node_modules
        self.compare_cache: dict[tuple[str, str], int | None] = {}
        self.satisfies_cache: dict[tuple[str, str], bool | None] = {}

    def run(self, compares, satisfies) -> None:
        compares = sorted({c for c in compares if c not in self.compare_cache})
        satisfies = sorted({s for s in satisfies if s not in self.satisfies_cache})
        if not compares and not satisfies:
            return
        nm = self.node_modules
        if nm is None or not (nm / "semver" / "package.json").is_file():
            sys.exit("reference_match.py: node's semver package not found (run "
                     "dev/install-test-deps.sh, or pass --node-modules DIR)")
        semver_dir = str(self.node_modules / "semver")
        out = subprocess.run(
            ["node", "-e", NODE_HELPER, semver_dir],
            input=json.dumps({"compare": compares, "satisfies": satisfies}),
            capture_output=True, text=True, check=True,
        )
        answer = json.loads(out.stdout)
        self.compare_cache.update(zip(compares, answer["compare"]))
        self.satisfies_cache.update(zip(satisfies, answer["satisfies"]))

    def cmp(self, a: str, b: str) -> int | None:
        return self.compare_cache[(a, b)]

    def satisfies(self, v: str, r: str) -> bool | None:
        return self.satisfies_cache[(v, r)]


class Dpkg:
    """`dpkg --compare-versions`, batched: one shell running one test per pair."""

    def __init__(self):
        self.cache: dict[tuple[str, str], int] = {}

    def run(self, pairs) -> None:
        pairs = sorted({p for p in pairs if p not in self.cache})
        if not pairs:
            return
        lines = []
        for a, b in pairs:
            qa, qb = shlex.quote(a), shlex.quote(b)
            lines.append(
                f"if dpkg --compare-versions {qa} lt {qb}; then echo -1; "
                f"elif dpkg --compare-versions {qa} eq {qb}; then echo 0; else echo 1; fi"
            )
        out = subprocess.run(["sh", "-c", "\n".join(lines)], capture_output=True, text=True,
                             check=True)
        results = [int(x) for x in out.stdout.split()]
        assert len(results) == len(pairs), "dpkg batch answered a different count"
        self.cache.update(zip(pairs, results))

    def cmp(self, a: str, b: str) -> int:
        return self.cache[(a, b)]


def pypi_cmp(a: str, b: str) -> int | None:
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return None
    return (va > vb) - (va < vb)


# ---------------------------------------------------------------------------------------
# OSV evaluation (rule O1)
# ---------------------------------------------------------------------------------------

def event_kind(event: dict) -> tuple[str, str]:
    for kind in ("introduced", "fixed", "last_affected", "limit"):
        if kind in event:
            return kind, str(event[kind])
    return "", ""


def osv_versions_needed(version: str, affected: dict) -> set[tuple[str, str]]:
    """Every ordered pair of versions the evaluation of `affected` may compare."""
    vs = {version}
    for rng in affected.get("ranges") or []:
        if rng.get("type") in ("ECOSYSTEM", "SEMVER"):
            for ev in rng.get("events") or []:
                kind, val = event_kind(ev)
                if kind and not (kind == "introduced" and val == "0") and val != "*":
                    vs.add(val)
    return {(a, b) for a in vs for b in vs}


def osv_affects(version: str, affected: dict, cmp, same_version) -> bool:
    """The OSV schema's IsVulnerable for one affected[] entry. cmp(a, b) -> -1/0/1/None."""
    for listed in affected.get("versions") or []:
        if same_version(version, str(listed)):
            return True
    for rng in affected.get("ranges") or []:
        if rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges need a commit graph
        events = [event_kind(ev) for ev in rng.get("events") or []]
        events = [e for e in events if e[0]]
        if cmp(version, version) is None:
            warn(f"cannot order version {version!r}: matches nothing")
            return False
        limits = [val for kind, val in events if kind == "limit"]
        if limits and not any(val == "*" or lt(cmp, version, val) for val in limits):
            continue
        ordered = []
        for kind, val in events:
            if kind == "limit":
                continue
            if not (kind == "introduced" and val == "0") and cmp(val, val) is None:
                warn(f"cannot order event version {val!r}: event skipped")
                continue
            ordered.append((kind, val))

        def order(x, y):
            if x[0] == "introduced" and x[1] == "0":
                return 0 if (y[0] == "introduced" and y[1] == "0") else -1
            if y[0] == "introduced" and y[1] == "0":
                return 1
            return cmp(x[1], y[1])

        ordered.sort(key=functools.cmp_to_key(order))  # stable: ties keep file order
        vulnerable = False
        for kind, val in ordered:
            if kind == "introduced" and (val == "0" or cmp(version, val) >= 0):
                vulnerable = True
            elif kind == "fixed" and cmp(version, val) >= 0:
                vulnerable = False
            elif kind == "last_affected" and cmp(version, val) > 0:
                vulnerable = False
        if vulnerable:
            return True
    return False


def lt(cmp, a, b) -> bool:
    c = cmp(a, b)
    return c is not None and c < 0


# ---------------------------------------------------------------------------------------
# Cargo version requirements (rule R1), for RustSec
# ---------------------------------------------------------------------------------------

SEMVER_RE = re.compile(
    r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def parse_semver(v: str):
    m = SEMVER_RE.match(v.strip())
    if not m:
        return None
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre


def semver_key(v):
    """SemVer 2.0 precedence as a sort key."""
    major, minor, patch, pre = v
    if not pre:
        pre_key = (1,)  # a release is above all its pre-releases
    else:
        pre_key = (0,) + tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre)
    return (major, minor, patch, pre_key)


def cargo_comparator(text: str):
    """One comparator -> (list of (op, (major, minor, patch, pre)) bounds, has_pre, mmp)."""
    m = re.match(r"^\s*(\^|~|=|>=|<=|>|<)?\s*(.*?)\s*$", text)
    op, ver = m.group(1) or "^", m.group(2)
    if ver in ("*", ""):
        return [], False, None
    pm = re.match(r"^(\d+|\*|x|X)(?:\.(\d+|\*|x|X))?(?:\.(\d+|\*|x|X))?(?:-([0-9A-Za-z.-]+))?"
                  r"(?:\+[0-9A-Za-z.-]+)?$", ver)
    if not pm:
        raise ValueError(f"bad requirement {text!r}")
    parts = [pm.group(1), pm.group(2), pm.group(3)]
    nums = []
    for p in parts:
        if p is None or p in "*xX":
            break
        nums.append(int(p))
    pre = tuple(pm.group(4).split(".")) if pm.group(4) else ()
    if len(nums) < 3 and any(p is not None and p in "*xX" for p in parts):
        op = "="  # wildcard: I.* / I.J.* mean =I / =I.J
    if len(nums) == 0:
        return [], False, None
    major = nums[0]
    minor = nums[1] if len(nums) > 1 else None
    patch = nums[2] if len(nums) > 2 else None
    lo = (major, minor or 0, patch or 0, pre)

    def v(a, b, c):
        return (a, b, c, ())

    def upper_partial():
        # the next version above the given prefix (for = and <= with partial versions)
        return v(major + 1, 0, 0) if minor is None else v(major, minor + 1, 0)

    if op == "=":
        bounds = [("=", lo)] if patch is not None else [(">=", lo), ("<", upper_partial())]
    elif op == ">":
        bounds = [(">", lo)] if patch is not None else [(">=", upper_partial())]
    elif op == ">=":
        bounds = [(">=", lo)]
    elif op == "<":
        bounds = [("<", lo)]
    elif op == "<=":
        bounds = [("<=", lo)] if patch is not None else [("<", upper_partial())]
    elif op == "~":
        bounds = [(">=", lo), ("<", upper_partial())]
    else:  # "^"
        if major > 0 or minor is None:
            upper = v(major + 1, 0, 0)
        elif minor > 0 or patch is None:
            upper = v(0, minor + 1, 0)
        else:
            upper = v(0, 0, patch + 1)
        bounds = [(">=", lo), ("<", upper)]
    # Cargo's pre-release rule compares the comparator's major.minor.patch as written.
    return bounds, bool(pre), (major, minor or 0, patch or 0)


def cargo_matches(version: str, requirement: str) -> bool:
    ver = parse_semver(version)
    if ver is None:
        raise ValueError(f"bad crate version {version!r}")
    pre_allowed = not ver[3]
    for comp in requirement.split(","):
        bounds, has_pre, mmp = cargo_comparator(comp)
        for op, bound in bounds:
            c = (semver_key(ver) > semver_key(bound)) - (semver_key(ver) < semver_key(bound))
            ok = {"=": c == 0, ">": c > 0, ">=": c >= 0, "<": c < 0, "<=": c <= 0}[op]
            if not ok:
                return False
        if has_pre and mmp == ver[:3]:
            pre_allowed = True
    return pre_allowed


# ---------------------------------------------------------------------------------------
# apk version order (rule A1), minimal
# ---------------------------------------------------------------------------------------

APK_SUFFIX_ORDER = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "": 4,
                    "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}
APK_RE = re.compile(r"^(\d+(?:\.\d+)*)([a-z]?)((?:_[a-z]+\d*)*)(?:~[0-9a-f]+)?(?:-r(\d+))?$")


def apk_key(v: str):
    m = APK_RE.match(v)
    if not m:
        return None
    nums = tuple(int(x) for x in m.group(1).split("."))
    suffixes = []
    for s in re.findall(r"_([a-z]+)(\d*)", m.group(3)):
        if s[0] not in APK_SUFFIX_ORDER:
            return None
        suffixes.append((APK_SUFFIX_ORDER[s[0]], int(s[1] or 0)))
    suffixes.append((APK_SUFFIX_ORDER[""], 0))  # end marker: release sorts above alpha..rc
    return (nums, m.group(2), tuple(suffixes), int(m.group(4) or 0))


# ---------------------------------------------------------------------------------------
# Feeds
# ---------------------------------------------------------------------------------------

def tar_members(path: Path):
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile():
                yield member.name, lambda m=member, t=tar: t.extractfile(m).read()


def one_tarball(folder: Path) -> Path:
    found = sorted(folder.glob("*.tar.gz"))
    if len(found) != 1:
        sys.exit(f"reference_match.py: expected one tarball in {folder}, found {found}")
    return found[0]


def osv_records(vulndata: Path, pypi_names: set[str]) -> list[dict]:
    records = []
    for sub in ("debian-osv-bookworm-subset/records", "ghsa-npm-subset/records"):
        for f in sorted((vulndata / sub).glob("*.json")):
            records.append(json.loads(f.read_text()))
    for name, read in tar_members(one_tarball(vulndata / "go-vulndb")):
        if "/data/osv/" in name and name.endswith(".json"):
            records.append(json.loads(read()))
    # PyPA: only the folders vulns/<name>/ of PyPI packages in the image.
    for name, read in tar_members(one_tarball(vulndata / "pypa-advisory-database")):
        parts = name.split("/")
        if (len(parts) == 4 and parts[1] == "vulns" and pep503(parts[2]) in pypi_names
                and parts[3].endswith((".yaml", ".yml"))):
            records.append(yaml.safe_load(read()))
    return [r for r in records if not r.get("withdrawn")]


def nswg_advisories(vulndata: Path, npm_names: set[str]) -> list[dict]:
    out = []
    for name, read in tar_members(one_tarball(vulndata / "nodejs-security-wg")):
        if re.search(r"/vuln/npm/\d+\.json$", name):
            adv = json.loads(read())
            if adv.get("module_name") in npm_names:
                out.append(adv)
    return out


def rustsec_advisories(vulndata: Path, crate_names: set[str]) -> list[dict]:
    out = []
    for name, read in tar_members(one_tarball(vulndata / "rustsec-advisory-db")):
        parts = name.split("/")
        if len(parts) == 4 and parts[1] == "crates" and parts[3].endswith(".md"):
            if parts[2] not in crate_names:
                continue
            text = read().decode()
            m = re.match(r"\s*```toml\n(.*?)\n```", text, re.S)
            if not m:
                warn(f"{name}: no TOML front matter")
                continue
            out.append(tomllib.loads(m.group(1)))
    return out


def alpine_secdb(vulndata: Path, branch: str) -> list[dict]:
    out = []
    for name, read in tar_members(one_tarball(vulndata / "alpine-secdb")):
        parts = name.split("/")
        if len(parts) == 3 and parts[1] == branch and parts[2].endswith(".yaml"):
            out.extend((yaml.safe_load(read()) or {}).get("packages") or [])
    return out


# ---------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------

def strip_go(v: str) -> str:
    if v.startswith("go"):
        return v[2:]
    if v.startswith("v"):
        return v[1:]
    return v


def debian_ecosystem(entry: dict) -> str:
    dist = entry["dist"]
    if entry["ecosystem"] == "Debian":
        return "Debian:" + (dist.get("version_id") or "").split(".")[0]
    return "Ubuntu:" + (dist.get("version_id") or "")


def match(report: dict, vulndata: Path, node_modules: Path | None):
    entries = image_packages(report)
    findings = set()  # (package id, advisory id, name, version)
    by_eco = defaultdict(set)

    def add(entry, advisory):
        pkg = entry["pkg"]
        findings.add((entry["id"], advisory, pkg["name"], pkg["version"]))
        by_eco[entry["ecosystem"]].add((entry["id"], advisory))

    node = NodeSemver(node_modules)
    dpkg = Dpkg()

    # --- OSV candidates: (entry, match version, record id, affected entry, ecosystem) ---
    pypi_names = {pep503(e["pkg"]["name"]) for e in entries if e["ecosystem"] == "PyPI"}
    records = osv_records(vulndata, pypi_names)
    index = defaultdict(list)  # (osv ecosystem, name) -> [(record id, affected)]
    for rec in records:
        for aff in rec.get("affected") or []:
            p = aff.get("package") or {}
            eco, name = p.get("ecosystem", ""), p.get("name", "")
            if eco == "PyPI":
                name = pep503(name)
            index[(eco, name)].append((rec["id"], aff))

    candidates = []
    for e in entries:
        pkg = e["pkg"]
        if e["ecosystem"] in ("Debian", "Ubuntu"):
            name, version = source_of(pkg)
            key = (debian_ecosystem(e), name)
        elif e["ecosystem"] == "PyPI":
            key, version = ("PyPI", pep503(pkg["name"])), pkg["version"]
        elif e["ecosystem"] == "Go":
            key, version = ("Go", pkg["name"]), strip_go(pkg["version"])
        elif e["ecosystem"] in ("npm", "crates.io"):
            key, version = (e["ecosystem"], pkg["name"]), pkg["version"]
        else:
            continue  # Alpine has no OSV data here; Maven etc. have no recorded feed
        for rec_id, aff in index.get(key, []):
            candidates.append((e, version, rec_id, aff))

    # Batch every comparison the OSV evaluation may need, per order.
    node_pairs, dpkg_pairs = set(), set()
    for e, version, _, aff in candidates:
        if e["ecosystem"] in ("npm", "crates.io", "Go"):
            node_pairs |= osv_versions_needed(version, aff)
        elif e["ecosystem"] in ("Debian", "Ubuntu"):
            dpkg_pairs |= osv_versions_needed(version, aff)

    # --- Node.js Security WG queries ---
    npm_entries = [e for e in entries if e["ecosystem"] == "npm"]
    nswg = nswg_advisories(vulndata, {e["pkg"]["name"] for e in npm_entries})
    satisfies_q = set()
    for adv in nswg:
        for e in npm_entries:
            if e["pkg"]["name"] == adv["module_name"]:
                satisfies_q.add((e["pkg"]["version"], adv.get("vulnerable_versions") or ""))
                if adv.get("patched_versions"):
                    satisfies_q.add((e["pkg"]["version"], adv["patched_versions"]))

    node.run(node_pairs, satisfies_q)
    dpkg.run(dpkg_pairs)

    for e, version, rec_id, aff in candidates:
        eco = e["ecosystem"]
        if eco == "PyPI":
            cmp = pypi_cmp

            def same(a, b):
                return pypi_cmp(a, b) == 0
        elif eco in ("Debian", "Ubuntu"):
            cmp = dpkg.cmp

            def same(a, b):
                return a == b
        else:
            cmp = node.cmp

            def same(a, b):
                return a == b
        if osv_affects(version, aff, cmp, same):
            add(e, rec_id)

    for adv in nswg:
        for e in npm_entries:
            if e["pkg"]["name"] != adv["module_name"]:
                continue
            v = e["pkg"]["version"]
            vulnerable = node.satisfies(v, adv.get("vulnerable_versions") or "")
            if vulnerable is None:
                warn(f"npm version {v!r} is not SemVer: matches nothing")
                continue
            patched = bool(adv.get("patched_versions")) and node.satisfies(
                v, adv["patched_versions"])
            if vulnerable and not patched:
                add(e, f"NSWG-ECO-{adv['id']}")

    # --- RustSec ---
    crate_entries = [e for e in entries if e["ecosystem"] == "crates.io"]
    for adv in rustsec_advisories(vulndata, {e["pkg"]["name"] for e in crate_entries}):
        meta, versions = adv["advisory"], adv.get("versions") or {}
        if meta.get("withdrawn"):
            continue
        if meta.get("informational") and meta["informational"] != "unsound":
            continue
        reqs = list(versions.get("patched") or []) + list(versions.get("unaffected") or [])
        for e in crate_entries:
            if e["pkg"]["name"] != meta["package"]:
                continue
            try:
                safe = any(cargo_matches(e["pkg"]["version"], r) for r in reqs)
            except ValueError as err:
                warn(f"{meta['id']}: {err}: matches nothing")
                continue
            if not safe:
                add(e, meta["id"])

    # --- Alpine secdb ---
    alpine_entries = [e for e in entries if e["ecosystem"] == "Alpine"]
    branches = defaultdict(list)
    for e in alpine_entries:
        vid = (e["dist"].get("version_id") or "").split(".")
        branches["v" + ".".join(vid[:2])].append(e)
    for branch, es in branches.items():
        for item in alpine_secdb(vulndata, branch):
            pkg_name = (item.get("pkg") or {}).get("name")
            secfixes = (item.get("pkg") or {}).get("secfixes") or {}
            for e in es:
                name, version = source_of(e["pkg"])
                if name != pkg_name:
                    continue
                have = apk_key(version)
                if have is None:
                    warn(f"apk version {version!r} not understood: matches nothing")
                    continue
                for fixed, ids in secfixes.items():
                    fixed = str(fixed)
                    if fixed == "0":
                        continue
                    want = apk_key(fixed)
                    if want is None:
                        warn(f"apk fixed version {fixed!r} not understood: skipped")
                        continue
                    if have < want:
                        for id_text in ids or []:
                            for advisory in str(id_text).split():
                                add(e, advisory)

    out = sorted({(name, version, adv) for (_, adv, name, version) in findings})
    return [{"package": n, "version": v, "advisory": a} for n, v, a in out], by_eco


def default_node_modules() -> Path | None:
    repo = Path(__file__).resolve().parents[4]
    preferred = repo / "dev" / "oracles" / "node_modules"
    if (preferred / "semver" / "package.json").is_file():
        return preferred
    for found in sorted((repo / "dev").glob("**/node_modules/semver/package.json")):
        return found.parent.parent
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vulndata", required=True, type=Path)
    ap.add_argument("--index-report", required=True, type=Path)
    ap.add_argument("--node-modules", type=Path, default=None,
                    help="folder holding node's semver package (default: dev/oracles/node_modules)")
    ap.add_argument("--summary", action="store_true",
                    help="print finding counts per ecosystem to stderr")
    args = ap.parse_args()
    node_modules = args.node_modules or default_node_modules()
    findings, by_eco = match(load_report(args.index_report), args.vulndata, node_modules)
    json.dump(findings, sys.stdout, indent=1)
    sys.stdout.write("\n")
    if args.summary:
        for eco in sorted(by_eco):
            print(f"{eco}: {len(by_eco[eco])}", file=sys.stderr)
        print(f"total: {len(findings)} findings", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
