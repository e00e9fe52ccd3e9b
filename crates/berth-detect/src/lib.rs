//! Package and distribution detectors of berth's image indexer, free of I/O.
//!
//! The indexer reads an image's layers (that is `berth-layer`'s job) and asks each
//! [`Detector`] which files it needs ([`Detector::wants`]), so only those few files are kept in
//! memory; it then hands them over as a [`FileSource`] and gets [`Finding`]s back: the
//! distribution the image is built on and the packages installed in it, each tagged with the
//! [`DetectorId`] that found it.
//!
//! Design choices:
//! - **Versioned detectors** (the model is claircore's versioned scanners). A detector has a
//!   name and a version; a stored result records both, and bumping a detector's version when
//!   its logic changes marks every result it produced before as stale, so the indexer knows
//!   what to re-index instead of trusting old answers forever.
//! - **Pure.** Detectors take paths and bytes and return values: no file system, no clock,
//!   no async. The layer reader owns whiteouts and symlinks; a detector sees the merged view
//!   it is given, which makes every detector testable with literal bytes.
//! - **Bounded.** Image contents are untrusted. Every parser caps what it reads (file sizes,
//!   entry counts, line lengths, decompressed sizes, archive nesting) and reports a typed
//!   [`DetectError`] instead of panicking or allocating without limit.
//! - **One bad file does not hide the rest.** A malformed `METADATA` among thousands is
//!   recorded in [`Detection::skipped`] and detection goes on; only a problem with the single
//!   database a detector exists to read (a dpkg `status` file that is not a status file) is
//!   an `Err`.
//!
//! The detectors ([`all_detectors`]): [`os_release`] (the distribution), [`dpkg`], [`apk`]
//! and [`rpm`] (OS package databases, each binary package with its source package),
//! [`python`], [`npm`], [`gem`], [`composer`], [`dotnet`] (language package metadata),
//! [`golang`] and [`rust_audit`] (module lists compiled into executables), [`java`] (Maven
//! coordinates in jar/war/ear, nested archives included). [`ownership`] then drops language
//! findings whose files an OS package installed.
//!
//! Paths are relative to the image root and use `/`, without a leading slash
//! (`var/lib/dpkg/status`), which is how tar names them.

pub mod apk;
pub mod composer;
pub mod dotnet;
pub mod dpkg;
mod error;
pub mod gem;
pub mod golang;
pub mod java;
pub mod npm;
pub mod os_release;
pub mod ownership;
pub mod python;
pub mod rpm;
pub mod rust_audit;
mod text;

use std::collections::BTreeMap;
use std::fmt;

pub use error::DetectError;
pub use ownership::OwnedFiles;

/// Which detector produced a result, and which revision of its logic.
///
/// Stored with every result: a result whose version is lower than the running detector's is
/// stale and the layer should be indexed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DetectorId {
    pub name: &'static str,
    pub version: u32,
}

impl fmt::Display for DetectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// The package universe a package name and version belong to; it decides which advisories
/// and which version ordering apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    Debian,
    Alpine,
    Rpm,
    PyPI,
    Npm,
    Go,
    Cargo,
    Maven,
    RubyGems,
    NuGet,
    Packagist,
}

impl Ecosystem {
    /// The OSV ecosystem name, the spelling advisory feeds use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::Rpm => "RPM",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "Go",
            Ecosystem::Cargo => "crates.io",
            Ecosystem::Maven => "Maven",
            Ecosystem::RubyGems => "RubyGems",
            Ecosystem::NuGet => "NuGet",
            Ecosystem::Packagist => "Packagist",
        }
    }

    /// Whether packages of this ecosystem are installed by the distribution's package
    /// manager (and so can own language packages' files, see [`OwnedFiles`]).
    pub const fn is_os(self) -> bool {
        matches!(self, Ecosystem::Debian | Ecosystem::Alpine | Ecosystem::Rpm)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a package is what is installed (binary) or what it was built from (source).
/// Debian and Alpine advisories are written against source packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PackageKind {
    Binary,
    Source,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Package {
    /// The name as the package metadata spells it (matching may normalise it, e.g.
    /// [`python::normalize_name`], but the report shows the original).
    pub name: String,
    pub version: String,
    pub kind: PackageKind,
    /// For a binary package: the source package it was built from, with its version.
    pub source: Option<Box<Package>>,
    pub ecosystem: Ecosystem,
    pub arch: Option<String>,
    /// The file the package was found in (a database, a metadata file, a binary, an archive;
    /// `outer.jar!inner.jar` for nested archives).
    pub path: String,
    /// Index of the layer that introduced the package; detectors leave it `None` and the
    /// indexer fills it.
    pub layer: Option<usize>,
    pub detector: DetectorId,
}

impl Package {
    /// A binary package with no source package and no architecture.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        ecosystem: Ecosystem,
        path: impl Into<String>,
        detector: DetectorId,
    ) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            kind: PackageKind::Binary,
            source: None,
            ecosystem,
            arch: None,
            path: path.into(),
            layer: None,
            detector,
        }
    }
}

/// The distribution an image is built on, from `os-release` and its older relatives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Distribution {
    /// `ID` of os-release, lowercase (`debian`, `ubuntu`, `alpine`, `rhel`, `wolfi`, ...).
    pub did: String,
    /// `NAME` (`Debian GNU/Linux`).
    pub name: String,
    /// `VERSION_ID` (`12`, `22.04`, `3.19.1`).
    pub version_id: String,
    /// `VERSION` (`12 (bookworm)`), empty when unknown.
    pub version: String,
    /// `VERSION_CODENAME` (`bookworm`), empty when unknown.
    pub version_codename: String,
    /// `PRETTY_NAME` (`Debian GNU/Linux 12 (bookworm)`, or `Distroless` for distroless).
    pub pretty_name: String,
    /// `CPE_NAME` when the distribution publishes one (Red Hat family, SUSE, Amazon).
    pub cpe: Option<String>,
    /// The file the answer came from.
    pub path: String,
    pub detector: DetectorId,
}

/// What a detector found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Finding {
    Package(Package),
    Distribution(Distribution),
}

/// A file a detector wanted but could not use; detection continued without it.
#[derive(Debug)]
pub struct Skipped {
    pub path: String,
    pub error: DetectError,
}

/// The result of one detector over one image (or one layer).
#[derive(Debug, Default)]
pub struct Detection {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
}

impl Detection {
    /// The packages among the findings.
    pub fn packages(&self) -> impl Iterator<Item = &Package> {
        self.findings.iter().filter_map(|f| match f {
            Finding::Package(p) => Some(p),
            Finding::Distribution(_) => None,
        })
    }

    /// The distribution among the findings, if one was found.
    pub fn distribution(&self) -> Option<&Distribution> {
        self.findings.iter().find_map(|f| match f {
            Finding::Distribution(d) => Some(d),
            Finding::Package(_) => None,
        })
    }

    /// The loop both binary detectors share: `parse` every selected executable (ELF, Mach-O,
    /// PE), keep its packages, and record a file that fails to parse as skipped.
    pub(crate) fn from_binaries(
        files: &dyn FileSource,
        parse: impl Fn(&str, &[u8]) -> Result<Vec<Package>, DetectError>,
    ) -> Detection {
        let mut det = Detection::default();
        for path in files.paths() {
            let Some(bytes) = files.read(path) else {
                continue;
            };
            if !golang::is_object_file(bytes) {
                continue;
            }
            match parse(path, bytes) {
                Ok(packages) => det
                    .findings
                    .extend(packages.into_iter().map(Finding::Package)),
                Err(e) => det.skip(path, e),
            }
        }
        det
    }

    fn skip(&mut self, path: &str, error: DetectError) {
        self.skipped.push(Skipped {
            path: path.to_owned(),
            error,
        });
    }
}

/// What the layer reader knows about a file before reading it: enough for a detector to say
/// whether it wants the bytes. Binaries are recognised by their mode, not their name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Relative path, `/`-separated, no leading slash.
    pub path: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// Unix permission bits (`0o755`).
    pub mode: u32,
}

impl<'a> Candidate<'a> {
    /// A regular file with mode `0o644`, for callers that only have a path.
    pub fn file(path: &'a str, size: u64) -> Candidate<'a> {
        Candidate {
            path,
            size,
            mode: 0o644,
        }
    }

    /// Whether any execute bit is set.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// The files a detector may look at: the ones it said it wants, resolved through symlinks
/// and whiteouts by the caller.
pub trait FileSource {
    /// Every path held, sorted.
    fn paths(&self) -> Vec<&str>;
    /// The bytes of `path` (relative, no leading slash), if held.
    fn read(&self, path: &str) -> Option<&[u8]>;
}

/// A [`FileSource`] held in memory: what the indexer builds from the wanted files, and what
/// tests use.
#[derive(Debug, Clone, Default)]
pub struct MemFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFiles {
    pub fn new() -> MemFiles {
        MemFiles::default()
    }

    /// Adds or replaces a file; a leading `/` or `./` is removed.
    pub fn insert(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.insert(clean_path(path).to_owned(), bytes.into());
    }

    /// Removes a file (a whiteout in a later layer).
    pub fn remove(&mut self, path: &str) {
        self.files.remove(clean_path(path));
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FromIterator<(String, Vec<u8>)> for MemFiles {
    fn from_iter<T: IntoIterator<Item = (String, Vec<u8>)>>(iter: T) -> Self {
        let mut m = MemFiles::new();
        for (p, b) in iter {
            m.insert(&p, b);
        }
        m
    }
}

impl FileSource for MemFiles {
    fn paths(&self) -> Vec<&str> {
        self.files.keys().map(String::as_str).collect()
    }

    fn read(&self, path: &str) -> Option<&[u8]> {
        self.files.get(clean_path(path)).map(Vec::as_slice)
    }
}

/// `path` without a leading `./` or `/`.
pub fn clean_path(path: &str) -> &str {
    let p = path.strip_prefix("./").unwrap_or(path);
    p.trim_start_matches('/')
}

/// A detector: which files it needs and what it finds in them.
pub trait Detector: Send + Sync {
    /// Name and version; bump the version whenever the findings for the same input change.
    fn id(&self) -> DetectorId;
    /// Whether the layer reader should keep this file for [`Detector::detect`].
    fn wants(&self, file: &Candidate<'_>) -> bool;
    /// Detects from the files given (normally exactly those it wanted; it must ignore others).
    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError>;
}

/// Every detector berth runs, distribution first.
pub fn all_detectors() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(os_release::OsReleaseDetector),
        Box::new(dpkg::DpkgDetector),
        Box::new(apk::ApkDetector),
        Box::new(rpm::RpmDetector),
        Box::new(python::PythonDetector),
        Box::new(npm::NpmDetector),
        Box::new(gem::GemDetector),
        Box::new(composer::ComposerDetector),
        Box::new(dotnet::DotnetDetector),
        Box::new(golang::GoBinaryDetector),
        Box::new(rust_audit::CargoAuditableDetector),
        Box::new(java::JavaArchiveDetector),
    ]
}

/// Whether any detector wants this file: the layer reader's filter.
pub fn any_wants(detectors: &[Box<dyn Detector>], file: &Candidate<'_>) -> bool {
    detectors.iter().any(|d| d.wants(file)) || ownership::wants(file.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_ids_are_unique_and_object_safe() {
        let all = all_detectors();
        let mut names: Vec<_> = all.iter().map(|d| d.id().name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(all.iter().all(|d| d.id().version >= 1));
    }

    #[test]
    fn mem_files_clean_paths() {
        let mut m = MemFiles::new();
        m.insert("/etc/os-release", b"ID=x".to_vec());
        m.insert("./usr/lib/os-release", b"ID=y".to_vec());
        assert_eq!(m.read("etc/os-release"), Some(&b"ID=x"[..]));
        assert_eq!(m.read("/usr/lib/os-release"), Some(&b"ID=y"[..]));
        assert_eq!(m.paths(), vec!["etc/os-release", "usr/lib/os-release"]);
        m.remove("/etc/os-release");
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn nobody_wants_everything() {
        let all = all_detectors();
        assert!(!any_wants(
            &all,
            &Candidate::file("usr/share/doc/README", 10)
        ));
        assert!(any_wants(&all, &Candidate::file("var/lib/dpkg/status", 10)));
    }
}
