//! The merged image: layers applied in order with OCI whiteout semantics, and path
//! resolution that follows symlinks the way a container would see them, inside the root.
//!
//! Merging follows the OCI image spec's "Applying changesets" and overlayfs:
//!
//! - a whiteout `.wh.<name>` removes `<name>` and everything under it from *lower* layers;
//! - an opaque marker `.wh..wh..opq` hides every lower-layer child of its directory;
//! - both apply before the layer's own entries, so entries in the same layer stay;
//! - a non-directory replaces whatever was at its path, children included; a directory
//!   over a directory merges; an entry under a lower-layer non-directory (a file, or a
//!   symlink such as `lib -> usr/lib`) replaces that non-directory with a directory, as
//!   extraction into an overlay layer does.
//!
//! Resolution is chroot-like: `..` at the root stays at the root, absolute link targets
//! start again at the image root, and every followed link counts against a hop limit. No
//! path can resolve outside the image, because there is nothing outside it to resolve to.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::FsError;
use crate::layer::{EntryKind, LayerIndex};
use crate::limits::Limits;
use crate::path::{Normalized, normalize};
use crate::selector::Pattern;

/// A path in the merged image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: EntryKind,
    pub size: u64,
    /// Index (into the slice given to [`merge`]) of the layer whose entry is visible:
    /// the layer that introduced the file, or last replaced it.
    pub layer: usize,
    pub contents: Option<Arc<[u8]>>,
}

/// The union of an image's layers, read-only.
#[derive(Debug, Clone)]
pub struct ImageFs {
    nodes: BTreeMap<String, Node>,
    max_hops: u32,
    max_path_len: usize,
}

/// Applies `layers` (base first) with the default symlink hop limit.
pub fn merge(layers: &[LayerIndex]) -> ImageFs {
    merge_with(layers, &Limits::default())
}

/// Applies `layers` (base first); `limits.max_symlink_hops` bounds resolution.
pub fn merge_with(layers: &[LayerIndex], limits: &Limits) -> ImageFs {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for (layer, index) in layers.iter().enumerate() {
        for dir in index.opaque_dirs() {
            remove_descendants(&mut nodes, dir);
        }
        for path in index.whiteouts() {
            nodes.remove(path);
            remove_descendants(&mut nodes, path);
        }
        for (path, entry) in index.entries() {
            replace_non_dir_ancestors(&mut nodes, path);
            let is_dir = entry.kind == EntryKind::Dir;
            if !is_dir {
                remove_descendants(&mut nodes, path);
            }
            nodes.insert(
                path.clone(),
                Node {
                    kind: entry.kind.clone(),
                    size: entry.size,
                    layer,
                    contents: entry.contents.clone(),
                },
            );
        }
    }
    ImageFs {
        nodes,
        max_hops: limits.max_symlink_hops,
        max_path_len: limits.max_path_len,
    }
}

/// The meaningful components of a path or link target (no empty or `.` components).
fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Removes everything strictly under `dir` (all of it when `dir` is the root, `""`).
fn remove_descendants(nodes: &mut BTreeMap<String, Node>, dir: &str) {
    if dir.is_empty() {
        nodes.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        nodes.remove(&k);
    }
}

/// An entry at `a/b/c` needs `a` and `a/b` to be directories: lower-layer non-directories
/// in the way are replaced (their contents were already hidden).
fn replace_non_dir_ancestors(nodes: &mut BTreeMap<String, Node>, path: &str) {
    let mut end = 0;
    while let Some(pos) = path.get(end..).and_then(|rest| rest.find('/')) {
        let ancestor = path.get(..end + pos).unwrap_or_default();
        if nodes
            .get(ancestor)
            .is_some_and(|n| n.kind != EntryKind::Dir)
        {
            nodes.remove(ancestor);
        }
        end += pos + 1;
    }
}

impl ImageFs {
    /// Number of paths in the image.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node at `path` itself, without following symlinks (like `lstat`). `path` is
    /// normalized lexically first (`/etc/../etc/passwd` is `etc/passwd`).
    pub fn lstat(&self, path: &str) -> Option<&Node> {
        match normalize(path.as_bytes()) {
            Normalized::Path(p) => self.nodes.get(&p),
            Normalized::Escapes => None,
        }
    }

    /// Whether `path` exists after following symlinks (directories without an entry of
    /// their own, implied by their children, count).
    pub fn exists(&self, path: &str) -> bool {
        match self.resolve(path) {
            Ok(p) => p.is_empty() || self.nodes.contains_key(&p) || self.has_children(&p),
            Err(_) => false,
        }
    }

    fn has_children(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// The canonical path `path` refers to, following every symlink (in the middle and at
    /// the end) inside the root. The result need not exist.
    pub fn resolve(&self, path: &str) -> Result<String, FsError> {
        let mut hops = 0;
        self.resolve_counting(path, &mut hops)
    }

    fn resolve_counting(&self, path: &str, hops: &mut u32) -> Result<String, FsError> {
        // Components still to walk, last first (so the next one is `pop`).
        let mut pending: Vec<&str> = components(path).rev().collect();
        // The resolved prefix so far, kept as one string so each step costs O(its length).
        let mut current = String::new();
        while let Some(comp) = pending.pop() {
            if comp == ".." {
                // At the root, `..` is the root.
                let cut = current.rfind('/').unwrap_or(0);
                current.truncate(cut);
                continue;
            }
            let before = current.len();
            if !current.is_empty() {
                current.push('/');
            }
            current.push_str(comp);
            if current.len() > self.max_path_len {
                // ENAMETOOLONG: also bounds the work a chain of long links can cause.
                return Err(FsError::NotFound(path.to_owned()));
            }
            let Some(node) = self.nodes.get(&current) else {
                // Missing (or an implied directory): keep walking lexically.
                continue;
            };
            match &node.kind {
                EntryKind::Symlink(target) => {
                    *hops += 1;
                    if *hops > self.max_hops {
                        return Err(FsError::TooManyLinks {
                            path: path.to_owned(),
                            limit: self.max_hops,
                        });
                    }
                    current.truncate(before);
                    if target.starts_with('/') {
                        current.clear();
                    }
                    pending.extend(components(target).rev());
                }
                EntryKind::Dir => {}
                _ if !pending.is_empty() => {
                    // A file used as a directory (ENOTDIR).
                    return Err(FsError::NotFound(path.to_owned()));
                }
                _ => {}
            }
        }
        Ok(current)
    }

    /// The node `path` refers to after following symlinks, with its canonical path.
    pub fn stat(&self, path: &str) -> Result<(&str, &Node), FsError> {
        let resolved = self.resolve(path)?;
        self.nodes
            .get_key_value(&resolved)
            .map(|(k, n)| (k.as_str(), n))
            .ok_or_else(|| {
                if resolved.is_empty() || self.has_children(&resolved) {
                    FsError::IsDirectory(path.to_owned())
                } else {
                    FsError::NotFound(path.to_owned())
                }
            })
    }

    /// The contents of the regular file `path` refers to, following symlinks and hard
    /// links. Only files selected when their layer was read have contents
    /// ([`FsError::NotKept`] otherwise). A hard link is read through its target, so its
    /// contents are there when the *target's* path was selected (the tar stores the data
    /// once, under the first name).
    pub fn read(&self, path: &str) -> Result<&[u8], FsError> {
        let mut hops = 0;
        let mut current = self.resolve_counting(path, &mut hops)?;
        loop {
            let Some(node) = self.nodes.get(&current) else {
                return Err(if current.is_empty() || self.has_children(&current) {
                    FsError::IsDirectory(path.to_owned())
                } else {
                    FsError::NotFound(path.to_owned())
                });
            };
            match (&node.kind, &node.contents) {
                (EntryKind::File | EntryKind::Hardlink(_), Some(c)) => return Ok(c),
                (EntryKind::File, None) => return Err(FsError::NotKept(path.to_owned())),
                (EntryKind::Hardlink(target), None) => {
                    hops += 1;
                    if hops > self.max_hops {
                        return Err(FsError::TooManyLinks {
                            path: path.to_owned(),
                            limit: self.max_hops,
                        });
                    }
                    current = self.resolve_counting(target, &mut hops)?;
                }
                (EntryKind::Dir, _) => return Err(FsError::IsDirectory(path.to_owned())),
                _ => return Err(FsError::NotAFile(path.to_owned())),
            }
        }
    }

    /// Every path in the image, sorted, without following symlinks.
    pub fn walk(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, n)| (k.as_str(), n))
    }

    /// Paths under directory `dir` (normalized; `""` for everything), sorted.
    pub fn walk_under<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{}/", dir.trim_matches('/'))
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, n)| (k.as_str(), n))
    }

    /// Paths matching `pattern` (as stored; symlinks are not followed), sorted. Only the
    /// part of the index under the pattern's literal prefix is scanned.
    pub fn glob<'a>(
        &'a self,
        pattern: &'a Pattern,
    ) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let prefix = pattern.literal_prefix();
        let candidates: Box<dyn Iterator<Item = (&'a String, &'a Node)> + 'a> = if prefix.is_empty()
        {
            Box::new(self.nodes.iter())
        } else {
            let exact = self.nodes.get_key_value(&prefix);
            let under = format!("{prefix}/");
            Box::new(
                exact.into_iter().chain(
                    self.nodes
                        .range(under.clone()..)
                        .take_while(move |(k, _)| k.starts_with(&under)),
                ),
            )
        };
        candidates
            .filter(|(k, _)| pattern.matches(k))
            .map(|(k, n)| (k.as_str(), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::index_tar;
    use crate::selector::FileSelector;
    use crate::tar::tests::{pax_record, push};

    fn layer(entries: &[(&str, u8, &[u8], &str)]) -> LayerIndex {
        let mut tar = Vec::new();
        for (name, flag, data, link) in entries {
            push(&mut tar, name.as_bytes(), *flag, data, link.as_bytes());
        }
        index_tar(
            &tar[..],
            &FileSelector::new(&["**"]).unwrap(),
            &Limits::default(),
        )
        .unwrap()
    }

    #[test]
    fn whiteouts_and_opaque_dirs() {
        let base = layer(&[
            ("a/", b'5', b"", ""),
            ("a/x", b'0', b"1", ""),
            ("a/sub/y", b'0', b"2", ""),
            ("b/", b'5', b"", ""),
            ("b/old", b'0', b"3", ""),
            ("b-sibling", b'0', b"4", ""),
        ]);
        let upper = layer(&[
            ("a/.wh.sub", b'0', b"", ""),
            ("b/.wh..wh..opq", b'0', b"", ""),
            ("b/new", b'0', b"5", ""),
            // Same layer as the whiteout: stays.
            ("a/sub", b'0', b"file now", ""),
        ]);
        let fs = merge(&[base, upper]);
        assert_eq!(fs.read("a/x").unwrap(), b"1");
        assert!(fs.lstat("a/sub/y").is_none());
        assert_eq!(fs.read("a/sub").unwrap(), b"file now");
        assert_eq!(fs.lstat("a/sub").unwrap().layer, 1);
        assert!(fs.lstat("b/old").is_none());
        assert_eq!(fs.read("b/new").unwrap(), b"5");
        assert_eq!(fs.read("b-sibling").unwrap(), b"4");
        assert_eq!(fs.lstat("a/x").unwrap().layer, 0);
    }

    #[test]
    fn file_replaces_dir_and_dir_replaces_symlink() {
        let base = layer(&[
            ("d/child", b'0', b"c", ""),
            ("lib", b'2', b"", "usr/lib"),
            ("usr/lib/z", b'0', b"z", ""),
        ]);
        let upper = layer(&[("d", b'0', b"now a file", ""), ("lib/own", b'0', b"o", "")]);
        let fs = merge(&[base, upper]);
        assert!(fs.lstat("d/child").is_none());
        assert_eq!(fs.read("d").unwrap(), b"now a file");
        assert!(fs.lstat("lib").is_none());
        assert_eq!(fs.read("lib/own").unwrap(), b"o");
        assert!(matches!(fs.read("lib/z"), Err(FsError::NotFound(_))));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let fs = merge(&[layer(&[
            ("usr/lib/os-release", b'0', b"ID=debian\n", ""),
            ("etc/os-release", b'2', b"", "../usr/lib/os-release"),
            ("etc/abs", b'2', b"", "/usr/lib/os-release"),
            ("etc/escape", b'2', b"", "../../../../../usr/lib/os-release"),
            ("etc/passwd-link", b'2', b"", "../../../etc/passwd"),
            ("lib", b'2', b"", "usr/lib"),
            ("loop1", b'2', b"", "loop2"),
            ("loop2", b'2', b"", "/loop1"),
            ("self", b'2', b"", "./self/x"),
            ("h1", b'1', b"", "h2"),
            ("h2", b'1', b"", "h1"),
            ("hard", b'1', b"", "usr/lib/os-release"),
        ])]);
        for p in [
            "etc/os-release",
            "/etc/os-release",
            "etc/abs",
            "etc/escape",
            "lib/os-release",
            "/../../lib/./os-release",
            "hard",
        ] {
            assert_eq!(fs.read(p).unwrap(), b"ID=debian\n", "{p}");
        }
        assert_eq!(fs.resolve("etc/escape").unwrap(), "usr/lib/os-release");
        assert!(matches!(
            fs.read("etc/passwd-link"),
            Err(FsError::NotFound(_))
        ));
        for p in ["loop1", "self", "h1"] {
            assert!(
                matches!(fs.read(p), Err(FsError::TooManyLinks { limit: 40, .. })),
                "{p}: {:?}",
                fs.read(p)
            );
        }
        assert!(matches!(fs.read("usr/lib"), Err(FsError::IsDirectory(_))));
        assert!(matches!(fs.read("usr"), Err(FsError::IsDirectory(_))));
        assert!(matches!(
            fs.read("usr/lib/os-release/x"),
            Err(FsError::NotFound(_))
        ));
        assert!(fs.exists("lib/os-release"));
        assert!(!fs.exists("nope"));
    }

    #[test]
    fn resolution_work_is_bounded_by_path_length() {
        // A 4000-byte link target (within the tar limit), then more path after it.
        let target = "y/".repeat(2000);
        let mut tar = Vec::new();
        push(
            &mut tar,
            b"pax",
            b'x',
            &pax_record("linkpath", target.as_bytes()),
            b"",
        );
        push(&mut tar, b"long", b'2', b"", b"");
        let idx = index_tar(&tar[..], &FileSelector::none(), &Limits::default()).unwrap();
        let fs = merge(&[idx]);
        assert_eq!(fs.resolve("long").unwrap().len(), 3999);
        let too_long = format!("long/{}", "z".repeat(200));
        assert!(matches!(fs.resolve(&too_long), Err(FsError::NotFound(_))));
        assert_eq!(fs.resolve("long/..").unwrap().len(), 3997);
    }

    #[test]
    fn glob_and_walk() {
        let fs = merge(&[layer(&[
            ("usr/lib/p/a.dist-info/METADATA", b'0', b"a", ""),
            ("usr/lib/p/b.dist-info/METADATA", b'0', b"b", ""),
            ("usr/lib/p/b.dist-info/RECORD", b'0', b"r", ""),
            ("usr/lib-other/c.dist-info/METADATA", b'0', b"c", ""),
            ("usr/lib0/d.dist-info/METADATA", b'0', b"d", ""),
        ])]);
        let p = Pattern::new("usr/lib/**/*.dist-info/METADATA").unwrap();
        let got: Vec<&str> = fs.glob(&p).map(|(k, _)| k).collect();
        assert_eq!(
            got,
            [
                "usr/lib/p/a.dist-info/METADATA",
                "usr/lib/p/b.dist-info/METADATA"
            ]
        );
        let all = Pattern::new("**/METADATA").unwrap();
        assert_eq!(fs.glob(&all).count(), 4);
        assert_eq!(fs.walk_under("usr/lib").count(), 3);
        assert_eq!(fs.walk().count(), 5);
    }
}
