//! Why an image could not be opened or one of its blobs read.
//!
//! The CLI shows these to a person who has to decide what to fix, so the variants separate
//! "wrong name", "wrong credentials", "wrong platform", "unsupported format" and "corrupt or
//! hostile content". I/O, HTTP and JSON failures keep their cause as `source` (printed by the
//! caller's error chain) rather than repeating it in the message.

use std::path::PathBuf;

use berth_domain::Digest;

use crate::platform::Platform;

/// Every way opening an image or reading a blob can fail. No variant is a panic in disguise:
/// all input (files, archives, registry answers) is untrusted and refused through these.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid image reference {input:?}: {reason}")]
    BadReference { input: String, reason: String },

    #[error("invalid platform {input:?}: {reason} (expected os/arch[/variant], e.g. linux/arm64)")]
    BadPlatform { input: String, reason: String },

    #[error("image not found: {0}")]
    NotFound(String),

    #[error("blob {digest} not found in {image}")]
    BlobNotFound { image: String, digest: Digest },

    #[error("unauthorized: {0}")]
    Unauthorized(String),

    #[error("denied: {0}")]
    Denied(String),

    #[error(
        "no manifest for platform {wanted} in {what}; available: {}",
        list_platforms(available)
    )]
    NoMatchingPlatform {
        what: String,
        wanted: Platform,
        available: Vec<Platform>,
    },

    #[error("{what} holds several images; choose one ({hint}): {}", choices.join(", "))]
    Ambiguous {
        what: String,
        hint: &'static str,
        choices: Vec<String>,
    },

    #[error(
        "{what} is a Docker schema 1 manifest, which is not supported (deprecated since 2017, unverifiable layer list); re-push the image with a current client to get a schema 2 or OCI manifest"
    )]
    Schema1 { what: String },

    #[error("{what} is not a valid manifest")]
    Manifest {
        what: String,
        #[source]
        source: berth_oci::ManifestError,
    },

    #[error("{what} is not a container image: {reason}")]
    NotAnImage { what: String, reason: String },

    #[error("{what} is over the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },

    #[error(
        "{what} does not match its digest: expected {expected}, the content hashes to {actual}"
    )]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("{what} does not have the {expected} bytes its descriptor says (read {actual})")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },

    #[error("{what} is not valid JSON of the expected shape")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: not a usable docker archive: {reason}", path = path.display())]
    Archive { path: PathBuf, reason: String },

    #[error(
        "{path}: {compression}-compressed docker archives are not supported: berth seeks within the tarball instead of unpacking it; decompress it first (e.g. `gunzip -k`)",
        path = path.display()
    )]
    CompressedArchive {
        path: PathBuf,
        compression: &'static str,
    },

    #[error("cannot talk to registry {registry}{detail}")]
    Http {
        registry: String,
        /// How berth tried (`" over https"`), so the hint fits the failure.
        detail: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("registry {registry} answered {status} to {request}: {message}")]
    Registry {
        registry: String,
        request: String,
        status: u16,
        message: String,
    },

    #[error("{0}")]
    Unsupported(String),
}

fn list_platforms(p: &[Platform]) -> String {
    if p.is_empty() {
        return "none (the index lists no platforms)".to_owned();
    }
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl SourceError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> SourceError {
        SourceError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> SourceError {
        SourceError::Json {
            what: what.into(),
            source,
        }
    }
}
