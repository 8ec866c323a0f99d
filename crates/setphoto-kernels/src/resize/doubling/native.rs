//! The fused doubling in plain Rust, output by output with the general weights: the
//! reference the AVX2 path must match, and the edges it leaves.

use super::DoublingRgb;
use crate::resize::Rows;
use crate::resize::horizontal::native::convolve;
use crate::resize::vertical::row as vertical_row;

/// See [`DoublingRgb::run`], which checks the lengths; `row` holds a row of columns.
pub(super) fn run(pass: &DoublingRgb, source: &Rows<'_>, out: &mut [u8], row: &mut [u8]) {
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
