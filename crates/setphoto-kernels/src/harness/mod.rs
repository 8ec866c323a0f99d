//! The checks behind setphoto's fuzz targets (`fuzz/`), one function per kernel, each
//! holding the kernel to a crate that does the same job. A fuzz target calls one with the
//! fuzzer's bytes; setphoto's stable test suite replays the kept corpus and every minimised
//! finding through the same functions, so CI guards each finding without a nightly
//! toolchain. A check panics when the kernel and its oracle disagree, and returns quietly
//! for inputs it has nothing to say about.
//!
//! Built with the `harness` feature only; not part of the API.

mod encoder;
mod jpeg_decoder;
mod lzw;
mod resize;

pub use encoder::encoder;
pub use jpeg_decoder::jpeg_decoder;
pub use lzw::{gif_frame, lzw};
pub use resize::resize;

/// Reads a fuzzer's bytes front to back: fixed fields first, then the rest as payload.
/// Fields past the end read as 0, so every input means something.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&first, rest)) => {
                self.bytes = rest;
                first
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A fraction in 0..=1 from one byte.
    pub(crate) fn fraction(&mut self) -> f64 {
        f64::from(self.byte()) / 255.0
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.bytes
    }
}

/// `len` bytes of `pattern` repeated (mid-grey when it is empty): pixels for a picture
/// of any size from whatever the fuzzer gave.
pub(crate) fn cycle(pattern: &[u8], len: usize) -> Vec<u8> {
    if pattern.is_empty() {
        return vec![128; len];
    }
    pattern.iter().copied().cycle().take(len).collect()
}
