//! The indexer's half of the metadata store: cached layer scans and index reports.
//!
//! Both are keyed by content (layer digest, manifest digest) plus the indexer key, never by
//! repository: the same layer or image pushed to a hundred repositories is indexed once.
//! Values are opaque bytes (JSON written by `berth-index`), so the store does not depend on
//! the indexer's types and a backend stores them as it likes.

use async_trait::async_trait;
use berth_domain::{Digest, RepoName};

use crate::MetaError;

/// A stored index report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// The indexer key it was made under.
    pub indexer: String,
    /// Clair's state (`IndexFinished`, `IndexError`).
    pub state: String,
    pub report: Vec<u8>,
    pub updated_at: i64,
}

/// An image manifest that has no report under the current indexer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unindexed {
    pub digest: Digest,
    /// One repository holding it (to read its manifest and blobs through).
    pub repo: RepoName,
}

#[async_trait]
pub trait IndexStore: Send + Sync + 'static {
    async fn layer_scan(&self, layer: &Digest, indexer: &str)
    -> Result<Option<Vec<u8>>, MetaError>;
    async fn put_layer_scan(
        &self,
        layer: &Digest,
        indexer: &str,
        scan: Vec<u8>,
    ) -> Result<(), MetaError>;
    async fn index_report(&self, manifest: &Digest) -> Result<Option<StoredReport>, MetaError>;
    async fn put_index_report(
        &self,
        manifest: &Digest,
        indexer: &str,
        state: &str,
        report: Vec<u8>,
    ) -> Result<(), MetaError>;
    /// Image manifests (of `media_types`) with no report made under `indexer`, oldest first,
    /// at most `limit`; `skip` lists digests the caller is not retrying yet.
    async fn unindexed(
        &self,
        indexer: &str,
        media_types: &[&str],
        skip: &[Digest],
        limit: u32,
    ) -> Result<Vec<Unindexed>, MetaError>;
}
