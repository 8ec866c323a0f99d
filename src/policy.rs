//! Limits and rendering choices: one value, checked once.

use crate::error::{Error, Limit};

/// What setphoto accepts and how it renders. Every field is enforced by exactly one stage.
///
/// [`Policy::default()`] is the recommended service policy; [`Policy::documented()`] is the
/// stricter size guidance of Slack's own users.setPhoto page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Longest side allowed, in pixels, for the declared (unrotated) image and the GIF canvas.
    /// Default: 16384.
    pub max_side: u32,
    /// Largest width x height allowed, checked on the header. Default: 50,000,000.
    pub max_pixels: u64,
    /// Largest upload allowed, in bytes. Default: 20 MiB.
    pub max_bytes: u64,
    /// Most GIF frames allowed; counting stops at `max_frames + 1`. Default: 100.
    pub max_frames: u32,
    /// Most canvas pixels allowed summed over all GIF frames (each frame counts the whole
    /// canvas, as a compositing decoder allocates it). Default: 200,000,000.
    pub max_frame_pixels: u64,
    /// Make every rendition size, upscaling small images. Default: `false`: sizes larger than
    /// the square are not made and their keys point at the largest rendition made.
    pub upscale: bool,
    /// Colour of the letterbox bars when the output has no alpha channel (RGB).
    /// Default: black.
    pub background: [u8; 3],
    /// JPEG quality of the renditions, 1..=100. Default: 85.
    pub jpeg_quality: u8,
    /// Store the upload byte for byte as `image_original`. Default: `false`: the original
    /// keeps its pixels, orientation and colour profile, and loses every other piece of
    /// metadata (EXIF apart from the orientation, XMP, IPTC, comments, text chunks) and
    /// any bytes after the end of the image, losslessly. Not part of the digest, which is
    /// over the uploaded bytes either way.
    pub keep_original_metadata: bool,
    /// What a PNG upload's renditions are written as. Default: [`PngRenditions::Auto`]:
    /// JPEG when the decoded picture has no transparent pixel, as for GIF, since an
    /// opaque photo saved as PNG makes files several times the size of the same picture
    /// as JPEG; PNG when any pixel is transparent.
    pub png_renditions: PngRenditions,
    /// Resample in linear light: each rendition is resized from 16-bit linear samples
    /// and turned back into sRGB, so that fine detail averages to the light it gives
    /// (a 1 px black and white pattern becomes level 188, where resizing sRGB values
    /// gives 128, darker than the pattern looks). Default: `false`, as every common
    /// image service does: it costs a conversion of the decoded picture and 16-bit
    /// passes, and most photos barely change.
    pub linear: bool,
    /// How hard the JPEG encoder works for fewer bytes. Default: [`JpegEffort::Standard`].
    pub jpeg_effort: JpegEffort,
}

/// What the renditions of a PNG upload are written as ([`Policy::png_renditions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PngRenditions {
    /// JPEG when no pixel of the decoded picture has alpha below 255 (whatever the PNG's
    /// colour type), else PNG with its alpha. Letterbox bars follow the output: the
    /// policy's background for JPEG, transparent for PNG.
    #[default]
    Auto,
    /// Always PNG, lossless, whether or not the picture is transparent.
    Always,
}

/// How hard the JPEG encoder works for fewer bytes at the same quality
/// ([`Policy::jpeg_effort`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JpegEffort {
    /// Each quantised coefficient rounded on its own; Huffman tables fitted to each
    /// rendition, which is progressive from 192 px up.
    #[default]
    Standard,
    /// Also chooses each block's quantised coefficients for the fewest bits at a weighted
    /// error (rate-distortion or "trellis" quantisation, as mozjpeg does), at quality steps
    /// measured, as [`Self::Standard`]'s are, to keep every size at least as good as
    /// libjpeg's quality 80: fewer bytes for more encoding time (README, "JPEG effort").
    Smallest,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_side: 16_384,
            max_pixels: 50_000_000,
            max_bytes: 20 * 1024 * 1024,
            max_frames: 100,
            max_frame_pixels: 200_000_000,
            upscale: false,
            background: [0, 0, 0],
            jpeg_quality: 85,
            keep_original_metadata: false,
            png_renditions: PngRenditions::Auto,
            linear: false,
            jpeg_effort: JpegEffort::Standard,
        }
    }
}

impl Policy {
    /// The guidance of Slack's users.setPhoto page: at most 1024 px a side; the rest as
    /// [`Policy::default()`].
    #[must_use]
    pub fn documented() -> Self {
        Self {
            max_side: 1024,
            ..Self::default()
        }
    }

    /// Returns this policy with [`Policy::upscale`] set.
    #[must_use]
    pub fn with_upscale(mut self, upscale: bool) -> Self {
        self.upscale = upscale;
        self
    }

    /// Returns this policy with [`Policy::jpeg_quality`] set (clamped to 1..=100).
    #[must_use]
    pub fn with_jpeg_quality(mut self, quality: u8) -> Self {
        self.jpeg_quality = quality.clamp(1, 100);
        self
    }

    /// Returns this policy with [`Policy::keep_original_metadata`] set.
    #[must_use]
    pub fn with_keep_original_metadata(mut self, keep: bool) -> Self {
        self.keep_original_metadata = keep;
        self
    }

    /// Returns this policy with [`Policy::png_renditions`] set.
    #[must_use]
    pub fn with_png_renditions(mut self, png_renditions: PngRenditions) -> Self {
        self.png_renditions = png_renditions;
        self
    }

    /// Returns this policy with [`Policy::linear`] set.
    #[must_use]
    pub fn with_linear(mut self, linear: bool) -> Self {
        self.linear = linear;
        self
    }

    /// Returns this policy with [`Policy::jpeg_effort`] set.
    #[must_use]
    pub fn with_jpeg_effort(mut self, jpeg_effort: JpegEffort) -> Self {
        self.jpeg_effort = jpeg_effort;
        self
    }

    /// Returns this policy with [`Policy::background`] set.
    #[must_use]
    pub fn with_background(mut self, rgb: [u8; 3]) -> Self {
        self.background = rgb;
        self
    }

    /// Checks the upload size.
    pub(crate) fn check_bytes(&self, bytes: usize) -> Result<(), Error> {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        if bytes > self.max_bytes {
            return Err(Error::TooLarge(Limit::Bytes {
                bytes,
                max: self.max_bytes,
            }));
        }
        Ok(())
    }

    /// Checks declared dimensions: each side, then the pixel count. The one place where
    /// dimension limits are enforced, for every format.
    pub(crate) fn check_dimensions(&self, width: u32, height: u32) -> Result<(), Error> {
        if width > self.max_side || height > self.max_side {
            return Err(Error::TooLarge(Limit::Side {
                width,
                height,
                max: self.max_side,
            }));
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(Error::TooLarge(Limit::Pixels {
                pixels,
                max: self.max_pixels,
            }));
        }
        Ok(())
    }

    /// Checks the canvas pixels summed over `frames` GIF frames.
    pub(crate) fn check_frame_pixels(&self, frames: u32, canvas_pixels: u64) -> Result<(), Error> {
        let pixels = canvas_pixels.saturating_mul(u64::from(frames));
        if pixels > self.max_frame_pixels {
            return Err(Error::TooLarge(Limit::FramePixels {
                pixels,
                max: self.max_frame_pixels,
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_the_design_policy() {
        let p = Policy::default();
        assert_eq!(p.max_side, 16384);
        assert_eq!(p.max_pixels, 50_000_000);
        assert_eq!(p.max_bytes, 20 * 1024 * 1024);
        assert_eq!(p.max_frames, 100);
        assert_eq!(p.max_frame_pixels, 200_000_000);
        assert!(!p.upscale);
        assert_eq!(p.jpeg_quality, 85);
        assert_eq!(p.background, [0, 0, 0]);
        assert!(!p.keep_original_metadata);
        assert_eq!(p.png_renditions, PngRenditions::Auto);
        assert!(!p.linear);
    }

    #[test]
    fn documented_policy_caps_sides_at_1024() {
        let p = Policy::documented();
        assert!(p.check_dimensions(1024, 1024).is_ok());
        assert_eq!(
            p.check_dimensions(1025, 10).unwrap_err().code(),
            "too_large"
        );
    }

    #[test]
    fn dimension_checks_sit_on_the_limits() {
        let p = Policy::default();
        assert!(p.check_dimensions(16384, 3051).is_ok()); // 49,987,584 px
        assert!(p.check_dimensions(16385, 1).is_err());
        assert!(p.check_dimensions(10_000, 5_000).is_ok());
        assert!(p.check_dimensions(10_000, 5_001).is_err());
        assert!(p.check_dimensions(u32::MAX, u32::MAX).is_err());
        assert!(p.check_bytes(20 * 1024 * 1024).is_ok());
        assert!(p.check_bytes(20 * 1024 * 1024 + 1).is_err());
        assert!(p.check_frame_pixels(100, 2_000_000).is_ok());
        assert!(p.check_frame_pixels(101, 2_000_000).is_err());
        assert!(p.check_frame_pixels(u32::MAX, u64::MAX).is_err());
    }

    #[test]
    fn jpeg_quality_is_clamped() {
        assert_eq!(Policy::default().with_jpeg_quality(0).jpeg_quality, 1);
        assert_eq!(Policy::default().with_jpeg_quality(200).jpeg_quality, 100);
    }
}
