//! The embedded SQLite backend.
//!
//! One writer connection (SQLite serializes writers anyway, and one connection avoids
//! `SQLITE_BUSY` storms) and a small pool of reader connections in WAL mode, so reads never
//! wait for a write. Every call runs on tokio's blocking pool. `synchronous=FULL` makes a
//! committed transaction survive power loss, not only a process crash: an acknowledged push
//! must not be lost.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use berth_domain::{Digest, RepoName, Tag};
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::migrate::MIGRATIONS;
use crate::{MetaError, MetaStore, NewManifest, PutManifestError, Referrer, StoredManifest, now};

const MAX_IDLE_READERS: usize = 16;

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

fn open(path: &Path) -> Result<Connection, MetaError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
    pub async fn open(path: &Path) -> Result<Self, MetaError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut conn = open(&path)?;
            migrate(&mut conn)?;
            Ok(SqliteStore {
                path,
                writer: Arc::new(Mutex::new(conn)),
                readers: Arc::new(Mutex::new(Vec::new())),
            })
        })
        .await
        .map_err(|e| MetaError::Worker(e.to_string()))?
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64, MetaError> {
        self.read(current_version).await
    }

    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, MetaError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, MetaError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match conn {
                Some(c) => c,
                None => open(&path)?,
            };
            let out = f(&conn);
            let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|e| MetaError::Worker(e.to_string()))?
    }

    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<MetaError> + Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(MetaError::from)?;
            let out = f(&tx)?;
            tx.commit().map_err(MetaError::from)?;
            Ok(out)
        })
        .await
        .map_err(|e| MetaError::Worker(e.to_string()))?
    }
}

fn current_version(c: &Connection) -> Result<i64, MetaError> {
    let has_table: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    Ok(c.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

fn migrate(conn: &mut Connection) -> Result<(), MetaError> {
    let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )?;
    let found = current_version(&tx)?;
    if found > known {
        return Err(MetaError::SchemaTooNew { found, known });
    }
    tx.commit()?;
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        // Re-check under the lock: another process may have migrated meanwhile.
        if current_version(&tx)? >= m.version {
            continue;
        }
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now()],
        )?;
        tx.commit()?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
    }
    Ok(())
}

fn ensure_repo(tx: &rusqlite::Transaction<'_>, repo: &str) -> Result<i64, MetaError> {
    tx.execute(
        "INSERT INTO repositories (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![repo, now()],
    )?;
    Ok(
        tx.query_row("SELECT id FROM repositories WHERE name = ?1", [repo], |r| {
            r.get(0)
        })?,
    )
}

fn repo_id(c: &Connection, repo: &str) -> Result<Option<i64>, MetaError> {
    Ok(
        c.query_row("SELECT id FROM repositories WHERE name = ?1", [repo], |r| {
            r.get(0)
        })
        .optional()?,
    )
}

fn parse_digest(s: String) -> Result<Digest, MetaError> {
    Digest::parse(&s).map_err(|e| MetaError::Corrupt(format!("stored digest {s:?}: {e}")))
}

fn stored_manifest(row: (String, String, Vec<u8>)) -> Result<StoredManifest, MetaError> {
    Ok(StoredManifest {
        digest: parse_digest(row.0)?,
        media_type: row.1,
        content: Bytes::from(row.2),
    })
}

#[async_trait]
impl MetaStore for SqliteStore {
    async fn list_repositories(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, MetaError> {
        let last = last.unwrap_or("").to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT name FROM repositories r
                 WHERE name > ?1 AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id)
                 ORDER BY name LIMIT ?2",
            )?;
            let rows = st.query_map(params![last, limit], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn link_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), MetaError> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            let id = ensure_repo(tx, &repo)?;
            let t = now();
            tx.execute(
                "INSERT INTO blobs (digest, size, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (digest) DO NOTHING",
                params![digest, size as i64, t],
            )?;
            tx.execute(
                "INSERT INTO repo_blobs (repo_id, digest, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (repo_id, digest) DO NOTHING",
                params![id, digest, t],
            )?;
            Ok::<_, MetaError>(())
        })
        .await
    }

    async fn repo_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>, MetaError> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT b.size FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest
                 WHERE rb.repo_id = (SELECT id FROM repositories WHERE name = ?1) AND rb.digest = ?2",
            )?;
            Ok(st.query_row(params![repo, digest], |r| r.get::<_, i64>(0)).optional()?.map(|s| s as u64))
        })
        .await
    }

    async fn any_blob(&self, digest: &Digest) -> Result<Option<u64>, MetaError> {
        let digest = digest.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT b.size FROM blobs b WHERE b.digest = ?1 AND EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = b.digest)",
            )?;
            Ok(st.query_row([digest], |r| r.get::<_, i64>(0)).optional()?.map(|s| s as u64))
        })
        .await
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) AND digest = ?2",
                params![repo, digest],
            )?;
            Ok::<_, MetaError>(n > 0)
        })
        .await
    }

    async fn put_manifest(
        &self,
        repo: &RepoName,
        m: &NewManifest,
        tag: Option<&Tag>,
    ) -> Result<(), PutManifestError> {
        let repo = repo.to_string();
        let m = m.clone();
        let tag = tag.map(|t| t.to_string());
        self.write(move |tx| {
            let id = ensure_repo(tx, &repo)?;
            {
                let mut blob_q = tx.prepare_cached("SELECT 1 FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2").map_err(MetaError::from)?;
                for b in &m.blobs {
                    if !blob_q.exists(params![id, b.to_string()]).map_err(MetaError::from)? {
                        return Err(PutManifestError::MissingBlob(b.clone()));
                    }
                }
                let mut man_q = tx.prepare_cached("SELECT 1 FROM manifests WHERE repo_id = ?1 AND digest = ?2").map_err(MetaError::from)?;
                for c in &m.children {
                    if !man_q.exists(params![id, c.to_string()]).map_err(MetaError::from)? {
                        return Err(PutManifestError::MissingManifest(c.clone()));
                    }
                }
            }
            let digest = m.digest.to_string();
            let t = now();
            tx.execute(
                "INSERT INTO manifests (repo_id, digest, media_type, artifact_type, subject, annotations, size, content, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (repo_id, digest) DO NOTHING",
                params![
                    id,
                    digest,
                    m.media_type,
                    m.artifact_type,
                    m.subject.as_ref().map(|s| s.to_string()),
                    m.annotations,
                    m.content.len() as i64,
                    &m.content[..],
                    t
                ],
            )
            .map_err(MetaError::from)?;
            let mut refs = tx
                .prepare_cached(
                    "INSERT INTO manifest_refs (repo_id, manifest, child, kind) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .map_err(MetaError::from)?;
            for b in m.blobs.iter().chain(&m.optional_blobs) {
                refs.execute(params![id, digest, b.to_string(), "blob"]).map_err(MetaError::from)?;
            }
            for c in &m.children {
                refs.execute(params![id, digest, c.to_string(), "manifest"]).map_err(MetaError::from)?;
            }
            if let Some(tag) = tag {
                tx.execute(
                    "INSERT INTO tags (repo_id, name, digest, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                    params![id, tag, digest, t],
                )
                .map_err(MetaError::from)?;
            }
            Ok(())
        })
        .await
    }

    async fn manifest_by_digest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, MetaError> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT digest, media_type, content FROM manifests
                 WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) AND digest = ?2",
            )?;
            st.query_row(params![repo, digest], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?
            .map(stored_manifest)
            .transpose()
        })
        .await
    }

    async fn manifest_by_tag(
        &self,
        repo: &RepoName,
        tag: &Tag,
    ) -> Result<Option<StoredManifest>, MetaError> {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT m.digest, m.media_type, m.content FROM tags t
                 JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
                 WHERE t.repo_id = (SELECT id FROM repositories WHERE name = ?1) AND t.name = ?2",
            )?;
            st.query_row(params![repo, tag], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?
            .map(stored_manifest)
            .transpose()
        })
        .await
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError> {
        let (repo, digest) = (repo.to_string(), digest.to_string());
        self.write(move |tx| {
            let Some(id) = repo_id(tx, &repo)? else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM tags WHERE repo_id = ?1 AND digest = ?2",
                params![id, digest],
            )?;
            tx.execute(
                "DELETE FROM manifest_refs WHERE repo_id = ?1 AND manifest = ?2",
                params![id, digest],
            )?;
            let n = tx.execute(
                "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2",
                params![id, digest],
            )?;
            Ok::<_, MetaError>(n > 0)
        })
        .await
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool, MetaError> {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM tags WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) AND name = ?2",
                params![repo, tag],
            )?;
            Ok::<_, MetaError>(n > 0)
        })
        .await
    }

    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>, MetaError> {
        let repo = repo.to_string();
        let last = last.unwrap_or("").to_owned();
        self.read(move |c| {
            let Some(id) = repo_id(c, &repo)? else {
                return Ok(None);
            };
            let mut st = c.prepare_cached(
                "SELECT name FROM tags WHERE repo_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
            )?;
            let rows = st.query_map(params![id, last, limit], |r| r.get(0))?;
            Ok(Some(rows.collect::<Result<Vec<String>, _>>()?))
        })
        .await
    }

    async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
    ) -> Result<Vec<Referrer>, MetaError> {
        let (repo, subject) = (repo.to_string(), subject.to_string());
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT digest, media_type, size, artifact_type, annotations FROM manifests
                 WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) AND subject = ?2
                 ORDER BY created_at, digest",
            )?;
            let rows = st.query_map(params![repo, subject], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get::<_, i64>(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (d, media_type, size, artifact_type, annotations) = row?;
                out.push(Referrer {
                    digest: parse_digest(d)?,
                    media_type,
                    size: size as u64,
                    artifact_type,
                    annotations,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn create_upload(&self, id: &str, repo: &RepoName) -> Result<(), MetaError> {
        let (id, repo) = (id.to_owned(), repo.to_string());
        self.write(move |tx| {
            let rid = ensure_repo(tx, &repo)?;
            let t = now();
            tx.execute(
                "INSERT INTO uploads (id, repo_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![id, rid, t],
            )?;
            Ok::<_, MetaError>(())
        })
        .await
    }

    async fn upload_repo(&self, id: &str) -> Result<Option<String>, MetaError> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT r.name FROM uploads u JOIN repositories r ON r.id = u.repo_id WHERE u.id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn delete_upload(&self, id: &str) -> Result<(), MetaError> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
            Ok::<_, MetaError>(())
        })
        .await
    }

    async fn stale_uploads(&self, before: i64) -> Result<Vec<String>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached("SELECT id FROM uploads WHERE created_at < ?1")?;
            let rows = st.query_map([before], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    fn manifest(
        content: &'static [u8],
        blobs: Vec<Digest>,
        subject: Option<Digest>,
    ) -> NewManifest {
        NewManifest {
            digest: Digest::sha256_of(content),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: Some("application/x-test".into()),
            subject,
            annotations: None,
            content: Bytes::from_static(content),
            blobs,
            optional_blobs: vec![],
            children: vec![],
        }
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn manifest_needs_its_blobs_in_the_same_repository() {
        let (_d, s) = store().await;
        let (a, b) = (repo("org/a"), repo("org/b"));
        let blob = Digest::sha256_of(b"layer");
        s.link_blob(&b, &blob, 5).await.unwrap();
        let m = manifest(b"m1", vec![blob.clone()], None);
        let tag = Tag::parse("v1").unwrap();
        assert!(
            matches!(s.put_manifest(&a, &m, Some(&tag)).await, Err(PutManifestError::MissingBlob(d)) if d == blob)
        );
        assert!(
            s.manifest_by_tag(&a, &tag).await.unwrap().is_none(),
            "a refused manifest leaves nothing"
        );
        s.link_blob(&a, &blob, 5).await.unwrap();
        s.put_manifest(&a, &m, Some(&tag)).await.unwrap();
        let got = s.manifest_by_tag(&a, &tag).await.unwrap().unwrap();
        assert_eq!(got.digest, m.digest);
        assert_eq!(&got.content[..], b"m1");
        assert_eq!(s.any_blob(&blob).await.unwrap(), Some(5));
    }

    #[tokio::test]
    async fn tags_sort_paginate_and_follow_deletes() {
        let (_d, s) = store().await;
        let r = repo("x");
        let m = manifest(b"m", vec![], None);
        for t in ["b", "a", "c"] {
            s.put_manifest(&r, &m, Some(&Tag::parse(t).unwrap()))
                .await
                .unwrap();
        }
        assert_eq!(
            s.list_tags(&r, None, 10).await.unwrap().unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(s.list_tags(&r, Some("a"), 1).await.unwrap().unwrap(), ["b"]);
        assert!(
            s.list_tags(&repo("nope"), None, 10)
                .await
                .unwrap()
                .is_none()
        );
        assert!(s.delete_tag(&r, &Tag::parse("a").unwrap()).await.unwrap());
        assert!(
            s.manifest_by_digest(&r, &m.digest).await.unwrap().is_some(),
            "tag delete keeps the manifest"
        );
        assert!(s.delete_manifest(&r, &m.digest).await.unwrap());
        assert_eq!(
            s.list_tags(&r, None, 10).await.unwrap().unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            s.list_repositories(None, 10).await.unwrap(),
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn referrers_by_subject() {
        let (_d, s) = store().await;
        let r = repo("x");
        let subject = Digest::sha256_of(b"img");
        s.put_manifest(&r, &manifest(b"sig", vec![], Some(subject.clone())), None)
            .await
            .unwrap();
        s.put_manifest(&r, &manifest(b"other", vec![], None), None)
            .await
            .unwrap();
        let refs = s.referrers(&r, &subject).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].digest, Digest::sha256_of(b"sig"));
        assert_eq!(refs[0].size, 3);
    }

    #[tokio::test]
    async fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            s.schema_version().await.unwrap(),
            MIGRATIONS.last().unwrap().version
        );
        drop(s);
        Connection::open(&path)
            .unwrap()
            .execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)", [])
            .unwrap();
        match SqliteStore::open(&path).await {
            Err(MetaError::SchemaTooNew { found: 999, .. }) => {}
            other => panic!("expected SchemaTooNew, got {:?}", other.err()),
        }
    }
}
