//! Maven's version order: a port of `org.apache.maven.artifact.versioning.ComparableVersion`
//! as shipped in Debian's maven-artifact 3.8 (the jar the tests run as the oracle). Versions
//! are lower-cased and split on ".", "-" and digit/letter transitions into nested lists;
//! "-", transitions and a qualifier after a dot ("1.0.0.X1" as "1.0.0-X1") open a sub-list,
//! a sub-list compares with "nothing" item by item (MNG-6964), trailing "null" items (0, "", "final", "ga",
//! "release") are dropped, and qualifiers order alpha < beta < milestone < rc = cr <
//! snapshot < "" < sp < any other (alphabetical). "a1", "b1", "m1" mean alpha-1, beta-1,
//! milestone-1. Never fails: every string is a Maven version.

use std::cmp::Ordering;

use crate::VersionError;

#[derive(Debug)]
enum Item {
    /// Digits with leading zeros stripped (Int/Long/BigInteger items all order by value).
    Int(String),
    /// A qualifier: its rank in the known list (7 for unknown) and the text.
    Str(u8, String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE: u8 = 5;

fn string_item(value: &str, followed_by_digit: bool) -> Item {
    let mut v = value;
    if followed_by_digit && value.len() == 1 {
        v = match value {
            "a" => "alpha",
            "b" => "beta",
            "m" => "milestone",
            _ => value,
        };
    }
    v = match v {
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        _ => v,
    };
    let rank = QUALIFIERS
        .iter()
        .position(|q| *q == v)
        .map_or(7, |p| p as u8);
    Item::Str(rank, v.to_owned())
}

fn parse_item(is_digit: bool, buf: &str) -> Item {
    if is_digit {
        let t = buf.trim_start_matches('0');
        Item::Int(t.to_owned())
    } else {
        string_item(buf, false)
    }
}

fn is_null(item: &Item) -> bool {
    match item {
        Item::Int(v) => v.is_empty(),
        Item::Str(rank, _) => *rank == RELEASE,
        Item::List(l) => l.is_empty(),
    }
}

fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if is_null(&list[i]) {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

fn parse(input: &str) -> Vec<Item> {
    let version = input.to_lowercase();
    let v = version.as_str();
    // The chain of open lists: each new list is the last item of the one before it.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut is_digit = false;
    let mut start = 0usize;
    for (i, c) in v.char_indices() {
        let Some(list) = stack.last_mut() else { break };
        if c == '.' || c == '-' {
            if i == start {
                list.push(Item::Int(String::new()));
            } else {
                list.push(parse_item(is_digit, &v[start..i]));
            }
            start = i + 1;
            if c == '-' {
                stack.push(Vec::new());
            }
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                // "1.0.0.X1" < "1.0.0-X2": a qualifier after a dot opens a sub-list too.
                let item = string_item(&v[start..i], true);
                if list.is_empty() {
                    list.push(item);
                } else {
                    stack.push(vec![item]);
                }
                start = i;
                stack.push(Vec::new());
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                list.push(parse_item(true, &v[start..i]));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if v.len() > start {
        let item = parse_item(is_digit, &v[start..]);
        match stack.last_mut() {
            Some(list) if is_digit || list.is_empty() => list.push(item),
            _ => stack.push(vec![item]),
        }
    }
    // Normalize from the innermost list out, nesting each into its parent.
    let mut inner = stack.pop().unwrap_or_default();
    normalize(&mut inner);
    while let Some(mut parent) = stack.pop() {
        parent.push(Item::List(inner));
        normalize(&mut parent);
        inner = parent;
    }
    inner
}

/// `Item.compareTo(null)`: how an item compares with nothing (a shorter version's end).
fn cmp_null(item: &Item) -> Ordering {
    match item {
        Item::Int(v) => {
            if v.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        Item::Str(rank, _) => rank.cmp(&RELEASE),
        // MNG-6964: every item counts, not only the first.
        Item::List(l) => l
            .iter()
            .map(cmp_null)
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
    }
}

fn cmp_item(l: &Item, r: &Item) -> Ordering {
    use Item::*;
    match (l, r) {
        (Int(a), Int(b)) => crate::num::cmp_num(a, b),
        (Int(_), _) => Ordering::Greater,
        (Str(..), Int(_)) | (Str(..), List(_)) => Ordering::Less,
        (Str(ra, a), Str(rb, b)) => ra.cmp(rb).then_with(|| {
            if *ra == 7 {
                cmp_java(a, b)
            } else {
                Ordering::Equal
            }
        }),
        (List(_), Int(_)) => Ordering::Less,
        (List(_), Str(..)) => Ordering::Greater,
        (List(a), List(b)) => cmp_list(a, b),
    }
}

/// Java's `String.compareTo` (UTF-16 code units).
fn cmp_java(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn cmp_list(a: &[Item], b: &[Item]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let o = match (a.get(i), b.get(i)) {
            (None, None) => Ordering::Equal,
            (None, Some(r)) => cmp_null(r).reverse(),
            (Some(l), None) => cmp_null(l),
            (Some(l), Some(r)) => cmp_item(l, r),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub(crate) fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    if a.is_empty() || b.is_empty() {
        return Err(VersionError::Empty { scheme: "maven" });
    }
    Ok(cmp_list(&parse(a), &parse(b)))
}
