//! Fuzz target: see `inferd_server::fuzzing::images`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    inferd_server::fuzzing::images(data);
});
