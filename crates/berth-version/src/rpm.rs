//! rpm's version order: `rpmvercmp` (rpmio/rpmvercmp.c) on epoch, version and release of an
//! `[epoch:]version[-release]` string, split like rpm's `parseEVR`. Tilde sorts before
//! everything, caret after the base version but before anything else that follows it.
//!
//! rpm's own `rpmverCmp` skips the release when either side has none (so "1.0" matches any
//! "1.0-N"); that is not a total order, so a missing release here is the empty release, as
//! `rpm.labelCompare` treats it: "1.0" < "1.0-1".

use std::cmp::Ordering;

use crate::VersionError;

struct Evr<'a> {
    epoch: &'a [u8],
    version: &'a [u8],
    release: &'a [u8],
}

fn parse(s: &str) -> Result<Evr<'_>, VersionError> {
    let s = s.as_bytes();
    if s.is_empty() {
        return Err(VersionError::Empty { scheme: "rpm" });
    }
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let se = s[digits..]
        .iter()
        .rposition(|&c| c == b'-')
        .map(|i| i + digits);
    let end = se.unwrap_or(s.len());
    let (epoch, version) = if s.get(digits) == Some(&b':') {
        let e = if digits == 0 { &b"0"[..] } else { &s[..digits] };
        (e, &s[digits + 1..end])
    } else {
        (&b"0"[..], &s[..end])
    };
    let release = se.map_or(&b""[..], |i| &s[i + 1..]);
    Ok(Evr {
        epoch,
        version,
        release,
    })
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    Ok(rpmvercmp(a.epoch, b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| rpmvercmp(a.release, b.release)))
}

/// A line-by-line port of rpmvercmp; see the header for why each rule exists.
pub(crate) fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let at = |i: usize| a.get(i).copied().unwrap_or(0);
    let bt = |j: usize| b.get(j).copied().unwrap_or(0);
    let sep = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    let (mut one, mut two) = (0usize, 0usize);
    while at(one) != 0 || bt(two) != 0 {
        while sep(at(one)) {
            one += 1;
        }
        while sep(bt(two)) {
            two += 1;
        }
        if at(one) == b'~' || bt(two) == b'~' {
            if at(one) != b'~' {
                return Ordering::Greater;
            }
            if bt(two) != b'~' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        if at(one) == b'^' || bt(two) == b'^' {
            if at(one) == 0 {
                return Ordering::Less;
            }
            if bt(two) == 0 {
                return Ordering::Greater;
            }
            if at(one) != b'^' {
                return Ordering::Greater;
            }
            if bt(two) != b'^' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        if at(one) == 0 || bt(two) == 0 {
            break;
        }
        let (mut s1, mut s2) = (one, two);
        let isnum = at(s1).is_ascii_digit();
        if isnum {
            while at(s1).is_ascii_digit() {
                s1 += 1;
            }
            while bt(s2).is_ascii_digit() {
                s2 += 1;
            }
        } else {
            while at(s1).is_ascii_alphabetic() {
                s1 += 1;
            }
            while bt(s2).is_ascii_alphabetic() {
                s2 += 1;
            }
        }
        if one == s1 {
            return Ordering::Less;
        }
        if two == s2 {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let rc = if isnum {
            crate::num::cmp_digits(&a[one..s1], &b[two..s2])
        } else {
            a[one..s1].cmp(&b[two..s2])
        };
        if rc != Ordering::Equal {
            return rc;
        }
        one = s1;
        two = s2;
    }
    match (at(one) == 0, bt(two) == 0) {
        (true, true) => Ordering::Equal,
        (false, _) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}
