//! Language packages owned by an OS package are reported once, as the OS package.
//!
//! Debian's `python3-yaml` installs `usr/lib/python3/dist-packages/PyYAML-6.0.egg-info`, and
//! Alpine's `py3-yaml` a `dist-info`; the Python detector finds those too. Reporting both
//! would double every finding, and the right advisory source for a distribution's package is
//! the distribution's tracker (Debian backports fixes without changing the upstream version,
//! so PyPI advisories would be false positives). So language findings whose metadata file is
//! listed in the OS package database are dropped, as Clair and Trivy do.
//!
//! The file lists are dpkg's `var/lib/dpkg/info/<package>[:arch].list` (one absolute path per
//! line), apk's `F:`/`R:` lines in `lib/apk/db/installed`, and the file lists in the headers
//! of rpm's database (SQLite, BerkeleyDB or NDB). Use [`wants`] to keep these files
//! in the layer reader, [`OwnedFiles::from_files`] to load them, and
//! [`OwnedFiles::retain_unowned`] on the language detectors' findings.

use std::collections::HashMap;

use crate::text::lines;
use crate::{DetectError, FileSource, Finding, Skipped, apk, clean_path, dpkg, rpm};

const DPKG_INFO: &str = "var/lib/dpkg/info/";
/// Paths remembered in total; a large Debian system lists ~300,000.
const MAX_PATHS: usize = 5_000_000;
/// One `.list` file; texlive's biggest are a few MiB.
const MAX_LIST: usize = 64 * 1024 * 1024;

/// Whether the layer reader should keep `path` for [`OwnedFiles::from_files`].
pub fn wants(path: &str) -> bool {
    path == apk::INSTALLED
        || rpm::SQLITE_PATHS.contains(&path)
        || rpm::BDB_PATHS.contains(&path)
        || rpm::NDB_PATHS.contains(&path)
        || path
            .strip_prefix(DPKG_INFO)
            .is_some_and(|f| f.ends_with(".list") && !f.contains('/'))
}

/// Which OS package owns each file.
#[derive(Debug, Clone, Default)]
pub struct OwnedFiles {
    owner: HashMap<String, String>,
}

impl OwnedFiles {
    pub fn new() -> OwnedFiles {
        OwnedFiles::default()
    }

    /// Loads every dpkg `.list` file, apk's database and rpm's database in `files`. A file
    /// that cannot be read is reported and skipped; its package's files then count as unowned.
    pub fn from_files(files: &dyn FileSource) -> (OwnedFiles, Vec<Skipped>) {
        let mut owned = OwnedFiles::new();
        let mut skipped = Vec::new();
        for path in files.paths() {
            if !wants(path) {
                continue;
            }
            let Some(bytes) = files.read(path) else {
                continue;
            };
            let r = if path == apk::INSTALLED {
                owned.add_apk_db(bytes)
            } else if rpm::SQLITE_PATHS.contains(&path) {
                owned.add_rpm_sqlite(path, bytes)
            } else if rpm::BDB_PATHS.contains(&path) {
                owned.add_rpm_headers(path, rpm::read_bdb(path, bytes))
            } else if rpm::NDB_PATHS.contains(&path) {
                owned.add_rpm_headers(path, rpm::read_ndb(path, bytes))
            } else {
                match dpkg::list_file_package(path) {
                    Some(pkg) => owned.add_dpkg_list(path, pkg, bytes),
                    None => Ok(()),
                }
            };
            if let Err(error) = r {
                skipped.push(Skipped {
                    path: path.to_owned(),
                    error,
                });
            }
        }
        (owned, skipped)
    }

    /// Adds the files of one dpkg `.list` file, which belongs to `package`.
    pub fn add_dpkg_list(
        &mut self,
        path: &str,
        package: &str,
        bytes: &[u8],
    ) -> Result<(), DetectError> {
        DetectError::check_size(path, bytes, MAX_LIST)?;
        for line in lines(path, bytes) {
            let line = line?;
            let file = clean_path(line.trim_end());
            if file.is_empty() || file == "." {
                continue;
            }
            self.insert(path, file, package)?;
        }
        Ok(())
    }

    /// Adds every file listed in apk's installed database.
    pub fn add_apk_db(&mut self, bytes: &[u8]) -> Result<(), DetectError> {
        for (pkg, file) in apk::parse_owned_files(apk::INSTALLED, bytes)? {
            self.insert(apk::INSTALLED, &file, &pkg)?;
        }
        Ok(())
    }

    /// Adds every file listed in an rpm SQLite database (BerkeleyDB and NDB ones are read by
    /// [`OwnedFiles::from_files`]).
    pub fn add_rpm_sqlite(&mut self, path: &str, bytes: &[u8]) -> Result<(), DetectError> {
        self.add_rpm_headers(path, rpm::read_sqlite(path, bytes))
    }

    fn add_rpm_headers(
        &mut self,
        path: &str,
        headers: Result<Vec<rpm::RpmHeader>, DetectError>,
    ) -> Result<(), DetectError> {
        for h in headers? {
            for f in &h.files {
                self.insert(path, f, &h.name)?;
            }
        }
        Ok(())
    }

    fn insert(&mut self, path: &str, file: &str, package: &str) -> Result<(), DetectError> {
        if self.owner.len() >= MAX_PATHS {
            return Err(DetectError::TooMany {
                path: path.to_owned(),
                what: "owned files",
                limit: MAX_PATHS,
            });
        }
        self.owner.insert(file.to_owned(), package.to_owned());
        Ok(())
    }

    /// The OS package that installed `path`, if any.
    pub fn owner(&self, path: &str) -> Option<&str> {
        self.owner.get(clean_path(path)).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.owner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owner.is_empty()
    }

    /// Drops language packages whose metadata file is owned by an OS package; OS packages and
    /// distributions are kept. Returns how many were dropped.
    pub fn retain_unowned(&self, findings: &mut Vec<Finding>) -> usize {
        let before = findings.len();
        findings.retain(|f| match f {
            Finding::Package(p) => p.ecosystem.is_os() || self.owner(&p.path).is_none(),
            Finding::Distribution(_) => true,
        });
        before - findings.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Detector, MemFiles, python::PythonDetector};

    #[test]
    fn debian_owned_python_package_is_dropped() {
        let mut m = MemFiles::new();
        // From bookworm's python3-yaml.list.
        m.insert(
            "var/lib/dpkg/info/python3-yaml.list",
            b"/.\n/usr\n/usr/lib/python3/dist-packages\n/usr/lib/python3/dist-packages/PyYAML-6.0.egg-info\n/usr/lib/python3/dist-packages/PyYAML-6.0.egg-info/PKG-INFO\n".to_vec(),
        );
        m.insert(
            "usr/lib/python3/dist-packages/PyYAML-6.0.egg-info/PKG-INFO",
            b"Name: PyYAML\nVersion: 6.0\n".to_vec(),
        );
        m.insert(
            "usr/local/lib/python3.11/site-packages/PyYAML-5.3.dist-info/METADATA",
            b"Name: PyYAML\nVersion: 5.3\n".to_vec(),
        );
        let (owned, skipped) = OwnedFiles::from_files(&m);
        assert!(skipped.is_empty());
        assert_eq!(
            owned.owner("/usr/lib/python3/dist-packages"),
            Some("python3-yaml")
        );
        let mut det = PythonDetector.detect(&m).unwrap();
        assert_eq!(det.findings.len(), 2);
        assert_eq!(owned.retain_unowned(&mut det.findings), 1);
        let left: Vec<_> = det.packages().map(|p| p.version.as_str()).collect();
        assert_eq!(left, vec!["5.3"]);
    }

    #[test]
    fn wanted_files_and_garbage() {
        assert!(wants("var/lib/dpkg/info/libc6:amd64.list"));
        assert!(wants("lib/apk/db/installed"));
        assert!(!wants("var/lib/dpkg/info/libc6.md5sums"));
        let mut o = OwnedFiles::new();
        let junk: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(97) >> 3) as u8)
            .collect();
        let _ = o.add_dpkg_list("p", "x", &junk);
        let _ = o.add_apk_db(&junk);
        let long = vec![b'a'; 100_000];
        assert!(o.add_dpkg_list("p", "x", &long).is_err());
    }
}
