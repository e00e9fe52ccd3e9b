//! Path normalization for tar entry names and the OCI whiteout naming convention.
//!
//! Every path in an index is relative to the image root, `/`-separated, with no empty, `.`
//! or `..` components and no leading or trailing slash (`etc/os-release`); the root itself is
//! the empty string. Normalizing once here means lookups, whiteouts and selectors compare
//! plain strings.

/// Prefix of a whiteout file: `.wh.<name>` deletes `<name>` from lower layers.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of an opaque-directory marker: hides all lower-layer children of its directory.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of AUFS bookkeeping entries (`.wh..wh.plnk`, `.wh..wh.aufs`), which are not
/// whiteouts and are ignored.
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// Result of normalizing an entry name lexically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normalized {
    /// The path, relative to the root (empty for the root itself).
    Path(String),
    /// `..` would climb above the root.
    Escapes,
}

/// Normalizes a tar entry name: strips leading `/` and `./`, drops empty and `.` components,
/// and resolves `..` lexically. Names that climb above the root are reported as
/// [`Normalized::Escapes`]; the layer reader refuses such layers, as Docker's and
/// containerd's extractors do ("breakout"), rather than guess what the author meant.
///
/// Names are bytes in tar; non-UTF-8 bytes are replaced with U+FFFD. Detectors look for
/// ASCII paths, so the lossy form only matters for reporting.
pub fn normalize(raw: &[u8]) -> Normalized {
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for comp in text.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Normalized::Escapes;
                }
            }
            other => parts.push(other),
        }
    }
    Normalized::Path(parts.join("/"))
}

/// The parent directory of a normalized path (`""` for top-level entries).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// The last component of a normalized path.
pub fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map(|(_, n)| n).unwrap_or(path)
}

/// Joins a normalized directory and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// What an entry's name says about whiteouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhiteoutKind {
    /// An ordinary name.
    None,
    /// `.wh.<name>`: deletes the returned path (sibling `<name>`) from lower layers.
    Whiteout(String),
    /// `.wh..wh..opq`: the returned directory is opaque.
    Opaque(String),
    /// AUFS bookkeeping (`.wh..wh.*`) or a bare `.wh.`: not part of the filesystem.
    Ignored,
}

/// Classifies a normalized path by the OCI whiteout convention.
pub fn whiteout_kind(path: &str) -> WhiteoutKind {
    let name = file_name(path);
    let dir = parent(path);
    if name == OPAQUE_MARKER {
        WhiteoutKind::Opaque(dir.to_owned())
    } else if name.starts_with(AUFS_META_PREFIX) {
        WhiteoutKind::Ignored
    } else if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
        if target.is_empty() || target == "." || target == ".." {
            WhiteoutKind::Ignored
        } else {
            WhiteoutKind::Whiteout(join(dir, target))
        }
    } else {
        WhiteoutKind::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Normalized {
        Normalized::Path(s.to_owned())
    }

    #[test]
    fn normalizes_common_forms() {
        assert_eq!(normalize(b"./etc/os-release"), p("etc/os-release"));
        assert_eq!(normalize(b"/etc//passwd"), p("etc/passwd"));
        assert_eq!(normalize(b"usr/lib/"), p("usr/lib"));
        assert_eq!(normalize(b"./"), p(""));
        assert_eq!(normalize(b"a/./b/../c"), p("a/c"));
        assert_eq!(normalize(b"a/.."), p(""));
    }

    #[test]
    fn detects_escapes() {
        assert_eq!(normalize(b"../etc/passwd"), Normalized::Escapes);
        assert_eq!(normalize(b"/../../x"), Normalized::Escapes);
        assert_eq!(normalize(b"a/../../b"), Normalized::Escapes);
    }

    #[test]
    fn non_utf8_is_lossy_not_an_error() {
        assert_eq!(normalize(b"a/\xffb"), p("a/\u{fffd}b"));
    }

    #[test]
    fn classifies_whiteouts() {
        assert_eq!(
            whiteout_kind("usr/lib/.wh.PyYAML"),
            WhiteoutKind::Whiteout("usr/lib/PyYAML".into())
        );
        assert_eq!(whiteout_kind(".wh.x"), WhiteoutKind::Whiteout("x".into()));
        assert_eq!(
            whiteout_kind("app/.wh..wh..opq"),
            WhiteoutKind::Opaque("app".into())
        );
        assert_eq!(
            whiteout_kind(".wh..wh..opq"),
            WhiteoutKind::Opaque("".into())
        );
        assert_eq!(whiteout_kind("x/.wh..wh.plnk"), WhiteoutKind::Ignored);
        assert_eq!(whiteout_kind("x/.wh."), WhiteoutKind::Ignored);
        assert_eq!(whiteout_kind("x/.whatever"), WhiteoutKind::None);
    }
}
