//! Debian and Ubuntu packages from dpkg's database.
//!
//! `var/lib/dpkg/status` is one RFC 822-style stanza per package dpkg knows about, including
//! removed ones whose configuration files remain; only stanzas whose `Status` says the package
//! is installed (`install ok installed`, or `hold ok installed` for a held one) are packages.
//! Distroless images have no status file: they ship one control stanza per package under
//! `var/lib/dpkg/status.d/` (next to `*.md5sums`), without a `Status` field, because nothing was
//! ever installed by dpkg there.
//!
//! Each binary package is reported with its source package, since Debian's security tracker
//! writes advisories against sources: `Source: glibc` means source `glibc` at the binary's
//! version, `Source: glibc (2.36-9)` names the source version when it differs (binNMUs), and no
//! `Source` field means the source has the binary's name.

use crate::text::{file_name, stanzas};
use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package, PackageKind,
};

pub const ID: DetectorId = DetectorId {
    name: "dpkg",
    version: 1,
};

pub const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";

/// A full Ubuntu desktop's status file is ~5 MiB; 64 MiB is far beyond any real one.
const MAX_STATUS: usize = 64 * 1024 * 1024;
/// Stanzas in one status file (a large server has ~3,000 packages).
const MAX_PACKAGES: usize = 100_000;
/// One distroless `status.d` file holds one control stanza of a few KiB.
const MAX_STATUS_D_FILE: usize = 1024 * 1024;
const MAX_FIELD: usize = 1024;

/// Reads dpkg's status database (or distroless `status.d`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DpkgDetector;

impl Detector for DpkgDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        file.path == STATUS || is_status_d(file.path)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        if let Some(bytes) = files.read(STATUS) {
            for p in parse_status(STATUS, bytes, true)? {
                det.findings.push(Finding::Package(p));
            }
        }
        for path in files.paths() {
            if !is_status_d(path) {
                continue;
            }
            let Some(bytes) = files.read(path) else {
                continue;
            };
            let parsed = DetectError::check_size(path, bytes, MAX_STATUS_D_FILE)
                .and_then(|()| parse_status(path, bytes, false));
            match parsed {
                Ok(ps) => det.findings.extend(ps.into_iter().map(Finding::Package)),
                Err(e) => det.skip(path, e),
            }
        }
        Ok(det)
    }
}

/// A distroless control file: directly in `status.d/`, not a `.md5sums` companion.
fn is_status_d(path: &str) -> bool {
    path.strip_prefix(STATUS_D)
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/') && !rest.ends_with(".md5sums"))
}

/// The installed packages of a status file. With `require_status` (the real status file),
/// stanzas not marked installed are dropped; distroless `status.d` stanzas have no `Status`.
pub fn parse_status(
    path: &str,
    bytes: &[u8],
    require_status: bool,
) -> Result<Vec<Package>, DetectError> {
    DetectError::check_size(path, bytes, MAX_STATUS)?;
    let all = stanzas(
        path,
        bytes,
        &["Package", "Status", "Version", "Architecture", "Source"],
        MAX_PACKAGES,
        false,
    )?;
    let mut out = Vec::new();
    for s in all {
        let (Some(name), Some(version)) = (s.get("Package"), s.get("Version")) else {
            continue;
        };
        if name.is_empty()
            || version.is_empty()
            || name.len() > MAX_FIELD
            || version.len() > MAX_FIELD
        {
            continue;
        }
        match s.get("Status") {
            Some(st) if !is_installed(st) => continue,
            None if require_status => continue,
            _ => {}
        }
        let (src_name, src_version) = match s.get("Source") {
            Some(src) if !src.is_empty() && src.len() <= MAX_FIELD => parse_source(src, version),
            _ => (name.to_owned(), version.to_owned()),
        };
        let arch = s
            .get("Architecture")
            .filter(|a| !a.is_empty() && a.len() <= MAX_FIELD)
            .map(str::to_owned);
        let source = Package {
            kind: PackageKind::Source,
            ..Package::new(src_name, src_version, Ecosystem::Debian, path, ID)
        };
        out.push(Package {
            arch,
            source: Some(Box::new(source)),
            ..Package::new(name, version, Ecosystem::Debian, path, ID)
        });
    }
    Ok(out)
}

/// `install ok installed` and `hold ok installed` are installed; `deinstall ok config-files`,
/// half-installed and the rest are not.
fn is_installed(status: &str) -> bool {
    let w: Vec<&str> = status.split_whitespace().collect();
    matches!(w.as_slice(), ["install" | "hold", "ok", "installed"])
}

/// `glibc (2.36-9+deb12u4)` → (`glibc`, `2.36-9+deb12u4`); `apt` → (`apt`, binary version).
fn parse_source(src: &str, binary_version: &str) -> (String, String) {
    match src.split_once('(') {
        Some((n, v)) => {
            let v = v.trim().trim_end_matches(')').trim();
            let v = if v.is_empty() { binary_version } else { v };
            (n.trim().to_owned(), v.to_owned())
        }
        None => (src.trim().to_owned(), binary_version.to_owned()),
    }
}

/// The package name a `var/lib/dpkg/info/<name>[:arch].list` file belongs to.
pub fn list_file_package(path: &str) -> Option<&str> {
    let name = file_name(path).strip_suffix(".list")?;
    Some(name.split(':').next().unwrap_or(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemFiles;

    // Stanzas from bookworm's status file, trimmed of fields the detector ignores.
    const STATUS_TEXT: &str = "Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 12986\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nArchitecture: amd64\nMulti-Arch: same\nSource: glibc\nVersion: 2.36-9+deb12u10\nDescription: GNU C Library: Shared libraries\n Contains the standard libraries.\n\nPackage: libapt-pkg6.0\nStatus: install ok installed\nArchitecture: amd64\nSource: apt\nVersion: 2.6.1\n\nPackage: old-thing\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: gcc-12-base\nStatus: hold ok installed\nArchitecture: amd64\nSource: gcc-12 (12.2.0-14+deb12u1)\nVersion: 12.2.0-14\n\nPackage: dash\nStatus: install ok installed\nVersion: 0.5.12-2\n";

    #[test]
    fn status_file() {
        let ps = parse_status(STATUS, STATUS_TEXT.as_bytes(), true).unwrap();
        let got: Vec<_> = ps
            .iter()
            .map(|p| {
                let s = p.source.as_ref().unwrap();
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    s.name.as_str(),
                    s.version.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("libc6", "2.36-9+deb12u10", "glibc", "2.36-9+deb12u10"),
                ("libapt-pkg6.0", "2.6.1", "apt", "2.6.1"),
                ("gcc-12-base", "12.2.0-14", "gcc-12", "12.2.0-14+deb12u1"),
                ("dash", "0.5.12-2", "dash", "0.5.12-2"),
            ]
        );
        assert_eq!(ps[0].arch.as_deref(), Some("amd64"));
        assert_eq!(ps[0].source.as_ref().unwrap().kind, PackageKind::Source);
        assert_eq!(ps[3].arch, None);
    }

    #[test]
    fn distroless_status_d() {
        let mut m = MemFiles::new();
        m.insert(
            "var/lib/dpkg/status.d/base",
            "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"
                .as_bytes()
                .to_vec(),
        );
        m.insert(
            "var/lib/dpkg/status.d/base.md5sums",
            b"d41d8cd98f00b204e9800998ecf8427e  etc/x\n".to_vec(),
        );
        m.insert(
            "var/lib/dpkg/status.d/tzdata",
            "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"
                .as_bytes()
                .to_vec(),
        );
        let d = DpkgDetector;
        assert!(d.wants(&Candidate::file("var/lib/dpkg/status.d/base", 1)));
        assert!(!d.wants(&Candidate::file("var/lib/dpkg/status.d/base.md5sums", 1)));
        assert!(!d.wants(&Candidate::file("var/lib/dpkg/status-old", 1)));
        let det = d.detect(&m).unwrap();
        let names: Vec<_> = det.packages().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["base-files", "tzdata"]);
    }

    #[test]
    fn malformed() {
        // Truncated stanza: no version, dropped; truncated in the middle of a key.
        let ps = parse_status(STATUS, b"Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\nVers", true).unwrap();
        assert!(ps.is_empty());
        let junk: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(parse_status(STATUS, &junk, true).is_ok_and(|p| p.is_empty()));
        let long = format!("Package: {}\n", "a".repeat(200_000));
        assert!(matches!(
            parse_status(STATUS, long.as_bytes(), true),
            Err(DetectError::LineTooLong { .. })
        ));
        let huge_name = format!(
            "Package: {}\nStatus: install ok installed\nVersion: 1\n",
            "a".repeat(5000)
        );
        assert!(
            parse_status(STATUS, huge_name.as_bytes(), true)
                .unwrap()
                .is_empty()
        );
        assert_eq!(parse_source("x (", "1"), ("x".to_owned(), "1".to_owned()));
        // A bad status.d file is skipped, not fatal.
        let mut m = MemFiles::new();
        m.insert(
            "var/lib/dpkg/status.d/bad",
            format!("Package: {}\n", "b".repeat(100_000)).into_bytes(),
        );
        let det = DpkgDetector.detect(&m).unwrap();
        assert_eq!(det.skipped.len(), 1);
    }

    #[test]
    fn list_file_names() {
        assert_eq!(
            list_file_package("var/lib/dpkg/info/libc6:amd64.list"),
            Some("libc6")
        );
        assert_eq!(list_file_package("var/lib/dpkg/info/apt.list"), Some("apt"));
        assert_eq!(list_file_package("var/lib/dpkg/info/apt.md5sums"), None);
    }
}
