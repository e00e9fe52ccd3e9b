//! A RubyGems specification (specifications/*.gemspec).
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::gem::GemDetector;
    let mut m = MemFiles::new();
    m.insert(
        "usr/share/rubygems-integration/all/specifications/x-1.0.gemspec",
        data,
    );
    let _ = GemDetector.detect(&m);
});
