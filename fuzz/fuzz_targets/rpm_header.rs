//! One rpm header blob (the record every rpm database backend stores).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth_detect::rpm::parse_header("p", data);
});
