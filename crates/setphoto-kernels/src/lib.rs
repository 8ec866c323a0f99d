//! setphoto's hand-written kernels and codecs: the code that a benchmark showed no
//! well-kept crate could make fast enough, and the only crate of setphoto's with `unsafe`.
//!
//! Each part has the shape of the crate it stands in for, and is tested against it:
//!
//! | module | does | shaped like, and tested against |
//! |---|---|---|
//! | [`jpeg::decoder`] | baseline JPEG decoded straight to 1/2, 1/4 or 1/8 | `jpeg-decoder`'s scaled decode; `image` (zune-jpeg) |
//! | [`jpeg::encoder`] | baseline 4:2:0 JPEG encoder | `jpeg-encoder`; decoded by `jpeg-decoder` and zune-jpeg |
//! | [`lzw`] | GIF's LZW decoder | `weezl`, as the `gif` crate drives it |
//! | [`resize`] | RGB resize passes with 16-bit weights | `fast_image_resize`'s convolution (in setphoto's tests) |
//!
//! [`Cpu`] is detected once and chooses every kernel's instruction set. Every path of
//! every kernel is tested against its portable one.

#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![warn(unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]

mod cpu;
#[cfg(feature = "harness")]
#[doc(hidden)]
pub mod harness;
pub mod jpeg;
pub mod lzw;
pub mod resize;
mod zigzag;

pub use cpu::Cpu;

/// `len` bytes of xorshift noise from `seed`, half of them 0 or 255: at such extremes
/// filters overshoot and the clamps matter.
#[cfg(test)]
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 4 {
                0 => 0,
                1 => 255,
                _ => (state >> 32) as u8,
            }
        })
        .collect()
}
