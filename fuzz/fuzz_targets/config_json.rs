//! Fuzz target: see `inferd_server::fuzzing::config_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    inferd_server::fuzzing::config_json(data);
});
