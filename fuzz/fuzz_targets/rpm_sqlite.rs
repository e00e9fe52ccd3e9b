//! rpm's SQLite database (rpmdb.sqlite), deserialized in memory; through the detector and
//! the ownership helper.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::rpm::RpmDetector;
    let mut m = MemFiles::new();
    m.insert("var/lib/rpm/rpmdb.sqlite", data);
    let _ = RpmDetector.detect(&m);
    let _ = berth_detect::OwnedFiles::from_files(&m);
});
