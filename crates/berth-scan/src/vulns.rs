//! Vulnerability reports: the stored index report matched against the node's current
//! vulnerability database, on demand and again whenever the database changes.
//!
//! A vulnerability report is never stored whole: it is a pure function of (index report,
//! database build), cheap to recompute (milliseconds), and cached in memory by that pair.
//! What is stored per image is a small summary (counts by severity and the finding ids)
//! under the build that made it, so a database change re-matches every stored report
//! without reading a layer, and the findings that are new since the previous build are
//! known (and logged) at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_domain::Digest;
use berth_report::{IndexReport, VulnerabilityReport};
use berth_vulndb::{Db, VulnDb};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::{ScanError, ScanStore, Scanner};

/// How often the re-matcher checks whether another process installed a new build.
const RELOAD_POLL: Duration = Duration::from_secs(30);
/// Index reports re-matched per store round trip.
const PAGE: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum VulnError {
    #[error(
        "no vulnerability database is loaded: run `berth vulndb import` (offline) or enable `vulndb.update`"
    )]
    NoDatabase,
    #[error(transparent)]
    Scan(#[from] ScanError),
}

/// What is stored per image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub vulndb: String,
    /// Findings per normalized severity.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// `package@version advisory`, sorted.
    pub findings: Vec<String>,
}

pub(crate) struct Vulns {
    db: Option<Arc<VulnDb>>,
    cache: quick_cache::sync::Cache<(String, String), Arc<VulnerabilityReport>>,
    pub(crate) changed: Notify,
}

impl Vulns {
    pub(crate) fn new(db: Option<Arc<VulnDb>>) -> Vulns {
        Vulns {
            db,
            cache: quick_cache::sync::Cache::new(256),
            changed: Notify::new(),
        }
    }

    fn current(&self) -> Option<Arc<Db>> {
        self.db.as_ref()?.current()
    }

    /// Matches `index` against the current build (cached per manifest and build).
    pub(crate) fn report_for(
        &self,
        index: &IndexReport,
    ) -> Result<Arc<VulnerabilityReport>, VulnError> {
        let db = self.current().ok_or(VulnError::NoDatabase)?;
        let key = (index.manifest_hash.clone(), db.header().id.clone());
        if let Some(r) = self.cache.get(&key) {
            return Ok(r);
        }
        let (report, _) = berth_match::match_report(index, &db);
        let report = Arc::new(report);
        self.cache.insert(key, report.clone());
        Ok(report)
    }

    /// Matches a freshly made index report and stores its summary.
    pub(crate) async fn summarize(
        &self,
        store: &dyn ScanStore,
        digest: &Digest,
        index: &IndexReport,
    ) {
        if !index.success {
            return;
        }
        let Some(db) = self.current() else {
            return;
        };
        let (report, _) = berth_match::match_report(index, &db);
        store_summary(store, digest, &summary(&report, &db), None).await;
    }
}

fn summary(report: &VulnerabilityReport, db: &Db) -> Summary {
    let mut findings: Vec<String> = report
        .findings()
        .filter_map(|(pid, v)| {
            let p = report.packages.get(pid)?;
            Some(format!("{}@{} {}", p.name, p.version, v.name))
        })
        .collect();
    findings.sort();
    findings.dedup();
    Summary {
        vulndb: db.header().id.clone(),
        counts: report.counts(),
        findings,
    }
}

async fn store_summary(
    store: &dyn ScanStore,
    digest: &Digest,
    new: &Summary,
    old: Option<&Summary>,
) {
    if let Some(old) = old {
        let added: Vec<&String> = new
            .findings
            .iter()
            .filter(|f| old.findings.binary_search(f).is_err())
            .collect();
        if !added.is_empty() {
            tracing::info!(
                manifest = %digest,
                new_findings = added.len(),
                first = %added[0],
                vulndb = %new.vulndb,
                "new vulnerabilities affect a stored image"
            );
        }
    }
    let Ok(bytes) = serde_json::to_vec(new) else {
        return;
    };
    if let Err(e) = store.put_vuln_summary(digest, &new.vulndb, bytes).await {
        tracing::warn!(manifest = %digest, error = %e, "scanner: cannot store a vulnerability summary");
    }
}

impl Scanner {
    /// The node's vulnerability database, if it has one.
    pub fn vulndb(&self) -> Option<Arc<VulnDb>> {
        self.vulns.db.clone()
    }

    /// Tells the re-matcher that a new build was installed (by an update or an import).
    pub fn database_changed(&self) {
        self.vulns.changed.notify_one();
    }

    /// The vulnerability report of an index report, against the current database.
    pub fn vulnerabilities_of(
        &self,
        index: &IndexReport,
    ) -> Result<Arc<VulnerabilityReport>, VulnError> {
        self.vulns.report_for(index)
    }

    /// The stored summary of a manifest (counts and findings under some build).
    pub async fn summary(&self, digest: &Digest) -> Result<Option<Summary>, ScanError> {
        Ok(self
            .store
            .vuln_summary(digest)
            .await?
            .and_then(|s| serde_json::from_slice(&s.summary).ok()))
    }

    /// Re-matches every stored index report against the current build, storing the
    /// summaries. Returns how many reports were matched and how long it took.
    pub async fn rematch_all(&self) -> Result<(usize, Duration), VulnError> {
        let db = self.vulns.current().ok_or(VulnError::NoDatabase)?;
        let started = Instant::now();
        let mut after: Option<Digest> = None;
        let mut n = 0;
        loop {
            let page = self
                .store
                .index_report_page(self.key(), after.as_ref(), PAGE)
                .await
                .map_err(ScanError::from)?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.0.clone());
            let db2 = db.clone();
            // Matching is CPU work: off the async threads, one page at a time.
            let summaries = tokio::task::spawn_blocking(move || {
                page.into_iter()
                    .filter_map(|(d, bytes)| {
                        let index: IndexReport = serde_json::from_slice(&bytes).ok()?;
                        let (report, _) = berth_match::match_report(&index, &db2);
                        Some((d, summary(&report, &db2)))
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| ScanError::Task(e.to_string()))?;
            for (d, s) in summaries {
                let old = self.summary(&d).await.ok().flatten();
                if old.as_ref().is_some_and(|o| o.vulndb == s.vulndb) {
                    n += 1;
                    continue;
                }
                store_summary(&*self.store, &d, &s, old.as_ref()).await;
                n += 1;
            }
        }
        Ok((n, started.elapsed()))
    }

    /// Re-matches when the database changes (told, or noticed on disk).
    pub async fn rematch_loop(self: Arc<Self>) {
        let Some(vdb) = self.vulns.db.clone() else {
            return;
        };
        let mut matched: Option<String> = None;
        loop {
            let reload = {
                let vdb = vdb.clone();
                tokio::task::spawn_blocking(move || vdb.reload()).await
            };
            if let Ok(Err(e)) = reload {
                tracing::warn!(error = %e, "vulnerability database: cannot load the current build");
            }
            let current = vdb.current().map(|d| d.header().id.clone());
            if current.is_some() && current != matched {
                match self.rematch_all().await {
                    Ok((n, took)) => {
                        tracing::info!(
                            reports = n,
                            ms = took.as_millis() as u64,
                            vulndb = current.as_deref().unwrap_or(""),
                            "re-matched stored images"
                        );
                        matched = current;
                    }
                    Err(e) => tracing::warn!(error = %e, "re-matching failed"),
                }
            }
            tokio::select! {
                () = self.vulns.changed.notified() => {}
                () = tokio::time::sleep(RELOAD_POLL) => {}
            }
        }
    }
}
