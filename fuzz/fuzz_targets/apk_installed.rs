//! apk's installed database: the packages, and the file list the ownership helper reads.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::apk::{ApkDetector, INSTALLED};
    let mut m = MemFiles::new();
    m.insert(INSTALLED, data);
    let _ = ApkDetector.detect(&m);
    let _ = berth_detect::OwnedFiles::from_files(&m);
});
