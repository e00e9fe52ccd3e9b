//! Rust crates compiled into binaries built with `cargo auditable`.
//!
//! `cargo auditable build` embeds the dependency tree as zlib-compressed JSON in a linker
//! section, `.dep-v0` (ELF, PE; `__dep_v0` in Mach-O's `__DATA` segment):
//! `{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`. Alpine,
//! Wolfi, Chainguard and NixOS build their Rust packages this way, and so do many release
//! pipelines. Reported are the crates from a registry or git with `kind` runtime (the default);
//! `local` sources (the binary's own workspace) have no advisories, and build-only
//! dependencies are not in the binary.

use std::io::Read as _;

use object::{Object as _, ObjectSection as _};
use serde::Deserialize;

use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Package,
};

pub const ID: DetectorId = DetectorId {
    name: "cargo-auditable",
    version: 1,
};

const MAX_BINARY: u64 = 512 * 1024 * 1024;
/// cargo-auditable itself refuses more than 8 MiB of decompressed JSON.
const MAX_JSON: u64 = 8 * 1024 * 1024;
const MAX_PACKAGES: usize = 50_000;
const MAX_FIELD: usize = 256;

/// Reads cargo-auditable dependency lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct CargoAuditableDetector;

impl Detector for CargoAuditableDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        file.is_executable() && file.size >= 1024 && file.size <= MAX_BINARY
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        Ok(Detection::from_binaries(files, parse_binary))
    }
}

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    kind: String,
}

/// The crates listed in a binary's `.dep-v0` section; empty when it has none.
pub fn parse_binary(path: &str, bytes: &[u8]) -> Result<Vec<Package>, DetectError> {
    let file = object::File::parse(bytes).map_err(|source| DetectError::Object {
        path: path.to_owned(),
        source,
    })?;
    let Some(section) = file
        .section_by_name(".dep-v0")
        .or_else(|| file.section_by_name("__dep_v0"))
    else {
        return Ok(Vec::new());
    };
    let data = section.data().map_err(|source| DetectError::Object {
        path: path.to_owned(),
        source,
    })?;
    parse_section(path, data)
}

/// The crates in the (compressed) section contents.
pub fn parse_section(path: &str, compressed: &[u8]) -> Result<Vec<Package>, DetectError> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|source| DetectError::Decompress {
            path: path.to_owned(),
            source,
        })?;
    DetectError::check_size(path, &json, MAX_JSON as usize)?;
    let info: VersionInfo = serde_json::from_slice(&json).map_err(|source| DetectError::Json {
        path: path.to_owned(),
        source,
    })?;
    if info.packages.len() > MAX_PACKAGES {
        return Err(DetectError::TooMany {
            path: path.to_owned(),
            what: "crates",
            limit: MAX_PACKAGES,
        });
    }
    Ok(info
        .packages
        .into_iter()
        .filter(|e| e.source != "local" && (e.kind.is_empty() || e.kind == "runtime"))
        .filter(|e| {
            !e.name.is_empty()
                && !e.version.is_empty()
                && e.name.len() <= MAX_FIELD
                && e.version.len() <= MAX_FIELD
        })
        .map(|e| Package::new(e.name, e.version, Ecosystem::Cargo, path, ID))
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write as _;

    use super::*;

    pub(crate) fn compress(json: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(json).unwrap();
        e.finish().unwrap()
    }

    /// The shape cargo-auditable writes (from its `auditable-serde` documentation).
    pub(crate) const SAMPLE: &str = r#"{"packages":[{"name":"adler","version":"1.0.2","source":"crates.io","dependencies":[]},{"name":"build-helper","version":"0.1.0","source":"crates.io","kind":"build"},{"name":"myapp","version":"0.1.0","source":"local","dependencies":[0],"root":true}]}"#;

    #[test]
    fn section_contents() {
        let ps = parse_section("bin/app", &compress(SAMPLE.as_bytes())).unwrap();
        let got: Vec<_> = ps
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, vec![("adler", "1.0.2")]);
    }

    #[test]
    fn malformed() {
        assert!(parse_section("p", b"not zlib").is_err());
        assert!(parse_section("p", &compress(b"{\"packages\": 1}")).is_err());
        // A zip bomb: 100 MiB of spaces compresses to ~100 KiB.
        let bomb = compress(&vec![b' '; 100 * 1024 * 1024]);
        assert!(matches!(
            parse_section("p", &bomb),
            Err(DetectError::TooLarge { .. })
        ));
        assert!(parse_binary("p", b"\x7fELF\x02\x01\x01").is_err());
        assert!(parse_binary("p", &[0u8; 10]).is_err());
    }
}
