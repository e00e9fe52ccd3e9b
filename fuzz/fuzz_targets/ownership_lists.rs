//! The ownership helper's dpkg file lists (var/lib/dpkg/info/*.list).
#![no_main]

use berth_detect::MemFiles;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut m = MemFiles::new();
    m.insert("var/lib/dpkg/info/pkg:amd64.list", data);
    let _ = berth_detect::OwnedFiles::from_files(&m);
});
