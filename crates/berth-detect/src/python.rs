//! Python packages from installed distributions' metadata.
//!
//! pip, wheels and setuptools leave one metadata file per installed distribution:
//! `<name>-<version>.dist-info/METADATA` (wheels, PEP 376/627), `<name>.egg-info/PKG-INFO`
//! (setuptools' egg-info directory) or a single `<name>.egg-info` file (distutils and Debian's
//! `python3-*` packages). Eggs, setuptools' old binary distributions that `easy_install` put on
//! `sys.path` as they are, keep it in `EGG-INFO/PKG-INFO`: inside the zip file
//! `<name>-<version>-py3.x.egg`, or in a directory of that name when unpacked. All are
//! email-style headers: `Name:` and `Version:` before the first blank line, the long
//! description after it, which is never read.
//!
//! Names are reported as written (`Django`, `PyYAML`); [`normalize_name`] gives the PEP 503
//! form advisories are matched on.

use crate::text::stanzas;
use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package,
};

pub const ID: DetectorId = DetectorId {
    name: "python",
    version: 2,
};

/// Only the headers are parsed; they are the first few KiB of even a huge `METADATA`.
const MAX_HEADER: usize = 256 * 1024;
const MAX_FIELD: usize = 512;
/// Zipped eggs larger than this are not read (the largest real ones, with compiled extensions,
/// are a few tens of MiB).
pub const MAX_EGG: u64 = 256 * 1024 * 1024;
/// The metadata file inside an egg.
const EGG_PKG_INFO: &str = "EGG-INFO/PKG-INFO";

/// Reads Python distribution metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct PythonDetector;

/// Whether `path` is a metadata file this detector reads.
pub fn is_metadata_path(path: &str) -> bool {
    path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
        || path.ends_with(".egg-info")
        || path.ends_with(".egg/EGG-INFO/PKG-INFO")
}

/// Whether `path` names a zipped egg.
pub fn is_egg_path(path: &str) -> bool {
    path.ends_with(".egg")
}

impl Detector for PythonDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        is_metadata_path(file.path) || (is_egg_path(file.path) && file.size <= MAX_EGG)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        for path in files.paths() {
            let parse = if is_metadata_path(path) {
                parse_metadata
            } else if is_egg_path(path) {
                parse_egg
            } else {
                continue;
            };
            let Some(bytes) = files.read(path) else {
                continue;
            };
            match parse(path, bytes) {
                Ok(p) => det.findings.push(Finding::Package(p)),
                Err(e) => det.skip(path, e),
            }
        }
        Ok(det)
    }
}

/// The distribution in a zipped egg, from its `EGG-INFO/PKG-INFO`; the package's path is the
/// egg's.
pub fn parse_egg(path: &str, bytes: &[u8]) -> Result<Package, DetectError> {
    DetectError::check_size(path, bytes, MAX_EGG as usize)?;
    let zip_err = |source| DetectError::Zip {
        path: path.to_owned(),
        source,
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
    let entry = zip.by_name(EGG_PKG_INFO).map_err(zip_err)?;
    let mut head = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(entry, MAX_HEADER as u64),
        &mut head,
    )
    .map_err(|source| DetectError::Decompress {
        path: path.to_owned(),
        source,
    })?;
    parse_metadata(path, &head)
}

/// The distribution described by a `METADATA`/`PKG-INFO` file.
pub fn parse_metadata(path: &str, bytes: &[u8]) -> Result<Package, DetectError> {
    let head = bytes.get(..MAX_HEADER).unwrap_or(bytes);
    let s = stanzas(path, head, &["Name", "Version"], 1, true)?;
    let first = s.first();
    let name = first.and_then(|s| s.get("Name")).unwrap_or("");
    let version = first.and_then(|s| s.get("Version")).unwrap_or("");
    if name.is_empty() || version.is_empty() {
        return Err(DetectError::malformed(path, "no Name or Version header"));
    }
    if name.len() > MAX_FIELD || version.len() > MAX_FIELD {
        return Err(DetectError::malformed(path, "Name or Version is too long"));
    }
    Ok(Package::new(name, version, Ecosystem::PyPI, path, ID))
}

/// The PEP 503 normalized name: lowercase, runs of `-`, `_` and `.` as one `-`
/// (`PyYAML` → `pyyaml`, `zope.interface` → `zope-interface`).
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemFiles;

    #[test]
    fn metadata_headers() {
        // The head of Django 3.2's METADATA.
        let m = b"Metadata-Version: 2.1\nName: Django\nVersion: 3.2\nSummary: A high-level Python Web framework\nLicense: BSD-3-Clause\nRequires-Python: >=3.6\n\nDjango is a high-level Python Web framework.\nVersion: 9.9\n";
        let p = parse_metadata("x/Django-3.2.dist-info/METADATA", m).unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("Django", "3.2"));
        assert_eq!(p.ecosystem, Ecosystem::PyPI);
    }

    #[test]
    fn detector_paths_and_skips() {
        let mut m = MemFiles::new();
        m.insert(
            "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
            b"Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n".to_vec(),
        );
        m.insert(
            "usr/lib/python3/dist-packages/foo.egg-info/PKG-INFO",
            b"Name: foo\nVersion: 2\n".to_vec(),
        );
        m.insert(
            "site-packages/broken-1.dist-info/METADATA",
            b"Name: broken\n".to_vec(),
        );
        m.insert("site-packages/README", b"Name: no\nVersion: 1\n".to_vec());
        let det = PythonDetector.detect(&m).unwrap();
        let got: Vec<_> = det
            .packages()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, vec![("foo", "2"), ("six", "1.16.0")]);
        assert_eq!(det.skipped.len(), 1);
        assert!(!PythonDetector.wants(&Candidate::file("site-packages/x.dist-info/RECORD", 1)));
    }

    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write as _;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn eggs_zipped_and_unpacked() {
        let mut m = MemFiles::new();
        m.insert(
            "usr/lib/python3/site-packages/six-1.16.0-py3.11.egg",
            zip(&[
                ("six.py", b"# six"),
                (
                    "EGG-INFO/PKG-INFO",
                    b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n\nbody\n",
                ),
            ]),
        );
        m.insert(
            "opt/lib/attrs-17.4.0-py2.7.egg/EGG-INFO/PKG-INFO",
            b"Metadata-Version: 1.1\nName: attrs\nVersion: 17.4.0\n".to_vec(),
        );
        m.insert("opt/lib/no-metadata-1.0-py3.11.egg", zip(&[("x.py", b"")]));
        m.insert(
            "opt/lib/not-a-zip-1.0-py3.11.egg",
            b"PK\x03\x04junk".to_vec(),
        );
        let det = PythonDetector.detect(&m).unwrap();
        let got: Vec<_> = det
            .packages()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "attrs",
                    "17.4.0",
                    "opt/lib/attrs-17.4.0-py2.7.egg/EGG-INFO/PKG-INFO"
                ),
                (
                    "six",
                    "1.16.0",
                    "usr/lib/python3/site-packages/six-1.16.0-py3.11.egg"
                ),
            ]
        );
        assert_eq!(det.skipped.len(), 2);
        assert!(PythonDetector.wants(&Candidate::file("a/x-1-py3.egg", 1000)));
        assert!(!PythonDetector.wants(&Candidate::file("a/x-1-py3.egg", MAX_EGG + 1)));
        assert!(PythonDetector.wants(&Candidate::file("a/x.egg/EGG-INFO/PKG-INFO", 10)));
        assert!(!PythonDetector.wants(&Candidate::file("a/x.egg/EGG-INFO/top_level.txt", 10)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
            .collect();
        assert!(parse_metadata("p", &junk).is_err());
        assert!(parse_metadata("p", b"").is_err());
        let long = format!("Name: {}\nVersion: 1\n", "n".repeat(1000));
        assert!(parse_metadata("p", long.as_bytes()).is_err());
    }

    #[test]
    fn pep503() {
        assert_eq!(normalize_name("PyYAML"), "pyyaml");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("Foo__Bar-.baz"), "foo-bar-baz");
        assert_eq!(normalize_name("_x_"), "x");
    }
}
