//! Numeric comparison of digit strings of any length, so "18446744073709551616" compares
//! right without parsing into a fixed-width integer (every reference tool here either uses
//! big integers or compares digit strings this way).

use std::cmp::Ordering;

/// Orders two ASCII digit strings by value; leading zeros are ignored.
pub(crate) fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_zeros(a);
    let b = strip_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Same as [`cmp_digits`] for `&str`.
pub(crate) fn cmp_num(a: &str, b: &str) -> Ordering {
    cmp_digits(a.as_bytes(), b.as_bytes())
}

pub(crate) fn strip_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

/// Whether `s` is one or more ASCII digits.
pub(crate) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// True when the digit string is zero.
pub(crate) fn is_zero(s: &[u8]) -> bool {
    s.iter().all(|&c| c == b'0')
}
