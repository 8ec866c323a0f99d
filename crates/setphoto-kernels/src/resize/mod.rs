//! RGB resize passes with fir's 16-bit weights and rounding, for the resizes
//! `fast_image_resize` does slowest.
//!
//! - [`Vertical`]: the vertical pass of any RGB resize, first.
//! - [`HorizontalRgb`]: the horizontal pass of any RGB resize, after the vertical one.
//! - [`DoublingRgb`]: both passes of an RGB upscale by two (512 px to 1024 px), fused.
//!
//! All three take their weights from [`Taps`], worked out as fir works out its own, so the
//! pixels are the ones fir alone would make. As in fir: one folder per operation with one
//! module per instruction set, a [`Cpu`](crate::Cpu) detected once, one dispatch `match`,
//! and an `unsafe fn` as the only way to force a path; every path is tested against the
//! plain one.

mod doubling;
mod filters;
mod horizontal;
pub mod taps;
mod vertical;

pub use doubling::DoublingRgb;
pub use filters::{CATMULL_ROM_SUPPORT, LANCZOS3_SUPPORT, catmull_rom_weight, lanczos3_weight};
pub use horizontal::HorizontalRgb;
pub use taps::{Doubling, Taps};
pub use vertical::{Rows, Vertical};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cpu, noise};

    /// Every pass on every path this CPU runs, on inputs small enough for Miri, whose
    /// borrow checks hold the raw-pointer loads to the slices they come from (a row
    /// pointer taken from a one-row slice and moved to the next rows failed them):
    /// `RUSTFLAGS="-C target-feature=+avx2" MIRIFLAGS=-Zmiri-disable-isolation
    /// cargo +nightly miri test --lib --no-default-features every_pass_on_small_inputs`.
    #[test]
    #[allow(unsafe_code)] // only supported paths
    fn every_pass_on_small_inputs() {
        // Vertical: 40 rows to 17, 70 bytes from byte 5 of each; the last row read ends
        // the buffer.
        let down = Taps::new(40, 0.0, 40.0, 17, lanczos3_weight, 3.0).unwrap();
        let bytes = noise(39 * 80 + 5 + 70, 7);
        let rows = Rows {
            bytes: &bytes,
            stride: 80,
            offset: 5,
            len: 70,
        };
        let vertical = |cpu| {
            let mut out = vec![0; 17 * 70];
            // SAFETY: only supported paths.
            unsafe { Vertical::on(cpu, down.clone()) }.run(&rows, &mut out);
            out
        };
        // Doubling: a 20 x 12 picture to 40 x 24.
        let (across, up) = (
            Taps::new(20, 0.0, 20.0, 40, catmull_rom_weight, 2.0).unwrap(),
            Taps::new(12, 0.0, 12.0, 24, catmull_rom_weight, 2.0).unwrap(),
        );
        let picture = noise(20 * 12 * 3, 9);
        let doubling = |cpu| {
            let mut out = vec![0; 40 * 24 * 3];
            // SAFETY: only supported paths.
            let pass = unsafe { DoublingRgb::on(cpu, across.clone(), up.clone()) };
            pass.expect("both axes double")
                .run(&picture, 60, 0, &mut out, &mut Vec::new());
            out
        };
        // Horizontal: three rows of 30 pixels to 13; the last row ends the buffer.
        let along = Taps::new(30, 0.0, 30.0, 13, lanczos3_weight, 3.0).unwrap();
        let row_pixels = noise(3 * 90, 3);
        let horizontal = |cpu| {
            let mut out = vec![0; 3 * 13 * 3];
            // SAFETY: only supported paths.
            unsafe { HorizontalRgb::on(cpu, along.clone()) }.run(&row_pixels, 90, &mut out, 3);
            out
        };
        for cpu in Cpu::ALL.into_iter().filter(|c| c.is_supported()) {
            assert_eq!(vertical(cpu), vertical(Cpu::Native), "{cpu:?}");
            assert_eq!(doubling(cpu), doubling(Cpu::Native), "{cpu:?}");
            assert_eq!(horizontal(cpu), horizontal(Cpu::Native), "{cpu:?}");
        }
    }
}
