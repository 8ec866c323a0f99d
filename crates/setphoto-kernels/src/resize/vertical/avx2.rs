//! The vertical pass with AVX2, as fir does it: for each pair of taps, 32 bytes of the
//! two rows are interleaved and widened to 16-bit pairs (R0 R1), and `vpmaddwd` multiplies
//! them by the two weights and adds them into 32-bit sums; the sums are shifted down and
//! packed back to bytes with saturation.

#![allow(unsafe_code)] // intrinsics; each unsafe block names the bound that makes it sound

use std::arch::x86_64::*;

use super::{Rows, row};
use crate::resize::taps::Taps;

/// See [`super::Vertical::run`], which checks the rows and sizes `out` exactly.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn run(taps: &Taps, rows: &Rows<'_>, out: &mut [u8]) {
    let len = rows.len;
    let sums = Sums {
        half: _mm256_set1_epi32((1i32 << taps.precision()) >> 1),
        shift: _mm_cvtsi32_si128(taps.precision() as i32),
    };
    for (y, out) in out.chunks_exact_mut(len).enumerate() {
        let weights = taps.weights(y);
        // Padding weighs 0 and may name rows past the last: it is not read.
        let used = taps.used(y);
        if len < 32 || used == 0 {
            row(rows, taps, y, out);
            continue;
        }
        // From the first row read to the buffer's end: the pointers to the later rows
        // are derived from it, so it must span them (`check` found them there).
        let first = &rows.bytes[taps.start(y) * rows.stride + rows.offset..];
        // 64 bytes at a time (eight sums in flight), the rest 32 at a time; the last
        // vector ends at the row's end, over bytes already written if need be.
        let mut at = 0;
        while at + 64 <= len {
            // SAFETY: the CPU has AVX2; 64 bytes from `at` lie in the rows and `out`.
            unsafe { sums.block::<2>(first.as_ptr(), rows.stride, weights, used, at, out) };
            at += 64;
        }
        while at < len {
            let at_now = at.min(len - 32);
            // SAFETY: the CPU has AVX2; 32 bytes from `at_now <= len - 32` lie in the rows
            // and `out`.
            unsafe { sums.block::<1>(first.as_ptr(), rows.stride, weights, used, at_now, out) };
            at += 32;
        }
    }
}

/// What every block of a pass shares: the rounding and the shift.
#[derive(Clone, Copy)]
struct Sums {
    half: __m256i,
    shift: __m128i,
}

impl Sums {
    /// `VECTORS` x 32 bytes of an output row from `at`: the first `used` of `weights`
    /// on the rows from `first` (`stride` bytes apart).
    ///
    /// # Safety
    /// The CPU must have AVX2; the `used` rows from `first` must each hold bytes
    /// `at .. at + 32 VECTORS`, as must `out`; `weights` must hold a multiple of 4 weights,
    /// past `used` (each output's padded taps).
    #[inline(always)]
    unsafe fn block<const VECTORS: usize>(
        self,
        first: *const u8,
        stride: usize,
        weights: &[i16],
        used: usize,
        at: usize,
        out: &mut [u8],
    ) {
        let mut sums = [[self.half; 4]; VECTORS];
        let mut t = 0;
        while t < used {
            // An odd last tap is paired with itself, weighted 0 (the padding after it).
            let next = if t + 1 < used { t + 1 } else { t };
            // SAFETY: rows `t` and `next` are among the `used` rows, and weights `t` and
            // `t + 1` inside `weights` (caller); the CPU has AVX2 (caller).
            unsafe {
                let pair =
                    _mm256_set1_epi32(weights.as_ptr().add(t).cast::<i32>().read_unaligned());
                let (a, b) = (first.add(t * stride + at), first.add(next * stride + at));
                for (v, sums) in sums.iter_mut().enumerate() {
                    let a = _mm256_loadu_si256(a.add(32 * v).cast());
                    let b = _mm256_loadu_si256(b.add(32 * v).cast());
                    accumulate(sums, a, b, pair);
                }
            }
            t += 2;
        }
        for (v, sums) in sums.into_iter().enumerate() {
            // SAFETY: the CPU has AVX2 (caller), as for every intrinsic here.
            let [s0, s1, s2, s3] = sums.map(|s| unsafe { _mm256_sra_epi32(s, self.shift) });
            // SAFETY: as above; 32 bytes from `at + 32 v` lie in `out` (caller).
            unsafe {
                let bytes =
                    _mm256_packus_epi16(_mm256_packs_epi32(s0, s1), _mm256_packs_epi32(s2, s3));
                _mm256_storeu_si256(out.as_mut_ptr().add(at + 32 * v).cast(), bytes);
            }
        }
    }
}

/// Adds `w0 a + w1 b` (the weights in each 32-bit lane of `pair`) for 32 bytes to
/// `sums`, which hold bytes 0-3 and 16-19, 4-7 and 20-23, 8-11 and 24-27, 12-15 and 28-31.
///
/// # Safety
/// The CPU must have AVX2.
#[inline(always)]
unsafe fn accumulate(sums: &mut [__m256i; 4], a: __m256i, b: __m256i, pair: __m256i) {
    // SAFETY (whole fn): the CPU has AVX2 (caller).
    unsafe {
        let zero = _mm256_setzero_si256();
        let (low, high) = (_mm256_unpacklo_epi8(a, b), _mm256_unpackhi_epi8(a, b));
        let widened = [
            _mm256_unpacklo_epi8(low, zero),
            _mm256_unpackhi_epi8(low, zero),
            _mm256_unpacklo_epi8(high, zero),
            _mm256_unpackhi_epi8(high, zero),
        ];
        for (sum, pairs) in sums.iter_mut().zip(widened) {
            *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(pairs, pair));
        }
    }
}
