//! `cargo +nightly fuzz run jpeg_decoder`: see `setphoto::fuzzing::jpeg_decoder` for the input and the check.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| setphoto::fuzzing::jpeg_decoder(data));
