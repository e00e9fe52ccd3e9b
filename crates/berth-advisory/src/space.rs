//! Package namespaces: which ecosystem, and for OS packages which distribution release, an
//! advisory or an installed package belongs to.
//!
//! The canonical string form (`debian:12`, `ubuntu:22.04`, `alpine:v3.18`, `rhel:9`, `pypi`,
//! `npm`, `crates.io`, `go`, `maven`, `rubygems`, `nuget`, `packagist`) is the database's
//! lookup key, so both sides must produce it the same way: feeds through [`Space::from_osv`]
//! and friends, images through [`Space::for_distribution`] and [`Space::for_language`].

use serde::{Deserialize, Serialize};

pub use berth_version::Scheme as VersionScheme;

/// A package namespace in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Space(String);

impl Space {
    /// A space from its canonical string (lowercased).
    pub fn new(s: &str) -> Space {
        Space(s.trim().to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The distribution part (`debian`), for OS spaces.
    pub fn distribution(&self) -> Option<&str> {
        self.0.split_once(':').map(|(d, _)| d)
    }

    /// The release part (`12`, `v3.18`), for OS spaces.
    pub fn release(&self) -> Option<&str> {
        self.0.split_once(':').map(|(_, r)| r)
    }

    /// The space of an OSV `ecosystem` string: `Debian:12`, `Ubuntu:22.04:LTS`,
    /// `Alpine:v3.18`, `PyPI`, `crates.io`, ... `None` for ecosystems berth cannot match
    /// (Ubuntu Pro's ESM streams, which ship outside the public archive; Android; GIT).
    pub fn from_osv(ecosystem: &str) -> Option<Space> {
        let mut parts = ecosystem.split(':');
        let base = parts.next()?.trim();
        let rest: Vec<&str> = parts.collect();
        let lang = match base {
            "PyPI" => Some("pypi"),
            "npm" => Some("npm"),
            "crates.io" => Some("crates.io"),
            "Go" => Some("go"),
            "Maven" => Some("maven"),
            "RubyGems" => Some("rubygems"),
            "NuGet" => Some("nuget"),
            "Packagist" => Some("packagist"),
            _ => None,
        };
        if let Some(l) = lang {
            return Some(Space::new(l));
        }
        let release = rest.first()?.trim();
        if release.is_empty() {
            return None;
        }
        match base {
            "Debian" => Some(Space(format!("debian:{release}"))),
            "Ubuntu" if release.eq_ignore_ascii_case("pro") => None,
            "Ubuntu" => Some(Space(format!("ubuntu:{release}"))),
            "Alpine" => Some(Space::alpine(release)),
            "Red Hat" | "Rocky Linux" | "AlmaLinux" => {
                let major = release.split('.').next()?;
                Some(Space(format!("{}:{major}", rpm_distribution(base))))
            }
            _ => None,
        }
    }

    /// Alpine's space for a release written `v3.18`, `3.18` or `3.18.4`.
    pub fn alpine(release: &str) -> Space {
        let r = release.trim().trim_start_matches('v');
        let mut it = r.split('.');
        let major = it.next().unwrap_or("");
        match it.next() {
            Some(minor) => Space(format!("alpine:v{major}.{minor}")),
            None if r == "edge" => Space::new("alpine:edge"),
            None => Space(format!("alpine:v{major}")),
        }
    }

    /// The space of an installed OS package, from the image's os-release (`ID`,
    /// `VERSION_ID`, `VERSION_CODENAME`). `None` when the release cannot be told (a Debian
    /// testing image without `VERSION_ID`): no data can then be said to apply.
    pub fn for_distribution(did: &str, version_id: &str, codename: &str) -> Option<Space> {
        let vid = version_id.trim();
        match did.trim() {
            "debian" => {
                let major = vid.split('.').next().unwrap_or("");
                if !major.is_empty() {
                    Some(Space(format!("debian:{major}")))
                } else {
                    debian_release_of(codename).map(|r| Space(format!("debian:{r}")))
                }
            }
            "ubuntu" if !vid.is_empty() => Some(Space(format!("ubuntu:{vid}"))),
            "alpine" if !vid.is_empty() => Some(Space::alpine(vid)),
            d @ ("rhel" | "centos" | "rocky" | "almalinux") if !vid.is_empty() => {
                let major = vid.split('.').next()?;
                let dist = match d {
                    "rhel" | "centos" => "rhel",
                    other => other,
                };
                Some(Space(format!("{dist}:{major}")))
            }
            _ => None,
        }
    }

    /// The space of a language package by its ecosystem's OSV name.
    pub fn for_language(osv_name: &str) -> Option<Space> {
        Space::from_osv(osv_name).filter(|s| s.release().is_none())
    }

    /// How versions compare in this space.
    pub fn scheme(&self) -> VersionScheme {
        match self.distribution().unwrap_or(&self.0) {
            "debian" | "ubuntu" => VersionScheme::Dpkg,
            "alpine" => VersionScheme::Apk,
            "rhel" | "rocky" | "almalinux" => VersionScheme::Rpm,
            "pypi" => VersionScheme::Pep440,
            "npm" | "crates.io" => VersionScheme::Semver,
            "go" => VersionScheme::Go,
            "maven" => VersionScheme::Maven,
            "rubygems" => VersionScheme::RubyGems,
            "nuget" => VersionScheme::NuGet,
            "packagist" => VersionScheme::Composer,
            _ => VersionScheme::Generic,
        }
    }

    /// Whether package names in this space compare case-insensitively and with `-`, `_`
    /// and `.` equal (PEP 503), so the lookup key must be normalized.
    pub fn normalize_name(&self, name: &str) -> String {
        match self.as_str() {
            "pypi" => {
                let mut out = String::with_capacity(name.len());
                let mut sep = false;
                for ch in name.trim().chars() {
                    if matches!(ch, '-' | '_' | '.') {
                        sep = true;
                    } else {
                        if sep && !out.is_empty() {
                            out.push('-');
                        }
                        sep = false;
                        out.push(ch.to_ascii_lowercase());
                    }
                }
                out
            }
            "nuget" | "packagist" => name.trim().to_ascii_lowercase(),
            _ => name.trim().to_owned(),
        }
    }
}

fn rpm_distribution(osv_base: &str) -> &'static str {
    match osv_base {
        "Rocky Linux" => "rocky",
        "AlmaLinux" => "almalinux",
        _ => "rhel",
    }
}

/// Debian's release numbers by codename: the tracker keys releases by codename, the model by
/// number, and images without `VERSION_ID` (testing) only name their codename. `sid`
/// (unstable) has no number and never matches.
pub fn debian_release_of(codename: &str) -> Option<&'static str> {
    Some(match codename.trim() {
        "jessie" => "8",
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        _ => return None,
    })
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_and_images_meet_on_one_key() {
        assert_eq!(
            Space::from_osv("Debian:12"),
            Space::for_distribution("debian", "12", "bookworm")
        );
        assert_eq!(
            Space::from_osv("Ubuntu:22.04:LTS"),
            Space::for_distribution("ubuntu", "22.04", "jammy")
        );
        assert_eq!(
            Space::from_osv("Alpine:v3.18"),
            Space::for_distribution("alpine", "3.18.4", "")
        );
        assert_eq!(Space::from_osv("PyPI"), Space::for_language("PyPI"));
        assert_eq!(
            Space::for_distribution("debian", "", "trixie")
                .unwrap()
                .as_str(),
            "debian:13"
        );
        assert_eq!(
            Space::for_distribution("rhel", "9.2", "").unwrap().as_str(),
            "rhel:9"
        );
        assert_eq!(Space::from_osv("Ubuntu:Pro:18.04:LTS"), None);
        assert_eq!(Space::from_osv("Debian"), None);
        assert_eq!(Space::from_osv("GIT"), None);
        assert_eq!(
            Space::new("pypi").normalize_name("Foo__Bar.baz"),
            "foo-bar-baz"
        );
        assert_eq!(Space::new("debian:12").scheme(), VersionScheme::Dpkg);
    }
}
