//! The registry's vocabulary, free of I/O: everything here is a value that can be parsed from
//! untrusted input and, once constructed, is known to be valid.
//!
//! Other crates take these types instead of `&str` so a name or digest is validated exactly
//! once, at the edge, and never re-checked (or forgotten) deeper in.

pub mod digest;
pub mod error_code;
pub mod media_type;
pub mod name;
pub mod time;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use error_code::ErrorCode;
pub use name::{NameError, Reference, RepoName, Tag};
