//! The metadata store: everything about repositories except blob bytes.
//!
//! [`MetaStore`] is the interface the registry logic uses; [`SqliteStore`] is the embedded
//! backend. The contract every backend keeps:
//! - a manifest is written together with its reference rows and its tag in one transaction,
//!   and only if every blob and child manifest it references is present in the repository at
//!   that moment (checked inside the transaction, so a concurrent delete cannot slip between);
//! - a blob row is written only after the blob store has the bytes durably;
//! - reads never see a half-applied change.

pub mod identity;
pub mod index;
mod migrate;
pub mod queue;
mod sqlite;
mod sqlite_identity;
mod sqlite_index;
mod sqlite_queue;

use async_trait::async_trait;
use berth_domain::{Digest, RepoName, Tag};
use bytes::Bytes;

pub use identity::IdentityStore;
pub use index::{IndexStore, StoredReport, Unindexed};
pub use migrate::{MIGRATIONS, Migration};
pub use queue::{JobStatus, ScanJob, ScanQueue, StoredSummary};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "database schema version {found} is newer than this berth knows ({known}); run a newer berth"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    #[error("database worker failed: {0}")]
    Worker(String),
}

/// Why a manifest could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PutManifestError {
    #[error("blob {0} is not in the repository")]
    MissingBlob(Digest),
    #[error("manifest {0} is not in the repository")]
    MissingManifest(Digest),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// A manifest to store.
#[derive(Debug, Clone)]
pub struct NewManifest {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// Annotations as a JSON object, kept for the referrers API.
    pub annotations: Option<String>,
    pub content: Bytes,
    /// Blobs that must be linked to the repository.
    pub blobs: Vec<Digest>,
    /// Blobs referenced but not required (foreign layers); recorded for completeness.
    pub optional_blobs: Vec<Digest>,
    /// Child manifests that must be in the repository.
    pub children: Vec<Digest>,
}

#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub content: Bytes,
}

/// A manifest whose `subject` is some digest: one entry of a referrers response.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Repository names holding at least one manifest, sorted, after `last`.
    async fn list_repositories(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, MetaError>;

    /// Records that `digest` is durably in the blob store and readable through `repo`.
    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64)
    -> Result<(), MetaError>;
    /// The blob's size when it is linked to `repo`.
    async fn repo_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>, MetaError>;
    /// The blob's size when it is in the store at all (linked anywhere).
    async fn any_blob(&self, digest: &Digest) -> Result<Option<u64>, MetaError>;
    /// Removes the link; the bytes stay for other repositories and garbage collection.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError>;

    async fn put_manifest(
        &self,
        repo: &RepoName,
        m: &NewManifest,
        tag: Option<&Tag>,
    ) -> Result<(), PutManifestError>;
    async fn manifest_by_digest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, MetaError>;
    async fn manifest_by_tag(
        &self,
        repo: &RepoName,
        tag: &Tag,
    ) -> Result<Option<StoredManifest>, MetaError>;
    /// Deletes a manifest and every tag pointing at it.
    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError>;
    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool, MetaError>;
    /// Tags sorted lexically after `last`; `None` when the repository does not exist.
    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>, MetaError>;
    async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
    ) -> Result<Vec<Referrer>, MetaError>;

    async fn create_upload(&self, id: &str, repo: &RepoName) -> Result<(), MetaError>;
    /// The repository an upload belongs to.
    async fn upload_repo(&self, id: &str) -> Result<Option<String>, MetaError>;
    async fn delete_upload(&self, id: &str) -> Result<(), MetaError>;
    /// Uploads started before `before` (unix seconds): candidates for expiry. Whether one is
    /// still in use is the blob store's to say (its bytes' modification time), which spares
    /// every chunk a durable database write.
    async fn stale_uploads(&self, before: i64) -> Result<Vec<String>, MetaError>;
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
