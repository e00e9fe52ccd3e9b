//! The `index` measurement: how fast berth's image indexer reads real images.
//!
//! The indexer (`berth scan`, crate `berth-index`) is measured twice over:
//! - **in process**, with the library, exactly as the CLI calls it (`berth-source` for the OCI
//!   layout, `Indexer::new().index(..)`): cold (`NoCache`, every layer read), with one layer
//!   thread and with the default (one per core), and warm (every layer scan in a `DirCache`,
//!   the CLI's cache, or a `MemCache`, filled by a first run). Best of N runs each.
//! - **end to end**, as a child process: `berth scan --format json --no-cache -o FILE oci:..`,
//!   its wall time and its peak RSS (`ru_maxrss` from `wait4`, cross-checked by sampling
//!   `VmHWM` every 5 ms), then the same with a warm `--cache-dir`. The child is started by a
//!   small helper process (see [`run_child`]) so the bench's own memory does not leak into
//!   the child's `ru_maxrss`.
//!
//! The registry peer (Distribution) has no indexer, so the reference point is the machine's
//! own: single-threaded gzip decompression of the same layer blobs to a sink, with the same
//! decoder berth-layer uses (flate2 on the zlib-rs backend, `MultiGzDecoder` over the layout's
//! 256 KiB `BufReader`), measured in the same run and interleaved with the indexer's runs so a
//! change in machine load hits both. Indexing does that decompression and more (SHA-256 of the
//! compressed bytes, tar parsing, the detectors), but reads layers in parallel. An extra
//! row (no target) compares with gunzip + SHA-256 on one thread, the least work a verified
//! layer read can do: on incompressible layers gunzip alone runs at memory speed and the
//! digest check dominates.
//!
//! Every answer is checked: the cold report must list packages and have read every layer, the
//! warm reports must equal the cold one, and the CLI's JSON must list as many packages as the
//! library's report. A mismatch is reported as a failure next to the figures.
//!
//! Blocking: run it off the async runtime.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use berth_index::{
    Blobs, DirCache, Indexed, Indexer, LayerCache, LayerRef, MemCache, NoCache, Progress,
};
use berth_source::ImageSource;

use crate::report::{Sample, Target};

/// Targets from the issue.
const COLD_APP_VULN_S: f64 = 1.0;
const WARM_MS: f64 = 20.0;
const THROUGHPUT_VS_GZIP: f64 = 0.7;
const CLI_RSS_MIB: f64 = 150.0;
/// A `berth scan` child taking longer than this is killed and reported.
const CHILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Tools `make-images.sh` checks for before building anything (even for `large-random`
/// alone, which needs only umoci, skopeo and openssl).
const MAKE_IMAGES_TOOLS: &[&str] = &[
    "debootstrap",
    "umoci",
    "skopeo",
    "jq",
    "python3",
    "npm",
    "openssl",
    "sha256sum",
    "tar",
];
/// The images `make-images.sh` builds besides `large-random`, skipped here.
const OTHER_IMAGES: &str =
    "bookworm-minbase bookworm-python-vuln bookworm-app-vuln bookworm-app-whiteout multiarch-hello";

/// One image to index.
pub struct Image {
    /// Stable key in result ids (`app-vuln`, `large`).
    pub id: String,
    /// How the table names it (`bookworm:app-vuln`).
    pub label: String,
    /// OCI layout folder and the tag in it.
    pub dir: PathBuf,
    pub tag: String,
    /// Target for the cold in-process time, if the issue sets one for this image.
    pub cold_target_s: Option<f64>,
    /// Whether a correct report lists packages (`large-random` holds only random files).
    pub has_packages: bool,
}

impl Image {
    /// `bookworm:app-vuln` from the shared images (3 layers, 58 MB compressed).
    pub fn app_vuln(images: &Path) -> Image {
        Image {
            id: "app-vuln".into(),
            label: "bookworm:app-vuln".into(),
            dir: images.join("bookworm"),
            tag: "app-vuln".into(),
            cold_target_s: Some(COLD_APP_VULN_S),
            has_packages: true,
        }
    }

    fn transport(&self) -> String {
        format!("oci:{}:{}", self.dir.display(), self.tag)
    }
}

/// How many runs, which binary, where scratch files go.
pub struct Settings {
    /// Cold runs (in process, and of the CLI); the best is reported.
    pub runs: usize,
    /// Warm runs (they take milliseconds).
    pub warm_runs: usize,
    /// `berth` for the child-process figures; `None` skips them.
    pub berth_bin: Option<PathBuf>,
    pub work: PathBuf,
}

/// The figures: berth's, and the gzip reference's under the same ids (so the report's
/// berth/peer ratio is berth/reference), plus checks that failed.
#[derive(Default)]
pub struct Outcome {
    pub berth: Vec<Sample>,
    pub reference: Vec<Sample>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

/// The child process running now (a `berth scan`, or the `make-images.sh` process group when
/// negative), so an interrupted bench can end it.
static RUNNING: AtomicI32 = AtomicI32::new(0);

/// Ends the child started by this module, if one is running (on Ctrl-C / SIGTERM).
pub fn kill_running_child() {
    let pid = RUNNING.swap(0, Ordering::SeqCst);
    if pid != 0 {
        // SAFETY: kill(2) on a pid (or process group) this module started and has not reaped:
        // RUNNING is cleared before the child is reaped, so the pid cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Measures every image; a failing image is reported and the others still run.
pub fn measure(images: &[Image], s: &Settings) -> Outcome {
    let mut out = Outcome::default();
    for image in images {
        eprintln!("  indexing {} ({})", image.label, image.transport());
        if let Err(e) = measure_image(image, s, &mut out) {
            out.failures.push(format!("{}: {e:#}", image.label));
        }
    }
    out
}

/// Layer bytes from the image source, as `berth scan` reads them.
pub(crate) struct SourceBlobs<'a>(pub(crate) &'a dyn ImageSource);

impl Blobs for SourceBlobs<'_> {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
        self.0.open_blob(&layer.digest).map_err(io::Error::other)
    }
}

/// When the indexer started reading and when each layer finished.
#[derive(Default)]
struct Timeline {
    start: Mutex<Option<Instant>>,
    done: Mutex<Vec<(usize, Instant)>>,
}

impl Progress for Timeline {
    fn start(&self, _layers: usize, _bytes: u64) {
        if let Ok(mut s) = self.start.lock() {
            *s = Some(Instant::now());
        }
    }
    fn layer_done(&self, index: usize) {
        if let Ok(mut d) = self.done.lock() {
            d.push((index, Instant::now()));
        }
    }
}

/// One in-process indexing run.
struct Run {
    wall: Duration,
    /// CPU seconds of this process (all threads) during the run.
    cpu_s: f64,
    /// From the start of reading to the last layer done (the rest is coalescing + report).
    read_phase: Duration,
    /// Time of each layer in the order they finished, measured between consecutive
    /// completions: with one thread, each layer's own time.
    per_layer: Vec<Duration>,
    indexed: Indexed,
}

fn index_once(
    indexer: &Indexer,
    source: &dyn ImageSource,
    layers: &[LayerRef],
    cache: &dyn LayerCache,
) -> Result<Run> {
    let image = source.image();
    let timeline = Timeline::default();
    let cpu = crate::measure::own_cpu_seconds();
    let t = Instant::now();
    let indexed = indexer
        .index(
            &image.manifest_digest,
            layers,
            &SourceBlobs(source),
            cache,
            &timeline,
        )
        .context("indexing failed")?;
    let wall = t.elapsed();
    let cpu_s = crate::measure::own_cpu_seconds() - cpu;
    let start = timeline
        .start
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or(t);
    let mut done = timeline
        .done
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(_, at)| *at);
    let mut prev = start;
    let mut per_layer = Vec::new();
    for (_, at) in &done {
        per_layer.push(at.saturating_duration_since(prev));
        prev = *at;
    }
    Ok(Run {
        wall,
        cpu_s,
        read_phase: prev.saturating_duration_since(start),
        per_layer,
        indexed,
    })
}

/// Keeps the fastest of several runs.
fn keep_best<T>(best: &mut Option<T>, run: T, wall: impl Fn(&T) -> Duration) {
    if best.as_ref().is_none_or(|b| wall(&run) < wall(b)) {
        *best = Some(run);
    }
}

/// One pass of the reference: every layer gunzipped on one thread, to a sink.
struct Gunzip {
    total: Duration,
    per_layer: Vec<Duration>,
    uncompressed: u64,
}

/// Hashes what passes through it (the SHA-256 every layer read must check).
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// `hash`: also SHA-256 the compressed bytes, as the indexer does to verify each layer.
fn gunzip_all(source: &dyn ImageSource, layers: &[LayerRef], hash: bool) -> Result<Gunzip> {
    let mut g = Gunzip {
        total: Duration::ZERO,
        per_layer: Vec::new(),
        uncompressed: 0,
    };
    let mut buf = vec![0u8; 64 * 1024];
    for layer in layers {
        let t = Instant::now();
        let blob = source
            .open_blob(&layer.digest)
            .with_context(|| format!("opening layer {}", layer.digest))?;
        let blob: Box<dyn Read + '_> = if hash {
            Box::new(Hashing {
                inner: blob,
                hasher: sha2::Digest::new(),
            })
        } else {
            blob
        };
        let mut dec = flate2::read::MultiGzDecoder::new(blob);
        loop {
            let n = dec.read(&mut buf).with_context(|| {
                format!(
                    "gunzip of layer {} ({}): the reference needs gzip layers",
                    layer.digest, layer.media_type
                )
            })?;
            if n == 0 {
                break;
            }
            g.uncompressed += n as u64;
        }
        std::hint::black_box(&buf);
        let d = t.elapsed();
        g.per_layer.push(d);
        g.total += d;
    }
    Ok(g)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "0.41 s + 0.05 s + 0.01 s"
fn list(ds: &[Duration]) -> String {
    ds.iter()
        .map(|d| format!("{:.3} s", secs(*d)))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[allow(clippy::too_many_arguments)]
fn sample(
    id: String,
    label: String,
    unit: &'static str,
    higher: bool,
    value: f64,
    detail: String,
    rss_mib: f64,
    cpu_s: f64,
    target: Option<Target>,
) -> Sample {
    Sample {
        id,
        label,
        unit,
        higher_is_better: higher,
        value,
        detail,
        server_max_rss_mib: rss_mib,
        server_cpu_s: cpu_s,
        client_cpu_s: 0.0,
        target,
    }
}

fn measure_image(image: &Image, s: &Settings, out: &mut Outcome) -> Result<()> {
    let transport = berth_source::parse(&image.transport())
        .with_context(|| format!("bad reference {}", image.transport()))?;
    let source = berth_source::open(&transport, &berth_source::Options::default())
        .with_context(|| format!("cannot open {}", image.transport()))?;
    let layers: Vec<LayerRef> = source
        .image()
        .layers
        .iter()
        .filter(|l| berth_index::is_layer(&l.media_type))
        .map(|l| LayerRef {
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
        })
        .collect();
    if layers.is_empty() {
        bail!("no filesystem layers");
    }
    let bytes: u64 = layers.iter().map(|l| l.size).sum();
    let n = layers.len();
    let id = |what: &str| format!("index.{}.{what}", image.id);
    let runs = s.runs.max(1);

    let indexer = Indexer::new();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let indexer1 = Indexer::new().threads(1);

    // One untimed pass of each, so every timed run reads from the page cache.
    let warmup = gunzip_all(source.as_ref(), &layers, false)?;
    let first = index_once(&indexer, source.as_ref(), &layers, &NoCache)?;
    let cold_report = first.indexed.report.clone();
    if !cold_report.success || (image.has_packages && cold_report.packages.is_empty()) {
        bail!(
            "the cold report is not usable (success {}, {} packages)",
            cold_report.success,
            cold_report.packages.len()
        );
    }
    if first.indexed.layers_read != n || first.indexed.bytes_read != bytes {
        bail!(
            "the cold run read {} layers / {} bytes, expected {n} / {bytes}",
            first.indexed.layers_read,
            first.indexed.bytes_read
        );
    }
    let packages = cold_report.packages.len();

    // Cold, interleaved: reference, default threads, one thread.
    let (mut gz, mut gz_sha, mut cold, mut cold1): (
        Option<Gunzip>,
        Option<Gunzip>,
        Option<Run>,
        Option<Run>,
    ) = (None, None, None, None);
    let mut differs = 0;
    for _ in 0..runs {
        keep_best(&mut gz, gunzip_all(source.as_ref(), &layers, false)?, |g| {
            g.total
        });
        keep_best(
            &mut gz_sha,
            gunzip_all(source.as_ref(), &layers, true)?,
            |g| g.total,
        );
        for (idx, best) in [(&indexer, &mut cold), (&indexer1, &mut cold1)] {
            let r = index_once(idx, source.as_ref(), &layers, &NoCache)?;
            if r.indexed.report != cold_report {
                differs += 1;
            }
            keep_best(best, r, |r| r.wall);
        }
    }
    if differs > 0 {
        out.failures.push(format!(
            "{}: {differs} of {} cold reports differ from the first one",
            image.label,
            2 * runs
        ));
    }
    let (gz, gz_sha, cold, cold1) = (
        gz.context("no gzip run")?,
        gz_sha.context("no gzip + SHA-256 run")?,
        cold.context("no cold run")?,
        cold1.context("no 1-thread run")?,
    );
    if gz.uncompressed != warmup.uncompressed {
        bail!("gunzip produced different lengths on two passes");
    }

    // Warm: the CLI's cache (a folder of JSON files) and an in-memory one.
    let cache_dir = tempfile::Builder::new()
        .prefix("index-cache-")
        .tempdir_in(&s.work)?;
    let dir_cache = DirCache::new(cache_dir.path());
    let mem_cache = MemCache::default();
    let mut warm_results = Vec::new();
    for (name, cache) in [
        ("DirCache", &dir_cache as &dyn LayerCache),
        ("MemCache", &mem_cache),
    ] {
        let fill = index_once(&indexer, source.as_ref(), &layers, cache)?;
        if fill.indexed.layers_read != n {
            bail!(
                "{name}: the filling run read {} layers",
                fill.indexed.layers_read
            );
        }
        let mut best: Option<Run> = None;
        for _ in 0..s.warm_runs.max(1) {
            let r = index_once(&indexer, source.as_ref(), &layers, cache)?;
            if r.indexed.layers_cached != n || r.indexed.layers_read != 0 {
                out.failures.push(format!(
                    "{}: warm run with {name} read {} layers, {} cached (expected 0 and {n})",
                    image.label, r.indexed.layers_read, r.indexed.layers_cached
                ));
            } else if r.indexed.report != cold_report {
                out.failures.push(format!(
                    "{}: warm report from {name} differs from the cold one",
                    image.label
                ));
            }
            keep_best(&mut best, r, |r| r.wall);
        }
        warm_results.push((name, best.context("no warm run")?));
    }

    // Figures.
    let gz_detail = format!(
        "{n} layers, {:.1} MB -> {:.1} MB, 1 thread, per layer {}",
        mb(bytes),
        mb(gz.uncompressed),
        list(&gz.per_layer)
    );
    let cold_detail = format!(
        "best of {runs}, {threads} threads, {packages} packages; reading {:.3} s (layers done after {}), coalesce + report {:.1} ms; cpu {:.2} s",
        secs(cold.read_phase),
        list(&cold.per_layer),
        ms(cold.wall.saturating_sub(cold.read_phase)),
        cold.cpu_s
    );
    out.berth.push(sample(
        id("cold"),
        format!("index {}, cold (no cache)", image.label),
        "s",
        false,
        secs(cold.wall),
        cold_detail.clone(),
        0.0,
        cold.cpu_s,
        image.cold_target_s.map(Target::BerthBelow),
    ));
    out.reference.push(sample(
        id("cold"),
        String::new(),
        "s",
        false,
        secs(gz.total),
        gz_detail.clone(),
        0.0,
        0.0,
        None,
    ));
    out.berth.push(sample(
        id("throughput"),
        "  throughput, compressed bytes".into(),
        "MB/s",
        true,
        mb(bytes) / secs(cold.wall),
        format!("{:.1} MB in {:.3} s", mb(bytes), secs(cold.wall)),
        0.0,
        cold.cpu_s,
        Some(Target::RatioAtLeast(THROUGHPUT_VS_GZIP)),
    ));
    out.reference.push(sample(
        id("throughput"),
        String::new(),
        "MB/s",
        true,
        mb(bytes) / secs(gz.total),
        gz_detail.clone(),
        0.0,
        0.0,
        None,
    ));
    // Not a target: shows how much of the gap to plain gunzip is the digest check.
    out.berth.push(sample(
        id("throughput_vs_sha"),
        "  same, vs gzip -d + SHA-256, 1 thread".into(),
        "MB/s",
        true,
        mb(bytes) / secs(cold.wall),
        format!("{:.1} MB in {:.3} s", mb(bytes), secs(cold.wall)),
        0.0,
        cold.cpu_s,
        None,
    ));
    out.reference.push(sample(
        id("throughput_vs_sha"),
        String::new(),
        "MB/s",
        true,
        mb(bytes) / secs(gz_sha.total),
        format!(
            "gunzip + SHA-256 (sha2 0.10) of the compressed bytes, 1 thread, per layer {}",
            list(&gz_sha.per_layer)
        ),
        0.0,
        0.0,
        None,
    ));
    out.berth.push(sample(
        id("threads1"),
        "  cold, 1 layer thread".into(),
        "s",
        false,
        secs(cold1.wall),
        format!(
            "best of {runs}, per layer {} (sum {:.3} s), coalesce + report {:.1} ms; cpu {:.2} s",
            list(&cold1.per_layer),
            secs(cold1.read_phase),
            ms(cold1.wall.saturating_sub(cold1.read_phase)),
            cold1.cpu_s
        ),
        0.0,
        cold1.cpu_s,
        None,
    ));
    out.reference.push(sample(
        id("threads1"),
        String::new(),
        "s",
        false,
        secs(gz.total),
        gz_detail,
        0.0,
        0.0,
        None,
    ));
    // What parallel layer reads can gain at best: the layers' own times (from the 1-thread
    // run) spread over the threads, never below the longest layer.
    let sum = secs(cold1.read_phase);
    let longest = cold1.per_layer.iter().map(|d| secs(*d)).fold(0.0, f64::max);
    let ideal = if longest > 0.0 {
        sum / longest.max(sum / threads as f64)
    } else {
        1.0
    };
    out.berth.push(sample(
        id("speedup"),
        format!("  speedup, {threads} layer threads vs 1"),
        "x",
        true,
        secs(cold1.wall) / secs(cold.wall),
        format!(
            "{:.3} s / {:.3} s; reading: sum of layer times {sum:.3} s, wall {:.3} s",
            secs(cold1.wall),
            secs(cold.wall),
            secs(cold.read_phase)
        ),
        0.0,
        cold.cpu_s,
        None,
    ));
    out.berth.push(sample(
        id("speedup_ideal"),
        "  best possible speedup, these layers".into(),
        "x",
        true,
        ideal,
        format!(
            "sum of layer times {sum:.3} s / max(longest layer {longest:.3} s, sum / {threads})"
        ),
        0.0,
        0.0,
        None,
    ));
    for (name, run) in &warm_results {
        let target = (*name == "DirCache").then_some(Target::BerthBelow(WARM_MS));
        let label = if *name == "DirCache" {
            format!("index {}, warm (DirCache)", image.label)
        } else {
            format!("  warm ({name})")
        };
        out.berth.push(sample(
            id(&format!("warm.{}", name.to_lowercase())),
            label,
            "ms",
            false,
            ms(run.wall),
            format!(
                "best of {}, all {n} layer scans cached, coalesce + report",
                s.warm_runs.max(1)
            ),
            0.0,
            run.cpu_s,
            target,
        ));
    }

    match &s.berth_bin {
        Some(bin) => cli(image, bin, s, packages, out)?,
        None => out.notes.push(format!(
            "{}: no berth binary; CLI figures skipped",
            image.label
        )),
    }
    Ok(())
}

/// `berth scan` as a child: cold end-to-end time and peak RSS, then warm.
fn cli(image: &Image, bin: &Path, s: &Settings, packages: usize, out: &mut Outcome) -> Result<()> {
    let id = |what: &str| format!("index.{}.{what}", image.id);
    let scratch = tempfile::Builder::new()
        .prefix("index-cli-")
        .tempdir_in(&s.work)?;
    let json = scratch.path().join("report.json");
    let cache = scratch.path().join("cache");
    let transport = image.transport();
    let cold_args: Vec<&std::ffi::OsStr> = vec![
        "scan".as_ref(),
        "--format".as_ref(),
        "index".as_ref(),
        "--no-cache".as_ref(),
        "-o".as_ref(),
        json.as_os_str(),
        transport.as_ref(),
    ];
    let warm_args: Vec<&std::ffi::OsStr> = vec![
        "scan".as_ref(),
        "--format".as_ref(),
        "index".as_ref(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
        "-o".as_ref(),
        json.as_os_str(),
        transport.as_ref(),
    ];
    let check = |out: &mut Outcome, what: &str| -> Result<()> {
        let text = std::fs::read(&json).with_context(|| format!("{what}: no output file"))?;
        let v: serde_json::Value =
            serde_json::from_slice(&text).with_context(|| format!("{what}: output is not JSON"))?;
        let got = v["packages"].as_object().map_or(0, |p| p.len());
        if got != packages {
            out.failures.push(format!(
                "{}: {what} reported {got} packages, the library {packages}",
                image.label
            ));
        }
        let _ = std::fs::remove_file(&json);
        Ok(())
    };

    let runs = s.runs.max(1);
    let mut best: Option<ChildRun> = None;
    let (mut max_rss, mut max_hwm, mut floor) = (0u64, 0u64, 0u64);
    for _ in 0..runs {
        let r = run_child(bin, &cold_args, scratch.path())?;
        check(out, "berth scan --no-cache")?;
        max_rss = max_rss.max(r.max_rss_kib);
        max_hwm = max_hwm.max(r.sampled_hwm_kib);
        floor = floor.max(r.floor_kib);
        keep_best(&mut best, r, |r| r.wall);
    }
    let cold = best.context("no CLI run")?;
    out.berth.push(sample(
        id("cli"),
        format!("berth scan {} --no-cache", image.label),
        "s",
        false,
        secs(cold.wall),
        format!(
            "best of {runs}, end to end (start, open, index, JSON out); cpu {:.2} s",
            cold.cpu_s
        ),
        max_rss as f64 / 1024.0,
        cold.cpu_s,
        None,
    ));
    out.berth.push(sample(
        id("cli_rss"),
        "  max RSS of berth scan --no-cache".into(),
        "MiB",
        false,
        max_rss as f64 / 1024.0,
        format!(
            "highest ru_maxrss (wait4) of {runs} runs; VmHWM sampled every 5 ms: {:.1} MiB; floor (spawning helper's RSS): {:.1} MiB",
            max_hwm as f64 / 1024.0,
            floor as f64 / 1024.0
        ),
        max_rss as f64 / 1024.0,
        cold.cpu_s,
        Some(Target::BerthBelow(CLI_RSS_MIB)),
    ));

    // Warm: fill the cache folder once, then time.
    run_child(bin, &warm_args, scratch.path())?;
    check(out, "berth scan (filling the cache)")?;
    let mut best: Option<ChildRun> = None;
    for _ in 0..runs {
        let r = run_child(bin, &warm_args, scratch.path())?;
        check(out, "berth scan (warm cache)")?;
        keep_best(&mut best, r, |r| r.wall);
    }
    let warm = best.context("no warm CLI run")?;
    out.berth.push(sample(
        id("cli_warm"),
        format!("berth scan {}, warm --cache-dir", image.label),
        "ms",
        false,
        ms(warm.wall),
        format!(
            "best of {runs}, end to end, max RSS {:.1} MiB",
            warm.max_rss_kib as f64 / 1024.0
        ),
        warm.max_rss_kib as f64 / 1024.0,
        warm.cpu_s,
        None,
    ));
    Ok(())
}

/// What one child run cost.
pub(crate) struct ChildRun {
    pub(crate) wall: Duration,
    /// `ru_maxrss` of the child from `wait4` (KiB).
    pub(crate) max_rss_kib: u64,
    /// Highest `VmHWM` read from `/proc/PID/status` while it ran (KiB).
    pub(crate) sampled_hwm_kib: u64,
    /// The spawning helper's own peak RSS when it started the child (KiB): `ru_maxrss` of a
    /// child can never read below it (see [`rusage_helper`]).
    pub(crate) floor_kib: u64,
    pub(crate) cpu_s: f64,
}

/// The first argument that makes `berth-bench` run [`rusage_helper`] instead of the bench.
pub const HELPER_ARG: &str = "__index-rusage-helper";

/// Waits until child `pid` has exited, without reaping it: until it is reaped its pid (and
/// process group) cannot be reused, so [`RUNNING`] can be cleared first.
fn wait_exit(pid: libc::pid_t) {
    loop {
        // SAFETY: waitid on our own child, writing into a zeroed struct we own.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `bin args` through a fresh `berth-bench` process (the helper) in its own process
/// group, stdout discarded, stderr to a file shown on failure; killed after
/// [`CHILD_TIMEOUT`].
///
/// Why a helper: Linux counts the RSS of the process a child was spawned from in the child's
/// `ru_maxrss` (the old address space's high-water mark is kept at `execve`, and with
/// `vfork`/`posix_spawn` that is the parent's), so the bench, holding tens of MiB after the
/// in-process runs, would be the floor of every figure. The helper is a few MiB when it
/// spawns `berth`, and reports that floor with the figures.
pub(crate) fn run_child(bin: &Path, args: &[&std::ffi::OsStr], scratch: &Path) -> Result<ChildRun> {
    use std::os::unix::process::CommandExt as _;
    let err_path = scratch.join("stderr.txt");
    let err = std::fs::File::create(&err_path)?;
    let me = std::env::current_exe().context("locating berth-bench for the helper")?;
    let mut helper = Command::new(me)
        .arg(HELPER_ARG)
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .process_group(0)
        .spawn()
        .context("starting the rusage helper")?;
    let pid = helper.id() as libc::pid_t;
    RUNNING.store(-pid, Ordering::SeqCst);
    let exited = AtomicBool::new(false);
    let timed_out = AtomicBool::new(false);
    let mut line = String::new();
    let stdout = helper.stdout.take();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let t = Instant::now();
            while !exited.load(Ordering::SeqCst) {
                if t.elapsed() > CHILD_TIMEOUT && !timed_out.swap(true, Ordering::SeqCst) {
                    kill_running_child();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        if let Some(mut o) = stdout {
            let _ = o.read_to_string(&mut line);
        }
        wait_exit(pid);
        RUNNING.store(0, Ordering::SeqCst);
        exited.store(true, Ordering::SeqCst);
    });
    let status = helper.wait()?;
    if timed_out.load(Ordering::SeqCst) {
        bail!(
            "{} killed after {} s",
            bin.display(),
            CHILD_TIMEOUT.as_secs()
        );
    }
    let v: serde_json::Value = match serde_json::from_str(line.trim()) {
        Ok(v) if status.success() => v,
        _ => {
            let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
            let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
            bail!(
                "{} {} failed ({status}):\n{}",
                bin.display(),
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    };
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Ok(ChildRun {
        wall: Duration::from_secs_f64(num("wall_s")),
        max_rss_kib: num("maxrss_kib") as u64,
        sampled_hwm_kib: num("hwm_sampled_kib") as u64,
        floor_kib: num("helper_hwm_kib") as u64,
        cpu_s: num("cpu_s"),
    })
}

/// `berth-bench __index-rusage-helper PROG ARGS..`: runs PROG (stdin and stdout null,
/// stderr inherited), waits for it with `wait4`, and prints one JSON line: wall seconds,
/// `ru_maxrss`, CPU seconds, the highest `VmHWM` sampled every 5 ms, and this helper's own
/// peak RSS when it spawned PROG. Exits 0 only if PROG did.
pub fn rusage_helper(args: &[std::ffi::OsString]) -> ! {
    let code = match helper(args) {
        Ok((line, ok)) => {
            println!("{line}");
            if ok { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("rusage helper: {e:#}");
            2
        }
    };
    std::process::exit(code)
}

fn helper(args: &[std::ffi::OsString]) -> Result<(String, bool)> {
    let (prog, rest) = args.split_first().context("usage: PROG ARGS..")?;
    let floor = vm_hwm_kib(std::process::id()).unwrap_or(0);
    let t = Instant::now();
    let child = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", prog.to_string_lossy()))?;
    let pid = child.id();
    let exited = AtomicBool::new(false);
    let hwm = AtomicU64::new(0);
    let wall = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !exited.load(Ordering::SeqCst) {
                if let Some(v) = vm_hwm_kib(pid) {
                    hwm.fetch_max(v, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        wait_exit(pid as libc::pid_t);
        let wall = t.elapsed();
        exited.store(true, Ordering::SeqCst);
        wall
    });
    let mut status = 0;
    // SAFETY: wait4 on our own exited child, writing into structs we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    drop(child);
    if r != pid as libc::pid_t {
        bail!("wait4 failed: {}", io::Error::last_os_error());
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let line = serde_json::json!({
        "wall_s": wall.as_secs_f64(),
        "status": status,
        "maxrss_kib": ru.ru_maxrss,
        "hwm_sampled_kib": hwm.load(Ordering::Relaxed),
        "helper_hwm_kib": floor,
        "cpu_s": tv(ru.ru_utime) + tv(ru.ru_stime),
    });
    Ok((line.to_string(), ok))
}

/// The large image, or why it is not measured.
pub enum Large {
    Ready(Image),
    Skipped(String),
}

/// Finds `large-random` (LARGE_LAYERS x LARGE_LAYER_MB MiB of incompressible data, built by
/// `make-images.sh`) under `cache`, building it there once when absent.
pub fn large_image(script: &Path, cache: &Path) -> Result<Large> {
    let knob = |name: &str, default: u64| -> Result<u64> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse()
                .with_context(|| format!("{name}={v:?} is not a number")),
            Err(_) => Ok(default),
        }
    };
    let (count, mib) = (knob("LARGE_LAYERS", 5)?, knob("LARGE_LAYER_MB", 100)?);
    let out = cache.join(format!("large-{count}x{mib}"));
    let image = Image {
        id: "large".into(),
        label: format!("large-random {count}x{mib}MiB"),
        dir: out.join("large-random"),
        tag: "latest".into(),
        cold_target_s: None,
        has_packages: false,
    };
    // make-images.sh writes `.buildinfo` after the layout is complete.
    if image.dir.join("index.json").exists() && out.join("large-random.buildinfo").exists() {
        return Ok(Large::Ready(image));
    }
    if !script.exists() {
        return Ok(Large::Skipped(format!(
            "{} not found (set BERTH_SHARED)",
            script.display()
        )));
    }
    let missing: Vec<&str> = MAKE_IMAGES_TOOLS
        .iter()
        .copied()
        .filter(|t| !on_path(t))
        .collect();
    if !missing.is_empty() {
        return Ok(Large::Skipped(format!(
            "{} needs tools that are missing: {} (e.g. apt-get install -y {}); it checks for all of them even to build large-random alone",
            script.display(),
            missing.join(" "),
            missing.join(" ")
        )));
    }
    std::fs::create_dir_all(&out)?;
    let log = out.join("make-images.log");
    eprintln!(
        "  building large-random ({count} x {mib} MiB) with {} into {} (once; log {})",
        script.display(),
        out.display(),
        log.display()
    );
    let t = Instant::now();
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        Command::new("bash")
            .arg(script)
            .arg(&out)
            .env("SKIP", OTHER_IMAGES)
            .env("LARGE_LAYERS", count.to_string())
            .env("LARGE_LAYER_MB", mib.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::options().append(true).open(&log)?)
            .process_group(0)
            .spawn()
            .context("running make-images.sh")?
    };
    // Negative: the whole process group (bash, umoci, openssl) is ended on interruption.
    RUNNING.store(-(child.id() as i32), Ordering::SeqCst);
    wait_exit(child.id() as libc::pid_t);
    RUNNING.store(0, Ordering::SeqCst);
    let status = child.wait();
    let status = status?;
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        bail!(
            "make-images.sh failed ({status}):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    if !image.dir.join("index.json").exists() {
        bail!(
            "make-images.sh succeeded but {} is missing",
            image.dir.display()
        );
    }
    eprintln!("  built in {:.0} s", t.elapsed().as_secs_f64());
    Ok(Large::Ready(image))
}

fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}
