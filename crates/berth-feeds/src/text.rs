//! Small text and format helpers shared by the feed parsers: bounded strings, cheap content
//! sniffing (so a file is parsed once for real, not tried against every format), YAML
//! options that keep version strings as written, and link and id lists without repeats.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::MAX_TEXT;

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// A feed's free text, trimmed and bounded by [`MAX_TEXT`].
pub(crate) fn bounded(s: Option<String>) -> String {
    let mut s = s.unwrap_or_default();
    let trimmed = s.trim();
    if trimmed.len() != s.len() {
        s = trimmed.to_owned();
    }
    truncate(&mut s, MAX_TEXT);
    s
}

/// Appends the items of `more` not already in `list` (and not empty), keeping order.
pub(crate) fn extend_unique(list: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    for m in more {
        let m = m.trim();
        if !m.is_empty() && !list.iter().any(|l| l == m) {
            list.push(m.to_owned());
        }
    }
}

/// An RFC 3339 timestamp as a sortable key: feeds mix whole seconds and fractions
/// (`…:07Z` is earlier than `…:07.5Z`, which plain string order gets wrong).
pub(crate) fn timestamp_key(ts: &str) -> (&str, u64) {
    let ts = ts.trim();
    let cut = ts
        .char_indices()
        .nth(19)
        .map(|(i, _)| i)
        .unwrap_or(ts.len());
    let (head, rest) = ts.split_at(cut);
    let mut nanos = 0u64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac
            .chars()
            .take_while(char::is_ascii_digit)
            .take(9)
            .collect();
        let width = digits.len() as u32;
        nanos = digits.parse::<u64>().unwrap_or(0) * 10u64.pow(9 - width);
    }
    (head, nanos)
}

/// The first characters of a file after a byte-order mark and white space, for sniffing.
pub(crate) fn sniff_head(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = (start + 32).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..end]).into_owned()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// The top-level shape of a JSON document: its keys (up to a bound), or the keys of the
/// first element of an array.
pub(crate) enum Probe {
    Object(Vec<String>),
    Array(Option<Vec<String>>),
    Other,
}

/// How many top-level keys a probe keeps: classification needs a handful; Debian's tracker
/// has tens of thousands (package names).
const PROBE_KEYS: usize = 256;

pub(crate) fn probe_json(bytes: &[u8]) -> Result<Probe, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let p = de::Deserializer::deserialize_any(&mut de, TopVisitor)?;
    de.end()?;
    Ok(p)
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Probe;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Probe, A::Error> {
        Ok(Probe::Object(collect_keys(map)?))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
        let first = seq.next_element_seed(KeysSeed)?.flatten();
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Probe::Array(first))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Probe, E> {
        Ok(Probe::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Probe, E> {
        Ok(Probe::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Probe, E> {
        Ok(Probe::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Probe, E> {
        Ok(Probe::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Probe, E> {
        Ok(Probe::Other)
    }
    fn visit_unit<E>(self) -> Result<Probe, E> {
        Ok(Probe::Other)
    }
}

fn collect_keys<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<String>, A::Error> {
    let mut keys = Vec::new();
    while let Some(k) = map.next_key::<String>()? {
        if keys.len() < PROBE_KEYS {
            keys.push(k);
        }
        map.next_value::<IgnoredAny>()?;
    }
    Ok(keys)
}

/// The keys of one value when it is an object.
struct KeysSeed;

impl<'de> DeserializeSeed<'de> for KeysSeed {
    type Value = Option<Vec<String>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(KeysVisitor)
    }
}

struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = Option<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        collect_keys(map).map(Some)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The keys of a block-style YAML document's top-level mapping, read line by line: enough to
/// tell an OSV record from an Alpine secdb release without parsing either twice.
pub(crate) fn yaml_top_keys(bytes: &[u8]) -> Vec<&str> {
    let mut keys = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        let Some(&first) = line.first() else { continue };
        if !(first.is_ascii_alphanumeric() || first == b'_' || first == b'"' || first == b'\'') {
            continue;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if let Some((k, _)) = line.split_once(':') {
            keys.push(k.trim().trim_matches(|c| c == '"' || c == '\''));
        }
    }
    keys
}

/// YAML as berth reads feeds: repeated keys reach the visitor (Alpine's secfixes can repeat a
/// version), and error messages stay one line.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    }
}

pub(crate) fn from_yaml<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_slice_with_options(bytes, yaml_options())
}

/// A string field whose feed sometimes writes a number or a boolean there; anything
/// structured reads as absent rather than failing the record.
pub(crate) fn loose_str(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether a token is shaped like a vulnerability id (`CVE-2019-1`, `XSA-207`,
/// `GHSA-xxxx-xxxx-xxxx`, `TALOS-2017-0499`), returned in canonical form. Alpine writes
/// `CVE_2019-2426` and sub-issue suffixes (`CVE-2017-17434-1`); both are read as the CVE.
pub(crate) fn vuln_id(token: &str) -> Option<String> {
    let t = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if t.len() < 5 || t.len() > 64 {
        return None;
    }
    let upper = t.to_ascii_uppercase();
    if let Some(rest) = upper
        .strip_prefix("CVE-")
        .or_else(|| upper.strip_prefix("CVE_"))
    {
        let (year, num) = rest.split_once('-')?;
        let num: String = num.chars().take_while(char::is_ascii_digit).collect();
        if year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()) && !num.is_empty() {
            return Some(format!("CVE-{year}-{num}"));
        }
        return None;
    }
    let (prefix, rest) = t.split_once('-')?;
    let prefix_ok = prefix.len() >= 2
        && prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && prefix.as_bytes()[0].is_ascii_uppercase();
    let rest_ok = !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && rest.bytes().any(|b| b.is_ascii_digit());
    (prefix_ok && rest_ok).then(|| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_alpine_secfix_lines() {
        let ids = |line: &str| {
            line.split_whitespace()
                .filter_map(vuln_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("CVE-2019-1 CVE-2019-2"), ["CVE-2019-1", "CVE-2019-2"]);
        assert_eq!(ids("CVE-2018-1000001 (some note)"), ["CVE-2018-1000001"]);
        assert_eq!(ids("CVE-2017-8904 XSA-214"), ["CVE-2017-8904", "XSA-214"]);
        assert_eq!(ids("CVE_2019-2426"), ["CVE-2019-2426"]);
        assert_eq!(ids("CVE-2017-17434-1"), ["CVE-2017-17434"]);
        assert_eq!(ids("CVE-????-?????  XSA-295"), ["XSA-295"]);
        assert_eq!(
            ids("CVE-2014-9638 TALOS-2017-0499"),
            ["CVE-2014-9638", "TALOS-2017-0499"]
        );
        assert_eq!(ids("GHSA-35jh-r3h4-6jhm"), ["GHSA-35jh-r3h4-6jhm"]);
        assert_eq!(ids("CVE-2018-14881 (BGP)"), ["CVE-2018-14881"]);
    }

    #[test]
    fn timestamps_order_with_and_without_fractions() {
        assert!(timestamp_key("2021-07-15T02:22:07.5Z") > timestamp_key("2021-07-15T02:22:07Z"));
        assert!(timestamp_key("2021-07-16T00:00:00Z") > timestamp_key("2021-07-15T02:22:07.9Z"));
    }

    #[test]
    fn yaml_keeps_versions_as_written() {
        #[derive(Deserialize)]
        struct S {
            a: String,
            b: Vec<String>,
        }
        let s: S = from_yaml(b"a: 1.10\nb: [1.0, 2, 0x10, 1e3]\n").unwrap();
        assert_eq!(s.a, "1.10");
        assert_eq!(s.b, ["1.0", "2", "0x10", "1e3"]);
    }
}
