//! Ruby gems from installed specifications.
//!
//! RubyGems writes a Ruby-syntax `specifications/<name>-<version>.gemspec` for every installed
//! gem (under `GEM_HOME`, and Debian's `ruby-*` packages under
//! `usr/share/rubygems-integration/*/specifications`). The files are generated, so the name
//! and version are simple assignments, `s.name = "rack".freeze`; the file is never evaluated,
//! and when those lines are missing the file name gives the answer.

use crate::text::{file_name, lines, parent};
use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package,
};

pub const ID: DetectorId = DetectorId {
    name: "gem",
    version: 1,
};

const MAX_FILE: usize = 1024 * 1024;
const MAX_FIELD: usize = 256;

/// Reads installed gem specifications.
#[derive(Debug, Clone, Copy, Default)]
pub struct GemDetector;

/// Whether `path` is `.../specifications/<file>.gemspec`.
pub fn is_spec_path(path: &str) -> bool {
    path.ends_with(".gemspec") && file_name(parent(path)) == "specifications"
}

impl Detector for GemDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        is_spec_path(file.path)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        for path in files.paths() {
            if !is_spec_path(path) {
                continue;
            }
            let Some(bytes) = files.read(path) else {
                continue;
            };
            match parse_gemspec(path, bytes) {
                Ok(p) => det.findings.push(Finding::Package(p)),
                Err(e) => det.skip(path, e),
            }
        }
        Ok(det)
    }
}

/// The gem a specification describes.
pub fn parse_gemspec(path: &str, bytes: &[u8]) -> Result<Package, DetectError> {
    DetectError::check_size(path, bytes, MAX_FILE)?;
    let (mut name, mut version) = (None, None);
    for line in lines(path, bytes) {
        let line = line?;
        let line = line.trim();
        if name.is_none() {
            name = assigned(line, "name");
        }
        if version.is_none() {
            version = assigned(line, "version");
        }
        if name.is_some() && version.is_some() {
            break;
        }
    }
    let (fname, fversion) = split_file_name(file_name(path).trim_end_matches(".gemspec"));
    let name = name.or(fname).unwrap_or_default();
    let version = version.or(fversion).unwrap_or_default();
    if name.is_empty() || version.is_empty() || name.len() > MAX_FIELD || version.len() > MAX_FIELD
    {
        return Err(DetectError::malformed(path, "no gem name or version"));
    }
    Ok(Package::new(name, version, Ecosystem::RubyGems, path, ID))
}

/// The string in `s.<field> = "value"` (any receiver name, `.freeze` or not).
fn assigned(line: &str, field: &str) -> Option<String> {
    let (lhs, rhs) = line.split_once('=')?;
    let (_, attr) = lhs.trim().split_once('.')?;
    if attr.trim() != field {
        return None;
    }
    let rhs = rhs.trim();
    let quote = rhs.chars().find(|c| *c == '"' || *c == '\'')?;
    let start = rhs.find(quote)? + 1;
    let inner = rhs.get(start..)?;
    let end = inner.find(quote)?;
    let v = inner.get(..end)?.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// `rack-2.2.4` → (`rack`, `2.2.4`); `nokogiri-1.15.4-x86_64-linux` → (`nokogiri`,
/// `1.15.4-x86_64-linux`): the version starts at the first `-` followed by a digit.
fn split_file_name(stem: &str) -> (Option<String>, Option<String>) {
    let bytes = stem.as_bytes();
    for (i, w) in bytes.windows(2).enumerate() {
        if w[0] == b'-' && w[1].is_ascii_digit() {
            let (n, v) = (stem.get(..i), stem.get(i + 1..));
            return (n.map(str::to_owned), v.map(str::to_owned));
        }
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_spec() {
        // The head of a specification RubyGems 3 writes.
        let s = b"# -*- encoding: utf-8 -*-\n# stub: rack 2.2.4 ruby lib\n\nGem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.4\"\n\n  s.required_rubygems_version = Gem::Requirement.new(\">= 0\".freeze) if s.respond_to? :required_rubygems_version=\n";
        let p = parse_gemspec(
            "usr/share/rubygems-integration/all/specifications/rack-2.2.4.gemspec",
            s,
        )
        .unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("rack", "2.2.4"));
    }

    #[test]
    fn file_name_fallback_and_garbage() {
        let p = parse_gemspec(
            "gems/specifications/nokogiri-1.15.4-x86_64-linux.gemspec",
            b"garbage\xff\n",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("nokogiri", "1.15.4-x86_64-linux")
        );
        assert!(parse_gemspec("specifications/noversion.gemspec", b"").is_err());
        assert!(is_spec_path(
            "var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec"
        ));
        assert!(!is_spec_path("app/rake.gemspec"));
        let long = vec![b'x'; 100_000];
        assert!(parse_gemspec("specifications/a-1.gemspec", &long).is_err());
        assert_eq!(assigned("s.name = \"", "name"), None);
        assert_eq!(assigned("s.name = 'x'", "name").as_deref(), Some("x"));
    }
}
