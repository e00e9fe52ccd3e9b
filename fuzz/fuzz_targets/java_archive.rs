//! A Java archive: zip, pom.properties, MANIFEST.MF, nested archives.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::java::JavaArchiveDetector;
    let mut m = MemFiles::new();
    m.insert("app/lib/x-1.0.jar", data);
    let _ = JavaArchiveDetector.detect(&m);
});
