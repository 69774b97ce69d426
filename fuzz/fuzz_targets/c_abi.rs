#![no_main]
//! See `c_abi_input.rs`.

#[path = "c_abi_input.rs"]
mod input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| input::run(data));
