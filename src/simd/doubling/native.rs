//! The fused doubling in plain Rust, output by output with the general weights: the
//! reference the AVX2 path must match, and the edges it leaves.

use super::{DoublingRgb, Source};
use crate::resize::taps::Taps;
use crate::simd::horizontal::native::convolve;

/// See [`DoublingRgb::run`], which checks the lengths; `row` holds a row of columns.
pub(super) fn run(pass: &DoublingRgb, source: &Source<'_>, out: &mut [u8], row: &mut [u8]) {
    let out_row = pass.across.len() * 3;
    for (y, out) in out
        .chunks_exact_mut(out_row)
        .take(pass.down.len())
        .enumerate()
    {
        vertical_row(source, &pass.down, y, row);
        for (o, pixel) in out.chunks_exact_mut(3).enumerate() {
            pixel.copy_from_slice(&convolve(row, &pass.across, o));
        }
    }
}

/// Output row `y` of the vertical pass with `down`'s weights, into `row`'s first
/// `source.len` bytes.
pub(super) fn vertical_row(source: &Source<'_>, down: &Taps, y: usize, row: &mut [u8]) {
    let precision = down.precision();
    let start = down.start(y);
    let mut sums = vec![(1i32 << precision) >> 1; source.len];
    for (t, &weight) in down.weights(y).iter().enumerate() {
        // Padding weighs 0 and may name rows past the last.
        if weight == 0 {
            continue;
        }
        for (sum, &value) in sums.iter_mut().zip(source.row(start + t)) {
            *sum = sum.wrapping_add(i32::from(weight) * i32::from(value));
        }
    }
    for (byte, sum) in row.iter_mut().zip(sums) {
        *byte = (sum >> precision).clamp(0, 255) as u8;
    }
}
