//! The update loop's round, against a local HTTP server serving the real recorded feeds:
//! feeds download and build the database; a feed that turns into an HTML error page or a
//! 404 is reported and never empties or changes the database; unchanged feeds cause no
//! rebuild. (`berth-updater`'s own tests cover the HTTP edge cases one by one: truncation,
//! slow servers, retries, conditional requests.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_advisory::Space;
use berth_scan::FeedUpdater;
use berth_updater::{FeedSpec, Options};
use berth_vulndb::VulnDb;

fn shared() -> PathBuf {
    let dir = std::env::var_os("BERTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("vulndata").is_dir(),
        "recorded feeds not found at {}/vulndata (set BERTH_SHARED)",
        dir.display()
    );
    dir
}

/// What the server answers per path: (status, body).
type Routes = Arc<Mutex<Vec<(String, u16, Vec<u8>)>>>;

fn serve(routes: Routes) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let routes = routes.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let (status, body) = routes
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map(|(_, s, b)| (*s, b.clone()))
                    .unwrap_or((404, b"not found".to_vec()));
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(&body);
            });
        }
    });
    format!("http://{addr}")
}

fn tarball(folder: &str) -> Vec<u8> {
    let dir = shared().join("vulndata").join(folder);
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    std::fs::read(file).unwrap()
}

#[test]
fn rounds_build_the_database_and_bad_feeds_never_touch_it() {
    let routes: Routes = Arc::new(Mutex::new(vec![
        (
            "/pypa.tar.gz".into(),
            200,
            tarball("pypa-advisory-database"),
        ),
        ("/go.tar.gz".into(), 200, tarball("go-vulndb")),
    ]));
    let base = serve(routes.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(VulnDb::open(dir.path()).unwrap());
    let spec = |name: &str, path: &str| FeedSpec {
        name: name.into(),
        url: format!("{base}{path}"),
        interval: Duration::from_secs(3600),
        enabled: true,
    };
    let options = Options {
        retries: 1,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(20),
        ..Options::default()
    };
    let updater = FeedUpdater::new(
        db.clone(),
        vec![
            spec("pypa", "/pypa.tar.gz"),
            spec("go-vulndb", "/go.tar.gz"),
        ],
        options,
    )
    .unwrap();

    let first = updater.update(true, &|_| {}).unwrap();
    assert_eq!(first.updated, vec!["pypa", "go-vulndb"], "{first:?}");
    let built = first.rebuilt.expect("a build").db;
    assert!(built.lookup(&Space::new("pypi"), "django").count() > 50);
    assert!(built.lookup(&Space::new("go"), "stdlib").count() > 100);
    let digest = built.header().digest.clone();

    // The same data again: nothing changes, no rebuild.
    let same = updater.update(true, &|_| {}).unwrap();
    assert_eq!(same.unchanged.len(), 2, "{same:?}");
    assert!(same.rebuilt.is_none());

    // Upstream breaks: an HTML error page with a 200, and a 404.
    {
        let mut r = routes.lock().unwrap();
        r[0].2 = b"<html><body>Service Unavailable</body></html>".to_vec();
        r.remove(1);
    }
    let broken = updater.update(true, &|_| {}).unwrap();
    assert_eq!(broken.failed.len(), 2, "{broken:?}");
    assert!(broken.rebuilt.is_none());
    assert_eq!(
        db.current().unwrap().header().digest,
        digest,
        "the database is untouched"
    );
    let status = db.status().unwrap();
    for f in &status.feeds {
        assert!(
            f.state.last_error.is_some(),
            "{}: error recorded",
            f.state.name
        );
        assert_eq!(f.info.as_ref().map(|i| i.advisories > 0), Some(true));
    }
    // The error names the cause.
    let go = status
        .feeds
        .iter()
        .find(|f| f.state.name == "go-vulndb")
        .unwrap();
    assert!(
        go.state.last_error.as_deref().unwrap().contains("404"),
        "{:?}",
        go.state.last_error
    );
}
