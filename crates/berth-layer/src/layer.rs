//! Reading one layer into a [`LayerIndex`]: every path with its kind and size, the layer's
//! whiteouts and opaque directories, and the contents of the selected files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};
use std::sync::Arc;

use berth_domain::Digest;

use crate::compression::{BoundedReader, Compression, DigestingReader, decompress};
use crate::error::LayerError;
use crate::limits::Limits;
use crate::path::{Normalized, WhiteoutKind, normalize, whiteout_kind};
use crate::selector::FileSelector;
use crate::tar::{TarKind, TarWalker};

/// What a path is in one layer (or in the merged image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symbolic link and its target exactly as stored (relative or absolute; resolved at
    /// read time, inside the image root).
    Symlink(String),
    /// A hard link to another path in the image (normalized, root-relative).
    Hardlink(String),
    /// Devices, FIFOs, sparse files and unknown types.
    Other,
}

/// One path in a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Size in bytes for regular files, 0 otherwise.
    pub size: u64,
    /// The file's contents, if it was selected (shared, so merging copies nothing).
    pub contents: Option<Arc<[u8]>>,
}

/// Everything the indexer needs from one layer, without its bytes on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerIndex {
    /// Digest of the stored (compressed) bytes, computed while streaming; `None` when the
    /// index was built from a bare tar stream.
    pub digest: Option<Digest>,
    /// The compression the bytes actually had (by magic number).
    pub compression: Option<Compression>,
    /// Uncompressed size of the tar stream.
    pub uncompressed_bytes: u64,
    entries: BTreeMap<String, Entry>,
    whiteouts: BTreeSet<String>,
    opaque_dirs: BTreeSet<String>,
}

impl LayerIndex {
    /// Every path the layer adds or replaces (whiteout markers excluded), sorted.
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Paths this layer deletes from the layers below it (`.wh.<name>` markers).
    pub fn whiteouts(&self) -> &BTreeSet<String> {
        &self.whiteouts
    }

    /// Directories whose lower-layer children this layer hides (`.wh..wh..opq` markers).
    pub fn opaque_dirs(&self) -> &BTreeSet<String> {
        &self.opaque_dirs
    }
}

/// Decides, file by file, which regular files' bytes are read, and receives them as the
/// layer streams past.
///
/// A [`FileSelector`] only sees paths and keeps every byte it selects until the layer is
/// done. The indexer needs more: binaries are recognised by their mode, and a 40 MiB Go
/// executable should be parsed and dropped at once rather than held with every other one,
/// so memory stays at one file, not one layer's worth of files.
pub trait Visitor {
    /// Whether to read this regular file. Called once per file, in archive order.
    fn wants(&mut self, path: &str, size: u64, mode: u32) -> bool;
    /// The bytes of a file [`Visitor::wants`] asked for. What it returns is kept in the
    /// [`LayerIndex`] (and counts against [`Limits::max_kept_bytes`]); `None` keeps nothing.
    fn file(&mut self, path: &str, data: Vec<u8>) -> Option<Arc<[u8]>>;
}

/// The plain visitor: keeps whatever the selector matches.
struct Select<'a>(&'a FileSelector);

impl Visitor for Select<'_> {
    fn wants(&mut self, path: &str, _size: u64, _mode: u32) -> bool {
        self.0.matches(path)
    }

    fn file(&mut self, _path: &str, data: Vec<u8>) -> Option<Arc<[u8]>> {
        Some(Arc::from(data))
    }
}

/// Reads a layer blob: checks the media type, decompresses by magic, indexes the tar, and
/// verifies `expected` (when given) over the stored bytes once the stream has been read to
/// its end.
///
/// `blob` is any reader (a blob-store file, an HTTP body, a byte slice in a fuzzer). The
/// index is returned only if the whole layer was read and its digest matched.
pub fn read_layer<R: Read>(
    blob: R,
    media_type: &str,
    expected: Option<&Digest>,
    selector: &FileSelector,
    limits: &Limits,
) -> Result<LayerIndex, LayerError> {
    Compression::from_media_type(media_type)?;
    read_layer_sniffed(blob, expected, selector, limits)
}

/// Like [`read_layer`], with a [`Visitor`] choosing and receiving the files.
pub fn read_layer_with<R: Read>(
    blob: R,
    media_type: &str,
    expected: Option<&Digest>,
    visitor: &mut dyn Visitor,
    limits: &Limits,
) -> Result<LayerIndex, LayerError> {
    Compression::from_media_type(media_type)?;
    read_sniffed(blob, expected, visitor, limits)
}

/// Like [`read_layer`] without a media type: the compression is taken from the magic bytes
/// alone. Fuzzable entry point (`read_layer_sniffed(data, None, ...)`).
pub fn read_layer_sniffed<R: Read>(
    blob: R,
    expected: Option<&Digest>,
    selector: &FileSelector,
    limits: &Limits,
) -> Result<LayerIndex, LayerError> {
    read_sniffed(blob, expected, &mut Select(selector), limits)
}

fn read_sniffed<R: Read>(
    blob: R,
    expected: Option<&Digest>,
    visitor: &mut dyn Visitor,
    limits: &Limits,
) -> Result<LayerIndex, LayerError> {
    let mut digesting = DigestingReader::new(blob, expected.cloned());
    let counter = digesting.counter();
    let mut index = {
        let decompressed = decompress(&mut digesting, counter, limits)?;
        let compression = decompressed.compression;
        let buffered = BufReader::with_capacity(64 * 1024, decompressed.reader);
        let mut walker = TarWalker::new(buffered, limits);
        let mut index = index_entries(&mut walker, visitor, limits)
            .map_err(|e| recompress_error(e, compression))?;
        // Read to the end so the decompressor checks its trailer (gzip CRC, zstd checksum)
        // and the digest covers every byte.
        walker
            .drain()
            .map_err(|e| recompress_error(e, compression))?;
        index.uncompressed_bytes = walker.into_inner().into_inner().produced();
        index.compression = Some(compression);
        index
    };
    index.digest = Some(digesting.finish(limits.max_total_bytes)?);
    Ok(index)
}

/// Errors from the tar walker are classified as if the stream were plain tar; restate
/// corruption and truncation in terms of the real compression.
fn recompress_error(err: LayerError, compression: Compression) -> LayerError {
    match err {
        LayerError::Corrupt { source, .. } => LayerError::Corrupt {
            compression,
            source,
        },
        LayerError::Truncated { source, .. } => LayerError::Truncated {
            compression,
            source,
        },
        other => other,
    }
}

/// Indexes an uncompressed tar stream. Fuzzable entry point (`index_tar(data, ...)`).
pub fn index_tar<R: Read>(
    tar: R,
    selector: &FileSelector,
    limits: &Limits,
) -> Result<LayerIndex, LayerError> {
    let bounded = BoundedReader::new(tar, None, limits);
    let mut walker = TarWalker::new(BufReader::with_capacity(64 * 1024, bounded), limits);
    let mut index = index_entries(&mut walker, &mut Select(selector), limits)?;
    // Bounded like the rest: data after the end-of-archive block counts toward the total.
    walker.drain()?;
    index.uncompressed_bytes = walker.into_inner().into_inner().produced();
    index.compression = Some(Compression::None);
    Ok(index)
}

fn index_entries<R: Read>(
    walker: &mut TarWalker<'_, R>,
    visitor: &mut dyn Visitor,
    limits: &Limits,
) -> Result<LayerIndex, LayerError> {
    let mut index = LayerIndex::default();
    let mut kept_bytes: u64 = 0;
    let mut index_bytes: u64 = 0;
    while let Some(entry) = walker.next_entry()? {
        let path = match normalize(&entry.name) {
            Normalized::Path(p) => p,
            Normalized::Escapes => {
                return Err(LayerError::PathEscapesRoot {
                    path: String::from_utf8_lossy(&entry.name)
                        .chars()
                        .take(200)
                        .collect(),
                });
            }
        };
        if path.is_empty() {
            // The root directory itself (`./`): nothing to record.
            continue;
        }
        index_bytes = index_bytes.saturating_add((path.len() + entry.link.len()) as u64);
        if index_bytes > limits.max_index_bytes {
            return Err(LayerError::IndexTooLarge {
                limit: limits.max_index_bytes,
            });
        }
        match whiteout_kind(&path) {
            WhiteoutKind::None => {}
            WhiteoutKind::Whiteout(target) => {
                index.whiteouts.insert(target);
                continue;
            }
            WhiteoutKind::Opaque(dir) => {
                index.opaque_dirs.insert(dir);
                continue;
            }
            WhiteoutKind::Ignored => continue,
        }
        let (kind, size, contents) = match entry.kind {
            TarKind::Regular => {
                let contents = if visitor.wants(&path, entry.size, entry.mode) {
                    if entry.size > limits.max_file_bytes {
                        return Err(LayerError::FileTooLarge {
                            path,
                            size: entry.size,
                            limit: limits.max_file_bytes,
                        });
                    }
                    let kept = visitor.file(&path, walker.read_data()?);
                    if let Some(k) = &kept {
                        kept_bytes = kept_bytes.saturating_add(k.len() as u64);
                        if kept_bytes > limits.max_kept_bytes {
                            return Err(LayerError::KeptTooLarge {
                                limit: limits.max_kept_bytes,
                            });
                        }
                    }
                    kept
                } else {
                    None
                };
                (EntryKind::File, entry.size, contents)
            }
            TarKind::Directory => (EntryKind::Dir, 0, None),
            TarKind::Symlink => (
                EntryKind::Symlink(String::from_utf8_lossy(&entry.link).into_owned()),
                0,
                None,
            ),
            TarKind::HardLink => {
                let target = match normalize(&entry.link) {
                    Normalized::Path(p) if !p.is_empty() => p,
                    _ => {
                        return Err(LayerError::PathEscapesRoot {
                            path: String::from_utf8_lossy(&entry.link)
                                .chars()
                                .take(200)
                                .collect(),
                        });
                    }
                };
                // A link to a file kept earlier in this layer shares its contents; otherwise
                // the merged image follows the link at read time.
                let (size, contents) = match index.entries.get(&target) {
                    Some(t) if t.kind == EntryKind::File => (t.size, t.contents.clone()),
                    _ => (0, None),
                };
                (EntryKind::Hardlink(target), size, contents)
            }
            TarKind::Other => (EntryKind::Other, 0, None),
        };
        index.entries.insert(
            path,
            Entry {
                kind,
                size,
                contents,
            },
        );
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::tests::push;

    fn selector() -> FileSelector {
        FileSelector::new(&["etc/*", "keep/**"]).unwrap()
    }

    #[test]
    fn indexes_kinds_whiteouts_and_selected_contents() {
        let mut tar = Vec::new();
        push(&mut tar, b"./", b'5', b"", b"");
        push(&mut tar, b"./etc/", b'5', b"", b"");
        push(&mut tar, b"./etc/hostname", b'0', b"box\n", b"");
        push(
            &mut tar,
            b"./etc/os-release",
            b'2',
            b"",
            b"../usr/lib/os-release",
        );
        push(&mut tar, b"./etc/hard", b'1', b"", b"./etc/hostname");
        push(&mut tar, b"./big.bin", b'0', &[7u8; 3000], b"");
        push(&mut tar, b"./gone/.wh.file", b'0', b"", b"");
        push(&mut tar, b"./dir/.wh..wh..opq", b'0', b"", b"");
        push(&mut tar, b"./x/.wh..wh.plnk", b'0', b"", b"");
        let idx = index_tar(&tar[..], &selector(), &Limits::default()).unwrap();
        let e = idx.get("etc/hostname").unwrap();
        assert_eq!(e.contents.as_deref(), Some(&b"box\n"[..]));
        assert_eq!(
            idx.get("etc/os-release").unwrap().kind,
            EntryKind::Symlink("../usr/lib/os-release".into())
        );
        let hard = idx.get("etc/hard").unwrap();
        assert_eq!(hard.kind, EntryKind::Hardlink("etc/hostname".into()));
        assert_eq!(hard.contents.as_deref(), Some(&b"box\n"[..]));
        let big = idx.get("big.bin").unwrap();
        assert_eq!((big.size, big.contents.is_none()), (3000, true));
        assert!(idx.whiteouts().contains("gone/file"));
        assert!(idx.opaque_dirs().contains("dir"));
        assert_eq!(idx.entries().len(), 5);
        assert_eq!(idx.uncompressed_bytes, tar.len() as u64);
    }

    #[test]
    fn endless_data_after_the_archive_is_bounded() {
        let mut tar = Vec::new();
        push(&mut tar, b"a", b'0', b"x", b"");
        tar.extend_from_slice(&[0u8; 1024]);
        let endless = (&tar[..]).chain(std::io::repeat(7));
        let limits = Limits {
            max_total_bytes: 1 << 20,
            ..Limits::default()
        };
        assert!(matches!(
            index_tar(endless, &FileSelector::none(), &limits),
            Err(LayerError::TotalTooLarge { .. })
        ));
    }

    #[test]
    fn escaping_paths_are_refused() {
        for (name, link, flag) in [
            (&b"../etc/passwd"[..], &b""[..], b'0'),
            (b"a/../../b", b"", b'5'),
            (b"h", b"../../etc/shadow", b'1'),
        ] {
            let mut tar = Vec::new();
            push(&mut tar, name, flag, b"", link);
            let r = index_tar(&tar[..], &selector(), &Limits::default());
            assert!(
                matches!(r, Err(LayerError::PathEscapesRoot { .. })),
                "{r:?}"
            );
        }
        // Absolute paths are rooted at the image root, not refused.
        let mut tar = Vec::new();
        push(&mut tar, b"/etc/abs", b'0', b"x", b"");
        let idx = index_tar(&tar[..], &selector(), &Limits::default()).unwrap();
        assert!(idx.get("etc/abs").is_some());
    }

    #[test]
    fn selected_file_limits() {
        let mut tar = Vec::new();
        push(&mut tar, b"keep/a", b'0', &[1u8; 600], b"");
        push(&mut tar, b"keep/b", b'0', &[1u8; 600], b"");
        let small = Limits {
            max_file_bytes: 500,
            ..Limits::default()
        };
        assert!(matches!(
            index_tar(&tar[..], &selector(), &small),
            Err(LayerError::FileTooLarge { size: 600, .. })
        ));
        let kept = Limits {
            max_kept_bytes: 1000,
            ..Limits::default()
        };
        assert!(matches!(
            index_tar(&tar[..], &selector(), &kept),
            Err(LayerError::KeptTooLarge { .. })
        ));
        // Unselected, the same files are fine: they are skipped, not buffered.
        assert!(index_tar(&tar[..], &FileSelector::none(), &small).is_ok());
    }
}
