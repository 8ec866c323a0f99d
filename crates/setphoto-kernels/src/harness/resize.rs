//! The resize passes: every path this CPU runs makes the portable path's pixels, the fused
//! doubling pass makes the two passes' pixels, and the two passes, like
//! `fast_image_resize` (which setphoto runs on RGBA), stay within rounding of a float
//! evaluation of the same filter over the same region.

use super::{Input, cycle};
use crate::Cpu;
use crate::resize::{
    CATMULL_ROM_SUPPORT, DoublingRgb, HorizontalRgb, LANCZOS3_SUPPORT, Rows, Taps, Vertical,
    catmull_rom_weight, lanczos3_weight,
};
use setphoto_fir::{
    Filter, FilterType, Image, ImageRef, PixelType, ResizeAlg, ResizeOptions, Resizer,
};

/// Input: source width and height (`1 + byte % 64`), a mode byte (bit 0: Catmull-Rom, else
/// Lanczos3; bit 1: an upscale by two of the whole picture, the fused pass's case; bit 2:
/// a region of whole pixels), output width and height (`1 + byte % 96`), four bytes placing
/// the region, then pixel bytes, repeated to fill the picture. Runs the vertical pass over
/// the columns the horizontal one reads, then the horizontal one, as setphoto does, on every
/// path; the fused doubling pass where the taps double; a float evaluation of the same
/// filter over the same region ([`FloatFilter`]); and `fast_image_resize`, through
/// setphoto's wrapper, on the picture with an alpha channel.
///
/// # Panics
/// When any path or the fused pass makes other pixels than the portable path, when our
/// passes or `fast_image_resize` stray past [`FloatFilter::max_error`] from the float evaluation, or
/// when the wrapper refuses a whole-pixel region.
pub fn resize(data: &[u8]) {
    let mut input = Input::new(data);
    let (width, height) = (
        u32::from(input.byte() % 64) + 1,
        u32::from(input.byte() % 64) + 1,
    );
    let mode = input.byte();
    let (mut out_w, mut out_h) = (
        u32::from(input.byte() % 96) + 1,
        u32::from(input.byte() % 96) + 1,
    );
    let (weight, support): (fn(f64) -> f64, f64) = if mode & 1 == 1 {
        (catmull_rom_weight, CATMULL_ROM_SUPPORT)
    } else {
        (lanczos3_weight, LANCZOS3_SUPPORT)
    };
    let (w, h) = (f64::from(width), f64::from(height));
    let mut region = {
        let x = input.fraction() * w * 0.5;
        let y = input.fraction() * h * 0.5;
        let rw = (w - x) * (0.5 + input.fraction() * 0.5);
        let rh = (h - y) * (0.5 + input.fraction() * 0.5);
        [x, y, rw, rh]
    };
    if mode & 2 == 2 {
        region = [0.0, 0.0, w, h];
        (out_w, out_h) = (width * 2, height * 2);
    } else if mode & 4 == 4 {
        let [x, y, rw, rh] = region;
        region = [
            x.floor(),
            y.floor(),
            rw.floor().max(1.0),
            rh.floor().max(1.0),
        ];
    }
    let [x, y, rw, rh] = region;
    let source = cycle(input.rest(), (width * height * 3) as usize);
    let stride = width as usize * 3;

    let Some(across) = Taps::new(width, x, x + rw, out_w, weight, support) else {
        return;
    };
    let Some(down) = Taps::new(height, y, y + rh, out_h, weight, support) else {
        return;
    };
    let (first, end) = across.span();
    let columns = (end - first) as usize;
    let across = across.shifted_left(first);
    let rows = Rows {
        bytes: &source,
        stride,
        offset: first as usize * 3,
        len: columns * 3,
    };
    let cpus = || Cpu::ALL.into_iter().filter(|cpu| cpu.is_supported());

    // The vertical pass, then the horizontal one over its output.
    let vertical = |cpu: Cpu| {
        let mut out = vec![0xAA; down.len() * columns * 3];
        // SAFETY: only paths this CPU runs (`cpus`).
        #[allow(unsafe_code)]
        unsafe { Vertical::on(cpu, down.clone()) }.run(&rows, &mut out);
        out
    };
    let columns_picture = vertical(Cpu::Native);
    let horizontal = |cpu: Cpu| {
        let mut out = vec![0xAA; down.len() * across.len() * 3];
        // SAFETY: only paths this CPU runs (`cpus`).
        #[allow(unsafe_code)]
        unsafe { HorizontalRgb::on(cpu, across.clone()) }.run(
            &columns_picture,
            columns * 3,
            &mut out,
            down.len(),
        );
        out
    };
    let two_passes = horizontal(Cpu::Native);
    for cpu in cpus() {
        assert!(vertical(cpu) == columns_picture, "vertical pass, {cpu:?}");
        assert!(horizontal(cpu) == two_passes, "horizontal pass, {cpu:?}");
        // SAFETY: only paths this CPU runs (`cpus`).
        #[allow(unsafe_code)]
        if let Some(fused) = unsafe { DoublingRgb::on(cpu, across.clone(), down.clone()) } {
            let mut out = vec![0xAA; two_passes.len()];
            fused.run(&source, stride, first as usize, &mut out, &mut Vec::new());
            assert!(out == two_passes, "fused doubling pass, {cpu:?}");
        }
    }

    // The float evaluation is the oracle where both axes resample (one that does not is
    // left alone by the engine, so neither pass runs over it).
    let resamples =
        |out: u32, start: f64, len: f64| f64::from(out) != len || start != start.round();
    if !(resamples(out_w, x, rw) && resamples(out_h, y, rh)) {
        return;
    }
    let filter = FloatFilter { weight, support };
    let max_error = filter.max_error(width, x, x + rw, out_w);
    let exact = filter.resize(&source, 3, (width, height), region, (out_w, out_h));
    if let Some((at, error)) = worst(&two_passes, &exact) {
        assert!(
            error <= max_error,
            "{width}x{height} region {region:?} to {out_w}x{out_h}: our passes are {error:.3} \
             from the float evaluation at sample {at}"
        );
    }

    // fast_image_resize, which setphoto runs on RGBA and 16-bit pictures, through the
    // wrapper that refuses the crops it cannot resize soundly, on the same picture with an
    // alpha channel of its own (not premultiplied, as for an opaque picture).
    let rgba: Vec<u8> = source
        .chunks_exact(3)
        .zip(source.iter().rev())
        .flat_map(|(rgb, &alpha)| [rgb[0], rgb[1], rgb[2], alpha])
        .collect();
    match fir_rgba(
        &rgba,
        (width, height),
        region,
        (out_w, out_h),
        weight,
        support,
    ) {
        Ok(theirs) => {
            let exact = filter.resize(&rgba, 4, (width, height), region, (out_w, out_h));
            if let Some((at, error)) = worst(&theirs, &exact) {
                assert!(
                    error <= max_error,
                    "{width}x{height} region {region:?} to {out_w}x{out_h}: fast_image_resize \
                     is {error:.3} from the float evaluation at sample {at}"
                );
            }
        }
        Err(setphoto_fir::Error::FractionalUpscale) => {
            let whole = |edge: f64| edge == edge.round();
            assert!(
                !(whole(x) && whole(x + rw) && whole(y) && whole(y + rh)),
                "a whole-pixel region refused"
            );
        }
        Err(error) => panic!("fast_image_resize: {error}"),
    }
}

/// What the weights' fixed-point rounding may add to a two-pass result, in levels: each
/// weight is off by at most 2^-15 of its unit, a few taps a pass over samples of up to 255.
const FIXED_POINT_SLACK: f64 = 0.1;

/// The largest difference between 8-bit samples and their float evaluation, and where.
fn worst(samples: &[u8], exact: &[f64]) -> Option<(usize, f64)> {
    samples
        .iter()
        .zip(exact)
        .map(|(&s, &e)| (f64::from(s) - e).abs())
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// A separable filter evaluated in `f64`, as the passes define it: each output pixel's
/// centre maps into the region, its window is the filter's support (widened by the scale
/// on a downscale) cut to the picture, its weights are normalised to sum to one, and the
/// vertical pass's result is clamped to the 8-bit range (not rounded) before the
/// horizontal one reads it.
struct FloatFilter {
    weight: fn(f64) -> f64,
    support: f64,
}

impl FloatFilter {
    /// How far an 8-bit two-pass result (vertical, then horizontal along `len` source
    /// pixels `from..to` to `out`) may stray from the float evaluation: half a level where
    /// the first pass rounds to 8 bits, carried through the second pass's weights (by the
    /// largest sum of their magnitudes: a window cut by the picture's edge and normalised
    /// can exceed the filter's own), half a level where the second rounds, and
    /// [`FIXED_POINT_SLACK`].
    fn max_error(&self, len: u32, from: f64, to: f64, out: u32) -> f64 {
        let spread = self
            .windows(len, from, to, out)
            .iter()
            .map(|(_, weights)| weights.iter().map(|w| w.abs()).sum::<f64>())
            .fold(1.0, f64::max);
        0.5 * spread + 0.5 + FIXED_POINT_SLACK
    }

    /// For each output pixel along an axis of `len` source pixels, its first source pixel
    /// and normalised weights.
    fn windows(&self, len: u32, from: f64, to: f64, out: u32) -> Vec<(usize, Vec<f64>)> {
        let scale = (to - from) / f64::from(out);
        let widen = scale.max(1.0);
        let radius = self.support * widen;
        (0..out)
            .map(|o| {
                let centre = from + (f64::from(o) + 0.5) * scale;
                let first = (centre - radius).floor().max(0.0) as u32;
                let last = (centre + radius).ceil().min(f64::from(len)) as u32;
                let mut weights: Vec<f64> = (first..last)
                    .map(|x| (self.weight)((f64::from(x) + 0.5 - centre) / widen))
                    .collect();
                let sum: f64 = weights.iter().sum();
                if sum != 0.0 {
                    weights.iter_mut().for_each(|w| *w /= sum);
                }
                (first as usize, weights)
            })
            .collect()
    }

    /// `region` of `source` (`channels` per pixel) resized to `out`, unrounded.
    fn resize(
        &self,
        source: &[u8],
        channels: usize,
        (width, height): (u32, u32),
        [x, y, rw, rh]: [f64; 4],
        (out_w, out_h): (u32, u32),
    ) -> Vec<f64> {
        let across = self.windows(width, x, x + rw, out_w);
        let down = self.windows(height, y, y + rh, out_h);
        let stride = width as usize * channels;
        let mut columns = vec![0.0; out_h as usize * stride];
        for (row, (first, weights)) in columns.chunks_exact_mut(stride).zip(&down) {
            for (k, w) in weights.iter().enumerate() {
                let line = &source[(first + k) * stride..][..stride];
                for (sum, &s) in row.iter_mut().zip(line) {
                    *sum += w * f64::from(s);
                }
            }
            row.iter_mut().for_each(|v| *v = v.clamp(0.0, 255.0));
        }
        let mut out = Vec::with_capacity(out_w as usize * out_h as usize * channels);
        for row in columns.chunks_exact(stride) {
            for (first, weights) in &across {
                for c in 0..channels {
                    let sum: f64 = weights
                        .iter()
                        .enumerate()
                        .map(|(k, w)| w * row[(first + k) * channels + c])
                        .sum();
                    out.push(sum.clamp(0.0, 255.0));
                }
            }
        }
        out
    }
}

/// `fast_image_resize`'s resize, through setphoto's wrapper, of `region` of the RGBA
/// `source` to `target`, with the filter given by `weight` and `support`.
fn fir_rgba(
    source: &[u8],
    (width, height): (u32, u32),
    [x, y, rw, rh]: [f64; 4],
    target: (u32, u32),
    weight: fn(f64) -> f64,
    support: f64,
) -> Result<Vec<u8>, setphoto_fir::Error> {
    let from = ImageRef::new(width, height, source, PixelType::U8x4).expect("a whole picture");
    let filter = Filter::new("harness", weight, support).expect("a finite, positive support");
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Custom(filter)))
        .crop(x, y, rw, rh)
        .use_alpha(false);
    let mut out = vec![0u8; (target.0 * target.1 * 4) as usize];
    let mut into = Image::from_slice_u8(target.0, target.1, &mut out, PixelType::U8x4)
        .expect("a buffer of the target's size");
    setphoto_fir::resize(&mut Resizer::new(), &from, &mut into, &options)?;
    Ok(out)
}
