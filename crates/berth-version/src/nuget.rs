//! NuGet's version order (NuGet.Versioning `VersionComparer.Default`): one to four numeric
//! parts (missing ones are 0, each a 32-bit int), then SemVer 2 prerelease labels compared
//! case-insensitively, numeric labels by value and before alphanumeric ones; build metadata
//! ignored. No .NET runtime installs from Debian, so the tests are tables of documented cases.

use std::cmp::Ordering;

use crate::VersionError;

struct NuGet<'a> {
    parts: [u32; 4],
    pre: &'a str,
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        // NuGetVersion rejects numeric labels with leading zeros.
        && !(s.len() > 1 && s.starts_with('0') && s.bytes().all(|c| c.is_ascii_digit()))
}

fn parse(input: &str) -> Result<NuGet<'_>, VersionError> {
    let bad = || VersionError::InvalidVersion {
        scheme: "nuget",
        version: input.to_owned(),
    };
    let s = input.trim();
    let (rest, meta) = match s.find('+') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if meta.is_some_and(|m| {
        !m.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    }) {
        return Err(bad());
    }
    let (main, pre) = match rest.find('-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if rest.len() > main.len() && !pre.split('.').all(label_ok) {
        return Err(bad());
    }
    let mut parts = [0u32; 4];
    for (n, p) in main.split('.').enumerate() {
        if n == 4 || !crate::num::all_digits(p) {
            return Err(bad());
        }
        parts[n] = p.parse::<i32>().map_err(|_| bad())? as u32;
    }
    Ok(NuGet { parts, pre })
}

/// `int.TryParse` on a label: an optional minus and digits that fit an `i32`.
fn label_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !crate::num::all_digits(digits) {
        return None;
    }
    s.parse().ok()
}

fn cmp_label(a: &str, b: &str) -> Ordering {
    match (label_int(a), label_int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a
            .bytes()
            .map(|c| c.to_ascii_uppercase())
            .cmp(b.bytes().map(|c| c.to_ascii_uppercase())),
    }
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    Ok(a.parts
        .cmp(&b.parts)
        .then_with(|| crate::semver::cmp_pre(a.pre, b.pre, cmp_label)))
}
