#![no_main]
//! See `clustron::fuzzing::log`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| clustron::fuzzing::log(data));
