//! The registry's error type. Each variant is one condition a client can be told about; the
//! OCI error code it maps to is part of the type so every front end reports it the same way.

use berth_blob::BlobError;
use berth_domain::{Digest, ErrorCode, RepoName};
use berth_meta::MetaError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("upload is at offset {current}; the chunk must start there")]
    UploadOutOfOrder { current: u64 },
    #[error("requested range is not satisfiable (blob size {size})")]
    RangeNotSatisfiable { size: u64 },
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("manifest references {0}, which is not in the repository")]
    ManifestBlobUnknown(Digest),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    #[error("manifest is larger than the limit of {limit} bytes")]
    ManifestTooLarge { limit: u64 },
    #[error("repository name not known to registry: {0}")]
    NameUnknown(RepoName),
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    #[error("blob is larger than the limit of {0} bytes")]
    BlobTooLarge(u64),
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("storage error: {0}")]
    Storage(#[source] BlobError),
}

impl From<BlobError> for RegistryError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::UploadNotFound => RegistryError::BlobUploadUnknown,
            BlobError::UploadCompleted => {
                RegistryError::BlobUploadInvalid("the upload was already completed".into())
            }
            BlobError::OffsetMismatch { current, .. } => {
                RegistryError::UploadOutOfOrder { current }
            }
            BlobError::DigestMismatch { expected, actual } => {
                RegistryError::DigestInvalid(format!("content has digest {actual}, not {expected}"))
            }
            BlobError::LengthMismatch { declared, received } => RegistryError::SizeInvalid(
                format!("declared {declared} bytes, received {received}"),
            ),
            BlobError::TooLarge(max) => RegistryError::BlobTooLarge(max),
            BlobError::Body(e) => {
                RegistryError::BlobUploadInvalid(format!("request body failed: {e}"))
            }
            e => RegistryError::Storage(e),
        }
    }
}

impl RegistryError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistryError::BlobUnknown(_) => ErrorCode::BlobUnknown,
            RegistryError::BlobUploadUnknown => ErrorCode::BlobUploadUnknown,
            RegistryError::BlobUploadInvalid(_) => ErrorCode::BlobUploadInvalid,
            RegistryError::UploadOutOfOrder { .. } => ErrorCode::BlobUploadInvalid,
            RegistryError::RangeNotSatisfiable { .. } => ErrorCode::RangeInvalid,
            RegistryError::DigestInvalid(_) => ErrorCode::DigestInvalid,
            RegistryError::ManifestBlobUnknown(_) => ErrorCode::ManifestBlobUnknown,
            RegistryError::ManifestInvalid(_) => ErrorCode::ManifestInvalid,
            RegistryError::ManifestUnknown(_) => ErrorCode::ManifestUnknown,
            RegistryError::ManifestTooLarge { .. } => ErrorCode::SizeInvalid,
            RegistryError::NameUnknown(_) => ErrorCode::NameUnknown,
            RegistryError::SizeInvalid(_) => ErrorCode::SizeInvalid,
            RegistryError::BlobTooLarge(_) => ErrorCode::SizeInvalid,
            RegistryError::Unsupported(_) => ErrorCode::Unsupported,
            RegistryError::Internal(_) | RegistryError::Meta(_) | RegistryError::Storage(_) => {
                ErrorCode::Unknown
            }
        }
    }

    /// Whether this is the server's fault (logged as an error, never blamed on the client).
    pub fn is_internal(&self) -> bool {
        self.code() == ErrorCode::Unknown
    }

    /// The spec's `detail` field: structured facts a client can act on.
    pub fn detail(&self) -> Option<serde_json::Value> {
        match self {
            RegistryError::BlobUnknown(d) | RegistryError::ManifestBlobUnknown(d) => {
                Some(serde_json::json!({ "digest": d.to_string() }))
            }
            RegistryError::UploadOutOfOrder { current } => {
                Some(serde_json::json!({ "offset": current }))
            }
            RegistryError::ManifestTooLarge { limit } | RegistryError::BlobTooLarge(limit) => {
                Some(serde_json::json!({ "limit": limit }))
            }
            RegistryError::NameUnknown(n) => Some(serde_json::json!({ "name": n.as_str() })),
            _ => None,
        }
    }
}
