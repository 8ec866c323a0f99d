//! Stage 5: encode renditions. JPEG in gives JPEG out, PNG gives PNG, GIF gives PNG when
//! its first frame has transparency and JPEG otherwise. No metadata is ever written.

mod png;

use setphoto_kernels::jpeg::encoder::{ColorType, Encoder};

use crate::error::Error;
use crate::format::{Format, OutputFormat};
use crate::pixels::{Layout, Pixels};
use crate::policy::Policy;
use crate::square::Bars;

/// The rendition format for an input format and whether its picture has transparency.
#[must_use]
pub const fn output_format(input: Format, has_transparency: bool) -> OutputFormat {
    match input {
        Format::Jpeg => OutputFormat::Jpeg,
        Format::Png => OutputFormat::Png,
        Format::Gif if has_transparency => OutputFormat::Png,
        Format::Gif => OutputFormat::Jpeg,
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
/// JPEG: baseline, 4:2:0, `policy.jpeg_quality` on libjpeg's scale (our own encoder, in
/// `crates/setphoto-kernels`). PNG: lossless in the smallest of grey, grey + alpha, RGB,
/// RGBA or a palette of at most 256 colours the pixels allow, deflated at zlib's level 6
/// (see `src/encode/png.rs`).
pub fn encode(pixels: &Pixels, output: OutputFormat, policy: &Policy) -> Result<Vec<u8>, Error> {
    match output {
        OutputFormat::Jpeg => encode_jpeg(pixels, policy.jpeg_quality),
        OutputFormat::Png => png::encode(pixels),
    }
}

fn encode_jpeg(pixels: &Pixels, quality: u8) -> Result<Vec<u8>, Error> {
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
    Encoder::new(quality)
        .encode(pixels.data(), width, height, color)
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_follows_input_and_gif_transparency() {
        assert_eq!(output_format(Format::Jpeg, false), OutputFormat::Jpeg);
        assert_eq!(output_format(Format::Png, false), OutputFormat::Png);
        assert_eq!(output_format(Format::Png, true), OutputFormat::Png);
        assert_eq!(output_format(Format::Gif, true), OutputFormat::Png);
        assert_eq!(output_format(Format::Gif, false), OutputFormat::Jpeg);
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
