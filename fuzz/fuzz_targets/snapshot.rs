#![no_main]
//! See `clustron::fuzzing::snapshot`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| clustron::fuzzing::snapshot(data));
