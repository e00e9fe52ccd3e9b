//! Package version ordering per ecosystem, free of I/O.
//!
//! A vulnerability match is only as right as the version comparison behind it: "1.0~rc1" is
//! older than "1.0" for dpkg but not for a naive compare, so each scheme here follows its
//! reference tool exactly (the tests check that against the real tools).

use std::cmp::Ordering;

mod apk;
pub mod cargo;
mod composer;
mod dpkg;
mod generic;
mod go;
mod maven;
pub mod npm;
mod nuget;
mod num;
mod pep440;
mod rpm;
mod rubygems;
mod semver;

/// A versioning scheme, named after the ecosystem whose tool defines its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Dpkg,
    Rpm,
    Apk,
    Pep440,
    Semver,
    Maven,
    RubyGems,
    Go,
    NuGet,
    Composer,
    Generic,
}

impl Scheme {
    /// Total order of two versions in this scheme. Err only where the scheme rejects the
    /// string; lenient schemes (dpkg, rpm, apk, maven, generic) never fail on non-empty input.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        match self {
            Scheme::Dpkg => dpkg::compare(a, b),
            Scheme::Rpm => rpm::compare(a, b),
            Scheme::Apk => apk::compare(a, b),
            Scheme::Pep440 => pep440::compare(a, b),
            Scheme::Semver => semver::compare(a, b),
            Scheme::Maven => maven::compare(a, b),
            Scheme::RubyGems => rubygems::compare(a, b),
            Scheme::Go => go::compare(a, b),
            Scheme::NuGet => nuget::compare(a, b),
            Scheme::Composer => composer::compare(a, b),
            Scheme::Generic => generic::compare(a, b),
        }
    }

    /// The scheme's name as used in configuration and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Dpkg => "dpkg",
            Scheme::Rpm => "rpm",
            Scheme::Apk => "apk",
            Scheme::Pep440 => "pep440",
            Scheme::Semver => "semver",
            Scheme::Maven => "maven",
            Scheme::RubyGems => "rubygems",
            Scheme::Go => "go",
            Scheme::NuGet => "nuget",
            Scheme::Composer => "composer",
            Scheme::Generic => "generic",
        }
    }
}

/// Why a version or range string was rejected, naming the scheme and the string so a bad
/// advisory record can be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("{scheme}: empty version")]
    Empty { scheme: &'static str },
    #[error("{scheme}: invalid version {version:?}")]
    InvalidVersion {
        scheme: &'static str,
        version: String,
    },
    #[error("{scheme}: invalid range {range:?}")]
    InvalidRange { scheme: &'static str, range: String },
}
