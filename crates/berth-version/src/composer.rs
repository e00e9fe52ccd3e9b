//! Composer's version order: a version is first normalized exactly like
//! `Composer\Semver\VersionParser::normalize` (composer/semver 3.x) — "v1.2" becomes
//! "1.2.0.0", "1.0RC1" "1.0.0.0-RC1", "1.x-dev" "1.9999999.9999999.9999999-dev", "master"
//! "dev-master" — and the normalized strings are then ordered by PHP's `version_compare`,
//! as `Composer\Semver\Comparator` does: dev < alpha < beta < RC < (release) < patch.
//! Strings `normalize` rejects are errors. Two different branches ("dev-foo", "dev-bar") have
//! no order in Composer; here they order by name so the order stays total.

use std::cmp::Ordering;

use crate::VersionError;

const STABILITIES: [&str; 9] = [
    "stable", "beta", "b", "rc", "alpha", "a", "patch", "pl", "p",
];

fn is_php_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0b')
}

fn starts_with_ci(s: &[u8], p: &str) -> bool {
    s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

/// What the modifier regex captured: stability word, its numbers, and whether "dev" followed.
struct Modifier<'a> {
    stability: Option<&'a str>,
    numbers: &'a str,
    dev: bool,
}

/// `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*+)?)?([.-]?dev)?$` (case-
/// insensitive), with PCRE's backtracking order.
fn modifier(s: &str) -> Option<Modifier<'_>> {
    let b = s.as_bytes();
    let seps: &[usize] = if matches!(b.first(), Some(b'.' | b'_' | b'-')) {
        &[1, 0]
    } else {
        &[0]
    };
    for &i in seps {
        let rest = &b[i..];
        let mut tries: Vec<Option<usize>> = STABILITIES
            .iter()
            .enumerate()
            .filter(|(_, w)| starts_with_ci(rest, w))
            .map(|(k, _)| Some(k))
            .collect();
        tries.push(None);
        for t in tries {
            let mut j = i;
            let mut stability = None;
            let mut numbers = "";
            if let Some(k) = t {
                let w = STABILITIES[k].len();
                stability = Some(&s[j..j + w]);
                j += w;
                let nstart = j;
                loop {
                    let mut k2 = j;
                    if matches!(b.get(k2), Some(b'.' | b'-')) {
                        k2 += 1;
                    }
                    let d = b[k2.min(b.len())..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    if d == 0 {
                        break;
                    }
                    j = k2 + d;
                }
                numbers = &s[nstart..j];
            }
            let tail = &b[j..];
            let dev_ok = |t: &[u8]| {
                let t = if matches!(t.first(), Some(b'.' | b'-')) && t.len() == 4 {
                    &t[1..]
                } else {
                    t
                };
                t.eq_ignore_ascii_case(b"dev")
            };
            if tail.is_empty() {
                return Some(Modifier {
                    stability,
                    numbers,
                    dev: false,
                });
            }
            if dev_ok(tail) {
                return Some(Modifier {
                    stability,
                    numbers,
                    dev: true,
                });
            }
        }
    }
    None
}

fn expand(stability: &str) -> String {
    let l = stability.to_ascii_lowercase();
    match l.as_str() {
        "a" => "alpha".into(),
        "b" => "beta".into(),
        "p" | "pl" => "patch".into(),
        "rc" => "RC".into(),
        _ => l,
    }
}

fn with_modifier(mut version: String, m: &Modifier<'_>) -> String {
    if let Some(st) = m.stability {
        if st == "stable" {
            return version;
        }
        version.push('-');
        version.push_str(&expand(st));
        version.push_str(m.numbers.trim_start_matches(['.', '-']));
    }
    if m.dev {
        version.push_str("-dev");
    }
    version
}

fn digits_at(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// `^v?(\d{1,5})(\.\d++)?(\.\d++)?(\.\d++)?MODIFIER$`
fn classical(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    let major = digits_at(b, i);
    if major == 0 || major > 5 {
        return None;
    }
    let mut out = v[i..i + major].to_owned();
    i += major;
    let mut groups = 0;
    while groups < 3 && b.get(i) == Some(&b'.') && digits_at(b, i + 1) > 0 {
        let d = digits_at(b, i + 1);
        out.push_str(&v[i..i + 1 + d]);
        i += 1 + d;
        groups += 1;
    }
    for _ in groups..3 {
        out.push_str(".0");
    }
    let m = modifier(&v[i..])?;
    Some(with_modifier(out, &m))
}

/// `^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3})?)MODIFIER$`, trying ends in PCRE's order.
fn date(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let start = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    if digits_at(b, start) < 4 {
        return None;
    }
    let mut ends = Vec::new();
    date_ends(b, start + 4, 0, &mut ends);
    for end in ends {
        if let Some(m) = modifier(&v[end..]) {
            let body: String = v[start..end]
                .chars()
                .map(|c| if c.is_ascii_digit() { c } else { '.' })
                .collect();
            return Some(with_modifier(body, &m));
        }
    }
    None
}

fn date_ends(b: &[u8], pos: usize, count: usize, out: &mut Vec<usize>) {
    let sep = matches!(b.get(pos), Some(b'.' | b':' | b'-'));
    if count < 6 {
        if sep && digits_at(b, pos + 1) >= 2 {
            date_ends(b, pos + 3, count + 1, out);
        }
        if digits_at(b, pos) >= 2 {
            date_ends(b, pos + 2, count + 1, out);
        }
    }
    if count >= 1 {
        if sep {
            for n in (1..=digits_at(b, pos + 1).min(3)).rev() {
                out.push(pos + 1 + n);
            }
        }
        for n in (1..=digits_at(b, pos).min(3)).rev() {
            out.push(pos + n);
        }
        out.push(pos);
    }
}

/// `normalizeBranch` for the "X.Y-dev" form: `^v?(\d++)(\.(?:\d++|[xX*]))?{0,3}$`.
fn numeric_branch(name: &str) -> Option<String> {
    let name = name.trim_matches(is_php_space);
    let b = name.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'v' | b'V')));
    let d = digits_at(b, i);
    if d == 0 {
        return None;
    }
    let mut out = name[i..i + d].to_owned();
    i += d;
    let mut groups = 0;
    while groups < 3 && b.get(i) == Some(&b'.') {
        let d = digits_at(b, i + 1);
        if d > 0 {
            out.push_str(&name[i..i + 1 + d]);
            i += 1 + d;
        } else if matches!(b.get(i + 1), Some(b'x' | b'X' | b'*')) {
            out.push_str(".x");
            i += 2;
        } else {
            break;
        }
        groups += 1;
    }
    if i != b.len() {
        return None;
    }
    for _ in groups..3 {
        out.push_str(".x");
    }
    Some(out.replace('x', "9999999") + "-dev")
}

/// `VersionParser::normalize`.
pub(crate) fn normalize(input: &str) -> Result<String, VersionError> {
    let bad = || VersionError::InvalidVersion {
        scheme: "composer",
        version: input.to_owned(),
    };
    let mut v = input.trim_matches(is_php_space);
    // "1.0 as 2.0": the alias target is what counts.
    let words: Vec<&str> = v.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() == 3
        && words[1] == "as"
        && !v.contains(|c: char| c.is_whitespace() && c != ' ')
        && !words[0].contains(',')
        && !words[2].contains(',')
    {
        v = words[0];
    }
    if let Some(at) = v.rfind('@') {
        let flag = &v[at + 1..];
        if ["stable", "rc", "beta", "alpha", "dev"]
            .iter()
            .any(|s| flag.eq_ignore_ascii_case(s))
        {
            v = &v[..at];
        }
    }
    if matches!(v, "master" | "trunk" | "default") {
        return Ok(format!("dev-{v}"));
    }
    if starts_with_ci(v.as_bytes(), "dev-") {
        return Ok(format!("dev-{}", &v[4..]));
    }
    if let Some(plus) = v.find('+')
        && plus > 0
        && plus + 1 < v.len()
        && !v[..plus].contains(|c: char| c == ',' || c.is_ascii_whitespace())
        && !v[plus + 1..].contains(|c: char| c.is_ascii_whitespace())
    {
        v = &v[..plus];
    }
    if let Some(n) = classical(v).or_else(|| date(v)) {
        return Ok(n);
    }
    let b = v.as_bytes();
    if b.len() >= 3 && b[b.len() - 3..].eq_ignore_ascii_case(b"dev") {
        let mut cut = b.len() - 3;
        if cut > 0 && matches!(b[cut - 1], b'.' | b'-') {
            cut -= 1;
        }
        if let Some(n) = numeric_branch(&v[..cut]) {
            return Ok(n);
        }
    }
    Err(bad())
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = normalize(a)?;
    let b = normalize(b)?;
    if a.starts_with("dev-") && b.starts_with("dev-") {
        return Ok(a.cmp(&b));
    }
    Ok(version_compare(a.as_bytes(), b.as_bytes()))
}

/// PHP's `php_canonicalize_version`: "-", "_", "+" and other punctuation become ".", and a
/// "." separates every digit/non-digit transition.
fn canonicalize(v: &[u8]) -> Vec<u8> {
    let mut q = Vec::with_capacity(v.len() * 2);
    let Some((&first, rest)) = v.split_first() else {
        return q;
    };
    q.push(first);
    let mut lp = first;
    let isdig = |c: u8| c.is_ascii_digit();
    let isndig = |c: u8| !c.is_ascii_digit() && c != b'.';
    for &p in rest {
        let last_dot = q.last() == Some(&b'.');
        if matches!(p, b'-' | b'_' | b'+') {
            if !last_dot {
                q.push(b'.');
            }
        } else if (isndig(lp) && isdig(p)) || (isdig(lp) && isndig(p)) {
            if !last_dot {
                q.push(b'.');
            }
            q.push(p);
        } else if !p.is_ascii_alphanumeric() {
            if !last_dot {
                q.push(b'.');
            }
        } else {
            q.push(p);
        }
        lp = p;
    }
    q
}

fn special_form(form: &[u8]) -> i32 {
    const FORMS: [(&[u8], i32); 10] = [
        (b"dev", 0),
        (b"alpha", 1),
        (b"a", 1),
        (b"beta", 2),
        (b"b", 2),
        (b"RC", 3),
        (b"rc", 3),
        (b"#", 4),
        (b"pl", 5),
        (b"p", 5),
    ];
    FORMS
        .iter()
        .find(|(name, _)| form.starts_with(name))
        .map_or(-1, |&(_, o)| o)
}

fn strtol(s: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for &c in s.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    v
}

/// PHP's `version_compare` (ext/standard/versioning.c), line by line.
pub(crate) fn version_compare(v1: &[u8], v2: &[u8]) -> Ordering {
    if v1.is_empty() || v2.is_empty() {
        return (!v1.is_empty()).cmp(&!v2.is_empty());
    }
    let c1 = if v1[0] == b'#' {
        v1.to_vec()
    } else {
        canonicalize(v1)
    };
    let c2 = if v2[0] == b'#' {
        v2.to_vec()
    } else {
        canonicalize(v2)
    };
    // Elements are split at "."; `None` once a string has no more dots (C's n == NULL).
    let (mut p1, mut p2) = (0usize, 0usize);
    let (mut n1, mut n2): (Option<usize>, Option<usize>) = (Some(0), Some(0));
    let mut compare = Ordering::Equal;
    let elem = |c: &[u8], p: usize| -> (usize, Option<usize>) {
        match c[p..].iter().position(|&x| x == b'.') {
            Some(k) => (p + k, Some(p + k)),
            None => (c.len(), None),
        }
    };
    while p1 < c1.len() && p2 < c2.len() && n1.is_some() && n2.is_some() {
        let (e1, nn1) = elem(&c1, p1);
        let (e2, nn2) = elem(&c2, p2);
        n1 = nn1;
        n2 = nn2;
        let (s1, s2) = (&c1[p1..e1], &c2[p2..e2]);
        let d1 = s1.first().is_some_and(u8::is_ascii_digit);
        let d2 = s2.first().is_some_and(u8::is_ascii_digit);
        compare = match (d1, d2) {
            (true, true) => strtol(s1).cmp(&strtol(s2)),
            (false, false) => special_form(s1).cmp(&special_form(s2)),
            (true, false) => special_form(b"#N#").cmp(&special_form(s2)),
            (false, true) => special_form(s1).cmp(&special_form(b"#N#")),
        };
        if compare != Ordering::Equal {
            break;
        }
        if let Some(n) = n1 {
            p1 = n + 1;
        }
        if let Some(n) = n2 {
            p2 = n + 1;
        }
    }
    if compare == Ordering::Equal {
        if n1.is_some() {
            let rest = &c1[p1.min(c1.len())..];
            compare = if rest.first().is_some_and(u8::is_ascii_digit) {
                Ordering::Greater
            } else {
                version_compare(rest, b"#N#")
            };
        } else if n2.is_some() {
            let rest = &c2[p2.min(c2.len())..];
            compare = if rest.first().is_some_and(u8::is_ascii_digit) {
                Ordering::Less
            } else {
                version_compare(b"#N#", rest)
            };
        }
    }
    compare
}
