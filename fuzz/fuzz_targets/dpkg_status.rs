//! dpkg's status file and a distroless status.d control file.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::dpkg::DpkgDetector;
    let mut m = MemFiles::new();
    m.insert("var/lib/dpkg/status", data);
    m.insert("var/lib/dpkg/status.d/pkg", data);
    let _ = DpkgDetector.detect(&m);
});
