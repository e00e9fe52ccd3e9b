//! Cargo `VersionReq` matching, as RustSec writes `patched` and `unaffected` (">= 1.2.3",
//! "^0.4", "1.0" meaning ^1.0, comma-separated comparators, the rule that a prerelease only
//! matches a comparator naming a prerelease of the same major.minor.patch). It delegates to
//! the `semver` crate, which is the implementation Cargo itself uses, so it cannot drift from
//! Cargo's semantics.

/// Whether `version` matches the requirement `req` under Cargo's rules.
pub fn matches(req: &str, version: &str) -> Result<bool, crate::VersionError> {
    let r =
        semver::VersionReq::parse(req.trim()).map_err(|_| crate::VersionError::InvalidRange {
            scheme: "cargo",
            range: req.to_owned(),
        })?;
    let v = semver::Version::parse(version.trim()).map_err(|_| {
        crate::VersionError::InvalidVersion {
            scheme: "cargo",
            version: version.to_owned(),
        }
    })?;
    Ok(r.matches(&v))
}
