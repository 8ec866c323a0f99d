//! The fused doubling with AVX2.
//!
//! Both passes compute an output byte as `w0 a + w1 b + w2 c + w3 d` of four source bytes
//! that are the same channel: four rows apart (vertical) or three bytes apart along the
//! row (horizontal), so whole vectors of them come from plain loads. `vpunpck[lh]bw`
//! interleaves (a, b) and (c, d), `vpmaddubsw` multiplies by the 7-bit weights and adds
//! each pair into a 16-bit lane, and the two halves, the rounding and the bias are added
//! with wrapping (the true sum is a `u16`, see `Doubling::bias`). A logical shift by 7,
//! a saturating subtraction of the bias and `vpackuswb` round and clamp as fir does.
//!
//! Along the row, the even and odd outputs of 32 source bytes are made into two buffers,
//! then interleaved three bytes at a time by `vpshufb` from 16-byte windows of each.

#![allow(unsafe_code)] // intrinsics; each unsafe block names the bound that makes it sound

use std::arch::x86_64::*;

use super::{Buffers, DoublingRgb};
use crate::resize::Rows;
use crate::resize::taps::Doubling;
use crate::resize::vertical::row as vertical_row;

/// One axis's weights as `vpmaddubsw` takes them, and its rounding.
#[derive(Clone, Copy)]
struct Weights {
    /// Per phase (even, odd): taps (0, 1) and (2, 3), repeated along the vector.
    phases: [[__m256i; 2]; 2],
    /// 64 (half of 128) plus the bias, in every 16-bit lane.
    round: __m256i,
    /// The bias in units, in every 16-bit lane.
    bias: __m256i,
}

impl Weights {
    /// `pattern`'s weights as vectors.
    #[target_feature(enable = "avx2")]
    fn new(pattern: &Doubling) -> Self {
        let pair = |w: [i8; 4], t: usize| {
            _mm256_set1_epi16(i16::from_le_bytes([w[t] as u8, w[t + 1] as u8]))
        };
        let phase = |w: [i8; 4]| [pair(w, 0), pair(w, 2)];
        // 64 + 128 bias fits a u16 (`bias_for`); as i16 it may wrap, which is wanted.
        let round = (64 + 128 * u32::from(pattern.bias)) as u16 as i16;
        Self {
            phases: pattern.weights.map(phase),
            round: _mm256_set1_epi16(round),
            bias: _mm256_set1_epi16(pattern.bias as i16),
        }
    }

    /// `w0 a + w1 b + w2 c + w3 d`, rounded and clamped, for phase `phase`'s weights.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[inline(always)]
    unsafe fn mix(self, phase: usize, a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        let [w01, w23] = self.phases[phase];
        // SAFETY (whole fn): the CPU has AVX2 (caller).
        unsafe {
            let low = _mm256_add_epi16(
                _mm256_maddubs_epi16(_mm256_unpacklo_epi8(a, b), w01),
                _mm256_maddubs_epi16(_mm256_unpacklo_epi8(c, d), w23),
            );
            let high = _mm256_add_epi16(
                _mm256_maddubs_epi16(_mm256_unpackhi_epi8(a, b), w01),
                _mm256_maddubs_epi16(_mm256_unpackhi_epi8(c, d), w23),
            );
            let finish = |sum: __m256i| {
                _mm256_subs_epu16(
                    _mm256_srli_epi16::<7>(_mm256_add_epi16(sum, self.round)),
                    self.bias,
                )
            };
            // In-lane unpacks and packs: the bytes come back in order.
            _mm256_packus_epi16(finish(low), finish(high))
        }
    }
}

/// The 32 bytes from `at`.
///
/// # Safety
/// The CPU must have AVX2 and the 32 bytes lie inside one allocation.
#[inline(always)]
unsafe fn load(at: *const u8) -> __m256i {
    // SAFETY: as the caller vouches.
    unsafe { _mm256_loadu_si256(at.cast()) }
}

/// See [`DoublingRgb::run`], which checks the lengths and sizes the buffers.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn run(
    pass: &DoublingRgb,
    source: &Rows<'_>,
    out: &mut [u8],
    buffers: Buffers<'_>,
) {
    let (down, across) = (&pass.down, &pass.across);
    let (vertical, horizontal) = (
        Weights::new(&pass.down_pattern),
        Weights::new(&pass.across_pattern),
    );
    let Buffers { row, even, odd } = buffers;
    let out_row = across.len() * 3;
    for (y, out) in out.chunks_exact_mut(out_row).take(down.len()).enumerate() {
        let pattern = &pass.down_pattern;
        let pair = y / 2;
        if pattern.pairs.contains(&pair) && source.len >= 32 {
            let phase = y % 2;
            let top = pattern.start + (pair - pattern.pairs.start) + phase;
            let rows = [0, 1, 2, 3].map(|t| source.row(top + t));
            vertical_pattern(vertical, phase, rows, &mut row[..source.len]);
        } else {
            vertical_row(source, down, y, row);
        }
        // SAFETY: the CPU has AVX2 (caller); `row` is `SLACK` bytes longer than its
        // pixels and `even` and `odd` hold the pattern's pairs and `SLACK` more (`run`).
        unsafe { double_row(&pass.across_pattern, horizontal, row, even, odd, out) };
        let (before, after) = out.split_at_mut(pass.across_pattern.pairs.end * 6);
        pass.edges[0].run(row, 0, before, 1);
        pass.edges[1].run(row, 0, after, 1);
    }
}

/// One output row of the vertical pass from its four source rows, all `out.len()`
/// (at least 32) bytes long.
#[target_feature(enable = "avx2")]
fn vertical_pattern(weights: Weights, phase: usize, rows: [&[u8]; 4], out: &mut [u8]) {
    let len = out.len();
    assert!(len >= 32 && rows.iter().all(|r| r.len() == len));
    let mut at = 0;
    loop {
        // The last vector ends at the row's end, over bytes already written if need be.
        let at_now = at.min(len - 32);
        // SAFETY: 32 bytes from `at_now <= len - 32` lie in each row and in `out`.
        unsafe {
            let [a, b, c, d] = rows.map(|r| load(r.as_ptr().add(at_now)));
            let mixed = weights.mix(phase, a, b, c, d);
            _mm256_storeu_si256(out.as_mut_ptr().add(at_now).cast(), mixed);
        }
        if at_now == len - 32 {
            break;
        }
        at += 32;
    }
}

/// The pattern's output pairs of one row: the even and odd outputs into `even` and
/// `odd`, then interleaved into `out` (the whole output row).
///
/// # Safety
/// The CPU must have AVX2; `row` must hold the source pixels the pattern reads and
/// `SLACK` bytes more, and `even` and `odd` three bytes per pair and `SLACK` more.
#[target_feature(enable = "avx2")]
unsafe fn double_row(
    pattern: &Doubling,
    weights: Weights,
    row: &[u8],
    even: &mut [u8],
    odd: &mut [u8],
    out: &mut [u8],
) {
    let pairs = pattern.pairs.len();
    let bytes = pairs * 3;
    let from = pattern.start * 3;
    // The last pixel read ends at `from + bytes + 12` (the last pair's odd output reads
    // four pixels from one past its pair's start); loads reach 32 bytes past that.
    debug_assert!(from + bytes + 44 <= row.len());
    debug_assert!(bytes + super::SLACK <= even.len().min(odd.len()));
    let mut at = 0;
    while at < bytes {
        // SAFETY: the loads end by `from + at + 12 + 32 <= from + bytes + 43`, within
        // the row's `SLACK` past the last pixel read (`from + bytes + 12`); the stores end
        // by `bytes + 31`, within `even`'s and `odd`'s `SLACK`; the CPU has AVX2 (caller).
        unsafe {
            let base = row.as_ptr().add(from + at);
            let [a, b, c, d, e] = [0, 3, 6, 9, 12].map(|k| load(base.add(k)));
            _mm256_storeu_si256(even.as_mut_ptr().add(at).cast(), weights.mix(0, a, b, c, d));
            _mm256_storeu_si256(odd.as_mut_ptr().add(at).cast(), weights.mix(1, b, c, d, e));
        }
        at += 32;
    }
    let out = &mut out[pattern.pairs.start * 6..pattern.pairs.end * 6];
    if pairs < INTERLEAVED_PAIRS {
        for (p, pixels) in out.chunks_exact_mut(6).enumerate() {
            pixels[..3].copy_from_slice(&even[p * 3..p * 3 + 3]);
            pixels[3..].copy_from_slice(&odd[p * 3..p * 3 + 3]);
        }
        return;
    }
    let interleave = Interleave::new();
    let mut p = 0;
    loop {
        // The last block ends at the last pair, over pairs already written if need be.
        let p_now = p.min(pairs - INTERLEAVED_PAIRS);
        // SAFETY: the block reads `even` and `odd` up to byte 3 p_now + 63 <= 3 pairs +
        // 15 and writes `out` bytes 6 p_now .. 6 p_now + 96 <= 6 pairs.
        unsafe { interleave.block(&even[3 * p_now..], &odd[3 * p_now..], &mut out[6 * p_now..]) };
        if p_now == pairs - INTERLEAVED_PAIRS {
            break;
        }
        p += INTERLEAVED_PAIRS;
    }
}

/// Output pairs interleaved per block: three 32-byte stores.
const INTERLEAVED_PAIRS: usize = 16;

/// Where each 16-byte chunk of eight interleaved pairs (48 bytes) reads its even and odd
/// bytes from (the windows hold every byte the chunk needs).
const WINDOWS: [(usize, usize); 3] = [(0, 0), (8, 7), (16, 15)];

/// The `vpshufb` masks that pick chunk `chunk`'s bytes from its windows: one for the even
/// window and one for the odd one, each zeroing the bytes the other gives.
const fn masks(chunk: usize) -> [[i8; 16]; 2] {
    let mut even = [-1i8; 16];
    let mut odd = [-1i8; 16];
    let mut i = 0;
    while i < 16 {
        let byte = chunk * 16 + i;
        let (pixel, channel) = (byte / 3, byte % 3);
        let from = (pixel / 2) * 3 + channel;
        if pixel % 2 == 0 {
            even[i] = (from - WINDOWS[chunk].0) as i8;
        } else {
            odd[i] = (from - WINDOWS[chunk].1) as i8;
        }
        i += 1;
    }
    [even, odd]
}

/// The shuffles of one block of [`INTERLEAVED_PAIRS`] pairs: chunks (0, 1), (2, 3 = 0 of
/// the next eight pairs) and (4 = 1, 5 = 2), each with its masks in both halves.
struct Interleave {
    masks: [[__m256i; 2]; 3],
}

impl Interleave {
    #[target_feature(enable = "avx2")]
    fn new() -> Self {
        let both = |low: [i8; 16], high: [i8; 16]| {
            // SAFETY: each array holds the 16 bytes read.
            unsafe {
                _mm256_setr_m128i(
                    _mm_loadu_si128(low.as_ptr().cast()),
                    _mm_loadu_si128(high.as_ptr().cast()),
                )
            }
        };
        let m = [masks(0), masks(1), masks(2)];
        let pick = |a: usize, b: usize| [both(m[a][0], m[b][0]), both(m[a][1], m[b][1])];
        Self {
            masks: [pick(0, 1), pick(2, 0), pick(1, 2)],
        }
    }

    /// Interleaves 16 pairs from `even` and `odd` (three bytes each) into `out`.
    ///
    /// # Safety
    /// The CPU must have AVX2; `even` and `odd` must hold 64 bytes, `out` 96.
    #[target_feature(enable = "avx2")]
    unsafe fn block(&self, even: &[u8], odd: &[u8], out: &mut [u8]) {
        debug_assert!(even.len() >= 64 && odd.len() >= 64 && out.len() >= 96);
        // (chunk of eight pairs' first byte, chunk) for each half of each store.
        const HALVES: [[(usize, usize); 2]; 3] =
            [[(0, 0), (0, 1)], [(0, 2), (24, 0)], [(24, 1), (24, 2)]];
        for (s, halves) in HALVES.iter().enumerate() {
            let window = |bytes: &[u8], pick: fn((usize, usize)) -> usize| {
                let [(base_low, low), (base_high, high)] = *halves;
                // SAFETY: windows start at most 24 + 16 bytes in and hold 16: inside the
                // 64 bytes the caller vouches for.
                unsafe {
                    _mm256_loadu2_m128i(
                        bytes.as_ptr().add(base_high + pick(WINDOWS[high])).cast(),
                        bytes.as_ptr().add(base_low + pick(WINDOWS[low])).cast(),
                    )
                }
            };
            let e = window(even, |w| w.0);
            let o = window(odd, |w| w.1);
            let [me, mo] = self.masks[s];
            let bytes = _mm256_or_si256(_mm256_shuffle_epi8(e, me), _mm256_shuffle_epi8(o, mo));
            // SAFETY: store `s` writes bytes 32 s .. 32 s + 32 of the 96 in `out`.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(32 * s).cast(), bytes) };
        }
    }
}
