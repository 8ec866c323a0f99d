//! The horizontal pass of an RGB resize.
//!
//! `fast_image_resize` does the vertical pass of a downscale well, but its horizontal pass
//! for 3-byte pixels works one output pixel on four rows at a time, takes odd tap counts
//! one or two taps at a time and stores each pixel with scalar writes: for a 1080 -> 1024
//! Lanczos resize, its horizontal pass took 1.46 ms against 0.58 ms for the vertical one
//! (same machine, `taskset -c 0`). Ours pads every output's taps to a multiple of four
//! with zero weights, works two output pixels of one row per 256-bit vector and writes
//! four pixels with one store. Its weights are fir's ([`crate::resize`]'s `Taps`), so the
//! pixels are the same.

pub(super) mod native;

#[cfg(target_arch = "x86_64")]
mod avx2;

use crate::Cpu;
use crate::resize::taps::Taps;

/// A horizontal RGB pass made ready for one CPU path: its taps, and what that path works
/// out from them once (AVX2: byte offsets and weight vectors), so a renderer can keep it
/// for the next picture of the same geometry.
#[derive(Debug)]
pub struct HorizontalRgb {
    cpu: Cpu,
    taps: Taps,
    #[cfg(target_arch = "x86_64")]
    avx2: Option<avx2::Pass>,
}

impl HorizontalRgb {
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
    #[allow(unsafe_code)] // the AVX2 preparation, which the caller vouches for
    pub unsafe fn on(cpu: Cpu, taps: Taps) -> Self {
        Self {
            cpu,
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller vouches that the CPU has AVX2 when `cpu` says so.
            avx2: (cpu == Cpu::Avx2).then(|| unsafe { avx2::Pass::new(&taps) }),
            taps,
        }
    }

    /// Its taps.
    pub fn taps(&self) -> &Taps {
        &self.taps
    }

    /// Bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        let avx2 = self.avx2.as_ref().map_or(0, avx2::Pass::heap_bytes);
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = 0;
        self.taps.heap_bytes() + avx2
    }

    /// Resamples `rows` rows of packed RGB along their length: row `r` starts at
    /// `source[r * stride]` and its output at `out[r * taps.len() * 3]`.
    ///
    /// # Panics
    /// When `source` is shorter than `(rows - 1) * stride + taps.span().1 * 3` or `out`
    /// shorter than `rows * taps.len() * 3`.
    #[allow(unsafe_code)] // the call to the AVX2 build
    pub fn run(&self, source: &[u8], stride: usize, out: &mut [u8], rows: usize) {
        let taps = &self.taps;
        if rows == 0 || taps.is_empty() {
            return;
        }
        let (_, end) = taps.span();
        assert!(
            source.len() >= (rows - 1) * stride + end as usize * 3,
            "the source rows end before the taps do"
        );
        assert!(
            out.len() >= rows * taps.len() * 3,
            "the output is too short"
        );
        match self.cpu {
            #[cfg(target_arch = "x86_64")]
            Cpu::Avx2 => {
                let pass = self.avx2.as_ref().expect("prepared with the pass");
                // SAFETY: made by `on` for AVX2, whose caller vouched for the CPU; the
                // slice lengths are checked above.
                unsafe { pass.run(source, stride, out, rows, taps) }
            }
            _ => native::horizontal_rgb(source, stride, out, rows, taps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise;
    use proptest::prelude::*;

    fn lanczos(x: f64) -> f64 {
        crate::resize::lanczos3_weight(x)
    }

    fn run(cpu: Cpu, source: &[u8], stride: usize, rows: usize, taps: &Taps) -> Vec<u8> {
        let mut out = vec![0xAA; rows * taps.len() * 3];
        // SAFETY: only called for supported paths.
        #[allow(unsafe_code)]
        let pass = unsafe { HorizontalRgb::on(cpu, taps.clone()) };
        pass.run(source, stride, &mut out, rows);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every path gives native's bytes, for any sizes, crops, filters and pixels,
        /// including the last row of a buffer that ends right after the taps' last pixel.
        #[test]
        fn every_path_matches_native(
            source_len in 1u32..300,
            out_len in 1u32..120,
            crop in (0.0f64..1.0, 0.0f64..1.0),
            rows in 1usize..6,
            upscaling_filter in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let from = crop.0 * f64::from(source_len) * 0.5;
            let to = from + (f64::from(source_len) - from) * (0.5 + crop.1 * 0.5);
            let (filter, support): (fn(f64) -> f64, f64) = if upscaling_filter {
                (|x: f64| (1.0 - x.abs()).max(0.0), 1.0)
            } else {
                (lanczos, 3.0)
            };
            let Some(taps) = Taps::new(source_len, from, to, out_len, filter, support) else {
                return Ok(());
            };
            let stride = source_len as usize * 3;
            let len = (rows - 1) * stride + taps.span().1 as usize * 3;
            let source = noise(len, seed);
            let expect = run(Cpu::Native, &source, stride, rows, &taps);
            for cpu in Cpu::ALL.into_iter().filter(|c| c.is_supported()) {
                prop_assert_eq!(&run(cpu, &source, stride, rows, &taps), &expect, "{:?}", cpu);
            }
        }
    }

    #[test]
    fn native_clamps_overshoot_and_rounds_to_nearest() {
        // A hard edge: Lanczos rings below 0 and above 255 beside it.
        let source: Vec<u8> = (0..40)
            .flat_map(|x| if x < 20 { [0; 3] } else { [255; 3] })
            .collect();
        let taps = Taps::new(40, 0.0, 40.0, 30, lanczos, 3.0).unwrap();
        let out = run(Cpu::Native, &source, 120, 1, &taps);
        let unit = 1i64 << taps.precision();
        let mut clamped = (0, 0);
        for o in 0..taps.len() {
            let exact: i64 = taps
                .weights(o)
                .iter()
                .enumerate()
                .filter(|&(_, &w)| w != 0)
                .map(|(t, &w)| i64::from(w) * i64::from(source[(taps.start(o) + t) * 3]))
                .sum();
            let nearest = (exact + unit / 2).div_euclid(unit);
            assert_eq!(i64::from(out[o * 3]), nearest.clamp(0, 255), "output {o}");
            clamped.0 += usize::from(nearest < 0);
            clamped.1 += usize::from(nearest > 255);
        }
        assert!(
            clamped.0 > 0 && clamped.1 > 0,
            "the edge must ring both ways: {clamped:?}"
        );
        // A flat row stays flat: the weights sum to one, rounding to nearest.
        let flat = vec![77u8; 40 * 3];
        assert!(
            run(Cpu::Native, &flat, 120, 1, &taps)
                .iter()
                .all(|&v| v == 77)
        );
    }
}
