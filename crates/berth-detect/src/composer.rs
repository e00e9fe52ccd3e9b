//! PHP packages installed by Composer, from `vendor/composer/installed.json`.
//!
//! Composer 1 wrote a JSON array of packages; Composer 2 writes `{"packages": [...], "dev":
//! ...}`. Both are read. Each package has `name` (`vendor/package`, the Packagist name
//! advisories use) and `version` (normalised by Composer, e.g. `v5.4.0` or `5.4.0`).

use serde::Deserialize;
use serde_json::Value;

use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package,
};

pub const ID: DetectorId = DetectorId {
    name: "composer",
    version: 1,
};

const INSTALLED: &str = "vendor/composer/installed.json";
/// A large Laravel application's file is ~500 KiB.
const MAX_FILE: usize = 32 * 1024 * 1024;
const MAX_PACKAGES: usize = 50_000;
const MAX_FIELD: usize = 512;

/// Reads Composer's installed packages.
#[derive(Debug, Clone, Copy, Default)]
pub struct ComposerDetector;

fn is_installed_json(path: &str) -> bool {
    path == INSTALLED || path.ends_with("/vendor/composer/installed.json")
}

impl Detector for ComposerDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        is_installed_json(file.path)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        for path in files.paths() {
            if !is_installed_json(path) {
                continue;
            }
            let Some(bytes) = files.read(path) else {
                continue;
            };
            match parse_installed(path, bytes) {
                Ok(ps) => det.findings.extend(ps.into_iter().map(Finding::Package)),
                Err(e) => det.skip(path, e),
            }
        }
        Ok(det)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Installed {
    V2 { packages: Vec<Entry> },
    V1(Vec<Entry>),
}

#[derive(Deserialize)]
struct Entry {
    name: Option<Value>,
    version: Option<Value>,
}

/// The packages of an `installed.json` in either format.
pub fn parse_installed(path: &str, bytes: &[u8]) -> Result<Vec<Package>, DetectError> {
    DetectError::check_size(path, bytes, MAX_FILE)?;
    let parsed: Installed = serde_json::from_slice(bytes).map_err(|source| DetectError::Json {
        path: path.to_owned(),
        source,
    })?;
    let entries = match parsed {
        Installed::V2 { packages } => packages,
        Installed::V1(p) => p,
    };
    if entries.len() > MAX_PACKAGES {
        return Err(DetectError::TooMany {
            path: path.to_owned(),
            what: "packages",
            limit: MAX_PACKAGES,
        });
    }
    Ok(entries
        .into_iter()
        .filter_map(|e| match (e.name, e.version) {
            (Some(Value::String(n)), Some(Value::String(v)))
                if !n.is_empty()
                    && !v.is_empty()
                    && n.len() <= MAX_FIELD
                    && v.len() <= MAX_FIELD =>
            {
                Some(Package::new(n, v, Ecosystem::Packagist, path, ID))
            }
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats() {
        let v2 = br#"{"packages":[{"name":"symfony/http-foundation","version":"v5.4.0","version_normalized":"5.4.0.0","type":"library"},{"name":"x"}],"dev":true,"dev-package-names":[]}"#;
        let ps = parse_installed(INSTALLED, v2).unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(
            (ps[0].name.as_str(), ps[0].version.as_str()),
            ("symfony/http-foundation", "v5.4.0")
        );
        let v1 = br#"[{"name":"monolog/monolog","version":"1.25.1"}]"#;
        assert_eq!(
            parse_installed(INSTALLED, v1).unwrap()[0].name,
            "monolog/monolog"
        );
    }

    #[test]
    fn malformed() {
        assert!(parse_installed(INSTALLED, b"{\"packages\": [").is_err());
        assert!(parse_installed(INSTALLED, b"{\"packages\": 3}").is_err());
        assert!(parse_installed(INSTALLED, &[0u8, 159, 146, 150]).is_err());
        assert!(parse_installed(INSTALLED, "[".repeat(10_000).as_bytes()).is_err());
        assert!(ComposerDetector.wants(&Candidate::file(
            "var/www/vendor/composer/installed.json",
            1
        )));
    }
}
