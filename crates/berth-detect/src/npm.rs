//! npm packages from installed `package.json` files.
//!
//! What is installed is what sits in a `node_modules` tree:
//! `node_modules/<name>/package.json` or `node_modules/@scope/<name>/package.json`, at any
//! depth (npm nests a second copy when versions conflict, and each copy is reported, since
//! each is loaded by someone). A `package.json` outside `node_modules` is an application's own
//! manifest, and one deeper inside a package (`node_modules/x/test/fixtures/package.json`)
//! is not a package; both are ignored. Lock files are not read: they say what was meant to be
//! installed, and a layer can delete what they list.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package,
};

pub const ID: DetectorId = DetectorId {
    name: "npm",
    version: 1,
};

/// Real `package.json` files are a few KiB; some generated ones reach a few hundred.
const MAX_FILE: usize = 4 * 1024 * 1024;
const MAX_FIELD: usize = 512;

/// Reads installed npm packages.
#[derive(Debug, Clone, Copy, Default)]
pub struct NpmDetector;

/// Whether `path` is `.../node_modules/<name>/package.json` or the scoped form.
pub fn is_installed_manifest(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let parts: Vec<&str> = dir.rsplit('/').take(3).collect();
    match parts.as_slice() {
        [name, "node_modules", ..] => !name.is_empty() && !name.starts_with(['@', '.']),
        [name, scope, "node_modules"] => scope.starts_with('@') && !name.is_empty(),
        _ => false,
    }
}

impl Detector for NpmDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        is_installed_manifest(file.path)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        for path in files.paths() {
            if !is_installed_manifest(path) {
                continue;
            }
            let Some(bytes) = files.read(path) else {
                continue;
            };
            match parse_package_json(path, bytes) {
                Ok(Some(p)) => det.findings.push(Finding::Package(p)),
                Ok(None) => {}
                Err(e) => det.skip(path, e),
            }
        }
        Ok(det)
    }
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<Value>,
    version: Option<Value>,
}

/// The package a `package.json` describes; `None` for one without a name or version
/// (private workspace roots), which npm never publishes and advisories cannot name.
pub fn parse_package_json(path: &str, bytes: &[u8]) -> Result<Option<Package>, DetectError> {
    DetectError::check_size(path, bytes, MAX_FILE)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let m: Manifest = serde_json::from_slice(bytes).map_err(|source| DetectError::Json {
        path: path.to_owned(),
        source,
    })?;
    let (Some(Value::String(name)), Some(Value::String(version))) = (m.name, m.version) else {
        return Ok(None);
    };
    let (name, version) = (name.trim(), version.trim());
    if name.is_empty() || version.is_empty() || name.len() > MAX_FIELD || version.len() > MAX_FIELD
    {
        return Ok(None);
    }
    Ok(Some(Package::new(name, version, Ecosystem::Npm, path, ID)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemFiles;

    #[test]
    fn which_manifests() {
        assert!(is_installed_manifest(
            "app/node_modules/lodash/package.json"
        ));
        assert!(is_installed_manifest("node_modules/lodash/package.json"));
        assert!(is_installed_manifest(
            "app/node_modules/@babel/core/package.json"
        ));
        assert!(is_installed_manifest(
            "a/node_modules/x/node_modules/y/package.json"
        ));
        assert!(!is_installed_manifest("app/package.json"));
        assert!(!is_installed_manifest(
            "app/node_modules/x/test/package.json"
        ));
        assert!(!is_installed_manifest(
            "app/node_modules/@babel/package.json"
        ));
        assert!(!is_installed_manifest(
            "app/node_modules/.package-lock.json"
        ));
        assert!(!is_installed_manifest("package.json"));
    }

    #[test]
    fn manifests() {
        let mut m = MemFiles::new();
        m.insert(
            "app/node_modules/lodash/package.json",
            br#"{"name":"lodash","version":"4.17.4","main":"lodash.js"}"#.to_vec(),
        );
        m.insert(
            "app/node_modules/ws/package.json",
            br#"{"private":true,"name":"ws"}"#.to_vec(),
        );
        m.insert(
            "app/node_modules/bad/package.json",
            b"{\"name\": \"bad\", \"version\": ".to_vec(),
        );
        m.insert(
            "app/node_modules/num/package.json",
            br#"{"name":"num","version":1}"#.to_vec(),
        );
        let det = NpmDetector.detect(&m).unwrap();
        let got: Vec<_> = det
            .packages()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, vec![("lodash", "4.17.4")]);
        assert_eq!(det.skipped.len(), 1);
    }

    #[test]
    fn hostile_json() {
        let deep = "[".repeat(100_000);
        assert!(parse_package_json("p", deep.as_bytes()).is_err());
        assert!(parse_package_json("p", &[0xff; 100]).is_err());
        let big = vec![b' '; MAX_FILE + 1];
        assert!(matches!(
            parse_package_json("p", &big),
            Err(DetectError::TooLarge { .. })
        ));
        assert!(parse_package_json("p", b"[]").is_err());
    }
}
