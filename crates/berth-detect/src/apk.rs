//! Alpine, Wolfi and Chainguard packages from apk's database, `lib/apk/db/installed`.
//!
//! The file is one block per installed package, blocks separated by a blank line, each line
//! `X:value` with a one-letter key: `P` name, `V` version, `A` architecture, `o` origin (the
//! source package, whose version is the binary's: apk builds every subpackage of an origin
//! together), `F` a directory and `R` a file in the last `F` directory (the package's files,
//! used by [`crate::OwnedFiles`]).

use crate::text::lines;
use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package, PackageKind,
};

pub const ID: DetectorId = DetectorId {
    name: "apk",
    version: 1,
};

pub const INSTALLED: &str = "lib/apk/db/installed";

/// A large Alpine system's database is a few MiB (it lists every file).
const MAX_DB: usize = 128 * 1024 * 1024;
const MAX_PACKAGES: usize = 100_000;
/// Files listed in the whole database.
const MAX_FILES: usize = 5_000_000;
const MAX_FIELD: usize = 1024;

/// Reads apk's installed database.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApkDetector;

impl Detector for ApkDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        file.path == INSTALLED
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        if let Some(bytes) = files.read(INSTALLED) {
            det.findings.extend(
                parse_installed(INSTALLED, bytes)?
                    .into_iter()
                    .map(Finding::Package),
            );
        }
        Ok(det)
    }
}

#[derive(Default)]
struct Block {
    name: String,
    version: String,
    arch: String,
    origin: String,
}

/// Calls `each(key, value)` for every `X:value` line and `each('\n', "")` at every block end.
fn walk(
    path: &str,
    bytes: &[u8],
    mut each: impl FnMut(char, &str) -> Result<(), DetectError>,
) -> Result<(), DetectError> {
    DetectError::check_size(path, bytes, MAX_DB)?;
    for line in lines(path, bytes) {
        let line = line?;
        if line.trim().is_empty() {
            each('\n', "")?;
            continue;
        }
        let mut chars = line.chars();
        let (Some(k), Some(':')) = (chars.next(), chars.next()) else {
            continue;
        };
        each(k, chars.as_str())?;
    }
    each('\n', "")
}

/// The installed packages, each with its origin as the source package.
pub fn parse_installed(path: &str, bytes: &[u8]) -> Result<Vec<Package>, DetectError> {
    let mut out = Vec::new();
    let mut b = Block::default();
    walk(path, bytes, |k, v| {
        if v.len() > MAX_FIELD {
            return Ok(());
        }
        match k {
            'P' => b.name = v.trim().to_owned(),
            'V' => b.version = v.trim().to_owned(),
            'A' => b.arch = v.trim().to_owned(),
            'o' => b.origin = v.trim().to_owned(),
            '\n' => {
                let done = std::mem::take(&mut b);
                if done.name.is_empty() || done.version.is_empty() {
                    return Ok(());
                }
                if out.len() >= MAX_PACKAGES {
                    return Err(DetectError::TooMany {
                        path: path.to_owned(),
                        what: "packages",
                        limit: MAX_PACKAGES,
                    });
                }
                let origin = if done.origin.is_empty() {
                    done.name.clone()
                } else {
                    done.origin
                };
                let source = Package {
                    kind: PackageKind::Source,
                    ..Package::new(origin, done.version.clone(), Ecosystem::Alpine, path, ID)
                };
                out.push(Package {
                    arch: Some(done.arch).filter(|a| !a.is_empty()),
                    source: Some(Box::new(source)),
                    ..Package::new(done.name, done.version, Ecosystem::Alpine, path, ID)
                });
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

/// `(package, file)` for every file the database lists, the file relative to the image root.
pub fn parse_owned_files(path: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, DetectError> {
    let mut out = Vec::new();
    let (mut pkg, mut dir) = (String::new(), String::new());
    walk(path, bytes, |k, v| {
        match k {
            'P' => pkg = v.trim().to_owned(),
            'F' => dir = v.trim().trim_matches('/').to_owned(),
            'R' if !pkg.is_empty() && !v.is_empty() => {
                if out.len() >= MAX_FILES {
                    return Err(DetectError::TooMany {
                        path: path.to_owned(),
                        what: "files",
                        limit: MAX_FILES,
                    });
                }
                let file = if dir.is_empty() {
                    v.to_owned()
                } else {
                    format!("{dir}/{v}")
                };
                out.push((pkg.clone(), file));
            }
            '\n' => {
                pkg.clear();
                dir.clear();
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two blocks of alpine:3.19's database, trimmed of checksum and size lines.
    const DB: &str = "C:Q1Jj5i5kmd6Xn3Kg/y0Xb3PfAm4wU=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nS:407585\nI:622592\nT:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\nm:Timo Teräs <timo.teras@iki.fi>\nt:1701259011\nc:39a1ffd2f9a3d2ef27a8a1fd4ba7a4f1e7fe2a1a\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\nF:usr/lib/python3.11/site-packages/foo-1.0.dist-info\nR:METADATA\n\n";

    #[test]
    fn installed_db() {
        let ps = parse_installed(INSTALLED, DB.as_bytes()).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(
            (ps[1].name.as_str(), ps[1].version.as_str()),
            ("libcrypto3", "3.1.4-r5")
        );
        let src = ps[1].source.as_ref().unwrap();
        assert_eq!(
            (src.name.as_str(), src.version.as_str()),
            ("openssl", "3.1.4-r5")
        );
        assert_eq!(ps[0].arch.as_deref(), Some("x86_64"));
        let files = parse_owned_files(INSTALLED, DB.as_bytes()).unwrap();
        assert_eq!(files[0], ("musl".into(), "lib/ld-musl-x86_64.so.1".into()));
        assert_eq!(
            files[2],
            (
                "libcrypto3".into(),
                "usr/lib/python3.11/site-packages/foo-1.0.dist-info/METADATA".into()
            )
        );
    }

    #[test]
    fn malformed() {
        assert!(parse_installed(INSTALLED, b"P:a\nV").unwrap().is_empty());
        assert_eq!(parse_installed(INSTALLED, b"P:a\nV:1").unwrap().len(), 1);
        let junk: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(40503) >> 7) as u8)
            .collect();
        let _ = parse_installed(INSTALLED, &junk);
        let _ = parse_owned_files(INSTALLED, &junk);
        let long = format!("P:{}\n", "x".repeat(100_000));
        assert!(parse_installed(INSTALLED, long.as_bytes()).is_err());
        let many = "P:a\nV:1\n\n".repeat(MAX_PACKAGES + 1);
        assert!(matches!(
            parse_installed(INSTALLED, many.as_bytes()),
            Err(DetectError::TooMany { .. })
        ));
    }
}
