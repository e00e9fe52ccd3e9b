//! Go module versions, ordered like `golang.org/x/mod/semver.Compare`: semantic versions
//! with a "v" (optional here, since advisories write both), the shorthands "v1" and "v1.2",
//! "+incompatible" and other build metadata ignored, pseudo-versions ordered as the
//! prereleases they are. The Go toolchain's own names ("go1.21.3", "1.21rc2", "1.19beta1")
//! are read the way the Go vulnerability database writes the standard library's versions:
//! 1.21rc2 is 1.21.0-rc.2 and 1.21 is 1.21.0.
//!
//! No reference tool is installed in CI (the Go proxy is not reachable there), so the tests
//! are tables of real versions from the Go vulnerability database.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::VersionError;
use crate::num::all_digits;
use crate::semver::{cmp_ident, cmp_pre, numeric_id, pre_id};

struct GoVer<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    pre: Cow<'a, str>,
}

fn ident_chars(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

/// x/mod/semver's `parse`, without the leading "v".
fn parse_module(s: &str) -> Option<GoVer<'_>> {
    let (rest, build) = match s.find('+') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(b) = build
        && !b.split('.').all(ident_chars)
    {
        return None;
    }
    let (main, pre) = match rest.find('-') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut it = main.split('.');
    let major = it.next()?;
    let minor = it.next();
    let patch = it.next();
    if it.next().is_some() || !numeric_id(major) {
        return None;
    }
    if minor.is_some_and(|m| !numeric_id(m)) || patch.is_some_and(|p| !numeric_id(p)) {
        return None;
    }
    // Shorthands take neither prerelease nor build.
    if patch.is_none() && (pre.is_some() || build.is_some()) {
        return None;
    }
    let pre = match pre {
        Some(p) if p.split('.').all(pre_id) => p,
        Some(_) => return None,
        None => "",
    };
    Some(GoVer {
        major,
        minor: minor.unwrap_or("0"),
        patch: patch.unwrap_or("0"),
        pre: Cow::Borrowed(pre),
    })
}

/// Go toolchain names: `1.N[.P][(rc|beta|alpha)K]` (go/version's grammar).
fn parse_toolchain(s: &str) -> Option<GoVer<'_>> {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (nums, kind) = s.split_at(split);
    let mut it = nums.split('.');
    let major = it.next()?;
    let minor = it.next().unwrap_or("0");
    let patch = it.next().unwrap_or("0");
    if it.next().is_some() || ![major, minor, patch].iter().all(|n| all_digits(n)) {
        return None;
    }
    let pre = if kind.is_empty() {
        Cow::Borrowed("")
    } else {
        let label = ["alpha", "beta", "rc"]
            .into_iter()
            .find(|l| kind.starts_with(l))?;
        let n = &kind[label.len()..];
        if !numeric_id(n) {
            return None;
        }
        Cow::Owned(format!("{label}.{n}"))
    };
    Some(GoVer {
        major,
        minor,
        patch,
        pre,
    })
}

fn parse(input: &str) -> Result<GoVer<'_>, VersionError> {
    let bad = || VersionError::InvalidVersion {
        scheme: "go",
        version: input.to_owned(),
    };
    if let Some(rest) = input.strip_prefix('v') {
        return parse_module(rest).ok_or_else(bad);
    }
    let rest = input.strip_prefix("go").unwrap_or(input);
    parse_module(rest)
        .or_else(|| parse_toolchain(rest))
        .ok_or_else(bad)
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    let num = crate::num::cmp_num;
    Ok(num(a.major, b.major)
        .then_with(|| num(a.minor, b.minor))
        .then_with(|| num(a.patch, b.patch))
        .then_with(|| cmp_pre(&a.pre, &b.pre, cmp_ident)))
}
