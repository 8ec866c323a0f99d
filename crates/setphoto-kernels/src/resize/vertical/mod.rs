//! The vertical pass of a resize: each output row a weighted sum of source rows, byte by
//! byte (so any channel count), with fir's weights and rounding.
//!
//! fir's own vertical pass is as fast per byte, but works its weights out on every call:
//! for an avatar set from a 1080 px square that was 0.15 ms of 2.2 ms of resizing
//! (Lanczos weights, normalising, rounding), where a renderer keeps ours from the last
//! set of the same geometry.

mod native;

#[cfg(target_arch = "x86_64")]
mod avx2;

pub(super) use native::row;

use crate::Cpu;
use crate::resize::taps::Taps;

/// A vertical pass made ready for one CPU path.
#[derive(Debug)]
pub struct Vertical {
    cpu: Cpu,
    taps: Taps,
}

impl Vertical {
    /// The pass on the fastest path this CPU runs.
    #[allow(unsafe_code)] // the detected path
    pub fn new(taps: Taps) -> Self {
        // SAFETY: `detect` only returns a path this CPU runs.
        unsafe { Self::on(Cpu::detect(), taps) }
    }

    /// The pass on the path `cpu`.
    ///
    /// # Safety
    /// The CPU must run `cpu` ([`Cpu::is_supported`]).
    #[allow(unsafe_code)] // `run` takes the path `cpu` names: the caller vouches for it
    pub unsafe fn on(cpu: Cpu, taps: Taps) -> Self {
        Self { cpu, taps }
    }

    /// Its taps (one output per row).
    pub fn taps(&self) -> &Taps {
        &self.taps
    }

    /// Bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.taps.heap_bytes()
    }

    /// Resamples `rows` into `out`: `taps.len()` rows of `rows.len` bytes.
    ///
    /// # Panics
    /// When `rows` end before the taps' last row, or `out` is short.
    #[allow(unsafe_code)] // the call to the AVX2 build
    pub fn run(&self, rows: &Rows<'_>, out: &mut [u8]) {
        let taps = &self.taps;
        if rows.len == 0 || taps.is_empty() {
            return;
        }
        rows.check(taps.span().1 as usize);
        assert!(
            out.len() >= taps.len() * rows.len,
            "the output is too short"
        );
        let out = &mut out[..taps.len() * rows.len];
        match self.cpu {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: made by `on` for AVX2, whose caller vouched for the CPU; the rows
            // and the output were checked above.
            Cpu::Avx2 => unsafe { avx2::run(taps, rows, out) },
            _ => {
                for (y, out) in out.chunks_exact_mut(rows.len).enumerate() {
                    row(rows, taps, y, out);
                }
            }
        }
    }
}

/// The bytes a vertical pass reads: `len` bytes from byte `offset` of each row, row `y`
/// starting at `bytes[y * stride]`.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// The rows.
    pub bytes: &'a [u8],
    /// Bytes from one row's start to the next's.
    pub stride: usize,
    /// The first byte read in each row.
    pub offset: usize,
    /// How many bytes are read from each row.
    pub len: usize,
}

impl<'a> Rows<'a> {
    /// The bytes read from row `y`.
    pub fn row(&self, y: usize) -> &'a [u8] {
        &self.bytes[y * self.stride + self.offset..][..self.len]
    }

    /// Panics unless rows `0..count` are all there.
    pub fn check(&self, count: usize) {
        assert!(
            count == 0 || self.bytes.len() >= (count - 1) * self.stride + self.offset + self.len,
            "the source rows end before the taps do"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise;
    use proptest::prelude::*;

    #[allow(unsafe_code)] // only supported paths
    fn run(cpu: Cpu, taps: &Taps, rows: &Rows<'_>) -> Vec<u8> {
        let mut out = vec![0xAA; taps.len() * rows.len];
        // SAFETY: only called for supported paths.
        unsafe { Vertical::on(cpu, taps.clone()) }.run(rows, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every path gives native's bytes, for any sizes, crops, filters and bytes, the
        /// last row of a buffer that ends right after the bytes read included.
        #[test]
        fn every_path_matches_native(
            source_rows in 1u32..200,
            out_rows in 1u32..80,
            crop in (0.0f64..1.0, 0.0f64..1.0),
            columns in (0usize..40, 1usize..200, 0usize..40),
            upscaling_filter in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let from = crop.0 * f64::from(source_rows) * 0.5;
            let to = from + (f64::from(source_rows) - from) * (0.5 + crop.1 * 0.5);
            let (filter, support): (fn(f64) -> f64, f64) = if upscaling_filter {
                (crate::resize::catmull_rom_weight, 2.0)
            } else {
                (crate::resize::lanczos3_weight, 3.0)
            };
            let Some(taps) = Taps::new(source_rows, from, to, out_rows, filter, support) else {
                return Ok(());
            };
            let (offset, len, after) = columns;
            let stride = offset + len + after;
            let bytes = noise((taps.span().1 as usize - 1) * stride + offset + len, seed);
            let rows = Rows { bytes: &bytes, stride, offset, len };
            let expect = run(Cpu::Native, &taps, &rows);
            for cpu in Cpu::ALL.into_iter().filter(|c| c.is_supported()) {
                prop_assert_eq!(&run(cpu, &taps, &rows), &expect, "{:?}", cpu);
            }
        }
    }
}
