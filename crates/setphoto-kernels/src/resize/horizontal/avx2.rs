//! The horizontal RGB pass with AVX2.
//!
//! A 256-bit vector holds two output pixels of one row, one per 128-bit half, as four
//! 32-bit sums (R, G, B and an unused fourth). For each group of four taps, each half
//! loads 16 source bytes (five pixels; four are used) from its own output's start,
//! `vpshufb` spreads taps 0 and 1 (then 2 and 3) into 16-bit lanes R0 R1 G0 G1 B0 B1 0 0,
//! and `vpmaddwd` multiplies them by that output's weights and adds the pairs. Four output
//! pixels (two vectors) are packed to bytes and written with one 16-byte store.
//!
//! Everything per output that does not depend on the row (byte offsets, weight vectors,
//! how far each group of four reads) is worked out once per pass, and the tap loop is
//! unrolled for up to 16 taps: with per-output bookkeeping in the loop, scalar work took
//! most of the time.

#![allow(unsafe_code)] // intrinsics; each unsafe block names the bound that makes it sound

use std::arch::x86_64::*;

use crate::resize::taps::Taps;

/// The source bytes of taps (0, 1), then (2, 3), as 16-bit R0 R1 G0 G1 B0 B1 0 0.
const PAIR_01: [i8; 16] = [0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1];
const PAIR_23: [i8; 16] = [6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1];

/// What one pass works out before its rows.
#[derive(Debug)]
pub(super) struct Pass {
    /// Groups of four taps per output.
    groups: usize,
    /// Each output's first source byte.
    offsets: Vec<usize>,
    /// `2 * groups` weight vectors per output pair, pairs in output order.
    weights: Vec<__m256i>,
    /// For each run of four outputs, how many bytes from the row's start its loads need,
    /// at most (non-decreasing, so a row's usable runs are a prefix).
    reach: Vec<usize>,
}

impl Pass {
    /// Works out `taps`' offsets, weight vectors and reach.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn new(taps: &Taps) -> Self {
        let width = taps.width();
        let outputs = taps.len();
        let offsets: Vec<usize> = (0..outputs).map(|o| taps.start(o) * 3).collect();
        let both =
            |w: &[i16], t: usize| i32::from(w[t] as u16) | (i32::from(w[t + 1] as u16) << 16);
        // For each whole pair of outputs, one vector per tap pair (both outputs in it).
        let mut weights = Vec::with_capacity(outputs / 2 * (width / 2));
        for o in (0..outputs / 2 * 2).step_by(2) {
            let (wa, wb) = (taps.weights(o), taps.weights(o + 1));
            // Tap pairs in order: (0, 1), (2, 3) of each group.
            for t in (0..width).step_by(2) {
                let (x, y) = (both(wa, t), both(wb, t));
                weights.push(_mm256_setr_epi32(x, x, x, x, y, y, y, y));
            }
        }
        // The last group's 16-byte load starts 4 pixels before the padded taps end.
        let mut furthest = 0;
        let reach = offsets
            .chunks_exact(4)
            .map(|run| {
                let last = run.iter().copied().max().unwrap_or(0);
                furthest = furthest.max(last + (width - 4) * 3 + 16);
                furthest
            })
            .collect();
        Self {
            groups: width / 4,
            offsets,
            weights,
            reach,
        }
    }

    /// Bytes it holds.
    pub(super) fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * size_of::<usize>()
            + self.weights.capacity() * size_of::<__m256i>()
            + self.reach.capacity() * size_of::<usize>()
    }

    /// See [`super::HorizontalRgb::run`], which checks the slice lengths; `taps` are the
    /// ones this was made from.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn run(
        &self,
        source: &[u8],
        stride: usize,
        out: &mut [u8],
        rows: usize,
        taps: &Taps,
    ) {
        // SAFETY (all arms): the CPU has AVX2 (caller); `GROUPS` is 0 or `self.groups`.
        unsafe {
            match self.groups {
                1 => self.rows::<1>(source, stride, out, rows, taps),
                2 => self.rows::<2>(source, stride, out, rows, taps),
                3 => self.rows::<3>(source, stride, out, rows, taps),
                4 => self.rows::<4>(source, stride, out, rows, taps),
                _ => self.rows::<0>(source, stride, out, rows, taps),
            }
        }
    }

    /// The rows, with `GROUPS` groups per output (0: `self.groups`, not unrolled).
    ///
    /// # Safety
    /// The CPU must have AVX2, and `GROUPS` must be 0 or `self.groups`.
    #[target_feature(enable = "avx2")]
    unsafe fn rows<const GROUPS: usize>(
        &self,
        source: &[u8],
        stride: usize,
        out: &mut [u8],
        rows: usize,
        taps: &Taps,
    ) {
        let groups = if GROUPS == 0 { self.groups } else { GROUPS };
        let kernel = Kernel {
            pair_01: _mm256_broadcastsi128_si256(from_bytes(PAIR_01)),
            pair_23: _mm256_broadcastsi128_si256(from_bytes(PAIR_23)),
            half: _mm256_set1_epi32((1i32 << taps.precision()) >> 1),
            shift: _mm_cvtsi32_si128(taps.precision() as i32),
        };
        // After packing, 32-bit lanes hold outputs 0, 2, 0, 2, 1, 3, 1, 3.
        let in_order = _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5);
        let twelve_bytes = from_bytes([0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1]);
        let outputs = taps.len();
        let out_row = outputs * 3;
        // Runs whose 16-byte store fits the row; the 4 bytes past a run's pixels are
        // written again by the next run.
        let stored_whole = (out_row.saturating_sub(4) / 12).min(outputs / 4);
        for (r, out) in out.chunks_exact_mut(out_row).take(rows).enumerate() {
            let row = &source[r * stride..];
            // Near the end of the buffer, loads past it are left to the plain code.
            let runs = self.reach.partition_point(|&reach| reach <= row.len());
            let per_run = self
                .offsets
                .chunks_exact(4)
                .zip(self.weights.chunks_exact(4 * groups))
                .take(runs);
            for (q, (at, weights)) in per_run.enumerate() {
                let (first, second) = weights.split_at(2 * groups);
                // SAFETY: these runs' loads end within `row` (`reach`).
                let (first, second) = unsafe {
                    (
                        kernel.pair::<GROUPS>(row, at[0], at[1], first, groups),
                        kernel.pair::<GROUPS>(row, at[2], at[3], second, groups),
                    )
                };
                let words = _mm256_packs_epi32(first, second);
                let bytes = _mm256_packus_epi16(words, words);
                let ordered = _mm256_permutevar8x32_epi32(bytes, in_order);
                let pixels = _mm_shuffle_epi8(_mm256_castsi256_si128(ordered), twelve_bytes);
                if q < stored_whole {
                    // SAFETY: 16 bytes from 12 q lie inside `out` (`stored_whole`).
                    unsafe { _mm_storeu_si128(out.as_mut_ptr().add(12 * q).cast(), pixels) };
                } else {
                    let mut spill = [0u8; 16];
                    // SAFETY: `spill` holds 16 bytes.
                    unsafe { _mm_storeu_si128(spill.as_mut_ptr().cast(), pixels) };
                    out[12 * q..12 * q + 12].copy_from_slice(&spill[..12]);
                }
            }
            for o in 4 * runs..outputs {
                out[o * 3..o * 3 + 3].copy_from_slice(&super::native::convolve(row, taps, o));
            }
        }
    }
}

/// What every output pair's sums share.
#[derive(Clone, Copy)]
struct Kernel {
    pair_01: __m256i,
    pair_23: __m256i,
    half: __m256i,
    shift: __m128i,
}

impl Kernel {
    /// The outputs whose first source bytes are `a` and `b`, as 32-bit sums shifted down,
    /// one per half; `weights` holds their `2 * groups` weight vectors.
    ///
    /// # Safety
    /// The CPU must have AVX2; for both offsets, the 16 bytes from
    /// `offset + 12 * (groups - 1)` must lie inside `row`; `GROUPS` is 0 or `groups`.
    #[inline(always)]
    unsafe fn pair<const GROUPS: usize>(
        self,
        row: &[u8],
        a: usize,
        b: usize,
        weights: &[__m256i],
        groups: usize,
    ) -> __m256i {
        let groups = if GROUPS == 0 { groups } else { GROUPS };
        let mut sum = self.half;
        for g in 0..groups {
            // SAFETY: group g's loads end before the last group's, inside `row` (caller);
            // the CPU has AVX2 (caller), as for every intrinsic below.
            unsafe {
                let low = _mm_loadu_si128(row.as_ptr().add(a + 12 * g).cast());
                let high = _mm_loadu_si128(row.as_ptr().add(b + 12 * g).cast());
                let pixels = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(low), high);
                let p01 = _mm256_madd_epi16(
                    _mm256_shuffle_epi8(pixels, self.pair_01),
                    *weights.get_unchecked(2 * g),
                );
                let p23 = _mm256_madd_epi16(
                    _mm256_shuffle_epi8(pixels, self.pair_23),
                    *weights.get_unchecked(2 * g + 1),
                );
                sum = _mm256_add_epi32(sum, _mm256_add_epi32(p01, p23));
            }
        }
        // SAFETY: the CPU has AVX2 (caller).
        unsafe { _mm256_sra_epi32(sum, self.shift) }
    }
}

/// 16 bytes as a vector.
#[target_feature(enable = "avx2")]
fn from_bytes(bytes: [i8; 16]) -> __m128i {
    // SAFETY: `bytes` holds the 16 bytes read.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}
