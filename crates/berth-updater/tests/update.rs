//! `Fetcher::update` against a local server that misbehaves on purpose, serving real
//! recorded feed files: the last good copy must survive every failure, byte for byte, and
//! the state must say what happened.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_updater::{FeedDir, FeedSpec, Fetcher, Options, Outcome, UpdateError};
use common::{Reply, Server, gzip_validator, leftovers, recorded, sha256_hex, test_options};

fn spec(name: &str, url: String) -> FeedSpec {
    FeedSpec {
        name: name.to_owned(),
        url,
        interval: Duration::from_secs(6 * 3600),
        enabled: true,
    }
}

fn setup() -> (tempfile::TempDir, FeedDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = FeedDir::open(&tmp.path().join("feeds")).unwrap();
    (tmp, dir)
}

fn fetcher(opts: Options) -> Fetcher {
    Fetcher::new(opts).unwrap()
}

#[test]
fn first_download_then_etag_304() {
    let (_, v1) = recorded("rustsec-advisory-db");
    let body = v1.clone();
    let server = Server::start(move |req, _| {
        if req.header("If-None-Match") == Some("\"bf5c0d24\"") {
            Reply::status(304, &[("ETag", "\"bf5c0d24\"")], "")
        } else {
            Reply::ok(&body, &[("ETag", "\"bf5c0d24\"")])
        }
    });
    let (_t, dir) = setup();
    let f = fetcher(test_options());
    let s = spec(
        "rustsec",
        server.url("/rustsec/advisory-db/archive/refs/heads/main.tar.gz"),
    );

    let out = f.update(&dir, &s, &gzip_validator).unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            size: v1.len() as u64,
            sha256: sha256_hex(&v1)
        }
    );
    assert_eq!(std::fs::read(dir.data_path("rustsec")).unwrap(), v1);
    let st = dir.state("rustsec").unwrap().unwrap();
    assert_eq!(st.etag.as_deref(), Some("\"bf5c0d24\""));
    assert_eq!(st.sha256.as_deref(), Some(sha256_hex(&v1).as_str()));
    assert_eq!(st.size, Some(v1.len() as u64));
    assert!(st.fetched_at.is_some() && st.changed_at == st.fetched_at);
    assert_eq!((st.attempts, st.last_error.as_deref()), (0, None));
    assert!(server.requests()[0].header("If-None-Match").is_none());

    let out = f.update(&dir, &s, &gzip_validator).unwrap();
    assert_eq!(out, Outcome::Unchanged);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("If-None-Match"), Some("\"bf5c0d24\""));
    assert_eq!(reqs[1].header("User-Agent"), Some("berth-updater-tests"));
    let st2 = dir.state("rustsec").unwrap().unwrap();
    assert_eq!(st2.changed_at, st.changed_at);
    assert!(st2.fetched_at >= st.fetched_at);
    assert_eq!(std::fs::read(dir.data_path("rustsec")).unwrap(), v1);
    assert!(leftovers(&dir.root().join("rustsec")).is_empty());
}

#[test]
fn last_modified_path() {
    let (_, v1) = recorded("nodejs-security-wg");
    const LM: &str = "Tue, 08 Apr 2026 10:00:00 GMT";
    let body = v1.clone();
    let server = Server::start(move |req, _| {
        if req.header("If-Modified-Since") == Some(LM) {
            Reply::status(304, &[], "")
        } else {
            Reply::ok(&body, &[("Last-Modified", LM)])
        }
    });
    let (_t, dir) = setup();
    let f = fetcher(test_options());
    let s = spec("nodejs-security-wg", server.url("/wg.tar.gz"));
    assert!(matches!(
        f.update(&dir, &s, &gzip_validator).unwrap(),
        Outcome::Updated { .. }
    ));
    assert_eq!(
        f.update(&dir, &s, &gzip_validator).unwrap(),
        Outcome::Unchanged
    );
    let reqs = server.requests();
    assert_eq!(reqs[1].header("If-Modified-Since"), Some(LM));
    assert_eq!(reqs[1].header("If-None-Match"), None);
    let st = dir.state("nodejs-security-wg").unwrap().unwrap();
    assert_eq!(st.last_modified.as_deref(), Some(LM));
    assert_eq!(
        std::fs::read(dir.data_path("nodejs-security-wg")).unwrap(),
        v1
    );
}

#[test]
fn changed_content_replaces_and_same_bytes_do_not() {
    let (_, v1) = recorded("rustsec-advisory-db");
    let (_, v2) = recorded("go-vulndb");
    let (b1, b2) = (v1.clone(), v2.clone());
    // Request 0: v1 (etag a); 1: v2 (etag b); 2: v2 again under a new etag and ignoring
    // If-None-Match, as a CDN that lost its validators would.
    let server = Server::start(move |_, n| match n {
        0 => Reply::ok(&b1, &[("ETag", "\"a\"")]),
        1 => Reply::ok(&b2, &[("ETag", "\"b\"")]),
        _ => Reply::ok(&b2, &[("ETag", "\"c\"")]),
    });
    let (_t, dir) = setup();
    let f = fetcher(test_options());
    let s = spec("feed", server.url("/feed.tar.gz"));
    f.update(&dir, &s, &gzip_validator).unwrap();
    let first = dir.state("feed").unwrap().unwrap();

    let out = f.update(&dir, &s, &gzip_validator).unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            size: v2.len() as u64,
            sha256: sha256_hex(&v2)
        }
    );
    assert_ne!(sha256_hex(&v1), sha256_hex(&v2));
    assert_eq!(std::fs::read(dir.data_path("feed")).unwrap(), v2);
    assert_eq!(server.requests()[1].header("If-None-Match"), Some("\"a\""));
    let second = dir.state("feed").unwrap().unwrap();
    assert_eq!(second.etag.as_deref(), Some("\"b\""));
    assert!(second.changed_at >= first.changed_at);

    let validated = AtomicUsize::new(0);
    let counting = |p: &Path| {
        validated.fetch_add(1, Ordering::SeqCst);
        gzip_validator(p)
    };
    assert_eq!(f.update(&dir, &s, &counting).unwrap(), Outcome::Unchanged);
    assert_eq!(
        validated.load(Ordering::SeqCst),
        0,
        "same bytes need no validation"
    );
    let third = dir.state("feed").unwrap().unwrap();
    assert_eq!(third.etag.as_deref(), Some("\"c\""));
    assert_eq!(third.changed_at, second.changed_at);
    assert!(leftovers(&dir.root().join("feed")).is_empty());
}

/// Downloads `good` once so the feed has a last good copy, then points the server at `bad`.
fn with_good_copy(
    good: Vec<u8>,
    bad: impl Fn(usize) -> Reply + Send + Sync + 'static,
    opts: Options,
) -> (Server, tempfile::TempDir, FeedDir, Fetcher, FeedSpec) {
    let server = Server::start(move |_, n| {
        if n == 0 {
            Reply::ok(&good, &[("ETag", "\"good\"")])
        } else {
            bad(n)
        }
    });
    let (t, dir) = setup();
    let f = fetcher(opts);
    let s = spec("feed", server.url("/feed.tar.gz"));
    assert!(matches!(
        f.update(&dir, &s, &gzip_validator).unwrap(),
        Outcome::Updated { .. }
    ));
    (server, t, dir, f, s)
}

fn assert_good_copy_kept(dir: &FeedDir, good: &[u8], error_contains: &str, attempts: u32) {
    assert_eq!(std::fs::read(dir.data_path("feed")).unwrap(), good);
    let st = dir.state("feed").unwrap().unwrap();
    assert_eq!(st.sha256.as_deref(), Some(sha256_hex(good).as_str()));
    assert_eq!(st.etag.as_deref(), Some("\"good\""));
    let err = st.last_error.as_deref().unwrap_or("");
    assert!(err.contains(error_contains), "last_error {err:?}");
    assert!(st.last_error_at.is_some());
    assert_eq!(st.attempts, attempts);
    assert!(
        leftovers(&dir.root().join("feed")).is_empty(),
        "{:?}",
        leftovers(&dir.root().join("feed"))
    );
}

#[test]
fn truncated_body_is_retried_then_fails_keeping_the_good_copy() {
    let (_, good) = recorded("alpine-secdb");
    let (_, big) = recorded("go-vulndb");
    let half = big[..big.len() / 2].to_vec();
    let declared = big.len() as u64;
    let (server, _t, dir, f, s) = with_good_copy(
        good.clone(),
        move |_| Reply::Short {
            declared,
            body: half.clone(),
        },
        test_options(),
    );
    let err = f.update(&dir, &s, &gzip_validator).unwrap_err();
    assert!(
        matches!(err, UpdateError::Truncated { .. }),
        "{}",
        err.chain()
    );
    assert!(err.is_retryable());
    // The good download, then the first try and two retries.
    assert_eq!(server.count(), 1 + 3);
    assert!(err.to_string().contains("feed feed"), "{err}");
    assert!(
        err.to_string().contains(&server.url("/feed.tar.gz")),
        "{err}"
    );
    assert_good_copy_kept(&dir, &good, "broke off", 1);

    // A second failing run counts a second attempt, not three more.
    f.update(&dir, &s, &gzip_validator).unwrap_err();
    assert_good_copy_kept(&dir, &good, "broke off", 2);
}

#[test]
fn broken_chunked_stream_is_retried_then_fails() {
    let (_, good) = recorded("alpine-secdb");
    let (_, big) = recorded("go-vulndb");
    let (server, _t, dir, f, s) = with_good_copy(
        good.clone(),
        move |_| Reply::Chunked {
            body: big[..300_000].to_vec(),
            finish: false,
        },
        test_options(),
    );
    let err = f.update(&dir, &s, &gzip_validator).unwrap_err();
    assert!(
        matches!(err, UpdateError::Truncated { .. }),
        "{}",
        err.chain()
    );
    assert_eq!(server.count(), 1 + 3);
    assert_good_copy_kept(&dir, &good, "broke off", 1);
}

#[test]
fn complete_chunked_stream_is_accepted() {
    let (_, v) = recorded("go-vulndb");
    let body = v.clone();
    let server = Server::start(move |_, _| Reply::Chunked {
        body: body.clone(),
        finish: true,
    });
    let (_t, dir) = setup();
    let out = fetcher(test_options())
        .update(&dir, &spec("go-vulndb", server.url("/x")), &gzip_validator)
        .unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            size: v.len() as u64,
            sha256: sha256_hex(&v)
        }
    );
    assert_eq!(std::fs::read(dir.data_path("go-vulndb")).unwrap(), v);
}

#[test]
fn rejected_content_keeps_the_good_copy_without_retrying() {
    let (_, good) = recorded("rustsec-advisory-db");
    // What a captive portal or a broken CDN answers with 200.
    let (server, _t, dir, f, s) = with_good_copy(
        good.clone(),
        |_| {
            Reply::status(
                200,
                &[("Content-Type", "text/html")],
                "<html><body>Service temporarily unavailable</body></html>",
            )
        },
        test_options(),
    );
    let err = f.update(&dir, &s, &gzip_validator).unwrap_err();
    assert!(
        matches!(err, UpdateError::Invalid { .. }),
        "{}",
        err.chain()
    );
    assert!(!err.is_retryable());
    assert_eq!(server.count(), 2);
    assert_good_copy_kept(&dir, &good, "not a gzip file", 1);
}

#[test]
fn not_found_is_not_retried() {
    let server = Server::start(|_, _| {
        Reply::status(
            404,
            &[("Content-Type", "application/xml")],
            "<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>",
        )
    });
    let (_t, dir) = setup();
    let f = fetcher(test_options());
    let s = spec("pypi-osv", server.url("/PyPI/all.zip"));
    let err = f.update(&dir, &s, &gzip_validator).unwrap_err();
    match &err {
        UpdateError::Status { status, detail, .. } => {
            assert_eq!(*status, 404);
            assert!(detail.contains("NoSuchKey"), "{detail}");
        }
        other => panic!("{}", other.chain()),
    }
    assert_eq!(server.count(), 1);
    assert!(!dir.data_path("pypi-osv").exists());
    let st = dir.state("pypi-osv").unwrap().unwrap();
    assert_eq!(st.attempts, 1);
    assert!(st.last_error.unwrap().contains("404"));
    assert_eq!(st.fetched_at, None);
}

#[test]
fn server_errors_then_success_after_retries() {
    let (_, v) = recorded("pypa-advisory-database");
    let body = v.clone();
    let server = Server::start(move |_, n| match n {
        0 => Reply::status(500, &[], "boom"),
        1 => Reply::status(429, &[("Retry-After", "0")], "slow down"),
        2 => Reply::status(503, &[], ""),
        _ => Reply::ok(&body, &[]),
    });
    let (_t, dir) = setup();
    let f = fetcher(Options {
        retries: 3,
        ..test_options()
    });
    let started = Instant::now();
    let out = f
        .update(
            &dir,
            &spec("pypa", server.url("/pypa.tar.gz")),
            &gzip_validator,
        )
        .unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            size: v.len() as u64,
            sha256: sha256_hex(&v)
        }
    );
    assert_eq!(server.count(), 4);
    assert_eq!(std::fs::read(dir.data_path("pypa")).unwrap(), v);
    let st = dir.state("pypa").unwrap().unwrap();
    assert_eq!((st.attempts, st.last_error), (0, None));
    // 10 + 20 + 40 ms of backoff at most, plus a local 3.8 MB transfer.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn retry_after_is_honoured() {
    // Enough to pass the gzip check: the magic bytes and some padding.
    let mut body = vec![0u8; 64];
    body[..2].copy_from_slice(&[0x1f, 0x8b]);
    let server = Server::start(move |_, n| match n {
        0 => Reply::status(503, &[("Retry-After", "1")], ""),
        _ => Reply::ok(&body, &[]),
    });
    let (_t, dir) = setup();
    let f = fetcher(test_options());
    f.update(&dir, &spec("x", server.url("/x")), &gzip_validator)
        .unwrap();
    let reqs = server.requests();
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(950), "{gap:?}");
}

#[test]
fn server_that_never_answers_times_out() {
    let server = Server::start(|_, _| {
        Reply::Delay(Duration::from_secs(3), Box::new(Reply::ok(b"late", &[])))
    });
    let (_t, dir) = setup();
    let f = fetcher(Options {
        timeout: Duration::from_millis(300),
        retries: 1,
        ..test_options()
    });
    let started = Instant::now();
    let err = f
        .update(&dir, &spec("slow", server.url("/slow")), &gzip_validator)
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            UpdateError::Timeout {
                phase: "waiting for",
                ..
            }
        ),
        "{}",
        err.chain()
    );
    assert_eq!(server.count(), 2);
    assert!(took < Duration::from_secs(2), "{took:?}");
    let st = dir.state("slow").unwrap().unwrap();
    assert!(st.last_error.unwrap().contains("timed out"));
}

#[test]
fn server_that_stalls_mid_body_times_out() {
    let (_, good) = recorded("alpine-secdb");
    let (_, big) = recorded("go-vulndb");
    let declared = big.len() as u64;
    let (server, _t, dir, f, s) = with_good_copy(
        good.clone(),
        move |_| Reply::Stall {
            declared,
            prefix: big[..100_000].to_vec(),
            stall: Duration::from_secs(3),
        },
        Options {
            timeout: Duration::from_millis(300),
            retries: 1,
            ..test_options()
        },
    );
    let started = Instant::now();
    let err = f.update(&dir, &s, &gzip_validator).unwrap_err();
    assert!(
        matches!(
            err,
            UpdateError::Timeout {
                phase: "reading from",
                ..
            }
        ),
        "{}",
        err.chain()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.count(), 1 + 2);
    assert_good_copy_kept(&dir, &good, "timed out", 1);
}

#[test]
fn body_over_max_size_is_refused_and_leaves_nothing() {
    let (_, v) = recorded("rustsec-advisory-db");
    let body = v.clone();
    // Request 0 declares its length; the others stream chunked, so the limit is hit while
    // reading.
    let server = Server::start(move |_, n| {
        if n == 0 {
            Reply::ok(&body, &[])
        } else {
            Reply::Chunked {
                body: body.clone(),
                finish: true,
            }
        }
    });
    let (_t, dir) = setup();
    let f = fetcher(Options {
        max_size: 100_000,
        ..test_options()
    });
    let s = spec("big", server.url("/big.tar.gz"));
    for expected_requests in [1, 2] {
        let err = f.update(&dir, &s, &gzip_validator).unwrap_err();
        assert!(
            matches!(err, UpdateError::TooLarge { limit: 100_000, .. }),
            "{}",
            err.chain()
        );
        assert_eq!(server.count(), expected_requests, "no retries");
        assert!(!dir.data_path("big").exists());
        assert!(leftovers(&dir.root().join("big")).is_empty());
    }
    assert_eq!(dir.state("big").unwrap().unwrap().attempts, 2);
}

#[test]
fn credentials_never_reach_messages_or_state() {
    let server = Server::start(|_, _| Reply::status(403, &[], "denied"));
    let url = format!(
        "http://mirror-user:hunter2@{}/feed.json?token=s3cr3t&v=2",
        server.addr()
    );
    let (_t, dir) = setup();
    let err = fetcher(test_options())
        .update(&dir, &spec("private", url), &gzip_validator)
        .unwrap_err();
    let text = format!("{} | {:?}", err.chain(), err);
    let state = std::fs::read_to_string(dir.root().join("private/state.json")).unwrap();
    for secret in ["hunter2", "s3cr3t", "mirror-user"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!state.contains(secret), "{state}");
    }
    assert!(text.contains("token=***"), "{text}");
    // The credentials were still used.
    assert!(
        server.requests()[0]
            .header("Authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
}

#[test]
fn changed_url_drops_validators_and_leftovers_are_cleaned() {
    let (_, v) = recorded("rustsec-advisory-db");
    let body = v.clone();
    let server = Server::start(move |_, _| Reply::ok(&body, &[("ETag", "\"e\"")]));
    let (_t, dir) = setup();
    let f = fetcher(test_options());
    f.update(&dir, &spec("feed", server.url("/old")), &gzip_validator)
        .unwrap();
    // What a crash between writing and renaming leaves.
    std::fs::write(dir.root().join("feed/.tmp-999-0-0"), b"partial").unwrap();
    assert_eq!(
        f.update(&dir, &spec("feed", server.url("/new")), &gzip_validator)
            .unwrap(),
        Outcome::Unchanged
    );
    let reqs = server.requests();
    assert_eq!(reqs[1].path, "/new");
    assert_eq!(reqs[1].header("If-None-Match"), None);
    assert!(leftovers(&dir.root().join("feed")).is_empty());
    assert_eq!(dir.state("feed").unwrap().unwrap().url, server.url("/new"));
}

#[test]
fn one_update_per_feed_at_a_time() {
    let (_, v) = recorded("alpine-secdb");
    let body = v.clone();
    let server = Server::start(move |_, _| {
        Reply::Delay(Duration::from_millis(500), Box::new(Reply::ok(&body, &[])))
    });
    let (_t, dir) = setup();
    let f = Arc::new(fetcher(test_options()));
    let s = spec("feed", server.url("/feed"));
    let (f2, dir2, s2) = (f.clone(), dir.clone(), s.clone());
    let first = std::thread::spawn(move || f2.update(&dir2, &s2, &gzip_validator));
    while server.count() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = f.update(&dir, &s, &gzip_validator).unwrap_err();
    assert!(matches!(err, UpdateError::Busy { .. }), "{}", err.chain());
    assert!(matches!(
        first.join().unwrap().unwrap(),
        Outcome::Updated { .. }
    ));
    // Busy records nothing: the other process's result stands.
    let st = dir.state("feed").unwrap().unwrap();
    assert_eq!((st.attempts, st.last_error), (0, None));
}

#[test]
fn bad_names_and_urls_are_refused() {
    let (_t, dir) = setup();
    let f = fetcher(test_options());
    let err = f
        .update(
            &dir,
            &spec("../escape", "http://127.0.0.1:1/x".into()),
            &gzip_validator,
        )
        .unwrap_err();
    assert!(matches!(err, UpdateError::BadName { .. }));
    assert!(!dir.root().join("../escape").exists());
    let err = f
        .update(
            &dir,
            &spec("ftp", "ftp://example.org/x".into()),
            &gzip_validator,
        )
        .unwrap_err();
    assert!(matches!(err, UpdateError::BadUrl { .. }), "{}", err.chain());
    assert_eq!(dir.state("ftp").unwrap().unwrap().attempts, 1);
}

#[test]
fn connection_refused_is_retried_and_recorded() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_t, dir) = setup();
    let err = fetcher(test_options())
        .update(
            &dir,
            &spec("down", format!("http://127.0.0.1:{port}/x")),
            &gzip_validator,
        )
        .unwrap_err();
    assert!(matches!(err, UpdateError::Http { .. }), "{}", err.chain());
    let st = dir.state("down").unwrap().unwrap();
    assert!(st.last_error.unwrap().contains("cannot reach"));
}

#[test]
fn redirects_are_followed() {
    let (_, v) = recorded("rustsec-advisory-db");
    let body = v.clone();
    // What github.com does for archive URLs (to codeload.github.com).
    let server = Server::start(move |req, _| {
        if req.path == "/archive/main.tar.gz" {
            Reply::status(302, &[("Location", "/codeload/main")], "")
        } else {
            Reply::ok(&body, &[("ETag", "\"sha\"")])
        }
    });
    let (_t, dir) = setup();
    let out = fetcher(test_options())
        .update(
            &dir,
            &spec("rustsec", server.url("/archive/main.tar.gz")),
            &gzip_validator,
        )
        .unwrap();
    assert!(matches!(out, Outcome::Updated { .. }));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/archive/main.tar.gz", "/codeload/main"]);
    assert_eq!(std::fs::read(dir.data_path("rustsec")).unwrap(), v);
}

#[test]
fn pointer_feeds_resolve_to_plain_file_names_only() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/vex/archive_latest.txt" => Reply::ok(b"csaf_vex_2026-08-20.tar.zst\n", &[]),
        "/evil/archive_latest.txt" => Reply::ok(b"../../elsewhere/x.tar.zst\n", &[]),
        _ => Reply::ok(b"https://evil.example/x.tar.zst", &[]),
    });
    let f = fetcher(test_options());
    let resolved = f
        .resolve_pointer(&spec(
            "redhat-csaf-vex",
            server.url("/vex/archive_latest.txt"),
        ))
        .unwrap();
    assert_eq!(resolved.url, server.url("/vex/csaf_vex_2026-08-20.tar.zst"));
    assert_eq!(resolved.name, "redhat-csaf-vex");
    for path in ["/evil/archive_latest.txt", "/abs/archive_latest.txt"] {
        let err = f
            .resolve_pointer(&spec("redhat-csaf-vex", server.url(path)))
            .unwrap_err();
        assert!(
            matches!(err, UpdateError::Protocol { .. }),
            "{}",
            err.chain()
        );
    }
}
