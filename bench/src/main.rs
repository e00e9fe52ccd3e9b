//! berth-bench: measures berth and CNCF Distribution (the peer) side by side on one machine.
//!
//! Both registries run on 127.0.0.1 with data folders on the same disk, one after the other,
//! each driven through the same measurements by the same load generator; the table printed at
//! the end shows both figures and the ratio berth/peer, with the project's targets as
//! PASS/MISS. The machine's own limits (single-core SHA-256 and durable write rate) are
//! measured too, since a durable upload cannot beat the slower of the two. The image indexer
//! (`berth scan`, `--only index`) has no peer and is compared with gzip decompression of the
//! same layers instead (`index.rs`). The vulnerability database and reports (`--only vulndb`)
//! have no peer either (Distribution has no scanner): berth's figures against the issue's
//! targets only (`vulndb.rs`). See `README.md`.
//!
//! Usage: `cargo run --release -p berth-bench -- [--quick] [--only NAME,...] [--peer-only]`.

mod data;
mod http;
mod index;
mod limits;
mod measure;
mod oci;
mod report;
mod server;
mod vulndb;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::json;

use crate::data::{Digests, Pool};
use crate::measure::{Ctx, Plan, Recorder};
use crate::report::{Failure, Sample};
use crate::server::{Kind, Server};

/// Measurement names accepted by `--only`, in the order they run.
const MEASUREMENTS: &[&str] = &[
    "limits",
    "index",
    "vulndb",
    "upload",
    "download",
    "small",
    "manifest",
    "auth",
    "skopeo",
    "concurrent",
];

/// Measurements that run before any registry starts, with no server: the machine limits and
/// the image indexer (`berth scan`), whose reference is gzip decompression, not the peer.
const OFFLINE: &[&str] = &["limits", "index"];

/// Measurements that start berth servers of their own (fresh data folders, their own
/// configuration) instead of running on the shared registry; berth only, no peer.
const OWN_SERVERS: &[&str] = &["vulndb"];

/// Whether a measurement runs on the registry the main loop starts for each kind.
fn on_shared_registry(m: &str) -> bool {
    !OFFLINE.contains(&m) && !OWN_SERVERS.contains(&m)
}

#[derive(Parser, Debug)]
#[command(about = "Benchmark berth against CNCF Distribution on this machine")]
struct Args {
    /// Small sizes and short durations: the whole run takes under two minutes.
    #[arg(long)]
    quick: bool,
    /// Run only these measurements (comma-separated): limits, index, vulndb, upload,
    /// download, small, manifest, auth, skopeo, concurrent.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Measure the peer only (while berth does not build).
    #[arg(long, conflicts_with = "berth_only")]
    peer_only: bool,
    /// Measure berth only.
    #[arg(long)]
    berth_only: bool,
    /// The berth binary; when absent, `cargo build --release -p berth` builds it.
    #[arg(long, env = "BERTH_BIN")]
    berth_bin: Option<PathBuf>,
    /// The shared data folder (peer script, test images); default `../shared`.
    #[arg(long, env = "BERTH_SHARED")]
    shared: Option<PathBuf>,
    /// Folder for the temporary data folders and the digest cache; default the system
    /// temporary folder. Must be on a real disk: the targets are about durable writes.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Where the JSON results go; default `bench/results`.
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// Threads of the load generator (it shares the machine's cores with the server).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Keep the registries' data folders after the run (for inspection).
    #[arg(long)]
    keep: bool,
    /// Before each registry (and the index measurement), wait up to this many seconds for the
    /// 1-minute load average to drop below 1 (other builds on a 2-core machine distort every
    /// figure).
    #[arg(long, default_value_t = 0)]
    wait_idle: u64,
    /// Where `index` keeps the large image it builds with `make-images.sh` (once); default
    /// `target/bench-images` in the workspace.
    #[arg(long, env = "BERTH_BENCH_IMAGES")]
    index_images: Option<PathBuf>,
}

fn main() -> Result<()> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == index::HELPER_ARG) {
        index::rusage_helper(argv.get(2..).unwrap_or_default());
    }
    let args = Args::parse();
    for name in &args.only {
        if !MEASUREMENTS.contains(&name.as_str()) {
            bail!(
                "unknown measurement {name:?}; known: {}",
                MEASUREMENTS.join(", ")
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    let finished = runtime.block_on(async {
        tokio::select! {
            r = run(args) => Some(r),
            _ = interrupted() => None,
        }
    });
    match finished {
        Some(r) => r,
        None => {
            // `run` was dropped with everything it owned: the registries are stopped.
            index::kill_running_child();
            eprintln!("interrupted; registries stopped");
            std::process::exit(130)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM; `run` is then dropped, which stops the registries.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// What the `vulndb` figures are compared with: nothing.
const NO_SCANNER: &str = "none: CNCF Distribution has no vulnerability scanner; berth's figures against the issue's targets";

/// What the `index` figures are compared with.
const GZIP_REFERENCE: &str = "single-threaded gzip decompression of the same layer blobs to a sink (flate2 + zlib-rs, as berth-layer), same run";

fn workspace_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    p.canonicalize().unwrap_or(p)
}

/// `BERTH_BIN`/`--berth-bin`, else a release build of berth into the workspace's default
/// target folder (not the bench's own `CARGO_TARGET_DIR`, so the lead's build is reused).
fn berth_binary(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.exists() {
            bail!("berth binary {} does not exist", p.display());
        }
        return Ok(p);
    }
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "building berth: cargo build --release -p berth (in {})",
        root.display()
    );
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "berth"])
        .current_dir(&root)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("berth does not build ({status}); run with --peer-only, or set BERTH_BIN");
    }
    Ok(root.join("target/release/berth"))
}

/// Warns when the work folder is on tmpfs, where "durable" writes never touch a disk.
fn check_disk(dir: &Path) -> String {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return String::new();
    };
    // SAFETY: statfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 && st.f_type == libc::TMPFS_MAGIC {
        eprintln!(
            "WARNING: {} is tmpfs: write and fsync figures do not reflect a disk (use --work-dir)",
            dir.display()
        );
        return "tmpfs".into();
    }
    "disk".into()
}

/// The 1-minute load average.
fn load1() -> f64 {
    loadavg()
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (bounded by `secs`) for the machine to go quiet, printing what it waits for.
async fn wait_idle(secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    if secs > 0 && load1() >= 1.0 {
        eprintln!(
            "waiting up to {secs} s for the load average ({}) to drop below 1",
            loadavg()
        );
    }
    while load1() >= 1.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let selected = |m: &str| args.only.is_empty() || args.only.iter().any(|o| o == m);
    let plan = Plan::new(args.quick);

    let shared = args
        .shared
        .clone()
        .unwrap_or_else(|| workspace_root().join("../shared"));
    let shared = shared.canonicalize().with_context(|| {
        format!(
            "shared folder {} not found (set BERTH_SHARED)",
            shared.display()
        )
    })?;
    let peer_script = shared.join("peers/distribution.sh");
    let images = shared.join("images");
    let run_index = selected("index") && !args.peer_only;
    let run_vulndb = selected("vulndb") && !args.peer_only;
    if selected("skopeo") || run_index || run_vulndb {
        measure::check_images(&images)?;
    }
    // Registries start only for the measurements that need one.
    let registries = MEASUREMENTS
        .iter()
        .any(|m| on_shared_registry(m) && selected(m));
    let kinds: Vec<Kind> = match (registries, args.peer_only, args.berth_only) {
        (false, _, _) => vec![],
        (_, true, _) => vec![Kind::Peer],
        (_, _, true) => vec![Kind::Berth],
        _ => vec![Kind::Berth, Kind::Peer],
    };
    let berth_bin = if kinds.contains(&Kind::Berth) || run_index || run_vulndb {
        Some(berth_binary(args.berth_bin.clone())?)
    } else {
        None
    };

    let base = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let disk = check_disk(&base);
    let tmp = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir_in(&base)?;
    let work = tmp.path().to_owned();
    eprintln!(
        "work folder {} (load average before: {})",
        work.display(),
        loadavg()
    );

    // Everything slow that is not being measured happens before any server starts.
    let pool = Pool::new();
    let mut digests = Digests::load(&base.join("berth-bench-cache"), pool.clone())?;
    digests.ensure(&plan.large_specs(selected))?;

    let mut limits = None;
    if selected("limits") || selected("upload") {
        eprintln!(
            "measuring machine limits ({} MiB)...",
            plan.limit_bytes >> 20
        );
        let l = limits::measure(&pool, &work, plan.limit_bytes)?;
        eprintln!(
            "  SHA-256 single core {:.0} MiB/s, durable write {:.0} MiB/s",
            l.sha256_mib_s, l.durable_write_mib_s
        );
        limits = Some(l);
    }

    let mut failures: Vec<Failure> = Vec::new();
    let mut index_result = serde_json::Value::Null;
    let mut index_rows = Vec::new();
    if run_index {
        wait_idle(args.wait_idle).await;
        let load = loadavg();
        eprintln!("== index == (load average {load})");
        let t = Instant::now();
        let script = shared.join("images/make-images.sh");
        let cache = args
            .index_images
            .clone()
            .unwrap_or_else(|| workspace_root().join("target/bench-images"));
        let settings = index::Settings {
            runs: if args.quick { 3 } else { 5 },
            warm_runs: if args.quick { 10 } else { 20 },
            berth_bin: berth_bin.clone(),
            work: work.clone(),
        };
        let app_vuln = index::Image::app_vuln(&images);
        let out = tokio::task::spawn_blocking(move || {
            let mut list = vec![app_vuln];
            let mut pre = index::Outcome::default();
            match index::large_image(&script, &cache) {
                Ok(index::Large::Ready(image)) => list.push(image),
                Ok(index::Large::Skipped(why)) => {
                    eprintln!("  large image skipped: {why}");
                    pre.notes.push(format!("large image skipped: {why}"));
                }
                Err(e) => pre.failures.push(format!("large image: {e:#}")),
            }
            let mut out = index::measure(&list, &settings);
            out.notes.splice(0..0, pre.notes);
            out.failures.splice(0..0, pre.failures);
            out
        })
        .await
        .context("index measurement panicked")?;
        for s in &out.berth {
            let reference = out
                .reference
                .iter()
                .find(|r| r.id == s.id)
                .map(|r| format!(" [reference {:.3} {}]", r.value, r.unit))
                .unwrap_or_default();
            eprintln!(
                "    {:<44} {:>10.3} {:<5}{reference} {}",
                s.label.trim_start(),
                s.value,
                s.unit,
                s.detail
            );
        }
        for f in &out.failures {
            eprintln!("  index: FAILED: {f}");
            failures.push(Failure {
                registry: "berth",
                measurement: "index".into(),
                error: f.clone(),
            });
        }
        eprintln!("  index: done in {:.1} s", t.elapsed().as_secs_f64());
        index_rows = report::rows(&out.berth, &out.reference);
        index_result = json!({
            "load_average_at_start": load,
            "reference": GZIP_REFERENCE,
            "rows": index_rows,
            "samples": { "berth": out.berth, "gzip": out.reference },
            "notes": out.notes,
            "failures": out.failures,
        });
    }

    let mut vulndb_result = serde_json::Value::Null;
    let mut vulndb_rows = Vec::new();
    if run_vulndb {
        wait_idle(args.wait_idle).await;
        let load = loadavg();
        eprintln!("== vulndb == (load average {load})");
        let t = Instant::now();
        let settings = vulndb::Settings {
            berth_bin: berth_bin.clone().expect("resolved above"),
            vulndata: shared.join("vulndata"),
            images: images.clone(),
            work: work.clone(),
            requests: if args.quick { 200 } else { 500 },
            e2e_runs: if args.quick { 1 } else { 3 },
            rematch_reports: 2_000,
            keep: args.keep,
        };
        let limit = Duration::from_secs(900);
        let out = match tokio::time::timeout(limit, vulndb::measure(&settings)).await {
            Ok(out) => out,
            Err(_) => vulndb::Outcome {
                failures: vec![format!("did not finish within {} s", limit.as_secs())],
                ..Default::default()
            },
        };
        for s in &out.samples {
            eprintln!(
                "    {:<44} {:>10.3} {:<6} {}",
                s.label.trim_start(),
                s.value,
                s.unit,
                s.detail
            );
        }
        for f in &out.failures {
            eprintln!("  vulndb: FAILED: {f}");
            failures.push(Failure {
                registry: "berth",
                measurement: "vulndb".into(),
                error: f.clone(),
            });
        }
        eprintln!("  vulndb: done in {:.1} s", t.elapsed().as_secs_f64());
        vulndb_rows = report::rows(&out.samples, &[]);
        vulndb_result = json!({
            "load_average_at_start": load,
            "reference": NO_SCANNER,
            "rows": vulndb_rows,
            "samples": { "berth": out.samples },
            "notes": out.notes,
            "failures": out.failures,
        });
    }

    let mut ctx = Ctx {
        pool,
        digests,
        plan: plan.clone(),
        machine_limit: limits.map(|l| l.min()),
        images,
        work: work.clone(),
    };
    let mut samples: Vec<(Kind, Vec<Sample>)> = Vec::new();
    let mut loads = Vec::new();
    for kind in &kinds {
        let data_dir = work.join(format!("{}-data", kind.name()));
        wait_idle(args.wait_idle).await;
        eprintln!("== {} == (load average {})", kind.name(), loadavg());
        loads.push(json!({"registry": kind.name(), "load_average_at_start": loadavg()}));
        let srv = match kind {
            Kind::Berth => {
                Server::start_berth(
                    berth_bin.as_deref().expect("resolved above"),
                    data_dir.clone(),
                )
                .await
            }
            Kind::Peer => Server::start_peer(&peer_script, data_dir.clone()).await,
        };
        let srv = match srv {
            Ok(s) => s,
            Err(e) => {
                failures.push(Failure {
                    registry: kind.name(),
                    measurement: "start".into(),
                    error: format!("{e:#}"),
                });
                continue;
            }
        };
        let mut rec = Recorder::new(&srv);
        let mut uploaded = Vec::new();
        for &m in MEASUREMENTS
            .iter()
            .filter(|m| on_shared_registry(m) && selected(m))
        {
            if !srv.alive() {
                failures.push(Failure {
                    registry: kind.name(),
                    measurement: m.into(),
                    error: format!("server is no longer running; log:\n{}", srv.log_tail()),
                });
                continue;
            }
            let t = Instant::now();
            let before = rec.samples.len();
            let limit = Duration::from_secs(if m == "concurrent" { 900 } else { 300 });
            let fut = async {
                match m {
                    "upload" => measure::upload(&mut ctx, &srv, &mut rec, &mut uploaded).await,
                    "download" => measure::download(&mut ctx, &srv, &mut rec, &mut uploaded).await,
                    "small" => measure::small(&mut ctx, &srv, &mut rec).await,
                    "manifest" => measure::manifest(&mut ctx, &srv, &mut rec).await,
                    "auth" => measure::auth(&mut ctx, &srv, &mut rec).await,
                    "skopeo" => measure::skopeo_copy(&mut ctx, &srv, &mut rec).await,
                    "concurrent" => measure::concurrent(&mut ctx, &srv, &mut rec).await,
                    _ => unreachable!("filtered above"),
                }
            };
            let r = match tokio::time::timeout(limit, fut).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!(
                    "did not finish within {} s",
                    limit.as_secs()
                )),
            };
            match r {
                Ok(()) => eprintln!("  {m}: done in {:.1} s", t.elapsed().as_secs_f64()),
                Err(e) => {
                    let alive = if srv.alive() {
                        String::new()
                    } else {
                        format!("\nserver exited; log:\n{}", srv.log_tail())
                    };
                    eprintln!("  {m}: FAILED: {e:#}{alive}");
                    failures.push(Failure {
                        registry: kind.name(),
                        measurement: m.into(),
                        error: format!("{e:#}{alive}"),
                    });
                }
            }
            for s in &rec.samples[before..] {
                eprintln!(
                    "    {:<40} {:>10.2} {:<7} {} [server rss {:.0} MiB, cpu {:.1} s; bench cpu {:.1} s]",
                    s.label,
                    s.value,
                    s.unit,
                    s.detail,
                    s.server_max_rss_mib,
                    s.server_cpu_s,
                    s.client_cpu_s
                );
            }
        }
        measure::peak(&srv, &mut rec);
        let got = std::mem::take(&mut rec.samples);
        drop(rec);
        let mut srv = srv;
        srv.stop();
        drop(srv);
        samples.push((*kind, got));
        if !args.keep {
            let _ = std::fs::remove_dir_all(&data_dir);
        }
        measure::sync_disk();
    }

    let get = |k: Kind| {
        samples
            .iter()
            .find(|(kk, _)| *kk == k)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    let (berth, peer) = (get(Kind::Berth), get(Kind::Peer));
    let rows = report::rows(&berth, &peer);
    println!();
    println!(
        "berth-bench {} run, {:.0} s, load average after: {}",
        if args.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    if let Some(l) = limits {
        println!(
            "machine: SHA-256 (1 core) {:.0} MiB/s, durable write ({} MiB + fsync) {:.0} MiB/s => limit {:.0} MiB/s",
            l.sha256_mib_s,
            l.bytes >> 20,
            l.durable_write_mib_s,
            l.min()
        );
    }
    if !kinds.is_empty() {
        println!("peer: CNCF Distribution 2.8 (Debian docker-registry)");
    }
    for l in &loads {
        println!(
            "load average when {} started: {}",
            l["registry"].as_str().unwrap_or(""),
            l["load_average_at_start"].as_str().unwrap_or("")
        );
    }
    if loads.iter().any(|l| {
        l["load_average_at_start"]
            .as_str()
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
            >= 1.0
    }) {
        println!(
            "WARNING: the machine was busy (load average >= 1): figures are distorted; rerun when idle or with --wait-idle"
        );
    }
    if !kinds.is_empty() {
        println!();
        print!("{}", report::table(&rows));
    }
    if run_index {
        println!();
        println!(
            "index: berth scan / berth-index on the shared images, in process unless named `berth scan`"
        );
        println!(
            "reference: {GZIP_REFERENCE} (Distribution has no indexer); load average at start: {}",
            index_result["load_average_at_start"].as_str().unwrap_or("")
        );
        for n in index_result["notes"].as_array().into_iter().flatten() {
            println!("note: {}", n.as_str().unwrap_or(""));
        }
        print!(
            "{}",
            report::table_with(
                &index_rows,
                "gzip -d",
                "berth/gzip",
                "(↓ = lower is better; ratios are berth/gzip; MB = 10^6 bytes of compressed layer data)"
            )
        );
    }
    if run_vulndb {
        println!();
        println!(
            "vulndb: berth vulndb import (child process), berth serve (Clair matcher and Quay security endpoints, skopeo push), berth-match in process"
        );
        println!(
            "reference: {NO_SCANNER}; load average at start: {}",
            vulndb_result["load_average_at_start"]
                .as_str()
                .unwrap_or("")
        );
        for n in vulndb_result["notes"].as_array().into_iter().flatten() {
            println!("note: {}", n.as_str().unwrap_or(""));
        }
        print!(
            "{}",
            report::table_with(
                &vulndb_rows,
                "peer",
                "berth/peer",
                "(↓ = lower is better; no peer figures: Distribution has no scanner; MB = 10^6 bytes)"
            )
        );
    }
    if !failures.is_empty() {
        println!("\nFAILURES:");
        for f in &failures {
            println!("- {} / {}: {}", f.registry, f.measurement, f.error);
        }
    }

    let results_dir = args
        .results_dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("results"));
    std::fs::create_dir_all(&results_dir)?;
    let file = results_dir.join(format!("{}.json", report::timestamp()));
    let doc = json!({
        "quick": args.quick,
        "only": args.only,
        "elapsed_s": started.elapsed().as_secs_f64(),
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "load_average_after": loadavg(),
            "load_average_per_registry": loads,
            "work_dir": work.display().to_string(),
            "work_dir_fs": disk,
            "client_threads": args.client_threads,
        },
        "limits": limits,
        "berth_bin": berth_bin.map(|p| p.display().to_string()),
        "peer": "CNCF Distribution 2.8 (Debian docker-registry)",
        "rows": rows,
        "samples": { "berth": berth, "peer": peer },
        "failures": failures,
        "index": index_result,
        "vulndb": vulndb_result,
    });
    std::fs::write(&file, serde_json::to_vec_pretty(&doc)?)?;
    println!("\nresults: {}", file.display());
    if args.keep {
        let kept = tmp.keep();
        println!("data kept in {}", kept.display());
    }
    Ok(())
}
