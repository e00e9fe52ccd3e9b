//! [`ScanQueue`](crate::ScanQueue) for the embedded SQLite backend.

use async_trait::async_trait;
use berth_domain::{Digest, RepoName};
use rusqlite::{OptionalExtension, params};

use crate::queue::{JobStatus, ScanJob, ScanQueue, StoredSummary};
use crate::sqlite_index::FAILED_RETRY_SECS;
use crate::{MetaError, SqliteStore, now};

fn parse_digest(s: &str) -> Result<Digest, MetaError> {
    s.parse()
        .map_err(|_| MetaError::Corrupt(format!("digest {s} in the scan tables")))
}

#[async_trait]
impl ScanQueue for SqliteStore {
    async fn enqueue_scans(
        &self,
        jobs: &[(Digest, RepoName)],
        indexer: &str,
    ) -> Result<u64, MetaError> {
        let jobs: Vec<(String, String)> = jobs
            .iter()
            .map(|(d, r)| (d.to_string(), r.to_string()))
            .collect();
        let indexer = indexer.to_owned();
        self.write(move |tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO scan_jobs (manifest, repo, indexer, state, attempts, not_before, updated_at)
                 VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?4)
                 ON CONFLICT (manifest) DO UPDATE SET state = 'queued', attempts = 0,
                     indexer = excluded.indexer, not_before = excluded.not_before,
                     repo = excluded.repo, lease_owner = NULL, lease_until = NULL,
                     updated_at = excluded.updated_at
                 WHERE scan_jobs.indexer <> excluded.indexer
                    OR (scan_jobs.state = 'failed' AND scan_jobs.updated_at < ?5)",
            )?;
            let mut n = 0;
            let t = now();
            for (d, r) in &jobs {
                n += st.execute(params![d, r, indexer, t, t - FAILED_RETRY_SECS])? as u64;
            }
            Ok::<_, MetaError>(n)
        })
        .await
    }

    async fn claim_scans(
        &self,
        owner: &str,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<ScanJob>, MetaError> {
        let owner = owner.to_owned();
        self.write(move |tx| {
            let t = now();
            let mut st = tx.prepare_cached(
                "UPDATE scan_jobs SET state = 'running', lease_owner = ?1, lease_until = ?2,
                     attempts = attempts + 1, updated_at = ?3
                 WHERE manifest IN (
                     SELECT manifest FROM scan_jobs
                     WHERE (state = 'queued' AND not_before <= ?3)
                        OR (state = 'running' AND lease_until < ?3)
                     ORDER BY not_before, manifest LIMIT ?4)
                 RETURNING manifest, repo, attempts",
            )?;
            let rows = st.query_map(params![owner, t + lease_secs, t, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (d, repo, attempts) = row?;
                let repo = RepoName::parse(&repo)
                    .map_err(|_| MetaError::Corrupt(format!("repository {repo} in scan_jobs")))?;
                out.push(ScanJob {
                    digest: parse_digest(&d)?,
                    repo,
                    attempts,
                });
            }
            Ok::<_, MetaError>(out)
        })
        .await
    }

    async fn finish_scan(&self, digest: &Digest, owner: &str) -> Result<(), MetaError> {
        let (d, owner) = (digest.to_string(), owner.to_owned());
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM scan_jobs WHERE manifest = ?1 AND lease_owner = ?2")?
                .execute(params![d, owner])?;
            Ok::<_, MetaError>(())
        })
        .await
    }

    async fn retry_scan(
        &self,
        digest: &Digest,
        owner: &str,
        not_before: i64,
        error: &str,
        give_up: bool,
    ) -> Result<(), MetaError> {
        let (d, owner, error) = (digest.to_string(), owner.to_owned(), error.to_owned());
        let state = if give_up { "failed" } else { "queued" };
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE scan_jobs SET state = ?3, not_before = ?4, last_error = ?5,
                     lease_owner = NULL, lease_until = NULL, updated_at = ?6
                 WHERE manifest = ?1 AND lease_owner = ?2",
            )?
            .execute(params![d, owner, state, not_before, error, now()])?;
            Ok::<_, MetaError>(())
        })
        .await
    }

    async fn scan_job(&self, digest: &Digest) -> Result<Option<JobStatus>, MetaError> {
        let d = digest.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT state, attempts, not_before, last_error FROM scan_jobs WHERE manifest = ?1",
            )?
            .query_row(params![d], |r| {
                Ok(JobStatus {
                    state: r.get(0)?,
                    attempts: r.get(1)?,
                    not_before: r.get(2)?,
                    last_error: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn scan_queue_counts(&self) -> Result<Vec<(String, u64)>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT state, COUNT(*) FROM scan_jobs GROUP BY state ORDER BY state",
            )?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn index_report_page(
        &self,
        indexer: &str,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<(Digest, Vec<u8>)>, MetaError> {
        let indexer = indexer.to_owned();
        let after = after.map(Digest::to_string).unwrap_or_default();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT manifest, report FROM index_reports
                 WHERE indexer = ?1 AND state = 'IndexFinished' AND manifest > ?2
                 ORDER BY manifest LIMIT ?3",
            )?;
            let rows = st.query_map(params![indexer, after, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (d, report) = row?;
                out.push((parse_digest(&d)?, report));
            }
            Ok(out)
        })
        .await
    }

    async fn delete_index_report(&self, manifest: &Digest) -> Result<bool, MetaError> {
        let d = manifest.to_string();
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM index_reports WHERE manifest = ?1")?
                .execute(params![d])?;
            tx.prepare_cached("DELETE FROM vuln_summaries WHERE manifest = ?1")?
                .execute(params![d])?;
            Ok::<_, MetaError>(n > 0)
        })
        .await
    }

    async fn vuln_summary(&self, manifest: &Digest) -> Result<Option<StoredSummary>, MetaError> {
        let d = manifest.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT vulndb, summary, updated_at FROM vuln_summaries WHERE manifest = ?1",
            )?
            .query_row(params![d], |r| {
                Ok(StoredSummary {
                    vulndb: r.get(0)?,
                    summary: r.get(1)?,
                    updated_at: r.get(2)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn put_vuln_summary(
        &self,
        manifest: &Digest,
        vulndb: &str,
        summary: Vec<u8>,
    ) -> Result<(), MetaError> {
        let (d, vulndb) = (manifest.to_string(), vulndb.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO vuln_summaries (manifest, vulndb, summary, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (manifest) DO UPDATE SET vulndb = excluded.vulndb,
                     summary = excluded.summary, updated_at = excluded.updated_at",
            )?
            .execute(params![d, vulndb, summary, now()])?;
            Ok::<_, MetaError>(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoName {
        RepoName::parse("org/app").unwrap()
    }

    #[tokio::test]
    async fn jobs_are_claimed_once_retried_with_backoff_and_leases_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("m.db")).await.unwrap();
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let jobs = [(a.clone(), repo()), (b.clone(), repo())];
        assert_eq!(s.enqueue_scans(&jobs, "k1").await.unwrap(), 2);
        // Enqueueing again changes nothing while they wait.
        assert_eq!(s.enqueue_scans(&jobs, "k1").await.unwrap(), 0);

        let first = s.claim_scans("node-1", 300, 1).await.unwrap();
        let second = s.claim_scans("node-2", 300, 5).await.unwrap();
        assert_eq!((first.len(), second.len()), (1, 1));
        assert_ne!(first[0].digest, second[0].digest);
        assert!(s.claim_scans("node-3", 300, 5).await.unwrap().is_empty());

        // Only the lease holder finishes or retries a job.
        s.finish_scan(&first[0].digest, "node-2").await.unwrap();
        assert!(s.scan_job(&first[0].digest).await.unwrap().is_some());
        s.finish_scan(&first[0].digest, "node-1").await.unwrap();
        assert!(s.scan_job(&first[0].digest).await.unwrap().is_none());

        // A retry waits for its time; giving up marks it failed; enqueueing revives it.
        let d = second[0].digest.clone();
        s.retry_scan(&d, "node-2", now() + 3600, "blob store down", false)
            .await
            .unwrap();
        let st = s.scan_job(&d).await.unwrap().unwrap();
        assert_eq!((st.state.as_str(), st.attempts), ("queued", 1));
        assert_eq!(st.last_error.as_deref(), Some("blob store down"));
        assert!(s.claim_scans("node-1", 300, 5).await.unwrap().is_empty());
        s.retry_scan(&d, "node-2", now() - 1, "x", false)
            .await
            .unwrap(); // not the holder
        assert!(s.claim_scans("node-1", 300, 5).await.unwrap().is_empty());

        // An expired lease is taken over.
        let c = Digest::sha256_of(b"c");
        s.enqueue_scans(&[(c.clone(), repo())], "k1").await.unwrap();
        let held = s.claim_scans("dead-node", -1, 1).await.unwrap();
        assert_eq!(held[0].digest, c);
        let taken = s.claim_scans("live-node", 300, 1).await.unwrap();
        assert_eq!((taken[0].digest.clone(), taken[0].attempts), (c.clone(), 2));
        s.retry_scan(&c, "live-node", now(), "gave up", true)
            .await
            .unwrap();
        assert_eq!(s.scan_job(&c).await.unwrap().unwrap().state, "failed");
        // A fresh failure stays failed; a new indexer key queues it again.
        assert_eq!(
            s.enqueue_scans(&[(c.clone(), repo())], "k1").await.unwrap(),
            0
        );
        assert_eq!(
            s.enqueue_scans(&[(c.clone(), repo())], "k2").await.unwrap(),
            1
        );
        let counts = s.scan_queue_counts().await.unwrap();
        assert_eq!(counts, vec![("queued".to_owned(), 2)]);
    }

    #[tokio::test]
    async fn summaries_and_report_pages() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("m.db")).await.unwrap();
        use crate::IndexStore;
        let mut ds: Vec<Digest> = (0..5u8).map(|i| Digest::sha256_of(&[i])).collect();
        ds.sort_by_key(|d| d.to_string());
        for d in &ds {
            s.put_index_report(d, "k", "IndexFinished", b"{}".to_vec())
                .await
                .unwrap();
        }
        s.put_index_report(&ds[4], "k", "IndexError", b"{}".to_vec())
            .await
            .unwrap();
        let p1 = s.index_report_page("k", None, 2).await.unwrap();
        let p2 = s.index_report_page("k", Some(&p1[1].0), 10).await.unwrap();
        assert_eq!(p1.len() + p2.len(), 4, "failed reports are not re-matched");
        assert!(
            s.index_report_page("other", None, 10)
                .await
                .unwrap()
                .is_empty()
        );

        s.put_vuln_summary(&ds[0], "db1", b"{\"High\":1}".to_vec())
            .await
            .unwrap();
        assert_eq!(s.vuln_summary(&ds[0]).await.unwrap().unwrap().vulndb, "db1");
        assert!(s.delete_index_report(&ds[0]).await.unwrap());
        assert!(s.vuln_summary(&ds[0]).await.unwrap().is_none());
        assert!(!s.delete_index_report(&ds[0]).await.unwrap());
    }
}
