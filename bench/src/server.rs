//! Starting, watching and stopping the two registries.
//!
//! Both run on 127.0.0.1 with data folders under the bench's temporary folder (one disk), and
//! are stopped when their [`Server`] is dropped, so an error, a panic or Ctrl-C never leaves a
//! registry running. A sampler thread reads the server's `/proc/PID/status` every 10 ms: the
//! highest VmRSS seen during a measurement is that measurement's memory figure.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http::{Method, StatusCode};

use crate::http::{Conn, ReqBody};

/// Which registry a server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Berth,
    Peer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Peer => "peer",
        }
    }
}

/// A running registry under test.
pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub pid: u32,
    pub data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    peer_script: Option<PathBuf>,
    sampler: Sampler,
    cpu_base: f64,
}

/// The superuser berth is started with; every request carries a token obtained with it.
pub const BENCH_USER: &str = "bench";
pub const BENCH_PASSWORD: &str = "bench-password";

/// The berth binary started last (for `berth admin` calls during measurements).
static BERTH_BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

pub fn berth_bin() -> Option<&'static Path> {
    BERTH_BIN.get().map(PathBuf::as_path)
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Starts `berth serve` on a free port with `data_dir`.
    pub async fn start_berth(bin: &Path, data_dir: PathBuf) -> Result<Server> {
        Server::start_berth_env(bin, data_dir, &[]).await
    }

    /// [`Server::start_berth`] with extra `BERTH_*` variables (configuration keys).
    pub async fn start_berth_env(
        bin: &Path,
        data_dir: PathBuf,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        std::fs::create_dir_all(&data_dir)?;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let log = data_dir.with_extension("log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .env("BERTH_AUTH__INITIAL_ADMIN__USERNAME", BENCH_USER)
            .env("BERTH_AUTH__INITIAL_ADMIN__PASSWORD", BENCH_PASSWORD)
            .envs(env.iter().copied())
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        crate::http::register_credentials(addr, BENCH_USER, BENCH_PASSWORD);
        let _ = BERTH_BIN.set(bin.to_owned());
        let mut s = Server::new(Kind::Berth, addr, pid, data_dir, log, Some(child), None);
        s.wait_ready().await?;
        Ok(s)
    }

    /// Starts CNCF Distribution through the shared `distribution.sh` on a free port.
    pub async fn start_peer(script: &Path, data_dir: PathBuf) -> Result<Server> {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let status = Command::new("bash")
            .arg(script)
            .args(["start", &port.to_string()])
            .arg(&data_dir)
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        let pid_file = data_dir.join("registry.pid");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        let log = data_dir.join("registry.log");
        // Build the guard first so that even a failed start is cleaned up.
        let mut s = Server::new(
            Kind::Peer,
            addr,
            pid,
            data_dir,
            log,
            None,
            Some(script.to_owned()),
        );
        if !status.success() {
            bail!(
                "{} start failed ({status}); log:\n{}",
                script.display(),
                s.log_tail()
            );
        }
        s.wait_ready().await?;
        Ok(s)
    }

    fn new(
        kind: Kind,
        addr: SocketAddr,
        pid: u32,
        data_dir: PathBuf,
        log: PathBuf,
        child: Option<Child>,
        peer_script: Option<PathBuf>,
    ) -> Server {
        Server {
            kind,
            addr,
            pid,
            data_dir,
            log,
            child,
            peer_script,
            sampler: Sampler::start(pid),
            cpu_base: cpu_seconds(pid).unwrap_or(0.0),
        }
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Whether our process is still running. Checked because a port collision can leave
    /// another program answering on our port while our server has already exited.
    pub fn alive(&self) -> bool {
        process_state(self.pid).is_some_and(|s| s != 'Z' && s != 'X')
    }

    /// Polls `GET /v2/` until it answers 200 (30 s at most).
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if !self.alive() {
                bail!(
                    "{} (pid {}) exited during start; log:\n{}",
                    self.kind.name(),
                    self.pid,
                    self.log_tail()
                );
            }
            let mut c = Conn::new(self.addr);
            if let Ok(r) = c.call(Method::GET, "/v2/", &[], ReqBody::Empty).await
                && r.status == StatusCode::OK
            {
                // Settle, then make sure the 200 came from our process.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if self.alive() {
                    self.cpu_base = cpu_seconds(self.pid).unwrap_or(0.0);
                    return Ok(());
                }
                continue;
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer GET /v2/ 200 on {} within 30 s; log:\n{}",
                    self.kind.name(),
                    self.addr,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts a new memory phase: the sampler's maximum restarts from the current RSS.
    pub fn phase_start(&self) -> Phase {
        self.sampler.reset();
        Phase {
            cpu: cpu_seconds(self.pid).unwrap_or(0.0),
        }
    }

    /// Highest sampled VmRSS and CPU seconds used since `phase`.
    pub fn phase_end(&self, phase: Phase) -> (u64, f64) {
        self.sampler.sample_now();
        (
            self.sampler.max_kib.load(Ordering::Relaxed),
            cpu_seconds(self.pid).unwrap_or(0.0) - phase.cpu,
        )
    }

    /// Highest VmRSS sampled since start (KiB).
    pub fn max_rss_kib(&self) -> u64 {
        self.sampler.overall_kib.load(Ordering::Relaxed)
    }

    /// CPU seconds since the server became ready.
    pub fn total_cpu(&self) -> f64 {
        cpu_seconds(self.pid).unwrap_or(0.0) - self.cpu_base
    }

    /// The kernel's peak resident set (VmHWM, KiB).
    pub fn hwm_kib(&self) -> Option<u64> {
        status_field(self.pid, "VmHWM:")
    }

    /// Stops the server; idempotent.
    pub fn stop(&mut self) {
        self.sampler.stop();
        if let Some(mut c) = self.child.take() {
            // SIGTERM first so berth can shut down cleanly, then make sure.
            // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(script) = self.peer_script.take() {
            let _ = Command::new("bash")
                .arg(&script)
                .args(["stop", &self.addr.port().to_string()])
                .arg(&self.data_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CPU counters at the start of a phase.
pub struct Phase {
    cpu: f64,
}

/// One line of `/proc/PID/status`, in KiB.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `/proc/PID/stat` fields after the command name (which may contain spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn process_state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// User + system CPU seconds of a process (all its threads).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let f = stat_fields(pid)?;
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state field.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks as f64 / hz)
}

/// Samples a process's VmRSS on a thread, keeping the phase and overall maxima.
struct Sampler {
    pid: u32,
    max_kib: Arc<AtomicU64>,
    overall_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let max_kib = Arc::new(AtomicU64::new(0));
        let overall_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (max_kib, overall_kib, stop) = (max_kib.clone(), overall_kib.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = status_field(pid, "VmRSS:") {
                        max_kib.fetch_max(kib, Ordering::Relaxed);
                        overall_kib.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Sampler {
            pid,
            max_kib,
            overall_kib,
            stop,
            thread: Some(thread),
        }
    }

    fn reset(&self) {
        self.max_kib.store(
            status_field(self.pid, "VmRSS:").unwrap_or(0),
            Ordering::Relaxed,
        );
    }

    fn sample_now(&self) {
        if let Some(kib) = status_field(self.pid, "VmRSS:") {
            self.max_kib.fetch_max(kib, Ordering::Relaxed);
            self.overall_kib.fetch_max(kib, Ordering::Relaxed);
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
