//! Reading container image layers for the indexer, without extracting them.
//!
//! A layer is streamed once, straight from whatever [`std::io::Read`] the caller has (the
//! blob store's file, in berth): its stored bytes are hashed and checked against the
//! manifest's digest, decompressed (gzip, zstd, or none; chosen by magic number, the media
//! type only says whether it is a layer at all), and walked as a tar archive. Only the files
//! a [`FileSelector`] asks for are kept in memory; everything else is skipped as it streams
//! past, so nothing is ever written to disk.
//!
//! ```text
//! read_layer(blob, media type, digest, selector, limits) -> LayerIndex   (one per layer)
//! merge(&[LayerIndex]) -> ImageFs     (whiteouts, opaque dirs; base layer first)
//! ImageFs::read("etc/os-release")      (symlinks followed inside the image root)
//! ```
//!
//! # Untrusted input
//!
//! Anyone who can push can hand the indexer a layer, so every quantity that grows with the
//! input is capped by [`Limits`] (uncompressed bytes, compression ratio, entries, path and
//! metadata lengths, kept bytes, link hops), and exceeding one is a distinct
//! [`LayerError`] variant. Nothing panics on input. Paths that climb out of the root with
//! `..` make the layer an error (as Docker and containerd refuse them); absolute names are
//! taken relative to the root; symlinks are resolved like a chroot, so they cannot point
//! outside the image.
//!
//! # Fuzzing
//!
//! The parsing entry points take byte slices or readers and need no setup, so a cargo-fuzz
//! target is one line each: [`read_layer_sniffed`] (`&[u8]` is a `Read`) for the whole
//! pipeline, [`index_tar`] for the tar walker alone, and [`tar::parse_header`],
//! [`tar::parse_pax`] and [`path::normalize`] for the pieces.
//!
//! # Pure
//!
//! The crate opens no files or sockets and has no clock or async: it reads what it is given.

pub mod compression;
pub mod error;
pub mod image;
pub mod layer;
pub mod limits;
pub mod path;
pub mod selector;
pub mod tar;

pub use compression::{Compression, DigestingReader};
pub use error::{FsError, LayerError};
pub use image::{ImageFs, Node, merge, merge_with};
pub use layer::{
    Entry, EntryKind, LayerIndex, Visitor, index_tar, read_layer, read_layer_sniffed,
    read_layer_with,
};
pub use limits::Limits;
pub use selector::{DETECTOR_PATTERNS, FileSelector, Pattern, PatternError};
