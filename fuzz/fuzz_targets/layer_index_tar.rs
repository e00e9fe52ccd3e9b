//! The tar walker alone (uncompressed input): headers, PAX and GNU long names, whiteouts,
//! links, selected files kept.
#![no_main]

use berth_layer::{FileSelector, Limits, index_tar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Every file kept, so file bodies are read too.
    let all = FileSelector::from_fn(|_| true);
    let _ = index_tar(data, &all, &Limits::default());
    let _ = index_tar(data, &FileSelector::detectors(), &Limits::default());
});
