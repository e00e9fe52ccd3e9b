//! The scan queue and vulnerability summaries: the scanner's durable state besides the
//! index reports.
//!
//! The queue is a table of lease-based jobs (see `migrations/0004_scan_queue.sql`): enqueue
//! is idempotent, claiming is one atomic UPDATE, and an expired lease makes a job claimable
//! again, which is what makes it safe with several workers and several nodes.

use async_trait::async_trait;
use berth_domain::{Digest, RepoName};

use crate::MetaError;

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanJob {
    pub digest: Digest,
    pub repo: RepoName,
    /// Including this one.
    pub attempts: u32,
}

/// A job as status endpoints show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// `queued`, `running` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub not_before: i64,
    pub last_error: Option<String>,
}

/// A stored vulnerability summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSummary {
    pub vulndb: String,
    pub summary: Vec<u8>,
    pub updated_at: i64,
}

#[async_trait]
pub trait ScanQueue: Send + Sync + 'static {
    /// Queues manifests for indexing under `indexer`. A manifest already queued or running
    /// is left alone; one queued under another indexer, or failed for good more than a day
    /// ago, is queued again.
    async fn enqueue_scans(
        &self,
        jobs: &[(Digest, RepoName)],
        indexer: &str,
    ) -> Result<u64, MetaError>;
    /// Claims up to `limit` ready jobs (queued and due, or running with an expired lease)
    /// for `owner` until `now + lease_secs`.
    async fn claim_scans(
        &self,
        owner: &str,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<ScanJob>, MetaError>;
    /// Ends a job (its outcome is stored elsewhere). Only the lease holder can.
    async fn finish_scan(&self, digest: &Digest, owner: &str) -> Result<(), MetaError>;
    /// Puts a job back for a later attempt (`give_up`: marks it failed for good).
    async fn retry_scan(
        &self,
        digest: &Digest,
        owner: &str,
        not_before: i64,
        error: &str,
        give_up: bool,
    ) -> Result<(), MetaError>;
    async fn scan_job(&self, digest: &Digest) -> Result<Option<JobStatus>, MetaError>;
    /// Jobs by state (for status pages and tests).
    async fn scan_queue_counts(&self) -> Result<Vec<(String, u64)>, MetaError>;

    /// Index reports made under `indexer` in `state`, in manifest order after `after`, at
    /// most `limit`: the set a database change re-matches.
    async fn index_report_page(
        &self,
        indexer: &str,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<(Digest, Vec<u8>)>, MetaError>;
    async fn delete_index_report(&self, manifest: &Digest) -> Result<bool, MetaError>;

    async fn vuln_summary(&self, manifest: &Digest) -> Result<Option<StoredSummary>, MetaError>;
    async fn put_vuln_summary(
        &self,
        manifest: &Digest,
        vulndb: &str,
        summary: Vec<u8>,
    ) -> Result<(), MetaError>;
}
