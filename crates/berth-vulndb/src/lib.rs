//! Berth's vulnerability database: every feed's advisories in one compact, versioned file,
//! looked up by (space, package) in memory.
//!
//! ```text
//! <data-dir>/vulndb/feeds/<name>/data   raw feed data, last good copy (berth-updater)
//! <data-dir>/vulndb/builds/<id>.bvdb    one build: header + advisories + enrichments (file.rs)
//! <data-dir>/vulndb/current             the id of the build in use
//! ```
//!
//! - **Builds are immutable and content-addressed.** A build's id carries its body digest;
//!   its header lists every feed with the fingerprint of the raw data it came from and what
//!   changed since the previous build. Rebuilding from unchanged feeds gives the same digest
//!   and is not installed again.
//! - **Bad data never empties the database.** A feed whose new data fails to parse keeps its
//!   advisories from the previous build, and the build records the error.
//! - **Small.** All of `../shared/vulndata` (about 13,000 advisories) builds to a few MB;
//!   Clair keeps the same data in PostgreSQL tables that grow to tens of GB.
//!
//! The matcher reads [`Db`] (pure, in memory); this crate's I/O is the data folder.

mod db;
mod file;
mod store;

pub use db::{Changes, Db, FORMAT, FeedInfo, FeedPart, Header};
pub use file::{is_db_file, read, read_header, write};
pub use store::{FeedStatus, Imported, Rebuilt, Status, VulnDb, feed_name_for};

#[derive(Debug, thiserror::Error)]
pub enum VulnDbError {
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Feed(#[from] berth_feeds::FeedError),
    #[error(transparent)]
    Update(#[from] berth_updater::UpdateError),
    #[error("nothing to import at {0}")]
    Empty(String),
}
