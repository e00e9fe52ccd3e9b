//! Go build information: the header scan, uvarint strings and the module text; also the
//! module text on its own, and the detector on an ELF-looking file.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth_detect::golang::parse_binary("p", data);
    let _ = berth_detect::golang::parse_modinfo("p", data);
    let mut elf = b"\x7fELF".to_vec();
    elf.extend_from_slice(data);
    let mut m = MemFiles::new();
    m.insert("usr/bin/app", elf);
    let _ = berth_detect::golang::GoBinaryDetector.detect(&m);
});
