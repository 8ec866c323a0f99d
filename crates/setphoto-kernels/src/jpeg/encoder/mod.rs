//! A baseline JPEG encoder for renditions: YCbCr 4:2:0, the libjpeg quality scale, the T.81
//! Annex K Huffman tables, JFIF, no metadata. It does one thing, so it does it in one pass:
//! sixteen rows at a time are converted to level-shifted Y and averaged Cb/Cr planes, and each
//! 16x16 macroblock goes straight through DCT, quantisation and Huffman coding.
//!
//! Output is the same bytes on every CPU (no fused multiply-add, fixed operation order).

mod dct;
/// Entropy coding (the decoder's tests encode their streams with it too).
pub(crate) mod huffman;
/// The Annex K tables (the decoder's tests encode with them too).
pub(crate) mod tables;

use dct::{Block, Quantiser};
use huffman::{BitWriter, HuffmanCodes, Scan, encode_block};
use tables::{CHROMA_AC, CHROMA_DC, CHROMA_QUANT, HuffmanSpec, LUMA_AC, LUMA_DC, LUMA_QUANT};

/// The JFIF colour transform (ITU-R BT.601, full range), with luma level-shifted by 128 and
/// chroma centred on 0, as the DCT wants them.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];
const BLUE_DIFFERENCE: [f32; 3] = [-0.168_736, -0.331_264, 0.5];
const RED_DIFFERENCE: [f32; 3] = [0.5, -0.418_688, -0.081_312];

/// The order `Quantiser::quantise` leaves coefficients in, for the Huffman coder.
static SCAN: Scan = Scan::new(&dct::ZIGZAG_AFTER_DCT);

/// The pixel layouts the encoder takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorType {
    /// Packed 8-bit RGB.
    Rgb,
    /// Packed 8-bit RGBA; alpha is ignored (what reaches a JPEG is opaque).
    Rgba,
}

impl ColorType {
    /// Bytes per pixel.
    #[must_use]
    pub const fn channels(self) -> usize {
        match self {
            ColorType::Rgb => 3,
            ColorType::Rgba => 4,
        }
    }
}

/// Why a picture could not be encoded: the caller's mistake, never the picture's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingError {
    /// A side of 0 (JPEG has no empty pictures).
    ZeroSize,
    /// `data` does not hold `width * height` pixels of the colour type.
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
}

impl std::fmt::Display for EncodingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodingError::ZeroSize => f.write_str("a JPEG needs at least one pixel a side"),
            EncodingError::WrongLength { expected, actual } => {
                write!(f, "expected {expected} bytes of pixels, got {actual}")
            }
        }
    }
}

impl std::error::Error for EncodingError {}

/// The rendition encoder, set up like `jpeg-encoder`'s: a quality, then
/// [`encode`](Self::encode) per picture.
///
/// ```
/// # use setphoto_kernels::jpeg::encoder::{ColorType, Encoder};
/// let jpeg = Encoder::new(85).encode(&[200; 4 * 3 * 3], 4, 3, ColorType::Rgb).unwrap();
/// assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Encoder {
    quality: u8,
}

impl Encoder {
    /// An encoder at `quality` on libjpeg's scale, clamped to 1..=100.
    #[must_use]
    pub const fn new(quality: u8) -> Self {
        let quality = if quality == 0 {
            1
        } else if quality > 100 {
            100
        } else {
            quality
        };
        Self { quality }
    }

    /// Encodes `width` x `height` pixels of `color` from `data`: a whole JFIF file.
    /// The bytes are the same on every CPU.
    ///
    /// # Errors
    /// A side of 0, or `data` of another length than the picture's.
    pub fn encode(
        &self,
        data: &[u8],
        width: u16,
        height: u16,
        color: ColorType,
    ) -> Result<Vec<u8>, EncodingError> {
        if width == 0 || height == 0 {
            return Err(EncodingError::ZeroSize);
        }
        let expected = usize::from(width) * usize::from(height) * color.channels();
        if data.len() != expected {
            return Err(EncodingError::WrongLength {
                expected,
                actual: data.len(),
            });
        }
        let channels = color.channels();
        #[cfg(target_arch = "x86_64")]
        if crate::Cpu::detect() == crate::Cpu::Avx2 {
            // SAFETY: `Cpu::Avx2` is detected only on a CPU with AVX2, BMI2 and LZCNT,
            // every feature `encode_avx2` is compiled for.
            return Ok(unsafe { encode_avx2(data, width, height, channels, self.quality) });
        }
        Ok(encode_portable(data, width, height, channels, self.quality))
    }
}

/// The same code compiled for AVX2 (256-bit vectors for colour conversion and DCT) with BMI2
/// and LZCNT (variable shifts and bit lengths for Huffman coding): every x86-64 CPU since 2013.
///
/// # Safety
/// The CPU must have AVX2, BMI2 and LZCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi2,lzcnt")]
unsafe fn encode_avx2(
    data: &[u8],
    width: u16,
    height: u16,
    channels: usize,
    quality: u8,
) -> Vec<u8> {
    encode_portable(data, width, height, channels, quality)
}

/// The encoder for a channel count, in whatever instruction set its caller is compiled for
/// (inlined, so `encode_avx2` gets an AVX2 copy).
#[inline(always)]
fn encode_portable(data: &[u8], width: u16, height: u16, channels: usize, quality: u8) -> Vec<u8> {
    match channels {
        4 => encode_with::<4>(data, width, height, quality),
        _ => encode_with::<3>(data, width, height, quality),
    }
}

#[inline(always)]
fn encode_with<const CHANNELS: usize>(
    data: &[u8],
    width: u16,
    height: u16,
    quality: u8,
) -> Vec<u8> {
    let luma_table = tables::scaled_quant(&LUMA_QUANT, quality);
    let chroma_table = tables::scaled_quant(&CHROMA_QUANT, quality);
    // A q85 4:2:0 photo takes 1 to 1.3 bits per pixel; start there and let Vec grow if not.
    let estimate = usize::from(width) * usize::from(height) / 6 + 1024;
    let mut out = Vec::with_capacity(estimate);
    write_headers(&mut out, width, height, &luma_table, &chroma_table);

    let luma = Quantiser::new(&luma_table);
    let chroma = Quantiser::new(&chroma_table);
    let luma_dc = HuffmanCodes::new(&LUMA_DC);
    let luma_ac = HuffmanCodes::new(&LUMA_AC);
    let chroma_dc = HuffmanCodes::new(&CHROMA_DC);
    let chroma_ac = HuffmanCodes::new(&CHROMA_AC);

    let mut strip = Strip::new(usize::from(width));
    let mut writer = BitWriter::new(out);
    let mut predictors = [0i32; 3];
    let rows = usize::from(height);
    for top in (0..rows).step_by(16) {
        strip.fill::<CHANNELS>(data, rows, top);
        for column in 0..strip.macroblocks {
            let x = column * 16;
            for (dy, dx) in [(0, 0), (0, 8), (8, 0), (8, 8)] {
                let block = strip.luma_block(x + dx, dy);
                let coefficients = luma.quantise(&block);
                encode_block(
                    &mut writer,
                    &coefficients,
                    &SCAN,
                    &mut predictors[0],
                    &luma_dc,
                    &luma_ac,
                );
            }
            for (plane, predictor) in [&strip.blue, &strip.red]
                .into_iter()
                .zip(&mut predictors[1..])
            {
                let block = Strip::chroma_block(plane, strip.chroma_width, x / 2);
                let coefficients = chroma.quantise(&block);
                encode_block(
                    &mut writer,
                    &coefficients,
                    &SCAN,
                    predictor,
                    &chroma_dc,
                    &chroma_ac,
                );
            }
        }
    }
    let mut out = writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]); // EOI
    out
}

/// Sixteen image rows as planes: luma at full resolution, chroma averaged over 2x2 pixels,
/// both padded to whole macroblocks by repeating the last column and row (as libjpeg does, so
/// edges do not bleed towards black).
struct Strip {
    width: usize,
    macroblocks: usize,
    luma_width: usize,
    chroma_width: usize,
    luma: Vec<f32>,
    blue: Vec<f32>,
    red: Vec<f32>,
}

impl Strip {
    fn new(width: usize) -> Self {
        let macroblocks = width.div_ceil(16);
        let luma_width = macroblocks * 16;
        let chroma_width = macroblocks * 8;
        Self {
            width,
            macroblocks,
            luma_width,
            chroma_width,
            luma: vec![0.0; luma_width * 16],
            blue: vec![0.0; chroma_width * 8],
            red: vec![0.0; chroma_width * 8],
        }
    }

    /// Converts image rows `top..top + 16` (the last row repeated past the bottom).
    #[inline(always)]
    fn fill<const CHANNELS: usize>(&mut self, data: &[u8], rows: usize, top: usize) {
        let stride = self.width * CHANNELS;
        let row = |y: usize| &data[y.min(rows - 1) * stride..][..stride];
        for dy in 0..16 {
            let luma = &mut self.luma[dy * self.luma_width..][..self.luma_width];
            let source = row(top + dy);
            for (sample, pixel) in luma.iter_mut().zip(source.chunks_exact(CHANNELS)) {
                *sample = weigh_sum(&LUMA, &channels::<CHANNELS>(pixel)) - 128.0;
            }
            let last = luma[self.width - 1];
            luma[self.width..].fill(last);
        }
        let pairs = self.width / 2;
        for dy in 0..8 {
            let upper = row(top + 2 * dy);
            let lower = row(top + 2 * dy + 1);
            let blue = &mut self.blue[dy * self.chroma_width..][..self.chroma_width];
            let red = &mut self.red[dy * self.chroma_width..][..self.chroma_width];
            let quads = upper
                .chunks_exact(2 * CHANNELS)
                .zip(lower.chunks_exact(2 * CHANNELS));
            for ((b, r), (up, down)) in blue.iter_mut().zip(red.iter_mut()).zip(quads) {
                let sum = quad_sum::<CHANNELS>(up, down);
                *b = weigh_sum(&BLUE_DIFFERENCE, &sum) * 0.25;
                *r = weigh_sum(&RED_DIFFERENCE, &sum) * 0.25;
            }
            let mut filled = pairs;
            if self.width % 2 == 1 {
                // The last column pairs with itself.
                let x = (self.width - 1) * CHANNELS;
                let sum: [f32; 3] = std::array::from_fn(|c| {
                    2.0 * (f32::from(upper[x + c]) + f32::from(lower[x + c]))
                });
                blue[pairs] = weigh_sum(&BLUE_DIFFERENCE, &sum) * 0.25;
                red[pairs] = weigh_sum(&RED_DIFFERENCE, &sum) * 0.25;
                filled += 1;
            }
            let (last_blue, last_red) = (blue[filled - 1], red[filled - 1]);
            blue[filled..].fill(last_blue);
            red[filled..].fill(last_red);
        }
    }

    #[inline(always)]
    fn luma_block(&self, x: usize, top: usize) -> Block {
        block_at(&self.luma[top * self.luma_width + x..], self.luma_width)
    }

    #[inline(always)]
    fn chroma_block(plane: &[f32], width: usize, x: usize) -> Block {
        block_at(&plane[x..], width)
    }
}

/// The 8x8 block whose top-left sample starts `plane`, rows `stride` apart.
#[inline(always)]
fn block_at(plane: &[f32], stride: usize) -> Block {
    let mut block = [[0.0; 8]; 8];
    for (dy, row) in block.iter_mut().enumerate() {
        row.copy_from_slice(&plane[dy * stride..][..8]);
    }
    block
}

/// A pixel's R, G, B. RGBA pixels are read as one 32-bit word each and split by shifts,
/// which the compiler turns into whole-vector operations; byte by byte it inserted them into
/// vectors one at a time.
#[inline(always)]
fn channels<const CHANNELS: usize>(pixel: &[u8]) -> [f32; 3] {
    if CHANNELS == 4 {
        let word = u32::from_le_bytes([pixel[0], pixel[1], pixel[2], pixel[3]]);
        [word & 0xFF, word >> 8 & 0xFF, word >> 16 & 0xFF].map(|v| v as f32)
    } else {
        [pixel[0], pixel[1], pixel[2]].map(f32::from)
    }
}

/// R, G, B summed over two horizontal pairs of pixels, one row above the other. Integer sums
/// (at most 1020) are exact in f32, so they equal any order of float additions.
#[inline(always)]
fn quad_sum<const CHANNELS: usize>(upper: &[u8], lower: &[u8]) -> [f32; 3] {
    if CHANNELS == 4 {
        // R and B in the low halves of two 16-bit fields, G in one: four of them fit.
        let words = [&upper[..4], &upper[4..8], &lower[..4], &lower[4..8]]
            .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]));
        let red_blue: u32 = words.iter().map(|w| w & 0x00FF_00FF).sum();
        let green: u32 = words.iter().map(|w| w >> 8 & 0xFF).sum();
        [red_blue & 0xFFFF, green, red_blue >> 16].map(|v| v as f32)
    } else {
        std::array::from_fn(|c| {
            f32::from(u16::from(upper[c]) + u16::from(upper[CHANNELS + c]))
                + f32::from(u16::from(lower[c]) + u16::from(lower[CHANNELS + c]))
        })
    }
}

#[inline(always)]
fn weigh_sum(weights: &[f32; 3], sum: &[f32; 3]) -> f32 {
    (weights[0] * sum[0] + weights[1] * sum[1]) + weights[2] * sum[2]
}

/// SOI, JFIF APP0, both quantisation tables, SOF0, the four Huffman tables and SOS.
fn write_headers(out: &mut Vec<u8>, width: u16, height: u16, luma: &[u8; 64], chroma: &[u8; 64]) {
    out.extend_from_slice(&[0xFF, 0xD8]);
    // JFIF 1.01, no density units, 1:1 aspect, no thumbnail.
    segment(
        out,
        0xE0,
        &[b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0],
    );

    let mut dqt = Vec::with_capacity(130);
    for (id, table) in [(0u8, luma), (1, chroma)] {
        dqt.push(id); // 8-bit precision, table id
        dqt.extend(tables::ZIGZAG.iter().map(|&n| table[n]));
    }
    segment(out, 0xDB, &dqt);

    let [height_hi, height_lo] = height.to_be_bytes();
    let [width_hi, width_lo] = width.to_be_bytes();
    // 8-bit samples; Y sampled 2x2 with table 0, Cb and Cr 1x1 with table 1.
    segment(
        out,
        0xC0,
        &[
            8, height_hi, height_lo, width_hi, width_lo, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
        ],
    );

    let mut dht = Vec::with_capacity(432);
    for (class_and_id, spec) in [
        (0x00u8, &LUMA_DC),
        (0x10, &LUMA_AC),
        (0x01, &CHROMA_DC),
        (0x11, &CHROMA_AC),
    ] {
        push_huffman(&mut dht, class_and_id, spec);
    }
    segment(out, 0xC4, &dht);

    // All three components interleaved, full spectral range, no successive approximation.
    segment(out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
}

fn push_huffman(dht: &mut Vec<u8>, class_and_id: u8, spec: &HuffmanSpec) {
    dht.push(class_and_id);
    dht.extend_from_slice(&spec.counts);
    dht.extend_from_slice(spec.symbols);
}

/// A marker segment: 0xFF, `marker`, the big-endian length (itself included), `payload`.
fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    let length = u16::try_from(payload.len() + 2).unwrap_or(u16::MAX);
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &[u8], width: u16, height: u16, channels: usize, quality: u8) -> Vec<u8> {
        let color = if channels == 4 {
            ColorType::Rgba
        } else {
            ColorType::Rgb
        };
        Encoder::new(quality)
            .encode(data, width, height, color)
            .unwrap()
    }

    /// A deterministic picture with smooth gradients, hard edges and some texture.
    fn picture(width: usize, height: usize, channels: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(width * height * channels);
        for y in 0..height {
            for x in 0..width {
                // Texture and edges in luma; colour changes smoothly, as in photos
                // (4:2:0 halves chroma resolution by design).
                let edge = if (x / 7 + y / 5) % 2 == 0 { 60 } else { 0 };
                let texture = (x * 31 + y * 17) % 23;
                let shade = edge + texture;
                data.extend(
                    [
                        (x * 150 / width.max(1) + shade) as u8,
                        (100 + shade) as u8,
                        (y * 150 / height.max(1) + shade) as u8,
                        255,
                    ][..channels]
                        .iter(),
                );
            }
        }
        data
    }

    /// Peak signal-to-noise ratio of `decoded` RGB against `source`, in dB.
    fn psnr(source: &[u8], channels: usize, decoded: &[u8]) -> f64 {
        let mut squared = 0.0;
        let mut count = 0.0;
        for (s, d) in source.chunks_exact(channels).zip(decoded.chunks_exact(3)) {
            for c in 0..3 {
                squared += (f64::from(s[c]) - f64::from(d[c])).powi(2);
                count += 1.0;
            }
        }
        10.0 * (255.0f64.powi(2) / (squared / count).max(1e-9)).log10()
    }

    fn decode_with_image(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoded = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .expect("our JPEG decodes")
            .into_rgb8();
        (decoded.width(), decoded.height(), decoded.into_raw())
    }

    /// The same picture through jpeg-encoder (4:2:0, same quality scale).
    fn reference(
        source: &[u8],
        width: usize,
        height: usize,
        channels: usize,
        quality: u8,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
        let colour = if channels == 4 {
            jpeg_encoder::ColorType::Rgba
        } else {
            jpeg_encoder::ColorType::Rgb
        };
        encoder
            .encode(source, width as u16, height as u16, colour)
            .unwrap();
        out
    }

    #[test]
    fn any_size_round_trips_through_two_independent_decoders() {
        for (width, height) in [
            (1, 1),
            (2, 1),
            (1, 9),
            (7, 13),
            (16, 16),
            (17, 33),
            (24, 24),
            (100, 3),
        ] {
            for channels in [3, 4] {
                let source = picture(width, height, channels);
                let jpeg = encode(&source, width as u16, height as u16, channels, 85);
                let (w, h, rgb) = decode_with_image(&jpeg);
                assert_eq!((w, h), (width as u32, height as u32));
                let ours = psnr(&source, channels, &rgb);
                let theirs = psnr(
                    &source,
                    channels,
                    &decode_with_image(&reference(&source, width, height, channels, 85)).2,
                );
                assert!(
                    ours > theirs - 0.5,
                    "{width}x{height}: {ours:.1} dB vs {theirs:.1}"
                );

                let mut other = jpeg_decoder::Decoder::new(jpeg.as_slice());
                let pixels = other.decode().expect("jpeg-decoder reads it too");
                let info = other.info().unwrap();
                assert_eq!((info.width, info.height), (width as u16, height as u16));
                assert_eq!(pixels.len(), width * height * 3);
            }
        }
    }

    #[test]
    fn quality_and_size_match_a_reference_encoder() {
        let (width, height) = (320, 240);
        let source = picture(width, height, 3);
        for quality in [50, 85, 95] {
            let ours = encode(&source, width as u16, height as u16, 3, quality);
            let theirs = reference(&source, width, height, 3, quality);
            let our_psnr = psnr(&source, 3, &decode_with_image(&ours).2);
            let their_psnr = psnr(&source, 3, &decode_with_image(&theirs).2);
            assert!(
                our_psnr > their_psnr - 0.3,
                "q{quality}: {our_psnr:.2} dB vs {their_psnr:.2} dB"
            );
            let ratio = ours.len() as f64 / theirs.len() as f64;
            assert!(
                ratio < 1.05,
                "q{quality}: {} vs {} bytes",
                ours.len(),
                theirs.len()
            );
        }
    }

    #[test]
    fn higher_quality_means_more_bytes_and_less_error() {
        let source = picture(64, 48, 3);
        let mut last = (0, 0.0);
        for quality in [10, 40, 75, 90, 100] {
            let jpeg = encode(&source, 64, 48, 3, quality);
            let error = psnr(&source, 3, &decode_with_image(&jpeg).2);
            assert!(jpeg.len() > last.0 && error > last.1, "q{quality}");
            last = (jpeg.len(), error);
        }
        assert!(last.1 > 38.0, "q100 gives {:.1} dB", last.1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Any size and content: the file decodes to that size, and the vector build writes
        /// exactly the bytes of the portable one.
        #[test]
        fn every_picture_decodes_and_every_cpu_writes_the_same_bytes(
            width in 1usize..48,
            height in 1usize..48,
            channels in 3usize..=4,
            quality in 1u8..=100,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let mut state = seed | 1;
            let source: Vec<u8> = (0..width * height * channels)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect();
            let jpeg = encode(&source, width as u16, height as u16, channels, quality);
            let (w, h, _) = decode_with_image(&jpeg);
            proptest::prop_assert_eq!((w, h), (width as u32, height as u32));
            let portable = encode_portable(&source, width as u16, height as u16, channels, quality);
            proptest::prop_assert!(portable == jpeg);
        }
    }

    #[test]
    fn a_flat_grey_picture_decodes_to_itself() {
        let source = vec![128u8; 40 * 40 * 3];
        let jpeg = encode(&source, 40, 40, 3, 85);
        assert!(
            decode_with_image(&jpeg)
                .2
                .iter()
                .all(|&v| v.abs_diff(128) <= 1)
        );
    }
}
