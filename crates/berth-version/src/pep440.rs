//! PEP 440 versions, ordered like Python's `packaging.version.Version` (what pip and the PyPA
//! advisory database use): epochs, release segments with trailing zeros ignored, pre/post/dev
//! releases (a dev-only release sorts before its alphas), and local versions. Parsing accepts
//! exactly `packaging`'s VERSION_PATTERN, so "1.0RC1", "v1.0", "1.0-1" and "1.0.post" are
//! read the same way; anything else is an error, as it is in `packaging`.

use std::cmp::Ordering;

use crate::VersionError;
use crate::num::cmp_num;

#[derive(Debug, Default)]
struct Pep<'a> {
    epoch: &'a str,
    release: &'a str,
    /// a = 0, b = 1, rc = 2, with its number.
    pre: Option<(u8, &'a str)>,
    post: Option<&'a str>,
    dev: Option<&'a str>,
    local: Option<&'a str>,
}

struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn peek(&self) -> u8 {
        self.s.as_bytes().get(self.i).copied().unwrap_or(0)
    }
    fn digits(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_ascii_digit() {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    fn sep(&mut self) -> bool {
        if matches!(self.peek(), b'-' | b'_' | b'.') {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Consumes the first of `labels` (case-insensitively) found here, in regex alternation order.
    fn label(&mut self, labels: &[&str]) -> Option<usize> {
        let rest = &self.s.as_bytes()[self.i..];
        let k = labels.iter().position(|l| {
            rest.len() >= l.len() && rest[..l.len()].eq_ignore_ascii_case(l.as_bytes())
        })?;
        self.i += labels[k].len();
        Some(k)
    }
}

const PRE_LABELS: [&str; 8] = ["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"];
const PRE_RANK: [u8; 8] = [0, 0, 1, 1, 2, 2, 2, 2];

fn parse(input: &str) -> Result<Pep<'_>, VersionError> {
    let bad = || VersionError::InvalidVersion {
        scheme: "pep440",
        version: input.to_owned(),
    };
    let s = input.trim();
    let mut c = Cur { s, i: 0 };
    let mut p = Pep::default();
    if matches!(c.peek(), b'v' | b'V') {
        c.i += 1;
    }
    // epoch / release: `(?:([0-9]+)!)?([0-9]+(?:\.[0-9]+)*)`
    let first = c.digits();
    if first.is_empty() {
        return Err(bad());
    }
    let release_start;
    if c.peek() == b'!' {
        p.epoch = first;
        c.i += 1;
        release_start = c.i;
        if c.digits().is_empty() {
            return Err(bad());
        }
    } else {
        release_start = c.i - first.len();
    }
    loop {
        let save = c.i;
        if c.peek() == b'.' {
            c.i += 1;
            if !c.digits().is_empty() {
                continue;
            }
        }
        c.i = save;
        break;
    }
    p.release = &s[release_start..c.i];
    // pre: `[-_\.]?(alpha|a|beta|b|preview|pre|c|rc)[-_\.]?([0-9]+)?`
    let save = c.i;
    c.sep();
    if let Some(k) = c.label(&PRE_LABELS) {
        c.sep();
        p.pre = Some((PRE_RANK[k], c.digits()));
    } else {
        c.i = save;
    }
    // post: `-([0-9]+)` | `[-_\.]?(post|rev|r)[-_\.]?([0-9]+)?`
    let save = c.i;
    if c.peek() == b'-' {
        c.i += 1;
        let n = c.digits();
        if !n.is_empty() {
            p.post = Some(n);
        } else {
            c.i = save;
        }
    }
    if p.post.is_none() {
        c.sep();
        if c.label(&["post", "rev", "r"]).is_some() {
            c.sep();
            p.post = Some(c.digits());
        } else {
            c.i = save;
        }
    }
    // dev: `[-_\.]?dev[-_\.]?([0-9]+)?`
    let save = c.i;
    c.sep();
    if c.label(&["dev"]).is_some() {
        c.sep();
        p.dev = Some(c.digits());
    } else {
        c.i = save;
    }
    // local: `\+([a-z0-9]+(?:[-_\.][a-z0-9]+)*)`
    if c.peek() == b'+' {
        c.i += 1;
        let start = c.i;
        loop {
            let run = c.s.as_bytes()[c.i..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if run == 0 {
                return Err(bad());
            }
            c.i += run;
            let save = c.i;
            if c.sep() && c.peek().is_ascii_alphanumeric() {
                continue;
            }
            c.i = save;
            break;
        }
        p.local = Some(&s[start..c.i]);
    }
    if c.i != s.len() {
        return Err(bad());
    }
    Ok(p)
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    Ok(cmp_parsed(&a, &b))
}

fn cmp_release(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => {
                let o = cmp_num(x.unwrap_or("0"), y.unwrap_or("0"));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// The pre-release key of packaging's `_cmpkey`: (rank, number), where a dev-only release
/// ranks below every pre-release and a final release above.
fn pre_key<'a>(p: &Pep<'a>) -> (i8, &'a str) {
    match p.pre {
        Some((rank, n)) => (rank as i8, n),
        None if p.post.is_none() && p.dev.is_some() => (-1, ""),
        None => (3, ""),
    }
}

fn cmp_opt_num(a: Option<&str>, b: Option<&str>, none_first: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => {
            if none_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Some(_), None) => {
            if none_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(x), Some(y)) => cmp_num(x, y),
    }
}

fn cmp_local(a: Option<&str>, b: Option<&str>) -> Ordering {
    let (a, b) = match (a, b) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Less,
        (Some(_), None) => return Ordering::Greater,
        (Some(a), Some(b)) => (a, b),
    };
    let seps = ['-', '_', '.'];
    let mut ai = a.split(seps);
    let mut bi = b.split(seps);
    loop {
        let (x, y) = match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => (x, y),
        };
        let xn = crate::num::all_digits(x);
        let yn = crate::num::all_digits(y);
        let o = match (xn, yn) {
            (true, true) => cmp_num(x, y),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x
                .bytes()
                .map(|c| c.to_ascii_lowercase())
                .cmp(y.bytes().map(|c| c.to_ascii_lowercase())),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
}

fn cmp_parsed(a: &Pep<'_>, b: &Pep<'_>) -> Ordering {
    cmp_num(a.epoch, b.epoch)
        .then_with(|| cmp_release(a.release, b.release))
        .then_with(|| {
            let (ar, an) = pre_key(a);
            let (br, bn) = pre_key(b);
            ar.cmp(&br).then_with(|| cmp_num(an, bn))
        })
        .then_with(|| cmp_opt_num(a.post, b.post, true))
        .then_with(|| cmp_opt_num(a.dev, b.dev, false))
        .then_with(|| cmp_local(a.local, b.local))
}
