//! SIMD we write ourselves, for the RGB resizes `fast_image_resize` does slowest.
//!
//! - [`Vertical`]: the vertical pass of any RGB resize, first.
//! - [`HorizontalRgb`]: the horizontal pass of any RGB resize, after the vertical one.
//! - [`DoublingRgb`]: both passes of an RGB upscale by two (512 px to 1024 px), fused.
//!
//! Both use fir's weights ([`crate::resize`]'s `Taps`), so the pixels are the ones fir
//! alone would make. As in fir: one folder per operation with one module per instruction
//! set, a [`Cpu`] detected once, one dispatch `match`, and an `unsafe fn` as the only way
//! to force a path; every path is tested against the plain one.

mod doubling;
mod horizontal;
mod vertical;

use std::sync::OnceLock;

pub(crate) use doubling::DoublingRgb;
pub(crate) use horizontal::HorizontalRgb;
pub(crate) use vertical::{Rows, Vertical};

/// An instruction set a kernel is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cpu {
    /// Plain Rust, on any CPU.
    Native,
    /// AVX2 (x86-64 since 2013).
    Avx2,
}

impl Cpu {
    /// Every path, fastest last.
    #[cfg(test)]
    pub(crate) const ALL: [Cpu; 2] = [Cpu::Native, Cpu::Avx2];

    /// The fastest path this CPU runs, detected once.
    pub(crate) fn detect() -> Self {
        static DETECTED: OnceLock<Cpu> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            if Cpu::Avx2.is_supported() {
                Cpu::Avx2
            } else {
                Cpu::Native
            }
        })
    }

    /// Whether this CPU runs the path.
    pub(crate) fn is_supported(self) -> bool {
        match self {
            Cpu::Native => true,
            #[cfg(target_arch = "x86_64")]
            Cpu::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Cpu::Avx2 => false,
        }
    }
}

/// `len` bytes of xorshift noise from `seed`, half of them 0 or 255: at such extremes
/// Lanczos overshoots and the clamps matter.
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
