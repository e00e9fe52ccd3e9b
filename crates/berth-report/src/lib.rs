//! The index report: what berth's indexer found in one image, in the JSON shape of Clair v4's
//! `IndexReport`, so tools written for Clair (Quay's security scanner client, clairctl) read
//! it unchanged.
//!
//! ```text
//! IndexReport
//!   manifest_hash   sha256 of the image manifest
//!   state           IndexFinished | IndexError | ...
//!   packages        id -> Package (binary packages, each with its source package)
//!   distributions   id -> Distribution (the OS the image is built on)
//!   repository      id -> Repository (pypi, npm, go, ...: where a language package is from)
//!   environments    package id -> [Environment] (found in which file, introduced by which
//!                   layer, under which distribution, from which repository)
//!   success, err
//! ```
//!
//! Clair ties a package to its packaging system only indirectly (a language package through
//! its repository, an OS package through its package database and distribution). Consumers
//! that need the ecosystem explicitly (SBOM export, vulnerability matching) use
//! [`IndexReport::ecosystem`], which reads it back from exactly that data, so the stored report
//! stays pure Clair and nothing is said twice.
//!
//! Pure: serde types and lookups, no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod vulnerability;
pub use vulnerability::{
    CVSS_ENRICHMENT, CvssScore, EPSS_ENRICHMENT, KEV_ENRICHMENT, Vulnerability, VulnerabilityReport,
};

/// The states of Clair's indexer that a finished or failed report can be in.
pub mod state {
    pub const INDEX_FINISHED: &str = "IndexFinished";
    pub const INDEX_ERROR: &str = "IndexError";
    /// Queued or running: the report does not exist yet.
    pub const INDEXING: &str = "ScanLayers";
}

/// Clair v4's `IndexReport`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexReport {
    pub manifest_hash: String,
    pub state: String,
    #[serde(default)]
    pub packages: BTreeMap<String, Package>,
    #[serde(default)]
    pub distributions: BTreeMap<String, Distribution>,
    #[serde(default)]
    pub repository: BTreeMap<String, Repository>,
    #[serde(default)]
    pub environments: BTreeMap<String, Vec<Environment>>,
    pub success: bool,
    #[serde(default)]
    pub err: String,
}

/// Clair's `Package`. `kind` is `"binary"` or `"source"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub version: String,
    pub kind: String,
    #[serde(default)]
    pub source: Option<Box<Package>>,
    #[serde(default)]
    pub normalized_version: String,
    #[serde(default)]
    pub module: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub cpe: String,
}

/// Clair's `Distribution`: the os-release fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    pub id: String,
    pub did: String,
    pub name: String,
    pub version: String,
    pub version_code_name: String,
    pub version_id: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub cpe: String,
    pub pretty_name: String,
}

/// Clair's `Repository`: where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub cpe: String,
}

/// Clair's `Environment`: where one package was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// The file the package was read from (`var/lib/dpkg/status`, a `METADATA`, a binary).
    pub package_db: String,
    /// Digest of the layer that introduced the package.
    pub introduced_in: String,
    /// Id of the distribution (empty for none).
    #[serde(default)]
    pub distribution_id: String,
    #[serde(default)]
    pub repository_ids: Vec<String>,
}

/// The packaging systems berth's detectors know, with the names and URIs used for their
/// [`Repository`] entries (the language ones) and their package-URL types.
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
    pub const ALL: [Ecosystem; 11] = [
        Ecosystem::Debian,
        Ecosystem::Alpine,
        Ecosystem::Rpm,
        Ecosystem::PyPI,
        Ecosystem::Npm,
        Ecosystem::Go,
        Ecosystem::Cargo,
        Ecosystem::Maven,
        Ecosystem::RubyGems,
        Ecosystem::NuGet,
        Ecosystem::Packagist,
    ];

    /// The OSV ecosystem name, which advisory feeds use.
    pub const fn osv_name(self) -> &'static str {
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

    /// The package-URL type (`pkg:<type>/...`).
    pub const fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Debian => "deb",
            Ecosystem::Alpine => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::PyPI => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "golang",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Maven => "maven",
            Ecosystem::RubyGems => "gem",
            Ecosystem::NuGet => "nuget",
            Ecosystem::Packagist => "composer",
        }
    }

    /// Whether the distribution's package manager installs these packages.
    pub const fn is_os(self) -> bool {
        matches!(self, Ecosystem::Debian | Ecosystem::Alpine | Ecosystem::Rpm)
    }

    /// The `(name, uri)` of the [`Repository`] entry for a language ecosystem; `None` for OS
    /// packages, which Clair ties to their distribution instead.
    pub const fn repository(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Ecosystem::Debian | Ecosystem::Alpine | Ecosystem::Rpm => return None,
            Ecosystem::PyPI => ("pypi", "https://pypi.org/simple"),
            Ecosystem::Npm => ("npm", "https://registry.npmjs.org"),
            Ecosystem::Go => ("go", "https://proxy.golang.org"),
            Ecosystem::Cargo => ("crates.io", "https://crates.io"),
            Ecosystem::Maven => ("maven", "https://repo1.maven.apache.org/maven2"),
            Ecosystem::RubyGems => ("rubygems", "https://rubygems.org"),
            Ecosystem::NuGet => ("nuget", "https://api.nuget.org/v3/index.json"),
            Ecosystem::Packagist => ("packagist", "https://packagist.org"),
        })
    }

    /// The ecosystem of a language [`Repository`] by its name.
    pub fn from_repository_name(name: &str) -> Option<Ecosystem> {
        Ecosystem::ALL
            .into_iter()
            .find(|e| e.repository().is_some_and(|(n, _)| n == name))
    }

    /// The OS ecosystem of a package database path.
    pub fn from_package_db(path: &str) -> Option<Ecosystem> {
        let file = path.rsplit('/').next().unwrap_or(path);
        if path.contains("dpkg/") {
            Some(Ecosystem::Debian)
        } else if path.ends_with("apk/db/installed") {
            Some(Ecosystem::Alpine)
        } else if path.contains("/rpm/")
            && matches!(file, "rpmdb.sqlite" | "Packages" | "Packages.db")
        {
            Some(Ecosystem::Rpm)
        } else {
            None
        }
    }
}

impl IndexReport {
    /// An empty report in `state`.
    pub fn new(manifest_hash: impl Into<String>, state: &str) -> IndexReport {
        IndexReport {
            manifest_hash: manifest_hash.into(),
            state: state.to_owned(),
            packages: BTreeMap::new(),
            distributions: BTreeMap::new(),
            repository: BTreeMap::new(),
            environments: BTreeMap::new(),
            success: state == state::INDEX_FINISHED,
            err: String::new(),
        }
    }

    /// A failed report carrying the reason.
    pub fn failed(manifest_hash: impl Into<String>, err: impl Into<String>) -> IndexReport {
        IndexReport {
            err: err.into(),
            ..IndexReport::new(manifest_hash, state::INDEX_ERROR)
        }
    }

    /// The packaging system of package `id`: from its environment's repository for a
    /// language package, from its package database for an OS package.
    pub fn ecosystem(&self, id: &str) -> Option<Ecosystem> {
        let env = self.environments.get(id)?.first()?;
        env.repository_ids
            .iter()
            .filter_map(|r| self.repository.get(r))
            .find_map(|r| Ecosystem::from_repository_name(&r.name))
            .or_else(|| Ecosystem::from_package_db(&env.package_db))
    }

    /// The distribution of package `id`, when it has one.
    pub fn distribution_of(&self, id: &str) -> Option<&Distribution> {
        let env = self.environments.get(id)?.first()?;
        self.distributions.get(&env.distribution_id)
    }

    /// The package URL of package `id` (see [`purl`]).
    pub fn purl(&self, id: &str) -> Option<String> {
        let p = self.packages.get(id)?;
        let eco = self.ecosystem(id)?;
        Some(purl(eco, p, self.distribution_of(id)))
    }
}

/// The package URL (<https://github.com/package-url/purl-spec>) of a package.
///
/// OS packages carry their distribution as a namespace and qualifier
/// (`pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`), Maven names are split into
/// group and artifact, Go and npm scopes become namespaces.
pub fn purl(eco: Ecosystem, p: &Package, dist: Option<&Distribution>) -> String {
    let (namespace, name): (Option<String>, String) = match eco {
        Ecosystem::Debian | Ecosystem::Alpine | Ecosystem::Rpm => (
            dist.map(|d| d.did.clone()).filter(|d| !d.is_empty()),
            p.name.clone(),
        ),
        Ecosystem::Maven => match p.name.split_once(':') {
            Some((g, a)) => (Some(g.to_owned()), a.to_owned()),
            None => (None, p.name.clone()),
        },
        Ecosystem::Npm => match p.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
            Some((scope, n)) => (Some(format!("@{scope}")), n.to_owned()),
            None => (None, p.name.clone()),
        },
        Ecosystem::Go | Ecosystem::Packagist => match p.name.rsplit_once('/') {
            Some((ns, n)) => (Some(ns.to_owned()), n.to_owned()),
            None => (None, p.name.clone()),
        },
        Ecosystem::PyPI => (None, p.name.to_lowercase().replace('_', "-")),
        Ecosystem::Cargo | Ecosystem::RubyGems | Ecosystem::NuGet => (None, p.name.clone()),
    };
    let mut out = format!("pkg:{}/", eco.purl_type());
    if let Some(ns) = namespace {
        for (i, seg) in ns.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&encode(seg));
        }
        out.push('/');
    }
    out.push_str(&encode(&name));
    if !p.version.is_empty() {
        out.push('@');
        out.push_str(&encode(&p.version));
    }
    let mut qualifiers: Vec<(&str, String)> = Vec::new();
    if eco.is_os() {
        if !p.arch.is_empty() {
            qualifiers.push(("arch", p.arch.clone()));
        }
        if let Some(d) = dist.filter(|d| !d.did.is_empty()) {
            let v = if d.version_id.is_empty() {
                d.did.clone()
            } else {
                format!("{}-{}", d.did, d.version_id)
            };
            qualifiers.push(("distro", v));
        }
        if let Some(src) = &p.source
            && src.name != p.name
        {
            qualifiers.push(("upstream", src.name.clone()));
        }
    }
    qualifiers.sort();
    for (i, (k, v)) in qualifiers.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

/// Percent-encodes everything but the purl spec's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else if b == b':' {
            // Allowed unencoded in purl (epochs in versions: `1:2.3-4`).
            out.push(':');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            id: "1".into(),
            name: name.into(),
            version: version.into(),
            kind: "binary".into(),
            source: None,
            normalized_version: String::new(),
            module: String::new(),
            arch: String::new(),
            cpe: String::new(),
        }
    }

    fn debian() -> Distribution {
        Distribution {
            id: "1".into(),
            did: "debian".into(),
            name: "Debian GNU/Linux".into(),
            version: "12 (bookworm)".into(),
            version_code_name: "bookworm".into(),
            version_id: "12".into(),
            arch: String::new(),
            cpe: String::new(),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
        }
    }

    #[test]
    fn purls() {
        let mut libc = pkg("libc6", "2.36-9+deb12u4");
        libc.arch = "amd64".into();
        libc.source = Some(Box::new(pkg("glibc", "2.36-9+deb12u4")));
        assert_eq!(
            purl(Ecosystem::Debian, &libc, Some(&debian())),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
        assert_eq!(
            purl(Ecosystem::Npm, &pkg("@babel/core", "7.1.0"), None),
            "pkg:npm/%40babel/core@7.1.0"
        );
        assert_eq!(
            purl(
                Ecosystem::Maven,
                &pkg("org.apache.commons:commons-lang3", "3.12.0"),
                None
            ),
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0"
        );
        assert_eq!(
            purl(
                Ecosystem::Go,
                &pkg("github.com/gorilla/mux", "v1.8.0"),
                None
            ),
            "pkg:golang/github.com/gorilla/mux@v1.8.0"
        );
        assert_eq!(
            purl(Ecosystem::PyPI, &pkg("PyYAML", "5.3.1"), None),
            "pkg:pypi/pyyaml@5.3.1"
        );
        assert_eq!(
            purl(Ecosystem::Rpm, &pkg("bash", "0:5.1.8-6.el9"), None),
            "pkg:rpm/bash@0:5.1.8-6.el9"
        );
    }

    #[test]
    fn ecosystem_from_report_data() {
        let mut r = IndexReport::new("sha256:00", state::INDEX_FINISHED);
        r.packages.insert("1".into(), pkg("libc6", "2.36"));
        r.packages.insert("2".into(), pkg("requests", "2.0"));
        r.distributions.insert("1".into(), debian());
        r.repository.insert(
            "1".into(),
            Repository {
                id: "1".into(),
                name: "pypi".into(),
                key: String::new(),
                uri: "https://pypi.org/simple".into(),
                cpe: String::new(),
            },
        );
        r.environments.insert(
            "1".into(),
            vec![Environment {
                package_db: "var/lib/dpkg/status".into(),
                introduced_in: "sha256:aa".into(),
                distribution_id: "1".into(),
                repository_ids: vec![],
            }],
        );
        r.environments.insert(
            "2".into(),
            vec![Environment {
                package_db: "usr/lib/python3/site-packages/requests-2.0.dist-info/METADATA".into(),
                introduced_in: "sha256:bb".into(),
                distribution_id: "1".into(),
                repository_ids: vec!["1".into()],
            }],
        );
        assert_eq!(r.ecosystem("1"), Some(Ecosystem::Debian));
        assert_eq!(r.ecosystem("2"), Some(Ecosystem::PyPI));
        assert_eq!(r.ecosystem("3"), None);
        assert_eq!(r.purl("2").as_deref(), Some("pkg:pypi/requests@2.0"));
        let json = serde_json::to_value(&r).unwrap();
        for key in [
            "manifest_hash",
            "state",
            "packages",
            "distributions",
            "repository",
            "environments",
            "success",
            "err",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        let back: IndexReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
