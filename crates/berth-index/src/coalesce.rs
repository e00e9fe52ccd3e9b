//! Stacking layer scans into what the image contains.
//!
//! Each [`LayerScan`] says what one layer holds on its own; the image is what remains when
//! they are applied in order with the OCI rules: a whiteout deletes a path (and everything
//! under it) from the layers below, an opaque directory hides their contents of that
//! directory, and a file in a higher layer replaces the same path below. A package survives
//! only if the file it was found in is still the one the image shows, and it is attributed
//! to the lowest layer from which it has been continuously present in that file (a package
//! in `var/lib/dpkg/status` since the base layer was introduced by the base layer, even
//! though every later `apt-get install` rewrote the file).
//!
//! The distribution is found last, over the surviving identification files, with symlinks
//! followed inside the image root (`etc/os-release -> ../usr/lib/os-release`, possibly
//! across layers).
//!
//! Pure: no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};

use berth_detect::{Detector, Distribution, Finding, MemFiles};

use crate::scan::{LayerScan, ScannedPackage};

/// Symlink hops followed while resolving one path, as the kernel's limit.
const MAX_HOPS: u32 = 40;

/// What the image contains.
#[derive(Debug, Default)]
pub struct Coalesced {
    pub distribution: Option<Distribution>,
    /// Each surviving package with the index of the layer that introduced it.
    pub packages: Vec<(ScannedPackage, usize)>,
    /// Files that could not be used, with the layer they are in.
    pub skipped: Vec<(usize, String, String)>,
}

/// One layer's paths after the layers above it were applied.
#[derive(Default)]
struct View {
    /// Path -> the layer whose copy of the file the image shows.
    files: BTreeMap<String, usize>,
    links: BTreeMap<String, String>,
    texts: BTreeMap<String, String>,
}

impl View {
    fn delete_under(&mut self, dir: &str) {
        if dir.is_empty() {
            *self = View::default();
            return;
        }
        let prefix = format!("{dir}/");
        for map_keys in [
            keys_under(&self.files, &prefix),
            keys_under(&self.links, &prefix),
            keys_under(&self.texts, &prefix),
        ] {
            for k in map_keys {
                self.files.remove(&k);
                self.links.remove(&k);
                self.texts.remove(&k);
            }
        }
    }

    fn delete(&mut self, path: &str) {
        self.files.remove(path);
        self.links.remove(path);
        self.texts.remove(path);
        self.delete_under(path);
    }

    /// Resolves `path` through symlinks, chroot-style: `..` stops at the root and absolute
    /// targets start from it, so nothing leads outside the image.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(seg) = pending.pop() {
            match seg.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(seg);
            let here = done.join("/");
            if let Some(target) = self.links.get(&here) {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .rev()
                        .map(str::to_owned),
                );
            }
        }
        Some(done.join("/"))
    }
}

fn keys_under<V>(map: &BTreeMap<String, V>, prefix: &str) -> Vec<String> {
    map.range(prefix.to_owned()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether layer `scan` deletes `path` from the layers below it.
fn deletes(scan: &LayerScan, path: &str) -> bool {
    let covered = |dir: &str| {
        dir.is_empty()
            || path == dir
            || path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    scan.whiteouts.iter().any(|w| covered(w))
        || scan
            .opaque_dirs
            .iter()
            .any(|d| d.is_empty() || path.starts_with(&format!("{d}/")))
}

/// Stacks `layers` (base first). `detectors` supplies the distribution detector.
pub fn coalesce(layers: &[&LayerScan], detectors: &[Box<dyn Detector>]) -> Coalesced {
    let mut view = View::default();
    for (i, scan) in layers.iter().enumerate() {
        for dir in &scan.opaque_dirs {
            view.delete_under(dir);
        }
        for w in &scan.whiteouts {
            view.delete(w);
        }
        for f in &scan.files {
            view.links.remove(f);
            view.texts.remove(f);
            view.files.insert(f.clone(), i);
        }
        for (path, text) in &scan.dist_files {
            view.links.remove(path);
            view.files.insert(path.clone(), i);
            view.texts.insert(path.clone(), text.clone());
        }
        for (path, target) in &scan.symlinks {
            view.files.remove(path);
            view.texts.remove(path);
            view.links.insert(path.clone(), target.clone());
        }
    }

    // Per layer: which (file, package) pairs it holds, to walk a package's history.
    let held: Vec<HashSet<&ScannedPackage>> =
        layers.iter().map(|s| s.packages.iter().collect()).collect();
    let mut out = Coalesced::default();
    for (i, scan) in layers.iter().enumerate() {
        for p in &scan.packages {
            if view.files.get(p.file()) != Some(&i) {
                continue;
            }
            let mut introduced = i;
            for k in (0..i).rev() {
                let Some(above) = layers.get(k + 1) else {
                    break;
                };
                if deletes(above, p.file()) {
                    break;
                }
                let Some(lower) = layers.get(k) else {
                    break;
                };
                if lower
                    .files
                    .binary_search_by(|f| f.as_str().cmp(p.file()))
                    .is_err()
                {
                    continue;
                }
                if held.get(k).is_some_and(|h| h.contains(p)) {
                    introduced = k;
                } else {
                    break;
                }
            }
            out.packages.push((p.clone(), introduced));
        }
        for (path, why) in &scan.skipped {
            out.skipped.push((i, path.clone(), why.clone()));
        }
    }

    out.distribution = distribution(&view, layers, detectors);
    out
}

/// Runs the distribution detector over the identification files the image shows.
fn distribution(
    view: &View,
    layers: &[&LayerScan],
    detectors: &[Box<dyn Detector>],
) -> Option<Distribution> {
    let detector = detectors
        .iter()
        .find(|d| d.id().name == berth_detect::os_release::ID.name)?;
    let mut names: Vec<&str> = Vec::new();
    for scan in layers {
        names.extend(scan.dist_files.iter().map(|(p, _)| p.as_str()));
        names.extend(scan.symlinks.iter().map(|(p, _)| p.as_str()));
    }
    names.sort_unstable();
    names.dedup();
    let wanted: HashMap<&str, ()> = names.iter().map(|n| (*n, ())).collect();
    let mut files = MemFiles::new();
    for name in wanted.keys() {
        if !detector.wants(&berth_detect::Candidate::file(name, 0)) {
            continue;
        }
        let Some(real) = view.resolve(name) else {
            continue;
        };
        if let Some(text) = view.texts.get(&real) {
            files.insert(name, text.as_bytes());
        }
    }
    let det = detector.detect(&files).ok()?;
    det.findings.into_iter().find_map(|f| match f {
        Finding::Distribution(d) => Some(d),
        Finding::Package(_) => None,
    })
}
