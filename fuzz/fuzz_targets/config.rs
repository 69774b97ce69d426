#![no_main]
//! See `clustron::fuzzing::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| clustron::fuzzing::config(data));
