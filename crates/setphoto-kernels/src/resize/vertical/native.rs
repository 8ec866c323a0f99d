//! The vertical pass in plain Rust: the reference every other path must match.

use super::Rows;
use crate::resize::taps::Taps;

/// Output row `y` with `taps`' weights, into `out` (`rows.len` bytes).
pub(in crate::resize) fn row(rows: &Rows<'_>, taps: &Taps, y: usize, out: &mut [u8]) {
    let precision = taps.precision();
    let start = taps.start(y);
    // Rounds to nearest: half a unit before the shift.
    let mut sums = vec![(1i32 << precision) >> 1; rows.len];
    for (t, &weight) in taps.weights(y).iter().enumerate() {
        // Padding weighs 0 and may name rows past the last.
        if weight == 0 {
            continue;
        }
        for (sum, &value) in sums.iter_mut().zip(rows.row(start + t)) {
            *sum = sum.wrapping_add(i32::from(weight) * i32::from(value));
        }
    }
    for (byte, sum) in out.iter_mut().zip(sums) {
        *byte = (sum >> precision).clamp(0, 255) as u8;
    }
}
