//! The ways reading a layer can fail.
//!
//! Each limit has its own variant so the indexer can report *why* a layer was refused (and a
//! test can check that a hostile layer tripped the bound it was built to trip), and I/O
//! failures keep their source so the blob store's error is not lost.

use std::io;

use berth_domain::Digest;

use crate::compression::Compression;

/// Why a layer could not be read. Every variant is a clean refusal: no partial index is
/// returned for a layer that failed.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer media type {0:?} is not a tar layer berth can read")]
    UnsupportedMediaType(String),
    #[error("reading the layer stream failed")]
    Io {
        #[source]
        source: io::Error,
    },
    #[error("{compression} stream is corrupt")]
    Corrupt {
        compression: Compression,
        #[source]
        source: io::Error,
    },
    #[error("{compression} stream ended early (truncated layer)")]
    Truncated {
        compression: Compression,
        #[source]
        source: io::Error,
    },
    #[error("layer digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("tar archive ends in the middle of {what} at offset {offset}")]
    TruncatedArchive { what: &'static str, offset: u64 },
    #[error("bad tar header at offset {offset}: {reason}")]
    BadHeader { offset: u64, reason: &'static str },
    #[error("bad PAX extended header at offset {offset}: {reason}")]
    BadPax { offset: u64, reason: &'static str },
    #[error(
        "entry {path:?} is {size} bytes, over the {limit}-byte limit for files read into memory"
    )]
    FileTooLarge { path: String, size: u64, limit: u64 },
    #[error("selected files of the layer exceed {limit} bytes kept in memory")]
    KeptTooLarge { limit: u64 },
    #[error("layer inflates past {limit} uncompressed bytes")]
    TotalTooLarge { limit: u64 },
    #[error(
        "layer inflates more than {limit}:1 ({uncompressed} bytes from {compressed}): likely a decompression bomb"
    )]
    RatioExceeded {
        limit: u64,
        uncompressed: u64,
        compressed: u64,
    },
    #[error("path of {len} bytes at offset {offset} is over the {limit}-byte limit")]
    PathTooLong { len: u64, limit: usize, offset: u64 },
    #[error("{what} of {size} bytes at offset {offset} is over the {limit}-byte limit")]
    MetadataTooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
        offset: u64,
    },
    #[error("layer has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("layer's paths and link targets exceed {limit} bytes")]
    IndexTooLarge { limit: u64 },
    #[error("entry path {path:?} escapes the image root")]
    PathEscapesRoot { path: String },
}

impl LayerError {
    /// Turns an I/O error from the decompressed stream back into the limit or digest error a
    /// wrapper smuggled through `io::Error`, or classifies it as truncation/corruption.
    pub(crate) fn from_stream(err: io::Error, compression: Compression) -> LayerError {
        if err.get_ref().is_some_and(|e| e.is::<LayerError>()) {
            return match err.into_inner().map(|inner| inner.downcast::<LayerError>()) {
                Some(Ok(layer_err)) => *layer_err,
                // Unreachable (the type was just checked), but never panic on a stream.
                _ => LayerError::Io {
                    source: io::Error::other("wrapped layer error was lost"),
                },
            };
        }
        if err.get_ref().is_some_and(|e| e.is::<SourceError>()) {
            let source = err
                .into_inner()
                .and_then(|inner| inner.downcast::<SourceError>().ok())
                .map(|s| s.0)
                .unwrap_or_else(|| io::Error::other("source error"));
            return LayerError::Io { source };
        }
        match err.kind() {
            io::ErrorKind::UnexpectedEof => LayerError::Truncated {
                compression,
                source: err,
            },
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
                LayerError::Corrupt {
                    compression,
                    source: err,
                }
            }
            _ => LayerError::Io { source: err },
        }
    }
}

/// An error from the blob reader itself (not the decompressor), tagged so it is reported as
/// [`LayerError::Io`] rather than as a corrupt stream.
#[derive(Debug, thiserror::Error)]
#[error("reading the blob failed")]
pub(crate) struct SourceError(#[source] pub(crate) io::Error);

/// Why [`ImageFs::read`](crate::ImageFs::read) and friends could not return a file.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FsError {
    #[error("{0:?} does not exist in the image")]
    NotFound(String),
    #[error("{0:?} is a directory")]
    IsDirectory(String),
    #[error("{0:?} is not a regular file")]
    NotAFile(String),
    #[error("{0:?} exists but its contents were not selected when the layer was read")]
    NotKept(String),
    #[error("resolving {path:?} followed more than {limit} links")]
    TooManyLinks { path: String, limit: u32 },
}
