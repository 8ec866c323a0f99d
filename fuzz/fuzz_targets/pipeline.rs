//! `cargo +nightly fuzz run pipeline`: see `setphoto::fuzzing::pipeline` for the input and the check.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| setphoto::fuzzing::pipeline(data));
