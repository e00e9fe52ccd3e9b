//! The blob store: content-addressed bytes, and the upload sessions that produce them.
//!
//! The rule every backend keeps: a blob becomes visible under its digest only after its bytes
//! were verified against that digest and are durable. Until then they live in an upload
//! session, which survives restarts (the bytes are on disk; the running hash is rebuilt from
//! them when the in-memory state is gone).
//!
//! An append is all-or-nothing: when the request body ends early, lies about its length, or
//! breaks a limit, the session is rolled back to where the append started, so a client can
//! retry from the offset it last saw acknowledged.

mod fs;

use std::io;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_domain::Digest;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use fs::FsBlobStore;

/// A request or response body as a stream of chunks.
pub type ByteStream = BoxStream<'static, Result<Bytes, io::Error>>;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("upload session not found")]
    UploadNotFound,
    #[error("upload was already completed; start a new one")]
    UploadCompleted,
    #[error("upload is at offset {current}, but the request starts at {requested}")]
    OffsetMismatch { current: u64, requested: u64 },
    #[error("content digest is {actual}, not the {expected} the client declared")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("request declared {declared} bytes but sent {received}")]
    LengthMismatch { declared: u64, received: u64 },
    #[error("upload would exceed the limit of {0} bytes")]
    TooLarge(u64),
    #[error("request body ended early: {0}")]
    Body(io::Error),
    #[error("storage I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("storage worker failed: {0}")]
    Worker(String),
}

/// An upload session's identifier: a random UUID, so it is unguessable and path-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(uuid::Uuid);

impl UploadId {
    pub fn random() -> Self {
        UploadId(uuid::Uuid::new_v4())
    }

    /// Parses an id from a URL; anything but a UUID is rejected.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 36 {
            return None;
        }
        uuid::Uuid::try_parse(s).ok().map(UploadId)
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What an append may receive.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendLimits {
    /// The body must be exactly this long (from Content-Length or Content-Range).
    pub exact_len: Option<u64>,
    /// The whole upload may not grow past this.
    pub max_total: Option<u64>,
}

/// Blob content for a response: small blobs are read whole, large ones streamed.
pub enum BlobContent {
    Whole(Bytes),
    Stream { len: u64, stream: ByteStream },
}

impl BlobContent {
    pub fn len(&self) -> u64 {
        match self {
            BlobContent::Whole(b) => b.len() as u64,
            BlobContent::Stream { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The blob's size, if it is stored.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError>;
    /// The blob's bytes, or the inclusive byte range `range` of them (already validated
    /// against the size by the caller).
    async fn get(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<BlobContent, BlobError>;

    async fn upload_start(&self, id: UploadId) -> Result<(), BlobError>;
    /// Bytes received so far, or `None` when the session does not exist.
    async fn upload_offset(&self, id: UploadId) -> Result<Option<u64>, BlobError>;
    /// Every session the store holds, with when it last received bytes. Lets expiry find
    /// sessions the metadata store never heard of (a crash between creating the session and
    /// recording it).
    async fn upload_list(&self) -> Result<Vec<(UploadId, SystemTime)>, BlobError>;
    /// When the session last received bytes, or `None` when it does not exist.
    async fn upload_modified(&self, id: UploadId) -> Result<Option<SystemTime>, BlobError>;
    /// Appends `body`; `start`, when given, must equal the current offset. Returns the new
    /// offset. All-or-nothing (see the crate docs).
    async fn upload_append(
        &self,
        id: UploadId,
        start: Option<u64>,
        body: ByteStream,
        limits: AppendLimits,
    ) -> Result<u64, BlobError>;
    /// Verifies the upload against `expected` and makes it durable and visible under that
    /// digest. Returns the blob's size. On a digest mismatch the session is left as it was.
    /// The session stays (and refuses further appends) until [`BlobStore::upload_abort`]: the
    /// caller discards it only after recording the blob, so a crash in between leaves an
    /// upload the client can finish again rather than bytes nobody knows about.
    async fn upload_finish(&self, id: UploadId, expected: &Digest) -> Result<u64, BlobError>;
    /// Discards a session and its bytes (a published blob is unaffected).
    async fn upload_abort(&self, id: UploadId) -> Result<(), BlobError>;
}
