//! A .NET *.deps.json.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::dotnet::DotnetDetector;
    let mut m = MemFiles::new();
    m.insert("app/App.deps.json", data);
    let _ = DotnetDetector.detect(&m);
});
