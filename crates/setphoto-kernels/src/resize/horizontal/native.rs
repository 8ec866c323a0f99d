//! The horizontal RGB pass in plain Rust: the reference every other path must match.

use crate::resize::taps::Taps;

/// See [`super::HorizontalRgb::run`]; the lengths are checked there.
pub(super) fn horizontal_rgb(
    source: &[u8],
    stride: usize,
    out: &mut [u8],
    rows: usize,
    taps: &Taps,
) {
    let out_row = taps.len() * 3;
    for (r, out) in out.chunks_exact_mut(out_row).take(rows).enumerate() {
        let row = &source[r * stride..];
        for (o, pixel) in out.chunks_exact_mut(3).enumerate() {
            pixel.copy_from_slice(&convolve(row, taps, o));
        }
    }
}

/// Output pixel `o` of `row` (which starts at the row's first pixel).
pub(in crate::resize) fn convolve(row: &[u8], taps: &Taps, o: usize) -> [u8; 3] {
    let precision = taps.precision();
    // Rounds to nearest: half a unit before the shift.
    let mut sums = [(1i32 << precision) >> 1; 3];
    let start = taps.start(o);
    for (t, &weight) in taps.weights(o).iter().enumerate() {
        // The padding past an output's last tap weighs 0, and may lie past the row's end.
        if weight == 0 {
            continue;
        }
        let pixel = &row[(start + t) * 3..][..3];
        for (sum, &value) in sums.iter_mut().zip(pixel) {
            *sum = sum.wrapping_add(i32::from(weight) * i32::from(value));
        }
    }
    sums.map(|sum| (sum >> precision).clamp(0, 255) as u8)
}
