//! The JPEG encoder: every picture round-trips through an independent decoder at its size,
//! about as close to the source as the encoder it stands in for gets.

use super::{Input, cycle};
use crate::jpeg::encoder::{ColorType, Encoder, declared_quant_tables};

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

/// How far, in levels, a decoded channel of a one-colour picture may stray beyond what its
/// DC rounding explains: the colour transform's and the IDCT's own rounding.
const ROUNDING_SLACK: f64 = 2.0;

/// Input: the quality (the byte as is: the encoder clamps it to 1..=100), the width and
/// height (`1 + byte % 128` each), a byte choosing RGB or RGBA (bit 0), a progressive
/// file (bit 1) and rate-distortion quantisation (bit 2), then pixel bytes, repeated to fill
/// the picture. A progressive file must decode to exactly the pixels of the sequential file
/// of the same picture. With rate-distortion quantisation, the sequential and progressive
/// files must decode to the picture's size and to the same pixels as each other; their
/// quality is held by the encoder's own tests, not by a floor here (the quantisation
/// gives up error for bytes on purpose, most on noise, which is what a fuzzer makes). The JPEG must decode (by `jpeg-decoder`) to the picture's size, with
/// a PSNR no more than [`PSNR_SLACK`] below that of `jpeg-encoder`'s file of the same
/// picture (both capped at [`PSNR_CEILING`]; sides of [`PSNR_MIN_SIDE`] or more): the
/// floor for the quality.
///
/// A picture of one colour (pixel bytes that repeat with the pixel's length), or of so
/// little contrast that each channel's range is within half a DC step, is held to a bound
/// instead: its blocks are their DC coefficients and little else, and whether a DC rounds
/// up or down to its quantisation step is a coin toss that one encoder may win by a few
/// levels on every pixel at once (4-5 dB of PSNR on the fuzzer's one-colour pictures, 4 dB
/// on a two-colour pattern at quality 6). Every channel must stay within the picture's
/// range widened by what half a DC step of luma and of chroma can move it
/// ([`dc_rounding_bound`], from the steps the file declares), plus [`ROUNDING_SLACK`].
///
/// # Panics
/// When the encoder fails, or its file decodes to another size or strays further.
pub fn encoder(data: &[u8]) {
    let mut input = Input::new(data);
    let quality = input.byte();
    let width = u16::from(input.byte() % 128) + 1;
    let height = u16::from(input.byte() % 128) + 1;
    let choice = input.byte();
    let progressive = choice & 2 != 0;
    let trellis = choice & 4 != 0;
    let (color, reference_color) = if choice & 1 == 0 {
        (ColorType::Rgb, jpeg_encoder::ColorType::Rgb)
    } else {
        (ColorType::Rgba, jpeg_encoder::ColorType::Rgba)
    };
    let channels = color.channels();
    let source = cycle(
        input.rest(),
        usize::from(width) * usize::from(height) * channels,
    );

    let encode = |encoder: Encoder| {
        encoder
            .encode(&source, width, height, color)
            .expect("a picture of the right length encodes")
    };
    // The progressive file of `encoder`'s settings decodes to `sequential`, the pixels of
    // its sequential file.
    let progressive_matches = |encoder: Encoder, sequential: &(u16, u16, Vec<u8>), what: &str| {
        let again = decode(&encode(encoder.with_progressive(true)))
            .unwrap_or_else(|| panic!("our progressive {what}JPEG decodes"));
        assert!(
            again == *sequential,
            "q{quality} {width}x{height}: the progressive {what}file decodes to other pixels"
        );
    };

    if trellis {
        let encoder = Encoder::new(quality).with_trellis(true);
        let decoded = decode(&encode(encoder)).expect("our rate-distortion JPEG decodes");
        assert_eq!((decoded.0, decoded.1), (width, height));
        progressive_matches(encoder, &decoded, "rate-distortion ");
    }
    let ours = encode(Encoder::new(quality));
    let decoded = decode(&ours).expect("our JPEG decodes");
    if progressive {
        progressive_matches(Encoder::new(quality), &decoded, "");
    }
    assert_eq!(
        (decoded.0, decoded.1),
        (width, height),
        "our JPEG decodes to its picture's size"
    );
    let steps = dc_steps(&ours).expect("our JPEG declares a luma and a chroma table");
    let bound = dc_rounding_bound(steps);
    let (low, high) = channel_ranges(&source, channels);
    if (0..3).all(|c| f64::from(high[c] - low[c]) <= bound[c]) {
        for pixel in decoded.2.chunks_exact(3) {
            for c in 0..3 {
                let got = f64::from(pixel[c]);
                let limit = bound[c] + ROUNDING_SLACK;
                assert!(
                    got >= f64::from(low[c]) - limit && got <= f64::from(high[c]) + limit,
                    "q{quality} {width}x{height} of {low:?}..={high:?}: decoded {pixel:?}, DC steps {steps:?}"
                );
            }
        }
        return;
    }
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

/// The lowest and the highest value of R, G and B over the picture.
fn channel_ranges(source: &[u8], channels: usize) -> ([u8; 3], [u8; 3]) {
    let (mut low, mut high) = ([u8::MAX; 3], [0; 3]);
    for pixel in source.chunks_exact(channels) {
        for c in 0..3 {
            low[c] = low[c].min(pixel[c]);
            high[c] = high[c].max(pixel[c]);
        }
    }
    (low, high)
}

/// The DC quantisation steps of table 0 (luma) and table 1 (chroma) that `jpeg` declares.
fn dc_steps(jpeg: &[u8]) -> Option<[u16; 2]> {
    let [luma, chroma] = declared_quant_tables(jpeg)?;
    Some([u16::from(luma[0]), u16::from(chroma[0])])
}

/// How far half a DC step of luma and of chroma can move R, G and B: a block's mean is
/// its DC coefficient over 8, so half a step of `q` moves a component by `q / 16`, and the
/// JFIF inverse transform weighs the chroma error into each channel.
fn dc_rounding_bound([luma_step, chroma_step]: [u16; 2]) -> [f64; 3] {
    let luma = f64::from(luma_step) / 16.0;
    let chroma = f64::from(chroma_step) / 16.0;
    [
        luma + 1.402 * chroma,
        luma + (0.344_136 + 0.714_136) * chroma,
        luma + 1.772 * chroma,
    ]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dc_steps_are_read_from_the_files_tables() {
        let picture = [200u8, 30, 90].repeat(16 * 16);
        for quality in [1, 38, 85, 100] {
            let jpeg = Encoder::new(quality)
                .encode(&picture, 16, 16, ColorType::Rgb)
                .expect("encodes");
            let [luma, chroma] = dc_steps(&jpeg).expect("two tables");
            // Annex K's DC entries, 16 and 17, scaled as libjpeg scales them.
            let scale = if quality < 50 {
                5000 / u32::from(quality)
            } else {
                200 - 2 * u32::from(quality)
            };
            let scaled = |base: u32| ((base * scale + 50) / 100).clamp(1, 255) as u16;
            assert_eq!([luma, chroma], [scaled(16), scaled(17)], "q{quality}");
        }
    }

    #[test]
    fn one_colour_pictures_of_any_quality_stay_within_their_dc_rounding() {
        for quality in [1u8, 2, 10, 38, 43, 75, 99, 100] {
            for colour in [
                [255u8, 0, 32],
                [126, 156, 1],
                [0, 55, 0],
                [255, 255, 255],
                [3, 250, 7],
            ] {
                for (width, height) in [(1u8, 1u8), (126, 61), (33, 108), (16, 16)] {
                    // Sequential, then progressive.
                    for choice in [0, 2] {
                        let mut input = vec![quality, width, height, choice];
                        input.extend_from_slice(&colour);
                        encoder(&input);
                    }
                }
            }
        }
    }

    #[test]
    fn channel_ranges_leave_alpha_out() {
        assert_eq!(
            channel_ranges(&[1, 2, 3, 1, 2, 3], 3),
            ([1, 2, 3], [1, 2, 3])
        );
        assert_eq!(
            channel_ranges(&[1, 2, 3, 9, 1, 2, 3, 7], 4),
            ([1, 2, 3], [1, 2, 3])
        );
        assert_eq!(
            channel_ranges(&[1, 9, 3, 4, 2, 0], 3),
            ([1, 2, 0], [4, 9, 3])
        );
    }

    #[test]
    fn low_contrast_pictures_at_low_quality_stay_within_their_dc_rounding() {
        // Quality 6, 41 x 55, pixels alternating (0, 8, 0) and (8, 0, 8): a fuzz finding,
        // where a DC step of 133 leaves each block's mean to a coin toss that PSNR against
        // another encoder judged (29.1 dB against 33.1).
        encoder(&[6, 0xA8, 0xB6, 8, 0, 8, 0, 8]);
    }
}
