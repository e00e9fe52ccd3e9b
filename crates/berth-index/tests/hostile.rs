//! Hostile layers through the whole indexer: each fails its image cleanly (a typed error,
//! nothing cached), within its bounds; odd but harmless content is reported, not fatal.
//! `berth-layer`'s own tests cover every bound of the reader; these check the indexer keeps
//! those answers and adds no hole of its own (symlink loops in the distribution lookup,
//! files too big to inspect).

use std::io::{self, Read, Write};

use berth_domain::Digest;
use berth_index::{
    Blobs, IndexError, Indexer, LayerCache, LayerError, LayerRef, Limits, MemCache, Quiet,
};

const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Blobs served from memory.
struct Mem(Vec<(Digest, Vec<u8>)>);

impl Blobs for Mem {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
        let (_, b) = self
            .0
            .iter()
            .find(|(d, _)| *d == layer.digest)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such blob"))?;
        Ok(Box::new(&b[..]))
    }
}

fn tar(entries: &[(&str, u8, &[u8], &str, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data, link, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        // Write the raw name so `..` is not refused by the builder.
        let name = h.as_old_mut().name.as_mut();
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn index(
    layers: Vec<(&str, Vec<u8>)>,
    indexer: &Indexer,
    cache: &dyn LayerCache,
) -> (Vec<LayerRef>, Result<berth_index::Indexed, IndexError>) {
    let blobs: Vec<(Digest, Vec<u8>)> = layers
        .iter()
        .map(|(_, b)| (Digest::sha256_of(b), b.clone()))
        .collect();
    let refs: Vec<LayerRef> = layers
        .iter()
        .zip(&blobs)
        .map(|((mt, b), (d, _))| LayerRef {
            digest: d.clone(),
            media_type: (*mt).to_owned(),
            size: b.len() as u64,
        })
        .collect();
    let manifest = Digest::sha256_of(b"manifest");
    let r = indexer.index(&manifest, &refs, &Mem(blobs), cache, &Quiet);
    (refs, r)
}

fn layer_error(r: Result<berth_index::Indexed, IndexError>) -> LayerError {
    match r {
        Err(IndexError::Layer { source, .. }) => source,
        Err(e) => panic!("expected a layer error, got {e}"),
        Ok(_) => panic!("expected a layer error, got a report"),
    }
}

#[test]
fn decompression_bomb_is_stopped_by_the_ratio() {
    // 256 MiB of zeros in one file compresses to ~250 KiB: a ratio of ~1000.
    let mut t = Vec::new();
    {
        let mut b = tar::Builder::new(&mut t);
        let mut h = tar::Header::new_gnu();
        h.set_size(256 << 20);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "zeros", io::repeat(0).take(256 << 20))
            .unwrap();
        b.finish().unwrap();
    }
    let bomb = gzip(&t);
    drop(t);
    let cache = MemCache::default();
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let indexer = Indexer::new().limits(limits);
    let (refs, r) = index(vec![(GZIP_LAYER, bomb)], &indexer, &cache);
    let e = layer_error(r);
    assert!(e.to_string().contains("decompression bomb"), "{e}");
    assert!(
        cache.get(&refs[0].digest, indexer.key()).is_none(),
        "a failed layer was cached"
    );
}

#[test]
fn escaping_paths_fail_and_the_good_layer_is_still_cached() {
    let good = tar(&[(
        "etc/os-release",
        b'0',
        b"ID=alpine\nVERSION_ID=3.19.1\n",
        "",
        0o644,
    )]);
    let evil = tar(&[("../../etc/passwd", b'0', b"root::0:0", "", 0o644)]);
    let cache = MemCache::default();
    let indexer = Indexer::new().threads(1);
    let (refs, r) = index(vec![(TAR_LAYER, good), (TAR_LAYER, evil)], &indexer, &cache);
    assert!(matches!(layer_error(r), LayerError::PathEscapesRoot { .. }));
    // Layers are independent: the good one was scanned before and is reusable.
    assert!(cache.get(&refs[0].digest, indexer.key()).is_some());
    assert!(cache.get(&refs[1].digest, indexer.key()).is_none());
}

#[test]
fn truncated_gzip_is_an_error_not_a_partial_report() {
    let full = gzip(&tar(&[(
        "var/lib/dpkg/status",
        b'0',
        b"Package: a\n",
        "",
        0o644,
    )]));
    let cut = full[..full.len() / 2].to_vec();
    let (_, r) = index(
        vec![(GZIP_LAYER, cut)],
        &Indexer::new(),
        &MemCache::default(),
    );
    let e = layer_error(r);
    assert!(e.to_string().to_lowercase().contains("trunc"), "{e}");
}

#[test]
fn symlink_loops_and_escapes_find_no_distribution_and_do_not_hang() {
    let layer = tar(&[
        ("etc/os-release", b'2', b"", "../usr/lib/os-release", 0o777),
        ("usr/lib/os-release", b'2', b"", "/etc/os-release", 0o777),
        (
            "etc/lsb-release",
            b'2',
            b"",
            "../../../../host/etc/lsb-release",
            0o777,
        ),
    ]);
    let (_, r) = index(
        vec![(TAR_LAYER, layer)],
        &Indexer::new(),
        &MemCache::default(),
    );
    let report = r.expect("a loop is not an error").report;
    assert!(report.success);
    assert!(report.distributions.is_empty());
}

#[test]
fn symlinked_os_release_across_layers_is_followed() {
    let base = tar(&[(
        "usr/lib/os-release",
        b'0',
        b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n",
        "",
        0o644,
    )]);
    let top = tar(&[("etc/os-release", b'2', b"", "../usr/lib/os-release", 0o777)]);
    let (_, r) = index(
        vec![(TAR_LAYER, base), (TAR_LAYER, top)],
        &Indexer::new(),
        &MemCache::default(),
    );
    let report = r.unwrap().report;
    let d = report.distributions.values().next().expect("distribution");
    assert_eq!((d.did.as_str(), d.version_id.as_str()), ("debian", "12"));
}

#[test]
fn an_executable_over_the_file_limit_is_skipped_not_fatal() {
    let big = vec![0x7fu8; 3 << 20];
    let layer = tar(&[("usr/bin/huge", b'0', &big, "", 0o755)]);
    let limits = Limits {
        max_file_bytes: 1 << 20,
        ..Limits::default()
    };
    let (_, r) = index(
        vec![(TAR_LAYER, layer)],
        &Indexer::new().limits(limits),
        &MemCache::default(),
    );
    let done = r.expect("an oversized binary does not fail the image");
    assert!(done.report.success);
    assert_eq!(done.skipped.len(), 1, "{:?}", done.skipped);
    assert_eq!(done.skipped[0].1, "usr/bin/huge");
}

#[test]
fn a_missing_blob_is_an_open_error() {
    let indexer = Indexer::new();
    let layer = LayerRef {
        digest: Digest::sha256_of(b"nowhere"),
        media_type: TAR_LAYER.into(),
        size: 1,
    };
    let r = indexer.index(
        &Digest::sha256_of(b"m"),
        &[layer],
        &Mem(Vec::new()),
        &MemCache::default(),
        &Quiet,
    );
    assert!(matches!(r, Err(IndexError::Open { .. })));
}
