//! cargo-auditable: the object file parse (ELF, Mach-O, PE) and the zlib-compressed JSON of
//! the .dep-v0 section.
#![no_main]

use berth_detect::{Detector, MemFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth_detect::rust_audit::parse_binary("p", data);
    let _ = berth_detect::rust_audit::parse_section("p", data);
    let mut m = MemFiles::new();
    m.insert("usr/bin/app", data);
    let _ = berth_detect::rust_audit::CargoAuditableDetector.detect(&m);
});
