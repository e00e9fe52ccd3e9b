//! Scan on push: every image stored in berth gets an index report, without anyone asking.
//!
//! ```text
//! manifest PUT ──> Registry ──ManifestListener──> Scanner::wake
//!                                                  │
//! Scanner::run (one loop per node)                 v
//!   store.unindexed(key) ──> index_one ──> berth_index::Indexer (blocking threads)
//!                               │            layers: blob store (streamed), cache: layer_scans
//!                               └──> store.put_index_report
//! ```
//!
//! - **The metadata store is the queue.** A manifest with no report under the current
//!   indexer key *is* the work item; the listener only wakes the loop. A crash between the
//!   push and the scan loses nothing (the loop finds the manifest at start), and a new
//!   detector version re-indexes every stored image by itself.
//! - **One image at a time per node**, each using every core for its layers: images finish
//!   in push order and memory stays bounded by one image's layers in flight.
//! - **Asked before it was scanned**, a report is made on the spot ([`Scanner::report`]),
//!   with a per-manifest lock so the loop and a request never index the same image twice.
//! - **Failures are honest.** A layer that cannot be read as a layer (corrupt, hostile, over
//!   a limit) gives a stored report in state `IndexError` with the reason; a failure of the
//!   machinery (a blob the store cannot open) is not stored and is retried later.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_blob::{BlobContent, BlobStore};
use berth_domain::media_type as mt;
use berth_domain::{Digest, RepoName};
use berth_index::{Blobs, IndexError, Indexer, LayerCache, LayerRef, LayerScan, Quiet};
use berth_meta::{IndexStore, MetaError, MetaStore};
use berth_registry::ManifestListener;
use berth_report::IndexReport;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// The manifests that describe one image (an index's children are indexed one by one).
pub const IMAGE_MANIFEST_TYPES: [&str; 2] = [mt::OCI_MANIFEST, mt::DOCKER_MANIFEST];
/// Config media types of container images; anything else is an artifact.
const IMAGE_CONFIG_TYPES: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
/// How long a machinery failure waits before the loop tries that image again.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// How often the loop looks for work when nobody woke it (other nodes' pushes, retries).
const IDLE_POLL: Duration = Duration::from_secs(30);

/// Everything the scanner needs from the metadata store.
pub trait ScanStore: MetaStore + IndexStore {}
impl<T: MetaStore + IndexStore> ScanStore for T {}

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

/// The scan-on-push service of one node.
pub struct Scanner {
    store: Arc<dyn ScanStore>,
    blobs: Arc<dyn BlobStore>,
    indexer: Arc<Indexer>,
    wake: Notify,
    /// Per-manifest locks, so one image is never indexed twice at once.
    running: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
    /// Images whose last attempt failed for a machinery reason, and when to try again.
    retry: Mutex<HashMap<Digest, Instant>>,
}

impl Scanner {
    pub fn new(
        store: Arc<dyn ScanStore>,
        blobs: Arc<dyn BlobStore>,
        indexer: Indexer,
    ) -> Arc<Scanner> {
        Arc::new(Scanner {
            store,
            blobs,
            indexer: Arc::new(indexer),
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            retry: Mutex::new(HashMap::new()),
        })
    }

    /// The indexer key reports are made under.
    pub fn key(&self) -> &str {
        self.indexer.key()
    }

    /// The background loop: indexes every image manifest without a current report, then
    /// sleeps until woken by a push (or [`IDLE_POLL`]). Runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let skip: Vec<Digest> = {
                let mut retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                retry.retain(|_, at| *at > now);
                retry.keys().cloned().collect()
            };
            let batch = match self
                .store
                .unindexed(self.key(), &IMAGE_MANIFEST_TYPES, &skip, 16)
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "scanner: cannot list unindexed manifests");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            for item in batch {
                if let Err(e) = self.index_one(&item.repo, &item.digest).await {
                    tracing::warn!(manifest = %item.digest, repository = %item.repo, error = %e, "scanner: indexing failed; will retry");
                    self.retry
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(item.digest, Instant::now() + RETRY_AFTER);
                }
            }
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

    async fn index_one(&self, repo: &RepoName, digest: &Digest) -> Result<IndexReport, ScanError> {
        let lock = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.entry(digest.clone()).or_default().clone()
        };
        let guard = lock.lock().await;
        let out = self.index_locked(repo, digest).await;
        drop(guard);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) <= 2 {
            running.remove(digest);
        }
        out
    }

    async fn index_locked(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<IndexReport, ScanError> {
        let Some(stored) = self.store.manifest_by_digest(repo, digest).await? else {
            return Err(ScanError::UnknownManifest(digest.clone()));
        };
        if let Some(r) = self.store.index_report(digest).await?
            && r.indexer == self.key()
            && let Ok(report) = serde_json::from_slice::<IndexReport>(&r.report)
        {
            return Ok(report);
        }
        let started = Instant::now();
        let report = match image_layers(digest, &stored.content, &stored.media_type) {
            Err(ScanError::IsIndex(d)) => return Err(ScanError::IsIndex(d)),
            Err(e) => return Err(e),
            Ok(Err(not_an_image)) => IndexReport::failed(digest.to_string(), not_an_image),
            Ok(Ok(layers)) => {
                let indexer = self.indexer.clone();
                let blobs = StoreBlobs {
                    blobs: self.blobs.clone(),
                    handle: Handle::current(),
                };
                let cache = StoreCache {
                    store: self.store.clone(),
                    handle: Handle::current(),
                };
                let d = digest.clone();
                let result = tokio::task::spawn_blocking(move || {
                    indexer.index(&d, &layers, &blobs, &cache, &Quiet)
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
                        done.report
                    }
                    Err(e @ IndexError::Open { .. }) => return Err(ScanError::Io(e)),
                    Err(e) => IndexReport::failed(digest.to_string(), e.to_string()),
                }
            }
        };
        let bytes = serde_json::to_vec(&report).map_err(|e| ScanError::Task(e.to_string()))?;
        self.store
            .put_index_report(digest, self.key(), &report.state, bytes)
            .await?;
        Ok(report)
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
            "not a container image (artifact type {config}): nothing to index"
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
