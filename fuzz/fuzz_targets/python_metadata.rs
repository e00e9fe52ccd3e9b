//! Python distribution metadata: METADATA, PKG-INFO and single-file egg-info headers.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::python::PythonDetector;
    let mut m = MemFiles::new();
    m.insert("usr/lib/python3/site-packages/x-1.dist-info/METADATA", data);
    m.insert("usr/lib/python3/dist-packages/y-2.egg-info", data);
    let _ = PythonDetector.detect(&m);
});
