//! The image indexer: what is inside an image, layer by layer.
//!
//! ```text
//! Indexer::index(manifest, layers, blobs, cache)
//!   for each layer not in the cache (in parallel, one thread per core):
//!       blobs.open(layer) -> scan::scan_layer -> LayerScan -> cache.put
//!   coalesce::coalesce(all LayerScans)   whiteouts, replaced files, introducing layer, distro
//!   report::build -> berth_report::IndexReport (Clair v4 shape)
//! ```
//!
//! Design choices, after claircore's indexer:
//! - **The layer is the unit of work and of caching.** A layer scan depends only on the
//!   layer's bytes and on the detectors' versions, so it is stored under
//!   `(layer digest, Indexer::key)` and shared by every image and repository holding the
//!   layer. An image whose layers are all cached is indexed without opening a blob. Bumping
//!   any detector's version changes the key, and every layer is scanned afresh on next use.
//! - **Where bytes come from is the caller's business** ([`Blobs`]): berth's blob store on
//!   the server, an OCI layout, a `docker save` archive or a remote registry in the CLI.
//!   Where scans are kept is too ([`LayerCache`]): the metadata database on the server, a
//!   directory for the CLI.
//! - **Bounded and verified.** Layers are read by `berth-layer` under [`Limits`] (sizes,
//!   ratio, entries, path lengths) and checked against their digest; a file too large to
//!   inspect is reported as skipped rather than failing its layer.
//!
//! Blocking: call it from a thread that may block (`spawn_blocking` on the server).

pub mod cache;
pub mod coalesce;
pub mod report;
pub mod scan;

use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use berth_detect::Detector;
use berth_domain::Digest;
pub use berth_layer::{LayerError, Limits};
use berth_report::IndexReport;

pub use cache::{DirCache, LayerCache, MemCache, NoCache};
pub use scan::{LayerScan, ScannedPackage};

/// More layers than any builder makes (Docker stops at 127); a manifest listing more is
/// refused before anything is read.
pub const MAX_LAYERS: usize = 512;

/// Whether a manifest entry of `media_type` is a filesystem layer the indexer reads (and not
/// a config, a Helm chart or another artifact's blob).
pub fn is_layer(media_type: &str) -> bool {
    berth_layer::Compression::from_media_type(media_type).is_ok()
}

/// One layer of the image, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// Opens layer blobs. Called from several threads at once.
pub trait Blobs: Sync {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>>;
}

/// Told how indexing goes, for a progress bar. Called from the layer threads.
pub trait Progress: Sync {
    /// `layers` of the image must be read, `bytes` compressed bytes in all.
    fn start(&self, _layers: usize, _bytes: u64) {}
    /// `bytes` more compressed bytes were read.
    fn advance(&self, _bytes: u64) {}
    /// Layer `index` of the image is done.
    fn layer_done(&self, _index: usize) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the manifest lists {count} layers; at most {MAX_LAYERS} are indexed")]
    TooManyLayers { count: usize },
    #[error("cannot open layer {digest}: {source}")]
    Open {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("layer {digest}: {source}")]
    Layer {
        digest: Digest,
        #[source]
        source: LayerError,
    },
}

/// What indexing one image produced, and what it cost.
#[derive(Debug)]
pub struct Indexed {
    pub report: IndexReport,
    /// Layers read from blobs (the rest came from the cache).
    pub layers_read: usize,
    pub layers_cached: usize,
    /// Compressed bytes read.
    pub bytes_read: u64,
    /// Files a detector could not use: `(layer digest, path, reason)`.
    pub skipped: Vec<(String, String, String)>,
}

/// The indexer: a detector set and limits. Cheap to share between requests.
pub struct Indexer {
    detectors: Vec<Box<dyn Detector>>,
    limits: Limits,
    threads: usize,
    key: String,
}

impl Default for Indexer {
    fn default() -> Self {
        Indexer::new()
    }
}

impl Indexer {
    /// Every built-in detector, default limits, one thread per core.
    pub fn new() -> Indexer {
        Indexer::with_detectors(berth_detect::all_detectors())
    }

    pub fn with_detectors(detectors: Vec<Box<dyn Detector>>) -> Indexer {
        let mut ids: Vec<String> = detectors.iter().map(|d| d.id().to_string()).collect();
        ids.sort();
        let key = format!("index{};{}", scan::FORMAT, ids.join(","));
        Indexer {
            detectors,
            limits: Limits::default(),
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            key,
        }
    }

    pub fn limits(mut self, limits: Limits) -> Indexer {
        self.limits = limits;
        self
    }

    /// How many layers are read at once (at least one).
    pub fn threads(mut self, threads: usize) -> Indexer {
        self.threads = threads.max(1);
        self
    }

    /// Names the detector set and scan format: cached scans and stored reports made under a
    /// different key are stale.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Indexes the image whose manifest has digest `manifest` and lists `layers` (base
    /// first).
    pub fn index(
        &self,
        manifest: &Digest,
        layers: &[LayerRef],
        blobs: &dyn Blobs,
        cache: &dyn LayerCache,
        progress: &dyn Progress,
    ) -> Result<Indexed, IndexError> {
        if layers.len() > MAX_LAYERS {
            return Err(IndexError::TooManyLayers {
                count: layers.len(),
            });
        }
        let mut scans: Vec<Option<LayerScan>> = layers
            .iter()
            .map(|l| cache.get(&l.digest, &self.key))
            .collect();
        let missing: Vec<usize> = (0..layers.len())
            .filter(|i| scans.get(*i).is_some_and(Option::is_none))
            .collect();
        let missing_bytes = missing
            .iter()
            .filter_map(|i| layers.get(*i))
            .map(|l| l.size)
            .sum();
        progress.start(missing.len(), missing_bytes);
        for (i, s) in scans.iter().enumerate() {
            if s.is_some() {
                progress.layer_done(i);
            }
        }
        let read = self.read_layers(layers, &missing, blobs, cache, progress)?;
        let bytes_read = read.iter().map(|(_, s)| s.compressed_bytes).sum();
        for (i, scan) in read {
            if let Some(slot) = scans.get_mut(i) {
                *slot = Some(scan);
            }
        }
        let scans: Vec<&LayerScan> = scans.iter().flatten().collect();
        let image = coalesce::coalesce(&scans, &self.detectors);
        let digests: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
        let skipped = image
            .skipped
            .iter()
            .map(|(i, p, why)| {
                (
                    digests.get(*i).cloned().unwrap_or_default(),
                    p.clone(),
                    why.clone(),
                )
            })
            .collect();
        Ok(Indexed {
            report: report::build(&manifest.to_string(), &digests, &image),
            layers_read: missing.len(),
            layers_cached: layers.len() - missing.len(),
            bytes_read,
            skipped,
        })
    }

    /// Reads the layers at `which` on up to `self.threads` threads, caching each scan as it
    /// completes (layers are independent: one bad layer does not cost the others' work); the
    /// first failure stops the others at their next read.
    fn read_layers(
        &self,
        layers: &[LayerRef],
        which: &[usize],
        blobs: &dyn Blobs,
        cache: &dyn LayerCache,
        progress: &dyn Progress,
    ) -> Result<Vec<(usize, LayerScan)>, IndexError> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let done: Mutex<Vec<(usize, LayerScan)>> = Mutex::new(Vec::new());
        // The error that stopped the others; theirs ("stopped") are not the cause.
        let failure: Mutex<Option<IndexError>> = Mutex::new(None);
        let threads = self.threads.min(which.len());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = which.get(n) else { break };
                        let Some(layer) = layers.get(i) else { break };
                        match self.read_one(layer, blobs, progress, &stop) {
                            Ok(scan) => {
                                cache.put(&layer.digest, &self.key, &scan);
                                progress.layer_done(i);
                                if let Ok(mut d) = done.lock() {
                                    d.push((i, scan));
                                }
                            }
                            Err(e) => {
                                if !stop.swap(true, Ordering::SeqCst)
                                    && let Ok(mut f) = failure.lock()
                                {
                                    *f = Some(e);
                                }
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(done.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    fn read_one(
        &self,
        layer: &LayerRef,
        blobs: &dyn Blobs,
        progress: &dyn Progress,
        stop: &AtomicBool,
    ) -> Result<LayerScan, IndexError> {
        let reader = blobs.open(layer).map_err(|source| IndexError::Open {
            digest: layer.digest.clone(),
            source,
        })?;
        let mut counted = Counted {
            inner: reader,
            read: 0,
            progress,
            stop,
        };
        let mut scan = scan::scan_layer(
            &mut counted,
            &layer.media_type,
            &layer.digest,
            &self.detectors,
            &self.limits,
        )
        .map_err(|source| IndexError::Layer {
            digest: layer.digest.clone(),
            source,
        })?;
        scan.compressed_bytes = counted.read;
        Ok(scan)
    }
}

/// Counts bytes for the progress bar and gives up when another layer failed.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    progress: &'a dyn Progress,
    stop: &'a AtomicBool,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("indexing stopped: another layer failed"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
