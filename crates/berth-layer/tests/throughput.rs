//! Prints (does not assert) how fast app-vuln's three layers are read, next to plain gzip
//! decompression of the same bytes. Meaningful in release mode:
//! `cargo test --release -p berth-layer --test throughput -- --nocapture`.

mod common;

use std::io;
use std::time::Instant;

use berth_domain::Digest;
use berth_layer::{FileSelector, Limits, read_layer};
use common::*;

#[test]
fn app_vuln_throughput() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let manifest = manifest_for_tag(&layout, "app-vuln");
    // Blobs are read into memory first so disk speed is not measured.
    let blobs: Vec<(String, String, Vec<u8>)> = layers(&layout, &manifest)
        .into_iter()
        .map(|(mt, d)| {
            let bytes = std::fs::read(blob_path(&layout, &d)).unwrap();
            (mt, d, bytes)
        })
        .collect();
    let compressed: usize = blobs.iter().map(|(_, _, b)| b.len()).sum();
    let selector = FileSelector::detectors();
    let profile = if cfg!(debug_assertions) {
        "debug (numbers are not representative; use --release)"
    } else {
        "release"
    };

    let mut best_layer = f64::MAX;
    let mut best_raw = f64::MAX;
    let mut uncompressed = 0u64;
    let rounds = if cfg!(debug_assertions) { 1 } else { 3 };
    for _ in 0..rounds {
        let start = Instant::now();
        uncompressed = 0;
        for (mt, d, bytes) in &blobs {
            let digest = Digest::parse(d).unwrap();
            let idx =
                read_layer(&bytes[..], mt, Some(&digest), &selector, &Limits::default()).unwrap();
            uncompressed += idx.uncompressed_bytes;
        }
        best_layer = best_layer.min(start.elapsed().as_secs_f64());

        let start = Instant::now();
        for (_, _, bytes) in &blobs {
            let mut dec = flate2::read::MultiGzDecoder::new(&bytes[..]);
            io::copy(&mut dec, &mut io::sink()).unwrap();
        }
        best_raw = best_raw.min(start.elapsed().as_secs_f64());
    }
    let mib = |b: f64| b / (1024.0 * 1024.0);
    println!(
        "\nberth-layer throughput ({profile}), app-vuln: {} layers, {:.1} MiB compressed, {:.1} MiB tar",
        blobs.len(),
        mib(compressed as f64),
        mib(uncompressed as f64)
    );
    println!(
        "  read_layer (sha256 + gunzip + tar walk + selected files): {:.3} s = {:.0} MiB/s uncompressed, {:.0} MiB/s compressed",
        best_layer,
        mib(uncompressed as f64) / best_layer,
        mib(compressed as f64) / best_layer
    );
    println!(
        "  raw gunzip (flate2 zlib-rs, to a sink):                   {:.3} s = {:.0} MiB/s uncompressed ({:.0}% of read_layer's time)",
        best_raw,
        mib(uncompressed as f64) / best_raw,
        100.0 * best_raw / best_layer
    );
}
