//! RubyGems' `Gem::Version` order (rubygems/version.rb): segments are runs of digits or
//! letters, "-" reads as ".pre.", trailing zeros are dropped from the numeric part and from
//! the part starting at the first letter, and a letter segment sorts before any number (so
//! "1.0.a" is a prerelease below "1.0"). Strings `Gem::Version.correct?` rejects are errors;
//! an empty or blank string is version "0", as in RubyGems.

use std::cmp::Ordering;

use crate::VersionError;
use crate::num::{cmp_num, is_zero};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg<'a> {
    Num(&'a str),
    Str(&'a str),
}

fn is_rb_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// `\A\s*([0-9]+(?>\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?\s*\z`
fn correct(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let (head, tail) = match s.find('-') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = head.split('.');
    let first = parts.next().unwrap_or("");
    if !crate::num::all_digits(first) || !parts.all(alnum) {
        return false;
    }
    tail.is_none_or(|t| {
        t.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    })
}

fn segments(s: &str) -> Vec<Seg<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'-' {
            out.push(Seg::Str("pre"));
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Seg::Num(&s[start..i]));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Seg::Str(&s[start..i]));
        } else {
            i += 1;
        }
    }
    // canonical_segments: drop trailing zeros of the numeric head and of the rest.
    let split = out
        .iter()
        .position(|s| matches!(s, Seg::Str(_)))
        .unwrap_or(out.len());
    let zero = |s: &Seg<'_>| matches!(s, Seg::Num(n) if is_zero(n.as_bytes()));
    let mut tail_end = out.len();
    while tail_end > split && zero(&out[tail_end - 1]) {
        tail_end -= 1;
    }
    out.truncate(tail_end);
    let mut head_end = split;
    while head_end > 0 && zero(&out[head_end - 1]) {
        head_end -= 1;
    }
    out.drain(head_end..split);
    out
}

fn parse(input: &str) -> Result<&str, VersionError> {
    let s = input.trim_matches(is_rb_space);
    if !correct(s) {
        return Err(VersionError::InvalidVersion {
            scheme: "rubygems",
            version: input.to_owned(),
        });
    }
    Ok(if s.is_empty() { "0" } else { s })
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    if a == b {
        return Ok(Ordering::Equal);
    }
    let (l, r) = (segments(a), segments(b));
    for i in 0..l.len().max(r.len()) {
        let x = l.get(i).copied().unwrap_or(Seg::Num("0"));
        let y = r.get(i).copied().unwrap_or(Seg::Num("0"));
        let o = match (x, y) {
            (Seg::Num(x), Seg::Num(y)) => cmp_num(x, y),
            (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
            (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
            (Seg::Str(x), Seg::Str(y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(Ordering::Equal)
}
