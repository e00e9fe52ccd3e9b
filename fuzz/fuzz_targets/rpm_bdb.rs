//! rpm's BerkeleyDB hash database (Packages): pages, items, overflow chains.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::rpm::RpmDetector;
    let mut m = MemFiles::new();
    m.insert("var/lib/rpm/Packages", data);
    let _ = RpmDetector.detect(&m);
});
