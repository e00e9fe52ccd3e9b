//! SBOM export: an image's [`IndexReport`] as a CycloneDX 1.5 or SPDX 2.3 JSON document, the
//! two formats that supply-chain tools (Dependency-Track, grype, GUAC, license scanners) read,
//! so what berth's indexer found can leave berth without a Clair-specific client.
//!
//! ```text
//! CycloneDX 1.5                         SPDX 2.3
//!   metadata.component  the image         package SPDXRef-Image (CONTAINER), DESCRIBES
//!   components          os + libraries    packages (OPERATING_SYSTEM, LIBRARY), image CONTAINS
//!   dependencies        image -> all      relationships
//! ```
//!
//! Every package gets a package URL: the report's own ([`IndexReport::purl`]), or
//! `pkg:generic/...` for a package whose ecosystem the report cannot tell, so a consumer that
//! keys on purls never meets a package without one. Where a package was found (its package
//! database and the layer that introduced it) goes into `berth:*` properties (CycloneDX) or
//! `sourceInfo` (SPDX); an OS package's source package goes there too, as well as into its
//! purl's `upstream` qualifier.
//!
//! Pure and deterministic: no I/O, no clock, no randomness. The caller passes the creation
//! time; the document identifiers (CycloneDX `serialNumber`, SPDX `documentNamespace`) are
//! hashed from the manifest digest, that time and the image name, so exporting the same report
//! twice gives byte-identical documents, which makes them diffable and cacheable.

use std::collections::BTreeSet;

use berth_domain::time;
use berth_report::{Distribution, Ecosystem, Environment, IndexReport, Package};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// What the SBOM says about itself, beyond the report: the report knows the image only by its
/// manifest digest, and a pure function cannot read the clock.
#[derive(Debug, Clone, Copy)]
pub struct SbomInfo<'a> {
    /// The image reference as the user wrote it (`registry:5000/team/app:1.2`): the name a
    /// reader recognises, and the source of the image's `pkg:oci` purl.
    pub name: &'a str,
    /// RFC 3339. Written as UTC without fractional seconds, the only form SPDX accepts.
    pub created: &'a str,
    /// berth's version, credited as the creating tool.
    pub tool_version: &'a str,
}

/// The CycloneDX 1.5 JSON BOM of the image.
pub fn cyclonedx(report: &IndexReport, info: &SbomInfo) -> Value {
    let created = utc_seconds(info.created).unwrap_or_else(|| info.created.to_owned());
    let image_ref = format!("berth:image:{}", report.manifest_hash);

    let mut image = Map::new();
    image.insert("type".into(), "container".into());
    image.insert("bom-ref".into(), image_ref.clone().into());
    image.insert("name".into(), info.name.into());
    if !report.manifest_hash.is_empty() {
        image.insert("version".into(), report.manifest_hash.clone().into());
    }
    if let Some(h) = digest_hash(&report.manifest_hash) {
        image.insert(
            "hashes".into(),
            json!([{ "alg": h.cyclonedx, "content": h.hex }]),
        );
    }
    if let Some(purl) = image_purl(info.name, &report.manifest_hash) {
        image.insert("purl".into(), purl.into());
    }

    let mut components = Vec::new();
    for (id, d) in distributions(report) {
        let mut c = Map::new();
        c.insert("type".into(), "operating-system".into());
        c.insert("bom-ref".into(), format!("berth:distribution:{id}").into());
        c.insert("name".into(), os_name(d).into());
        if !os_version(d).is_empty() {
            c.insert("version".into(), os_version(d).into());
        }
        if !d.pretty_name.is_empty() {
            c.insert("description".into(), d.pretty_name.clone().into());
        }
        if !d.cpe.is_empty() {
            c.insert("cpe".into(), d.cpe.clone().into());
        }
        components.push(Value::Object(c));
    }
    for e in entries(report) {
        let p = e.package;
        let mut c = Map::new();
        c.insert("type".into(), "library".into());
        c.insert("bom-ref".into(), package_ref(e.id).into());
        c.insert("name".into(), p.name.clone().into());
        if !p.version.is_empty() {
            c.insert("version".into(), p.version.clone().into());
        }
        if !p.cpe.is_empty() {
            c.insert("cpe".into(), p.cpe.clone().into());
        }
        c.insert("purl".into(), e.purl.clone().into());
        // Properties may repeat a name (the spec says so): one pair per place the package was
        // found, in the report's order.
        let mut props = vec![property("berth:package_id", e.id)];
        for env in e.envs {
            props.push(property("berth:package_db", &env.package_db));
            props.push(property("berth:layer", &env.introduced_in));
        }
        if let Some(src) = &p.source {
            props.push(property("berth:source_package", &src.name));
            if !src.version.is_empty() {
                props.push(property("berth:source_version", &src.version));
            }
        }
        c.insert("properties".into(), Value::Array(props));
        components.push(Value::Object(c));
    }

    // The graph must list every component, with no dependencies when berth knows of none: an
    // absent component would read as "dependencies unknown".
    let refs: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();
    let mut dependencies = vec![json!({ "ref": image_ref, "dependsOn": refs })];
    dependencies.extend(refs.iter().map(|r| json!({ "ref": r, "dependsOn": [] })));

    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", document_uuid("cyclonedx", report, &created, info.name)),
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {
                "components": [{ "type": "application", "name": "berth", "version": info.tool_version }]
            },
            "component": image,
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// The SPDX 2.3 JSON document of the image.
pub fn spdx(report: &IndexReport, info: &SbomInfo) -> Value {
    let created = utc_seconds(info.created).unwrap_or_else(|| info.created.to_owned());
    let mut ids = SpdxIds::default();
    let image_id = ids.unique("SPDXRef-Image");

    let mut image = Map::new();
    image.insert("SPDXID".into(), image_id.clone().into());
    image.insert("name".into(), info.name.into());
    if !report.manifest_hash.is_empty() {
        image.insert("versionInfo".into(), report.manifest_hash.clone().into());
    }
    image.insert("downloadLocation".into(), "NOASSERTION".into());
    image.insert("filesAnalyzed".into(), false.into());
    if let Some(h) = digest_hash(&report.manifest_hash) {
        image.insert(
            "checksums".into(),
            json!([{ "algorithm": h.spdx, "checksumValue": h.hex }]),
        );
    }
    if let Some(purl) = image_purl(info.name, &report.manifest_hash) {
        image.insert("externalRefs".into(), json!([purl_ref(&purl)]));
    }
    image.insert("primaryPackagePurpose".into(), "CONTAINER".into());

    let mut packages = vec![Value::Object(image)];
    for (_, d) in distributions(report) {
        let id = ids.unique(&format!(
            "SPDXRef-{}",
            idstring(&["OperatingSystem", os_name(d), os_version(d)])
        ));
        let mut p = Map::new();
        p.insert("SPDXID".into(), id.into());
        p.insert("name".into(), os_name(d).into());
        if !os_version(d).is_empty() {
            p.insert("versionInfo".into(), os_version(d).into());
        }
        p.insert("downloadLocation".into(), "NOASSERTION".into());
        p.insert("filesAnalyzed".into(), false.into());
        if !d.pretty_name.is_empty() {
            p.insert("description".into(), d.pretty_name.clone().into());
        }
        if let Some(r) = cpe_ref(&d.cpe) {
            p.insert("externalRefs".into(), json!([r]));
        }
        p.insert("primaryPackagePurpose".into(), "OPERATING_SYSTEM".into());
        packages.push(Value::Object(p));
    }
    for e in entries(report) {
        let pkg = e.package;
        let eco = e.ecosystem.map_or("generic", Ecosystem::purl_type);
        let id = ids.unique(&format!(
            "SPDXRef-{}",
            idstring(&["Package", eco, &pkg.name, &pkg.version])
        ));
        let mut p = Map::new();
        p.insert("SPDXID".into(), id.into());
        p.insert("name".into(), pkg.name.clone().into());
        if !pkg.version.is_empty() {
            p.insert("versionInfo".into(), pkg.version.clone().into());
        }
        p.insert("downloadLocation".into(), "NOASSERTION".into());
        p.insert("filesAnalyzed".into(), false.into());
        if let Some(s) = source_info(pkg, e.envs) {
            p.insert("sourceInfo".into(), s.into());
        }
        let mut refs = vec![purl_ref(&e.purl)];
        refs.extend(cpe_ref(&pkg.cpe));
        p.insert("externalRefs".into(), Value::Array(refs));
        p.insert("primaryPackagePurpose".into(), "LIBRARY".into());
        packages.push(Value::Object(p));
    }

    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", &image_id)];
    for p in &packages[1..] {
        relationships.push(relationship(
            &image_id,
            "CONTAINS",
            p["SPDXID"].as_str().unwrap_or_default(),
        ));
    }

    let tool = if info.tool_version.is_empty() {
        "Tool: berth".to_owned()
    } else {
        format!("Tool: berth-{}", info.tool_version)
    };
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": info.name,
        // SPDX's recommended form for a creator without a website of its own; it only has to
        // be unique, nobody fetches it.
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/{}-{}",
            idstring(&["berth", info.name]),
            document_uuid("spdx", report, &created, info.name)
        ),
        "creationInfo": { "created": created, "creators": [tool] },
        // Said twice on purpose: older readers look only at documentDescribes, newer ones only
        // at the DESCRIBES relationship.
        "documentDescribes": [image_id],
        "packages": packages,
        "relationships": relationships,
    })
}

/// One package of the report with what both formats need about it.
struct Entry<'a> {
    id: &'a str,
    package: &'a Package,
    ecosystem: Option<Ecosystem>,
    purl: String,
    envs: &'a [Environment],
}

/// The report's packages in purl order (so by ecosystem, then name), the id breaking ties
/// between copies of one package found in several places.
fn entries(report: &IndexReport) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry> = report
        .packages
        .iter()
        .map(|(id, package)| {
            let ecosystem = report.ecosystem(id);
            Entry {
                id,
                package,
                ecosystem,
                purl: report
                    .purl(id)
                    .unwrap_or_else(|| generic_purl(&package.name, &package.version)),
                envs: report.environments.get(id).map_or(&[], Vec::as_slice),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.purl, a.id).cmp(&(&b.purl, b.id)));
    out
}

fn distributions(report: &IndexReport) -> Vec<(&str, &Distribution)> {
    let mut out: Vec<(&str, &Distribution)> = report
        .distributions
        .iter()
        .map(|(id, d)| (id.as_str(), d))
        .collect();
    out.sort_by(|a, b| {
        (os_name(a.1), os_version(a.1), a.0).cmp(&(os_name(b.1), os_version(b.1), b.0))
    });
    out
}

/// os-release's machine-readable `ID` (`debian`) and `VERSION_ID` (`12`), which is what
/// scanners match on; the human names go into the description.
fn os_name(d: &Distribution) -> &str {
    if d.did.is_empty() { &d.name } else { &d.did }
}

fn os_version(d: &Distribution) -> &str {
    if d.version_id.is_empty() {
        &d.version
    } else {
        &d.version_id
    }
}

/// Keyed by the report's package id: unique by construction, and what other berth output (the
/// vulnerability report) names the package by.
fn package_ref(id: &str) -> String {
    format!("berth:package:{id}")
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({ "spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to })
}

fn purl_ref(purl: &str) -> Value {
    json!({ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl })
}

/// Where the package was found and what it was built from, for SPDX, which has no free-form
/// properties.
fn source_info(p: &Package, envs: &[Environment]) -> Option<String> {
    let mut parts: Vec<String> = envs
        .iter()
        .map(|e| {
            format!(
                "acquired package info from {}, introduced by layer {}",
                e.package_db, e.introduced_in
            )
        })
        .collect();
    if let Some(src) = &p.source {
        parts.push(format!(
            "built from source package {} {}",
            src.name, src.version
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// An SPDX `SECURITY` reference for a CPE, only when it has the shape SPDX's validators
/// accept: a malformed CPE (os-release files are free text) would make the whole document
/// invalid, and CycloneDX's free-form `cpe` field keeps it anyway.
fn cpe_ref(cpe: &str) -> Option<Value> {
    let kind = if is_cpe22(cpe) {
        "cpe22Type"
    } else if is_cpe23(cpe) {
        "cpe23Type"
    } else {
        return None;
    };
    Some(json!({ "referenceCategory": "SECURITY", "referenceType": kind, "referenceLocator": cpe }))
}

/// `cpe:/o:redhat:enterprise_linux:9::baseos`: a part letter, then at most six components.
fn is_cpe22(cpe: &str) -> bool {
    let Some(rest) = cpe.strip_prefix("cpe:/") else {
        return false;
    };
    let rest = rest.strip_prefix(['a', 'h', 'o']).unwrap_or(rest);
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix(':') else {
        return false;
    };
    let fields: Vec<&str> = rest.split(':').collect();
    fields.len() <= 6
        && fields.iter().all(|f| {
            f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-~%".contains(&b))
        })
}

/// `cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*`, restricted to unescaped values: escaped
/// ones are legal but rare, and not worth a full CPE grammar here.
fn is_cpe23(cpe: &str) -> bool {
    let Some(rest) = cpe.strip_prefix("cpe:2.3:") else {
        return false;
    };
    let fields: Vec<&str> = rest.split(':').collect();
    let plain = |f: &str| {
        f == "*"
            || f == "-"
            || (!f.is_empty()
                && f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)))
    };
    fields.len() == 11
        && matches!(fields[0], "a" | "h" | "o" | "*" | "-")
        && fields[1..6].iter().all(|f| plain(f))
        && (matches!(fields[6], "*" | "-")
            || (2..=3).contains(&fields[6].len())
                && fields[6].bytes().all(|b| b.is_ascii_alphabetic()))
        && fields[7..].iter().all(|f| plain(f))
}

/// `parts` joined by `-` as an SPDX idstring, which may hold only letters, digits, `.` and `-`:
/// each run of anything else becomes one `-`, so ids stay readable (`npm-babel-core-7.23.0`).
fn idstring(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        for c in part.chars().chain(['-']) {
            if c.is_ascii_alphanumeric() || c == '.' {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
    }
    out.truncate(out.trim_end_matches('-').len());
    out
}

/// SPDXIDs handed out so far. Sanitising folds different names together (`a b`, `a_b`), so a
/// taken id gets a counter appended.
#[derive(Default)]
struct SpdxIds(BTreeSet<String>);

impl SpdxIds {
    fn unique(&mut self, base: &str) -> String {
        if self.0.insert(base.to_owned()) {
            return base.to_owned();
        }
        let id = (2u64..)
            .map(|n| format!("{base}-{n}"))
            .find(|c| !self.0.contains(c))
            .unwrap_or_default();
        self.0.insert(id.clone());
        id
    }
}

/// A manifest digest as a hash both formats accept: algorithm names differ between them, and
/// SPDX wants lower-case hex.
struct Hash {
    cyclonedx: &'static str,
    spdx: &'static str,
    hex: String,
}

fn digest_hash(digest: &str) -> Option<Hash> {
    let (alg, hex) = digest.split_once(':')?;
    let (cyclonedx, spdx, len) = match alg {
        "sha256" => ("SHA-256", "SHA256", 64),
        "sha384" => ("SHA-384", "SHA384", 96),
        "sha512" => ("SHA-512", "SHA512", 128),
        _ => return None,
    };
    (hex.len() == len && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Hash {
        cyclonedx,
        spdx,
        hex: hex.to_ascii_lowercase(),
    })
}

/// The image's purl (`pkg:oci/app@sha256%3A...?repository_url=registry:5000/team/app&tag=1.2`),
/// which is how vulnerability tools and registries name an image. `repository_url` is written
/// only when the reference names a registry: for a short Docker Hub name it would be a guess.
fn image_purl(reference: &str, digest: &str) -> Option<String> {
    let reference = reference.split('@').next().unwrap_or_default();
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match reference[name_start..].rfind(':') {
        Some(i) => (
            &reference[..name_start + i],
            Some(&reference[name_start + i + 1..]),
        ),
        None => (reference, None),
    };
    let name = repository
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    if name.is_empty() {
        return None;
    }
    let mut out = format!("pkg:oci/{}", encode(&name, b""));
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&encode(digest, b""));
    }
    let mut qualifiers = Vec::new();
    let registry = repository.split_once('/').map(|(first, _)| first);
    if registry.is_some_and(|r| r.contains(['.', ':']) || r == "localhost") {
        qualifiers.push(("repository_url", encode(repository, b"/:")));
    }
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        qualifiers.push(("tag", encode(tag, b"")));
    }
    for (i, (k, v)) in qualifiers.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    Some(out)
}

/// For a package whose ecosystem the report cannot tell (no package database or repository it
/// knows): still a valid purl, so every package has one.
fn generic_purl(name: &str, version: &str) -> String {
    let mut out = format!("pkg:generic/{}", encode(name, b""));
    if !version.is_empty() {
        out.push('@');
        out.push_str(&encode(version, b":"));
    }
    out
}

/// Percent-encodes all but the purl spec's unreserved characters and `keep`.
fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A UUID (version 8, RFC 9562's vendor-specific kind) hashed from what identifies the
/// document, instead of a random one, so the output is a function of its input.
fn document_uuid(format: &str, report: &IndexReport, created: &str, name: &str) -> String {
    let mut h = Sha256::new();
    for part in [format, &report.manifest_hash, created, name] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An RFC 3339 time as `YYYY-MM-DDThh:mm:ssZ`: SPDX accepts only that form (UTC, no fraction),
/// and CycloneDX gets the same so both documents state one time. `None` when `t` is not
/// RFC 3339; the caller then writes it unchanged.
fn utc_seconds(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    if offset_minutes == 0 {
        return Some(format!("{}T{}Z", &t[..10], &t[11..19]));
    }
    let secs =
        time::days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset_minutes * 60;
    Some(time::rfc3339(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_become_utc_seconds() {
        assert_eq!(
            utc_seconds("2024-05-06T07:08:09Z").as_deref(),
            Some("2024-05-06T07:08:09Z")
        );
        assert_eq!(
            utc_seconds("2024-05-06t07:08:09.123456z").as_deref(),
            Some("2024-05-06T07:08:09Z")
        );
        assert_eq!(
            utc_seconds("2024-05-06T07:08:09+00:00").as_deref(),
            Some("2024-05-06T07:08:09Z")
        );
        // Across a day, a month and a leap day.
        assert_eq!(
            utc_seconds("2024-03-01T01:30:00+02:00").as_deref(),
            Some("2024-02-29T23:30:00Z")
        );
        assert_eq!(
            utc_seconds("2023-12-31T22:00:00.5-05:30").as_deref(),
            Some("2024-01-01T03:30:00Z")
        );
        for bad in [
            "",
            "yesterday",
            "2024-05-06",
            "2024-13-06T07:08:09Z",
            "2024-05-06T07:08:09",
            "2024-05-06T07:08:09+0200",
        ] {
            assert_eq!(utc_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn spdx_ids_stay_valid_and_unique() {
        assert_eq!(
            idstring(&["a b/c@d\"é.1-2", "", "@x", "日本"]),
            "a-b-c-d-.1-2-x"
        );
        let mut ids = SpdxIds::default();
        assert_eq!(ids.unique("SPDXRef-a-b"), "SPDXRef-a-b");
        assert_eq!(ids.unique("SPDXRef-a-b"), "SPDXRef-a-b-2");
        assert_eq!(ids.unique("SPDXRef-a-b-2"), "SPDXRef-a-b-2-2");
        assert_eq!(ids.unique("SPDXRef-a-b"), "SPDXRef-a-b-3");
    }

    #[test]
    fn image_purls() {
        let d = "sha256:abc";
        assert_eq!(
            image_purl("localhost:5000/Team/App:1.2", d).as_deref(),
            Some("pkg:oci/app@sha256%3Aabc?repository_url=localhost:5000/Team/App&tag=1.2")
        );
        assert_eq!(
            image_purl("registry.example/app@sha256:abc", d).as_deref(),
            Some("pkg:oci/app@sha256%3Aabc?repository_url=registry.example/app")
        );
        assert_eq!(
            image_purl("library/alpine", d).as_deref(),
            Some("pkg:oci/alpine@sha256%3Aabc")
        );
        assert_eq!(
            image_purl("alpine:3.19", "").as_deref(),
            Some("pkg:oci/alpine?tag=3.19")
        );
        assert_eq!(image_purl("", d), None);
    }

    #[test]
    fn cpes() {
        assert!(is_cpe22("cpe:/o:redhat:enterprise_linux:9::baseos"));
        assert!(is_cpe23("cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*"));
        assert!(is_cpe23("cpe:2.3:a:vendor:product:1.0:*:*:en:*:*:*:*"));
        for bad in [
            "",
            "cpe:/o:a b",
            "cpe:2.3:o:debian",
            "cpe:2.3:x:a:b:c:*:*:*:*:*:*:*",
            "redhat",
        ] {
            assert!(cpe_ref(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn digests() {
        let h = digest_hash(&format!("sha256:{}", "AB".repeat(32))).unwrap();
        assert_eq!(
            (h.cyclonedx, h.spdx, h.hex),
            ("SHA-256", "SHA256", "ab".repeat(32))
        );
        assert!(digest_hash("sha256:abc").is_none());
        assert!(digest_hash(&format!("md5:{}", "a".repeat(32))).is_none());
    }
}
