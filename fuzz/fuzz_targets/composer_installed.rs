//! Composer's vendor/composer/installed.json (v1 array and v2 object forms).
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use berth_detect::composer::ComposerDetector;
    let mut m = MemFiles::new();
    m.insert("app/vendor/composer/installed.json", data);
    let _ = ComposerDetector.detect(&m);
});
