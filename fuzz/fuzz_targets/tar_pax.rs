//! PAX extended header records (`<len> <key>=<value>\n`).
#![no_main]

use berth_layer::tar::parse_pax;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_pax(data);
});
