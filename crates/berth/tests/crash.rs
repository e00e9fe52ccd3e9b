//! Crash test: SIGKILL berth while many clients push, restart it on the same data folder, and
//! check that everything acknowledged survived byte for byte and nothing partial is visible.
//!
//! Each round runs 16 pushing threads (random images, blobs of 1 KiB to 8 MiB uploaded in all
//! four ways, then a tagged manifest), kills the server at a random moment once some pushes
//! were acknowledged and while uploads are in flight, restarts it and verifies every push made
//! so far; chunked uploads the kill interrupted must resume from at least their acknowledged
//! offset and finish into the right blob. Five rounds on the same data folder, so earlier pushes survive several crashes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rand::Rng;
use reqwest::Method;
use serde_json::Value;

const THREADS: usize = 16;
const ROUNDS: usize = 5;
const REPOS: usize = 6;

#[derive(Default)]
struct Log {
    /// Blobs whose upload got its 201: (repo, digest, length).
    acked_blobs: Vec<(String, String, usize)>,
    /// Blobs whose upload started but got no 201.
    unacked_blobs: Vec<(String, String, usize)>,
    /// Manifests whose PUT got its 201: (repo, tag, image).
    acked_manifests: Vec<(String, String, Image)>,
    /// Manifests whose PUT was sent but got no 201.
    unacked_manifests: Vec<(String, String, Image)>,
    /// Chunked uploads cut by the crash, to resume after the restart.
    interrupted: Vec<Session>,
    /// Wrong answers from a live server (a bug, whatever the crash).
    errors: Vec<String>,
}

/// A chunked upload and how far the registry acknowledged it (its last 202).
struct Session {
    repo: String,
    location: String,
    acked: usize,
    /// The closing PUT was sent (and got no answer).
    closing: bool,
    data: Vec<u8>,
}

/// A chunked upload that keeps `progress` current, so a crash leaves a resumable record.
fn push_chunked(
    reg: &Registry,
    repo: &str,
    data: &[u8],
    size: usize,
    progress: &mut Option<Session>,
) -> Result<(), PushError> {
    let mut loc = try_start_upload(reg, repo)?.location();
    *progress = Some(Session {
        repo: repo.to_owned(),
        location: loc.clone(),
        acked: 0,
        closing: false,
        data: data.to_vec(),
    });
    for (i, chunk) in data.chunks(size).enumerate() {
        loc = try_patch(reg, &loc, i * size, chunk, true)?.location();
        let p = progress.as_mut().unwrap();
        p.location = loc.clone();
        p.acked = i * size + chunk.len();
    }
    progress.as_mut().unwrap().closing = true;
    let put = reg
        .req(Method::PUT, &with_digest(&loc, &sha256(data)))
        .header("Content-Length", "0");
    check(reg.try_send(put), 201).map(drop)
}

/// After the restart, every interrupted chunked upload is still there with at least its
/// acknowledged bytes (or was completed just before the kill), and finishing it from the
/// offset the registry reports yields the right blob. Returns how many were resumed; uploads
/// found neither resumable nor complete go to `lost` (checked at the end of the test).
fn resume_interrupted(
    reg: &Registry,
    log: &mut Log,
    lost: &mut Vec<String>,
    data_dir: &Path,
) -> usize {
    let mut resumed = 0;
    for s in std::mem::take(&mut log.interrupted) {
        let (repo, loc, digest) = (&s.repo, &s.location, sha256(&s.data));
        let r = reg.get(loc);
        if r.status == 404 {
            match fetch_blob(reg, repo, &digest) {
                Some(blob) => assert_eq!(
                    sha256(&blob),
                    digest,
                    "blob of the interrupted upload {loc} is corrupt"
                ),
                None => {
                    lost.push(format!(
                        "upload {loc}: {} of {} bytes acknowledged, closing PUT {}; after the restart the session is \
                         gone (404) and the blob is not in {repo} either",
                        s.acked,
                        s.data.len(),
                        if s.closing { "sent without an answer" } else { "not sent" },
                    ));
                    if let Some(f) = find_file(data_dir, digest.trim_start_matches("sha256:")) {
                        lost.push(format!(
                            "  (its content sits unreferenced in {})",
                            f.display()
                        ));
                    }
                    continue;
                }
            }
        } else {
            let r = r.expect(204);
            let range = r.hdr("range");
            let end: usize = range
                .strip_prefix("0-")
                .and_then(|e| e.parse().ok())
                .unwrap_or_else(|| panic!("Range {range:?}:\n{r}"));
            // "0-0" is both "nothing yet" and "one byte".
            let offsets = if end == 0 { vec![0, 1] } else { vec![end + 1] };
            assert!(
                *offsets.last().unwrap() >= s.acked && offsets[0] <= s.data.len(),
                "upload {loc}: {} of {} bytes were acknowledged before the crash, the restarted registry reports Range {range}",
                s.acked,
                s.data.len()
            );
            let mut loc = loc.clone();
            for (n, off) in offsets.iter().enumerate() {
                if *off == s.data.len() {
                    break;
                }
                let rb = reg
                    .req(Method::PATCH, &loc)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{off}-{}", s.data.len() - 1))
                    .body(s.data[*off..].to_vec());
                let r = reg.send(rb);
                if r.status == 416 && n + 1 < offsets.len() {
                    continue;
                }
                loc = r.expect(202).location();
                break;
            }
            let r = reg.send(reg.req(Method::PUT, &with_digest(&loc, &digest)));
            assert_eq!(
                r.status, 201,
                "finishing the upload interrupted by the crash (bytes before the crash corrupt?):\n{r}"
            );
            assert_eq!(
                fetch_blob(reg, repo, &digest).map(|b| sha256(&b)),
                Some(digest.clone())
            );
        }
        log.acked_blobs.push((repo.clone(), digest, s.data.len()));
        resumed += 1;
    }
    resumed
}

/// Blob sizes from 1 KiB to 8 MiB, mostly small (as real images are).
fn blob_size(rng: &mut impl Rng) -> usize {
    match rng.random_range(0..100) {
        0..70 => rng.random_range(1024..64 * 1024),
        70..95 => rng.random_range(64 * 1024..1024 * 1024),
        _ => rng.random_range(1024 * 1024..=8 * 1024 * 1024),
    }
}

fn upload_way(rng: &mut impl Rng, len: usize) -> Upload {
    match rng.random_range(0..4) {
        0 => Upload::PostPut,
        1 => Upload::SinglePost,
        2 => Upload::Chunked((len / rng.random_range(2..5)).max(512)),
        _ => Upload::Streamed((len / rng.random_range(2..5)).max(512)),
    }
}

struct Shared<'a> {
    reg: &'a Registry,
    stop: &'a AtomicBool,
    in_flight: &'a AtomicUsize,
    acked_in_round: &'a AtomicUsize,
    log: &'a Mutex<Log>,
}

/// One client: pushes images until the server dies or `stop` is set.
fn pusher(s: &Shared, round: usize, thread: usize) {
    let mut rng = rand::rng();
    for i in 0.. {
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        let repo = format!("crash/repo{}", (thread + i) % REPOS);
        let sizes: Vec<usize> = (0..rng.random_range(1..=3))
            .map(|_| blob_size(&mut rng))
            .collect();
        let img = Image::random(&sizes);
        for blob in &img.blobs {
            let how = upload_way(&mut rng, blob.len());
            let entry = (repo.clone(), sha256(blob), blob.len());
            let mut progress = None;
            s.in_flight.fetch_add(1, Ordering::SeqCst);
            let res = match how {
                Upload::Chunked(size) => push_chunked(s.reg, &repo, blob, size, &mut progress),
                _ => try_push_blob(s.reg, &repo, blob, how).map(drop),
            };
            s.in_flight.fetch_sub(1, Ordering::SeqCst);
            let mut log = s.log.lock().unwrap();
            match res {
                Ok(_) => log.acked_blobs.push(entry),
                Err(e) => {
                    log.unacked_blobs.push(entry);
                    if let (PushError::Transport(_), Some(p)) = (&e, progress) {
                        log.interrupted.push(p);
                    }
                    if let PushError::Status(msg) = e {
                        log.errors
                            .push(format!("blob upload ({how:?}) in {repo}: {msg}"));
                    }
                    return;
                }
            }
        }
        let tag = format!("r{round}-t{thread}-i{i}");
        s.in_flight.fetch_add(1, Ordering::SeqCst);
        let res = s.reg.try_send(
            s.reg
                .req(Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
                .header("Content-Type", OCI_MANIFEST)
                .body(img.manifest.clone()),
        );
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut log = s.log.lock().unwrap();
        match res {
            Ok(r)
                if r.status == 201
                    && r.header("docker-content-digest") == Some(img.digest.as_str()) =>
            {
                log.acked_manifests.push((repo, tag, img));
                s.acked_in_round.fetch_add(1, Ordering::SeqCst);
            }
            Ok(r) => {
                log.errors.push(format!("manifest PUT: {r}"));
                log.unacked_manifests.push((repo, tag, img));
                return;
            }
            Err(_) => {
                log.unacked_manifests.push((repo, tag, img));
                return;
            }
        }
    }
}

/// GET a blob: `Some(body)` when present (status 200), `None` when 404; anything else fails.
fn fetch_blob(reg: &Registry, repo: &str, digest: &str) -> Option<Vec<u8>> {
    let r = reg.get(&format!("/v2/{repo}/blobs/{digest}"));
    match r.status {
        200 => Some(r.body),
        404 => None,
        _ => panic!("unexpected answer for a blob after the crash:\n{r}"),
    }
}

fn fetch_manifest(reg: &Registry, repo: &str, reference: &str) -> Option<Resp> {
    let r = reg.get_accept(
        &format!("/v2/{repo}/manifests/{reference}"),
        &format!("{OCI_MANIFEST}, {OCI_INDEX}"),
    );
    match r.status {
        200 => Some(r),
        404 => None,
        _ => panic!("unexpected answer for a manifest after the crash:\n{r}"),
    }
}

/// A visible manifest must be complete: every blob it names is readable and intact.
fn assert_manifest_complete(reg: &Registry, repo: &str, reference: &str, body: &[u8]) {
    let m: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{repo}:{reference} is not JSON after the crash: {e}"));
    let mut descs = vec![m["config"].clone()];
    descs.extend(m["layers"].as_array().cloned().unwrap_or_default());
    for d in descs {
        let digest = d["digest"].as_str().unwrap();
        let blob = fetch_blob(reg, repo, digest).unwrap_or_else(|| {
            panic!("{repo}:{reference} is visible but its blob {digest} is not")
        });
        assert_eq!(
            sha256(&blob),
            digest,
            "{repo}:{reference}: blob {digest} is corrupt after the crash"
        );
        assert_eq!(
            Some(blob.len() as u64),
            d["size"].as_u64(),
            "{repo}:{reference}: blob {digest} has the wrong size"
        );
    }
}

fn verify(reg: &Registry, log: &Log) -> (usize, usize) {
    // Everything acknowledged is there, byte for byte.
    for (repo, digest, len) in &log.acked_blobs {
        let blob = fetch_blob(reg, repo, digest).unwrap_or_else(|| {
            panic!("acknowledged blob {digest} ({len} bytes) in {repo} is gone")
        });
        assert_eq!(
            blob.len(),
            *len,
            "acknowledged blob {digest} in {repo} has the wrong length"
        );
        assert_eq!(
            &sha256(&blob),
            digest,
            "acknowledged blob {digest} in {repo} is corrupt"
        );
    }
    for (repo, tag, img) in &log.acked_manifests {
        let r = fetch_manifest(reg, repo, &img.digest)
            .unwrap_or_else(|| panic!("acknowledged manifest {} in {repo} is gone", img.digest));
        assert!(
            r.body == img.manifest,
            "acknowledged manifest {} in {repo} changed",
            img.digest
        );
        let r = fetch_manifest(reg, repo, tag)
            .unwrap_or_else(|| panic!("acknowledged tag {repo}:{tag} is gone"));
        assert!(
            r.body == img.manifest,
            "acknowledged tag {repo}:{tag} points elsewhere"
        );
        assert_eq!(r.header("docker-content-digest"), Some(img.digest.as_str()));
    }
    // Nothing unacknowledged is visible half-done: absent, or complete and correct.
    let mut visible_unacked = 0;
    for (repo, digest, len) in &log.unacked_blobs {
        if let Some(blob) = fetch_blob(reg, repo, digest) {
            visible_unacked += 1;
            assert_eq!(
                blob.len(),
                *len,
                "unacknowledged blob {digest} in {repo} is visible truncated"
            );
            assert_eq!(
                &sha256(&blob),
                digest,
                "unacknowledged blob {digest} in {repo} is visible corrupt"
            );
        }
    }
    for (repo, tag, img) in &log.unacked_manifests {
        for reference in [&img.digest, tag] {
            if let Some(r) = fetch_manifest(reg, repo, reference) {
                visible_unacked += 1;
                assert!(
                    r.body == img.manifest,
                    "unacknowledged manifest {repo}:{reference} is visible but different"
                );
                assert_manifest_complete(reg, repo, reference, &r.body);
            }
        }
    }
    // Every tag listed resolves to a complete image we pushed; no unknown repository appears.
    let known: BTreeMap<(String, String), &Image> = log
        .acked_manifests
        .iter()
        .chain(&log.unacked_manifests)
        .map(|(r, t, i)| ((r.clone(), t.clone()), i))
        .collect();
    let repos: BTreeSet<&String> = known.keys().map(|(r, _)| r).collect();
    let mut listed = 0;
    for repo in &repos {
        let r = reg.get(&format!("/v2/{repo}/tags/list"));
        if r.status == 404 {
            continue;
        }
        let v = r.expect(200).json();
        for t in v["tags"].as_array().cloned().unwrap_or_default() {
            let t = t.as_str().unwrap().to_owned();
            let img = known
                .get(&((*repo).clone(), t.clone()))
                .unwrap_or_else(|| panic!("tag {repo}:{t} was never pushed"));
            let m = fetch_manifest(reg, repo, &t)
                .unwrap_or_else(|| panic!("listed tag {repo}:{t} does not resolve"));
            assert!(
                m.body == img.manifest,
                "listed tag {repo}:{t} has other content"
            );
            assert_manifest_complete(reg, repo, &t, &m.body);
            listed += 1;
        }
    }
    let cat = reg.get("/v2/_catalog").expect(200).json();
    for r in cat["repositories"].as_array().cloned().unwrap_or_default() {
        assert!(
            repos.iter().any(|k| *k == r.as_str().unwrap()),
            "catalog lists {r}, which was never pushed"
        );
    }
    (visible_unacked, listed)
}

/// The first file under `dir` named `name`.
fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if e.file_name().to_string_lossy() == name {
            return Some(p);
        }
    }
    None
}

/// Files in the data folder named by a digest (`.../<hex>` or `.../<hex>/data`, sha256 or
/// sha512 by the hex length) hold exactly that content: a committed blob file is never
/// truncated. Upload and temporary folders are skipped. Returns how many files were checked.
fn check_content_addressed_files(dir: &Path) -> usize {
    let mut checked = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .to_lowercase();
            if rel.contains("upload") || rel.contains("tmp") || rel.contains("temp") {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let parent = p
                .parent()
                .and_then(|q| q.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let is_hex = |s: &str| {
                (s.len() == 64 || s.len() == 128) && s.bytes().all(|b| b.is_ascii_hexdigit())
            };
            let hex = if is_hex(&name) {
                name
            } else if name == "data" && is_hex(&parent) {
                parent
            } else {
                continue;
            };
            let algo = if hex.len() == 64 { "sha256" } else { "sha512" };
            let content = std::fs::read(&p).unwrap();
            assert_eq!(
                digest_like(algo, &content),
                format!("{algo}:{hex}"),
                "{} ({} bytes) holds other content than its name says",
                p.display(),
                content.len()
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn kill_9_during_concurrent_pushes_loses_nothing_acknowledged() {
    if std::env::var("BERTH_TEST_REGISTRY").is_ok_and(|s| !s.is_empty()) {
        eprintln!(
            "\n*** SKIPPED against an external registry: the crash test kills its own berth ***\n"
        );
        return;
    }
    let started = Instant::now();
    let mut server = berth_testkit::BerthServer::start(env!("CARGO_BIN_EXE_berth"));
    let reg = Registry {
        base: server.url(),
        server: None,
        client: client(),
    };
    let log = Mutex::new(Log::default());
    let mut lost = Vec::new();
    let mut rng = rand::rng();

    for round in 0..ROUNDS {
        let stop = AtomicBool::new(false);
        let in_flight = AtomicUsize::new(0);
        let acked_in_round = AtomicUsize::new(0);
        let shared = Shared {
            reg: &reg,
            stop: &stop,
            in_flight: &in_flight,
            acked_in_round: &acked_in_round,
            log: &log,
        };
        let target = rng.random_range(8..40);
        let extra_delay = Duration::from_millis(rng.random_range(0..300));
        let killed_with_in_flight = std::thread::scope(|scope| {
            for t in 0..THREADS {
                let shared = &shared;
                scope.spawn(move || pusher(shared, round, t));
            }
            // Wait for some acknowledged images (bounded), a little more, then for traffic.
            let round_start = Instant::now();
            while acked_in_round.load(Ordering::SeqCst) < target
                && round_start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(extra_delay);
            let wait = Instant::now();
            while in_flight.load(Ordering::SeqCst) == 0 && wait.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let busy = in_flight.load(Ordering::SeqCst);
            server.kill();
            stop.store(true, Ordering::SeqCst);
            busy
        });
        let acked = acked_in_round.load(Ordering::SeqCst);
        assert!(
            acked > 0,
            "round {round}: no push was acknowledged before the kill:\n{}",
            server.log()
        );
        {
            let log = log.lock().unwrap();
            assert!(
                log.errors.is_empty(),
                "wrong answers from a live server:\n{}",
                log.errors.join("\n")
            );
        }
        server.restart();
        let mut log = log.lock().unwrap();
        let (visible_unacked, listed) = verify(&reg, &log);
        let resumed = resume_interrupted(&reg, &mut log, &mut lost, server.data_dir());
        let files = check_content_addressed_files(server.data_dir());
        eprintln!(
            "round {round}: killed with {killed_with_in_flight} requests in flight after {acked} acknowledged images; \
             verified {} blobs and {} manifests acknowledged so far, {} unacknowledged blobs and {} manifests \
             ({visible_unacked} of them visible and complete), {resumed} interrupted chunked uploads resumed, \
             {listed} listed tags, {files} content-addressed files",
            log.acked_blobs.len(),
            log.acked_manifests.len(),
            log.unacked_blobs.len(),
            log.unacked_manifests.len(),
        );
        assert!(
            killed_with_in_flight > 0,
            "round {round}: the kill found no upload in flight"
        );
    }
    eprintln!("crash test took {:?}", started.elapsed());
    assert!(
        lost.is_empty(),
        "interrupted uploads lost everything acknowledged (neither resumable nor complete):\n{}",
        lost.join("\n")
    );
}
