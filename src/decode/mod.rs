//! Stage 2: decode with limits set, then apply the EXIF orientation.
//!
//! JPEG decodes to RGB; PNG to RGBA (tRNS applied, 16-bit samples rounded to 8). A GIF
//! gives its first frame on its logical screen: RGB when every pixel is opaque (its
//! renditions are JPEG, with no alpha to keep), else RGBA.
//!
//! A large JPEG can be decoded reduced (1/2, 1/4, 1/8) in the DCT domain, as libjpeg's
//! scaled IDCT and Pillow's `draft` do: most of a 12 MP photo's decoding work is detail
//! that the 1024 px rendition throws away. [`crate::geometry::dct_reduction`] picks the
//! reduction so the largest rendition is still made by downscaling.
//!
//! A PNG is decoded row by row (`decode/png.rs`): at full size straight into 8-bit RGBA, or
//! reduced by the same factors with a box filter while its rows stream, so a large PNG is
//! never held at full size (nor at 16 bits).

mod gif;
mod png;
mod reduce;

use std::io::Cursor;

use rayon::prelude::*;

use image::error::{LimitError, LimitErrorKind};
use image::{
    ColorType, DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, ImageResult,
    Limits,
};

use setphoto_kernels::jpeg::decoder::{Decoder, ink_to_rgb};

use crate::error::{BadImage, Error};
use crate::format::Format;
use crate::orient::Orientation;
use crate::pixels::{Layout, Pixels};
use crate::policy::Policy;
use crate::validate::{Detail, Validated};

/// Which decoder made a picture's pixels, so tests can hold each path to the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodePath {
    /// `image` in full: zune-jpeg.
    Image,
    /// Our PNG path: the `png` crate's rows, converted (and box-reduced) as they stream.
    Png,
    /// Our GIF path (`gif` with our LZW decoder, or the `gif` crate alone).
    Gif,
    /// Our reduced JPEG decoder (`setphoto_kernels::jpeg::decoder`).
    Kernels,
    /// jpeg-decoder, in full or with its scaled IDCT.
    JpegDecoder,
    /// No decoder could use a validated JPEG's entropy-coded data: mid-grey, as libjpeg
    /// draws such data.
    Blank,
}

/// Decoded pixels, upright: the picture the user saw, in its oriented size.
#[derive(Debug, Clone)]
pub struct Oriented {
    pixels: Pixels,
    path: DecodePath,
    /// The pixels are 1/`reduction` of the full oriented size (rounded up).
    reduction: u32,
    /// The oriented size of the full-resolution picture.
    full_size: (u32, u32),
}

impl Oriented {
    /// The upright pixels.
    #[must_use]
    pub fn pixels(&self) -> &Pixels {
        &self.pixels
    }

    /// The upright pixels, to be changed in place (the colour stage converts them).
    pub(crate) fn pixels_mut(&mut self) -> &mut Pixels {
        &mut self.pixels
    }

    /// The reduction the pixels were decoded at: 1 (full size), 2, 4 or 8 (in the DCT
    /// domain for a JPEG, by box averages for a PNG).
    #[must_use]
    pub const fn reduction(&self) -> u32 {
        self.reduction
    }

    /// The decoder that made the pixels.
    #[must_use]
    pub const fn path(&self) -> DecodePath {
        self.path
    }

    /// The oriented size of the full-resolution picture, which the square's geometry
    /// refers to; the pixels are this divided by [`Self::reduction`], rounded up.
    #[must_use]
    pub const fn full_size(&self) -> (u32, u32) {
        self.full_size
    }

    /// Full-size pixels, as decoded.
    fn full(pixels: Pixels, path: DecodePath) -> Self {
        let full_size = (pixels.width(), pixels.height());
        Self {
            pixels,
            path,
            reduction: 1,
            full_size,
        }
    }

    /// Wraps pixels as if decoded, for stage tests.
    #[cfg(test)]
    pub(crate) fn from_pixels_for_tests(pixels: Pixels) -> Self {
        Self::full(pixels, DecodePath::Image)
    }

    /// Takes the upright pixels.
    #[must_use]
    pub fn into_pixels(self) -> Pixels {
        self.pixels
    }
}

/// Decodes `bytes`, which [`crate::validate::inspect`] accepted as `validated`.
///
/// The decoder gets limits from the validated header (a second line of defence after
/// validation): sides no larger than declared, and an allocation budget of 8 bytes a pixel.
///
/// A JPEG is never refused here: validation decided whether it is accepted (see
/// `decode_jpeg`), so the outcome cannot depend on the decoder a path takes.
pub fn decode(bytes: &[u8], validated: &Validated, policy: &Policy) -> Result<Oriented, Error> {
    let format = validated.format();
    let (width, height) = validated.stored_size();
    let mut limits = Limits::default();
    limits.max_image_width = Some(width.min(policy.max_side));
    limits.max_image_height = Some(height.min(policy.max_side));
    limits.max_alloc = Some(allocation_budget(width, height));
    match format {
        Format::Jpeg => Ok(decode_jpeg(bytes, validated, limits)),
        Format::Png => png::decode(bytes, validated, allocation_budget(width, height), 1),
        Format::Gif => {
            let max_alloc = limits.max_alloc.unwrap_or(u64::MAX);
            gif::decode_first_frame(bytes, width, height, max_alloc, 1)
                .map(|pixels| Oriented::full(pixels.into_opaque_rgb(), DecodePath::Gif))
        }
    }
}

/// A validated JPEG in full, upright.
///
/// Whether a JPEG is accepted is decided once, by validation, before any decoder runs: its
/// marker walk refuses what libjpeg-turbo refuses with an error (the structure). What is
/// left for a decoder to stumble on is what libjpeg only warns about (damaged
/// entropy-coded data, a premature end), which it decodes as far as it can. So here a
/// decoder's refusal passes the file to the next decoder, never to the caller: zune-jpeg
/// (through `image`), then jpeg-decoder, and if neither makes a picture, the picture
/// libjpeg draws where the data is unusable, mid-grey. A non-interleaved file (a
/// sequential frame in several scans) goes to jpeg-decoder first: zune-jpeg 0.5
/// mis-decodes those with subsampled chroma.
///
/// A file with stray bytes or markers between its segments, which libjpeg skips with a
/// warning but which stop or mislead both decoders, is decoded as the stored original's
/// marker walk leaves it ([`crate::original::clean_bytes`]): without them, as libjpeg
/// reads it, and so that an upload and its stored original draw the same picture.
fn decode_jpeg(bytes: &[u8], validated: &Validated, limits: Limits) -> Oriented {
    let walked;
    let bytes = if let Detail::Jpeg { strays: true, .. } = validated.detail() {
        walked = crate::original::clean_bytes(bytes, Format::Jpeg, Orientation::Normal);
        &walked[..]
    } else {
        bytes
    };
    decode_jpeg_once(bytes, validated, limits).unwrap_or_else(|| blank(validated))
}

/// `bytes` decoded by zune-jpeg or jpeg-decoder (see [`decode_jpeg`]); `None` when
/// neither makes a picture.
fn decode_jpeg_once(bytes: &[u8], validated: &Validated, limits: Limits) -> Option<Oriented> {
    let zune = || {
        decode_with_image(bytes, validated, limits)
            .ok()
            .map(|image| Oriented::full(to_rgb8(image), DecodePath::Image))
    };
    let jpeg_decoder = || decode_with_jpeg_decoder(bytes, validated, 1).ok().flatten();
    if validated.non_interleaved() {
        jpeg_decoder().or_else(zune)
    } else {
        zune().or_else(jpeg_decoder)
    }
}

/// The picture libjpeg makes of entropy-coded data it cannot use: every coefficient zero,
/// which is level 128 in each channel.
fn blank(validated: &Validated) -> Oriented {
    let (width, height) = validated.oriented_size();
    let len = width as usize * height as usize * 3;
    let pixels = Pixels::new(width, height, Layout::Rgb8, vec![128; len])
        .expect("a packed RGB buffer of the validated size");
    Oriented::full(pixels, DecodePath::Blank)
}

/// `bytes` decoded by `image` (zune-jpeg, png) in full, upright.
fn decode_with_image(
    bytes: &[u8],
    validated: &Validated,
    limits: Limits,
) -> Result<DynamicImage, Error> {
    let format = validated.format();
    let image_format = match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Gif => ImageFormat::Gif,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.limits(limits.clone());
    let mut image = reader
        .into_decoder()
        .and_then(|decoder| read_image(decoder, limits))
        .map_err(|e| Error::corrupt(format, e))?;
    if (image.width(), image.height()) != validated.stored_size() {
        return Err(size_mismatch(format));
    }
    image.apply_orientation(validated.orientation().to_image());
    Ok(image)
}

/// Like [`decode`], but a JPEG or PNG may be decoded at 1/`reduction` of its size (one of
/// [`crate::geometry::DCT_REDUCTIONS`]): a PNG by box averages of its rows as they stream,
/// a JPEG in the DCT domain. GIF and a reduction of 1 decode in full.
///
/// Reduction is only a shortcut and never changes whether an upload is accepted: a
/// validated JPEG always decodes (see `decode_jpeg`), and a PNG's rows are the same rows
/// whatever the reduction. Our reduced JPEG decoder takes baseline and progressive files
/// (a CMYK or YCCK one through [`decode_cmyk`], converted as zune-jpeg converts inks
/// without a profile); what it declines or cannot finish (other layouts, samplings it
/// does not reduce, damaged data) goes to jpeg-decoder's scaled decode, and what that
/// cannot decode, to the full decode.
pub fn decode_reduced(
    bytes: &[u8],
    validated: &Validated,
    policy: &Policy,
    reduction: u32,
) -> Result<Oriented, Error> {
    if validated.format() == Format::Png {
        let (width, height) = validated.stored_size();
        return png::decode(bytes, validated, allocation_budget(width, height), reduction);
    }
    if validated.format() != Format::Jpeg || reduction <= 1 {
        if validated.format() == Format::Gif && reduction > 1 {
            let (width, height) = validated.stored_size();
            let max_alloc = allocation_budget(width, height);
            let pixels = gif::decode_first_frame(bytes, width, height, max_alloc, reduction)?;
            return Ok(Oriented {
                pixels: pixels.into_opaque_rgb(),
                path: DecodePath::Gif,
                reduction,
                full_size: validated.oriented_size(),
            });
        }
        return decode(bytes, validated, policy);
    }
    if let Detail::Jpeg { components: 4, .. } = validated.detail()
        && let Some(oriented) = decode_cmyk(bytes, validated, reduction, &ink_to_rgb)
    {
        return Ok(oriented);
    }
    let (width, height) = validated.stored_size();
    let buffer = crate::pixels::buffer_for_overwrite(
        width.div_ceil(reduction) as usize * height.div_ceil(reduction) as usize * 3,
    );
    let reduced = Decoder::new(bytes)
        .scale(reduction)
        .expect_size(width, height)
        .decode_into(buffer);
    if let Ok(reduced) = reduced
        && let Some(image) = image::RgbImage::from_raw(reduced.width, reduced.height, reduced.rgb)
    {
        return Ok(upright_reduced(
            image,
            validated,
            reduction,
            DecodePath::Kernels,
        ));
    }
    match decode_with_jpeg_decoder(bytes, validated, reduction) {
        Ok(Some(oriented)) => Ok(oriented),
        Ok(None) | Err(_) => decode(bytes, validated, policy),
    }
}

/// What `ImageReader::decode` does with `decoder`, except that an 8-bit RGB or RGBA
/// picture (every JPEG's but CMYK and grey, most PNGs') is read into a recycled buffer
/// (see [`crate::pixels`]).
fn read_image(decoder: impl ImageDecoder, mut limits: Limits) -> ImageResult<DynamicImage> {
    // The picture counts against the same allocation budget as in `ImageReader::decode`.
    limits.reserve(decoder.total_bytes())?;
    let (width, height) = decoder.dimensions();
    let color_type = decoder.color_type();
    if !matches!(color_type, ColorType::Rgb8 | ColorType::Rgba8) {
        return DynamicImage::from_decoder(decoder);
    }
    let too_large =
        || ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory));
    let len = usize::try_from(decoder.total_bytes()).map_err(|_| too_large())?;
    let mut buffer = crate::pixels::zeroed_buffer(len);
    decoder.read_image(&mut buffer)?;
    let image = if color_type == ColorType::Rgb8 {
        image::RgbImage::from_raw(width, height, buffer).map(DynamicImage::ImageRgb8)
    } else {
        image::RgbaImage::from_raw(width, height, buffer).map(DynamicImage::ImageRgba8)
    };
    image.ok_or_else(too_large)
}

/// Orients a picture decoded at 1/`reduction` (1: in full).
fn upright_reduced(
    image: image::RgbImage,
    validated: &Validated,
    reduction: u32,
    path: DecodePath,
) -> Oriented {
    let mut image = DynamicImage::ImageRgb8(image);
    image.apply_orientation(validated.orientation().to_image());
    Oriented {
        pixels: to_rgb8(image),
        path,
        reduction,
        full_size: validated.oriented_size(),
    }
}

/// The JPEG decoded by jpeg-decoder at 1/`reduction` (1: in full, else its scaled IDCT),
/// upright; `None` for colour types it does not cover here (CMYK), which the caller
/// leaves to another decoder.
fn decode_with_jpeg_decoder(
    bytes: &[u8],
    validated: &Validated,
    reduction: u32,
) -> Result<Option<Oriented>, Error> {
    use jpeg_decoder::PixelFormat;

    let Some((format, data)) = read_with_jpeg_decoder(bytes, validated, reduction, |format| {
        matches!(format, PixelFormat::L8 | PixelFormat::RGB24)
    })?
    else {
        return Ok(None);
    };
    let rgb = match format {
        PixelFormat::L8 => data.iter().flat_map(|&l| [l, l, l]).collect(),
        _ => data,
    };
    let (width, height) = validated.stored_size();
    let image = image::RgbImage::from_raw(width.div_ceil(reduction), height.div_ceil(reduction), rgb)
        .ok_or_else(|| size_mismatch(Format::Jpeg))?;
    Ok(Some(upright_reduced(
        image,
        validated,
        reduction,
        DecodePath::JpegDecoder,
    )))
}

/// A four-component (CMYK or YCCK) JPEG decoded at 1/`reduction` (1: in full), its ink
/// values (0 none, 255 full, Adobe's inversion undone) converted to RGB by `convert` in
/// bands on the caller's rayon pool, upright. `convert` takes whole pixels of CMYK and
/// writes as many of RGB. Reduced, our decoder makes the inks, holding one MCU row of
/// coefficients as for a colour file; what it declines, and a full-size decode, go to
/// jpeg-decoder, which holds the whole picture's (a progressive file's every coefficient).
///
/// `None` when neither can decode the file so: the caller then decodes it as any other
/// JPEG (whose decoder converts CMYK without a profile), so whether an upload is accepted
/// never depends on this path.
pub fn decode_cmyk(
    bytes: &[u8],
    validated: &Validated,
    reduction: u32,
    convert: &(dyn Fn(&[u8], &mut [u8]) + Sync),
) -> Option<Oriented> {
    let (width, height) = validated.stored_size();
    let reduced = (reduction > 1)
        .then(|| {
            Decoder::new(bytes)
                .scale(reduction)
                .expect_size(width, height)
                .decode_ink_into(Vec::new())
                .ok()
        })
        .flatten();
    let (cmyk, path) = match reduced {
        Some(reduced) => (reduced.rgb, DecodePath::Kernels),
        None => {
            let (_, cmyk) = read_with_jpeg_decoder(bytes, validated, reduction, |format| {
                format == jpeg_decoder::PixelFormat::CMYK32
            })
            .ok()??;
            (cmyk, DecodePath::JpegDecoder)
        }
    };
    let (width, height) = (width.div_ceil(reduction), height.div_ceil(reduction));
    let mut rgb = Pixels::for_overwrite(width, height, Layout::Rgb8)?;
    if cmyk.len() != rgb.data().len() / 3 * 4 {
        return None;
    }
    let rows_per_band = (1 << 16) / (width as usize).max(1) + 1;
    let band = rows_per_band * width as usize;
    rgb.data_mut()
        .par_chunks_mut(band * 3)
        .zip(cmyk.par_chunks(band * 4))
        .for_each(|(rgb, cmyk)| convert(cmyk, rgb));
    drop(cmyk);
    let image = image::RgbImage::from_raw(width, height, rgb.into_data())?;
    Some(upright_reduced(image, validated, reduction, path))
}

/// The samples jpeg-decoder makes of `bytes` at 1/`reduction`, when their pixel format is
/// one `wanted` takes (else `None`).
fn read_with_jpeg_decoder(
    bytes: &[u8],
    validated: &Validated,
    reduction: u32,
    wanted: impl Fn(jpeg_decoder::PixelFormat) -> bool,
) -> Result<Option<(jpeg_decoder::PixelFormat, Vec<u8>)>, Error> {
    let corrupt = |e: jpeg_decoder::Error| Error::corrupt(Format::Jpeg, e);
    let (width, height) = validated.stored_size();
    let reduced = |len: u32| len.div_ceil(reduction);
    let (want_w, want_h) = (reduced(width), reduced(height));
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    // The reduced picture, 3 bytes a pixel, plus the decoder's coefficient and row buffers
    // for a progressive file: bounded by the header's size like the full decode.
    let budget = allocation_budget(width, height);
    decoder.set_max_decoding_buffer_size(usize::try_from(budget).unwrap_or(usize::MAX));
    decoder.read_info().map_err(corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| Error::Internal("jpeg-decoder read no header".into()))?;
    if (u32::from(info.width), u32::from(info.height)) != (width, height) {
        return Err(size_mismatch(Format::Jpeg));
    }
    if !wanted(info.pixel_format) {
        return Ok(None);
    }
    if reduction > 1 {
        let to_u16 = |len: u32| u16::try_from(len).unwrap_or(u16::MAX);
        let (got_w, got_h) = decoder
            .scale(to_u16(want_w), to_u16(want_h))
            .map_err(corrupt)?;
        if (u32::from(got_w), u32::from(got_h)) != (want_w, want_h) {
            return Ok(None);
        }
    }
    let data = decoder.decode().map_err(corrupt)?;
    let expected = want_w as usize * want_h as usize * info.pixel_format.pixel_bytes();
    if data.len() != expected {
        return Err(size_mismatch(Format::Jpeg));
    }
    Ok(Some((info.pixel_format, data)))
}

/// What a decoder may allocate for a `width` x `height` picture: 8 bytes a pixel plus
/// 16 MiB for tables and rows.
fn allocation_budget(width: u32, height: u32) -> u64 {
    (u64::from(width) * u64::from(height))
        .saturating_mul(8)
        .saturating_add(16 << 20)
}

/// The decoder produced another size than the header (already validated) declared.
fn size_mismatch(format: Format) -> Error {
    Error::BadImage(BadImage::Header {
        format,
        reason: "the decoded size differs from the header's",
    })
}

fn to_rgb8(image: DynamicImage) -> Pixels {
    let rgb = image.into_rgb8();
    let (w, h) = rgb.dimensions();
    Pixels::new(w, h, Layout::Rgb8, rgb.into_raw()).expect("an RgbImage is packed")
}
