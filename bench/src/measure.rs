//! The measurements, each run against one registry at a time.
//!
//! Each measurement is bounded (a request count, a duration, and an overall timeout in
//! `main`), checks every answer it gets (a fast wrong answer is a failure, not a result), and
//! records the server's peak RSS and CPU time over its own span.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::data::{BlobSpec, Digests, Pool, hex};
use crate::http::Conn;
use crate::oci::{self, ACCEPT_MANIFESTS, UploadMode};
use crate::report::{Sample, Target};
use crate::server::Server;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Sizes, counts and durations of one run; `--quick` shrinks all of them.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Blob sizes for upload and download, with the repetitions of each.
    pub sizes: Vec<(u64, usize)>,
    /// Download repetitions per size.
    pub download_reps: Vec<usize>,
    /// Number of distinct 4 KiB blobs cycled through by the small-blob GETs.
    pub small_blobs: usize,
    /// Duration of each request-rate measurement.
    pub load: Duration,
    /// Upper bound on requests in one request-rate measurement.
    pub max_requests: u64,
    /// Concurrent uploads and the size of each, for the memory-under-load measurement.
    pub concurrent: (usize, u64),
    /// Bytes hashed and written for the machine limits.
    pub limit_bytes: u64,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                sizes: vec![(MIB, 10), (32 * MIB, 2), (256 * MIB, 1)],
                download_reps: vec![10, 3, 2],
                small_blobs: 64,
                load: Duration::from_secs(1),
                max_requests: 200_000,
                concurrent: (16, 64 * MIB),
                limit_bytes: 256 * MIB,
            }
        } else {
            Plan {
                sizes: vec![(MIB, 30), (100 * MIB, 3), (GIB, 2)],
                download_reps: vec![30, 5, 2],
                small_blobs: 256,
                load: Duration::from_secs(3),
                max_requests: 1_000_000,
                concurrent: (16, GIB),
                limit_bytes: GIB,
            }
        }
    }

    /// The largest upload size: the 1 GiB targets apply to it.
    pub fn largest(&self) -> u64 {
        self.sizes.iter().map(|s| s.0).max().unwrap_or(0)
    }

    /// The large generated blobs the selected measurements push, so their digests can be
    /// prepared before any timing (small blobs are hashed when needed).
    pub fn large_specs(&self, selected: impl Fn(&str) -> bool) -> Vec<BlobSpec> {
        let mut v = Vec::new();
        if selected("upload") || selected("download") {
            for mode in [MONO, CHUNKED] {
                for &(size, reps) in &self.sizes {
                    v.extend((0..reps).map(|r| upload_spec(mode, size, r)));
                }
            }
        }
        if selected("concurrent") {
            let (n, size) = self.concurrent;
            v.extend((0..n).map(|i| BlobSpec::new(CONCURRENT + i as u64, size)));
        }
        v
    }
}

// Seed ranges of the different blob families; both registries get the same blobs.
const MONO: u64 = 1_000_000;
const CHUNKED: u64 = 2_000_000;
const SMALL: u64 = 3_000_000;
const CONCURRENT: u64 = 4_000_000;
const MANIFEST_LAYER: u64 = 5_000_000;

fn upload_spec(family: u64, size: u64, rep: usize) -> BlobSpec {
    BlobSpec::new(family + (size / 1024) * 100 + rep as u64, size)
}

/// "1 MiB", "100 MiB", "1 GiB"
pub fn size_label(b: u64) -> String {
    if b >= GIB && b.is_multiple_of(GIB) {
        format!("{} GiB", b / GIB)
    } else if b >= MIB {
        format!("{} MiB", b / MIB)
    } else {
        format!("{} KiB", b / 1024)
    }
}

/// "1MiB": the size in result ids.
fn size_id(b: u64) -> String {
    size_label(b).replace(' ', "")
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

/// Shared state of a run: the data generator, the digests, the plan and the machine limit.
pub struct Ctx {
    pub pool: Pool,
    pub digests: Digests,
    pub plan: Plan,
    /// min(SHA-256 rate, durable write rate) in MiB/s, once measured.
    pub machine_limit: Option<f64>,
    pub images: std::path::PathBuf,
    pub work: std::path::PathBuf,
}

/// Collects one measurement's samples with the server's RSS and CPU over its span.
pub struct Recorder<'a> {
    srv: &'a Server,
    pub samples: Vec<Sample>,
}

impl<'a> Recorder<'a> {
    pub fn new(srv: &'a Server) -> Self {
        Recorder {
            srv,
            samples: Vec::new(),
        }
    }

    /// Runs `f` as a phase and returns its result with the phase's resource figures.
    async fn phase<T>(
        &self,
        f: impl std::future::Future<Output = Result<T>>,
    ) -> Result<(T, Stats)> {
        let p = self.srv.phase_start();
        let client = own_cpu_seconds();
        let out = f.await?;
        let (kib, cpu) = self.srv.phase_end(p);
        let stats = Stats {
            rss_mib: kib as f64 / 1024.0,
            server_cpu_s: cpu,
            client_cpu_s: own_cpu_seconds() - client,
        };
        Ok((out, stats))
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: String,
        label: String,
        unit: &'static str,
        higher: bool,
        value: f64,
        detail: String,
        st: &Stats,
    ) -> &mut Sample {
        self.samples.push(Sample {
            id,
            label,
            unit,
            higher_is_better: higher,
            value,
            detail,
            server_max_rss_mib: st.rss_mib,
            server_cpu_s: st.server_cpu_s,
            client_cpu_s: st.client_cpu_s,
            target: None,
        });
        self.samples.last_mut().expect("just pushed")
    }
}

/// Resources used during one phase.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Highest server VmRSS sampled, MiB.
    pub rss_mib: f64,
    /// Server CPU seconds.
    pub server_cpu_s: f64,
    /// The bench's own CPU seconds: shows whether the load generator was a bottleneck.
    pub client_cpu_s: f64,
}

/// User + system CPU seconds of this process so far.
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Flushes dirty pages so one measurement's writeback does not land in the next one's timing.
pub fn sync_disk() {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
}

/// Blob upload throughput per size and mode; keeps the monolithic blobs for `download`.
pub async fn upload(
    ctx: &mut Ctx,
    srv: &Server,
    rec: &mut Recorder<'_>,
    uploaded: &mut Vec<(BlobSpec, String)>,
) -> Result<()> {
    let repo = "bench/upload";
    let largest = ctx.plan.largest();
    for (family, mode_of) in [(MONO, None), (CHUNKED, Some(()))] {
        for &(size, reps) in &ctx.plan.sizes.clone() {
            let mode = match mode_of {
                None => UploadMode::Monolithic,
                Some(()) => UploadMode::Chunked {
                    chunk: if size >= 64 * MIB {
                        16 * MIB
                    } else {
                        (size / 4).max(64 * 1024)
                    },
                },
            };
            let specs: Vec<(BlobSpec, String)> = (0..reps)
                .map(|r| {
                    let s = upload_spec(family, size, r);
                    (s, ctx.digests.get(s))
                })
                .collect();
            sync_disk();
            let mut conn = Conn::new(srv.addr);
            let pool = ctx.pool.clone();
            let (elapsed, st) = rec
                .phase(async {
                    let mut total = Duration::ZERO;
                    for (spec, digest) in &specs {
                        if size >= 64 * MIB {
                            sync_disk();
                        }
                        let t = Instant::now();
                        oci::upload(&mut conn, &pool, repo, *spec, digest, mode).await?;
                        total += t.elapsed();
                    }
                    Ok(total)
                })
                .await?;
            for (spec, digest) in &specs {
                oci::head_blob(&mut conn, repo, digest, spec.size).await?;
            }
            let rate = mib_s(size * reps as u64, elapsed);
            let chunk_note = match mode {
                UploadMode::Chunked { chunk } => format!(", {} chunks", size_label(chunk)),
                UploadMode::Monolithic => String::new(),
            };
            let id = format!("upload.{}.{}", mode.name(), size_id(size));
            let label = format!("upload {} {}", mode.name(), size_label(size));
            let detail = format!(
                "{reps} x {}{chunk_note} in {:.2} s",
                size_label(size),
                elapsed.as_secs_f64()
            );
            let s = rec.push(
                id.clone(),
                label.clone(),
                "MiB/s",
                true,
                rate,
                detail.clone(),
                &st,
            );
            if size == largest {
                s.target = Some(Target::RatioAtLeast(2.0));
                if let Some(limit) = ctx.machine_limit {
                    let frac = rate / limit;
                    let d = format!(
                        "{rate:.0} MiB/s of min(SHA-256, durable write) = {limit:.0} MiB/s"
                    );
                    let s = rec.push(
                        format!("{id}.vs_limit"),
                        format!("{label} / machine limit"),
                        "frac",
                        true,
                        frac,
                        d,
                        &st,
                    );
                    s.target = Some(Target::BerthAtLeast(0.8));
                }
            }
            if mode == UploadMode::Monolithic {
                uploaded.extend(specs);
            }
        }
    }
    Ok(())
}

/// Blob download throughput per size (whole-blob GETs, body counted and discarded), plus a
/// Range request whose bytes are compared with what was uploaded.
pub async fn download(
    ctx: &mut Ctx,
    srv: &Server,
    rec: &mut Recorder<'_>,
    uploaded: &mut Vec<(BlobSpec, String)>,
) -> Result<()> {
    let repo = "bench/upload";
    let mut conn = Conn::new(srv.addr);
    let largest = ctx.plan.largest();
    for (i, &(size, _)) in ctx.plan.sizes.clone().iter().enumerate() {
        let reps = ctx.plan.download_reps.get(i).copied().unwrap_or(1);
        let (spec, digest) = match uploaded.iter().find(|(s, _)| s.size == size) {
            Some(x) => x.clone(),
            None => {
                // `upload` was not selected: push the blob untimed.
                let s = upload_spec(MONO, size, 0);
                let d = ctx.digests.get(s);
                oci::upload(&mut conn, &ctx.pool, repo, s, &d, UploadMode::Monolithic).await?;
                uploaded.push((s, d.clone()));
                (s, d)
            }
        };
        oci::check_range(&mut conn, &ctx.pool, repo, spec, &digest).await?;
        // One untimed read so both registries serve from a warm page cache.
        oci::get_blob(&mut conn, repo, &digest, size).await?;
        let (elapsed, st) = rec
            .phase(async {
                let t = Instant::now();
                for _ in 0..reps {
                    oci::get_blob(&mut conn, repo, &digest, size).await?;
                }
                Ok(t.elapsed())
            })
            .await?;
        let s = rec.push(
            format!("download.{}", size_id(size)),
            format!("download {}", size_label(size)),
            "MiB/s",
            true,
            mib_s(size * reps as u64, elapsed),
            format!(
                "{reps} x {} in {:.2} s",
                size_label(size),
                elapsed.as_secs_f64()
            ),
            &st,
        );
        if size >= 64 * MIB || size == largest {
            s.target = Some(Target::RatioAtLeast(1.0));
        }
    }
    Ok(())
}

/// Result of a request-rate run.
struct Load {
    requests: u64,
    elapsed: Duration,
    /// Sorted latencies in microseconds.
    lat_us: Vec<u32>,
}

impl Load {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn pct_ms(&self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return 0.0;
        }
        let i = ((self.lat_us.len() as f64 * p).ceil() as usize).clamp(1, self.lat_us.len()) - 1;
        self.lat_us[i] as f64 / 1000.0
    }
}

/// One GET of `paths[i % len]`, checked for 200 and the expected length.
async fn get_checked(
    conn: &mut Conn,
    paths: &[(String, u64)],
    i: usize,
    accept: Option<&'static str>,
) -> Result<()> {
    let (path, len) = &paths[i % paths.len()];
    let headers: &[(header::HeaderName, &str)] = match accept {
        Some(a) => &[(header::ACCEPT, a)],
        None => &[],
    };
    let r = conn.call_discard(Method::GET, path, headers).await?;
    if r.status != StatusCode::OK || r.body_len != *len {
        bail!(
            "GET {path}: expected 200 with {len} bytes, got {} with {} bytes",
            r.status,
            r.body_len
        );
    }
    Ok(())
}

/// GETs `paths` from `concurrency` connections for `dur` (or `max` requests), each answer
/// checked for 200 and the expected length. Every connection makes one warm-up request
/// before the clock starts, so connection setup is not measured.
async fn load(
    srv: &Server,
    paths: Arc<Vec<(String, u64)>>,
    accept: Option<&'static str>,
    concurrency: usize,
    dur: Duration,
    max: u64,
) -> Result<Load> {
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let issued = Arc::new(AtomicU64::new(0));
    // A JoinSet aborts the workers if this future is dropped (timeout, Ctrl-C).
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (barrier, issued, paths, addr) =
            (barrier.clone(), issued.clone(), paths.clone(), srv.addr);
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let warm = get_checked(&mut conn, &paths, w, accept).await;
            barrier.wait().await;
            warm.with_context(|| format!("connection {w} of {concurrency}, warm-up"))?;
            let deadline = Instant::now() + dur;
            let mut lat = Vec::with_capacity(4096);
            let mut i = w;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
                let t = Instant::now();
                get_checked(&mut conn, &paths, i, accept)
                    .await
                    .with_context(|| format!("connection {w} of {concurrency}"))?;
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                i += concurrency;
            }
            anyhow::Ok(lat)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut lat_us = Vec::new();
    let mut first_err = None;
    while let Some(t) = tasks.join_next().await {
        match t.context("load worker panicked")? {
            Ok(l) => lat_us.extend(l),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let elapsed = start.elapsed();
    if let Some(e) = first_err {
        return Err(e);
    }
    lat_us.sort_unstable();
    Ok(Load {
        requests: lat_us.len() as u64,
        elapsed,
        lat_us,
    })
}

/// Small-blob (4 KiB) GET request rate at concurrency 1 and 32, after pushing the blobs.
pub async fn small(ctx: &mut Ctx, srv: &Server, rec: &mut Recorder<'_>) -> Result<()> {
    let repo = "bench/small";
    let n = ctx.plan.small_blobs;
    let blobs: Vec<(Bytes, String)> = (0..n)
        .map(|i| {
            let s = BlobSpec::new(SMALL + i as u64, 4096);
            (ctx.pool.whole(s), ctx.digests.get(s))
        })
        .collect();
    // Push them from 8 connections; timed for information only.
    let blobs = Arc::new(blobs);
    let (elapsed, st) = rec
        .phase(async {
            let t = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for w in 0..8 {
                let (blobs, addr) = (blobs.clone(), srv.addr);
                tasks.spawn(async move {
                    let mut conn = Conn::new(addr);
                    for (data, digest) in blobs.iter().skip(w).step_by(8) {
                        oci::upload_bytes(&mut conn, repo, data.clone(), digest).await?;
                    }
                    anyhow::Ok(())
                });
            }
            while let Some(t) = tasks.join_next().await {
                t??;
            }
            Ok(t.elapsed())
        })
        .await?;
    rec.push(
        "small.upload.c8".into(),
        "upload 4 KiB blobs, c=8".into(),
        "blobs/s",
        true,
        n as f64 / elapsed.as_secs_f64(),
        format!(
            "{n} blobs (POST + PUT each) in {:.2} s",
            elapsed.as_secs_f64()
        ),
        &st,
    );
    let paths: Arc<Vec<(String, u64)>> = Arc::new(
        blobs
            .iter()
            .map(|(_, d)| (format!("/v2/{repo}/blobs/{d}"), 4096))
            .collect(),
    );
    for c in [1usize, 32] {
        let (l, st) = rec
            .phase(load(
                srv,
                paths.clone(),
                None,
                c,
                ctx.plan.load,
                ctx.plan.max_requests,
            ))
            .await?;
        let detail = format!(
            "{} GETs in {:.2} s, p50 {:.3} ms, p99 {:.3} ms",
            l.requests,
            l.elapsed.as_secs_f64(),
            l.pct_ms(0.5),
            l.pct_ms(0.99)
        );
        let s = rec.push(
            format!("small.get.c{c}"),
            format!("GET 4 KiB blob, c={c}"),
            "req/s",
            true,
            l.rps(),
            detail,
            &st,
        );
        if c == 32 {
            s.target = Some(Target::RatioAtLeast(2.0));
        }
    }
    Ok(())
}

/// Manifest GET by tag at concurrency 1, 32 and 256: request rate and p99 latency.
pub async fn manifest(ctx: &mut Ctx, srv: &Server, rec: &mut Recorder<'_>) -> Result<()> {
    let repo = "bench/manifest";
    let mut conn = Conn::new(srv.addr);
    let layer = BlobSpec::new(MANIFEST_LAYER, 4096);
    let layer_digest = ctx.digests.get(layer);
    oci::upload_bytes(&mut conn, repo, ctx.pool.whole(layer), &layer_digest).await?;
    let config = Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
    ));
    let config_digest = format!("sha256:{}", hex(&Sha256::digest(&config)));
    oci::upload_bytes(&mut conn, repo, config.clone(), &config_digest).await?;
    let manifest = Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer_digest}","size":4096}}]}}"#,
        config.len()
    ));
    let want_digest = format!("sha256:{}", hex(&Sha256::digest(&manifest)));
    let got = oci::put_manifest(&mut conn, repo, "v1", manifest.clone()).await?;
    if !got.is_empty() && got != want_digest {
        bail!("PUT /v2/{repo}/manifests/v1: Docker-Content-Digest {got}, expected {want_digest}");
    }
    // Check one answer fully before measuring many.
    let path = format!("/v2/{repo}/manifests/v1");
    let what = format!("GET {path}");
    let r = conn
        .call(
            Method::GET,
            &path,
            &[(header::ACCEPT, ACCEPT_MANIFESTS)],
            crate::http::ReqBody::Empty,
        )
        .await?
        .expect(&what, StatusCode::OK)?;
    if r.body != manifest {
        bail!("{what}: body differs from the manifest pushed");
    }
    if r.header("content-type") != Some(oci::OCI_MANIFEST) {
        bail!(
            "{what}: Content-Type {:?}, expected {}",
            r.header("content-type"),
            oci::OCI_MANIFEST
        );
    }
    if r.header("docker-content-digest") != Some(want_digest.as_str()) {
        bail!(
            "{what}: Docker-Content-Digest {:?}, expected {want_digest}",
            r.header("docker-content-digest")
        );
    }
    let paths = Arc::new(vec![(path, manifest.len() as u64)]);
    for c in [1usize, 32, 256] {
        let (l, st) = rec
            .phase(load(
                srv,
                paths.clone(),
                Some(ACCEPT_MANIFESTS),
                c,
                ctx.plan.load,
                ctx.plan.max_requests,
            ))
            .await?;
        let detail = format!(
            "{} GETs in {:.2} s, p50 {:.3} ms",
            l.requests,
            l.elapsed.as_secs_f64(),
            l.pct_ms(0.5)
        );
        let s = rec.push(
            format!("manifest.get.c{c}"),
            format!("GET manifest by tag, c={c}"),
            "req/s",
            true,
            l.rps(),
            detail.clone(),
            &st,
        );
        if c == 32 {
            s.target = Some(Target::RatioAtLeast(3.0));
        }
        let s = rec.push(
            format!("manifest.get.c{c}.p99"),
            format!("  p99 latency, c={c}"),
            "ms",
            false,
            l.pct_ms(0.99),
            detail,
            &st,
        );
        if c == 32 {
            s.target = Some(Target::BerthBelow(2.0));
        }
    }
    Ok(())
}

/// Runs skopeo with a time limit, failing with its output.
pub(crate) async fn skopeo(args: &[&str]) -> Result<Duration> {
    let t = Instant::now();
    let mut cmd = tokio::process::Command::new("skopeo");
    cmd.arg("--insecure-policy").args(args).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .with_context(|| format!("skopeo {} timed out after 300 s", args.join(" ")))?
        .context("running skopeo (apt-get install -y skopeo)")?;
    if !out.status.success() {
        bail!(
            "skopeo {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(t.elapsed())
}

/// A real client's push and pull of `bookworm:app-vuln` (3 layers, about 50 MB).
pub async fn skopeo_copy(ctx: &mut Ctx, srv: &Server, rec: &mut Recorder<'_>) -> Result<()> {
    let src = format!("oci:{}:app-vuln", ctx.images.join("bookworm").display());
    let remote = format!("docker://{}/bench/app:v1", srv.addr);
    let pulled = ctx.work.join(format!("pull-{}", srv.kind.name()));
    let _ = std::fs::remove_dir_all(&pulled);
    let dest = format!("oci:{}:v1", pulled.display());
    // berth wants credentials (skopeo then fetches tokens itself); Distribution runs open.
    let creds = crate::http::basic_for(srv.addr).map(|_| {
        format!(
            "{}:{}",
            crate::server::BENCH_USER,
            crate::server::BENCH_PASSWORD
        )
    });
    let mut push_args = vec!["copy", "--dest-tls-verify=false"];
    let mut pull_args = vec!["copy", "--src-tls-verify=false"];
    if let Some(c) = &creds {
        push_args.extend(["--dest-creds", c]);
        pull_args.extend(["--src-creds", c]);
    }
    push_args.extend([src.as_str(), remote.as_str()]);
    pull_args.extend([remote.as_str(), dest.as_str()]);
    let (push, st) = rec.phase(skopeo(&push_args)).await?;
    rec.push(
        "skopeo.push".into(),
        "skopeo push bookworm:app-vuln".into(),
        "s",
        false,
        push.as_secs_f64(),
        format!("{src} -> {remote}"),
        &st,
    );
    let (pull, st) = rec.phase(skopeo(&pull_args)).await?;
    rec.push(
        "skopeo.pull".into(),
        "skopeo pull bookworm:app-vuln".into(),
        "s",
        false,
        pull.as_secs_f64(),
        format!("{remote} -> {dest}"),
        &st,
    );
    let _ = std::fs::remove_dir_all(&pulled);
    Ok(())
}

/// Server memory while N clients each push a large blob at the same time.
pub async fn concurrent(ctx: &mut Ctx, srv: &Server, rec: &mut Recorder<'_>) -> Result<()> {
    let repo = "bench/concurrent";
    let (n, size) = ctx.plan.concurrent;
    let specs: Vec<(BlobSpec, String)> = (0..n)
        .map(|i| {
            let s = BlobSpec::new(CONCURRENT + i as u64, size);
            (s, ctx.digests.get(s))
        })
        .collect();
    sync_disk();
    let (elapsed, st) = rec
        .phase(async {
            let t = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for (spec, digest) in specs.clone() {
                let (pool, addr) = (ctx.pool.clone(), srv.addr);
                tasks.spawn(async move {
                    let mut conn = Conn::new(addr);
                    oci::upload(
                        &mut conn,
                        &pool,
                        repo,
                        spec,
                        &digest,
                        UploadMode::Monolithic,
                    )
                    .await
                });
            }
            while let Some(t) = tasks.join_next().await {
                t??;
            }
            Ok(t.elapsed())
        })
        .await?;
    let label = format!("{n}x{}", size_label(size).replace(' ', ""));
    let detail = format!(
        "{n} concurrent monolithic uploads of {} in {:.2} s",
        size_label(size),
        elapsed.as_secs_f64()
    );
    let s = rec.push(
        "concurrent.rss".into(),
        format!("max RSS during {label} uploads"),
        "MiB",
        false,
        st.rss_mib,
        detail.clone(),
        &st,
    );
    s.target = Some(Target::BerthBelow(64.0));
    rec.push(
        "concurrent.rate".into(),
        format!("aggregate rate of {label} uploads"),
        "MiB/s",
        true,
        mib_s(size * n as u64, elapsed),
        detail,
        &st,
    );
    let mut conn = Conn::new(srv.addr);
    for (spec, digest) in &specs {
        oci::head_blob(&mut conn, repo, digest, spec.size).await?;
    }
    Ok(())
}

/// Whole-run memory figures, taken just before the server stops.
pub fn peak(srv: &Server, rec: &mut Recorder<'_>) {
    let max = srv.max_rss_kib() as f64 / 1024.0;
    let cpu = srv.total_cpu();
    let st = Stats {
        rss_mib: max,
        server_cpu_s: cpu,
        client_cpu_s: own_cpu_seconds(),
    };
    if let Some(hwm) = srv.hwm_kib() {
        rec.push(
            "peak.vmhwm".into(),
            "peak RSS over the run (VmHWM)".into(),
            "MiB",
            false,
            hwm as f64 / 1024.0,
            String::new(),
            &st,
        );
    }
    rec.push(
        "peak.sampled".into(),
        "max sampled VmRSS over the run".into(),
        "MiB",
        false,
        max,
        "sampled every 10 ms".into(),
        &st,
    );
    rec.push(
        "peak.cpu".into(),
        "server CPU time over the run".into(),
        "s",
        false,
        cpu,
        "user + system".into(),
        &st,
    );
}

/// Checks that the images folder has the layout skopeo needs.
pub fn check_images(images: &Path) -> Result<()> {
    let idx = images.join("bookworm/index.json");
    if !idx.exists() {
        bail!("{} not found (set BERTH_SHARED or --shared)", idx.display());
    }
    Ok(())
}

/// What authentication costs: the token service's rate (`/v2/auth` with a robot token and
/// with a password), and the per-request work of the `/v2` gate measured in process on
/// the same code berth runs (a token-cache hit and a full signature check). Distribution
/// runs without authentication, so its side records nothing here.
pub async fn auth(ctx: &mut Ctx, srv: &Server, rec: &mut Recorder<'_>) -> Result<()> {
    let Some(basic) = crate::http::basic_for(srv.addr) else {
        return Ok(());
    };
    let _ = ctx;
    // A robot, made the way an operator would, for the cheap credential path.
    let bin = crate::server::berth_bin().context("berth binary unknown")?;
    let out = tokio::process::Command::new(bin)
        .args(["admin", "--data-dir"])
        .arg(&srv.data_dir)
        .args(["robot", "create", crate::server::BENCH_USER, "bench"])
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let robot_token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .with_context(|| format!("berth admin robot create: {stdout}"))?
        .to_owned();
    let robot_basic = format!(
        "Basic {}",
        crate::http::base64(
            format!("{}+bench:{robot_token}", crate::server::BENCH_USER).as_bytes()
        )
    );
    for (id, label, creds, c) in [
        (
            "auth.token.robot",
            "GET /v2/auth, robot token, c=8",
            robot_basic.clone(),
            8usize,
        ),
        (
            "auth.token.password",
            "GET /v2/auth, password (argon2id), c=2",
            basic.clone(),
            2,
        ),
    ] {
        let (l, st) = rec
            .phase(token_load(srv.addr, creds, c, Duration::from_secs(3)))
            .await?;
        let detail = format!(
            "{} tokens in {:.2} s, p50 {:.3} ms",
            l.requests,
            l.elapsed.as_secs_f64(),
            l.pct_ms(0.5)
        );
        rec.push(id.into(), label.into(), "req/s", true, l.rps(), detail, &st);
    }
    // The gate, in process: verify + scope check, as `berth-api` does for each request.
    let (hit_us, full_us) = gate_cost()?;
    let st = Stats::default();
    let s = rec.push(
        "auth.gate.cached".into(),
        "auth per request (cached token)".into(),
        "us",
        false,
        hit_us,
        "token-cache hit + scope check, no database".into(),
        &st,
    );
    s.target = Some(Target::BerthBelow(50.0));
    rec.push(
        "auth.gate.first".into(),
        "auth, first use of a token".into(),
        "us",
        false,
        full_us,
        "Ed25519 signature check + claims + scope check".into(),
        &st,
    );
    Ok(())
}

/// `/v2/auth` from `concurrency` connections for `dur`.
async fn token_load(
    addr: std::net::SocketAddr,
    basic: String,
    concurrency: usize,
    dur: Duration,
) -> Result<Load> {
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..concurrency {
        let basic = basic.clone();
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let path = "/v2/auth?service=berth&scope=repository:bench/manifest:pull";
            let mut lat = Vec::new();
            let deadline = Instant::now() + dur;
            while Instant::now() < deadline {
                let t = Instant::now();
                conn.call(
                    Method::GET,
                    path,
                    &[(header::AUTHORIZATION, basic.as_str())],
                    crate::http::ReqBody::Empty,
                )
                .await?
                .expect(&format!("GET {path}"), StatusCode::OK)?;
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat_us = Vec::new();
    while let Some(t) = tasks.join_next().await {
        lat_us.extend(t.context("token worker panicked")??);
    }
    let elapsed = start.elapsed();
    lat_us.sort_unstable();
    Ok(Load {
        requests: lat_us.len() as u64,
        elapsed,
        lat_us,
    })
}

/// Median microseconds of the gate's work with a cached token, and of a first use.
fn gate_cost() -> Result<(f64, f64)> {
    use berth_auth::{Action, KeyRing, Resource, Scope, TokenCache, TokenConfig, TokenKey};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let config = TokenConfig::new("berth", "berth");
    let mut ring = KeyRing::new(config.key_retention_secs());
    ring.insert(TokenKey::generate(now))?;
    let name = berth_domain::RepoName::parse("bench/manifest")?;
    let scope = Scope::repository(name.clone(), [Action::Pull, Action::Push]);
    let resource = Resource::Repository { name, class: None };
    let mut rng = rand::rng();
    let check = |cache: &TokenCache, token: &str| -> Result<()> {
        let v = cache.verify(&config, &ring, token, now)?;
        if !v.claims.permits(&resource, Action::Pull) {
            bail!("token does not permit pull");
        }
        Ok(())
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let cache = TokenCache::default();
    let token = config
        .issue(&ring, "bench", vec![scope.to_access()], now, &mut rng)?
        .token;
    check(&cache, &token)?;
    let mut hits = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        check(&cache, &token)?;
        hits.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    let mut firsts = Vec::with_capacity(500);
    for _ in 0..500 {
        let token = config
            .issue(&ring, "bench", vec![scope.to_access()], now, &mut rng)?
            .token;
        let t = Instant::now();
        check(&cache, &token)?;
        firsts.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    Ok((median(hits), median(firsts)))
}
