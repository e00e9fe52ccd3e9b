//! SemVer 2.0.0 precedence, with node-semver's strict parser in front (a leading "v" and
//! surrounding whitespace are accepted, as `semver.compare` accepts them). Build metadata
//! never affects the order. Numbers are compared exactly at any length, as the spec says;
//! node-semver itself rejects main numbers above 2^53-1.

use std::cmp::Ordering;

use crate::VersionError;
use crate::num::{all_digits, cmp_num};

/// A parsed version: slices of the input, so parsing never allocates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SemVer<'a> {
    pub major: &'a str,
    pub minor: &'a str,
    pub patch: &'a str,
    /// Dot-separated identifiers without the leading "-"; empty when a release.
    pub pre: &'a str,
}

/// JavaScript's `String.prototype.trim` whitespace (node-semver trims with it).
pub(crate) fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// `0|[1-9]\d*`
pub(crate) fn numeric_id(s: &str) -> bool {
    all_digits(s) && (s.len() == 1 || !s.starts_with('0'))
}

fn ident_chars(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

/// A prerelease identifier: numeric without leading zeros, or alphanumeric with a non-digit.
pub(crate) fn pre_id(s: &str) -> bool {
    ident_chars(s) && (!all_digits(s) || numeric_id(s))
}

/// Parses `MAJOR.MINOR.PATCH[-PRE][+BUILD]` (node-semver's FULLPLAIN without the "v").
pub(crate) fn parse_plain(s: &str) -> Option<SemVer<'_>> {
    let (rest, _build) = match s.find('+') {
        Some(i) => {
            let build = &s[i + 1..];
            if !build.split('.').all(ident_chars) {
                return None;
            }
            (&s[..i], build)
        }
        None => (s, ""),
    };
    let (main, pre) = match rest.find('-') {
        Some(i) => {
            let pre = &rest[i + 1..];
            if !pre.split('.').all(pre_id) {
                return None;
            }
            (&rest[..i], pre)
        }
        None => (rest, ""),
    };
    let mut it = main.split('.');
    let (major, minor, patch) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || ![major, minor, patch].iter().all(|n| numeric_id(n)) {
        return None;
    }
    Some(SemVer {
        major,
        minor,
        patch,
        pre,
    })
}

pub(crate) fn parse<'a>(input: &'a str, scheme: &'static str) -> Result<SemVer<'a>, VersionError> {
    let s = input.trim_matches(is_js_space);
    let s = s.strip_prefix('v').unwrap_or(s);
    parse_plain(s).ok_or_else(|| VersionError::InvalidVersion {
        scheme,
        version: input.to_owned(),
    })
}

/// Orders two prerelease identifiers: numeric ones by value and below alphanumeric ones,
/// alphanumeric ones by ASCII.
pub(crate) fn cmp_ident(a: &str, b: &str) -> Ordering {
    match (all_digits(a), all_digits(b)) {
        (true, true) => cmp_num(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// Orders two prerelease strings; the empty string (a release) sorts last.
pub(crate) fn cmp_pre(a: &str, b: &str, ident: fn(&str, &str) -> Ordering) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = ident(x, y);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

impl SemVer<'_> {
    pub(crate) fn cmp_main(&self, o: &SemVer<'_>) -> Ordering {
        cmp_num(self.major, o.major)
            .then_with(|| cmp_num(self.minor, o.minor))
            .then_with(|| cmp_num(self.patch, o.patch))
    }

    pub(crate) fn precedence(&self, o: &SemVer<'_>) -> Ordering {
        self.cmp_main(o)
            .then_with(|| cmp_pre(self.pre, o.pre, cmp_ident))
    }
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a, "semver")?;
    let b = parse(b, "semver")?;
    Ok(a.precedence(&b))
}
