//! `cargo +nightly fuzz run encoder`: see `setphoto::fuzzing::encoder` for the input and the check.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| setphoto::fuzzing::encoder(data));
