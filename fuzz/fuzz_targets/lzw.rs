//! `cargo +nightly fuzz run lzw`: see `setphoto::fuzzing::lzw` for the input and the check.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| setphoto::fuzzing::lzw(data));
