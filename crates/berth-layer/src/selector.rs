//! Which files' contents the layer reader keeps.
//!
//! Detectors need a handful of small files (`var/lib/dpkg/status`, `*.dist-info/METADATA`,
//! `package.json`s); everything else is streamed past without being buffered. A
//! [`FileSelector`] is a set of glob [`Pattern`]s over normalized paths (no leading `/`):
//!
//! - `*` matches any run of characters within one path component, `?` one character;
//! - a component that is exactly `**` matches zero or more whole components.
//!
//! There are no character classes or braces: detector patterns do not need them, and a
//! smaller grammar is easier to trust. Matching is a dynamic program over components, so
//! even hostile 4096-byte paths cost `O(pattern × path)`, never exponential time.

use std::fmt;
use std::sync::Arc;

/// Patterns for the files the built-in detectors read.
pub const DETECTOR_PATTERNS: &[&str] = &[
    // OS identification.
    "etc/os-release",
    "usr/lib/os-release",
    "etc/lsb-release",
    "etc/debian_version",
    "etc/alpine-release",
    "etc/redhat-release",
    "etc/system-release",
    // OS package databases.
    "var/lib/dpkg/status",
    "var/lib/dpkg/status.d/*",
    "lib/apk/db/installed",
    "usr/lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    // Language packages.
    "**/*.dist-info/METADATA",
    "**/*.egg-info/PKG-INFO",
    "**/node_modules/**/package.json",
    "**/package-lock.json",
    "**/requirements.txt",
];

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("empty glob pattern")]
    Empty,
    #[error("glob pattern {0:?} has an empty, '.' or '..' component")]
    BadComponent(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: zero or more components.
    AnyDepth,
    /// A component with no wildcards, compared as a string.
    Literal(String),
    /// A component with `*`/`?`.
    Wild(String),
}

/// One glob over normalized paths.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl Pattern {
    /// Parses a glob. A leading `/` is accepted and ignored, since paths are root-relative.
    pub fn new(glob: &str) -> Result<Pattern, PatternError> {
        let trimmed = glob.trim_start_matches('/');
        if trimmed.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut segments = Vec::new();
        for comp in trimmed.split('/') {
            let seg = match comp {
                "" | "." | ".." => return Err(PatternError::BadComponent(glob.to_owned())),
                "**" => {
                    // `**/**` is the same as `**`.
                    if segments.last() == Some(&Segment::AnyDepth) {
                        continue;
                    }
                    Segment::AnyDepth
                }
                c if c.contains(['*', '?']) => Segment::Wild(c.to_owned()),
                c => Segment::Literal(c.to_owned()),
            };
            segments.push(seg);
        }
        Ok(Pattern {
            source: glob.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The leading literal components (`usr/lib` for `usr/lib/*/METADATA`): every match is
    /// under it, so a sorted index can be scanned from there.
    pub fn literal_prefix(&self) -> String {
        let mut parts = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => parts.push(l.as_str()),
                _ => break,
            }
        }
        parts.join("/")
    }

    /// Whether a normalized path matches.
    pub fn matches(&self, path: &str) -> bool {
        let comps: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let n = comps.len();
        // reach[j]: the pattern so far can consume exactly the first j components.
        let mut reach = vec![false; n + 1];
        if let Some(first) = reach.first_mut() {
            *first = true;
        }
        for seg in &self.segments {
            let mut next = vec![false; n + 1];
            match seg {
                Segment::AnyDepth => {
                    if let Some(start) = reach.iter().position(|&r| r) {
                        for slot in next.iter_mut().skip(start) {
                            *slot = true;
                        }
                    }
                }
                Segment::Literal(_) | Segment::Wild(_) => {
                    for (j, comp) in comps.iter().enumerate() {
                        let matched = match seg {
                            Segment::Literal(lit) => comp == lit,
                            Segment::Wild(w) => wildcard_match(w.as_bytes(), comp.as_bytes()),
                            Segment::AnyDepth => false,
                        };
                        if matched
                            && reach.get(j) == Some(&true)
                            && let Some(slot) = next.get_mut(j + 1)
                        {
                            *slot = true;
                        }
                    }
                }
            }
            if !next.iter().any(|&r| r) {
                return false;
            }
            reach = next;
        }
        reach.get(n) == Some(&true)
    }
}

/// `*`/`?` matching within one component; linear backtracking (one saved `*` position), so
/// `O(pattern × text)` in the worst case.
fn wildcard_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                // `?` matches one byte: fine for the ASCII names detectors look for.
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..).unwrap_or_default().iter().all(|&c| c == b'*')
}

type Predicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Decides which regular files' contents are kept while reading a layer.
#[derive(Clone)]
pub struct FileSelector {
    patterns: Vec<Pattern>,
    predicate: Option<Predicate>,
}

impl fmt::Debug for FileSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSelector")
            .field("patterns", &self.patterns)
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}

impl FileSelector {
    /// Keeps files matching any of `globs`.
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<FileSelector, PatternError> {
        let patterns = globs
            .iter()
            .map(|g| Pattern::new(g.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(FileSelector {
            patterns,
            predicate: None,
        })
    }

    /// The files the built-in detectors read ([`DETECTOR_PATTERNS`]).
    pub fn detectors() -> FileSelector {
        // The constant patterns are valid; a failure would be a bug caught by the tests, and
        // an empty selector is a safe fallback rather than a panic.
        FileSelector::new(DETECTOR_PATTERNS).unwrap_or_else(|_| FileSelector::none())
    }

    /// Keeps nothing: only the index of paths is built.
    pub fn none() -> FileSelector {
        FileSelector {
            patterns: Vec::new(),
            predicate: None,
        }
    }

    /// Keeps files for which `f` returns true (in addition to any patterns added later).
    pub fn from_fn(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> FileSelector {
        FileSelector {
            patterns: Vec::new(),
            predicate: Some(Arc::new(f)),
        }
    }

    /// Adds a glob.
    pub fn with(mut self, glob: &str) -> Result<FileSelector, PatternError> {
        self.patterns.push(Pattern::new(glob)?);
        Ok(self)
    }

    /// Whether the contents of the file at normalized `path` should be kept.
    pub fn matches(&self, path: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(path))
            || self.predicate.as_ref().is_some_and(|f| f(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, path: &str) -> bool {
        Pattern::new(glob).unwrap().matches(path)
    }

    #[test]
    fn literal_and_star() {
        assert!(m("etc/os-release", "etc/os-release"));
        assert!(m("/etc/os-release", "etc/os-release"));
        assert!(!m("etc/os-release", "etc/os-release2"));
        assert!(m("var/lib/dpkg/status.d/*", "var/lib/dpkg/status.d/libc6"));
        assert!(!m("var/lib/dpkg/status.d/*", "var/lib/dpkg/status.d/a/b"));
        assert!(!m("var/lib/dpkg/status.d/*", "var/lib/dpkg/status.d"));
        assert!(m("a/?b*c", "a/xbyyc"));
        assert!(!m("a/?b*c", "a/bc"));
    }

    #[test]
    fn double_star() {
        let p = "**/*.dist-info/METADATA";
        assert!(m(
            p,
            "usr/lib/python3/site-packages/Django-3.2.dist-info/METADATA"
        ));
        assert!(m(p, "x.dist-info/METADATA"));
        assert!(!m(p, "x.dist-info/RECORD"));
        let n = "**/node_modules/**/package.json";
        assert!(m(n, "app/node_modules/lodash/package.json"));
        assert!(m(n, "app/node_modules/a/node_modules/b/package.json"));
        assert!(!m(n, "app/package.json"));
        assert!(m("**", "anything/at/all"));
        assert!(m("a/**", "a"));
    }

    #[test]
    fn hostile_paths_are_cheap() {
        let path = vec!["a"; 2000].join("/");
        let p = Pattern::new("**/a/**/a/**/a/**/b").unwrap();
        let start = std::time::Instant::now();
        assert!(!p.matches(&path));
        assert!(start.elapsed().as_secs() < 2);
        assert!(!wildcard_match(b"*a*a*a*a*a*b", &[b'a'; 4000]));
    }

    #[test]
    fn selector_and_prefix() {
        let s = FileSelector::detectors();
        assert!(s.matches("var/lib/dpkg/status"));
        assert!(s.matches("usr/local/lib/python3.11/site-packages/PyYAML-5.3.dist-info/METADATA"));
        assert!(!s.matches("usr/bin/python3"));
        assert!(FileSelector::from_fn(|p| p.ends_with(".txt")).matches("a.txt"));
        assert!(!FileSelector::none().matches("a"));
        assert_eq!(
            Pattern::new("usr/lib/*/x").unwrap().literal_prefix(),
            "usr/lib"
        );
        assert!(Pattern::new("a//b").is_err());
        assert!(Pattern::new("").is_err());
    }
}
