#![no_main]
//! See `clustron::fuzzing::wire`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| clustron::fuzzing::wire(data));
