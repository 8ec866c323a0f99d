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
    let half = _mm256_set1_epi32((1i32 << taps.precision()) >> 1);
    let shift = _mm_cvtsi32_si128(taps.precision() as i32);
    for (y, out) in out.chunks_exact_mut(len).enumerate() {
        let weights = taps.weights(y);
        // Padding weighs 0 and may name rows past the last: only the taps up to the last
        // non-zero one are read.
        let used = weights.iter().rposition(|&w| w != 0).map_or(0, |t| t + 1);
        if len < 32 || used == 0 {
            row(rows, taps, y, out);
            continue;
        }
        let first = rows.row(taps.start(y)).as_ptr();
        let mut at = 0;
        loop {
            // The last vector ends at the row's end, over bytes already written if need be.
            let at_now = at.min(len - 32);
            let mut sums = [half; 4];
            let mut t = 0;
            while t < used {
                // An odd last tap is paired with itself, weighted 0 (the padding after it).
                let next = if t + 1 < used { t + 1 } else { t };
                // SAFETY: rows `start + t` and `start + next` are read by the taps, so
                // `check` found them, and 32 bytes from `at_now <= len - 32` lie in each;
                // `weights` holds `t + 1` (a multiple of 4 past `used`); the CPU has AVX2.
                unsafe {
                    let a = _mm256_loadu_si256(first.add(t * rows.stride + at_now).cast());
                    let b = _mm256_loadu_si256(first.add(next * rows.stride + at_now).cast());
                    let pair = _mm256_set1_epi32(
                        i32::from(weights[t] as u16) | (i32::from(weights[t + 1] as u16) << 16),
                    );
                    accumulate(&mut sums, a, b, pair);
                }
                t += 2;
            }
            let [s0, s1, s2, s3] = sums.map(|s| _mm256_sra_epi32(s, shift));
            let bytes = _mm256_packus_epi16(_mm256_packs_epi32(s0, s1), _mm256_packs_epi32(s2, s3));
            // SAFETY: 32 bytes from `at_now <= len - 32` lie in `out`.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(at_now).cast(), bytes) };
            if at_now == len - 32 {
                break;
            }
            at += 32;
        }
    }
}

/// Adds `w0 a + w1 b` (the weights in each 32-bit lane of `pair`) for 32 bytes to
/// `sums`, which hold bytes 0-3 and 16-19, 4-7 and 20-23, 8-11 and 24-27, 12-15 and 28-31.
#[inline(always)]
fn accumulate(sums: &mut [__m256i; 4], a: __m256i, b: __m256i, pair: __m256i) {
    // SAFETY (whole fn): only inlined into AVX2 functions.
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
