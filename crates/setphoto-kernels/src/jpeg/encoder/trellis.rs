//! Rate-distortion quantisation of AC coefficients ("trellis quantisation", as mozjpeg
//! calls it): for each block, the quantised values that minimise bits plus weighted
//! squared error, rather than each coefficient rounded on its own.
//!
//! Rounding to nearest spends bits on every coefficient that lands on 1, however little
//! of a step it was and however long the run of zeros it breaks; a lone small coefficient
//! late in the block can cost a dozen bits (the run symbol, its magnitude, and a later
//! end-of-block) for a fraction of a step of error. The search here weighs each choice in
//! the bits the picture's own fitted Huffman tables give it.
//!
//! Per coefficient the candidates are zero, the value rounded, and the value rounded one
//! step towards zero; the search runs over where the last non-zero coefficient before each
//! position lies (the run its symbol codes), so it is exact for the sequential code's costs:
//! a run symbol's bits, the ZRLs of runs past 15, the magnitude bits, and the end-of-block.
//! Progressive files code bands with end-of-band runs, whose costs this approximates with
//! the sequential ones.
//!
//! Error counts in quantisation steps squared, so each frequency's error weighs as its step
//! says it matters (the tables already encode what the eye forgives), times a weight that
//! falls as the block's AC energy rises: error hides in texture and shows on flat areas.

use super::dct::ZIGZAG_AFTER_DCT;
use super::huffman::HuffmanCodes;

/// The weight of one squared quantisation step of luma error, in bits, on a flat block.
pub(super) const LUMA_WEIGHT: f32 = 19.0;

/// The same for chroma: about twice luma's, so that chroma keeps more of its coefficients.
/// At luma's weight the colour planes lose more than RGB SSIM allows at the bytes saved
/// (PERFORMANCE.md, "JPEG effort").
pub(super) const CHROMA_WEIGHT: f32 = 40.0;

/// The mean squared AC coefficient at which the weight has halved.
const MASKING_ENERGY: f32 = 1450.0;

/// The bits a symbol absent from the fitted table is charged: longer than any code a
/// symbol in use got, so the search creates a new symbol only where it pays well.
const ABSENT_SYMBOL_BITS: f32 = 17.0;

/// The end-of-block symbol.
const EOB: usize = 0x00;

/// The symbol for a run of 16 zeros.
const ZRL: usize = 0xF0;

/// Rate-distortion quantisation for one component class: the code length of each AC symbol
/// and the quantisation steps.
#[derive(Debug, Clone)]
pub(super) struct Trellis {
    /// Bits of each AC symbol's code.
    symbol_bits: [f32; 256],
    /// The quantisation step of each coefficient, in zig-zag order.
    steps: [f32; 64],
    /// The bits one squared step of error is worth on a flat block.
    flat_weight: f32,
}

impl Trellis {
    /// For AC symbols coded with `codes`, the quantisation table `table` (natural order),
    /// and `flat_weight` bits for a squared step of error on a flat block
    /// ([`LUMA_WEIGHT`] or [`CHROMA_WEIGHT`]).
    pub(super) fn new(codes: &HuffmanCodes, table: &[u8; 64], flat_weight: f32) -> Self {
        let symbol_bits = std::array::from_fn(|symbol| {
            let length = codes.length(symbol as u8);
            if length == 0 {
                ABSENT_SYMBOL_BITS
            } else {
                length as f32
            }
        });
        let steps = std::array::from_fn(|k| f32::from(table[super::tables::ZIGZAG[k]]));
        Self {
            symbol_bits,
            steps,
            flat_weight,
        }
    }

    /// The bits one squared step of error is worth in the block whose coefficients, in
    /// steps and zig-zag order, are `x`.
    fn weight(&self, x: &[f32; 64]) -> f32 {
        let mut energy = 0.0;
        for (value, step) in x.iter().zip(&self.steps).skip(1) {
            let coefficient = value * step;
            energy += coefficient * coefficient;
        }
        self.flat_weight * MASKING_ENERGY / (MASKING_ENERGY + energy / 63.0)
    }

    /// Quantises one block whose coefficients, divided by their steps, are `scaled`, and
    /// rounded, `rounded` (both stored as the DCT leaves them; see `Quantiser::quantise`):
    /// the DC as rounded, the AC chosen for the fewest bits plus weighted error. Same
    /// layout out as in.
    pub(super) fn quantise(&self, scaled: &[f32; 64], rounded: &[i32; 64]) -> [i32; 64] {
        let x: [f32; 64] = std::array::from_fn(|k| scaled[ZIGZAG_AFTER_DCT[k]]);
        let weight = self.weight(&x);

        // zeroed[k]: the error of positions 1..=k all set to zero.
        let mut zeroed = [0.0f32; 64];
        for k in 1..64 {
            zeroed[k] = zeroed[k - 1] + weight * x[k] * x[k];
        }

        // cost[k]: the least bits plus error of positions 1..=k with k the last non-zero;
        // position 0 stands for "none yet". `from` and `value` retrace the choice.
        let mut cost = [f32::INFINITY; 64];
        let mut from = [0u8; 64];
        let mut value = [0i32; 64];
        cost[0] = 0.0;
        let mut candidates = [0u8; 64];
        let mut count = 1; // candidates[0] = 0, the start
        for k in 1..64 {
            let rounded = rounded[ZIGZAG_AFTER_DCT[k]].unsigned_abs() as f32;
            if rounded == 0.0 {
                continue;
            }
            let magnitude = x[k].abs();
            let mut best = f32::INFINITY;
            let (mut best_from, mut best_value) = (0u8, 0i32);
            for option in [rounded, rounded - 1.0] {
                if option < 1.0 {
                    break;
                }
                let error = magnitude - option;
                let size = 32 - (option as u32).leading_zeros();
                let own = weight * error * error + size as f32;
                for &j in &candidates[..count] {
                    let j = usize::from(j);
                    let run = k - j - 1;
                    let symbol = (run % 16) << 4 | size as usize;
                    let total = cost[j]
                        + (zeroed[k - 1] - zeroed[j])
                        + (run / 16) as f32 * self.symbol_bits[ZRL]
                        + self.symbol_bits[symbol]
                        + own;
                    if total < best {
                        best = total;
                        best_from = j as u8;
                        best_value = option as i32;
                    }
                }
            }
            cost[k] = best;
            from[k] = best_from;
            value[k] = if x[k] < 0.0 { -best_value } else { best_value };
            candidates[count] = k as u8;
            count += 1;
        }

        // The block ends after its last non-zero coefficient, with an end-of-block unless
        // that is the 63rd.
        let mut last = 0;
        let mut best = f32::INFINITY;
        for &j in &candidates[..count] {
            let j = usize::from(j);
            let end = if j == 63 { 0.0 } else { self.symbol_bits[EOB] };
            let total = cost[j] + (zeroed[63] - zeroed[j]) + end;
            if total < best {
                best = total;
                last = j;
            }
        }

        let mut out = [0i32; 64];
        out[ZIGZAG_AFTER_DCT[0]] = rounded[ZIGZAG_AFTER_DCT[0]];
        let mut k = last;
        while k != 0 {
            out[ZIGZAG_AFTER_DCT[k]] = value[k];
            k = usize::from(from[k]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::huffman::HuffmanCodes;
    use super::super::tables::{LUMA_AC, LUMA_QUANT};
    use super::*;

    fn annex_k() -> Trellis {
        Trellis::new(&HuffmanCodes::new(&LUMA_AC), &LUMA_QUANT, LUMA_WEIGHT)
    }

    /// Rounded half away from zero is enough here: the blocks below avoid halves.
    fn rounded(scaled: &[f32; 64]) -> [i32; 64] {
        scaled.map(|v| v.round() as i32)
    }

    /// The objective, counted the plain way: walk the zig-zag order, charge each non-zero
    /// coefficient its run's ZRLs, its symbol and its magnitude bits, then an end-of-block
    /// unless the 63rd is non-zero; add the weighted error of every AC coefficient.
    fn objective(trellis: &Trellis, scaled: &[f32; 64], out: &[i32; 64]) -> f32 {
        let x: [f32; 64] = std::array::from_fn(|k| scaled[ZIGZAG_AFTER_DCT[k]]);
        let y: [i32; 64] = std::array::from_fn(|k| out[ZIGZAG_AFTER_DCT[k]]);
        let weight = trellis.weight(&x);
        let mut bits = 0.0;
        let mut run = 0;
        for &value in &y[1..] {
            if value == 0 {
                run += 1;
                continue;
            }
            let size = 32 - value.unsigned_abs().leading_zeros();
            bits += (run / 16) as f32 * trellis.symbol_bits[ZRL];
            bits += trellis.symbol_bits[(run % 16) << 4 | size as usize] + size as f32;
            run = 0;
        }
        if y[63] == 0 {
            bits += trellis.symbol_bits[EOB];
        }
        let error: f32 = (1..64).map(|k| (x[k] - y[k] as f32).powi(2)).sum();
        bits + weight * error
    }

    /// A block in steps: `values` at the given zig-zag positions, zero elsewhere.
    fn block(values: &[(usize, f32)]) -> [f32; 64] {
        let mut scaled = [0.0; 64];
        for &(k, v) in values {
            scaled[ZIGZAG_AFTER_DCT[k]] = v;
        }
        scaled
    }

    #[test]
    fn a_lone_small_coefficient_late_in_the_block_is_dropped() {
        let trellis = annex_k();
        let scaled = block(&[(0, 12.0), (1, 6.2), (2, -3.1), (40, 0.6)]);
        let out = trellis.quantise(&scaled, &rounded(&scaled));
        assert_eq!(out[ZIGZAG_AFTER_DCT[40]], 0);
        assert_eq!(out[ZIGZAG_AFTER_DCT[0]], 12, "the DC is kept as rounded");
        assert_eq!(out[ZIGZAG_AFTER_DCT[1]], 6);
    }

    proptest::proptest! {
        /// Every AC value is the rounded one, one step nearer zero, or zero; and no choice
        /// among those does better on the objective (checked by trying them all on blocks
        /// of a few non-zero coefficients).
        #[test]
        fn the_choice_is_the_best_of_its_candidates(
            values in proptest::collection::vec((1usize..64, -4.0f32..4.0), 1..7),
            dc in -50.0f32..50.0,
        ) {
            let trellis = annex_k();
            let mut pairs = values.clone();
            pairs.push((0, dc));
            let scaled = block(&pairs);
            let rounded = rounded(&scaled);
            let out = trellis.quantise(&scaled, &rounded);
            proptest::prop_assert_eq!(out[ZIGZAG_AFTER_DCT[0]], rounded[ZIGZAG_AFTER_DCT[0]]);
            let mut positions: Vec<usize> = Vec::new();
            for k in 1..64 {
                let (r, y) = (rounded[ZIGZAG_AFTER_DCT[k]], out[ZIGZAG_AFTER_DCT[k]]);
                proptest::prop_assert!(y == r || y == 0 || y == r - r.signum(), "{k}: {y} from {r}");
                if r != 0 {
                    positions.push(k);
                }
            }
            let chosen = objective(&trellis, &scaled, &out);
            // Every combination of zero, rounded and one nearer zero.
            let combinations = 3usize.pow(positions.len() as u32);
            for mut code in 0..combinations {
                let mut other = rounded;
                for &k in &positions {
                    let r = rounded[ZIGZAG_AFTER_DCT[k]];
                    other[ZIGZAG_AFTER_DCT[k]] = [r, 0, r - r.signum()][code % 3];
                    code /= 3;
                }
                let cost = objective(&trellis, &scaled, &other);
                proptest::prop_assert!(chosen <= cost + 1e-3, "{chosen} > {cost}");
            }
        }
    }
}
