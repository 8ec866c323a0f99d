//! Scaled inverse DCT: an 8x8 block of coefficients to `nx` x `ny` pixels, `nx` and `ny`
//! each 1, 2, 4 or 8.
//!
//! Keeping only the lowest `n` frequencies of an axis and taking their `n`-point inverse
//! DCT gives that axis at 1/(8/n) of its size, low-pass filtered, in one step. (libjpeg's
//! scaled IDCT instead averages groups of full-size samples, a box filter that lets the
//! upper frequencies alias; the two agree on photos within a level or two, and the
//! band-limited picture is the better input to the resize that follows.) Each axis gets its own size, so a chroma block that covers
//! twice the luma area comes out at the luma's resolution and needs no upsampling.
//!
//! With the orthonormal scaling of both transforms, the `n`-point basis that maps the
//! 8-point coefficients is `1/2 * C(u) * cos((2x + 1) u pi / 2n)` for every `n`: a block's
//! mean is kept at any size.

use super::entropy::Select;
use crate::zigzag::ZIGZAG;

/// `ROWS_UPTO[k]`: how many coefficient rows can be nonzero when the last nonzero
/// coefficient is zig-zag index `k`.
const ROWS_UPTO: [usize; 64] = {
    let mut table = [0; 64];
    let mut most = 0;
    let mut k = 0;
    while k < 64 {
        let line = ZIGZAG[k] / 8;
        if line + 1 > most {
            most = line + 1;
        }
        table[k] = most;
        k += 1;
    }
    table
};

/// Where a progressive block keeps the `nx` x `ny` lowest frequencies: their AC
/// coefficients in zig-zag order from slot 1 (slot 0 is the DC's place).
pub(super) struct Window {
    /// Per natural index `v * 8 + u` inside the window, its slot (0 outside).
    slot: [u8; 64],
    /// Per zig-zag index past the DC inside the window, its slot (0 outside, and for
    /// the DC).
    pub(super) by_zigzag: [u8; 64],
    /// The zig-zag indices whose slot lies past the first 16.
    past_first_vector: u64,
}

impl Window {
    /// The window of the `nx` x `ny` lowest frequencies.
    pub(super) const fn new(nx: usize, ny: usize) -> Self {
        let mut slot = [0; 64];
        let mut by_zigzag = [0; 64];
        let mut past_first_vector = 0;
        let mut next = 1;
        let mut k = 1;
        while k < 64 {
            let natural = ZIGZAG[k];
            if natural / 8 < ny && natural % 8 < nx {
                slot[natural] = next;
                by_zigzag[k] = next;
                if next >= 16 {
                    past_first_vector |= 1 << k;
                }
                next += 1;
            }
            k += 1;
        }
        Self {
            slot,
            by_zigzag,
            past_first_vector,
        }
    }
}

/// The basis functions for the four output sizes.
pub(super) struct Idct {
    /// `basis[log2 n][u][x]`: the weight of frequency `u` at output sample `x` of `n`.
    basis: [[[f32; 8]; 8]; 4],
}

impl Idct {
    /// Computes the basis functions.
    pub(super) fn new() -> Self {
        let mut basis = [[[0.0; 8]; 8]; 4];
        for (log2, table) in basis.iter_mut().enumerate() {
            let n = 1usize << log2;
            for (u, weights) in table.iter_mut().enumerate().take(n) {
                let c = if u == 0 {
                    std::f64::consts::FRAC_1_SQRT_2
                } else {
                    1.0
                };
                for (x, weight) in weights.iter_mut().enumerate().take(n) {
                    let angle =
                        (2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / (2 * n) as f64;
                    *weight = (0.5 * c * angle.cos()) as f32;
                }
            }
        }
        Self { basis }
    }

    /// Transforms dequantised coefficients `coef` (natural order; only the top-left `ny`
    /// rows and `nx` columns are read) whose last nonzero coefficient in zig-zag order is
    /// `last`, writing `ny` rows of `nx` pixels into `out`, rows `stride` apart. Leaves
    /// every coefficient it may read zero, ready for the next block: clearing just those
    /// (often one row of four) costs less than clearing the block.
    #[inline(always)]
    pub(super) fn block(
        &self,
        coef: &mut [f32; 64],
        last: usize,
        (nx, ny): (usize, usize),
        out: &mut [u8],
        stride: usize,
    ) {
        if last == 0 {
            // Flat block: only the mean.
            let value = to_sample(coef[0] * 0.125);
            coef[0] = 0.0;
            for row in out.chunks_mut(stride).take(ny) {
                row[..nx].fill(value);
            }
            return;
        }
        macro_rules! sized {
            ($($x:literal, $y:literal);*) => {
                match (nx, ny) {
                    $(($x, $y) => self.sized::<$x, $y>(coef, last, out, stride),)*
                    _ => unreachable!("block sizes are 1, 2, 4 or 8"),
                }
            };
        }
        sized!(1, 1; 1, 2; 1, 4; 1, 8; 2, 1; 2, 2; 2, 4; 2, 8;
               4, 1; 4, 2; 4, 4; 4, 8; 8, 1; 8, 2; 8, 4; 8, 8);
    }

    /// Dequantises and transforms one block of a progressive frame: `dc` and the AC
    /// coefficients `block` holds (the `nx` x `ny` lowest frequencies in zig-zag order
    /// from slot 1; slot 0 ignored), with the steps `steps` in the same order (the DC's in
    /// slot 0), `nonzero` marking the zig-zag indices of those that are nonzero (the
    /// dequantisation 16 slots at a time, by `select`);
    /// writes `ny` rows of `nx` pixels into `out`, rows `stride` apart, and clears `block`
    /// for the next MCU row. The same samples as [`Self::block`] of the same
    /// coefficients.
    #[inline(always)]
    pub(super) fn compact(
        &self,
        select: impl Select,
        block: &mut [i16],
        (dc, nonzero): (i16, u64),
        steps: &[f32; 64],
        (nx, ny): (usize, usize),
        (out, stride): (&mut [u8], usize),
    ) {
        macro_rules! sized {
            ($($x:literal, $y:literal);*) => {
                match (nx, ny) {
                    $(($x, $y) => {
                        self.compact_sized::<$x, $y>(
                            select, block, (dc, nonzero), steps, (out, stride),
                        )
                    })*
                    _ => unreachable!("block sizes are 1, 2, 4 or 8"),
                }
            };
        }
        sized!(1, 1; 1, 2; 1, 4; 1, 8; 2, 1; 2, 2; 2, 4; 2, 8;
               4, 1; 4, 2; 4, 4; 4, 8; 8, 1; 8, 2; 8, 4; 8, 8);
    }

    #[inline(always)]
    fn compact_sized<const NX: usize, const NY: usize>(
        &self,
        select: impl Select,
        block: &mut [i16],
        (dc, nonzero): (i16, u64),
        steps: &[f32; 64],
        (out, stride): (&mut [u8], usize),
    ) {
        let window = const { Window::new(NX, NY) };
        // Every slot at once, 16 at a time (blocks hold whole vectors of 16), where a loop
        // over the nonzero ones would cost a mispredicted branch per block; past the
        // first 16 only when one of them is nonzero (rare in photos: those are the
        // upper frequencies of a block larger than 4x4). Slots the history does not mark
        // are zero already, so they need no clearing either.
        let chunks = if NX * NY > 16 && nonzero & window.past_first_vector != 0 {
            (NX * NY).div_ceil(16)
        } else {
            1
        };
        let mut coef = [0.0f32; 64];
        for ((coef, lanes), steps) in coef
            .chunks_exact_mut(16)
            .zip(block.chunks_exact_mut(16))
            .zip(steps.chunks_exact(16))
            .take(chunks)
        {
            let lanes: &mut [i16; 16] = lanes.try_into().expect("16 lanes");
            let steps = steps.try_into().expect("16 steps");
            coef.copy_from_slice(&select.dequantise(lanes, steps));
            lanes.fill(0);
        }
        // A flat block (no nonzero AC coefficient) takes the short way, as in
        // `Self::block`: known from `nonzero`, not from the slots, which would take a
        // pass over them. The rows transformed are those up to the last coefficient that
        // may be nonzero, as `Self::block` counts them.
        let dc = f32::from(dc) * steps[0];
        if nonzero == 0 {
            // Flat block: only the mean.
            let value = to_sample(dc * 0.125);
            for row in out.chunks_mut(stride).take(NY) {
                row[..NX].fill(value);
            }
            return;
        }
        coef[0] = dc;
        let rows = if NY <= 4 {
            NY
        } else {
            ROWS_UPTO[63usize.saturating_sub(nonzero.leading_zeros() as usize)].min(NY)
        };
        self.transform::<NX, NY, false>(&mut coef, &window.slot, rows, out, stride);
    }

    #[inline(always)]
    fn sized<const NX: usize, const NY: usize>(
        &self,
        coef: &mut [f32; 64],
        last: usize,
        out: &mut [u8],
        stride: usize,
    ) {
        // Within a row every column is visited: a fixed count the compiler unrolls and
        // vectorises, where a data-dependent one would cost a mispredicted branch. Up to
        // four rows, so are all rows (for a 1/2 luma block, all four cost less than the
        // branch); of eight, only those up to the last nonzero coefficient's.
        let rows = if NY <= 4 {
            NY
        } else {
            ROWS_UPTO[last & 63].min(NY)
        };
        self.transform::<NX, NY, true>(coef, &[0; 64], rows, out, stride);
    }

    /// The transform of [`Self::sized`], over the first `rows` rows of the coefficients
    /// (the rest zero): frequency `(u, v)` is `coef[v * 8 + u]` in `NATURAL` order, which
    /// it clears for the next block, else `coef[at[v * 8 + u]]`.
    #[inline(always)]
    fn transform<const NX: usize, const NY: usize, const NATURAL: bool>(
        &self,
        coef: &mut [f32; 64],
        at: &[u8; 64],
        rows: usize,
        out: &mut [u8],
        stride: usize,
    ) {
        let across = &self.basis[NX.trailing_zeros() as usize];
        let down = &self.basis[NY.trailing_zeros() as usize];
        let mut samples = [[0.0f32; NX]; NY];
        for v in 0..rows {
            let mut partial = [0.0f32; NX];
            for (u, weights) in across.iter().enumerate().take(NX) {
                let c = if NATURAL {
                    coef[v * 8 + u]
                } else {
                    coef[usize::from(at[v * 8 + u]) & 63]
                };
                for x in 0..NX {
                    partial[x] += weights[x] * c;
                }
            }
            for (y, sums) in samples.iter_mut().enumerate() {
                let weight = down[v][y];
                for x in 0..NX {
                    sums[x] += weight * partial[x];
                }
            }
            if NATURAL {
                coef[v * 8..v * 8 + NX].fill(0.0);
            }
        }
        for (row, sums) in out.chunks_mut(stride).zip(&samples) {
            for (sample, level) in row[..NX].iter_mut().zip(sums.map(to_level)) {
                *sample = level as u8;
            }
        }
    }
}

/// The bits of 2^23 as an `f32`.
const ROUNDING_BITS: i32 = 0x4B00_0000;

/// A level-shifted IDCT output as a rounded, clamped sample, 0..=255 in an `i32`.
///
/// Adding 2^23 to a float in 0..=255 leaves the rounded integer in its low mantissa bits:
/// plain float and integer operations, which vectorise, where a float-to-int cast does
/// not. The integer clamp changes nothing, but tells the compiler the range, so a row of
/// levels becomes bytes by two saturating packs.
#[inline(always)]
fn to_level(value: f32) -> i32 {
    const ROUNDING: f32 = 8_388_608.0; // 2^23
    let bits = ((value + 128.0).clamp(0.0, 255.0) + ROUNDING).to_bits() as i32;
    (bits - ROUNDING_BITS).clamp(0, 255)
}

/// [`to_level`] as a byte.
#[inline(always)]
fn to_sample(value: f32) -> u8 {
    to_level(value) as u8
}

#[cfg(test)]
mod tests {
    use super::super::entropy::Portable;
    #[cfg(target_arch = "x86_64")]
    use super::super::entropy::tests::vector_select;
    use super::*;

    /// The forward DCT of an 8x8 block (orthonormal, as JPEG's), natural order.
    fn forward(block: &[[f64; 8]; 8]) -> [f32; 64] {
        let c = |u: usize| {
            if u == 0 {
                std::f64::consts::FRAC_1_SQRT_2
            } else {
                1.0
            }
        };
        let mut out = [0.0; 64];
        for v in 0..8 {
            for u in 0..8 {
                let mut sum = 0.0;
                for (y, row) in block.iter().enumerate() {
                    for (x, &s) in row.iter().enumerate() {
                        let ax = ((2 * x + 1) * u) as f64 * std::f64::consts::PI / 16.0;
                        let ay = ((2 * y + 1) * v) as f64 * std::f64::consts::PI / 16.0;
                        sum += (s - 128.0) * ax.cos() * ay.cos();
                    }
                }
                out[v * 8 + u] = (0.25 * c(u) * c(v) * sum) as f32;
            }
        }
        out
    }

    fn last_nonzero(coef: &[f32; 64]) -> usize {
        (0..64).rev().find(|&k| coef[ZIGZAG[k]] != 0.0).unwrap_or(0)
    }

    /// Transforms a copy of `coef` with only the frequencies an `nx` x `ny` block reads
    /// (as the decoder stores them), and checks the copy comes back cleared.
    fn transform(coef: &[f32; 64], (nx, ny): (usize, usize), out: &mut [u8], stride: usize) {
        let mut kept: [f32; 64] = std::array::from_fn(|i| {
            if i / 8 < ny && i % 8 < nx {
                coef[i]
            } else {
                0.0
            }
        });
        let last = last_nonzero(&kept);
        Idct::new().block(&mut kept, last, (nx, ny), out, stride);
        assert_eq!(kept, [0.0; 64], "{nx}x{ny} left coefficients behind");
    }

    proptest::proptest! {
        /// A progressive block's transform (coefficients in zig-zag order in their
        /// window, dequantised as they are read) writes the same samples as the
        /// sequential one of the same dequantised coefficients, and clears the block.
        #[test]
        fn compact_blocks_transform_like_natural_ones(
            values in proptest::array::uniform32(-300i16..300),
            dc in -1000i16..1000,
            zeros in proptest::prelude::any::<u64>(),
            size in 0..16usize,
        ) {
            let (nx, ny) = (1 << (size % 4), 1 << (size / 4));
            let steps: [f32; 64] = std::array::from_fn(|i| (1 + i % 7) as f32);
            // Slot `s` of the block holds zig-zag index `zigzag[s]`; most coefficients
            // zero, as in photos (and a block with none but the DC at times).
            let mut zigzag = [0usize; 64];
            let mut slots = 1;
            for (k, &natural) in ZIGZAG.iter().enumerate().skip(1) {
                if natural / 8 < ny && natural % 8 < nx {
                    zigzag[slots] = k;
                    slots += 1;
                }
            }
            let mut block = vec![0i16; slots.next_multiple_of(16)];
            block[0] = 77; // the spare slot's leftovers are not this block's
            let mut natural = [0.0f32; 64];
            let mut nonzero = 0u64;
            for slot in 1..slots {
                let value = if zeros >> slot & 1 != 0 { 0 } else { values[slot % 32] };
                block[slot] = value;
                natural[ZIGZAG[zigzag[slot]]] = f32::from(value) * steps[slot];
                if value != 0 {
                    nonzero |= 1 << zigzag[slot];
                }
            }
            natural[0] = f32::from(dc) * steps[0];
            let idct = Idct::new();
            let (mut expected, mut got) = ([0u8; 64], [0u8; 64]);
            let last = 63usize.saturating_sub(nonzero.leading_zeros() as usize);
            idct.block(&mut natural, last, (nx, ny), &mut expected, 8);
            let mut portable_block = block.clone();
            idct.compact(Portable, &mut portable_block, (dc, nonzero), &steps, (nx, ny), (&mut got, 8));
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert!(portable_block[1..].iter().all(|&value| value == 0));
            #[cfg(target_arch = "x86_64")]
            if let Some(vector) = vector_select() {
                got = [0; 64];
                idct.compact(vector, &mut block, (dc, nonzero), &steps, (nx, ny), (&mut got, 8));
                proptest::prop_assert_eq!(got, expected);
                proptest::prop_assert!(block[1..].iter().all(|&value| value == 0));
            }
        }
    }

    #[test]
    fn the_full_size_transform_inverts_the_forward_one() {
        let block: [[f64; 8]; 8] =
            std::array::from_fn(|y| std::array::from_fn(|x| ((x * 37 + y * 11) % 256) as f64));
        let coef = forward(&block);
        let mut out = [0u8; 64];
        transform(&coef, (8, 8), &mut out, 8);
        for y in 0..8 {
            for x in 0..8 {
                assert!(
                    (f64::from(out[y * 8 + x]) - block[y][x]).abs() <= 1.0,
                    "{x},{y}"
                );
            }
        }
    }

    #[test]
    fn a_reduced_block_keeps_the_mean_and_the_gradient() {
        // A ramp across and down: at every size the block's mean is kept, and the samples
        // still rise along each axis that has a gradient (no aliasing flips).
        let block: [[f64; 8]; 8] = std::array::from_fn(|y| {
            std::array::from_fn(|x| 60.0 + 9.0 * x as f64 + 5.0 * y as f64)
        });
        let mean = block.iter().flatten().sum::<f64>() / 64.0;
        let coef = forward(&block);
        for (nx, ny) in [(4, 4), (2, 2), (1, 1), (8, 4), (4, 8), (2, 8), (8, 1)] {
            let mut out = [0u8; 64];
            transform(&coef, (nx, ny), &mut out, 8);
            let samples: Vec<f64> = (0..ny)
                .flat_map(|y| (0..nx).map(move |x| (x, y)))
                .map(|(x, y)| f64::from(out[y * 8 + x]))
                .collect();
            let got = samples.iter().sum::<f64>() / samples.len() as f64;
            assert!((got - mean).abs() <= 0.5, "{nx}x{ny}: mean {got} vs {mean}");
            for y in 0..ny {
                for x in 1..nx {
                    assert!(
                        out[y * 8 + x] > out[y * 8 + x - 1],
                        "{nx}x{ny} across at {x},{y}"
                    );
                }
            }
            for y in 1..ny {
                assert!(out[y * 8] > out[(y - 1) * 8], "{nx}x{ny} down at row {y}");
            }
        }
    }

    #[test]
    fn a_flat_block_keeps_its_level_and_clamps() {
        let mut coef = [0.0f32; 64];
        coef[0] = 8.0 * 50.0;
        let mut out = [0u8; 16];
        transform(&coef, (4, 4), &mut out, 4);
        assert_eq!(out, [178; 16]);
        coef[0] = 8.0 * 1000.0;
        coef[1] = 3.0;
        transform(&coef, (4, 4), &mut out, 4);
        assert_eq!(out, [255; 16]);
    }
}
