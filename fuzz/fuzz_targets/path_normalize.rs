//! Path normalization of tar entry names (`..`, `.`, `//`, invalid UTF-8).
#![no_main]

use berth_layer::path::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = normalize(data);
});
