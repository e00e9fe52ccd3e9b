//! An in-process cache of manifest lookups, the hottest read a registry serves.
//!
//! Positive results only, so a new push is visible at once. Writes invalidate what they
//! change after their commit; a generation counter closes the race where a reader fetched
//! the old row before the commit and would otherwise insert it after the invalidation: an
//! insert is dropped when any invalidation happened since the reader started.
//!
//! This is correct for one process. Several nodes on one database need their invalidations
//! shared (the Redis event bus of the production-backends work) or this cache disabled.

use std::sync::atomic::{AtomicU64, Ordering};

use berth_domain::{Reference, RepoName};
use berth_meta::StoredManifest;
use quick_cache::sync::Cache;

/// Upper bound on cached manifest bytes.
const CAPACITY_BYTES: u64 = 16 * 1024 * 1024;
/// Manifests larger than this are not cached (they are rare and would evict many small ones).
const MAX_ENTRY_BYTES: usize = 256 * 1024;

#[derive(Clone)]
struct Weigher;

impl quick_cache::Weighter<(RepoName, Reference), StoredManifest> for Weigher {
    fn weight(&self, _k: &(RepoName, Reference), v: &StoredManifest) -> u64 {
        v.content.len() as u64 + 256
    }
}

pub(crate) struct ManifestCache {
    entries: Cache<(RepoName, Reference), StoredManifest, Weigher>,
    generation: AtomicU64,
}

impl ManifestCache {
    pub fn new() -> Self {
        ManifestCache {
            entries: Cache::with_weighter(4096, CAPACITY_BYTES, Weigher),
            generation: AtomicU64::new(0),
        }
    }

    /// Read before the database lookup whose result may be inserted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, repo: &RepoName, reference: &Reference) -> Option<StoredManifest> {
        self.entries.get(&(repo.clone(), reference.clone()))
    }

    pub fn insert(
        &self,
        generation: u64,
        repo: &RepoName,
        reference: &Reference,
        m: &StoredManifest,
    ) {
        if m.content.len() > MAX_ENTRY_BYTES {
            return;
        }
        if self.generation() == generation {
            self.entries
                .insert((repo.clone(), reference.clone()), m.clone());
            // An invalidation may have run between the check and the insert; undo if so.
            if self.generation() != generation {
                self.entries.remove(&(repo.clone(), reference.clone()));
            }
        }
    }

    /// Forgets one reference.
    pub fn invalidate(&self, repo: &RepoName, reference: &Reference) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(&(repo.clone(), reference.clone()));
    }

    /// Forgets everything (a manifest delete also removes every tag naming it).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}
