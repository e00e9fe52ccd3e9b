//! Scanning one layer on its own: the unit of work and of caching.
//!
//! A layer is scanned without knowing which image it belongs to, so its result
//! ([`LayerScan`]) can be stored under the layer's digest and reused by every image that
//! shares it. What an image needs from a layer that depends on the layers around it is kept
//! as data rather than resolved here: the paths of the files the detectors read (so a later
//! layer that replaces or deletes them can be noticed), whiteouts and opaque directories, the
//! distribution's identification files and the symlinks that may lead to them. `coalesce`
//! resolves all of that for one image.
//!
//! Binaries and Java archives are inspected as they stream past and dropped (their findings
//! depend on nothing else), so memory holds one of them at a time; package databases and
//! metadata files are small and kept until the end of the layer, where the detectors run
//! over them together and files owned by an OS package are recognised.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

use berth_detect::{
    Candidate, Detection, Detector, Finding, MemFiles, OwnedFiles, PackageKind, golang, java,
    ownership, rust_audit,
};
use berth_domain::Digest;
use berth_layer::{EntryKind, LayerError, Limits, Visitor};
use serde::{Deserialize, Serialize};

/// Bumped whenever [`LayerScan`]'s shape or the way it is produced changes, so cached scans
/// from an older berth are not trusted.
pub const FORMAT: u32 = 1;

/// At most this many wanted-file paths are remembered per layer (a layer of 100,000
/// executables is possible; its findings are still all kept).
const MAX_FILES: usize = 200_000;
/// At most this many skipped-file notes per layer.
const MAX_SKIPPED: usize = 1_000;

/// What one layer holds, as far as the detectors are concerned. Serialised into the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerScan {
    /// Packages found in this layer's files alone (language packages owned by an OS package
    /// of the same layer already removed).
    pub packages: Vec<ScannedPackage>,
    /// Every file whose bytes a detector read, sorted: a later layer carrying one of these
    /// paths replaces what this layer found there.
    pub files: Vec<String>,
    /// Distribution identification files (`etc/os-release`, ...) and their text.
    pub dist_files: Vec<(String, String)>,
    /// Symlinks that can lead to a distribution file: those files' own links and top-level
    /// directory links (`lib -> usr/lib`).
    pub symlinks: Vec<(String, String)>,
    /// Paths this layer deletes from the layers below.
    pub whiteouts: Vec<String>,
    /// Directories whose lower contents this layer hides.
    pub opaque_dirs: Vec<String>,
    /// Files a detector wanted but could not use, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Size of the stored (compressed) blob and of the tar stream inside.
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
}

/// A package as cached: [`berth_detect::Package`] with owned strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScannedPackage {
    pub name: String,
    pub version: String,
    /// OSV ecosystem name (`Debian`, `PyPI`, ...).
    pub ecosystem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// The file it was found in; `outer.jar!inner.jar` inside archives.
    pub path: String,
    /// `name@version` of the detector.
    pub detector: String,
}

impl ScannedPackage {
    fn from_detected(p: &berth_detect::Package) -> ScannedPackage {
        ScannedPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            ecosystem: p.ecosystem.as_str().to_owned(),
            source: p
                .source
                .as_ref()
                .filter(|s| s.kind == PackageKind::Source)
                .map(|s| (s.name.clone(), s.version.clone())),
            arch: p.arch.clone().unwrap_or_default(),
            path: p.path.clone(),
            detector: p.detector.to_string(),
        }
    }

    /// The file in the image this package stands or falls with (the outer archive for a
    /// nested one).
    pub fn file(&self) -> &str {
        self.path.split('!').next().unwrap_or(&self.path)
    }
}

/// Detectors whose findings for a file depend on that file alone; they run while the layer
/// streams.
fn is_streaming(d: &dyn Detector) -> bool {
    let name = d.id().name;
    name == golang::ID.name || name == rust_audit::ID.name || name == java::ID.name
}

fn is_distribution(d: &dyn Detector) -> bool {
    d.id().name == berth_detect::os_release::ID.name
}

/// The [`Visitor`] that feeds the detectors.
struct Feed<'a> {
    detectors: &'a [Box<dyn Detector>],
    limits: &'a Limits,
    /// Detectors chosen by the last `wants`, by index.
    chosen: Vec<usize>,
    keep: bool,
    kept: MemFiles,
    streamed: Detection,
    files: BTreeSet<String>,
    skipped: Vec<(String, String)>,
}

impl Feed<'_> {
    fn skip(&mut self, path: &str, why: String) {
        if self.skipped.len() < MAX_SKIPPED {
            self.skipped.push((path.to_owned(), why));
        }
    }
}

impl Visitor for Feed<'_> {
    fn wants(&mut self, path: &str, size: u64, mode: u32) -> bool {
        let c = Candidate { path, size, mode };
        self.chosen.clear();
        self.keep = ownership::wants(path);
        for (i, d) in self.detectors.iter().enumerate() {
            if d.wants(&c) {
                if is_streaming(d.as_ref()) {
                    self.chosen.push(i);
                } else {
                    self.keep = true;
                }
            }
        }
        if !self.keep && self.chosen.is_empty() {
            return false;
        }
        if size > self.limits.max_file_bytes {
            // Reading it would fail the whole layer; report the one file instead.
            self.skip(
                path,
                format!(
                    "{size} bytes, over the {} byte limit for one file",
                    self.limits.max_file_bytes
                ),
            );
            return false;
        }
        if self.files.len() < MAX_FILES {
            self.files.insert(path.to_owned());
        }
        true
    }

    fn file(&mut self, path: &str, mut data: Vec<u8>) -> Option<Arc<[u8]>> {
        if !self.chosen.is_empty() {
            let mut one = MemFiles::new();
            // A binary is only ever needed here: move it rather than copy tens of MiB.
            if self.keep {
                one.insert(path, data.clone());
            } else {
                one.insert(path, std::mem::take(&mut data));
            }
            for i in std::mem::take(&mut self.chosen) {
                let Some(d) = self.detectors.get(i) else {
                    continue;
                };
                match d.detect(&one) {
                    Ok(det) => {
                        self.streamed.findings.extend(det.findings);
                        for s in det.skipped {
                            self.skip(&s.path, s.error.to_string());
                        }
                    }
                    Err(e) => self.skip(path, format!("{}: {e}", d.id())),
                }
            }
        }
        if self.keep {
            self.kept.insert(path, data);
        }
        None
    }
}

/// Scans one layer blob (`media_type` decides whether it is one; the bytes decide the
/// compression) and checks it against `digest` once read to the end.
pub fn scan_layer<R: Read>(
    blob: R,
    media_type: &str,
    digest: &Digest,
    detectors: &[Box<dyn Detector>],
    limits: &Limits,
) -> Result<LayerScan, LayerError> {
    let mut feed = Feed {
        detectors,
        limits,
        chosen: Vec::new(),
        keep: false,
        kept: MemFiles::new(),
        streamed: Detection::default(),
        files: BTreeSet::new(),
        skipped: Vec::new(),
    };
    let index = berth_layer::read_layer_with(blob, media_type, Some(digest), &mut feed, limits)?;

    let mut findings = std::mem::take(&mut feed.streamed.findings);
    let mut dist_files = Vec::new();
    for d in detectors {
        if is_streaming(d.as_ref()) {
            continue;
        }
        if is_distribution(d.as_ref()) {
            for path in berth_detect::FileSource::paths(&feed.kept) {
                if d.wants(&Candidate::file(path, 0))
                    && let Some(bytes) = berth_detect::FileSource::read(&feed.kept, path)
                {
                    dist_files.push((path.to_owned(), String::from_utf8_lossy(bytes).into_owned()));
                }
            }
            continue;
        }
        match d.detect(&feed.kept) {
            Ok(det) => {
                findings.extend(det.findings);
                for s in det.skipped {
                    feed.skip(&s.path, s.error.to_string());
                }
            }
            Err(e) => feed.skip(d.id().name, e.to_string()),
        }
    }
    let (owned, owned_skipped) = OwnedFiles::from_files(&feed.kept);
    for s in owned_skipped {
        feed.skip(&s.path, s.error.to_string());
    }
    owned.retain_unowned(&mut findings);

    let mut packages: Vec<ScannedPackage> = findings
        .iter()
        .filter_map(|f| match f {
            Finding::Package(p) => Some(ScannedPackage::from_detected(p)),
            Finding::Distribution(_) => None,
        })
        .collect();
    packages.sort();
    packages.dedup();

    let symlinks = index
        .entries()
        .iter()
        .filter_map(|(path, e)| match &e.kind {
            EntryKind::Symlink(target) if leads_to_distribution(detectors, path) => {
                Some((path.clone(), target.clone()))
            }
            _ => None,
        })
        .collect();
    Ok(LayerScan {
        packages,
        files: feed.files.into_iter().collect(),
        dist_files,
        symlinks,
        whiteouts: index.whiteouts().iter().cloned().collect(),
        opaque_dirs: index.opaque_dirs().iter().cloned().collect(),
        skipped: feed.skipped,
        compressed_bytes: 0,
        uncompressed_bytes: index.uncompressed_bytes,
    })
}

/// Whether a symlink at `path` can matter when finding the distribution: it is a
/// distribution file itself, or a directory link near the root (`lib`, `usr/lib`).
fn leads_to_distribution(detectors: &[Box<dyn Detector>], path: &str) -> bool {
    path.matches('/').count() <= 1
        || detectors
            .iter()
            .any(|d| is_distribution(d.as_ref()) && d.wants(&Candidate::file(path, 0)))
}
