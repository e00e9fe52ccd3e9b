//! Bounds on everything a layer can make the reader do.
//!
//! A layer is untrusted input: anyone who can push can hand the indexer a tarball. Every
//! quantity that grows with the input (bytes inflated, entries, path lengths, bytes kept in
//! memory, symlink hops) has a cap here, and exceeding one fails the layer with its own
//! [`LayerError`](crate::LayerError) variant instead of exhausting memory, disk or time.

/// Caps applied while reading one layer and while resolving paths in the merged image.
///
/// The defaults are generous for real images (the largest public images have layers of a
/// few GiB and a few hundred thousand entries) and small enough that a hostile layer cannot
/// take the indexer down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest single file whose contents are kept in memory (selected files only; other
    /// entries are streamed past without buffering).
    pub max_file_bytes: u64,
    /// Largest sum of kept file contents per layer.
    pub max_kept_bytes: u64,
    /// Largest uncompressed size of one layer (the tar stream, headers included).
    pub max_total_bytes: u64,
    /// Largest ratio of uncompressed to compressed bytes, checked once
    /// [`ratio_grace_bytes`](Self::ratio_grace_bytes) have been inflated.
    pub max_ratio: u64,
    /// Uncompressed bytes inflated before the ratio is enforced: a small layer that
    /// compresses extremely well (a tar of empty files) must not trip it.
    pub ratio_grace_bytes: u64,
    /// Longest path (or link target) in bytes, after PAX/GNU long names are applied.
    pub max_path_len: usize,
    /// Largest PAX extended header or GNU long-name record.
    pub max_metadata_bytes: u64,
    /// Most tar entries per layer (metadata entries included).
    pub max_entries: u64,
    /// Largest sum of path and link-target bytes recorded in one layer's index.
    pub max_index_bytes: u64,
    /// Most symlinks (and hardlinks) followed while resolving one path.
    pub max_symlink_hops: u32,
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 * MIB,
            max_kept_bytes: 512 * MIB,
            max_total_bytes: 16 * GIB,
            max_ratio: 1000,
            ratio_grace_bytes: MIB,
            max_path_len: 4096,
            max_metadata_bytes: MIB,
            max_entries: 1_000_000,
            max_index_bytes: 256 * MIB,
            max_symlink_hops: 40,
        }
    }
}
