//! The indexer against the real images in `../shared/images` (see its README).
//!
//! Expected answers come from the images by independent means: the dpkg status file parsed
//! by a few lines here, the `*.dist-info` directory names and the `node_modules/**/package.json`
//! files listed with the `tar` crate. Caching is proven by a blob source that refuses to be
//! opened.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use berth_domain::Digest;
use berth_index::{
    Blobs, DirCache, IndexError, Indexer, LayerCache, LayerRef, MemCache, NoCache, Quiet,
};
use berth_report::{Ecosystem, IndexReport};
use serde_json::Value;

fn layout() -> Option<PathBuf> {
    berth_testkit::shared_dir().map(|s| s.join("images/bookworm"))
}

struct Layout(PathBuf);

impl Blobs for Layout {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(std::fs::File::open(
            self.0.join("blobs/sha256").join(layer.digest.hex()),
        )?))
    }
}

/// Fails the test if any blob is opened.
struct NoBlobs;

impl Blobs for NoBlobs {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
        panic!(
            "blob {} opened although every layer was cached",
            layer.digest
        )
    }
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .expect("blob")
}

/// The manifest digest of `tag` and its layers.
fn image(layout: &Path, tag: &str) -> (Digest, Vec<LayerRef>) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .expect("tag");
    let digest: Digest = desc["digest"].as_str().unwrap().parse().unwrap();
    let manifest: Value = serde_json::from_slice(&blob(layout, &digest.to_string())).unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| LayerRef {
            digest: l["digest"].as_str().unwrap().parse().unwrap(),
            media_type: l["mediaType"].as_str().unwrap().to_owned(),
            size: l["size"].as_u64().unwrap(),
        })
        .collect();
    (digest, layers)
}

fn index(layout: &Path, tag: &str, cache: &dyn LayerCache) -> (IndexReport, Vec<LayerRef>, usize) {
    let (digest, layers) = image(layout, tag);
    let out = Indexer::new()
        .index(&digest, &layers, &Layout(layout.to_owned()), cache, &Quiet)
        .expect("index");
    assert!(out.skipped.is_empty(), "skipped: {:?}", out.skipped);
    (out.report, layers, out.layers_read)
}

/// `(name, version, introduced_in)` of the packages of one ecosystem.
fn packages(r: &IndexReport, eco: Ecosystem) -> BTreeSet<(String, String, String)> {
    r.packages
        .iter()
        .filter(|(id, _)| r.ecosystem(id) == Some(eco))
        .map(|(id, p)| {
            (
                p.name.clone(),
                p.version.clone(),
                r.environments[id][0].introduced_in.clone(),
            )
        })
        .collect()
}

/// Every regular file in a gzip layer: path and bytes of the ones `keep` selects.
fn layer_files(
    layout: &Path,
    layer: &LayerRef,
    keep: impl Fn(&str) -> bool,
) -> Vec<(String, Vec<u8>)> {
    let gz = blob(layout, &layer.digest.to_string());
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if e.header().entry_type().is_file() && keep(&path) {
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            out.push((path, b));
        }
    }
    out
}

#[test]
fn minbase_is_exactly_its_dpkg_status() {
    let Some(layout) = layout() else { return };
    let (r, layers, read) = index(&layout, "minbase", &NoCache);
    assert_eq!(read, 1);
    assert!(r.success && r.state == "IndexFinished" && r.err.is_empty());
    let d = r.distributions.values().next().expect("distribution");
    assert_eq!(
        (
            d.did.as_str(),
            d.version_id.as_str(),
            d.version_code_name.as_str()
        ),
        ("debian", "12", "bookworm")
    );

    // The status file, parsed independently: installed packages with their source.
    let status = layer_files(&layout, &layers[0], |p| p == "var/lib/dpkg/status");
    let text = String::from_utf8(status[0].1.clone()).unwrap();
    let mut expected = BTreeSet::new();
    for para in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let field = |k: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .map(str::to_owned)
        };
        if field("Status").as_deref() != Some("install ok installed") {
            continue;
        }
        let (name, version) = (field("Package").unwrap(), field("Version").unwrap());
        let (src, src_version) = match field("Source") {
            Some(s) => match s.split_once(" (") {
                Some((n, v)) => (n.to_owned(), v.trim_end_matches(')').to_owned()),
                None => (s, version.clone()),
            },
            None => (name.clone(), version.clone()),
        };
        expected.insert((
            name,
            version,
            field("Architecture").unwrap(),
            src,
            src_version,
        ));
    }
    assert_eq!(expected.len(), 88, "the README says 88 packages");
    let found: BTreeSet<_> = r
        .packages
        .iter()
        .map(|(id, p)| {
            assert_eq!(r.ecosystem(id), Some(Ecosystem::Debian));
            let env = &r.environments[id][0];
            assert_eq!(env.package_db, "var/lib/dpkg/status");
            assert_eq!(env.introduced_in, layers[0].digest.to_string());
            assert_eq!(env.distribution_id, "1");
            let src = p.source.as_ref().expect("source package");
            assert_eq!(src.kind, "source");
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone(),
                src.name.clone(),
                src.version.clone(),
            )
        })
        .collect();
    assert_eq!(found, expected);
    let purl = r
        .purl(
            r.packages
                .iter()
                .find(|(_, p)| p.name == "libc6")
                .unwrap()
                .0,
        )
        .unwrap();
    assert!(purl.starts_with("pkg:deb/debian/libc6@2.36-9"), "{purl}");
    assert!(
        purl.contains("distro=debian-12") && purl.contains("upstream=glibc"),
        "{purl}"
    );
}

#[test]
fn python_and_npm_packages_with_their_layers_and_whiteouts() {
    let Some(layout) = layout() else { return };
    let cache = MemCache::default();
    let (vuln, layers, read) = index(&layout, "app-vuln", &cache);
    assert_eq!(read, 3);

    // PyPI: one per dist-info directory of layer 2, introduced there.
    let dist_info: BTreeSet<(String, String, String)> =
        layer_files(&layout, &layers[1], |p| p.ends_with(".dist-info/METADATA"))
            .into_iter()
            .map(|(p, _)| {
                let dir = p.rsplit('/').nth(1).unwrap().trim_end_matches(".dist-info");
                let (n, v) = dir.split_once('-').unwrap();
                (
                    n.to_lowercase().replace('_', "-"),
                    v.to_owned(),
                    layers[1].digest.to_string(),
                )
            })
            .collect();
    let pypi: BTreeSet<_> = packages(&vuln, Ecosystem::PyPI)
        .into_iter()
        .map(|(n, v, l)| (n.to_lowercase().replace('_', "-"), v, l))
        .collect();
    assert_eq!(pypi, dist_info);
    assert!(pypi.iter().any(|(n, v, _)| n == "pyyaml" && v == "5.3"));

    // npm: one per installed package.json of layer 3 (nested copies included).
    let npm_expected: BTreeSet<(String, String, String)> = layer_files(&layout, &layers[2], |p| {
        p.contains("node_modules/") && p.ends_with("/package.json")
    })
    .into_iter()
    .filter(|(p, _)| berth_detect::npm::is_installed_manifest(p))
    .map(|(_, b)| {
        let v: Value = serde_json::from_slice(&b).unwrap();
        (
            v["name"].as_str().unwrap().to_owned(),
            v["version"].as_str().unwrap().to_owned(),
            layers[2].digest.to_string(),
        )
    })
    .collect();
    let npm = packages(&vuln, Ecosystem::Npm);
    assert_eq!(npm, npm_expected);
    assert!(npm.iter().any(|(n, v, _)| n == "minimist" && v == "0.0.8"));
    // Debian packages still come from the base layer, though no later layer has a status.
    assert!(
        packages(&vuln, Ecosystem::Debian)
            .iter()
            .all(|(_, _, l)| *l == layers[0].digest.to_string())
    );
    assert_eq!(packages(&vuln, Ecosystem::Debian).len(), 88);

    // app-whiteout shares the three layers: only its whiteout layer is read.
    let (gone, wlayers, read) = index(&layout, "app-whiteout", &cache);
    assert_eq!(read, 1, "the shared layers come from the cache");
    assert_eq!(wlayers.len(), 4);
    let pypi_after = packages(&gone, Ecosystem::PyPI);
    let npm_after = packages(&gone, Ecosystem::Npm);
    assert!(
        !pypi_after
            .iter()
            .any(|(n, ..)| n.eq_ignore_ascii_case("pyyaml"))
    );
    assert!(!npm_after.iter().any(|(n, ..)| n == "minimist"));
    assert_eq!(pypi_after.len(), pypi.len() - 1);
    let minimists = npm.iter().filter(|(n, ..)| n == "minimist").count();
    assert_eq!(npm_after.len(), npm.len() - minimists);

    // Fully cached: no blob is opened, and the report is the same to the byte.
    let (digest, layers) = image(&layout, "app-vuln");
    let again = Indexer::new()
        .index(&digest, &layers, &NoBlobs, &cache, &Quiet)
        .unwrap();
    assert_eq!(again.layers_read, 0);
    assert_eq!(
        serde_json::to_vec(&again.report).unwrap(),
        serde_json::to_vec(&vuln).unwrap()
    );
}

#[test]
fn dir_cache_survives_and_ignores_garbage() {
    let Some(layout) = layout() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache = DirCache::new(dir.path());
    let (first, _, read) = index(&layout, "python-vuln", &cache);
    assert_eq!(read, 2);
    let (digest, layers) = image(&layout, "python-vuln");
    let cached = Indexer::new()
        .index(
            &digest,
            &layers,
            &NoBlobs,
            &DirCache::new(dir.path()),
            &Quiet,
        )
        .unwrap();
    assert_eq!(cached.report, first);
    // A corrupt entry is a miss: the layer is read again, the answer is unchanged.
    let mut corrupted = 0;
    for e in walk(dir.path()) {
        std::fs::write(&e, b"{not json").unwrap();
        corrupted += 1;
    }
    assert_eq!(corrupted, 2);
    let (again, _, read) = index(&layout, "python-vuln", &cache);
    assert_eq!((read, again), (2, first));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_layer_whose_bytes_do_not_match_its_digest_fails_the_image() {
    let Some(layout) = layout() else { return };
    let (digest, layers) = image(&layout, "python-vuln");
    /// Serves the base layer's bytes for every layer.
    struct Wrong(PathBuf, Digest);
    impl Blobs for Wrong {
        fn open(&self, _layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
            Ok(Box::new(std::fs::File::open(
                self.0.join("blobs/sha256").join(self.1.hex()),
            )?))
        }
    }
    let cache = MemCache::default();
    let err = Indexer::new()
        .index(
            &digest,
            &layers,
            &Wrong(layout, layers[0].digest.clone()),
            &cache,
            &Quiet,
        )
        .unwrap_err();
    match &err {
        IndexError::Layer { digest, source } => {
            assert_eq!(digest, &layers[1].digest);
            assert!(source.to_string().contains("digest"), "{source}");
        }
        other => panic!("{other}"),
    }
    // Nothing from the failed layer was cached.
    assert!(cache.get(&layers[1].digest, Indexer::new().key()).is_none());
}
