//! A zipped Python egg (EGG-INFO/PKG-INFO inside a zip).
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::python::PythonDetector;
    let mut m = MemFiles::new();
    m.insert("usr/lib/python3/site-packages/x-1.0-py3.11.egg", data);
    let _ = PythonDetector.detect(&m);
});
