//! One 512-byte tar header block: checksum, octal and base-256 numbers, ustar/GNU fields.
#![no_main]

use berth_layer::tar::parse_header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut block = [0u8; 512];
    let n = data.len().min(512);
    block[..n].copy_from_slice(&data[..n]);
    let _ = parse_header(&block);
});
