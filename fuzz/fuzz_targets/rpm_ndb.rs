//! rpm's NDB database (SUSE's Packages.db): file header, slot pages, blobs.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::rpm::RpmDetector;
    let mut m = MemFiles::new();
    m.insert("usr/lib/sysimage/rpm/Packages.db", data);
    let _ = RpmDetector.detect(&m);
    let _ = berth_detect::OwnedFiles::from_files(&m);
});
