//! Java packages from archives: jar, war, ear (and Jenkins' hpi/jpi), nested ones included.
//!
//! Maven writes `META-INF/maven/<groupId>/<artifactId>/pom.properties` into every artifact it
//! builds, and a fat jar or a war keeps those of everything it bundles, so each
//! `pom.properties` is one package, named `groupId:artifactId` as Maven advisories name it.
//! An archive without any falls back to `META-INF/MANIFEST.MF` (`Implementation-Title` and
//! `Implementation-Version`, group from `Implementation-Vendor-Id`), then to the file name
//! (`commons-lang3-3.12.0.jar`), in which case the name has no group.
//!
//! Nested archives (`WEB-INF/lib/*.jar`, `BOOT-INF/lib/*.jar`, `lib/*.jar` in an ear) are read
//! in memory up to [`MAX_DEPTH`] levels; the path of a nested finding is
//! `outer.war!WEB-INF/lib/inner.jar`. Every archive and every entry is bounded, and the total
//! decompressed bytes per top-level archive are capped, so a zip bomb costs a bounded amount.

use std::io::{Cursor, Read as _};

use crate::text::{file_name, lines};
use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package,
};

pub const ID: DetectorId = DetectorId {
    name: "java-archive",
    version: 1,
};

/// Archives larger than this are not read.
pub const MAX_ARCHIVE: u64 = 512 * 1024 * 1024;
/// Entries examined per archive.
const MAX_ENTRIES: usize = 200_000;
/// `pom.properties` and `MANIFEST.MF` are a few KiB.
const MAX_META: u64 = 1024 * 1024;
/// A nested archive read into memory.
const MAX_NESTED: u64 = 128 * 1024 * 1024;
/// Decompressed bytes for one top-level archive, nested ones included.
const MAX_TOTAL: u64 = 1024 * 1024 * 1024;
/// Archive nesting levels (an ear holding a war holding jars is 3).
pub const MAX_DEPTH: usize = 4;
const MAX_FIELD: usize = 512;

const EXTENSIONS: [&str; 6] = [".jar", ".war", ".ear", ".hpi", ".jpi", ".par"];

/// Reads Java archives.
#[derive(Debug, Clone, Copy, Default)]
pub struct JavaArchiveDetector;

/// Whether `name` has a Java archive extension.
pub fn is_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

impl Detector for JavaArchiveDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        is_archive_name(file.path) && file.size <= MAX_ARCHIVE
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        for path in files.paths() {
            if !is_archive_name(path) {
                continue;
            }
            let Some(bytes) = files.read(path) else {
                continue;
            };
            match parse_archive(path, bytes) {
                Ok(ps) => det.findings.extend(ps.into_iter().map(Finding::Package)),
                Err(e) => det.skip(path, e),
            }
        }
        Ok(det)
    }
}

/// The packages in an archive and the archives nested in it.
pub fn parse_archive(path: &str, bytes: &[u8]) -> Result<Vec<Package>, DetectError> {
    DetectError::check_size(path, bytes, MAX_ARCHIVE as usize)?;
    let mut budget = MAX_TOTAL;
    let mut out = Vec::new();
    walk(path, bytes, 1, &mut budget, &mut out)?;
    Ok(out)
}

fn zip_err(path: &str) -> impl FnOnce(zip::result::ZipError) -> DetectError + '_ {
    move |source| DetectError::Zip {
        path: path.to_owned(),
        source,
    }
}

/// Reads one entry fully, within `limit` and the shared budget.
fn read_entry(
    path: &str,
    entry: &mut zip::read::ZipFile<'_, Cursor<&[u8]>>,
    limit: u64,
    budget: &mut u64,
) -> Result<Vec<u8>, DetectError> {
    let cap = limit.min(*budget);
    let mut buf = Vec::new();
    entry
        .take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|source| DetectError::Decompress {
            path: path.to_owned(),
            source,
        })?;
    if buf.len() as u64 > cap {
        return Err(DetectError::TooLarge {
            path: path.to_owned(),
            size: buf.len(),
            limit: cap as usize,
        });
    }
    *budget -= buf.len() as u64;
    Ok(buf)
}

fn walk(
    path: &str,
    bytes: &[u8],
    depth: usize,
    budget: &mut u64,
    out: &mut Vec<Package>,
) -> Result<(), DetectError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_err(path))?;
    if zip.len() > MAX_ENTRIES {
        return Err(DetectError::TooMany {
            path: path.to_owned(),
            what: "archive entries",
            limit: MAX_ENTRIES,
        });
    }
    let mut poms = Vec::new();
    let mut manifest = None;
    let mut nested = Vec::new();
    for i in 0..zip.len() {
        // An entry that cannot be opened (an unsupported compression method, an encrypted
        // entry) is passed over: it is almost never one of the few files looked for.
        let Ok(mut entry) = zip.by_index(i) else {
            continue;
        };
        if entry.is_dir() {
            continue;
        }
        // A name that is not valid UTF-8 (or CP437) cannot be one of the files looked for.
        let Ok(name) = entry.name().map(std::borrow::Cow::into_owned) else {
            continue;
        };
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            poms.push(read_entry(path, &mut entry, MAX_META, budget)?);
        } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
            manifest = Some(read_entry(path, &mut entry, MAX_META, budget)?);
        } else if depth < MAX_DEPTH && is_archive_name(&name) {
            let inner = format!("{path}!{name}");
            // A nested archive that cannot be read does not spoil the outer one.
            if let Ok(b) = read_entry(&inner, &mut entry, MAX_NESTED, budget) {
                nested.push((inner, b));
            }
        }
    }
    let before = out.len();
    for p in &poms {
        if let Some(pkg) = from_pom_properties(path, p)? {
            out.push(pkg);
        }
    }
    if out.len() == before {
        let from_manifest = match &manifest {
            Some(m) => from_manifest(path, m)?,
            None => None,
        };
        if let Some(p) = from_manifest.or_else(|| from_file_name(path)) {
            out.push(p);
        }
    }
    for (inner, b) in nested {
        // Nested archives are reported but an unreadable one is not fatal.
        let _ = walk(&inner, &b, depth + 1, budget, out);
    }
    Ok(())
}

/// `key=value` / `key: value` lines of a Java properties file (no escapes needed for
/// coordinates).
fn properties(path: &str, bytes: &[u8], keys: &[&str]) -> Result<Vec<Option<String>>, DetectError> {
    let mut found = vec![None; keys.len()];
    for line in lines(path, bytes) {
        let line = line?;
        let line = line.trim();
        if line.starts_with(['#', '!']) {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        if let Some(i) = keys.iter().position(|w| *w == k.trim()) {
            let v = v.trim();
            if let Some(slot) = found.get_mut(i)
                && slot.is_none()
                && !v.is_empty()
                && v.len() <= MAX_FIELD
            {
                *slot = Some(v.to_owned());
            }
        }
    }
    Ok(found)
}

fn from_pom_properties(path: &str, bytes: &[u8]) -> Result<Option<Package>, DetectError> {
    let f = properties(path, bytes, &["groupId", "artifactId", "version"])?;
    let (Some(Some(g)), Some(Some(a)), Some(Some(v))) = (f.first(), f.get(1), f.get(2)) else {
        return Ok(None);
    };
    Ok(Some(Package::new(
        format!("{g}:{a}"),
        v,
        Ecosystem::Maven,
        path,
        ID,
    )))
}

/// The main section of a `MANIFEST.MF` (up to the first blank line): `Name: value` lines
/// wrapped at 72 bytes, a continuation line starting with one space.
fn manifest_main_attributes(
    path: &str,
    bytes: &[u8],
    keys: &[&str],
) -> Result<Vec<Option<String>>, DetectError> {
    let mut found: Vec<Option<String>> = vec![None; keys.len()];
    let mut current: Option<usize> = None;
    for line in lines(path, bytes) {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some(slot) = current
                .and_then(|i| found.get_mut(i))
                .and_then(Option::as_mut)
                && slot.len() + more.len() <= MAX_FIELD
            {
                slot.push_str(more);
            }
            continue;
        }
        current = None;
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if let Some(i) = keys.iter().position(|w| w.eq_ignore_ascii_case(k.trim()))
            && let Some(slot) = found.get_mut(i)
            && slot.is_none()
            && v.len() <= MAX_FIELD
        {
            *slot = Some(v.strip_prefix(' ').unwrap_or(v).to_owned());
            current = Some(i);
        }
    }
    Ok(found
        .into_iter()
        .map(|v| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
        .collect())
}

fn from_manifest(path: &str, bytes: &[u8]) -> Result<Option<Package>, DetectError> {
    let f = manifest_main_attributes(
        path,
        bytes,
        &[
            "Implementation-Title",
            "Implementation-Version",
            "Implementation-Vendor-Id",
        ],
    )?;
    let (Some(Some(title)), Some(Some(version))) = (f.first(), f.get(1)) else {
        return Ok(None);
    };
    let name = match f.get(2) {
        Some(Some(group)) => format!("{group}:{title}"),
        _ => title.clone(),
    };
    Ok(Some(Package::new(
        name,
        version,
        Ecosystem::Maven,
        path,
        ID,
    )))
}

/// `commons-lang3-3.12.0.jar` → `commons-lang3` `3.12.0`: the version starts at the last
/// `-` followed by a digit.
fn from_file_name(path: &str) -> Option<Package> {
    let inner = path.rsplit('!').next().unwrap_or(path);
    let name = file_name(inner);
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    let bytes = stem.as_bytes();
    let at = (0..bytes.len().saturating_sub(1)).rev().find(|&i| {
        bytes.get(i) == Some(&b'-') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
    })?;
    let (n, v) = (stem.get(..at)?, stem.get(at + 1..)?);
    (!n.is_empty() && !v.is_empty()).then(|| Package::new(n, v, Ecosystem::Maven, path, ID))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn pom_manifest_and_nesting() {
        let inner = jar(&[(
            "META-INF/maven/org.apache.commons/commons-lang3/pom.properties",
            b"#Created by Apache Maven 3.8.5\nartifactId=commons-lang3\ngroupId=org.apache.commons\nversion=3.12.0\n",
        )]);
        let bare = jar(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nImplementation-Title: guava\r\nImplementation-Version: 31.1-jre\r\nImplementation-Vendor-Id: com.google.guava\r\n")]);
        let nameonly = jar(&[("a.class", b"\xca\xfe\xba\xbe")]);
        let war = jar(&[
            ("WEB-INF/lib/commons-lang3-3.12.0.jar", &inner),
            ("WEB-INF/lib/guava.jar", &bare),
            ("WEB-INF/lib/jsr305-3.0.2.jar", &nameonly),
            ("WEB-INF/lib/broken.jar", b"not a zip"),
        ]);
        let ps = parse_archive("app/app.war", &war).unwrap();
        let got: Vec<_> = ps
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "org.apache.commons:commons-lang3",
                    "3.12.0",
                    "app/app.war!WEB-INF/lib/commons-lang3-3.12.0.jar"
                ),
                (
                    "com.google.guava:guava",
                    "31.1-jre",
                    "app/app.war!WEB-INF/lib/guava.jar"
                ),
                (
                    "jsr305",
                    "3.0.2",
                    "app/app.war!WEB-INF/lib/jsr305-3.0.2.jar"
                ),
            ]
        );
    }

    #[test]
    fn manifest_continuation_lines() {
        // Wrapped at 72 bytes as the jar tool writes it; the per-entry section is ignored.
        let m = b"Manifest-Version: 1.0\r\nImplementation-Title: spring-boot-starter-web-services-extra-long-na\r\n me\r\nImplementation-Version: 2.7.18\r\n\r\nName: x/\r\nImplementation-Version: 9\r\n";
        let p = from_manifest("x.jar", m).unwrap().unwrap();
        assert_eq!(p.name, "spring-boot-starter-web-services-extra-long-name");
        assert_eq!(p.version, "2.7.18");
    }

    #[test]
    fn malformed() {
        assert!(parse_archive("x.jar", b"PK\x03\x04garbage").is_err());
        assert!(parse_archive("x.jar", &[]).is_err());
        // A bomb-ish entry: a MANIFEST over the limit is an error, not an allocation.
        let big = vec![b'a'; (MAX_META + 10) as usize];
        let j = jar(&[("META-INF/MANIFEST.MF", &big)]);
        assert!(matches!(
            parse_archive("x.jar", &j),
            Err(DetectError::TooLarge { .. })
        ));
        assert!(from_file_name("lib/noversion.jar").is_none());
        // Deep nesting stops at MAX_DEPTH.
        let mut a = jar(&[(
            "META-INF/maven/g/a/pom.properties",
            b"groupId=g\nartifactId=a\nversion=1\n",
        )]);
        for _ in 0..MAX_DEPTH + 2 {
            a = jar(&[("inner.jar", &a)]);
        }
        let ps = parse_archive("deep.jar", &a).unwrap();
        assert!(ps.iter().all(|p| p.name != "g:a"));
    }
}
