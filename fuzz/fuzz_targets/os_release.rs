//! The distribution detector: os-release's shell subset, then each older release file
//! (lsb-release, *-release, SuSE-release, debian_version, issue) on its own.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::os_release::OsReleaseDetector;
    for path in [
        "etc/os-release",
        "etc/lsb-release",
        "etc/redhat-release",
        "etc/SuSE-release",
        "etc/alpine-release",
        "etc/debian_version",
        "etc/issue",
    ] {
        let mut m = MemFiles::new();
        m.insert(path, data);
        let _ = OsReleaseDetector.detect(&m);
    }
});
