//! The forward DCT of T.81 A.3.3 and quantisation, in f32 over 8 lanes at a time, written so
//! the compiler vectorises it for whatever the target offers. No fused multiply-add and a fixed
//! order of operations: the same block gives the same coefficients on every CPU.

use super::tables::ZIGZAG;
use super::trellis::Trellis;

/// An 8x8 block, row-major.
pub(super) type Block = [[f32; 8]; 8];

/// Adds 1.5 * 2^23 and takes it away again: rounds half to even for |x| < 2^22 with two
/// plain float operations (vectorisable everywhere, unlike `round`).
const ROUNDING: f32 = 12_582_912.0;

/// The largest magnitude a baseline AC coefficient may have (size category 10).
const LARGEST_COEFFICIENT: f32 = 1023.0;

/// One quantisation table, ready to transform and quantise blocks.
#[derive(Debug, Clone)]
pub(super) struct Quantiser {
    /// 1 / (quantiser step), laid out as the DCT leaves coefficients: transposed.
    reciprocal: [f32; 64],
    /// Rate-distortion quantisation of the AC coefficients, in place of rounding each.
    trellis: Option<Trellis>,
}

impl Quantiser {
    /// For a quantisation table in natural (row-major) order.
    pub(super) fn new(table: &[u8; 64]) -> Self {
        let mut reciprocal = [0.0; 64];
        for (position, r) in reciprocal.iter_mut().enumerate() {
            *r = 1.0 / f32::from(table[transposed(position)]);
        }
        Self {
            reciprocal,
            trellis: None,
        }
    }

    /// The same quantiser choosing AC values with `trellis` rather than rounding them.
    pub(super) fn with_trellis(self, trellis: Trellis) -> Self {
        Self {
            trellis: Some(trellis),
            ..self
        }
    }

    /// Transforms `block` (level-shifted samples) and quantises it, each value within +-1023;
    /// the result is laid out as the two transposed passes leave it: the coefficient `k`-th
    /// in zig-zag order is at `ZIGZAG_AFTER_DCT[k]`. (Coding reads it in that order; putting
    /// the block in zig-zag order first cost 64 loads and stores a block.)
    #[inline(always)]
    pub(super) fn quantise(&self, block: &Block) -> [i32; 64] {
        let vertical = dct_columns(block);
        let transposed_block = transpose(&vertical);
        let both = dct_columns(&transposed_block);
        let scaled = |position: usize| {
            (both[position / 8][position % 8] * self.reciprocal[position])
                .clamp(-LARGEST_COEFFICIENT, LARGEST_COEFFICIENT)
        };
        // After adding ROUNDING the integer sits in the low mantissa bits: read it from
        // there (no float-to-int conversion, which does not vectorise).
        let round = |clamped: f32| (clamped + ROUNDING).to_bits().cast_signed() - ROUNDING_BITS;
        let Some(trellis) = &self.trellis else {
            return std::array::from_fn(|position| round(scaled(position)));
        };
        let scaled: [f32; 64] = std::array::from_fn(scaled);
        trellis.quantise(&scaled, &scaled.map(round))
    }
}

/// The bit pattern of `ROUNDING`.
const ROUNDING_BITS: i32 = ROUNDING.to_bits().cast_signed();

/// `ZIGZAG`, for coefficients laid out as the two transposed DCT passes leave them.
pub(super) const ZIGZAG_AFTER_DCT: [usize; 64] = {
    let mut table = [0; 64];
    let mut k = 0;
    while k < 64 {
        table[k] = transposed(ZIGZAG[k]);
        k += 1;
    }
    table
};

/// Where the coefficient at natural index `n` sits after the two transposed passes.
const fn transposed(n: usize) -> usize {
    (n % 8) * 8 + n / 8
}

/// The T.81 basis weights `c(u) / 2 * cos((2j + 1) u pi / 16)`, index `[u][j]` for j = 0..=3
/// (the other half mirrors them: equal for even u, negated for odd u).
#[allow(clippy::excessive_precision, clippy::unreadable_literal)]
const WEIGHTS: [[f32; 4]; 8] = [
    [0.353553391, 0.353553391, 0.353553391, 0.353553391],
    [0.490392640, 0.415734806, 0.277785117, 0.097545161],
    [0.461939766, 0.191341716, -0.191341716, -0.461939766],
    [0.415734806, -0.097545161, -0.490392640, -0.277785117],
    [0.353553391, -0.353553391, -0.353553391, 0.353553391],
    [0.277785117, -0.490392640, 0.097545161, 0.415734806],
    [0.191341716, -0.461939766, 0.461939766, -0.191341716],
    [0.097545161, -0.277785117, 0.415734806, -0.490392640],
];

/// The 1-D DCT down each column of `block` (all eight columns at once, lane by lane).
#[inline(always)]
fn dct_columns(block: &Block) -> Block {
    let mut out = [[0.0f32; 8]; 8];
    for lane in 0..8 {
        let x = |j: usize| block[j][lane];
        // Even outputs use the sums of mirrored samples, odd outputs their differences.
        let s = [x(0) + x(7), x(1) + x(6), x(2) + x(5), x(3) + x(4)];
        let d = [x(0) - x(7), x(1) - x(6), x(2) - x(5), x(3) - x(4)];
        let (s03, s12) = (s[0] + s[3], s[1] + s[2]);
        let (t03, t12) = (s[0] - s[3], s[1] - s[2]);
        out[0][lane] = (s03 + s12) * WEIGHTS[0][0];
        out[4][lane] = (s03 - s12) * WEIGHTS[4][0];
        out[2][lane] = t03 * WEIGHTS[2][0] + t12 * WEIGHTS[2][1];
        out[6][lane] = t03 * WEIGHTS[6][0] + t12 * WEIGHTS[6][1];
        for u in [1, 3, 5, 7] {
            let w = WEIGHTS[u];
            out[u][lane] = (d[0] * w[0] + d[1] * w[1]) + (d[2] * w[2] + d[3] * w[3]);
        }
    }
    out
}

#[inline(always)]
fn transpose(block: &Block) -> Block {
    let mut out = [[0.0f32; 8]; 8];
    for (r, row) in block.iter().enumerate() {
        for (c, &value) in row.iter().enumerate() {
            out[c][r] = value;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T.81 A.3.3 straight from its formula, in f64.
    #[allow(clippy::needless_range_loop)] // indices are the formula's x, y, u, v
    fn reference_dct(block: &Block) -> [f64; 64] {
        let c = |k: usize| if k == 0 { 1.0 / 2f64.sqrt() } else { 1.0 };
        let mut out = [0.0; 64];
        for v in 0..8 {
            for u in 0..8 {
                let mut sum = 0.0;
                for y in 0..8 {
                    for x in 0..8 {
                        sum += f64::from(block[y][x])
                            * (((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI) / 16.0).cos()
                            * (((2 * y + 1) as f64 * v as f64 * std::f64::consts::PI) / 16.0).cos();
                    }
                }
                out[v * 8 + u] = 0.25 * c(u) * c(v) * sum;
            }
        }
        out
    }

    #[test]
    fn the_weights_are_the_t81_basis() {
        for (u, row) in WEIGHTS.iter().enumerate() {
            let c = if u == 0 { 1.0 / 2f64.sqrt() } else { 1.0 };
            for (j, &w) in row.iter().enumerate() {
                let exact =
                    c / 2.0 * (((2 * j + 1) as f64 * u as f64 * std::f64::consts::PI) / 16.0).cos();
                assert!((f64::from(w) - exact).abs() < 1e-7, "[{u}][{j}]");
            }
        }
    }

    #[test]
    fn quantised_coefficients_match_the_reference_dct() {
        let mut seed = 0x2545_f491_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let steps: [u8; 64] = std::array::from_fn(|i| 1 + (i % 7) as u8);
        let quantiser = Quantiser::new(&steps);
        for _ in 0..200 {
            let block: Block =
                std::array::from_fn(|_| std::array::from_fn(|_| (next() % 256) as f32 - 128.0));
            let reference = reference_dct(&block);
            let ours = quantiser.quantise(&block);
            for (k, &natural) in ZIGZAG.iter().enumerate() {
                let exact = reference[natural] / f64::from(steps[natural]);
                let value = ours[ZIGZAG_AFTER_DCT[k]];
                // Rounding may differ only where the exact value sits on a half.
                assert!(
                    (f64::from(value) - exact).abs() <= 0.5 + 1e-3,
                    "coefficient {natural}: {value} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn coefficients_stay_within_the_baseline_range() {
        let quantiser = Quantiser::new(&[1; 64]);
        let black: Block = [[-128.0; 8]; 8];
        let out = quantiser.quantise(&black);
        assert_eq!(ZIGZAG_AFTER_DCT[0], 0);
        assert_eq!(out[0], -1023);
        assert!(out[1..].iter().all(|&c| c == 0));
    }
}
