#!/usr/bin/env python3
"""Validates SBOMs that berth wrote against the official schemas, offline.

    dev/validate-sbom.py --cyclonedx bom.cdx.json --spdx bom.spdx.json

Each option may be given more than once. Exit status: 0 all valid, 1 some document invalid (the
errors on stderr), 3 a schema or validator is not installed (dev/install-test-deps.sh installs
them), so a caller can tell "invalid" from "cannot check".

The schemas are read from installed PyPI packages, never from the berth repository:
- CycloneDX 1.5: the official schema and the two it references, shipped in
  cyclonedx-python-lib (CycloneDX's own Python library) under cyclonedx/schema/_res/;
- SPDX 2.3: spdx-tools (the SPDX project's own Python tools) parses the document and runs its
  full SPDX-2.3 validation (SPDXID syntax, references that resolve, purl and CPE locators,
  creators, dates); it ships no JSON schema, so the document is also checked against SPDX's
  JSON schema as copied into lib4sbom (lib4sbom/schemas/spdx/2.3-schema.json, the spdx-spec
  schema with one stricter snippet rule that berth's documents do not touch).
Every purl in either format must also parse with packageurl-python, the purl project's
reference implementation.
"""

import argparse
import json
import sys

MISSING = 3  # not 2, which python3 and argparse use for their own usage errors


def missing(what, err):
    print(f"validate-sbom: {what} is not installed ({err}); run dev/install-test-deps.sh", file=sys.stderr)
    sys.exit(MISSING)


try:
    from importlib.resources import files

    from jsonschema import Draft7Validator
    from packageurl import PackageURL
    from referencing import Registry
    from referencing.jsonschema import DRAFT7
except ImportError as e:
    missing("jsonschema / referencing / packageurl-python", e)


def resource(package, path):
    try:
        f = files(package).joinpath(path)
    except ModuleNotFoundError as e:
        missing(f"the Python package {package}", e)
    if not f.is_file():
        missing(f"{path} in the Python package {package}", "file not found")
    return json.loads(f.read_text(encoding="utf-8"))


def schema_errors(schema, doc, registry=None):
    kwargs = {"format_checker": Draft7Validator.FORMAT_CHECKER}
    if registry is not None:
        kwargs["registry"] = registry
    v = Draft7Validator(schema, **kwargs)
    return [
        f"schema: at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def purl_errors(purls):
    out = []
    for where, p in purls:
        try:
            PackageURL.from_string(p)
        except ValueError as e:
            out.append(f"purl: {where}: {p!r}: {e}")
    return out


def validate_cyclonedx(doc):
    res = "schema/_res/"
    schema = resource("cyclonedx", res + "bom-1.5.SNAPSHOT.schema.json")
    if schema.get("$id") != "http://cyclonedx.org/schema/bom-1.5.schema.json":
        missing("the CycloneDX 1.5 schema", f"unexpected $id {schema.get('$id')!r}")
    # The schema refers to these by relative URI, resolved against its $id.
    registry = Registry().with_resources(
        (f"http://cyclonedx.org/schema/{name}", DRAFT7.create_resource(resource("cyclonedx", res + name)))
        for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json")
    )
    errors = schema_errors(schema, doc, registry)
    if not isinstance(doc, dict):
        return errors or ["not a JSON object"]
    if doc.get("specVersion") != "1.5":
        errors.append(f"specVersion is {doc.get('specVersion')!r}, not '1.5'")
    # What the schema cannot say: bom-refs unique, the dependency graph refers to known refs,
    # purls parse. Defensive: the document may be schema-invalid too.
    components = [c for c in objects(doc.get("components")) + [objects(doc.get("metadata"), "component")] if c]
    seen = set()
    for r in [c["bom-ref"] for c in components if isinstance(c.get("bom-ref"), str)]:
        if r in seen:
            errors.append(f"bom-ref {r!r} is not unique")
        seen.add(r)
    for d in objects(doc.get("dependencies")):
        for r in [d.get("ref")] + (d.get("dependsOn") if isinstance(d.get("dependsOn"), list) else []):
            if r not in seen:
                errors.append(f"dependencies: unknown ref {r!r}")
    purls = [(c.get("bom-ref", c.get("name")), c["purl"]) for c in components if isinstance(c.get("purl"), str)]
    return errors + purl_errors(purls)


def objects(value, key=None):
    """The dicts in a list, or with key, value[key] when value is a dict: tolerant of any JSON."""
    if key is not None:
        return value.get(key) if isinstance(value, dict) and isinstance(value.get(key), dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def validate_spdx(doc, path):
    schema = resource("lib4sbom", "schemas/spdx/2.3-schema.json")
    if schema.get("$id") != "http://spdx.org/rdf/terms/2.3":
        missing("the SPDX 2.3 schema", f"unexpected $id {schema.get('$id')!r}")
    errors = schema_errors(schema, doc)
    if not isinstance(doc, dict):
        return errors or ["not a JSON object"]
    if doc.get("spdxVersion") != "SPDX-2.3":
        errors.append(f"spdxVersion is {doc.get('spdxVersion')!r}, not 'SPDX-2.3'")
    try:
        from spdx_tools.spdx.parser.error import SPDXParsingError
        from spdx_tools.spdx.parser.json import json_parser
        from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    except ImportError as e:
        missing("spdx-tools", e)
    try:
        parsed = json_parser.parse_from_file(path)
    except SPDXParsingError as e:
        errors.extend(f"spdx-tools: {m}" for m in e.get_messages())
    except Exception as e:  # spdx-tools raises plain errors on some malformed input
        errors.append(f"spdx-tools: {type(e).__name__}: {e}")
    else:
        errors.extend(f"spdx-tools: {m.validation_message}" for m in validate_full_spdx_document(parsed, "SPDX-2.3"))
    purls = [
        (p.get("SPDXID"), r.get("referenceLocator"))
        for p in objects(doc.get("packages"))
        for r in objects(p.get("externalRefs"))
        if r.get("referenceType") == "purl" and isinstance(r.get("referenceLocator"), str)
    ]
    return errors + purl_errors(purls)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cyclonedx", action="append", default=[], metavar="FILE", help="a CycloneDX 1.5 JSON BOM")
    ap.add_argument("--spdx", action="append", default=[], metavar="FILE", help="an SPDX 2.3 JSON document")
    args = ap.parse_args()
    if not args.cyclonedx and not args.spdx:
        ap.error("nothing to validate: give --cyclonedx FILE and/or --spdx FILE")
    failed = False
    for kind, path in [("cyclonedx", p) for p in args.cyclonedx] + [("spdx", p) for p in args.spdx]:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            errors = [f"cannot read JSON: {e}"]
        else:
            errors = validate_cyclonedx(doc) if kind == "cyclonedx" else validate_spdx(doc, path)
        if errors:
            failed = True
            print(f"INVALID {kind} {path}: {len(errors)} error(s)", file=sys.stderr)
            for e in errors:
                print(f"  {e}", file=sys.stderr)
        else:
            print(f"valid {kind} {path}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
