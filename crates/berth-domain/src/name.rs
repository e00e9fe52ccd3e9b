//! Repository names, tags and references, with the grammar of the OCI distribution spec.
//!
//! The grammar itself excludes path traversal (`..`, empty components, leading `/`), so a
//! valid [`RepoName`] is safe to use as a key anywhere; storage never sees a raw name.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// Longest repository name accepted (Distribution's limit, which clients expect).
pub const MAX_NAME_LEN: usize = 255;
/// Most path components in one repository name; bounds work on hostile input.
pub const MAX_NAME_COMPONENTS: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("repository name is empty")]
    Empty,
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("repository name has more than {MAX_NAME_COMPONENTS} path components")]
    TooManyComponents,
    #[error(
        "repository name component {0:?} is invalid: components are lowercase alphanumerics separated by '.', '_', '__' or dashes"
    )]
    BadComponent(String),
    #[error("tag {0:?} is invalid: tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    BadTag(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A validated repository name such as `library/debian` or `org/team/app`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        let mut count = 0;
        for component in s.split('/') {
            count += 1;
            if count > MAX_NAME_COMPONENTS {
                return Err(NameError::TooManyComponents);
            }
            if !valid_component(component) {
                return Err(NameError::BadComponent(
                    component.chars().take(80).collect(),
                ));
            }
        }
        Ok(RepoName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__', or one or more '-'.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A validated tag.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b[1..]
                .iter()
                .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
        if ok {
            Ok(Tag(s.to_owned()))
        } else {
            Err(NameError::BadTag(s.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// What a manifest URL names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A reference containing ':' is a digest, anything else must be a tag.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.contains(':') {
            Ok(Reference::Digest(Digest::parse(s)?))
        } else {
            Ok(Reference::Tag(Tag::parse(s)?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for n in [
            "a",
            "library/debian",
            "a/b/c/d/e",
            "my-org/my__app.v2",
            "x--y/z_9",
            "0/1",
        ] {
            RepoName::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_names_and_traversal() {
        for n in [
            "", "A", "a/", "/a", "a//b", "../a", "a/../b", "a/./b", "a..b", "a___b", "-a", "a-",
            "a_", "a b", "a%2fb", "a\\b",
        ] {
            assert!(RepoName::parse(n).is_err(), "{n:?} should be invalid");
        }
        assert_eq!(RepoName::parse(&"a".repeat(256)), Err(NameError::TooLong));
        let deep = vec!["a"; 33].join("/");
        assert_eq!(RepoName::parse(&deep), Err(NameError::TooManyComponents));
    }

    #[test]
    fn tags() {
        Tag::parse("latest").unwrap();
        Tag::parse("_x.Y-1").unwrap();
        Tag::parse(&"a".repeat(128)).unwrap();
        for t in ["", ".a", "-a", "a/b", "a:b", &"a".repeat(129)] {
            assert!(Tag::parse(t).is_err(), "{t:?}");
        }
    }

    #[test]
    fn references() {
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        let d = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(Reference::parse(&d), Ok(Reference::Digest(_))));
        assert!(Reference::parse("sha256:zz").is_err());
    }
}
