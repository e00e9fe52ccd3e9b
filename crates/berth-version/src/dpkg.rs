//! dpkg's version order (`dpkg --compare-versions`, lib/dpkg/version.c `verrevcmp`), because
//! Debian advisories name fixed versions that only dpkg's rules order correctly: `~` sorts
//! before everything (even the end of the string), letters before other characters.

use std::cmp::Ordering;

use crate::VersionError;

struct Parsed<'a> {
    epoch: &'a [u8],
    upstream: &'a [u8],
    revision: &'a [u8],
}

/// Splits `[epoch:]upstream[-revision]` the way dpkg's `parseversion` does. Strings dpkg
/// would reject (a non-numeric epoch, an empty revision) are still ordered: the whole
/// string becomes the upstream part, so the order stays total.
fn parse(s: &str) -> Result<Parsed<'_>, VersionError> {
    let t = s.trim_matches([' ', '\t']).as_bytes();
    if t.is_empty() {
        return Err(VersionError::Empty { scheme: "dpkg" });
    }
    let (epoch, rest) = match t.iter().position(|&c| c == b':') {
        Some(i) if i > 0 && t[..i].iter().all(u8::is_ascii_digit) => (&t[..i], &t[i + 1..]),
        _ => (&b"0"[..], t),
    };
    let (upstream, revision) = match rest.iter().rposition(|&c| c == b'-') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    Ok(Parsed {
        epoch,
        upstream,
        revision,
    })
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    Ok(crate::num::cmp_digits(a.epoch, b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision)))
}

/// dpkg's `order()`: digits and the end weigh 0, letters their code, `~` -1, anything else
/// its code + 256. dpkg reads `char` signed, so bytes >= 0x80 end up weighing their value.
fn order(c: u8) -> i32 {
    if c.is_ascii_digit() || c == 0 {
        0
    } else if c.is_ascii_alphabetic() {
        i32::from(c)
    } else if c == b'~' {
        -1
    } else if c >= 0x80 {
        i32::from(c)
    } else {
        i32::from(c) + 256
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let at = |i: usize| a.get(i).copied().unwrap_or(0);
    let bt = |j: usize| b.get(j).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0i32;
        while (at(i) != 0 && !at(i).is_ascii_digit()) || (bt(j) != 0 && !bt(j).is_ascii_digit()) {
            let (ac, bc) = (order(at(i)), order(bt(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(i) == b'0' {
            i += 1;
        }
        while bt(j) == b'0' {
            j += 1;
        }
        while at(i).is_ascii_digit() && bt(j).is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(at(i)) - i32::from(bt(j));
            }
            i += 1;
            j += 1;
        }
        if at(i).is_ascii_digit() {
            return Ordering::Greater;
        }
        if bt(j).is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}
