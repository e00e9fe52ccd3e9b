//! Where layer scans are kept between images.
//!
//! A cache is an optimisation, never a source of truth: a read that fails or finds bytes it
//! cannot parse is a miss (the layer is simply scanned again), and a write that fails is
//! forgotten. So the trait has no errors, and a corrupt or half-written entry costs one
//! rescan, not an index failure.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use berth_domain::Digest;
use sha2::{Digest as _, Sha256};

use crate::scan::LayerScan;

/// Stores [`LayerScan`]s by layer digest and indexer key.
pub trait LayerCache: Send + Sync {
    fn get(&self, layer: &Digest, key: &str) -> Option<LayerScan>;
    fn put(&self, layer: &Digest, key: &str, scan: &LayerScan);
}

/// Caches nothing: every layer is read.
pub struct NoCache;

impl LayerCache for NoCache {
    fn get(&self, _layer: &Digest, _key: &str) -> Option<LayerScan> {
        None
    }
    fn put(&self, _layer: &Digest, _key: &str, _scan: &LayerScan) {}
}

/// An in-memory cache (tests, one process's repeated scans).
#[derive(Default)]
pub struct MemCache {
    map: Mutex<HashMap<(String, String), LayerScan>>,
}

impl LayerCache for MemCache {
    fn get(&self, layer: &Digest, key: &str) -> Option<LayerScan> {
        let map = self.map.lock().ok()?;
        map.get(&(layer.to_string(), key.to_owned())).cloned()
    }

    fn put(&self, layer: &Digest, key: &str, scan: &LayerScan) {
        if let Ok(mut map) = self.map.lock() {
            map.insert((layer.to_string(), key.to_owned()), scan.clone());
        }
    }
}

/// One JSON file per layer under a directory (the CLI's `~/.cache/berth/layers`): written
/// to a temporary name and renamed, so a crash leaves the old entry or none, never half of
/// one.
pub struct DirCache {
    dir: PathBuf,
}

impl DirCache {
    pub fn new(dir: impl Into<PathBuf>) -> DirCache {
        DirCache { dir: dir.into() }
    }

    fn path(&self, layer: &Digest, key: &str) -> PathBuf {
        let k = hex::encode(Sha256::digest(key.as_bytes()));
        self.dir.join(k.get(..16).unwrap_or(&k)).join(format!(
            "{}-{}.json",
            layer.algorithm().as_str(),
            layer.hex()
        ))
    }
}

impl LayerCache for DirCache {
    fn get(&self, layer: &Digest, key: &str) -> Option<LayerScan> {
        let bytes = std::fs::read(self.path(layer, key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn put(&self, layer: &Digest, key: &str, scan: &LayerScan) {
        let path = self.path(layer, key);
        let Some(dir) = path.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(scan) else {
            return;
        };
        let tmp = dir.join(format!(".{}.tmp", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
