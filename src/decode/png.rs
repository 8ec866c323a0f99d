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

use super::reduce::BoxSums;
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
}
