//! .NET (NuGet) packages from `*.deps.json`, the dependency manifest `dotnet publish` writes
//! next to every application.
//!
//! Its `libraries` object maps `Name/Version` to `{"type": "package" | "project" | ...}`;
//! only `package` entries came from NuGet (the others are the application's own projects and
//! the framework reference).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package,
};

pub const ID: DetectorId = DetectorId {
    name: "dotnet-deps",
    version: 1,
};

const MAX_FILE: usize = 32 * 1024 * 1024;
const MAX_PACKAGES: usize = 50_000;
const MAX_FIELD: usize = 512;

/// Reads .NET dependency manifests.
#[derive(Debug, Clone, Copy, Default)]
pub struct DotnetDetector;

impl Detector for DotnetDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        file.path.ends_with(".deps.json")
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        for path in files.paths() {
            if !path.ends_with(".deps.json") {
                continue;
            }
            let Some(bytes) = files.read(path) else {
                continue;
            };
            match parse_deps_json(path, bytes) {
                Ok(ps) => det.findings.extend(ps.into_iter().map(Finding::Package)),
                Err(e) => det.skip(path, e),
            }
        }
        Ok(det)
    }
}

#[derive(Deserialize)]
struct DepsJson {
    #[serde(default)]
    libraries: BTreeMap<String, Value>,
}

/// The NuGet packages listed in a `deps.json`.
pub fn parse_deps_json(path: &str, bytes: &[u8]) -> Result<Vec<Package>, DetectError> {
    DetectError::check_size(path, bytes, MAX_FILE)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let d: DepsJson = serde_json::from_slice(bytes).map_err(|source| DetectError::Json {
        path: path.to_owned(),
        source,
    })?;
    if d.libraries.len() > MAX_PACKAGES {
        return Err(DetectError::TooMany {
            path: path.to_owned(),
            what: "libraries",
            limit: MAX_PACKAGES,
        });
    }
    let mut out = Vec::new();
    for (key, lib) in &d.libraries {
        if lib.get("type").and_then(Value::as_str) != Some("package") {
            continue;
        }
        let Some((name, version)) = key.split_once('/') else {
            continue;
        };
        if name.is_empty() || version.is_empty() || key.len() > MAX_FIELD {
            continue;
        }
        out.push(Package::new(name, version, Ecosystem::NuGet, path, ID));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries() {
        // Trimmed from a `dotnet publish` output.
        let j = br#"{
  "runtimeTarget": {"name": ".NETCoreApp,Version=v6.0", "signature": ""},
  "targets": {".NETCoreApp,Version=v6.0": {"app/1.0.0": {"dependencies": {"Newtonsoft.Json": "13.0.1"}}}},
  "libraries": {
    "app/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
    "Newtonsoft.Json/13.0.1": {"type": "package", "serviceable": true, "sha512": "sha512-ppPF", "path": "newtonsoft.json/13.0.1"},
    "System.Text.Encodings.Web/4.7.1": {"type": "package"}
  }
}"#;
        let ps = parse_deps_json("app/app.deps.json", j).unwrap();
        let got: Vec<_> = ps
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Newtonsoft.Json", "13.0.1"),
                ("System.Text.Encodings.Web", "4.7.1")
            ]
        );
    }

    #[test]
    fn malformed() {
        assert!(parse_deps_json("p", b"{").is_err());
        assert!(parse_deps_json("p", br#"{"libraries": []}"#).is_err());
        assert!(
            parse_deps_json("p", br#"{"libraries": {"nover": {"type": "package"}}}"#)
                .unwrap()
                .is_empty()
        );
        assert!(parse_deps_json("p", b"{}").unwrap().is_empty());
    }
}
