//! The machine's own limits for a durable blob upload.
//!
//! A registry that stores a blob durably must hash every byte (SHA-256, one core per stream)
//! and write it to disk and fsync it. The slower of the two bounds a single upload, so berth's
//! large-upload throughput is reported as a fraction of min(SHA-256 rate, durable write rate),
//! both measured here on the disk that holds the registries' data.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::data::{BLOCK, Pool};

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Limits {
    /// Single-core SHA-256 rate with the same crate berth uses (sha2 0.10, SHA-NI when present).
    pub sha256_mib_s: f64,
    /// Writing `bytes` to a new file and fsyncing it, on the data disk.
    pub durable_write_mib_s: f64,
    pub bytes: u64,
}

impl Limits {
    pub fn min(&self) -> f64 {
        self.sha256_mib_s.min(self.durable_write_mib_s)
    }
}

/// Measures both limits with `bytes` of pseudo-random data; blocking (run off the runtime).
pub fn measure(pool: &Pool, dir: &Path, bytes: u64) -> Result<Limits> {
    let mib = |d: std::time::Duration| bytes as f64 / (1u64 << 20) as f64 / d.as_secs_f64();

    let mut h = Sha256::new();
    let t = Instant::now();
    let mut done = 0u64;
    let mut i = 0;
    while done < bytes {
        let c = pool.chunk(i, BLOCK);
        h.update(&c);
        done += c.len() as u64;
        i += 1;
    }
    std::hint::black_box(h.finalize());
    let sha = mib(t.elapsed());

    // 1 MiB writes from a buffer filled once, so the loop measures the disk, not the generator.
    let buf: Vec<u8> = (0..4).flat_map(|i| pool.chunk(i, BLOCK).to_vec()).collect();
    let path = dir.join("limits-durable-write.tmp");
    crate::measure::sync_disk();
    let t = Instant::now();
    let mut f =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut done = 0u64;
    while done < bytes {
        f.write_all(&buf)?;
        done += buf.len() as u64;
    }
    f.sync_all()?;
    let write = mib(t.elapsed());
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(Limits {
        sha256_mib_s: sha,
        durable_write_mib_s: write,
        bytes,
    })
}
