//! PNG, row by row: the `png` crate unfilters one row at a time, each row is converted to
//! 8-bit RGBA as it arrives (tRNS applied, 16-bit samples rounded to 8 as `image` rounds
//! them), and either stored in the picture or, for a reduced decode, added to the box sums
//! of its band of `reduction` rows. So a 16-bit picture never exists at 16 bits, and a
//! reduced one never exists at full size.
//!
//! The box average weights colour by alpha (the sums are premultiplied), as the resize
//! stage premultiplies: a transparent pixel's colour does not bleed into its neighbours.
//!
//! An interlaced (Adam7) file arrives in seven passes over the whole picture, so its rows
//! cannot be summed as they come: it is assembled at full size in 8-bit RGBA (at most
//! 4 bytes a pixel of a picture the policy admitted), then reduced.

use std::io::Cursor;

use png::{BitDepth, ColorType, InterlaceInfo, Transformations};

use super::{Oriented, size_mismatch};
use crate::error::Error;
use crate::format::Format;
use crate::pixels::{Layout, Pixels};
use crate::validate::Validated;

/// Decodes a validated PNG at 1/`reduction` (1 for full size) of its size, upright.
/// `max_alloc` bounds what the `png` crate may allocate for its own buffers and chunks.
pub(super) fn decode(
    bytes: &[u8],
    validated: &Validated,
    max_alloc: u64,
    reduction: u32,
) -> Result<Oriented, Error> {
    let corrupt = |e: png::DecodingError| Error::corrupt(Format::Png, e);
    let limits = png::Limits {
        bytes: usize::try_from(max_alloc).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    // As `image` sets it up, so a file is refused exactly when it refused it.
    decoder.set_ignore_text_chunk(false);
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let (width, height) = (reader.info().width, reader.info().height);
    if (width, height) != validated.stored_size() {
        return Err(size_mismatch(Format::Png));
    }
    let (colour, depth) = reader.output_color_type();
    let samples = Samples::new(colour, depth)?;
    let reduction = reduction.max(1);
    let row_len = width as usize * 4;
    let mut rgba = vec![0u8; row_len];
    let pixels = if reader.info().interlaced {
        let mut full = crate::pixels::zeroed_buffer(row_len * height as usize);
        while let Some(row) = reader.next_interlaced_row().map_err(corrupt)? {
            let InterlaceInfo::Adam7(pass) = *row.interlace() else {
                return Err(Error::internal("a non-Adam7 row in an interlaced PNG"));
            };
            let count = row.data().len() / samples.bytes_per_pixel();
            samples.to_rgba8(row.data(), &mut rgba[..count * 4]);
            png::expand_interlaced_row(&mut full, row_len, &rgba[..count * 4], &pass, 32);
        }
        if reduction == 1 {
            full
        } else {
            let mut boxes = BoxSums::new(width, height, reduction);
            for row in full.chunks_exact(row_len) {
                boxes.add_row(row);
            }
            crate::pixels::recycle(full);
            boxes.finish()
        }
    } else if reduction == 1 {
        let mut full = crate::pixels::buffer_for_overwrite(row_len * height as usize);
        let mut rows = full.chunks_exact_mut(row_len);
        while let Some(row) = reader.next_row().map_err(corrupt)? {
            let Some(into) = rows.next() else {
                return Err(size_mismatch(Format::Png));
            };
            samples.to_rgba8(row.data(), into);
        }
        if rows.next().is_some() {
            return Err(size_mismatch(Format::Png));
        }
        full
    } else {
        let mut boxes = BoxSums::new(width, height, reduction);
        while let Some(row) = reader.next_row().map_err(corrupt)? {
            samples.to_rgba8(row.data(), &mut rgba);
            boxes.add_row(&rgba);
        }
        if !boxes.is_complete() {
            return Err(size_mismatch(Format::Png));
        }
        boxes.finish()
    };
    let (w, h) = (width.div_ceil(reduction), height.div_ceil(reduction));
    let image = image::RgbaImage::from_raw(w, h, pixels).ok_or_else(|| size_mismatch(Format::Png))?;
    let mut image = image::DynamicImage::ImageRgba8(image);
    image.apply_orientation(validated.orientation().to_image());
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let pixels = Pixels::new(w, h, Layout::Rgba8, rgba.into_raw())
        .ok_or_else(|| Error::internal("an RgbaImage is packed"))?;
    Ok(Oriented {
        pixels,
        path: super::DecodePath::Png,
        reduction,
        full_size: validated.oriented_size(),
    })
}

/// The layout of the rows the `png` crate hands out after `EXPAND`: 8 or 16 bits a
/// sample (big-endian), grey, grey + alpha, RGB or RGBA.
#[derive(Debug, Clone, Copy)]
struct Samples {
    channels: usize,
    sixteen: bool,
}

impl Samples {
    fn new(colour: ColorType, depth: BitDepth) -> Result<Self, Error> {
        let channels = match colour {
            ColorType::Grayscale => 1,
            ColorType::GrayscaleAlpha => 2,
            ColorType::Rgb => 3,
            ColorType::Rgba => 4,
            ColorType::Indexed => return Err(Error::internal("EXPAND left a palette")),
        };
        let sixteen = match depth {
            BitDepth::Eight => false,
            BitDepth::Sixteen => true,
            _ => return Err(Error::internal("EXPAND left samples below 8 bits")),
        };
        Ok(Self { channels, sixteen })
    }

    const fn bytes_per_pixel(self) -> usize {
        self.channels * if self.sixteen { 2 } else { 1 }
    }

    /// Converts one row of these samples into 8-bit RGBA, `into` being 4 bytes a pixel.
    fn to_rgba8(self, row: &[u8], into: &mut [u8]) {
        if self.sixteen {
            let mut eight = [0u8; 4];
            for (pixel, out) in row
                .chunks_exact(self.channels * 2)
                .zip(into.chunks_exact_mut(4))
            {
                for (e, s) in eight.iter_mut().zip(pixel.chunks_exact(2)) {
                    *e = to_u8(u16::from_be_bytes([s[0], s[1]]));
                }
                out.copy_from_slice(&rgba_of(&eight[..self.channels]));
            }
        } else if self.channels == 4 {
            into.copy_from_slice(&row[..into.len()]);
        } else {
            for (pixel, out) in row
                .chunks_exact(self.channels)
                .zip(into.chunks_exact_mut(4))
            {
                out.copy_from_slice(&rgba_of(pixel));
            }
        }
    }
}

/// A pixel of 1 to 4 8-bit channels (grey, grey + alpha, RGB, RGBA) as RGBA.
#[inline(always)]
fn rgba_of(pixel: &[u8]) -> [u8; 4] {
    match *pixel {
        [l] => [l, l, l, 255],
        [l, a] => [l, l, l, a],
        [r, g, b] => [r, g, b, 255],
        [r, g, b, a] => [r, g, b, a],
        _ => [0; 4],
    }
}

/// A 16-bit sample rounded to 8 bits: `round(v * 255 / 65535)`, as `image` converts.
#[inline(always)]
fn to_u8(v: u16) -> u8 {
    // At most (65535 + 128) / 257 = 255.
    ((u32::from(v) + 128) / 257) as u8
}

/// Box sums of RGBA rows, `factor` x `factor` pixels to a box (fewer at the right and
/// bottom edges), emitting a reduced row each time a band of `factor` rows is complete.
/// Colour is summed premultiplied by alpha.
#[derive(Debug)]
pub(super) struct BoxSums {
    width: u32,
    height: u32,
    factor: u32,
    /// Per reduced column: colour x alpha (three) and alpha.
    sums: Vec<[u32; 4]>,
    /// Rows added to the current band.
    band_rows: u32,
    /// Rows added in all.
    rows: u32,
    out: Vec<u8>,
}

impl BoxSums {
    /// Sums for a `width` x `height` picture reduced by `factor` (2 to 16).
    pub(super) fn new(width: u32, height: u32, factor: u32) -> Self {
        let out_w = width.div_ceil(factor) as usize;
        let out_h = height.div_ceil(factor) as usize;
        Self {
            width,
            height,
            factor,
            sums: vec![[0; 4]; out_w],
            band_rows: 0,
            rows: 0,
            out: crate::pixels::buffer_for_overwrite(out_w * out_h * 4),
        }
    }

    /// Adds the next row (`width` RGBA pixels); extra rows past the height are ignored.
    pub(super) fn add_row(&mut self, row: &[u8]) {
        if self.rows >= self.height {
            return;
        }
        let box_len = self.factor as usize * 4;
        for (sum, pixels) in self.sums.iter_mut().zip(row.chunks(box_len)) {
            for p in pixels.chunks_exact(4) {
                let a = u32::from(p[3]);
                sum[0] += u32::from(p[0]) * a;
                sum[1] += u32::from(p[1]) * a;
                sum[2] += u32::from(p[2]) * a;
                sum[3] += a;
            }
        }
        self.rows += 1;
        self.band_rows += 1;
        if self.band_rows == self.factor || self.rows == self.height {
            self.emit();
        }
    }

    /// Whether every row of the picture was added.
    pub(super) const fn is_complete(&self) -> bool {
        self.rows == self.height
    }

    /// Writes the current band's reduced row and clears the sums.
    fn emit(&mut self) {
        let out_w = self.sums.len();
        let band = (self.rows - 1) / self.factor;
        let start = band as usize * out_w * 4;
        let out = &mut self.out[start..start + out_w * 4];
        let last_w = self.width - (out_w as u32 - 1) * self.factor;
        for (x, (sum, pixel)) in self.sums.iter_mut().zip(out.chunks_exact_mut(4)).enumerate() {
            let box_w = if x + 1 == out_w { last_w } else { self.factor };
            pixel.copy_from_slice(&average(*sum, box_w * self.band_rows));
            *sum = [0; 4];
        }
        self.band_rows = 0;
    }

    /// The reduced picture (RGBA). Rows never added are left as the buffer held them; the
    /// caller checks [`Self::is_complete`] first.
    pub(super) fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// The average of a box of `count` pixels from its premultiplied sums, unpremultiplied.
/// The alpha of a box with any pixel less than opaque stays below 255, so whether a
/// picture has transparency (which decides the output format) survives the reduction.
#[inline(always)]
fn average([r, g, b, a]: [u32; 4], count: u32) -> [u8; 4] {
    let count = count.max(1);
    let mut alpha = (a + count / 2) / count;
    if a < 255 * count {
        alpha = alpha.min(254);
    }
    if a == 0 {
        return [0, 0, 0, 0];
    }
    // Each quotient is a weighted mean of 8-bit samples: at most 255.
    let channel = |c: u32| ((c + a / 2) / a) as u8;
    [channel(r), channel(g), channel(b), alpha as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_samples_round_as_image_converts_them() {
        for v in [0u16, 1, 128, 129, 256, 257, 385, 386, 32767, 65407, 65408, 65535] {
            let want = (f64::from(v) * 255.0 / 65535.0).round() as u8;
            assert_eq!(to_u8(v), want, "{v}");
        }
    }

    #[test]
    fn box_sums_average_each_box_and_keep_transparency() {
        // 5 x 3, reduced by 2: boxes of 2x2, 1x2 at the right, 2x1 and 1x1 at the bottom.
        let mut rows = vec![vec![0u8; 20]; 3];
        for (y, row) in rows.iter_mut().enumerate() {
            for (x, p) in row.chunks_exact_mut(4).enumerate() {
                p.copy_from_slice(&[(10 * x + y) as u8, 100, 200, 255]);
            }
        }
        // One transparent pixel whose colour must not count, one nearly opaque one.
        rows[0][0..4].copy_from_slice(&[255, 255, 255, 0]);
        rows[2][16..20].copy_from_slice(&[40, 100, 200, 254]);
        let mut boxes = BoxSums::new(5, 3, 2);
        for row in &rows {
            boxes.add_row(row);
        }
        assert!(boxes.is_complete());
        let out = boxes.finish();
        assert_eq!(out.len(), 3 * 2 * 4);
        // Box (0,0): pixels (1,0), (0,1), (1,1) opaque, (0,0) transparent.
        // Red: (10 + 1 + 11) / 3 rounded, the transparent pixel's 255 not counted.
        assert_eq!(&out[0..4], &[7, 100, 200, 191]);
        // Box (2,0): one column (x = 4), two rows.
        assert_eq!(&out[8..12], &[41, 100, 200, 255]);
        // Box (2,1): the single pixel (4,2), alpha 254, stays below opaque.
        assert_eq!(&out[20..24], &[40, 100, 200, 254]);
        // Box (1,1): (2,2) and (3,2).
        assert_eq!(&out[16..20], &[27, 100, 200, 255]); // (22 + 32) / 2 rounded
    }

    #[test]
    fn a_box_of_nearly_opaque_pixels_is_not_opaque() {
        // 63 opaque pixels and one at 254 average to 254.98: rounding to 255 would make an
        // upload with transparency look opaque and change its output format.
        let sum = [0, 0, 0, 63 * 255 + 254];
        assert_eq!(average(sum, 64)[3], 254);
        assert_eq!(average([0, 0, 0, 64 * 255], 64)[3], 255);
    }
}
