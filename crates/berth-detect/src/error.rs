//! The one error type of the detectors. Every variant names the file, because the indexer logs
//! it next to an image digest and someone has to find the offending file.

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{path}: {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        path: String,
        size: usize,
        limit: usize,
    },
    #[error("{path}: more than {limit} {what}")]
    TooMany {
        path: String,
        what: &'static str,
        limit: usize,
    },
    #[error("{path}: line {line} is longer than {limit} bytes")]
    LineTooLong {
        path: String,
        line: usize,
        limit: usize,
    },
    #[error("{path}: {what}")]
    Malformed { path: String, what: String },
    #[error("{path}: invalid JSON")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: decompression failed")]
    Decompress {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid zip archive")]
    Zip {
        path: String,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("{path}: unreadable SQLite database")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: invalid object file")]
    Object {
        path: String,
        #[source]
        source: object::read::Error,
    },
}

impl DetectError {
    pub(crate) fn malformed(path: &str, what: impl Into<String>) -> DetectError {
        DetectError::Malformed {
            path: path.to_owned(),
            what: what.into(),
        }
    }

    /// `Err(TooLarge)` when `bytes` is longer than `limit`.
    pub(crate) fn check_size(path: &str, bytes: &[u8], limit: usize) -> Result<(), DetectError> {
        if bytes.len() > limit {
            return Err(DetectError::TooLarge {
                path: path.to_owned(),
                size: bytes.len(),
                limit,
            });
        }
        Ok(())
    }
}
