//! `cargo +nightly fuzz run resize`: see `setphoto::fuzzing::resize` for the input and the check.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| setphoto::fuzzing::resize(data));
