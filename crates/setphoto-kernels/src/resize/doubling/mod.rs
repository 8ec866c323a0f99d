//! Both passes of an RGB upscale by two, fused: each output row is made by the vertical
//! pass into a row buffer and doubled along by the horizontal one while it is in L1.
//!
//! An avatar set's 1024 px rendition of a 512 px picture is such an upscale. With
//! Catmull-Rom's weights at 2x (`Taps::doubling`: multiples of 2^-7, two phases), a sum
//! fits a 16-bit lane, so `vpmaddubsw` takes 16 pixels' pairs of taps at once, and the
//! taps of the horizontal pass are the same bytes three apart, read with unaligned loads
//! instead of shuffled per output: the general passes took 0.52 ms (horizontal, ours) and
//! 0.22 ms (vertical, fir's) for 512 -> 1024. The outputs near the edges, whose weights
//! were renormalised, take the general code.

mod native;

#[cfg(target_arch = "x86_64")]
mod avx2;

use super::{HorizontalRgb, Rows};
use crate::Cpu;
use crate::resize::taps::{Doubling, Taps};

/// Bytes every row buffer holds past its pixels, so that 32-byte loads from any pixel
/// that is used stay inside it.
const SLACK: usize = 64;

/// An RGB upscale by two along both axes, made ready for one CPU path.
#[derive(Debug)]
pub struct DoublingRgb {
    cpu: Cpu,
    /// Along the rows, counted from the first source column read.
    across: Taps,
    across_pattern: Doubling,
    /// Down the columns, counted from the source's first row.
    down: Taps,
    down_pattern: Doubling,
    /// The general pass over the outputs before and after the pattern's pairs.
    edges: [HorizontalRgb; 2],
}

impl DoublingRgb {
    /// The fused pass for `across` (along rows) and `down` (along columns) on the
    /// fastest path this CPU runs; `None` unless both double ([`Taps::doubling`]) and the
    /// CPU has AVX2 (elsewhere the two general passes are as good).
    #[allow(unsafe_code)] // the detected path
    pub fn new(across: Taps, down: Taps) -> Option<Self> {
        let cpu = Cpu::detect();
        // SAFETY: `detect` only returns a path this CPU runs.
        (cpu == Cpu::Avx2)
            .then(|| unsafe { Self::on(cpu, across, down) })
            .flatten()
    }

    /// The fused pass on the path `cpu`; `None` unless both axes double.
    ///
    /// # Safety
    /// The CPU must run `cpu` ([`Cpu::is_supported`]).
    #[allow(unsafe_code)] // `run` takes the path `cpu` names: the caller vouches for it
    pub unsafe fn on(cpu: Cpu, across: Taps, down: Taps) -> Option<Self> {
        let across_pattern = across.doubling()?;
        let (before, after) = (
            0..2 * across_pattern.pairs.start,
            2 * across_pattern.pairs.end..across.len(),
        );
        // SAFETY: the caller vouches for `cpu`.
        let edges = [before, after]
            .map(|outputs| unsafe { HorizontalRgb::on(cpu, across.select(outputs)) });
        Some(Self {
            cpu,
            across_pattern,
            down_pattern: down.doubling()?,
            across,
            down,
            edges,
        })
    }

    /// Bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.across.heap_bytes()
            + self.down.heap_bytes()
            + self
                .edges
                .iter()
                .map(HorizontalRgb::heap_bytes)
                .sum::<usize>()
    }

    /// Resamples the source into `out` (`down.len()` rows of `across.len()` pixels):
    /// source row `y` starts at `source[y * stride]`, and the columns read start at
    /// column `first` of it. `scratch` holds the row buffers, kept by the caller.
    ///
    /// # Panics
    /// When `source` ends before the last row's last column read, or `out` is short.
    #[allow(unsafe_code)] // the call to the AVX2 build
    pub fn run(
        &self,
        source: &[u8],
        stride: usize,
        first: usize,
        out: &mut [u8],
        scratch: &mut Vec<u8>,
    ) {
        let (across, down) = (&self.across, &self.down);
        let columns = across.span().1 as usize;
        let source = Rows {
            bytes: source,
            stride,
            offset: first * 3,
            len: columns * 3,
        };
        if columns == 0 || down.is_empty() {
            return;
        }
        source.check(down.span().1 as usize);
        assert!(
            out.len() >= down.len() * across.len() * 3,
            "the output is too short"
        );
        let row_bytes = columns * 3 + SLACK;
        let phase_bytes = self.across_pattern.pairs.len() * 3 + SLACK;
        scratch.clear();
        scratch.resize(row_bytes + 2 * phase_bytes, 0);
        let (row, phases) = scratch.split_at_mut(row_bytes);
        let (even, odd) = phases.split_at_mut(phase_bytes);
        let buffers = Buffers { row, even, odd };
        match self.cpu {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `on` was called for AVX2, whose caller vouched for the CPU; the
            // source and output lengths are checked above, the buffers sized here.
            Cpu::Avx2 => unsafe { avx2::run(self, &source, out, buffers) },
            _ => native::run(self, &source, out, buffers.row),
        }
    }
}

/// The row buffers: the vertical pass's output (`SLACK` bytes longer than a row), and
/// the even and odd outputs of the pattern's pairs, before they are interleaved.
struct Buffers<'a> {
    row: &'a mut [u8],
    even: &'a mut [u8],
    odd: &'a mut [u8],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise;
    use proptest::prelude::*;

    fn catmull_rom(len: u32, from: u32, region: u32) -> Taps {
        Taps::new(
            len,
            f64::from(from),
            f64::from(from + region),
            2 * region,
            crate::resize::catmull_rom_weight,
            2.0,
        )
        .unwrap()
    }

    /// The output of the pass for `pass_of`'s taps on `cpu`, if both axes double.
    #[allow(unsafe_code)] // only supported paths
    fn run(
        cpu: Cpu,
        pass_of: impl Fn() -> (Taps, Taps),
        source: &[u8],
        stride: usize,
        first: usize,
    ) -> Option<Vec<u8>> {
        let (across, down) = pass_of();
        let len = across.len() * down.len() * 3;
        // SAFETY: only called for supported paths.
        let pass = unsafe { DoublingRgb::on(cpu, across, down) }?;
        let mut out = vec![0xAA; len];
        // A recycled scratch buffer of another size and filling.
        pass.run(source, stride, first, &mut out, &mut vec![0x55; 7]);
        Some(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every path gives native's bytes for whole-pixel regions of any size and place,
        /// pixels at the extremes included (where the sums overshoot and clamp).
        #[test]
        fn every_path_matches_native(
            (width, height) in (3u32..90, 3u32..40),
            region in (0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0),
            seed in any::<u64>(),
        ) {
            let x = (region.0 * f64::from(width - 3)) as u32;
            let y = (region.1 * f64::from(height - 3)) as u32;
            let w = 3 + (region.2 * f64::from(width - x - 3)) as u32;
            let h = 3 + (region.3 * f64::from(height - y - 3)) as u32;
            let across = catmull_rom(width, x, w);
            let first = across.span().0;
            let taps = || (catmull_rom(width, x, w).shifted_left(first), catmull_rom(height, y, h));
            let stride = width as usize * 3;
            let source = noise(stride * height as usize, seed);
            let expect = run(Cpu::Native, taps, &source, stride, first as usize);
            // Six pixels each way leave a pair clear of both edges' renormalised weights.
            if w >= 6 && h >= 6 {
                prop_assert!(expect.is_some(), "{}x{} from {},{}", w, h, x, y);
            }
            for cpu in Cpu::ALL.into_iter().filter(|c| c.is_supported()) {
                prop_assert_eq!(&run(cpu, taps, &source, stride, first as usize), &expect, "{:?}", cpu);
            }
        }
    }

    #[test]
    fn only_a_doubling_on_both_axes_makes_a_pass() {
        let doubles = catmull_rom(40, 0, 40);
        let not = Taps::new(40, 0.0, 40.0, 70, crate::resize::catmull_rom_weight, 2.0).unwrap();
        // SAFETY: the plain path runs anywhere.
        #[allow(unsafe_code)]
        let on = |a: &Taps, b: &Taps| unsafe { DoublingRgb::on(Cpu::Native, a.clone(), b.clone()) };
        assert!(on(&doubles, &doubles).is_some());
        assert!(on(&doubles, &not).is_none());
        assert!(on(&not, &doubles).is_none());
    }
}
