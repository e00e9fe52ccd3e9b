//! Deterministic blob content and its digests.
//!
//! Upload bodies must not be held in memory (16 concurrent 1 GiB uploads would need 16 GiB) and
//! must not cost the load generator CPU while a measurement runs (the bench shares two cores
//! with the server). So a blob's content is a pure function of `(seed, size)` built from
//! zero-copy slices of one 8 MiB pseudo-random pool: sending it only bumps reference counts.
//! Its SHA-256 is computed once, before any timing, and cached in a file so later runs skip it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

/// Size of the random pool that blob content is sliced from.
const POOL_LEN: usize = 8 << 20;
/// Content is laid out in blocks of this size, each a slice of the pool at a seed-dependent
/// offset; it is also the size of the body frames handed to hyper.
pub const BLOCK: usize = 256 << 10;
/// Bump when the content function changes, so stale cached digests are never used.
const CONTENT_VERSION: u32 = 1;

/// One generated blob: its bytes depend only on these two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobSpec {
    pub seed: u64,
    pub size: u64,
}

impl BlobSpec {
    pub fn new(seed: u64, size: u64) -> Self {
        BlobSpec { seed, size }
    }
}

/// The shared random pool; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    bytes: Bytes,
}

/// SplitMix64: a tiny, well-mixed generator, enough for incompressible test data.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Pool {
    /// Builds the pool from a fixed seed, so every run (and every machine) sees the same bytes.
    pub fn new() -> Pool {
        let mut buf = BytesMut::with_capacity(POOL_LEN);
        let mut state = 0x6265_7274_685f_6265u64; // "berth_be"
        for _ in 0..POOL_LEN / 8 {
            state = state.wrapping_add(1);
            buf.extend_from_slice(&splitmix64(state).to_le_bytes());
        }
        Pool {
            bytes: buf.freeze(),
        }
    }

    /// A slice of the pool of `len` bytes, for filling files (machine limits) cheaply.
    pub fn chunk(&self, i: u64, len: usize) -> Bytes {
        let start = self.block_start(i, 0x5eed);
        self.bytes.slice(start..start + len.min(BLOCK))
    }

    /// Where block `b` of a blob with `seed` starts in the pool (64-byte aligned).
    fn block_start(&self, b: u64, seed: u64) -> usize {
        let slots = ((POOL_LEN - BLOCK) / 64) as u64;
        (splitmix64(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ b) % slots) as usize * 64
    }

    /// The bytes of `spec` from offset `off`, up to the end of the block holding `off` and at
    /// most `max` bytes. Block 0 starts with the seed and size, so distinct specs always have
    /// distinct digests; every other block is a zero-copy slice of the pool.
    pub fn frame(&self, spec: BlobSpec, off: u64, max: u64) -> Bytes {
        let b = off / BLOCK as u64;
        let in_block = (off % BLOCK as u64) as usize;
        let block_len = (BLOCK as u64).min(spec.size - b * BLOCK as u64) as usize;
        let len = ((block_len - in_block) as u64).min(max) as usize;
        let start = self.block_start(b, spec.seed);
        if b == 0 {
            let mut first = BytesMut::from(&self.bytes[start..start + block_len]);
            let header = [spec.seed.to_le_bytes(), spec.size.to_le_bytes()].concat();
            let n = header.len().min(block_len);
            first[..n].copy_from_slice(&header[..n]);
            first.freeze().slice(in_block..in_block + len)
        } else {
            self.bytes.slice(start + in_block..start + in_block + len)
        }
    }

    /// A streaming generator over `spec`'s bytes in `[start, end)`.
    pub fn stream(&self, spec: BlobSpec, start: u64, end: u64) -> BlobStream {
        BlobStream {
            pool: self.clone(),
            spec,
            pos: start,
            end,
        }
    }

    /// All of a (small) blob's bytes in one buffer.
    pub fn whole(&self, spec: BlobSpec) -> Bytes {
        let mut out = BytesMut::with_capacity(spec.size as usize);
        let mut s = self.stream(spec, 0, spec.size);
        while let Some(f) = s.next_frame() {
            out.extend_from_slice(&f);
        }
        out.freeze()
    }

    /// `sha256:<hex>` of a blob, computed by streaming its frames.
    pub fn sha256(&self, spec: BlobSpec) -> String {
        let mut h = Sha256::new();
        let mut s = self.stream(spec, 0, spec.size);
        while let Some(f) = s.next_frame() {
            h.update(&f);
        }
        format!("sha256:{}", hex(&h.finalize()))
    }
}

/// Lower-case hex, without pulling in a crate for it.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A cursor over a generated blob's bytes, yielding block-sized frames.
#[derive(Clone)]
pub struct BlobStream {
    pool: Pool,
    spec: BlobSpec,
    pos: u64,
    end: u64,
}

impl BlobStream {
    pub fn remaining(&self) -> u64 {
        self.end - self.pos
    }

    pub fn next_frame(&mut self) -> Option<Bytes> {
        if self.pos >= self.end {
            return None;
        }
        let f = self.pool.frame(self.spec, self.pos, self.end - self.pos);
        self.pos += f.len() as u64;
        Some(f)
    }
}

/// Digests of generated blobs, persisted as JSON so a second run does not hash 20 GiB again.
pub struct Digests {
    path: PathBuf,
    map: BTreeMap<String, String>,
    pool: Pool,
}

fn key(spec: BlobSpec) -> String {
    format!("v{CONTENT_VERSION}:{}:{}", spec.seed, spec.size)
}

impl Digests {
    /// Loads the cache at `dir/digests.json` (a missing or unreadable file is an empty cache).
    pub fn load(dir: &Path, pool: Pool) -> Result<Digests> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("digests.json");
        let map = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Digests { path, map, pool })
    }

    /// Computes the missing digests of `specs` on all cores, then saves the cache.
    pub fn ensure(&mut self, specs: &[BlobSpec]) -> Result<()> {
        let missing: Vec<BlobSpec> = specs
            .iter()
            .copied()
            .filter(|s| !self.map.contains_key(&key(*s)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let total: u64 = missing.iter().map(|s| s.size).sum();
        eprintln!(
            "hashing {} generated blobs ({:.1} GiB) once; cached in {}",
            missing.len(),
            gib(total),
            self.path.display()
        );
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let results: Vec<(BlobSpec, String)> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (next, missing, pool) = (next.clone(), &missing, &self.pool);
                    sc.spawn(move || {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(spec) = missing.get(i) else { break };
                            out.push((*spec, pool.sha256(*spec)));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("hash thread"))
                .collect()
        });
        for (spec, d) in results {
            self.map.insert(key(spec), d);
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.map)?)?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    /// The digest of `spec`, hashing it now if it was not prepared (small blobs).
    pub fn get(&mut self, spec: BlobSpec) -> String {
        self.map
            .entry(key(spec))
            .or_insert_with(|| self.pool.sha256(spec))
            .clone()
    }
}

pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_the_blob_and_are_deterministic() {
        let pool = Pool::new();
        let spec = BlobSpec::new(7, 3 * BLOCK as u64 + 123);
        let a = pool.whole(spec);
        assert_eq!(a.len() as u64, spec.size);
        assert_eq!(a, Pool::new().whole(spec));
        // A stream started mid-blob yields the same bytes as the whole blob's tail.
        let mut tail = Vec::new();
        let mut s = pool.stream(spec, 1000, spec.size);
        while let Some(f) = s.next_frame() {
            tail.extend_from_slice(&f);
        }
        assert_eq!(&a[1000..], &tail[..]);
        assert_ne!(pool.sha256(spec), pool.sha256(BlobSpec::new(8, spec.size)));
    }
}
