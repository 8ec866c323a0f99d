//! Stage 5: encode renditions. JPEG in gives JPEG out; PNG and GIF give PNG when the
//! decoded picture has transparency and JPEG otherwise (a PNG stays PNG whatever its alpha
//! when the policy says so). No metadata is ever written.

mod png;

use setphoto_kernels::jpeg::encoder::{ColorType, rendition_encoder};

use crate::error::Error;
use crate::format::{Format, OutputFormat};
use crate::pixels::{Layout, Pixels};
use crate::policy::{JpegEffort, PngRenditions, Policy};
use crate::square::Bars;

/// The rendition format for an input format, whether its decoded picture has any pixel
/// with alpha below 255, and the policy for PNG uploads.
#[must_use]
pub const fn output_format(
    input: Format,
    has_transparency: bool,
    png: PngRenditions,
) -> OutputFormat {
    match (input, png) {
        (Format::Jpeg, _) => OutputFormat::Jpeg,
        (Format::Png, PngRenditions::Always) => OutputFormat::Png,
        (Format::Png | Format::Gif, _) if has_transparency => OutputFormat::Png,
        (Format::Png | Format::Gif, _) => OutputFormat::Jpeg,
    }
}

/// What fills letterbox bars for an output format: transparent when it keeps alpha,
/// else the policy's background colour.
#[must_use]
pub const fn bars(output: OutputFormat, policy: &Policy) -> Bars {
    match output {
        OutputFormat::Png => Bars::Transparent,
        OutputFormat::Jpeg => Bars::Colour(policy.background),
    }
}

/// Encodes one rendition.
///
/// JPEG: baseline, `policy.jpeg_quality` on libjpeg's scale, moved to the rendition tables,
/// sampling and quality that `rendition_encoder` picks per size (our own encoder, in
/// `crates/setphoto-kernels`), with rate-distortion quantisation at
/// [`JpegEffort::Smallest`]. PNG: lossless in the smallest of grey, grey + alpha, RGB,
/// RGBA or a palette of at most 256 colours the pixels allow, deflated with zlib level 6's
/// lazy matching (zlib-rs level 7; see `src/encode/png.rs`).
pub fn encode(pixels: &Pixels, output: OutputFormat, policy: &Policy) -> Result<Vec<u8>, Error> {
    match output {
        OutputFormat::Jpeg => encode_jpeg(pixels, policy.jpeg_quality, policy.jpeg_effort),
        OutputFormat::Png => png::encode(pixels),
    }
}

fn encode_jpeg(pixels: &Pixels, quality: u8, effort: JpegEffort) -> Result<Vec<u8>, Error> {
    let width = u16::try_from(pixels.width()).map_err(Error::internal)?;
    let height = u16::try_from(pixels.height()).map_err(Error::internal)?;
    if width == 0 || height == 0 {
        return Err(Error::internal("an empty picture has no JPEG"));
    }
    // Alpha, where present, is ignored: what reaches a JPEG is opaque by contract.
    let color = match pixels.layout() {
        Layout::Rgba8 => ColorType::Rgba,
        Layout::Rgb8 => ColorType::Rgb,
    };
    let trellis = effort == JpegEffort::Smallest;
    rendition_encoder(quality, u32::from(width.max(height)), trellis)
        .encode(pixels.data(), width, height, color)
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_follows_input_transparency_and_the_png_policy() {
        use PngRenditions::{Always, Auto};
        for png in [Auto, Always] {
            assert_eq!(output_format(Format::Jpeg, false, png), OutputFormat::Jpeg);
            assert_eq!(output_format(Format::Jpeg, true, png), OutputFormat::Jpeg);
            assert_eq!(output_format(Format::Png, true, png), OutputFormat::Png);
            assert_eq!(output_format(Format::Gif, true, png), OutputFormat::Png);
            assert_eq!(output_format(Format::Gif, false, png), OutputFormat::Jpeg);
        }
        assert_eq!(output_format(Format::Png, false, Auto), OutputFormat::Jpeg);
        assert_eq!(output_format(Format::Png, false, Always), OutputFormat::Png);
    }

    #[test]
    fn opaque_rgba_is_written_as_rgb_png() {
        let px = Pixels::new(2, 1, Layout::Rgba8, vec![1, 2, 3, 255, 4, 5, 6, 255]).unwrap();
        let png = encode(&px, OutputFormat::Png, &Policy::default()).unwrap();
        let back = image::load_from_memory(&png).unwrap();
        assert_eq!(back.color(), image::ColorType::Rgb8);
        assert_eq!(back.into_rgb8().into_raw(), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn jpeg_has_no_metadata_segments() {
        let px = Pixels::new(16, 16, Layout::Rgb8, vec![128; 16 * 16 * 3]).unwrap();
        let jpeg = encode(&px, OutputFormat::Jpeg, &Policy::default()).unwrap();
        assert!(jpeg.starts_with(&[0xFF, 0xD8]));
        assert!(!jpeg.windows(4).any(|w| w == b"Exif"));
    }
}
