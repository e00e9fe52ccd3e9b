//! Shared bounded text parsing: lines with a length cap, and RFC 822-style `Key: value`
//! stanzas (dpkg's status file, Python's `METADATA`/`PKG-INFO` headers).

use crate::DetectError;

/// Longest line any text parser accepts. Real package metadata lines are well under 1 KiB;
/// a longer line means the file is not what its name says.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// The lines of `bytes` (split on `\n`, a trailing `\r` removed, invalid UTF-8 replaced),
/// failing on a line longer than [`MAX_LINE`].
pub(crate) fn lines<'a>(
    path: &'a str,
    bytes: &'a [u8],
) -> impl Iterator<Item = Result<std::borrow::Cow<'a, str>, DetectError>> + 'a {
    bytes.split(|&b| b == b'\n').enumerate().map(move |(i, l)| {
        if l.len() > MAX_LINE {
            return Err(DetectError::LineTooLong {
                path: path.to_owned(),
                line: i + 1,
                limit: MAX_LINE,
            });
        }
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        Ok(String::from_utf8_lossy(l))
    })
}

/// One stanza's kept fields, first line of each value only, keys as written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Stanza {
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    /// The value of `key` (ASCII case-insensitive, as dpkg and email headers are).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `Key: value` stanzas separated by blank lines, keeping only the fields in `keep`.
/// Continuation lines (starting with a space or tab) are skipped: no kept field is multi-line.
/// `max_stanzas` caps the count; `first_only` stops after the first stanza (email headers,
/// where the body follows the blank line).
pub(crate) fn stanzas(
    path: &str,
    bytes: &[u8],
    keep: &[&str],
    max_stanzas: usize,
    first_only: bool,
) -> Result<Vec<Stanza>, DetectError> {
    let mut out = Vec::new();
    let mut cur = Stanza::default();
    let mut in_stanza = false;
    for line in lines(path, bytes) {
        let line = line?;
        if line.trim().is_empty() {
            if in_stanza {
                out.push(std::mem::take(&mut cur));
                in_stanza = false;
                if first_only {
                    return Ok(out);
                }
                if out.len() > max_stanzas {
                    return Err(DetectError::TooMany {
                        path: path.to_owned(),
                        what: "entries",
                        limit: max_stanzas,
                    });
                }
            }
            continue;
        }
        in_stanza = true;
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim();
        if keep.iter().any(|w| w.eq_ignore_ascii_case(k)) && cur.get(k).is_none() {
            cur.fields.push((k.to_owned(), v.trim().to_owned()));
        }
    }
    if in_stanza {
        out.push(cur);
    }
    if out.len() > max_stanzas {
        return Err(DetectError::TooMany {
            path: path.to_owned(),
            what: "entries",
            limit: max_stanzas,
        });
    }
    Ok(out)
}

/// The last component of a `/`-separated path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The parent of a `/`-separated path (`""` for a top-level name).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_keep_only_wanted_fields_and_skip_continuations() {
        let s =
            b"Package: a\nDescription: x\n more\nVersion: 1\n\n\n\nPackage: b\r\nVersion: 2\r\n";
        let got = stanzas("p", s, &["package", "Version"], 10, false).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].get("Package"), Some("a"));
        assert_eq!(got[0].get("description"), None);
        assert_eq!(got[1].get("version"), Some("2"));
    }

    #[test]
    fn stanzas_caps() {
        let s = "Package: a\n\n".repeat(5);
        assert!(matches!(
            stanzas("p", s.as_bytes(), &["Package"], 3, false),
            Err(DetectError::TooMany { .. })
        ));
        let long = format!("Package: {}\n", "x".repeat(MAX_LINE + 1));
        assert!(matches!(
            stanzas("p", long.as_bytes(), &["Package"], 3, false),
            Err(DetectError::LineTooLong { line: 1, .. })
        ));
    }

    #[test]
    fn garbage_does_not_panic() {
        let junk: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = stanzas("p", &junk, &["Package"], 10, false);
        assert_eq!(file_name("a/b/c"), "c");
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("c"), "");
    }
}
