//! Forward-only, numbered schema migrations.
//!
//! Each migration runs in its own transaction together with the row that records it, so a
//! crash leaves the schema at a whole version. A database that is newer than this binary is
//! refused rather than guessed at.

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations, in order. Never edit a released entry; add a new one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "registry",
        sql: include_str!("migrations/0001_registry.sql"),
    },
    Migration {
        version: 2,
        name: "identity",
        sql: include_str!("migrations/0002_identity.sql"),
    },
    Migration {
        version: 3,
        name: "index",
        sql: include_str!("migrations/0003_index.sql"),
    },
    Migration {
        version: 4,
        name: "scan_queue",
        sql: include_str!("migrations/0004_scan_queue.sql"),
    },
];
