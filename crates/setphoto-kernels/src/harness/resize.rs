//! The resize passes: every path this CPU runs makes the portable path's pixels, the fused
//! doubling pass makes the two passes' pixels, and the two passes make
//! `fast_image_resize`'s.

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
/// path; the fused doubling pass where the taps double; and `fast_image_resize` with the
/// same filter over the same region.
///
/// # Panics
/// When any path, the fused pass or `fast_image_resize` makes other pixels.
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

    // fir skips an axis that needs no resampling (the engine then leaves that axis to it),
    // so it is the oracle when both axes resample.
    let resamples =
        |out: u32, start: f64, len: f64| f64::from(out) != len || start != start.round();
    if resamples(out_w, x, rw) && resamples(out_h, y, rh) {
        assert!(
            fir(
                &source,
                (width, height),
                region,
                (out_w, out_h),
                weight,
                support
            ) == two_passes,
            "{width}x{height} region {region:?} to {out_w}x{out_h}: fast_image_resize's pixels differ"
        );
    }
}

/// `fast_image_resize`'s resize of `region` of the RGB `source` to `target`, with the
/// filter given by `weight` and `support`.
fn fir(
    source: &[u8],
    (width, height): (u32, u32),
    [x, y, rw, rh]: [f64; 4],
    target: (u32, u32),
    weight: fn(f64) -> f64,
    support: f64,
) -> Vec<u8> {
    let from = ImageRef::new(width, height, source, PixelType::U8x3).expect("a whole picture");
    let filter = Filter::new("harness", weight, support).expect("a finite, positive support");
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Custom(filter)))
        .crop(x, y, rw, rh);
    let mut out = vec![0u8; (target.0 * target.1 * 3) as usize];
    let mut into = Image::from_slice_u8(target.0, target.1, &mut out, PixelType::U8x3)
        .expect("a buffer of the target's size");
    setphoto_fir::resize(&mut Resizer::new(), &from, &mut into, &options).expect("fir resizes");
    out
}
