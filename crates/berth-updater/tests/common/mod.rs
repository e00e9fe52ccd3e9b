//! A scriptable HTTP/1.1 server on loopback, and the recorded feed files it serves.
//!
//! The failures the updater must survive (a body shorter than its `Content-Length`, a chunked
//! stream that stops, a server that stalls) cannot be produced through a well-behaved HTTP
//! library, so the server is written on a bare `TcpListener` and each reply says exactly
//! which bytes go on the wire. One request per connection (`Connection: close`), one thread
//! per connection, so a stalled reply never blocks the client's retry.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_updater::Options;

/// The recorded vulnerability data: `$BERTH_SHARED/vulndata`, else `shared/vulndata` beside
/// the repository. Missing data is a failure, never a skip: these tests are the proof that
/// real feed files survive the round trip.
pub fn vulndata() -> PathBuf {
    let shared = match std::env::var_os("BERTH_SHARED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = shared.join("vulndata");
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "recorded vulnerability data not found at {} (set BERTH_SHARED to the shared folder)",
        dir.display()
    );
    dir
}

/// The single file in a `vulndata/<folder>/`.
pub fn recorded(folder: &str) -> (PathBuf, Vec<u8>) {
    let dir = vulndata().join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let path = files
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no file in {}", dir.display()));
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Fast options for tests: tiny backoff, short timeouts.
pub fn test_options() -> Options {
    Options {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retries: 2,
        backoff: Duration::from_millis(10),
        max_size: 64 << 20,
        user_agent: "berth-updater-tests".to_owned(),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The validator the tests use for tarballs: a gzip stream starts with 1f 8b.
pub fn gzip_validator(p: &Path) -> Result<(), String> {
    let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
    if bytes.len() > 18 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        Ok(())
    } else {
        Err("not a gzip file".to_owned())
    }
}

/// Entries of a feed folder other than the committed ones; must be empty after any update.
pub fn leftovers(feed_dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(feed_dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !matches!(n.as_str(), "data" | "state.json" | ".lock"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Exactly what to put on the wire.
pub enum Reply {
    /// A normal response; `Content-Length` is added (except for 304).
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Promises `declared` bytes, sends `body`, closes.
    Short { declared: u64, body: Vec<u8> },
    /// `Transfer-Encoding: chunked`; when `finish` is false the terminating chunk never comes
    /// and the connection closes mid-stream.
    Chunked { body: Vec<u8>, finish: bool },
    /// Sends the headers and `prefix` of a `declared`-byte body, then goes silent.
    Stall {
        declared: u64,
        prefix: Vec<u8>,
        stall: Duration,
    },
    /// Waits before answering at all.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    pub fn ok(body: &[u8], headers: &[(&str, &str)]) -> Reply {
        Reply::Full {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        Reply::Full {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync + 'static;

pub struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts on 127.0.0.1:0; `handler` gets each request and its 0-based number.
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let requests = requests.clone();
                    let handler = handler.clone();
                    std::thread::spawn(move || serve(conn, &requests, &*handler));
                }
            })
        };
        Server {
            addr,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(conn: TcpStream, requests: &Mutex<Vec<Request>>, handler: &Handler) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection, or a client that gave up
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let req = Request {
        method,
        path,
        headers,
        at: Instant::now(),
    };
    let n = {
        let mut all = requests.lock().unwrap();
        all.push(req.clone());
        all.len() - 1
    };
    let reply = handler(&req, n);
    // Write errors just mean the client hung up, which some tests cause on purpose.
    let _ = write_reply(conn, reply);
}

fn write_reply(mut conn: TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Delay(d, inner) => {
            std::thread::sleep(d);
            write_reply(conn, *inner)
        }
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (k, v) in &headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            if status != 304 {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            head.push_str("Connection: close\r\n\r\n");
            conn.write_all(head.as_bytes())?;
            if status != 304 {
                conn.write_all(&body)?;
            }
            conn.flush()
        }
        Reply::Short { declared, body } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
            );
            conn.write_all(head.as_bytes())?;
            conn.write_all(&body)?;
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        Reply::Chunked { body, finish } => {
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            )?;
            for chunk in body.chunks(16 * 1024) {
                conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                conn.write_all(chunk)?;
                conn.write_all(b"\r\n")?;
            }
            if finish {
                conn.write_all(b"0\r\n\r\n")?;
            }
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        Reply::Stall {
            declared,
            prefix,
            stall,
        } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
            );
            conn.write_all(head.as_bytes())?;
            conn.write_all(&prefix)?;
            conn.flush()?;
            std::thread::sleep(stall);
            Ok(())
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}
