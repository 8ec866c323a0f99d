//! The JPEG encoder: every picture round-trips through an independent decoder at its size,
//! about as close to the source as the encoder it stands in for gets.

use super::{Input, cycle};
use crate::jpeg::encoder::{ColorType, Encoder};

/// How many dB below `jpeg-encoder`'s (same quality, same 4:2:0 sampling, chroma averaged
/// over 2x2 pixels as ours) our PSNR may be. The encoder's tests hold smooth pictures to 0.5
/// dB and repeated colour noise to 0.25; a fuzzer's pictures include a few pixels of
/// saturated noise, where edge padding and rounding decide more. A broken table or colour
/// transform costs far more. (jpeg-encoder's default keeps each 2x2 square's top-left
/// chroma instead, which on such noise scores several dB higher or lower than averaging,
/// by the pattern: no yardstick for ours.)
const PSNR_SLACK: f64 = 3.0;

/// The shortest side compared by PSNR: on a picture of a few pixels (9 x 1 at quality 23:
/// 15.2 dB against 16.6, 17.3 against 19.7) the rounding of one block decides, and no
/// rendition is that small.
const PSNR_MIN_SIDE: u16 = 8;

/// PSNR past which two files count as equally good: at 45 dB the error is a fraction of a
/// level, and a single pixel one level off is 53 dB where an exact decode is "infinite".
const PSNR_CEILING: f64 = 45.0;

/// Input: the quality (the byte as is: the encoder clamps it to 1..=100), the width and
/// height (`1 + byte % 128` each), a byte choosing RGB or RGBA, then pixel bytes, repeated
/// to fill the picture. The JPEG must decode (by `jpeg-decoder`) to the picture's size, with
/// a PSNR no more than [`PSNR_SLACK`] below that of `jpeg-encoder`'s file of the same
/// picture (both capped at [`PSNR_CEILING`]; sides of [`PSNR_MIN_SIDE`] or more): the
/// floor for the quality.
///
/// # Panics
/// When the encoder fails, or its file decodes to another size or strays further.
pub fn encoder(data: &[u8]) {
    let mut input = Input::new(data);
    let quality = input.byte();
    let width = u16::from(input.byte() % 128) + 1;
    let height = u16::from(input.byte() % 128) + 1;
    let (color, reference_color) = if input.byte() & 1 == 0 {
        (ColorType::Rgb, jpeg_encoder::ColorType::Rgb)
    } else {
        (ColorType::Rgba, jpeg_encoder::ColorType::Rgba)
    };
    let channels = color.channels();
    let source = cycle(
        input.rest(),
        usize::from(width) * usize::from(height) * channels,
    );

    let ours = Encoder::new(quality)
        .encode(&source, width, height, color)
        .expect("a picture of the right length encodes");
    let decoded = decode(&ours).expect("our JPEG decodes");
    assert_eq!(
        (decoded.0, decoded.1),
        (width, height),
        "our JPEG decodes to its picture's size"
    );
    if width.min(height) < PSNR_MIN_SIDE {
        return;
    }
    let our_psnr = psnr(&source, channels, &decoded.2);

    let mut theirs = Vec::new();
    let mut reference = jpeg_encoder::Encoder::new(&mut theirs, quality.clamp(1, 100));
    reference.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    reference.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    reference
        .encode(&source, width, height, reference_color)
        .expect("jpeg-encoder encodes it");
    let their_psnr = psnr(
        &source,
        channels,
        &decode(&theirs).expect("theirs decodes").2,
    );
    assert!(
        our_psnr.min(PSNR_CEILING) >= their_psnr.min(PSNR_CEILING) - PSNR_SLACK,
        "q{quality} {width}x{height}: {our_psnr:.2} dB against jpeg-encoder's {their_psnr:.2} dB"
    );
}

/// Width, height and RGB pixels, by `jpeg-decoder`.
fn decode(jpeg: &[u8]) -> Option<(u16, u16, Vec<u8>)> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().ok()?;
    let info = decoder.info()?;
    (info.pixel_format == jpeg_decoder::PixelFormat::RGB24).then_some((
        info.width,
        info.height,
        pixels,
    ))
}

/// Peak signal-to-noise ratio of `decoded` RGB against `source`'s colour channels, in dB.
fn psnr(source: &[u8], channels: usize, decoded: &[u8]) -> f64 {
    let (mut squared, mut count) = (0.0, 0.0);
    for (s, d) in source.chunks_exact(channels).zip(decoded.chunks_exact(3)) {
        for (&a, &b) in s.iter().zip(d) {
            squared += (f64::from(a) - f64::from(b)).powi(2);
            count += 1.0;
        }
    }
    10.0 * (255.0f64.powi(2) / (squared / count).max(1e-9)).log10()
}
