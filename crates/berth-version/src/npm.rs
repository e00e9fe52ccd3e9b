//! node-semver range matching (`semver.satisfies`, node-semver 7.x, loose = false,
//! includePrerelease = false), as npm advisories write `vulnerable_versions` and
//! `patched_versions`.
//!
//! node-semver turns a range into comparators by rewriting the string step by step (hyphen
//! ranges, operator whitespace, "~ " and "^ ", carets, tildes, x-ranges, stars, ">=0.0.0"),
//! and odd inputs such as "<= 0.3.3", "~> 1.2", ">= 4.0.0 <4.1.1" or "1.2.3 - 2" behave the
//! way they do because of that order. This module ports the same steps in the same order
//! rather than re-deriving the grammar, so it agrees with node on the odd inputs too (the
//! tests compare it with node on thousands of ranges). Where node would throw (an invalid
//! range), this returns an error; node's `satisfies` would answer false.

use std::cmp::Ordering;

use crate::VersionError;
use crate::num::{all_digits, cmp_num};
use crate::semver::{SemVer, parse_plain, pre_id};

const MAX_LENGTH: usize = 256;
const MAX_SAFE_BUILD_LENGTH: usize = MAX_LENGTH - 6;
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Whether `version` satisfies `range` under node-semver's rules.
pub fn satisfies(range: &str, version: &str) -> Result<bool, VersionError> {
    let set = parse_range(range)?;
    let v = parse_version(version)?;
    Ok(set.iter().any(|comps| test_set(comps, &v)))
}

/// JavaScript's `\s` (node-semver's WHITESPACE_CHARACTERS).
fn js_ws(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// A version as node-semver's `SemVer` holds it once parsed.
#[derive(Debug, Clone)]
struct Ver {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

fn safe_num(s: &str) -> Option<u64> {
    if s.len() > 16 {
        return None;
    }
    s.parse::<u64>().ok().filter(|&n| n <= MAX_SAFE_INTEGER)
}

/// `new SemVer(v)` in strict mode: length limit, trim, optional "v", numbers <= 2^53-1.
fn js_semver(s: &str) -> Option<Ver> {
    if s.encode_utf16().count() > MAX_LENGTH {
        return None;
    }
    let t = s.trim_matches(js_ws);
    let t = t.strip_prefix('v').unwrap_or(t);
    let p: SemVer<'_> = parse_plain(t)?;
    Some(Ver {
        major: safe_num(p.major)?,
        minor: safe_num(p.minor)?,
        patch: safe_num(p.patch)?,
        pre: p.pre.to_owned(),
    })
}

fn parse_version(version: &str) -> Result<Ver, VersionError> {
    js_semver(version).ok_or_else(|| VersionError::InvalidVersion {
        scheme: "npm",
        version: version.to_owned(),
    })
}

/// node-semver's `compareIdentifiers`: numeric identifiers compare as JavaScript numbers.
fn cmp_js_ident(a: &str, b: &str) -> Ordering {
    match (all_digits(a), all_digits(b)) {
        (true, true) if a.len() <= 15 && b.len() <= 15 => cmp_num(a, b),
        (true, true) => {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(f64::MAX),
                b.parse::<f64>().unwrap_or(f64::MAX),
            );
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

fn cmp_ver(a: &Ver, b: &Ver) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| crate::semver::cmp_pre(&a.pre, &b.pre, cmp_js_ident))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparator; `None` is node's ANY (the empty comparator).
#[derive(Debug, Clone)]
struct Comparator(Option<(Op, Ver)>);

impl Comparator {
    fn value(&self) -> String {
        match &self.0 {
            None => String::new(),
            Some((op, v)) => {
                let op = match op {
                    Op::Eq => "",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                };
                let pre = if v.pre.is_empty() {
                    String::new()
                } else {
                    format!("-{}", v.pre)
                };
                format!("{op}{}.{}.{}{pre}", v.major, v.minor, v.patch)
            }
        }
    }

    fn is_null_set(&self) -> bool {
        self.value() == "<0.0.0-0"
    }

    fn test(&self, v: &Ver) -> bool {
        let Some((op, c)) = &self.0 else { return true };
        let o = cmp_ver(v, c);
        match op {
            Op::Eq => o == Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
        }
    }
}

fn test_set(set: &[Comparator], v: &Ver) -> bool {
    if !set.iter().all(|c| c.test(v)) {
        return false;
    }
    if v.pre.is_empty() {
        return true;
    }
    // A prerelease only matches through a comparator that names a prerelease of the same
    // major.minor.patch (npm's rule against picking up unrelated prereleases).
    set.iter().any(|c| match &c.0 {
        Some((_, a)) => {
            !a.pre.is_empty() && (a.major, a.minor, a.patch) == (v.major, v.minor, v.patch)
        }
        None => false,
    })
}

/// `new Comparator(comp)`: `^((?:<|>)?=?)\s?(v?MAIN PRE? BUILD?)$|^$`.
fn comparator(comp: &str) -> Option<Comparator> {
    let comp: Vec<&str> = comp
        .trim_matches(js_ws)
        .split(js_ws)
        .filter(|s| !s.is_empty())
        .collect();
    let comp = comp.join(" ");
    if comp.is_empty() {
        return Some(Comparator(None));
    }
    let (gtlt, rest) = split_gtlt(&comp);
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let v = js_semver(rest)?;
    let op = match gtlt {
        "" | "=" => Op::Eq,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "<" => Op::Lt,
        _ => Op::Le,
    };
    Some(Comparator(Some((op, v))))
}

/// GTLT `((?:<|>)?=?)`, taken greedily (no later part can start with these characters).
fn split_gtlt(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'<' | b'>')));
    if b.get(i) == Some(&b'=') {
        i += 1;
    }
    s.split_at(i)
}

/// Captures of XRANGEPLAIN: `[v=\s]*(XID)(?:\.(XID)(?:\.(XID)(?:PRE)?BUILD?)?)?`.
#[derive(Debug, Clone, Copy, Default)]
struct XCap<'a> {
    major: Option<&'a str>,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    pre: Option<&'a str>,
}

/// XRANGEIDENTIFIER `0|[1-9]\d*|x|X|\*` at `i`; returns its end.
fn xid(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'0' | b'x' | b'X' | b'*' => Some(i + 1),
        b'1'..=b'9' => Some(i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count()),
        _ => None,
    }
}

fn build_ok(s: &str) -> bool {
    s.split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

/// Whole-string match of XRANGEPLAIN.
fn xrange_plain(s: &str) -> Option<XCap<'_>> {
    let b = s.as_bytes();
    let mut i = b
        .iter()
        .take_while(|&&c| c == b'v' || c == b'=' || c == b' ')
        .count();
    let mut cap = XCap::default();
    let e = xid(b, i)?;
    cap.major = Some(&s[i..e]);
    i = e;
    if i < b.len() {
        if b[i] != b'.' {
            return None;
        }
        let e = xid(b, i + 1)?;
        cap.minor = Some(&s[i + 1..e]);
        i = e;
    }
    if i < b.len() {
        if b[i] != b'.' {
            return None;
        }
        let e = xid(b, i + 1)?;
        cap.patch = Some(&s[i + 1..e]);
        i = e;
    }
    if i < b.len() && b[i] == b'-' {
        let end = s[i..].find('+').map_or(s.len(), |k| i + k);
        let pre = &s[i + 1..end];
        if !pre.split('.').all(pre_id) {
            return None;
        }
        cap.pre = Some(pre);
        i = end;
    }
    if i < b.len() {
        if b[i] != b'+' || !build_ok(&s[i + 1..]) {
            return None;
        }
        i = b.len();
    }
    (i == b.len()).then_some(cap)
}

/// node-semver's `isX`: absent, "x", "X" or "*".
fn is_x(id: Option<&str>) -> bool {
    matches!(id, None | Some("x" | "X" | "*"))
}

/// JavaScript's `${+n + 1}`. Numbers past 2^53 come out as a value node's SemVer rejects,
/// which is what happens in node.
fn plus_one(n: &str) -> String {
    match safe_num(n) {
        Some(v) => (v + 1).to_string(),
        None => "9007199254740993".to_owned(),
    }
}

fn hyphen_replace(from: &str, f: XCap<'_>, to: &str, t: XCap<'_>) -> String {
    let from = if is_x(f.major) {
        String::new()
    } else if is_x(f.minor) {
        format!(">={}.0.0", f.major.unwrap_or_default())
    } else if is_x(f.patch) {
        format!(
            ">={}.{}.0",
            f.major.unwrap_or_default(),
            f.minor.unwrap_or_default()
        )
    } else {
        format!(">={from}")
    };
    let to = if is_x(t.major) {
        String::new()
    } else if is_x(t.minor) {
        format!("<{}.0.0-0", plus_one(t.major.unwrap_or_default()))
    } else if is_x(t.patch) {
        format!(
            "<{}.{}.0-0",
            t.major.unwrap_or_default(),
            plus_one(t.minor.unwrap_or_default())
        )
    } else if let Some(pr) = t.pre {
        format!(
            "<={}.{}.{}-{pr}",
            t.major.unwrap_or_default(),
            t.minor.unwrap_or_default(),
            t.patch.unwrap_or_default()
        )
    } else {
        format!("<={to}")
    };
    format!("{from} {to}").trim_matches(js_ws).to_owned()
}

/// HYPHENRANGE `^\s?(XRANGEPLAIN)\s-\s(XRANGEPLAIN)\s?$`.
fn hyphen(range: &str) -> Option<String> {
    let s = range.strip_prefix(' ').unwrap_or(range);
    let s = s.strip_suffix(' ').unwrap_or(s);
    let mut search = 0;
    while let Some(k) = s[search..].find(" - ").map(|k| k + search) {
        if let (Some(f), Some(t)) = (xrange_plain(&s[..k]), xrange_plain(&s[k + 3..])) {
            return Some(hyphen_replace(&s[..k], f, &s[k + 3..], t));
        }
        search = k + 1;
    }
    None
}

/// Removes build metadata (`\+[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*`): every match, or the first.
fn strip_build(s: &str, all: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copy = 0;
    let id = |j: usize| {
        b[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
            .count()
    };
    while i < b.len() {
        if b[i] == b'+' && i + 1 < b.len() && id(i + 1) > 0 {
            let mut e = i + 1 + id(i + 1);
            while e < b.len() && b[e] == b'.' && e + 1 < b.len() && id(e + 1) > 0 {
                e += 1 + id(e + 1);
            }
            out.push_str(&s[copy..i]);
            copy = e;
            i = e;
            if !all {
                break;
            }
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copy..]);
    out
}

/// A port of node-semver's `trimComparatorWhitespace` (the COMPARATORTRIM step): removes
/// the space between an operator and its version, "> 1.2.3" -> ">1.2.3".
fn trim_comparator_whitespace(range: &str) -> String {
    let r: Vec<char> = range.chars().collect();
    let at = |i: usize| r.get(i).copied();
    let is_ws = |c: Option<char>| c.is_some_and(js_ws);
    let is_prefix = |c: Option<char>| c == Some('v') || c == Some('=') || is_ws(c);
    let is_digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    let is_letter = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic());
    let is_ident = |c: Option<char>| is_digit(c) || is_letter(c) || c == Some('-');
    let is_start = |c: Option<char>| is_digit(c) || matches!(c, Some('x' | 'X' | '*'));
    let digits_end = |start: usize, limit: usize| {
        if !is_digit(at(start)) {
            return start;
        }
        let mut end = start + 1;
        while is_digit(at(end)) {
            end += 1;
        }
        end.min(start + limit)
    };
    let number_end = |start: usize, loose: bool| {
        if !loose && at(start) == Some('0') {
            return start + 1;
        }
        digits_end(start, if loose { MAX_LENGTH } else { MAX_LENGTH + 1 })
    };
    let pre_ident_end = |start: usize, loose: bool| {
        let d = digits_end(start, MAX_LENGTH);
        if is_letter(at(d)) || at(d) == Some('-') {
            let mut end = d + 1;
            let limit = end + MAX_SAFE_BUILD_LENGTH;
            while end < limit && is_ident(at(end)) {
                end += 1;
            }
            return end;
        }
        number_end(start, loose)
    };
    let pre_end = |start: usize, loose: bool| {
        let hyphen = at(start) == Some('-');
        if !loose && !hyphen {
            return start;
        }
        let id_start = start + usize::from(hyphen);
        let mut end = pre_ident_end(id_start, loose);
        if end == id_start {
            if !loose || !hyphen {
                return start;
            }
            end = pre_ident_end(start, loose);
        }
        while at(end) == Some('.') {
            let next = pre_ident_end(end + 1, loose);
            if next == end + 1 {
                break;
            }
            end = next;
        }
        end
    };
    let build_ident_end = |start: usize| {
        let mut end = start;
        while end - start < MAX_SAFE_BUILD_LENGTH && is_ident(at(end)) {
            end += 1;
        }
        end
    };
    let build_end = |start: usize| {
        if at(start) != Some('+') {
            return start;
        }
        let mut end = build_ident_end(start + 1);
        if end == start + 1 {
            return start;
        }
        while at(end) == Some('.') {
            let next = build_ident_end(end + 1);
            if next == end + 1 {
                break;
            }
            end = next;
        }
        end
    };
    let loose_full_end = |start: usize| {
        let mut end = start;
        for component in 0..3 {
            let next = number_end(end, true);
            if next == end {
                return start;
            }
            end = next;
            if component < 2 {
                if at(end) != Some('.') {
                    return start;
                }
                end += 1;
            }
        }
        build_end(pre_end(end, true))
    };
    let partial_component_end = |start: usize| {
        if is_digit(at(start)) {
            return number_end(start, false);
        }
        if is_start(at(start)) {
            start + 1
        } else {
            start
        }
    };
    let partial_end = |start: usize| {
        let mut end = partial_component_end(start);
        for _ in 0..2 {
            if at(end) != Some('.') {
                return end;
            }
            let next = partial_component_end(end + 1);
            if next == end + 1 {
                return end;
            }
            end = next;
        }
        build_end(pre_end(end, false))
    };
    let version_end = |start: usize| {
        let full = loose_full_end(start);
        if full != start {
            full
        } else {
            partial_end(start)
        }
    };
    let removable_ws = |match_start: usize| {
        let mut p = match_start;
        if is_ws(at(p)) {
            p += 1;
        }
        if matches!(at(p), Some('<' | '>')) {
            p += 1;
        }
        if at(p) == Some('=') {
            p += 1;
        }
        is_ws(at(p)).then_some(p)
    };

    let mut result = String::with_capacity(range.len());
    let mut copy_from = 0;
    let mut cursor = 0;
    while cursor < r.len() {
        let match_start = cursor;
        if matches!(at(cursor), Some('<' | '>')) {
            cursor += 1;
        } else if !is_prefix(at(cursor)) && !is_start(at(cursor)) {
            cursor += 1;
            continue;
        }
        while cursor < r.len() && is_prefix(at(cursor)) {
            cursor += 1;
        }
        if !is_start(at(cursor)) {
            continue;
        }
        if let Some(ws) = removable_ws(match_start) {
            result.extend(&r[copy_from..ws]);
            copy_from = ws + 1;
        }
        cursor = version_end(cursor);
    }
    result.extend(&r[copy_from.min(r.len())..]);
    result
}

/// TILDETRIM (`(\s?)~>?\s` -> `$1~`) and CARETTRIM (`(\s?)\^\s` -> `$1^`).
fn trim_tilde_caret(s: &str, caret: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copy = 0;
    let mut i = 0;
    let ws = |j: usize| b.get(j) == Some(&b' ');
    while i < b.len() {
        let mark = if caret { b'^' } else { b'~' };
        if b[i] == mark {
            let skip = if !caret && b.get(i + 1) == Some(&b'>') && ws(i + 2) {
                Some(2)
            } else if ws(i + 1) {
                Some(1)
            } else {
                None
            };
            if let Some(n) = skip {
                out.push_str(&s[copy..=i]);
                i += 1 + n;
                copy = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copy..]);
    out
}

fn split_ws(s: &str) -> impl Iterator<Item = &str> {
    // JavaScript's `split(/\s+/)`: empty pieces only at the ends.
    let mut v: Vec<&str> = s.split(' ').collect();
    let n = v.len();
    let mut k = 0;
    v.retain(|p| {
        let keep = !p.is_empty() || k == 0 || k == n - 1;
        k += 1;
        keep
    });
    v.into_iter()
}

fn replace_caret(comp: &str) -> String {
    let Some(x) = comp.strip_prefix('^').and_then(xrange_plain) else {
        return comp.to_owned();
    };
    let (mj, mn, pt) = (
        x.major.unwrap_or_default(),
        x.minor.unwrap_or_default(),
        x.patch.unwrap_or_default(),
    );
    if is_x(x.major) {
        String::new()
    } else if is_x(x.minor) {
        format!(">={mj}.0.0 <{}.0.0-0", plus_one(mj))
    } else if is_x(x.patch) {
        if mj == "0" {
            format!(">={mj}.{mn}.0 <{mj}.{}.0-0", plus_one(mn))
        } else {
            format!(">={mj}.{mn}.0 <{}.0.0-0", plus_one(mj))
        }
    } else {
        let low = match x.pre {
            Some(pr) => format!(">={mj}.{mn}.{pt}-{pr}"),
            None => format!(">={mj}.{mn}.{pt}"),
        };
        if mj == "0" {
            if mn == "0" {
                format!("{low} <{mj}.{mn}.{}-0", plus_one(pt))
            } else {
                format!("{low} <{mj}.{}.0-0", plus_one(mn))
            }
        } else {
            format!("{low} <{}.0.0-0", plus_one(mj))
        }
    }
}

fn replace_tilde(comp: &str) -> String {
    let rest = match comp.strip_prefix('~') {
        Some(r) => r
            .strip_prefix('>')
            .filter(|r| xrange_plain(r).is_some())
            .unwrap_or(r),
        None => return comp.to_owned(),
    };
    let Some(x) = xrange_plain(rest) else {
        return comp.to_owned();
    };
    let (mj, mn, pt) = (
        x.major.unwrap_or_default(),
        x.minor.unwrap_or_default(),
        x.patch.unwrap_or_default(),
    );
    if is_x(x.major) {
        String::new()
    } else if is_x(x.minor) {
        format!(">={mj}.0.0 <{}.0.0-0", plus_one(mj))
    } else if is_x(x.patch) {
        format!(">={mj}.{mn}.0 <{mj}.{}.0-0", plus_one(mn))
    } else if let Some(pr) = x.pre {
        format!(">={mj}.{mn}.{pt}-{pr} <{mj}.{}.0-0", plus_one(mn))
    } else {
        format!(">={mj}.{mn}.{pt} <{mj}.{}.0-0", plus_one(mn))
    }
}

fn replace_xrange(comp: &str) -> String {
    let comp = comp.trim_matches(js_ws);
    let (gtlt, rest) = split_gtlt(comp);
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let Some(x) = xrange_plain(rest) else {
        return comp.to_owned();
    };
    let (mj, mn, pt) = (x.major, x.minor, x.patch);
    if (is_x(mj) && !is_x(mn)) || (is_x(mn) && pt.is_some() && !is_x(pt)) {
        return comp.to_owned();
    }
    let xm_major = is_x(mj);
    let xm = xm_major || is_x(mn);
    let xp = xm || is_x(pt);
    let mut gtlt = gtlt;
    if gtlt == "=" && xp {
        gtlt = "";
    }
    let mj = mj.unwrap_or_default();
    if xm_major {
        if gtlt == ">" || gtlt == "<" {
            "<0.0.0-0".to_owned()
        } else {
            "*".to_owned()
        }
    } else if !gtlt.is_empty() && xp {
        let mut major = mj.to_owned();
        let mut minor = if xm {
            "0".to_owned()
        } else {
            mn.unwrap_or_default().to_owned()
        };
        let mut patch = "0".to_owned();
        let mut op = gtlt;
        if gtlt == ">" {
            op = ">=";
            if xm {
                major = plus_one(mj);
                minor = "0".to_owned();
                patch = "0".to_owned();
            } else {
                minor = plus_one(&minor);
                patch = "0".to_owned();
            }
        } else if gtlt == "<=" {
            op = "<";
            if xm {
                major = plus_one(mj);
            } else {
                minor = plus_one(&minor);
            }
        }
        let pr = if op == "<" { "-0" } else { "" };
        format!("{op}{major}.{minor}.{patch}{pr}")
    } else if xm {
        format!(">={mj}.0.0 <{}.0.0-0", plus_one(mj))
    } else if xp {
        let mn = mn.unwrap_or_default();
        format!(">={mj}.{mn}.0 <{mj}.{}.0-0", plus_one(mn))
    } else {
        comp.to_owned()
    }
}

/// STAR `(<|>)?=?\s?\*`: removes the leftmost match.
fn replace_stars(comp: &str) -> String {
    let comp = comp.trim_matches(js_ws);
    let b = comp.as_bytes();
    for i in 0..b.len() {
        let mut ends = Vec::with_capacity(8);
        for a in [true, false] {
            let j = i + usize::from(a && matches!(b[i], b'<' | b'>'));
            if a && j == i {
                continue;
            }
            for e in [true, false] {
                let k = j + usize::from(e && b.get(j) == Some(&b'='));
                if e && k == j {
                    continue;
                }
                for w in [true, false] {
                    let l = k + usize::from(w && b.get(k) == Some(&b' '));
                    if w && l == k {
                        continue;
                    }
                    if b.get(l) == Some(&b'*') {
                        ends.push(l + 1);
                    }
                }
            }
        }
        if let Some(&end) = ends.first() {
            return format!("{}{}", &comp[..i], &comp[end..]);
        }
    }
    comp.to_owned()
}

fn parse_comparator(comp: &str) -> String {
    let comp = strip_build(comp, false);
    let comp: Vec<String> = split_ws(comp.trim_matches(js_ws))
        .map(replace_caret)
        .collect();
    let comp = comp.join(" ");
    let comp: Vec<String> = split_ws(comp.trim_matches(js_ws))
        .map(replace_tilde)
        .collect();
    let comp = comp.join(" ");
    let comp: Vec<String> = split_ws(&comp).map(replace_xrange).collect();
    replace_stars(&comp.join(" "))
}

fn replace_gte0(comp: &str) -> &str {
    let t = comp.trim_matches(js_ws);
    let rest = t
        .strip_prefix(">=")
        .map(|r| r.strip_prefix(' ').unwrap_or(r));
    if rest == Some("0.0.0") { "" } else { t }
}

fn parse_part(range: &str) -> Option<Vec<Comparator>> {
    let range = strip_build(range, true);
    let range = hyphen(&range).unwrap_or(range);
    let range = trim_comparator_whitespace(&range);
    let range = trim_tilde_caret(&range, false);
    let range = trim_tilde_caret(&range, true);
    let joined: Vec<String> = range.split(' ').map(parse_comparator).collect();
    let joined = joined.join(" ");
    let comps: Vec<Comparator> = split_ws(&joined)
        .map(replace_gte0)
        .map(comparator)
        .collect::<Option<Vec<_>>>()?;
    if let Some(null) = comps.iter().find(|c| c.is_null_set()) {
        return Some(vec![null.clone()]);
    }
    let mut out: Vec<(String, Comparator)> = Vec::with_capacity(comps.len());
    for c in comps {
        let v = c.value();
        match out.iter_mut().find(|(k, _)| *k == v) {
            Some(slot) => slot.1 = c,
            None => out.push((v, c)),
        }
    }
    if out.len() > 1 {
        out.retain(|(k, _)| !k.is_empty());
    }
    Some(out.into_iter().map(|(_, c)| c).collect())
}

fn parse_range(range: &str) -> Result<Vec<Vec<Comparator>>, VersionError> {
    let bad = || VersionError::InvalidRange {
        scheme: "npm",
        range: range.to_owned(),
    };
    let raw: Vec<&str> = range.trim_matches(js_ws).split(js_ws).collect();
    // `replace(/\s+/g, ' ')`: runs of whitespace become one space.
    let mut collapsed = String::with_capacity(range.len());
    let mut prev_empty = false;
    for (i, p) in raw.iter().enumerate() {
        if i > 0 && !prev_empty {
            collapsed.push(' ');
        }
        collapsed.push_str(p);
        prev_empty = p.is_empty();
    }
    let mut set = Vec::new();
    for part in collapsed.split("||") {
        let comps = parse_part(part.trim_matches(js_ws)).ok_or_else(bad)?;
        if !comps.is_empty() {
            set.push(comps);
        }
    }
    if set.is_empty() {
        return Err(bad());
    }
    if set.len() > 1 {
        let first = set[0].clone();
        set.retain(|c| !c[0].is_null_set());
        if set.is_empty() {
            set = vec![first];
        } else if set.len() > 1
            && let Some(any) = set.iter().find(|c| c.len() == 1 && c[0].0.is_none())
        {
            set = vec![any.clone()];
        }
    }
    Ok(set)
}
