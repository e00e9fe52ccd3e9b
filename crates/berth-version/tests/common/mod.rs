//! Shared helpers for the oracle tests: where the recorded feeds and the reference tools are,
//! a deterministic generator, and a way to ask a tool about many pairs in one process. The
//! tests fail loudly when data or a tool is missing, because a silently skipped oracle test
//! would let a wrong comparison through.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The recorded feeds: `$BERTH_SHARED` or the `shared` folder beside the checkout.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("BERTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("vulndata").is_dir(),
        "shared data not found at {} (set BERTH_SHARED to the folder holding vulndata/)",
        dir.display()
    );
    dir
}

/// Unpacks the one tarball of `vulndata/<feed>/` into a temporary folder.
pub fn unpack(feed: &str) -> tempfile::TempDir {
    let dir = shared().join("vulndata").join(feed);
    let tarball = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap_or_else(|| panic!("no tarball in {}", dir.display()));
    let out = tempfile::tempdir().expect("tempdir");
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(out.path())
        .status()
        .expect("tar");
    assert!(st.success(), "tar -xzf {} failed", tarball.display());
    out
}

/// Every file under `dir` whose name ends with `suffix`.
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Fails with the installer hint when a reference tool does not run.
pub fn require(cmd: &str, args: &[&str]) {
    let ok = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "reference tool `{cmd}` is missing: run dev/install-test-deps.sh (CI installs it)"
    );
}

/// Feeds `a\tb` lines to `cmd` and returns one answer line per pair.
pub fn ask(cmd: &mut Command, pairs: &[(String, String)]) -> Vec<String> {
    let mut input = String::new();
    for (a, b) in pairs {
        input.push_str(a);
        input.push('\t');
        input.push_str(b);
        input.push('\n');
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn oracle");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer").expect("write to oracle");
    assert!(out.status.success(), "oracle {cmd:?} failed");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines.len(),
        pairs.len(),
        "oracle answered {} lines for {} pairs",
        lines.len(),
        pairs.len()
    );
    lines
}

/// `<`, `=` or `>` for an ordering, as the oracles print it.
pub fn sign(o: std::cmp::Ordering) -> &'static str {
    match o {
        std::cmp::Ordering::Less => "<",
        std::cmp::Ordering::Equal => "=",
        std::cmp::Ordering::Greater => ">",
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len())]
    }
    /// A number, sometimes with leading zeros or many digits.
    pub fn number(&mut self) -> String {
        match self.below(10) {
            0 => "0".into(),
            1 => format!("0{}", self.below(10)),
            2 => format!("{}", self.next() % 100_000_000_000),
            _ => format!("{}", self.below(20)),
        }
    }
    /// A version from tokens: numbers, `words` and `seps`, `parts` long.
    pub fn version(&mut self, words: &[&str], seps: &[&str], parts: usize) -> String {
        let mut s = self.number();
        for _ in 0..parts {
            s.push_str(self.pick(seps));
            if self.chance(65) {
                s.push_str(&self.number());
            } else {
                s.push_str(self.pick(words));
            }
        }
        s
    }
    /// `a` with one token changed, to get pairs that differ in one place.
    pub fn mutate(&mut self, a: &str, words: &[&str], seps: &[&str]) -> String {
        let cut = self.below(a.len() + 1);
        let cut = (0..=cut)
            .rev()
            .find(|&i| a.is_char_boundary(i))
            .unwrap_or(0);
        let mut s = a[..cut].to_owned();
        match self.below(4) {
            0 => s.push_str(&self.number()),
            1 => s.push_str(self.pick(words)),
            2 => {
                s.push_str(self.pick(seps));
                s.push_str(&self.number());
            }
            _ => {
                s.push_str(self.pick(seps));
                s.push_str(self.pick(words));
            }
        }
        if self.chance(50) {
            s.push_str(&a[cut..]);
        }
        s
    }
}

/// Generated pairs plus all pairs of neighbours from `real` (sorted lists of real versions).
pub fn pairs(
    rng: &mut Rng,
    n: usize,
    words: &[&str],
    seps: &[&str],
    real: &[String],
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n + real.len());
    for _ in 0..n {
        let parts = rng.below(5);
        let a = rng.version(words, seps, parts);
        let b = match rng.below(3) {
            0 => {
                let p = rng.below(5);
                rng.version(words, seps, p)
            }
            1 => a.clone(),
            _ => rng.mutate(&a, words, seps),
        };
        out.push((a, b));
    }
    for w in real.windows(2) {
        out.push((w[0].clone(), w[1].clone()));
    }
    for _ in 0..real.len().min(2000) {
        let a = &real[rng.below(real.len())];
        let b = &real[rng.below(real.len())];
        out.push((a.clone(), b.clone()));
    }
    out
}

/// Debian OSV `versions` lists, grouped per record (already in dpkg order upstream).
pub fn debian_versions() -> Vec<String> {
    let dir = shared().join("vulndata/debian-osv-bookworm-subset/records");
    let mut out = Vec::new();
    for f in files(&dir, ".json") {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
        for a in v["affected"].as_array().into_iter().flatten() {
            for s in a["versions"].as_array().into_iter().flatten() {
                out.push(s.as_str().expect("version string").to_owned());
            }
            for r in a["ranges"].as_array().into_iter().flatten() {
                for e in r["events"].as_array().into_iter().flatten() {
                    for k in ["introduced", "fixed", "last_affected"] {
                        if let Some(s) = e[k].as_str()
                            && s != "0"
                        {
                            out.push(s.to_owned());
                        }
                    }
                }
            }
        }
    }
    out
}

/// Checks berth's order of every pair against the oracle's answer (`<`, `=`, `>`, or `E`
/// for a version the oracle rejects, which berth must reject too), skipping answers in
/// `skip` (pairs the oracle could not judge), and asserts that at least `min` pairs were
/// compared. Prints the tally.
pub fn assert_agree(
    tool: &str,
    scheme: berth_version::Scheme,
    pairs: &[(String, String)],
    answers: &[String],
    skip: &[&str],
    min: usize,
) {
    assert_eq!(answers.len(), pairs.len(), "{tool} answered every pair");
    let (mut compared, mut rejected) = (0, 0);
    let mut bad = Vec::new();
    for ((a, b), want) in pairs.iter().zip(answers) {
        if skip.contains(&want.as_str()) {
            continue;
        }
        let got = scheme.compare(a, b).map(sign).unwrap_or("E");
        if want == "E" {
            rejected += 1;
        } else {
            compared += 1;
        }
        if got != want {
            bad.push(format!("{a:?} vs {b:?}: {tool} {want}, berth {got}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} disagreements, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(20)]
    );
    assert!(compared >= min, "only {compared} pairs compared");
    eprintln!("{tool}: {compared} pairs agree, {rejected} rejected by both");
}
