//! The `vulndb` measurement: the vulnerability database and the reports made from it.
//!
//! Four figures, each against the issue's target:
//! 1. **Build**: `berth vulndb import $BERTH_SHARED/vulndata --data-dir TMP` as a child
//!    process, started through `index.rs`'s rusage helper (so its peak RSS is `ru_maxrss`
//!    from `wait4`, not inflated by the bench): wall time, peak RSS, the size of the built
//!    file (`TMP/vulndb/builds/<current>.bvdb`) and of the raw feeds; then the same import
//!    again on unchanged data, which must install nothing.
//! 2. **Report latency**: berth serving that data folder (`vulndb.update` off, a Clair PSK),
//!    `bookworm:app-vuln` pushed with skopeo and scanned on push; then sequential requests on
//!    one keep-alive connection to Clair's `GET /matcher/api/v1/vulnerability_report/{digest}`
//!    (an HS256 PSK JWT with `iss` quay) and to Quay's security endpoint with
//!    `?vulnerabilities=true` (an application token of the bench's admin, as Quay's API
//!    clients send one; a few requests with Basic credentials too, which pay a password hash
//!    each and are shown without a target).
//! 3. **Push to report**: each run on a fresh server (fresh metadata, a copy of the same
//!    database folder): from starting `skopeo copy` to the first answer of the security
//!    endpoint (polled every 20 ms) that says `scanned` and lists vulnerabilities. Median.
//! 4. **Re-matching**: in process. The database file read with `berth_vulndb::read`, the
//!    index reports of the shared images made with berth-index (as `berth scan` does),
//!    cloned into N reports with distinct manifest hashes and matched with
//!    `berth_match::match_report` on one thread, as the server's re-matcher does (one page
//!    at a time on one blocking thread); also with the JSON parse of each stored report the
//!    server does before matching (it then also stores a summary per report: not included).
//!
//! CNCF Distribution has no scanner: there is no peer figure for any of these.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use berth_index::{Indexer, LayerRef, NoCache, Quiet};
use berth_report::IndexReport;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::http::{Conn, ReqBody};
use crate::index::{ChildRun, SourceBlobs};
use crate::report::{Sample, Target};
use crate::server::Server;

/// Targets from the issue.
const BUILD_S: f64 = 10.0;
const BUILD_RSS_MIB: f64 = 300.0;
const REPORT_P50_MS: f64 = 5.0;
const PUSH_TO_REPORT_S: f64 = 3.0;
const REMATCH_PER_S: f64 = 1000.0;

/// Where the image is pushed, and which one.
const REPO: &str = "bench/vuln";
const TAG: &str = "app-vuln";
/// How often the security endpoint is asked while waiting for the scan.
const POLL: Duration = Duration::from_millis(20);
const SCAN_TIMEOUT: Duration = Duration::from_secs(120);
/// Requests with Basic credentials (each hashes the password: slow by design).
const BASIC_REQUESTS: usize = 20;
/// Passes over the N reports; the median is reported.
const REMATCH_PASSES: usize = 3;
/// The images indexed for the re-matching figure: (folder under images, tag).
const REMATCH_IMAGES: &[(&str, &str)] = &[
    ("bookworm", "minbase"),
    ("bookworm", "python-vuln"),
    ("bookworm", "app-vuln"),
    ("bookworm", "app-whiteout"),
    ("multiarch-hello", "latest"),
];

/// What to measure with.
pub struct Settings {
    pub berth_bin: PathBuf,
    /// `$BERTH_SHARED/vulndata`.
    pub vulndata: PathBuf,
    /// `$BERTH_SHARED/images`.
    pub images: PathBuf,
    pub work: PathBuf,
    /// Sequential requests per latency figure.
    pub requests: usize,
    /// Fresh servers for the push-to-report figure.
    pub e2e_runs: usize,
    /// Reports re-matched.
    pub rematch_reports: usize,
    /// Keep the data folders (`--keep`).
    pub keep: bool,
}

/// The figures (berth only), checks that failed, and remarks.
#[derive(Default)]
pub struct Outcome {
    pub samples: Vec<Sample>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

fn sample(
    id: &str,
    label: impl Into<String>,
    unit: &'static str,
    higher: bool,
    value: f64,
    detail: String,
) -> Sample {
    Sample {
        id: format!("vulndb.{id}"),
        label: label.into(),
        unit,
        higher_is_better: higher,
        value,
        detail,
        server_max_rss_mib: 0.0,
        server_cpu_s: 0.0,
        client_cpu_s: 0.0,
        target: None,
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Runs every part; a failing part is reported and the independent ones still run.
pub async fn measure(s: &Settings) -> Outcome {
    let mut out = Outcome::default();
    let data = s.work.join("vulndb-data");
    let bvdb = match build(s, &data, &mut out).await {
        Ok(b) => b,
        Err(e) => {
            out.failures.push(format!("build: {e:#}"));
            return out;
        }
    };
    if let Err(e) = latency(s, &data, &mut out).await {
        out.failures.push(format!("report latency: {e:#}"));
    }
    if let Err(e) = push_to_report(s, &data.join("vulndb"), &mut out).await {
        out.failures.push(format!("push to report: {e:#}"));
    }
    let (images, n) = (s.images.clone(), s.rematch_reports);
    match tokio::task::spawn_blocking(move || {
        let mut o = Outcome::default();
        let r = rematch(&images, &bvdb, n, &mut o);
        (r, o)
    })
    .await
    {
        Ok((r, o)) => {
            out.samples.extend(o.samples);
            out.notes.extend(o.notes);
            out.failures.extend(o.failures);
            if let Err(e) = r {
                out.failures.push(format!("re-matching: {e:#}"));
            }
        }
        Err(e) => out.failures.push(format!("re-matching panicked: {e}")),
    }
    if !s.keep {
        let _ = std::fs::remove_dir_all(&data);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Building the database
// ---------------------------------------------------------------------------------------------

/// `bin args` through the rusage helper, off the async threads.
async fn child(bin: &Path, args: Vec<OsString>, scratch: &Path) -> Result<ChildRun> {
    let (bin, scratch) = (bin.to_owned(), scratch.to_owned());
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
        crate::index::run_child(&bin, &refs, &scratch)
    })
    .await
    .context("the child runner panicked")?
}

/// Bytes of the regular files under `dir` (apparent sizes).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The build `vulndb/current` names.
fn current_build(data: &Path) -> Result<(String, PathBuf)> {
    let pointer = data.join("vulndb/current");
    let id = std::fs::read_to_string(&pointer)
        .with_context(|| format!("{} missing after the import", pointer.display()))?
        .trim()
        .to_owned();
    let path = data.join(format!("vulndb/builds/{id}.bvdb"));
    if !path.is_file() {
        bail!(
            "{} names {id}, but {} is missing",
            pointer.display(),
            path.display()
        );
    }
    Ok((id, path))
}

/// Imports all of vulndata twice; returns the built file.
async fn build(s: &Settings, data: &Path, out: &mut Outcome) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data)?;
    let scratch = tempfile::Builder::new()
        .prefix("vulndb-cli-")
        .tempdir_in(&s.work)?;
    let args = || -> Vec<OsString> {
        vec![
            "vulndb".into(),
            "import".into(),
            s.vulndata.clone().into(),
            "--data-dir".into(),
            data.into(),
        ]
    };
    eprintln!(
        "  berth vulndb import {} --data-dir {}",
        s.vulndata.display(),
        data.display()
    );
    let first = child(&s.berth_bin, args(), scratch.path()).await?;
    let (id, bvdb) = current_build(data)?;
    let header = berth_vulndb::read_header(&bvdb)
        .with_context(|| format!("reading the header of {}", bvdb.display()))?;
    for f in &header.feeds {
        if let Some(e) = &f.error {
            out.failures
                .push(format!("feed {} failed to parse: {e}", f.name));
        }
    }
    if header.advisories == 0 {
        out.failures
            .push(format!("the build {id} holds no advisories"));
    }
    let file_size = std::fs::metadata(&bvdb)?.len();
    let raw = dir_size(&s.vulndata);
    let stored = dir_size(&data.join("vulndb/feeds"));
    let per_feed = header
        .feeds
        .iter()
        .map(|f| format!("{} {}", f.name, f.advisories))
        .collect::<Vec<_>>()
        .join(", ");

    let mut x = sample(
        "build",
        "build: berth vulndb import vulndata",
        "s",
        false,
        first.wall.as_secs_f64(),
        format!(
            "{} advisories, {} enrichments from {} feeds ({per_feed}); cpu {:.2} s; child process, end to end",
            header.advisories,
            header.enrichments,
            header.feeds.len(),
            first.cpu_s
        ),
    );
    x.server_max_rss_mib = mib(first.max_rss_kib);
    x.server_cpu_s = first.cpu_s;
    x.target = Some(Target::BerthBelow(BUILD_S));
    out.samples.push(x);
    let mut x = sample(
        "build_rss",
        "  max RSS of the import",
        "MiB",
        false,
        mib(first.max_rss_kib),
        format!(
            "ru_maxrss (wait4); VmHWM sampled every 5 ms: {:.1} MiB; floor (spawning helper's RSS): {:.1} MiB",
            mib(first.sampled_hwm_kib),
            mib(first.floor_kib)
        ),
    );
    x.server_max_rss_mib = mib(first.max_rss_kib);
    x.target = Some(Target::BerthBelow(BUILD_RSS_MIB));
    out.samples.push(x);
    out.samples.push(sample(
        "file",
        "  database file (builds/*.bvdb)",
        "MB",
        false,
        mb(file_size),
        format!("{} bytes, {}", file_size, bvdb.display()),
    ));
    out.samples.push(sample(
        "raw",
        "  raw feeds ($BERTH_SHARED/vulndata)",
        "MB",
        false,
        mb(raw),
        format!(
            "{raw} bytes (mostly .tar.gz); the copy kept in vulndb/feeds: {:.2} MB",
            mb(stored)
        ),
    ));

    // Unchanged data: every feed's fingerprint equals the current build's.
    let second = child(&s.berth_bin, args(), scratch.path()).await?;
    let (id2, _) = current_build(data)?;
    if id2 != id {
        out.failures.push(format!(
            "the second import of unchanged data installed a new build ({id} -> {id2})"
        ));
    }
    let mut x = sample(
        "reimport",
        "second import, unchanged data",
        "s",
        false,
        second.wall.as_secs_f64(),
        format!(
            "max RSS {:.1} MiB, cpu {:.2} s; build {}",
            mib(second.max_rss_kib),
            second.cpu_s,
            if id2 == id {
                "unchanged (nothing installed)"
            } else {
                "CHANGED"
            }
        ),
    );
    x.server_max_rss_mib = mib(second.max_rss_kib);
    x.server_cpu_s = second.cpu_s;
    out.samples.push(x);
    Ok(bvdb)
}

// ---------------------------------------------------------------------------------------------
// 2. and 3. The server
// ---------------------------------------------------------------------------------------------

/// A fixed 32-byte key: the bench signs its own Clair tokens.
fn psk_key() -> Vec<u8> {
    (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect()
}

/// Starts berth on `data` with the database loaded from its `vulndb` folder.
async fn start(s: &Settings, data: &Path) -> Result<Server> {
    let psk = crate::http::base64(&psk_key());
    Server::start_berth_env(
        &s.berth_bin,
        data.to_owned(),
        &[
            ("BERTH_VULNDB__UPDATE", "false"),
            ("BERTH_CLAIR__PSK", psk.as_str()),
        ],
    )
    .await
}

/// `Authorization: Basic` of the bench's admin.
fn basic(srv: &Server) -> Result<String> {
    crate::http::basic_for(srv.addr).context("no credentials registered for berth")
}

/// An application token of the bench's admin (`Authorization: Bearer`), as Quay's API
/// clients authenticate: one token lookup per request instead of a password hash.
async fn app_token(srv: &Server) -> Result<String> {
    let basic = basic(srv)?;
    let mut conn = Conn::new(srv.addr);
    let r = conn
        .call(
            Method::POST,
            "/api/v1/user/apptoken",
            &[
                (header::AUTHORIZATION, basic.as_str()),
                (header::CONTENT_TYPE, "application/json"),
            ],
            ReqBody::Full(Bytes::from(r#"{"title":"berth-bench"}"#)),
        )
        .await?
        .expect("POST /api/v1/user/apptoken", StatusCode::CREATED)?;
    let v: Value = serde_json::from_slice(&r.body)?;
    let code = v["token"]["token_code"]
        .as_str()
        .context("POST /api/v1/user/apptoken: no token_code in the answer")?;
    Ok(format!("Bearer {code}"))
}

/// The manifest digest of `bookworm:app-vuln` in the shared layout.
fn expected_digest(images: &Path) -> Result<String> {
    let path = images.join("bookworm/index.json");
    let v: Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    v["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == TAG)
        .and_then(|m| m["digest"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {TAG} in {}", path.display()))
}

fn security_path(digest: &str) -> String {
    format!("/api/v1/repository/{REPO}/manifest/{digest}/security?vulnerabilities=true")
}

/// Vulnerabilities listed in a security answer that says `scanned`; `Ok(None)` while the
/// image is not scanned yet; an error when the scan ended otherwise.
fn scanned_vulns(body: &[u8]) -> Result<Option<usize>> {
    let v: Value = serde_json::from_slice(body).context("security answer is not JSON")?;
    match v["status"].as_str() {
        Some("scanned") => {}
        Some("queued") | None => return Ok(None),
        Some(other) => bail!(
            "the scan ended as {other}: {}",
            String::from_utf8_lossy(&body[..body.len().min(400)])
        ),
    }
    let n = v["data"]["Layer"]["Features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["Vulnerabilities"].as_array())
        .map(Vec::len)
        .sum();
    Ok(Some(n))
}

/// One push of `bookworm:app-vuln` and the wait for its vulnerabilities.
struct PushRun {
    /// From starting skopeo to the first `scanned` answer listing vulnerabilities.
    total: Duration,
    /// skopeo's own time.
    push: Duration,
    vulns: usize,
    polls: usize,
}

/// Pushes with skopeo while polling the security endpoint every [`POLL`] (the manifest is
/// unknown, 404, until the push ends).
async fn push_and_wait(s: &Settings, srv: &Server, auth: &str, digest: &str) -> Result<PushRun> {
    let src = format!("oci:{}:{TAG}", s.images.join("bookworm").display());
    let dest = format!("docker://{}/{REPO}:v1", srv.addr);
    let creds = format!(
        "{}:{}",
        crate::server::BENCH_USER,
        crate::server::BENCH_PASSWORD
    );
    let digestfile = srv.data_dir.with_extension("digest");
    let digestfile_s = digestfile.display().to_string();
    let path = security_path(digest);
    let what = format!("GET {path}");
    let mut conn = Conn::new(srv.addr);
    // Open the connection before the clock starts (404: nothing pushed yet).
    conn.call(
        Method::GET,
        &path,
        &[(header::AUTHORIZATION, auth)],
        ReqBody::Empty,
    )
    .await?;

    let t = Instant::now();
    let mut push = {
        let args: Vec<String> = [
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            "--digestfile",
            &digestfile_s,
            &src,
            &dest,
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        Some(tokio::spawn(async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::measure::skopeo(&refs).await
        }))
    };
    let mut pushed: Option<(Duration, Instant)> = None;
    let mut polls = 0;
    let found = loop {
        if let Some(h) = push.take_if(|h| h.is_finished()) {
            let d = h.await.context("skopeo task panicked")??;
            pushed = Some((d, Instant::now()));
        }
        if let Some((_, at)) = pushed
            && at.elapsed() > SCAN_TIMEOUT
        {
            bail!(
                "not scanned {} s after the push ended",
                SCAN_TIMEOUT.as_secs()
            );
        }
        polls += 1;
        let r = conn
            .call(
                Method::GET,
                &path,
                &[(header::AUTHORIZATION, auth)],
                ReqBody::Empty,
            )
            .await?;
        let at = t.elapsed();
        match r.status {
            StatusCode::OK => {
                if let Some(n) = scanned_vulns(&r.body)?
                    && n > 0
                {
                    break (at, n);
                }
            }
            // Before the push has created the repository and the manifest.
            StatusCode::NOT_FOUND => {}
            _ => {
                r.expect(&what, StatusCode::OK)?;
            }
        }
        tokio::time::sleep(POLL).await;
    };
    let pushed = match (pushed, push) {
        (Some((d, _)), _) => d,
        (None, Some(h)) => h.await.context("skopeo task panicked")??,
        (None, None) => unreachable!("the task is kept until its result is taken"),
    };
    let got = std::fs::read_to_string(&digestfile).unwrap_or_default();
    let _ = std::fs::remove_file(&digestfile);
    if got.trim() != digest {
        bail!(
            "skopeo pushed {} but {digest} was expected (and found scanned?)",
            got.trim()
        );
    }
    Ok(PushRun {
        total: found.0,
        push: pushed,
        vulns: found.1,
        polls,
    })
}

/// Sorted latencies (ms) of `n` sequential GETs of `path`, with the last answer's body.
async fn timed_gets(
    conn: &mut Conn,
    path: &str,
    auth: &str,
    n: usize,
) -> Result<(Vec<f64>, Bytes)> {
    let what = format!("GET {path}");
    let mut lat = Vec::with_capacity(n);
    let mut last = Bytes::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = conn
            .call(
                Method::GET,
                path,
                &[(header::AUTHORIZATION, auth)],
                ReqBody::Empty,
            )
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        last = r.expect(&what, StatusCode::OK)?.body;
    }
    lat.sort_by(f64::total_cmp);
    Ok((lat, last))
}

/// The `p` quantile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Pushes the image to a server on the build's data folder, then times the report GETs.
async fn latency(s: &Settings, data: &Path, out: &mut Outcome) -> Result<()> {
    let digest = expected_digest(&s.images)?;
    let srv = start(s, data).await?;
    let bearer = app_token(&srv).await?;
    eprintln!(
        "  pushing bookworm:{TAG} to {} and waiting for the scan",
        srv.addr
    );
    let first = push_and_wait(s, &srv, &bearer, &digest).await?;
    out.notes.push(format!(
        "latency server: push to report {:.2} s (skopeo {:.2} s), {} vulnerabilities listed",
        first.total.as_secs_f64(),
        first.push.as_secs_f64(),
        first.vulns
    ));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let jwt = berth_auth::sign_psk(
        &json!({"iss": "quay", "iat": now, "nbf": now - 60, "exp": now + 3600}),
        &psk_key(),
    );
    let clair_auth = format!("Bearer {jwt}");
    let clair_path = format!("/matcher/api/v1/vulnerability_report/{digest}");
    let quay_path = security_path(&digest);
    let basic = basic(&srv)?;
    let n = s.requests.max(1);
    let mut conn = Conn::new(srv.addr);

    // One untimed request each (connection, caches), then the timed ones.
    let (_, body) = timed_gets(&mut conn, &clair_path, &clair_auth, 1).await?;
    let v: Value = serde_json::from_slice(&body).context("Clair report is not JSON")?;
    let clair_vulns = v["vulnerabilities"].as_object().map_or(0, |m| m.len());
    let clair_pkgs = v["package_vulnerabilities"]
        .as_object()
        .map_or(0, |m| m.len());
    if clair_vulns == 0 {
        bail!(
            "the Clair report lists no vulnerabilities: {}",
            String::from_utf8_lossy(&body[..body.len().min(400)])
        );
    }
    let phase = srv.phase_start();
    let (clair, clair_body) = timed_gets(&mut conn, &clair_path, &clair_auth, n).await?;
    let (rss, cpu) = srv.phase_end(phase);
    let size = clair_body.len();
    for (id, label, p, target) in [
        (
            "clair_p50",
            "Clair vulnerability_report p50",
            0.5,
            Some(Target::BerthBelow(REPORT_P50_MS)),
        ),
        ("clair_p99", "  Clair vulnerability_report p99", 0.99, None),
    ] {
        let mut x = sample(
            id,
            label,
            "ms",
            false,
            pct(&clair, p),
            format!(
                "{n} sequential GETs, one connection, PSK JWT (HS256, iss quay); {size} bytes, {clair_vulns} vulnerabilities on {clair_pkgs} packages; server cpu {cpu:.2} s"
            ),
        );
        x.server_max_rss_mib = mib(rss);
        x.server_cpu_s = cpu;
        x.target = target;
        out.samples.push(x);
    }

    let (_, body) = timed_gets(&mut conn, &quay_path, &bearer, 1).await?;
    let quay_vulns = scanned_vulns(&body)?.unwrap_or(0);
    let phase = srv.phase_start();
    let (quay, quay_body) = timed_gets(&mut conn, &quay_path, &bearer, n).await?;
    let (rss, cpu) = srv.phase_end(phase);
    let size = quay_body.len();
    for (id, label, p, target) in [
        (
            "quay_p50",
            "Quay security ?vulnerabilities=true p50",
            0.5,
            Some(Target::BerthBelow(REPORT_P50_MS)),
        ),
        ("quay_p99", "  Quay security p99", 0.99, None),
    ] {
        let mut x = sample(
            id,
            label,
            "ms",
            false,
            pct(&quay, p),
            format!(
                "{n} sequential GETs, one connection, admin's application token (Bearer); {size} bytes, {quay_vulns} vulnerabilities listed; server cpu {cpu:.2} s"
            ),
        );
        x.server_max_rss_mib = mib(rss);
        x.server_cpu_s = cpu;
        x.target = target;
        out.samples.push(x);
    }

    let phase = srv.phase_start();
    let (with_basic, _) = timed_gets(&mut conn, &quay_path, &basic, BASIC_REQUESTS).await?;
    let (rss, cpu) = srv.phase_end(phase);
    let mut x = sample(
        "quay_basic_p50",
        "  Quay security, Basic password, p50",
        "ms",
        false,
        pct(&with_basic, 0.5),
        format!(
            "{BASIC_REQUESTS} sequential GETs with the admin's password (a password hash each, by design); p99 {:.1} ms",
            pct(&with_basic, 0.99)
        ),
    );
    x.server_max_rss_mib = mib(rss);
    x.server_cpu_s = cpu;
    out.samples.push(x);
    if !srv.alive() {
        bail!("the server exited; log:\n{}", srv.log_tail());
    }
    Ok(())
}

/// Copies a folder tree (the database folder, a few MB).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let dest = to.join(e.file_name());
        if t.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else if t.is_file() {
            std::fs::copy(e.path(), &dest)
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Push to report on fresh servers; the median is the figure.
async fn push_to_report(s: &Settings, vulndb: &Path, out: &mut Outcome) -> Result<()> {
    let digest = expected_digest(&s.images)?;
    let mut runs = Vec::new();
    let mut max_rss = 0u64;
    for i in 0..s.e2e_runs.max(1) {
        let data = s.work.join(format!("vulndb-e2e-{i}"));
        let _ = std::fs::remove_dir_all(&data);
        copy_dir(vulndb, &data.join("vulndb"))?;
        let srv = start(s, &data).await?;
        let bearer = app_token(&srv).await?;
        crate::measure::sync_disk();
        let phase = srv.phase_start();
        let r = push_and_wait(s, &srv, &bearer, &digest).await;
        let (rss, _) = srv.phase_end(phase);
        max_rss = max_rss.max(rss);
        let r = r.with_context(|| format!("run {}; server log:\n{}", i + 1, srv.log_tail()))?;
        eprintln!(
            "  push to report run {}: {:.2} s (skopeo {:.2} s, {} polls, {} vulnerabilities)",
            i + 1,
            r.total.as_secs_f64(),
            r.push.as_secs_f64(),
            r.polls,
            r.vulns
        );
        runs.push(r);
        drop(srv);
        if !s.keep {
            let _ = std::fs::remove_dir_all(&data);
            let _ = std::fs::remove_file(data.with_extension("log"));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let list = |f: &dyn Fn(&PushRun) -> f64| {
        runs.iter()
            .map(|r| format!("{:.2}", f(r)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total = median(runs.iter().map(|r| r.total.as_secs_f64()).collect());
    let after = median(
        runs.iter()
            .map(|r| r.total.saturating_sub(r.push).as_secs_f64())
            .collect(),
    );
    let mut x = sample(
        "push_to_report",
        format!("push to report bookworm:{TAG}, median"),
        "s",
        false,
        total,
        format!(
            "{} runs, each on a fresh server: {} s (skopeo push {} s); security endpoint polled every {} ms",
            runs.len(),
            list(&|r| r.total.as_secs_f64()),
            list(&|r| r.push.as_secs_f64()),
            POLL.as_millis()
        ),
    );
    x.server_max_rss_mib = mib(max_rss);
    x.target = Some(Target::BerthBelow(PUSH_TO_REPORT_S));
    out.samples.push(x);
    let mut x = sample(
        "after_push",
        "  of which after skopeo finished",
        "s",
        false,
        after,
        format!(
            "median of (push to report - skopeo's time): {} s",
            list(&|r| r.total.saturating_sub(r.push).as_secs_f64())
        ),
    );
    x.server_max_rss_mib = mib(max_rss);
    out.samples.push(x);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. Re-matching
// ---------------------------------------------------------------------------------------------

/// The index report of `dir:tag`, as `berth scan` makes it.
fn index_image(dir: &Path, tag: &str) -> Result<IndexReport> {
    let reference = format!("oci:{}:{tag}", dir.display());
    let transport =
        berth_source::parse(&reference).with_context(|| format!("bad reference {reference}"))?;
    let source = berth_source::open(&transport, &berth_source::Options::default())
        .with_context(|| format!("cannot open {reference}"))?;
    let image = source.image();
    let layers: Vec<LayerRef> = image
        .layers
        .iter()
        .filter(|l| berth_index::is_layer(&l.media_type))
        .map(|l| LayerRef {
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
        })
        .collect();
    let indexed = Indexer::new()
        .index(
            &image.manifest_digest,
            &layers,
            &SourceBlobs(source.as_ref()),
            &NoCache,
            &Quiet,
        )
        .with_context(|| format!("indexing {reference}"))?;
    if !indexed.report.success {
        bail!("indexing {reference} failed: {}", indexed.report.err);
    }
    Ok(indexed.report)
}

fn rematch(images: &Path, bvdb: &Path, n: usize, out: &mut Outcome) -> Result<()> {
    let t = Instant::now();
    let db = berth_vulndb::read(bvdb).with_context(|| format!("reading {}", bvdb.display()))?;
    let load = t.elapsed();
    out.samples.push(sample(
        "load",
        "read the database file (berth_vulndb::read)",
        "ms",
        false,
        load.as_secs_f64() * 1000.0,
        format!(
            "{} advisories, {} enrichments, in process",
            db.header().advisories,
            db.header().enrichments
        ),
    ));

    let mut bases: Vec<(String, IndexReport)> = Vec::new();
    for (dir, tag) in REMATCH_IMAGES {
        match index_image(&images.join(dir), tag) {
            Ok(r) => bases.push((format!("{dir}:{tag}"), r)),
            Err(e) => out
                .notes
                .push(format!("re-matching: {dir}:{tag} left out: {e:#}")),
        }
    }
    if bases.is_empty() {
        bail!("no image could be indexed");
    }
    // Each image once, untimed but for app-vuln's single match (the uncached cost of one
    // report request).
    let mut per_image = Vec::new();
    for (label, r) in &bases {
        let mut best = Duration::MAX;
        let mut found = (0, 0);
        for _ in 0..5 {
            let t = Instant::now();
            let (v, st) = berth_match::match_report(r, &db);
            best = best.min(t.elapsed());
            found = (v.vulnerabilities.len(), st.packages);
        }
        per_image.push(format!(
            "{label}: {} packages, {} vulnerabilities, {:.2} ms",
            found.1,
            found.0,
            best.as_secs_f64() * 1000.0
        ));
        if label.ends_with(TAG) {
            out.samples.push(sample(
                "match_one",
                format!("match bookworm:{TAG} once (uncached report)"),
                "ms",
                false,
                best.as_secs_f64() * 1000.0,
                format!(
                    "best of 5, in process; {} packages, {} vulnerabilities",
                    found.1, found.0
                ),
            ));
        }
    }

    let reports: Vec<IndexReport> = (0..n)
        .map(|i| {
            let mut r = bases[i % bases.len()].1.clone();
            r.manifest_hash = format!("sha256:{:064x}", i + 1);
            r
        })
        .collect();
    let stored: Vec<Vec<u8>> = reports
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    let stored_bytes: usize = stored.iter().map(Vec::len).sum();

    let mut plain = Vec::new();
    let mut parsed = Vec::new();
    let mut findings = 0usize;
    for _ in 0..REMATCH_PASSES {
        let t = Instant::now();
        findings = 0;
        for r in &reports {
            let (v, _) = berth_match::match_report(r, &db);
            findings += v.vulnerabilities.len();
            std::hint::black_box(&v);
        }
        plain.push(n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for bytes in &stored {
            let r: IndexReport = serde_json::from_slice(bytes)?;
            let (v, _) = berth_match::match_report(&r, &db);
            std::hint::black_box(&v);
        }
        parsed.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut x = sample(
        "rematch",
        format!("re-match {n} stored reports (1 thread)"),
        "rep/s",
        true,
        median(plain.clone()),
        format!(
            "berth_match::match_report over {n} clones of {} images' reports (distinct manifest hashes), median of {REMATCH_PASSES} passes ({}); {findings} vulnerabilities per pass; per image: {}",
            bases.len(),
            show(&plain),
            per_image.join("; ")
        ),
    );
    x.target = Some(Target::BerthAtLeast(REMATCH_PER_S));
    out.samples.push(x);
    out.samples.push(sample(
        "rematch_parse",
        "  with the JSON parse of each stored report",
        "rep/s",
        true,
        median(parsed.clone()),
        format!(
            "serde_json::from_slice of each stored report ({:.1} MB in all) then match_report, as the server's re-matcher; median of {REMATCH_PASSES} passes ({}); the server also stores a summary per report (not included)",
            mb(stored_bytes as u64),
            show(&parsed)
        ),
    ));
    Ok(())
}
