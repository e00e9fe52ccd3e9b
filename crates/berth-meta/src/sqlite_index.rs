//! [`IndexStore`](crate::IndexStore) for the embedded SQLite backend.

use async_trait::async_trait;
use berth_domain::{Digest, RepoName};
use rusqlite::{OptionalExtension, params};

use crate::index::{IndexStore, StoredReport, Unindexed};
use crate::{MetaError, SqliteStore, now};

/// A job that failed for good is offered again after a day (the blob store may be back).
pub(crate) const FAILED_RETRY_SECS: i64 = 86_400;

#[async_trait]
impl IndexStore for SqliteStore {
    async fn layer_scan(
        &self,
        layer: &Digest,
        indexer: &str,
    ) -> Result<Option<Vec<u8>>, MetaError> {
        let (layer, indexer) = (layer.to_string(), indexer.to_owned());
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT scan FROM layer_scans WHERE layer = ?1 AND indexer = ?2")?
                    .query_row(params![layer, indexer], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn put_layer_scan(
        &self,
        layer: &Digest,
        indexer: &str,
        scan: Vec<u8>,
    ) -> Result<(), MetaError> {
        let (layer, indexer) = (layer.to_string(), indexer.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO layer_scans (layer, indexer, scan, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (layer, indexer) DO UPDATE SET scan = excluded.scan",
            )?
            .execute(params![layer, indexer, scan, now()])?;
            Ok::<_, MetaError>(())
        })
        .await
    }

    async fn index_report(&self, manifest: &Digest) -> Result<Option<StoredReport>, MetaError> {
        let manifest = manifest.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT indexer, state, report, updated_at FROM index_reports WHERE manifest = ?1",
            )?
            .query_row(params![manifest], |r| {
                Ok(StoredReport {
                    indexer: r.get(0)?,
                    state: r.get(1)?,
                    report: r.get(2)?,
                    updated_at: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn put_index_report(
        &self,
        manifest: &Digest,
        indexer: &str,
        state: &str,
        report: Vec<u8>,
    ) -> Result<(), MetaError> {
        let (manifest, indexer, state) =
            (manifest.to_string(), indexer.to_owned(), state.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO index_reports (manifest, indexer, state, report, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (manifest) DO UPDATE SET indexer = excluded.indexer,
                     state = excluded.state, report = excluded.report,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![manifest, indexer, state, report, now()])?;
            Ok::<_, MetaError>(())
        })
        .await
    }

    async fn unindexed(
        &self,
        indexer: &str,
        media_types: &[&str],
        skip: &[Digest],
        limit: u32,
    ) -> Result<Vec<Unindexed>, MetaError> {
        let indexer = indexer.to_owned();
        let types: Vec<String> = media_types.iter().map(|s| (*s).to_owned()).collect();
        let skip: std::collections::HashSet<String> = skip.iter().map(Digest::to_string).collect();
        self.read(move |c| {
            // Media types and skips are few: filter them here rather than build SQL lists.
            let mut st = c.prepare_cached(
                "SELECT m.digest, MIN(r.name), m.media_type, MIN(m.created_at) AS first
                 FROM manifests m
                 JOIN repositories r ON r.id = m.repo_id
                 LEFT JOIN index_reports ir ON ir.manifest = m.digest
                 LEFT JOIN scan_jobs j ON j.manifest = m.digest AND j.indexer = ?1
                 WHERE (ir.manifest IS NULL OR ir.indexer <> ?1)
                   AND (j.manifest IS NULL OR (j.state = 'failed' AND j.updated_at < ?2))
                 GROUP BY m.digest, m.media_type
                 ORDER BY first",
            )?;
            let rows = st.query_map(params![indexer, now() - FAILED_RETRY_SECS], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (digest, repo, media_type) = row?;
                if !types.contains(&media_type) || skip.contains(&digest) {
                    continue;
                }
                let (Ok(digest), Ok(repo)) = (digest.parse::<Digest>(), RepoName::parse(&repo))
                else {
                    return Err(MetaError::Corrupt(format!(
                        "manifest row {digest} in {repo}"
                    )));
                };
                out.push(Unindexed { digest, repo });
                if out.len() >= limit as usize {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_and_scans_round_trip_and_go_stale_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("m.db")).await.unwrap();
        let d = Digest::sha256_of(b"layer");
        assert_eq!(s.layer_scan(&d, "k1").await.unwrap(), None);
        s.put_layer_scan(&d, "k1", b"one".to_vec()).await.unwrap();
        s.put_layer_scan(&d, "k1", b"two".to_vec()).await.unwrap();
        assert_eq!(s.layer_scan(&d, "k1").await.unwrap(), Some(b"two".to_vec()));
        assert_eq!(s.layer_scan(&d, "k2").await.unwrap(), None);

        let m = Digest::sha256_of(b"manifest");
        s.put_index_report(&m, "k1", "IndexFinished", b"{}".to_vec())
            .await
            .unwrap();
        let r = s.index_report(&m).await.unwrap().unwrap();
        assert_eq!(
            (r.indexer.as_str(), r.state.as_str()),
            ("k1", "IndexFinished")
        );
        s.put_index_report(&m, "k2", "IndexError", b"{\"err\":1}".to_vec())
            .await
            .unwrap();
        let r = s.index_report(&m).await.unwrap().unwrap();
        assert_eq!(
            (r.indexer.as_str(), r.report.as_slice()),
            ("k2", &b"{\"err\":1}"[..])
        );
    }
}
