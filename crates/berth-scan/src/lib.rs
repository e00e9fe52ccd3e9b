//! Scan on push: every image stored in berth gets an index report and a vulnerability
//! report, without anyone asking, and the vulnerability report stays current as advisories
//! change.
//!
//! ```text
//! manifest PUT ──> Registry ──ManifestListener──> sweeper (wake)
//!   sweeper: store.unindexed(key) ──> store.enqueue_scans ──> scan_jobs (durable queue)
//!   workers (scanner.workers per node): store.claim_scans (lease) ──> index_one
//!       ──> berth_index::Indexer (blocking threads; layers streamed from the blob store,
//!           layer scans cached in layer_scans) ──> store.put_index_report
//!       ──> match against the vulnerability database ──> store.put_vuln_summary
//!       ──> finish_scan, or retry_scan with backoff (give up after MAX_ATTEMPTS)
//!   re-matcher: database build changed ──> every stored index report re-matched ──>
//!       summaries updated, new findings logged (no layer is read again)
//!   feed updater (feeds.rs): due feeds downloaded ──> database rebuilt ──> re-matcher
//! ```
//!
//! - **The queue is durable and shared.** Jobs live in the metadata store with leases: a
//!   crash between the push and the scan loses nothing (the sweeper re-finds any manifest
//!   without a current report, at start and every half minute), several workers and several
//!   nodes never index one image at once, and a dead worker's lease runs out for another to
//!   take over. A new detector version re-indexes every stored image by itself.
//! - **Asked before it was scanned**, an index report is made on the spot
//!   ([`Scanner::report`]), under the same per-manifest lock as the workers.
//! - **Failures are honest.** A layer that cannot be read as a layer (corrupt, hostile, over
//!   a limit) gives a stored report in state `IndexError` with the reason (status
//!   "failed"); an artifact gives one marked [`UNSUPPORTED`]; a failure of the machinery (a
//!   blob the store cannot open) is not stored and is retried with backoff.
//! - **Vulnerability reports are computed, not stored**: (index report, database build) ->
//!   report is a pure function of milliseconds (`vulns.rs`).

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_blob::{BlobContent, BlobStore};
use berth_domain::media_type as mt;
use berth_domain::{Digest, RepoName};
pub use berth_index::{Blobs, LayerRef};
use berth_index::{IndexError, Indexer, LayerCache, LayerScan, Quiet};
use berth_meta::{IndexStore, MetaError, MetaStore, ScanJob, ScanQueue};
use berth_registry::ManifestListener;
use berth_report::IndexReport;
use berth_vulndb::VulnDb;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_util::io::{StreamReader, SyncIoBridge};

mod feeds;
mod remote;
mod status;
mod vulns;

pub use feeds::{FeedOverride, FeedUpdater, Round, feed_specs};
pub use remote::RemoteLayer;
pub use status::{PlatformStatus, ScanStatus};
pub use vulns::{Summary, VulnError};

/// The manifests that describe one image (an index's children are indexed one by one).
pub const IMAGE_MANIFEST_TYPES: [&str; 2] = [mt::OCI_MANIFEST, mt::DOCKER_MANIFEST];
/// Config media types of container images; anything else is an artifact.
const IMAGE_CONFIG_TYPES: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
/// Marks the error of a report for something that is not an image (an artifact): the
/// status is "unsupported", not "failed".
pub const UNSUPPORTED: &str = "unsupported: ";
/// How long a worker holds a job before another worker or node may take it over.
const LEASE_SECS: i64 = 600;
/// Machinery failures (the blob store) are retried this many times, backing off.
const MAX_ATTEMPTS: u32 = 6;
/// How often the sweeper looks for work when nobody woke it (other nodes' pushes).
const IDLE_POLL: Duration = Duration::from_secs(30);
/// How often idle workers look for due jobs (retries whose backoff ended).
const CLAIM_POLL: Duration = Duration::from_secs(5);

/// 30 s, 1 min, 2 min, ... capped at an hour.
fn retry_backoff(attempts: u32) -> Duration {
    Duration::from_secs((30u64 << attempts.saturating_sub(1).min(7)).min(3600))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Everything the scanner needs from the metadata store.
pub trait ScanStore: MetaStore + IndexStore + ScanQueue {}
impl<T: MetaStore + IndexStore + ScanQueue> ScanStore for T {}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("manifest {0} is not in the repository")]
    UnknownManifest(Digest),
    #[error("manifest {0} is an index; its images have their own reports")]
    IsIndex(Digest),
    #[error("metadata store: {0}")]
    Meta(#[from] MetaError),
    /// The blob store failed: not the image's fault, so nothing is stored.
    #[error("reading layers: {0}")]
    Io(#[source] IndexError),
    #[error("indexer task failed: {0}")]
    Task(String),
}

/// Settings of a node's scanner.
#[derive(Clone)]
pub struct ScanOptions {
    /// Images indexed at once (each a worker taking jobs from the queue).
    pub workers: usize,
    /// The vulnerability database; `None` makes index reports only.
    pub vulndb: Option<Arc<VulnDb>>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            workers: 2,
            vulndb: None,
        }
    }
}

/// The scan-on-push service of one node.
pub struct Scanner {
    store: Arc<dyn ScanStore>,
    blobs: Arc<dyn BlobStore>,
    indexer: Arc<Indexer>,
    /// This node's name in job leases.
    owner: String,
    workers: usize,
    /// Wakes the sweeper (a push happened).
    wake: Notify,
    /// Wakes the workers (jobs were queued).
    work: Notify,
    /// Per-manifest locks, so one image is never indexed twice at once on this node (the
    /// queue's leases do the same across nodes).
    running: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
    pub(crate) vulns: vulns::Vulns,
}

impl Scanner {
    pub fn new(
        store: Arc<dyn ScanStore>,
        blobs: Arc<dyn BlobStore>,
        indexer: Indexer,
        options: ScanOptions,
    ) -> Arc<Scanner> {
        Arc::new(Scanner {
            store,
            blobs,
            indexer: Arc::new(indexer),
            owner: format!("node-{}", uuid::Uuid::new_v4()),
            workers: options.workers.max(1),
            wake: Notify::new(),
            work: Notify::new(),
            running: Mutex::new(HashMap::new()),
            vulns: vulns::Vulns::new(options.vulndb),
        })
    }

    /// The indexer key reports are made under.
    pub fn key(&self) -> &str {
        self.indexer.key()
    }

    /// The background service: the sweeper (queues every image manifest without a current
    /// report), the workers (index queued images) and the re-matcher (re-matches stored
    /// reports when the vulnerability database changes). Runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().sweep());
        for n in 0..self.workers {
            tasks.spawn(self.clone().work_loop(n));
        }
        tasks.spawn(self.clone().rematch_loop());
        while tasks.join_next().await.is_some() {}
    }

    /// Queues what has no current report: at start, after every push, and every
    /// [`IDLE_POLL`] (pushes through other nodes).
    async fn sweep(self: Arc<Self>) {
        loop {
            match self
                .store
                .unindexed(self.key(), &IMAGE_MANIFEST_TYPES, &[], 500)
                .await
            {
                Ok(batch) if !batch.is_empty() => {
                    let jobs: Vec<(Digest, RepoName)> =
                        batch.into_iter().map(|u| (u.digest, u.repo)).collect();
                    match self.store.enqueue_scans(&jobs, self.key()).await {
                        Ok(n) if n > 0 => {
                            tracing::debug!(queued = n, "scanner: queued images");
                            self.work.notify_waiters();
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "scanner: cannot queue images"),
                    }
                    // Wake workers that are between claims too.
                    self.work.notify_one();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "scanner: cannot list unindexed manifests"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }

    /// One worker: claims a job, indexes, matches, finishes or backs off.
    async fn work_loop(self: Arc<Self>, n: usize) {
        loop {
            let claimed = match self.store.claim_scans(&self.owner, LEASE_SECS, 1).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(worker = n, error = %e, "scanner: cannot claim jobs");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = self.work.notified() => {}
                    () = tokio::time::sleep(CLAIM_POLL) => {}
                }
                continue;
            }
            for job in claimed {
                self.run_job(job).await;
            }
        }
    }

    async fn run_job(&self, job: ScanJob) {
        let outcome = self.index_one(&job.repo, &job.digest).await;
        let result = match outcome {
            Ok(report) => {
                self.vulns
                    .summarize(&*self.store, &job.digest, &report)
                    .await;
                self.store.finish_scan(&job.digest, &self.owner).await
            }
            // Deleted since it was queued, or not an image: nothing to do.
            Err(ScanError::UnknownManifest(_) | ScanError::IsIndex(_)) => {
                self.store.finish_scan(&job.digest, &self.owner).await
            }
            Err(e) => {
                let give_up = job.attempts >= MAX_ATTEMPTS;
                let delay = retry_backoff(job.attempts);
                tracing::warn!(manifest = %job.digest, repository = %job.repo, attempt = job.attempts, give_up, error = %e, "scanner: indexing failed");
                self.store
                    .retry_scan(
                        &job.digest,
                        &self.owner,
                        unix_now() + delay.as_secs() as i64,
                        &e.to_string(),
                        give_up,
                    )
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(manifest = %job.digest, error = %e, "scanner: cannot update the job");
        }
    }

    /// The index report of manifest `digest` in `repo`: the stored one when it is current,
    /// otherwise made now. `None` when the repository has no such manifest.
    pub async fn report(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<IndexReport>, ScanError> {
        match self.index_one(repo, digest).await {
            Ok(r) => Ok(Some(r)),
            Err(ScanError::UnknownManifest(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The stored index report of a manifest under the current key, whatever repository
    /// holds it (Clair's API is not per repository).
    pub async fn stored_report(&self, digest: &Digest) -> Result<Option<IndexReport>, ScanError> {
        Ok(match self.store.index_report(digest).await? {
            Some(r) if r.indexer == self.key() => serde_json::from_slice(&r.report).ok(),
            _ => None,
        })
    }

    /// Indexes a manifest that need not be in any repository (Clair's `POST index_report`):
    /// its layers come from `blobs`.
    pub async fn index_foreign(
        &self,
        digest: &Digest,
        layers: Vec<LayerRef>,
        blobs: Box<dyn Blobs + Send + Sync>,
    ) -> Result<IndexReport, ScanError> {
        if let Some(r) = self.stored_report(digest).await? {
            return Ok(r);
        }
        self.locked(digest, async {
            if let Some(r) = self.stored_report(digest).await? {
                return Ok(r);
            }
            let report = self.run_indexer(digest, layers, blobs).await?;
            self.put_report(digest, &report).await?;
            Ok(report)
        })
        .await
    }

    /// Forgets a manifest's index report (Clair's `DELETE index_report`).
    pub async fn delete_report(&self, digest: &Digest) -> Result<bool, ScanError> {
        Ok(self.store.delete_index_report(digest).await?)
    }

    /// Runs `work` holding the manifest's lock; the lock is forgotten when nobody else waits
    /// for it, so the map holds only manifests being indexed.
    async fn locked<T>(&self, digest: &Digest, work: impl Future<Output = T>) -> T {
        let lock = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.entry(digest.clone()).or_default().clone()
        };
        let guard = lock.lock().await;
        let out = work.await;
        drop(guard);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) <= 2 {
            running.remove(digest);
        }
        out
    }

    async fn index_one(&self, repo: &RepoName, digest: &Digest) -> Result<IndexReport, ScanError> {
        self.locked(digest, self.index_locked(repo, digest)).await
    }

    async fn index_locked(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<IndexReport, ScanError> {
        let Some(stored) = self.store.manifest_by_digest(repo, digest).await? else {
            return Err(ScanError::UnknownManifest(digest.clone()));
        };
        if let Some(report) = self.stored_report(digest).await? {
            return Ok(report);
        }
        let report = match image_layers(digest, &stored.content, &stored.media_type)? {
            Err(not_an_image) => IndexReport::failed(digest.to_string(), not_an_image),
            Ok(layers) => {
                let blobs = StoreBlobs {
                    blobs: self.blobs.clone(),
                    handle: Handle::current(),
                };
                self.run_indexer(digest, layers, Box::new(blobs)).await?
            }
        };
        self.put_report(digest, &report).await?;
        Ok(report)
    }

    async fn put_report(&self, digest: &Digest, report: &IndexReport) -> Result<(), ScanError> {
        let bytes = serde_json::to_vec(report).map_err(|e| ScanError::Task(e.to_string()))?;
        self.store
            .put_index_report(digest, self.key(), &report.state, bytes)
            .await?;
        Ok(())
    }

    /// Runs the indexer on blocking threads. Layer failures become a failed report (the
    /// image's fault); failing to open a blob is an error (the machinery's), not stored.
    async fn run_indexer(
        &self,
        digest: &Digest,
        layers: Vec<LayerRef>,
        blobs: Box<dyn Blobs + Send + Sync>,
    ) -> Result<IndexReport, ScanError> {
        let started = Instant::now();
        let indexer = self.indexer.clone();
        let cache = StoreCache {
            store: self.store.clone(),
            handle: Handle::current(),
        };
        let d = digest.clone();
        let result = tokio::task::spawn_blocking(move || {
            indexer.index(&d, &layers, &*blobs, &cache, &Quiet)
        })
        .await
        .map_err(|e| ScanError::Task(e.to_string()))?;
        match result {
            Ok(done) => {
                tracing::info!(
                    manifest = %digest,
                    packages = done.report.packages.len(),
                    layers_read = done.layers_read,
                    layers_cached = done.layers_cached,
                    bytes = done.bytes_read,
                    skipped = done.skipped.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "indexed"
                );
                Ok(done.report)
            }
            Err(e @ IndexError::Open { .. }) => Err(ScanError::Io(e)),
            Err(e) => Ok(IndexReport::failed(digest.to_string(), e.to_string())),
        }
    }
}

impl ManifestListener for Scanner {
    fn manifest_stored(&self, _repo: &RepoName, _digest: &Digest, media_type: &str) {
        if IMAGE_MANIFEST_TYPES.contains(&media_type) {
            self.wake.notify_one();
        }
    }
}

/// The layers of an image manifest, or why it is not an image (an artifact: a Helm chart, a
/// signature, an SBOM), which is a report of its own rather than an error.
#[allow(clippy::type_complexity)]
fn image_layers(
    digest: &Digest,
    content: &[u8],
    media_type: &str,
) -> Result<Result<Vec<LayerRef>, String>, ScanError> {
    let parsed = match berth_oci::parse(content, Some(media_type)) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("manifest cannot be read: {e}"))),
    };
    if parsed.is_index() {
        return Err(ScanError::IsIndex(digest.clone()));
    }
    let config = parsed.artifact_type.clone().unwrap_or_default();
    if !IMAGE_CONFIG_TYPES.contains(&config.as_str()) {
        return Ok(Err(format!(
            "{UNSUPPORTED}not a container image (artifact type {config}): nothing to index"
        )));
    }
    let layers = parsed
        .blobs
        .iter()
        .filter(|d| berth_index::is_layer(&d.media_type))
        .filter(|d| !mt::is_foreign_layer(&d.media_type))
        .map(|d| LayerRef {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: u64::try_from(d.size).unwrap_or(0),
        })
        .collect();
    Ok(Ok(layers))
}

/// Layer bytes from berth's blob store, read on the indexer's threads.
struct StoreBlobs {
    blobs: Arc<dyn BlobStore>,
    handle: Handle,
}

impl Blobs for StoreBlobs {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
        let content = self
            .handle
            .block_on(self.blobs.get(&layer.digest, None))
            .map_err(io::Error::other)?;
        Ok(match content {
            BlobContent::Whole(bytes) => Box::new(io::Cursor::new(bytes)),
            BlobContent::Stream { stream, .. } => Box::new(SyncIoBridge::new_with_handle(
                StreamReader::new(stream),
                self.handle.clone(),
            )),
        })
    }
}

/// Layer scans kept in the metadata store, shared by every node.
struct StoreCache {
    store: Arc<dyn ScanStore>,
    handle: Handle,
}

impl LayerCache for StoreCache {
    fn get(&self, layer: &Digest, key: &str) -> Option<LayerScan> {
        let bytes = self
            .handle
            .block_on(self.store.layer_scan(layer, key))
            .ok()
            .flatten()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn put(&self, layer: &Digest, key: &str, scan: &LayerScan) {
        let Ok(bytes) = serde_json::to_vec(scan) else {
            return;
        };
        if let Err(e) = self
            .handle
            .block_on(self.store.put_layer_scan(layer, key, bytes))
        {
            tracing::warn!(layer = %layer, error = %e, "scanner: cannot cache a layer scan");
        }
    }
}
