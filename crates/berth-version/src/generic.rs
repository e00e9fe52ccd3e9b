//! A fallback order for ecosystems without a scheme of their own: digit runs compare by value
//! and above letter runs, letter runs compare case-insensitively, other characters only
//! separate runs, and the version with runs left over is newer. Never fails.

use std::cmp::Ordering;

use crate::VersionError;

fn next_run<'a>(s: &'a [u8], i: &mut usize) -> Option<(bool, &'a [u8])> {
    while *i < s.len() && !s[*i].is_ascii_alphanumeric() {
        *i += 1;
    }
    if *i >= s.len() {
        return None;
    }
    let start = *i;
    let digit = s[start].is_ascii_digit();
    while *i < s.len() && s[*i].is_ascii_alphanumeric() && s[*i].is_ascii_digit() == digit {
        *i += 1;
    }
    Some((digit, &s[start..*i]))
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    if a.is_empty() || b.is_empty() {
        return Err(VersionError::Empty { scheme: "generic" });
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        let o = match (next_run(a, &mut i), next_run(b, &mut j)) {
            (None, None) => return Ok(Ordering::Equal),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (Some((true, x)), Some((true, y))) => crate::num::cmp_digits(x, y),
            (Some((true, _)), Some((false, _))) => Ordering::Greater,
            (Some((false, _)), Some((true, _))) => Ordering::Less,
            (Some((false, x)), Some((false, y))) => x
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(y.iter().map(u8::to_ascii_lowercase)),
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
}
