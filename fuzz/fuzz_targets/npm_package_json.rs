//! An installed npm package's package.json.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::npm::NpmDetector;
    let mut m = MemFiles::new();
    m.insert("app/node_modules/pkg/package.json", data);
    let _ = NpmDetector.detect(&m);
});
