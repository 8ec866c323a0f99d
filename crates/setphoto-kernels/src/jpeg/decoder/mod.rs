//! Our reduced decoder for the common JPEG: Huffman coded, 8-bit, grey, YCbCr or RGB (or,
//! through [`Decoder::decode_ink_into`], CMYK or YCCK), any sampling whose chroma divides
//! the luma's; baseline or extended sequential in one interleaved scan, or progressive
//! with any scan script ([`progressive`]). It decodes straight to 1/2, 1/4 or 1/8 of the
//! size, which is all the pipeline asks of a large JPEG, and refuses everything else
//! (sequential files in several scans, damaged data): the caller then decodes in full, so
//! this path only ever makes decoding faster.
//!
//! Work goes where a reduced decode spends it: Huffman decoding with a one-lookup fast
//! path ([`entropy`]); an inverse DCT sized per component, so chroma arrives at the luma's
//! resolution without an upsampling pass ([`idct`]); and one MCU row of planes at a time,
//! converted to RGB while it is in cache ([`color`]).

mod color;
mod entropy;
mod header;
mod huffman;
mod idct;
mod progressive;

pub use color::ink_to_rgb;
#[cfg(feature = "harness")]
pub(crate) use progressive::data_end;

use crate::zigzag::ZIGZAG;

/// Why the reduced decoder declined a file; either way the caller's full decoder gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A valid JPEG of a kind this decoder leaves to a full decoder.
    Unsupported(&'static str),
    /// Damaged or inconsistent data (a full decoder may still make something of it).
    Corrupt(&'static str),
}

/// The decoded picture: packed RGB, `width` x `height`.
#[derive(Debug)]
pub struct Reduced {
    /// Columns of the reduced picture: the frame's width divided by the reduction, rounded up.
    pub width: u32,
    /// Rows, likewise.
    pub height: u32,
    /// `width * height * 3` bytes, row by row (from [`Decoder::decode_ink_into`],
    /// `width * height * 4` bytes of ink: C, M, Y and K, 0 none to 255 full).
    pub rgb: Vec<u8>,
}

/// A reduced decode of one JPEG, set up like `jpeg-decoder`'s scaled decode: the bytes,
/// then the scale, then [`decode`](Self::decode).
///
/// ```
/// # use setphoto_kernels::jpeg::decoder::{Decoder, Refusal};
/// // Not a JPEG: refused, and the caller decodes in full (or reports the error).
/// assert!(matches!(Decoder::new(b"GIF89a").scale(2).decode(), Err(Refusal::Corrupt(_))));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    reduction: u32,
    expected: Option<(u32, u32)>,
    /// Decode a four-component file to ink, and nothing else ([`Self::decode_ink_into`]).
    ink: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder of `bytes` at 1/8 of its size (the most the DCT gives for free).
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            reduction: 8,
            expected: None,
            ink: false,
        }
    }

    /// Decodes at 1/`reduction` of the size, rounded up: 2, 4 or 8 (others are refused).
    #[must_use]
    pub const fn scale(mut self, reduction: u32) -> Self {
        self.reduction = reduction;
        self
    }

    /// Refuses a frame of another size than `width` x `height` before anything is
    /// allocated, so memory stays within what the caller's validation allowed.
    #[must_use]
    pub const fn expect_size(mut self, width: u32, height: u32) -> Self {
        self.expected = Some((width, height));
        self
    }

    /// Decodes into a new buffer.
    ///
    /// # Errors
    /// A [`Refusal`] for anything but a clean Huffman JPEG, 8-bit, grey, YCbCr or RGB, with
    /// chroma sampling dividing luma's: baseline or extended sequential in one
    /// interleaved scan, or progressive.
    pub fn decode(self) -> Result<Reduced, Refusal> {
        self.decode_into(Vec::new())
    }

    /// Decodes into `buffer`, resized to fit: a recycled buffer saves the page faults of a
    /// fresh one. Whatever it held is overwritten.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_into(self, buffer: Vec<u8>) -> Result<Reduced, Refusal> {
        self.decode_model_into(buffer)
    }

    /// Decodes a four-component JPEG (CMYK, or YCCK as Adobe writes it) to ink into
    /// `buffer`, resized to fit: four bytes a pixel, C, M, Y and K, each 0 (none) to 255
    /// (full), Adobe's inversion undone and YCCK converted, as jpeg-decoder's CMYK output
    /// has them. A profile, or a simple formula, then makes RGB of them.
    ///
    /// # Errors
    /// A [`Refusal`] for anything [`decode`](Self::decode) refuses, and for a file of
    /// one or three components (which [`decode`](Self::decode) takes).
    pub fn decode_ink_into(mut self, buffer: Vec<u8>) -> Result<Reduced, Refusal> {
        self.ink = true;
        self.decode_model_into(buffer)
    }

    fn decode_model_into(self, buffer: Vec<u8>) -> Result<Reduced, Refusal> {
        #[cfg(target_arch = "x86_64")]
        if crate::Cpu::detect() == crate::Cpu::Avx2 {
            // SAFETY: `Cpu::Avx2` is detected only on a CPU with AVX2, BMI1, BMI2, LZCNT and
            // POPCNT, every feature `decode_avx2` is compiled for.
            return unsafe { decode_avx2(self, buffer) };
        }
        decode_portable(entropy::Portable, self, buffer, progressive::decode)
    }
}

/// The same code compiled for AVX2 (8-wide float IDCT, colour conversion and sample
/// packing), BMI2 (the bit reader's variable shifts, bit deposit) and BMI1 and POPCNT (the
/// bit counts of a progressive scan's coefficient masks, one instruction each): every
/// x86-64 CPU since 2013.
///
/// # Safety
/// The CPU must have AVX2, BMI1, BMI2, LZCNT and POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn decode_avx2(decoder: Decoder<'_>, buffer: Vec<u8>) -> Result<Reduced, Refusal> {
    // SAFETY: the caller's CPU has BMI2 and AVX2.
    let select = unsafe { entropy::Bmi2::new() };
    decode_portable(
        select,
        decoder,
        buffer,
        |select, bytes, start, reduction, rgb| {
            // SAFETY: this function's caller vouches for the same CPU features.
            unsafe { progressive_avx2(select, bytes, start, reduction, rgb) }
        },
    )
}

/// [`progressive::decode`] compiled for the same features as [`decode_avx2`], in a
/// function of its own: inlined there, every change to either decoder moved the other's
/// code and registers, and its speed with them.
///
/// # Safety
/// As [`decode_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
#[inline(never)]
unsafe fn progressive_avx2(
    select: entropy::Bmi2,
    bytes: &[u8],
    start: header::ProgressiveStart,
    reduction: u32,
    rgb: Vec<u8>,
) -> Result<Reduced, Refusal> {
    progressive::decode(select, bytes, start, reduction, rgb)
}

/// One component's share of the work: its tables and where its blocks go.
struct Plan<'h> {
    dc: &'h huffman::HuffmanTable,
    ac: &'h huffman::HuffmanTable,
    /// Quantisation step per zig-zag index.
    quant: [f32; 64],
    /// Per zig-zag index, the natural index the coefficient is stored at, or 64 (a slot
    /// never read) when the reduced block does not use that frequency.
    slot: [u8; 64],
    /// Blocks per MCU across and down.
    h: usize,
    v: usize,
    /// Output pixels per block across and down.
    size: (usize, usize),
    /// This MCU row's output samples, `stride` wide.
    plane: Vec<u8>,
    stride: usize,
    predictor: i32,
}

/// The frame's layout in MCUs and in output samples, at one reduction.
struct Geometry {
    model: color::Model,
    h_max: u32,
    v_max: u32,
    mcus_across: usize,
    mcus_down: usize,
    out_width: usize,
    out_height: usize,
    /// Output rows per MCU row.
    mcu_rows_out: usize,
    /// Output samples across an MCU row (every plane's stride).
    mcu_width_out: usize,
}

impl Geometry {
    fn new(
        width: u32,
        height: u32,
        model: color::Model,
        sampling: impl Iterator<Item = (u32, u32)>,
        reduction: u32,
    ) -> Self {
        let (h_max, v_max) = sampling.fold((1, 1), |(h, v), (ch, cv)| (h.max(ch), v.max(cv)));
        let mcus_across = width.div_ceil(8 * h_max) as usize;
        Self {
            model,
            h_max,
            v_max,
            mcus_across,
            mcus_down: height.div_ceil(8 * v_max) as usize,
            out_width: width.div_ceil(reduction) as usize,
            out_height: height.div_ceil(reduction) as usize,
            mcu_rows_out: (8 * v_max / reduction) as usize,
            mcu_width_out: mcus_across * (8 * h_max / reduction) as usize,
        }
    }

    /// Colour-converts MCU row `mcu_row`'s output rows (the last one's up to the
    /// picture's end) from `planes`, one per component, each `mcu_width_out` wide.
    #[inline(always)]
    fn convert(&self, planes: &[&[u8]], mcu_row: usize, rgb: &mut [u8]) {
        let (width, stride) = (self.out_width, self.mcu_width_out);
        let channels = self.model.channels();
        let first = mcu_row * self.mcu_rows_out;
        let rows = self.mcu_rows_out.min(self.out_height.saturating_sub(first));
        for row in 0..rows {
            let out = &mut rgb[(first + row) * width * channels..][..width * channels];
            let at = row * stride;
            match (planes, self.model) {
                ([grey], _) => color::grey_row(&grey[at..][..width], out),
                ([y, cb, cr], color::Model::YCbCr) => color::ycbcr_row(
                    &y[at..][..width],
                    &cb[at..][..width],
                    &cr[at..][..width],
                    out,
                ),
                ([r, g, b], _) => {
                    color::rgb_row(&r[at..][..width], &g[at..][..width], &b[at..][..width], out);
                }
                ([y, cb, cr, k], color::Model::Ycck) => color::ycck_row(
                    &y[at..][..width],
                    &cb[at..][..width],
                    &cr[at..][..width],
                    &k[at..][..width],
                    out,
                ),
                ([c, m, y, k], _) => color::cmyk_row(
                    &c[at..][..width],
                    &m[at..][..width],
                    &y[at..][..width],
                    &k[at..][..width],
                    out,
                ),
                _ => unreachable!("the header allows one, three or four components"),
            }
        }
    }
}

/// The decoder in whatever instruction set its caller is compiled for (inlined, with the
/// IDCT, colour conversion and bit reader, so `decode_avx2` gets an AVX2 copy).
#[inline(always)]
fn decode_portable<S: entropy::Select>(
    select: S,
    decoder: Decoder<'_>,
    mut rgb: Vec<u8>,
    progressive: impl FnOnce(
        S,
        &[u8],
        header::ProgressiveStart,
        u32,
        Vec<u8>,
    ) -> Result<Reduced, Refusal>,
) -> Result<Reduced, Refusal> {
    let Decoder {
        bytes,
        reduction,
        expected,
        ink,
    } = decoder;
    if !matches!(reduction, 2 | 4 | 8) {
        return Err(Refusal::Unsupported("a reduction other than 2, 4 or 8"));
    }
    // The frame's size and the kind of picture asked for, checked before anything is
    // allocated.
    let frame = |width: u32, height: u32, model: color::Model| {
        if expected.is_some_and(|size| size != (width, height)) {
            return Err(Refusal::Corrupt(
                "a frame of another size than the validated header's",
            ));
        }
        if ink != (model.channels() == 4) {
            return Err(Refusal::Unsupported(if ink {
                "inks asked of a JPEG of one or three components"
            } else {
                "a four-component (CMYK or YCCK) JPEG, which decodes to inks"
            }));
        }
        Ok(())
    };
    let header = match header::parse(bytes)? {
        header::Parsed::Sequential(header) => header,
        header::Parsed::Progressive(start) => {
            frame(start.width, start.height, start.model)?;
            return progressive(select, bytes, start, reduction, rgb);
        }
    };
    frame(header.width, header.height, header.model)?;
    let geometry = Geometry::new(
        header.width,
        header.height,
        header.model,
        header.components.iter().map(|c| (c.h, c.v)),
        reduction,
    );
    let Geometry {
        model: _,
        h_max,
        v_max,
        mcus_across,
        mcus_down,
        out_width,
        out_height,
        mcu_rows_out,
        mcu_width_out,
    } = geometry;

    let mut plans = Vec::with_capacity(header.components.len());
    for component in &header.components {
        let size = (
            block_size(h_max, component.h, reduction)?,
            block_size(v_max, component.v, reduction)?,
        );
        let (dc, ac) = (&header.dc[component.dc], &header.ac[component.ac]);
        let (Some(dc), Some(ac)) = (dc.as_ref(), ac.as_ref()) else {
            return Err(Refusal::Corrupt("a scan uses an undefined Huffman table"));
        };
        let slot = std::array::from_fn(|k| {
            let natural = ZIGZAG[k];
            if natural / 8 < size.1 && natural % 8 < size.0 {
                natural as u8
            } else {
                64
            }
        });
        plans.push(Plan {
            dc,
            ac,
            quant: component.quant.map(f32::from),
            slot,
            h: component.h as usize,
            v: component.v as usize,
            size,
            plane: vec![0; mcu_width_out * mcu_rows_out],
            stride: mcu_width_out,
            predictor: 0,
        });
    }

    // Every byte is written: each MCU row converts all its output rows (the last one's
    // up to the picture's end), and a scan that ends early is an error, not a picture.
    rgb.resize(out_width * out_height * header.model.channels(), 0);
    let idct = idct::Idct::new();
    let mut bits = entropy::BitReader::new(bytes.get(header.scan_start..).unwrap_or(&[]));
    let restart_interval = header.restart_interval as usize;
    let mut restarts = 0u32;
    // 64 natural-order coefficients, then slot 64 that takes unused ones (128 long so that
    // a masked index needs no bounds check).
    let mut coef = [0.0f32; 128];
    for mcu_row in 0..mcus_down {
        for mcu_col in 0..mcus_across {
            let mcu = mcu_row * mcus_across + mcu_col;
            if restart_interval > 0 && mcu > 0 && mcu.is_multiple_of(restart_interval) {
                bits.restart(restarts)?;
                restarts += 1;
                for plan in &mut plans {
                    plan.predictor = 0;
                }
            }
            for plan in &mut plans {
                let (nx, ny) = plan.size;
                for block_row in 0..plan.v {
                    for block_col in 0..plan.h {
                        let (quant, slot) = (&plan.quant, &plan.slot);
                        let (diff, last) = bits.decode_block(plan.dc, plan.ac, |k, value| {
                            coef[usize::from(slot[k & 63]) & 127] = value as f32 * quant[k & 63];
                        })?;
                        plan.predictor = plan.predictor.wrapping_add(diff);
                        coef[0] = plan.predictor as f32 * quant[0];
                        let x = (mcu_col * plan.h + block_col) * nx;
                        let at = block_row * ny * plan.stride + x;
                        let block: &mut [f32; 64] =
                            (&mut coef[..64]).try_into().expect("64 coefficients");
                        idct.block(block, last, (nx, ny), &mut plan.plane[at..], plan.stride);
                    }
                }
            }
        }
        if bits.overran() {
            return Err(Refusal::Corrupt("the scan ends before the picture does"));
        }
        match plans.as_slice() {
            [grey] => geometry.convert(&[&grey.plane], mcu_row, &mut rgb),
            [y, cb, cr] => geometry.convert(&[&y.plane, &cb.plane, &cr.plane], mcu_row, &mut rgb),
            [c, m, y, k] => {
                geometry.convert(&[&c.plane, &m.plane, &y.plane, &k.plane], mcu_row, &mut rgb);
            }
            _ => unreachable!("the header allows one, three or four components"),
        }
    }
    Ok(Reduced {
        width: out_width as u32,
        height: out_height as u32,
        rgb,
    })
}

/// Output samples per block along one axis for a component sampled `factor` of `max`:
/// `8 * (max / factor) / reduction`, which must be 1, 2, 4 or 8.
fn block_size(max: u32, factor: u32, reduction: u32) -> Result<usize, Refusal> {
    let unsupported = Refusal::Unsupported("a sampling this decoder does not reduce");
    if !max.is_multiple_of(factor) {
        return Err(unsupported);
    }
    let size = 8 * (max / factor);
    if !size.is_multiple_of(reduction) || !matches!(size / reduction, 1 | 2 | 4 | 8) {
        return Err(unsupported);
    }
    Ok((size / reduction) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    use proptest::prelude::*;

    pub(super) fn decode(
        bytes: &[u8],
        reduction: u32,
        expected: (u32, u32),
    ) -> Result<Reduced, Refusal> {
        decode_with(bytes, reduction, expected, Vec::new())
    }

    fn decode_with(
        bytes: &[u8],
        reduction: u32,
        (width, height): (u32, u32),
        buffer: Vec<u8>,
    ) -> Result<Reduced, Refusal> {
        Decoder::new(bytes)
            .scale(reduction)
            .expect_size(width, height)
            .decode_into(buffer)
    }

    /// A picture with gradients, hard luma edges and smooth colour: `width` x `height` RGB.
    pub(super) fn picture(width: u32, height: u32) -> Vec<u8> {
        let mut rgb = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                let edge = if (x / 17 + y / 23) % 2 == 0 { 50 } else { 0 };
                // A triangle wave: smooth colour that still changes across the picture.
                let wave = (x * 3 + y * 2) % 200;
                let wave = if wave < 100 { wave } else { 200 - wave };
                rgb.push((x * 200 / width + edge) as u8);
                rgb.push((y * 200 / height + edge) as u8);
                rgb.push((wave + 60 + edge) as u8);
            }
        }
        rgb
    }

    pub(super) fn encode(
        width: u32,
        height: u32,
        grey: bool,
        sampling: SamplingFactor,
        restart: u16,
    ) -> Vec<u8> {
        let rgb = picture(width, height);
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, 92);
        encoder.set_sampling_factor(sampling);
        encoder.set_restart_interval(restart);
        let (w, h) = (width as u16, height as u16);
        if grey {
            let luma: Vec<u8> = rgb.chunks(3).map(|p| p[1]).collect();
            encoder.encode(&luma, w, h, ColorType::Luma).unwrap();
        } else {
            encoder.encode(&rgb, w, h, ColorType::Rgb).unwrap();
        }
        out
    }

    /// The full decode (zune-jpeg, through `image`), box-averaged by `reduction`.
    pub(super) fn reference(jpeg: &[u8], reduction: u32) -> (u32, u32, Vec<u8>) {
        let full = image::load_from_memory(jpeg).unwrap().into_rgb8();
        let (w, h) = full.dimensions();
        let averaged = box_average(full.as_raw(), (w, h), 3, reduction);
        (w.div_ceil(reduction), h.div_ceil(reduction), averaged)
    }

    /// `full` (`channels` bytes a pixel) averaged over `reduction`-square boxes, rounded;
    /// the boxes at the right and bottom edges take what is left.
    fn box_average(full: &[u8], (w, h): (u32, u32), channels: usize, reduction: u32) -> Vec<u8> {
        let (rw, rh) = (w.div_ceil(reduction), h.div_ceil(reduction));
        let mut out = Vec::with_capacity((rw * rh) as usize * channels);
        for y in 0..rh {
            for x in 0..rw {
                let mut sum = [0u32; 4];
                let mut n = 0;
                for yy in y * reduction..((y + 1) * reduction).min(h) {
                    for xx in x * reduction..((x + 1) * reduction).min(w) {
                        let at = (yy * w + xx) as usize * channels;
                        for (sum, &v) in sum.iter_mut().zip(&full[at..at + channels]) {
                            *sum += u32::from(v);
                        }
                        n += 1;
                    }
                }
                out.extend(sum[..channels].iter().map(|s| ((s + n / 2) / n) as u8));
            }
        }
        out
    }

    /// The largest difference between two pictures' samples.
    pub(super) fn worst_difference(a: &[u8], b: &[u8]) -> u8 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let total: u64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        total as f64 / a.len() as f64
    }

    /// Ink from `picture`: each colour's complement, with the grey they share moved to
    /// black (so that all four channels carry detail).
    fn inks(width: u32, height: u32) -> Vec<u8> {
        picture(width, height)
            .chunks(3)
            .flat_map(|p| {
                let [c, m, y] = [255 - p[0], 255 - p[1], 255 - p[2]];
                let k = c.min(m).min(y) / 2;
                [c - k, m - k, y - k, k]
            })
            .collect()
    }

    /// Four components (CMYK and YCCK, baseline and progressive, unsampled and with the
    /// colour components at half resolution, as Adobe stores them) decode to ink close to
    /// jpeg-decoder's full decode box-averaged, and only through
    /// `decode_ink_into`: `decode_into` refuses them, and `decode_ink_into` a colour file.
    #[test]
    fn four_component_files_decode_to_ink_close_to_the_full_decode() {
        let (width, height) = (203u32, 157u32);
        let ink = inks(width, height);
        let cases = [ColorType::Cmyk, ColorType::CmykAsYcck]
            .into_iter()
            .flat_map(|color| {
                [SamplingFactor::R_4_4_4, SamplingFactor::R_4_2_0]
                    .into_iter()
                    .flat_map(move |sampling| [(color, sampling, false), (color, sampling, true)])
            });
        for (color, sampling, progressive) in cases {
            let what = format!("{color:?}, {sampling:?}, progressive {progressive}");
            let mut jpeg = Vec::new();
            let mut encoder = Encoder::new(&mut jpeg, 90);
            encoder.set_progressive(progressive);
            encoder.set_sampling_factor(sampling);
            encoder
                .encode(&ink, width as u16, height as u16, color)
                .unwrap();
            let mut full = jpeg_decoder::Decoder::new(&jpeg[..]);
            let full = full.decode().unwrap();
            assert_eq!(full.len(), ink.len(), "{what}");
            assert!(matches!(
                decode(&jpeg, 2, (width, height)),
                Err(Refusal::Unsupported(_))
            ));
            for reduction in [2, 4, 8] {
                let got = Decoder::new(&jpeg)
                    .scale(reduction)
                    .expect_size(width, height)
                    .decode_ink_into(Vec::new())
                    .unwrap_or_else(|e| panic!("{what} 1/{reduction}: {e:?}"));
                let (rw, rh) = (width.div_ceil(reduction), height.div_ceil(reduction));
                assert_eq!((got.width, got.height), (rw, rh));
                let expected = box_average(&full, (width, height), 4, reduction);
                let diff = mean_difference(&got.rgb, &expected);
                assert!(diff < 2.0, "{what} 1/{reduction}: {diff}");
            }
        }
        let colour = encode(64, 48, false, SamplingFactor::R_4_2_0, 0);
        let refused = Decoder::new(&colour).scale(2).decode_ink_into(Vec::new());
        assert!(matches!(refused, Err(Refusal::Unsupported(_))));
    }

    #[test]
    fn every_sampling_reduces_close_to_the_full_decode_box_averaged() {
        let samplings = [
            SamplingFactor::R_4_4_4,
            SamplingFactor::R_4_2_2,
            SamplingFactor::R_4_2_0,
            SamplingFactor::R_4_4_0,
            SamplingFactor::R_4_1_1,
        ];
        for sampling in samplings {
            for restart in [0, 3] {
                let jpeg = encode(203, 149, false, sampling, restart);
                for reduction in [2, 4, 8] {
                    let decoded = match decode(&jpeg, reduction, (203, 149)) {
                        Ok(decoded) => decoded,
                        // jpeg-encoder writes 4:1:1 as one scan per component.
                        Err(Refusal::Unsupported(_))
                            if matches!(sampling, SamplingFactor::R_4_1_1) =>
                        {
                            continue;
                        }
                        Err(e) => panic!("{sampling:?} at 1/{reduction}: {e:?}"),
                    };
                    let (w, h, expected) = reference(&jpeg, reduction);
                    assert_eq!((decoded.width, decoded.height), (w, h));
                    let diff = mean_difference(&decoded.rgb, &expected);
                    // The decoder this one replaced for baseline files, as a yardstick:
                    // its scaled chroma upsampling strays further from the full decode.
                    let mut yardstick = jpeg_decoder::Decoder::new(&jpeg[..]);
                    yardstick.read_info().unwrap();
                    yardstick.scale(w as u16, h as u16).unwrap();
                    let yardstick = mean_difference(&yardstick.decode().unwrap(), &expected);
                    assert!(
                        diff <= yardstick + 0.05,
                        "{sampling:?} 1/{reduction}: {diff} vs jpeg-decoder's {yardstick}"
                    );
                    assert!(
                        diff < 2.0,
                        "{sampling:?} restart {restart} 1/{reduction}: {diff}"
                    );
                }
            }
        }
    }

    /// `jpeg` (a JFIF file from jpeg-encoder) relabelled as RGB without touching its
    /// samples: the JFIF segment dropped, then an Adobe segment with transform 0 added, or
    /// the components renamed 'R', 'G', 'B' in the frame and scan headers.
    fn relabelled_rgb(jpeg: &[u8], adobe: bool) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        if adobe {
            out.extend_from_slice(&[0xFF, 0xEE, 0x00, 0x0E]);
            out.extend_from_slice(b"Adobe\0\x64\0\0\0\0\0");
        }
        let mut pos = 2;
        while jpeg[pos + 1] != 0xDA {
            let length = usize::from(jpeg[pos + 2]) << 8 | usize::from(jpeg[pos + 3]);
            let mut segment = jpeg[pos..pos + 2 + length].to_vec();
            if !adobe && segment[1] == 0xC0 {
                for (k, id) in b"RGB".iter().enumerate() {
                    segment[10 + 3 * k] = *id;
                }
            }
            if segment[1] != 0xE0 {
                out.extend_from_slice(&segment);
            }
            pos += 2 + length;
        }
        let mut scan = jpeg[pos..].to_vec();
        if !adobe {
            for (k, id) in b"RGB".iter().enumerate() {
                scan[5 + 2 * k] = *id;
            }
        }
        out.extend_from_slice(&scan);
        out
    }

    #[test]
    fn rgb_components_reduce_without_a_colour_transform() {
        for sampling in [SamplingFactor::R_4_4_4, SamplingFactor::R_4_2_0] {
            let ycbcr = encode(203, 149, false, sampling, 0);
            for adobe in [true, false] {
                let jpeg = relabelled_rgb(&ycbcr, adobe);
                for reduction in [2, 4, 8] {
                    let decoded = decode(&jpeg, reduction, (203, 149)).unwrap();
                    let (_, _, expected) = reference(&jpeg, reduction);
                    let diff = mean_difference(&decoded.rgb, &expected);
                    assert!(
                        diff < 2.0,
                        "{sampling:?} adobe {adobe} 1/{reduction}: {diff}"
                    );
                    // The samples were YCbCr: read as RGB they make another picture, so
                    // a decoder that converted them anyway would be far off.
                    let (_, _, converted) = reference(&ycbcr, reduction);
                    assert!(mean_difference(&decoded.rgb, &converted) > 20.0);
                }
            }
        }
        // An Adobe transform other than 0 or 1 is left to a full decoder.
        let mut odd = relabelled_rgb(&encode(64, 64, false, SamplingFactor::R_4_4_4, 0), true);
        odd[2 + 4 + 11] = 2;
        assert!(matches!(
            decode(&odd, 2, (64, 64)),
            Err(Refusal::Unsupported(_))
        ));
    }

    #[test]
    fn every_output_byte_is_written_over_a_recycled_buffer() {
        // The output buffer may be a recycled one, not zeroed: whatever it held must not
        // show through.
        let jpeg = encode(800, 600, false, SamplingFactor::R_4_2_0, 0);
        let decoded: Vec<Vec<u8>> = [0x00u8, 0xAB, 0xFF]
            .into_iter()
            .map(|stale| {
                let stale = vec![stale; 400 * 300 * 3];
                decode_with(&jpeg, 2, (800, 600), stale).unwrap().rgb
            })
            .collect();
        assert!(decoded.windows(2).all(|pair| pair[0] == pair[1]));
    }

    #[test]
    fn grey_reduces_to_grey_rgb() {
        let jpeg = encode(150, 77, true, SamplingFactor::R_4_4_4, 0);
        let decoded = decode(&jpeg, 2, (150, 77)).unwrap();
        assert!(matches!(
            decode(&jpeg, 2, (150, 78)),
            Err(Refusal::Corrupt(_))
        ));
        assert!(decoded.rgb.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
        let (_, _, expected) = reference(&jpeg, 2);
        assert!(mean_difference(&decoded.rgb, &expected) < 2.0);
    }

    #[test]
    fn damaged_or_unusual_files_are_refused() {
        let jpeg = encode(203, 149, false, SamplingFactor::R_4_2_0, 0);
        // Cut inside the scan.
        let cut = &jpeg[..jpeg.len() * 2 / 3];
        assert!(matches!(
            decode(cut, 2, (203, 149)),
            Err(Refusal::Corrupt(_))
        ));
        // A restart marker out of sequence.
        let mut restarts = encode(203, 149, false, SamplingFactor::R_4_2_0, 2);
        let at = restarts.windows(2).position(|w| w == [0xFF, 0xD0]).unwrap();
        restarts[at + 1] = 0xD5;
        assert!(matches!(
            decode(&restarts, 2, (203, 149)),
            Err(Refusal::Corrupt(_))
        ));
        // Not a JPEG; a reduction the decoder does not make.
        assert!(matches!(
            decode(b"GIF89a", 2, (1, 1)),
            Err(Refusal::Corrupt(_))
        ));
        assert!(matches!(
            decode(&jpeg, 3, (203, 149)),
            Err(Refusal::Unsupported(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any edit of a valid file gives a picture of the declared size or a refusal.
        #[test]
        fn edited_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            reduction in prop::sample::select(vec![2u32, 4, 8]),
        ) {
            let mut jpeg = encode(67, 45, false, SamplingFactor::R_4_2_0, 2);
            for (at, byte) in edits {
                let i = at.index(jpeg.len());
                jpeg[i] = byte;
            }
            let keep = jpeg.len() / 2 + cut.index(jpeg.len() / 2 + 1);
            jpeg.truncate(keep);
            if let Ok(decoded) = decode(&jpeg, reduction, (67, 45)) {
                prop_assert_eq!(
                    decoded.rgb.len(),
                    decoded.width as usize * decoded.height as usize * 3
                );
            }
        }
    }
}
