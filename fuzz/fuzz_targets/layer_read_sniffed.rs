//! The whole layer pipeline: compression sniffed from the magic bytes (gzip, zstd, plain),
//! bounded decompression, tar walking, the detectors' file selection.
#![no_main]

use berth_layer::{FileSelector, Limits, read_layer_sniffed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_layer_sniffed(data, None, &FileSelector::detectors(), &Limits::default());
});
