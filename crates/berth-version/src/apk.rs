//! Alpine's version order, ported from apk-tools 2.x `src/version.c` (the apk that Alpine
//! releases ship, whose secdb names the fixed versions). No reference tool installs on Debian,
//! so the tests are tables of real Alpine versions checked against apk's documented rules:
//! `digit{.digit}...{letter}{_suffix{number}}...{-r#}`, with `_alpha _beta _pre _rc` before the
//! bare version and `_cvs _svn _git _hg _p` after it.
//!
//! Token values are 64-bit, as in current apk-tools (long `_pre20191002222144` dates overflow
//! 32 bits). The port keeps apk's token machine, including its handling of malformed strings (it stops
//! at the first invalid token) and of leading zeros after a dot ("1.01" < "1.1"), so it never
//! fails on non-empty input.

use std::cmp::Ordering;

use crate::VersionError;

const INVALID: i32 = -1;
const DIGIT_OR_ZERO: i32 = 0;
const DIGIT: i32 = 1;
const LETTER: i32 = 2;
const SUFFIX: i32 = 3;
const SUFFIX_NO: i32 = 4;
const REVISION_NO: i32 = 5;
const END: i32 = 6;

const PRE_SUFFIXES: [&[u8]; 4] = [b"alpha", b"beta", b"pre", b"rc"];
const POST_SUFFIXES: [&[u8]; 5] = [b"cvs", b"svn", b"git", b"hg", b"p"];

struct Blob<'a> {
    s: &'a [u8],
}

impl Blob<'_> {
    fn first(&self) -> u8 {
        self.s.first().copied().unwrap_or(0)
    }
    fn advance(&mut self, n: usize) {
        self.s = self.s.get(n..).unwrap_or(&[]);
    }
}

fn next_token(ty: &mut i32, blob: &mut Blob<'_>) {
    let mut n = INVALID;
    let c = blob.first();
    if blob.s.is_empty() || c == 0 {
        n = END;
    } else if (*ty == DIGIT || *ty == DIGIT_OR_ZERO) && c.is_ascii_lowercase() {
        n = LETTER;
    } else if *ty == LETTER && c.is_ascii_digit() {
        n = DIGIT;
    } else if *ty == SUFFIX && c.is_ascii_digit() {
        n = SUFFIX_NO;
    } else {
        match c {
            b'.' => n = DIGIT_OR_ZERO,
            b'_' => n = SUFFIX,
            b'-' => {
                if blob.s.len() > 1 && blob.s[1] == b'r' {
                    n = REVISION_NO;
                    blob.advance(1);
                } else {
                    n = INVALID;
                }
            }
            _ => {}
        }
        blob.advance(1);
    }
    if n < *ty
        && !((n == DIGIT_OR_ZERO && *ty == DIGIT)
            || (n == SUFFIX && *ty == SUFFIX_NO)
            || (n == DIGIT && *ty == LETTER))
    {
        n = INVALID;
    }
    *ty = n;
}

fn get_token(ty: &mut i32, blob: &mut Blob<'_>) -> i64 {
    let mut v: i64 = 0;
    let mut i = 0usize;
    let mut nt = INVALID;
    if blob.s.is_empty() {
        *ty = END;
        return 0;
    }
    let s = blob.s;
    let digits = |i: &mut usize, v: &mut i64| {
        while *i < s.len() && s[*i].is_ascii_digit() {
            *v = v.wrapping_mul(10).wrapping_add(i64::from(s[*i] - b'0'));
            *i += 1;
        }
    };
    match *ty {
        DIGIT_OR_ZERO if s[0] == b'0' => {
            while i < s.len() && s[i] == b'0' {
                i += 1;
            }
            nt = DIGIT;
            v = -(i as i64);
        }
        DIGIT_OR_ZERO | DIGIT | SUFFIX_NO | REVISION_NO => digits(&mut i, &mut v),
        LETTER => {
            v = i64::from(s[0]);
            i = 1;
        }
        SUFFIX => {
            if let Some(k) = PRE_SUFFIXES.iter().position(|p| s.starts_with(p)) {
                i = PRE_SUFFIXES[k].len();
                v = k as i64 - PRE_SUFFIXES.len() as i64;
            } else if let Some(k) = POST_SUFFIXES.iter().position(|p| s.starts_with(p)) {
                i = POST_SUFFIXES[k].len();
                v = k as i64;
            } else {
                *ty = INVALID;
                return -1;
            }
        }
        _ => {
            *ty = INVALID;
            return -1;
        }
    }
    blob.advance(i);
    if blob.s.is_empty() {
        *ty = END;
    } else if nt != INVALID {
        *ty = nt;
    } else {
        next_token(ty, blob);
    }
    v
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    if a.is_empty() || b.is_empty() {
        return Err(VersionError::Empty { scheme: "apk" });
    }
    let mut a = Blob { s: a.as_bytes() };
    let mut b = Blob { s: b.as_bytes() };
    let (mut at, mut bt) = (DIGIT, DIGIT);
    let (mut av, mut bv) = (0, 0);
    while at == bt && at != END && at != INVALID && av == bv {
        av = get_token(&mut at, &mut a);
        bv = get_token(&mut bt, &mut b);
    }
    if av != bv {
        return Ok(av.cmp(&bv));
    }
    if at == bt {
        return Ok(Ordering::Equal);
    }
    // Same leading tokens: the longer version is newer unless what follows is a
    // pre-release suffix.
    let mut tt = at;
    if at == SUFFIX && get_token(&mut tt, &mut a) < 0 {
        return Ok(Ordering::Less);
    }
    tt = bt;
    if bt == SUFFIX && get_token(&mut tt, &mut b) < 0 {
        return Ok(Ordering::Greater);
    }
    Ok(bt.cmp(&at))
}
