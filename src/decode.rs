//! Stage 2: decode with limits set, then apply the EXIF orientation.
//!
//! JPEG decodes to RGB; PNG and GIF to RGBA (tRNS applied, 16-bit samples rounded to 8).
//! A GIF gives its first frame on its logical screen.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::error::{BadImage, Error};
use crate::format::Format;
use crate::pixels::{Layout, Pixels};
use crate::policy::Policy;
use crate::validate::Validated;

/// Decoded pixels, upright: the picture the user saw, in its oriented size.
#[derive(Debug, Clone)]
pub struct Oriented {
    pixels: Pixels,
}

impl Oriented {
    /// The upright pixels.
    #[must_use]
    pub fn pixels(&self) -> &Pixels {
        &self.pixels
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
pub fn decode(bytes: &[u8], validated: &Validated, policy: &Policy) -> Result<Oriented, Error> {
    let format = validated.format();
    let (width, height) = validated.stored_size();
    let mut limits = Limits::default();
    limits.max_image_width = Some(width.min(policy.max_side));
    limits.max_image_height = Some(height.min(policy.max_side));
    limits.max_alloc = Some(
        (u64::from(width) * u64::from(height))
            .saturating_mul(8)
            .saturating_add(16 << 20),
    );
    let image_format = match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Gif => ImageFormat::Gif,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.limits(limits);
    let mut image = reader.decode().map_err(|e| Error::corrupt(format, e))?;
    if (image.width(), image.height()) != (width, height) {
        return Err(Error::BadImage(BadImage::Header {
            format,
            reason: "the decoded size differs from the header's",
        }));
    }
    image.apply_orientation(validated.orientation().to_image());
    let pixels = match format {
        Format::Jpeg => to_rgb8(image),
        Format::Png | Format::Gif => to_rgba8(image),
    };
    debug_assert_eq!(
        (pixels.width(), pixels.height()),
        validated.oriented_size()
    );
    Ok(Oriented { pixels })
}

fn to_rgb8(image: DynamicImage) -> Pixels {
    let rgb = image.into_rgb8();
    let (w, h) = rgb.dimensions();
    Pixels::new(w, h, Layout::Rgb8, rgb.into_raw()).expect("an RgbImage is packed")
}

fn to_rgba8(image: DynamicImage) -> Pixels {
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    Pixels::new(w, h, Layout::Rgba8, rgba.into_raw()).expect("an RgbaImage is packed")
}
