//! A JPEG encoder for renditions, sequential or progressive: YCbCr 4:2:0 or 4:4:4, the
//! libjpeg quality scale, Huffman tables fitted to each picture, JFIF, no metadata. Rows are
//! converted to level-shifted Y and Cb/Cr planes (averaged over 2x2 pixels for 4:2:0), and
//! each MCU (a 16x16 macroblock for 4:2:0, one 8x8 block per component for 4:4:4) goes
//! through DCT and quantisation; the quantised blocks are kept while their symbols are
//! counted, tables are fitted to the counts (T.81 Annex K.2, what libjpeg's
//! `optimize_coding` does), and then the blocks are Huffman-coded with them: one sequential
//! scan, or, for a progressive file, the scans of `progressive`.
//!
//! Output is the same bytes on every CPU (no fused multiply-add, fixed operation order).

mod dct;
mod fitted;
/// Entropy coding (the decoder's tests encode their streams with it too).
pub(crate) mod huffman;
mod markers;
mod progressive;
mod strip;
/// The Annex K tables (the decoder's tests encode with them too).
pub(crate) mod tables;
mod trellis;

use dct::Quantiser;
use huffman::{BitWriter, HuffmanCodes, Scan, SymbolCounts, count_block, encode_block};
#[cfg(any(test, feature = "harness"))]
pub(crate) use markers::declared_quant_tables;
use markers::write_headers;
use strip::{FullStrip, Strip};
#[cfg(test)]
use tables::{CHROMA_AC, CHROMA_DC, LUMA_AC, LUMA_DC};
use tables::{CHROMA_QUANT, HuffmanSpec, LUMA_QUANT};
use tables::{RENDITION_CHROMA_QUANT, RENDITION_LUMA_QUANT};

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

/// How chroma is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampling {
    /// Cb and Cr averaged over 2x2 pixels: half the chroma samples of [`Self::Yuv444`] in
    /// each direction, what photos at display size lose least to.
    #[default]
    Yuv420,
    /// Cb and Cr at full resolution: on a small picture, where a colour edge is a pixel or
    /// two wide, averaging smears it and the samples it saves are few.
    Yuv444,
}

/// The quantisation tables the quality scales (libjpeg's scaling in both cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantTables {
    /// T.81 Annex K's example tables: a quality means what it means to libjpeg.
    #[default]
    AnnexK,
    /// Annex K's tables flattened towards uniform, for renditions: at the same structural
    /// similarity as an Annex K file, fewer bytes (PERFORMANCE.md, "JPEG bytes").
    /// [`rendition_encoder`] picks the quality on them that matches a quality on Annex K.
    Rendition,
}

/// The encoder for a rendition whose longer side is `side` pixels when the caller asks for
/// `quality` on libjpeg's scale, with rate-distortion quantisation when `trellis`: the one
/// place the engine and `benches/quality/jpeg_bytes.py` read the rule from.
///
/// Renditions are encoded with [`QuantTables::Rendition`] at `quality` moved down by a step
/// per size (`RENDITION_QUALITY_STEPS`, or `TRELLIS_QUALITY_STEPS` with `trellis`): the step
/// that keeps a rendition at least as good, in luma SSIM and in RGB SSIM, as libjpeg's
/// quality 80 on Annex K's tables. Elsewhere on the scale the match is close, not exact
/// (README, "Quantisation tables of the renditions"). Rate-distortion quantisation gives
/// up some quality at a given quality setting for fewer bytes, so its steps are smaller.
///
/// Every size is 4:2:0. Measured on luma SSIM as well as RGB SSIM, 4:4:4 buys colour detail
/// but needs more bytes than 4:2:0 for the same luma quality at every rendition size, 24 px
/// included (PERFORMANCE.md, "JPEG bytes"); RGB SSIM alone prefers it at any size, because
/// it counts chroma error as much as luma error.
#[must_use]
pub const fn rendition_encoder(quality: u8, side: u32, trellis: bool) -> Encoder {
    let steps = if trellis {
        &TRELLIS_QUALITY_STEPS
    } else {
        &RENDITION_QUALITY_STEPS
    };
    Encoder::new(rendition_quality(quality, side, steps))
        .with_tables(QuantTables::Rendition)
        .with_progressive(side >= PROGRESSIVE_FROM)
        .with_trellis(trellis)
}

/// The smallest rendition side written progressive: from there on the bands' end-of-band
/// runs save more than the extra scans' headers and tables cost; below, they do not
/// (PERFORMANCE.md, "JPEG bytes").
const PROGRESSIVE_FROM: u32 = 192;

/// How far below an Annex K quality the rendition tables' quality can go and stay at least
/// as good at quality 80, by the rendition's longer side (at least `.0` pixels): the flatter
/// tables spend more of their bytes where structural similarity looks, and the smaller the
/// rendition the more of it is edges and mid frequencies.
const RENDITION_QUALITY_STEPS: [(u32, u8); 4] = [(512, 8), (192, 9), (48, 13), (0, 14)];

/// `RENDITION_QUALITY_STEPS` for rate-distortion quantisation.
const TRELLIS_QUALITY_STEPS: [(u32, u8); 4] = [(512, 5), (192, 8), (48, 10), (0, 10)];

/// `quality` on Annex K's scale, moved to the rendition tables' scale for a rendition of
/// longer side `side` by `steps` (see `RENDITION_QUALITY_STEPS`). The qualities near 100
/// keep their meaning (both tables go to all ones).
const fn rendition_quality(quality: u8, side: u32, steps: &[(u32, u8); 4]) -> u8 {
    let quality = clamped_quality(quality);
    let mut index = 0;
    while side < steps[index].0 {
        index += 1;
    }
    let step = steps[index].1;
    // The steps were measured at quality 80; above 90 they close, so that 100 stays the
    // all-ones table on both scales.
    let step = if quality > 90 {
        (step as u32 * (100 - quality as u32) / 10) as u8
    } else {
        step
    };
    if quality > step { quality - step } else { 1 }
}

/// A quality on libjpeg's scale, 1..=100 (`Ord::clamp` is not `const`).
const fn clamped_quality(quality: u8) -> u8 {
    if quality == 0 {
        1
    } else if quality > 100 {
        100
    } else {
        quality
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
    sampling: Sampling,
    tables: QuantTables,
    progressive: bool,
    trellis: bool,
}

impl Encoder {
    /// An encoder at `quality` on libjpeg's scale, clamped to 1..=100, with 4:2:0 chroma.
    #[must_use]
    pub const fn new(quality: u8) -> Self {
        let quality = clamped_quality(quality);
        Self {
            quality,
            sampling: Sampling::Yuv420,
            tables: QuantTables::AnnexK,
            progressive: false,
            trellis: false,
        }
    }

    /// The same encoder choosing the quantised AC coefficients of each block for the
    /// fewest bits plus weighted error (`true`; rate-distortion or "trellis"
    /// quantisation, as mozjpeg does), rather than rounding each on its own (`false`).
    /// Fewer bytes at a like structural similarity, for some three times the encoding
    /// time (README, "JPEG effort").
    #[must_use]
    pub const fn with_trellis(self, trellis: bool) -> Self {
        Self { trellis, ..self }
    }

    /// Whether AC coefficients are quantised for rate and distortion (see
    /// [`Self::with_trellis`]).
    #[must_use]
    pub const fn trellis(&self) -> bool {
        self.trellis
    }

    /// The same encoder writing a progressive file (`true`: a DC scan, then AC bands by
    /// spectral selection, each scan with Huffman tables of its own) or a sequential one.
    /// A picture of more than 2.8 megapixels is written sequential whatever this says: the
    /// scans are written from its quantised blocks, which are kept only up to that size.
    #[must_use]
    pub const fn with_progressive(self, progressive: bool) -> Self {
        Self {
            progressive,
            ..self
        }
    }

    /// Whether the file is written progressive (see [`Self::with_progressive`]).
    #[must_use]
    pub const fn progressive(&self) -> bool {
        self.progressive
    }

    /// The same encoder scaling `tables` instead.
    #[must_use]
    pub const fn with_tables(self, tables: QuantTables) -> Self {
        Self { tables, ..self }
    }

    /// The quality, on the scale of [`Self::tables`].
    #[must_use]
    pub const fn quality(&self) -> u8 {
        self.quality
    }

    /// How chroma is sampled.
    #[must_use]
    pub const fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// The quantisation tables the quality scales.
    #[must_use]
    pub const fn tables(&self) -> QuantTables {
        self.tables
    }

    /// The same encoder with chroma sampled as `sampling`.
    #[must_use]
    pub const fn with_sampling(self, sampling: Sampling) -> Self {
        Self { sampling, ..self }
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
            return Ok(unsafe { encode_avx2(data, width, height, channels, self.settings()) });
        }
        Ok(encode_portable(
            data,
            width,
            height,
            channels,
            self.settings(),
        ))
    }

    const fn settings(self) -> Settings {
        Settings {
            quality: self.quality,
            sampling: self.sampling,
            tables: self.tables,
            entropy: FITTED,
            progressive: self.progressive,
            trellis: self.trellis,
        }
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
    settings: Settings,
) -> Vec<u8> {
    encode_portable(data, width, height, channels, settings)
}

/// The encoder for a channel count, in whatever instruction set its caller is compiled for
/// (inlined, so `encode_avx2` gets an AVX2 copy).
#[inline(always)]
fn encode_portable(
    data: &[u8],
    width: u16,
    height: u16,
    channels: usize,
    settings: Settings,
) -> Vec<u8> {
    match channels {
        4 => encode_with::<4>(data, width, height, settings),
        _ => encode_with::<3>(data, width, height, settings),
    }
}

/// Everything that decides the bytes besides the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    quality: u8,
    sampling: Sampling,
    tables: QuantTables,
    entropy: Entropy,
    progressive: bool,
    trellis: bool,
}

/// How a picture's blocks are entropy-coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entropy {
    /// With Huffman tables fitted to the picture: its blocks are quantised once, and kept
    /// (as i16) while the tables are built when there are at most `kept_blocks` of them,
    /// else quantised again to be coded (the same coefficients, so the same bytes).
    Fitted { kept_blocks: usize },
    /// With the T.81 Annex K tables, in one pass.
    #[cfg(test)]
    Standard,
}

/// Blocks kept between the passes: 8 MiB of coefficients, a 2.8-megapixel picture (every
/// rendition); a larger one is quantised twice rather than held.
const KEPT_BLOCKS: usize = 1 << 16;

/// The default: fitted tables.
const FITTED: Entropy = Entropy::Fitted {
    kept_blocks: KEPT_BLOCKS,
};

/// The component of the `index`-th block of a 4:2:0 MCU: four luma blocks, then Cb and Cr.
const MCU_COMPONENTS: [usize; 6] = [0, 0, 0, 0, 1, 2];

/// The component of the `index`-th block of a 4:4:4 MCU: one block of each.
const MCU_COMPONENTS_444: [usize; 3] = [0, 1, 2];

impl Sampling {
    /// The side of an MCU in pixels, and the component of each of its blocks in coding
    /// order.
    const fn mcu(self) -> (usize, &'static [usize]) {
        match self {
            Sampling::Yuv420 => (16, &MCU_COMPONENTS),
            Sampling::Yuv444 => (8, &MCU_COMPONENTS_444),
        }
    }
}

#[inline(always)]
fn encode_with<const CHANNELS: usize>(
    data: &[u8],
    width: u16,
    height: u16,
    settings: Settings,
) -> Vec<u8> {
    let Settings {
        quality,
        sampling,
        tables: quant_tables,
        entropy,
        progressive,
        trellis,
    } = settings;
    let (luma_base, chroma_base) = match quant_tables {
        QuantTables::AnnexK => (&LUMA_QUANT, &CHROMA_QUANT),
        QuantTables::Rendition => (&RENDITION_LUMA_QUANT, &RENDITION_CHROMA_QUANT),
    };
    let luma_table = tables::scaled_quant(luma_base, quality);
    let chroma_table = tables::scaled_quant(chroma_base, quality);
    let mut quantisers = [Quantiser::new(&luma_table), Quantiser::new(&chroma_table)];
    if trellis {
        quantisers = trellis_quantisers::<CHANNELS>(
            data,
            width,
            height,
            sampling,
            quantisers,
            [&luma_table, &chroma_table],
        );
    }
    // A q85 4:2:0 photo takes 1 to 1.3 bits per pixel; start there and let Vec grow if not.
    let estimate = usize::from(width) * usize::from(height) / 6 + 1024;
    let mut out = Vec::with_capacity(estimate);

    let kept_blocks = match entropy {
        Entropy::Fitted { kept_blocks } => kept_blocks,
        #[cfg(test)]
        Entropy::Standard => {
            write_headers(
                &mut out,
                width,
                height,
                sampling,
                &luma_table,
                &chroma_table,
                [LUMA_DC, LUMA_AC, CHROMA_DC, CHROMA_AC],
            );
            let codes = Codes::new([LUMA_DC, LUMA_AC, CHROMA_DC, CHROMA_AC]);
            let mut coder = Coder::new(out, &codes);
            each_block::<CHANNELS>(data, width, height, sampling, &quantisers, |c, block| {
                coder.code(c, block);
            });
            return coder.finish();
        }
    };

    // First pass: quantise, count the symbols each table codes, keep the coefficients.
    let (mcu_side, mcu_components) = sampling.mcu();
    let blocks = usize::from(width).div_ceil(mcu_side)
        * usize::from(height).div_ceil(mcu_side)
        * mcu_components.len();
    let keep = blocks <= kept_blocks;
    let progressive = progressive && keep;
    let mut kept: Vec<[i16; 64]> =
        Vec::with_capacity(if keep && !progressive { blocks } else { 0 });
    let mut gathered =
        progressive::Progressive::with_capacity(if progressive { blocks } else { 0 });
    let mut counts = SequentialCounts::new();
    each_block::<CHANNELS>(
        data,
        width,
        height,
        sampling,
        &quantisers,
        |component, block| {
            if progressive {
                gathered.add(component, block, &SCAN);
                return;
            }
            counts.add(component, block);
            if keep {
                // Quantised coefficients are within +-1023.
                kept.push(block.map(|c| c as i16));
            }
        },
    );
    if progressive {
        markers::write_frame(
            &mut out,
            width,
            height,
            sampling,
            &luma_table,
            &chroma_table,
            true,
        );
        let layout = progressive::Layout::new(width, height, sampling);
        return gathered.write(out, &SCAN, layout);
    }
    let fitted = counts.tables.each_ref().map(fitted::fit);
    let specs = fitted.each_ref().map(fitted::FittedTable::spec);
    write_headers(
        &mut out,
        width,
        height,
        sampling,
        &luma_table,
        &chroma_table,
        specs,
    );

    // Second pass: code the blocks with the fitted tables.
    let codes = Codes::new(specs);
    let mut coder = Coder::new(out, &codes);
    if keep {
        for mcu in kept.chunks_exact(mcu_components.len()) {
            for (&component, block) in mcu_components.iter().zip(mcu) {
                coder.code(component, &block.map(i32::from));
            }
        }
    } else {
        each_block::<CHANNELS>(data, width, height, sampling, &quantisers, |c, block| {
            coder.code(c, block);
        });
    }
    coder.finish()
}

/// `quantisers` with rate-distortion quantisation, its bits priced by the AC tables
/// fitted to the picture as `quantisers` round it (a pass of its own, counting only).
#[inline(always)]
fn trellis_quantisers<const CHANNELS: usize>(
    data: &[u8],
    width: u16,
    height: u16,
    sampling: Sampling,
    quantisers: [Quantiser; 2],
    tables: [&[u8; 64]; 2],
) -> [Quantiser; 2] {
    let mut counts = SequentialCounts::new();
    each_block::<CHANNELS>(data, width, height, sampling, &quantisers, |c, block| {
        counts.add(c, block);
    });
    let priced = |counts: &SymbolCounts, table, weight| {
        let codes = HuffmanCodes::new(&fitted::fit(counts).spec());
        trellis::Trellis::new(&codes, table, weight)
    };
    let [luma, chroma] = quantisers;
    let [luma_table, chroma_table] = tables;
    [
        luma.with_trellis(priced(&counts.tables[1], luma_table, trellis::LUMA_WEIGHT)),
        chroma.with_trellis(priced(
            &counts.tables[3],
            chroma_table,
            trellis::CHROMA_WEIGHT,
        )),
    ]
}

/// The blocks of the picture in coding order, for either sampling (see [`for_each_block`]
/// and [`for_each_block_444`]).
#[inline(always)]
fn each_block<const CHANNELS: usize>(
    data: &[u8],
    width: u16,
    height: u16,
    sampling: Sampling,
    quantisers: &[Quantiser; 2],
    visit: impl FnMut(usize, &[i32; 64]),
) {
    match sampling {
        Sampling::Yuv420 => for_each_block::<CHANNELS>(data, width, height, quantisers, visit),
        Sampling::Yuv444 => for_each_block_444::<CHANNELS>(data, width, height, quantisers, visit),
    }
}

/// Converts, transforms and quantises a 4:4:4 picture block row by block row, handing each
/// block to `visit` with its component, in coding order: per 8x8 MCU, Y, Cb, Cr.
#[inline(always)]
fn for_each_block_444<const CHANNELS: usize>(
    data: &[u8],
    width: u16,
    height: u16,
    quantisers: &[Quantiser; 2],
    mut visit: impl FnMut(usize, &[i32; 64]),
) {
    let [luma, chroma] = quantisers;
    let mut strip = FullStrip::new(usize::from(width));
    let rows = usize::from(height);
    for top in (0..rows).step_by(8) {
        strip.fill::<CHANNELS>(data, rows, top);
        for column in 0..strip.blocks {
            let x = column * 8;
            visit(0, &luma.quantise(&strip.block(0, x)));
            visit(1, &chroma.quantise(&strip.block(1, x)));
            visit(2, &chroma.quantise(&strip.block(2, x)));
        }
    }
}

/// Where a block's DC coefficient is stored.
const DC: usize = dct::ZIGZAG_AFTER_DCT[0];

/// Converts, transforms and quantises the picture macroblock by macroblock, handing each
/// block to `visit` with its component (0 luma, 1 Cb, 2 Cr), in the order they are coded:
/// per macroblock, four luma blocks then Cb then Cr.
///
/// A luma block wholly outside the picture (the right or bottom half of an edge macroblock,
/// when a side is 1 to 8 past a multiple of 16) is never shown: decoders crop it, and chroma
/// upsampling reads only chroma. Its content is free, so it gets the cheapest to code: the DC
/// of the block coded before it, and no AC.
#[inline(always)]
fn for_each_block<const CHANNELS: usize>(
    data: &[u8],
    width: u16,
    height: u16,
    quantisers: &[Quantiser; 2],
    mut visit: impl FnMut(usize, &[i32; 64]),
) {
    let [luma, chroma] = quantisers;
    let mut strip = Strip::new(usize::from(width));
    let rows = usize::from(height);
    let columns = usize::from(width);
    let mut previous_dc = 0;
    for top in (0..rows).step_by(16) {
        strip.fill::<CHANNELS>(data, rows, top);
        for column in 0..strip.macroblocks {
            let x = column * 16;
            for (dy, dx) in [(0, 0), (0, 8), (8, 0), (8, 8)] {
                let coefficients = if x + dx < columns && top + dy < rows {
                    luma.quantise(&strip.luma_block(x + dx, dy))
                } else {
                    let mut padding = [0; 64];
                    padding[DC] = previous_dc;
                    padding
                };
                previous_dc = coefficients[DC];
                visit(0, &coefficients);
            }
            for (plane, component) in [(&strip.blue, 1), (&strip.red, 2)] {
                let block = Strip::chroma_block(plane, strip.chroma_width, x / 2);
                visit(component, &chroma.quantise(&block));
            }
        }
    }
}

/// How many times a sequential scan codes each symbol of the four tables (luma DC and
/// AC, chroma DC and AC), with the components' DC predictors: what tables are fitted to.
struct SequentialCounts {
    tables: [SymbolCounts; 4],
    predictors: [i32; 3],
}

impl SequentialCounts {
    const fn new() -> Self {
        Self {
            tables: [const { SymbolCounts::new() }; 4],
            predictors: [0; 3],
        }
    }

    /// Counts the symbols of the next block, of `component`.
    #[inline(always)]
    fn add(&mut self, component: usize, block: &[i32; 64]) {
        let [luma_dc, luma_ac, chroma_dc, chroma_ac] = &mut self.tables;
        let (dc, ac) = if component == 0 {
            (luma_dc, luma_ac)
        } else {
            (chroma_dc, chroma_ac)
        };
        count_block(block, &SCAN, &mut self.predictors[component], dc, ac);
    }
}

/// The codes of the four tables: luma DC and AC, chroma DC and AC.
struct Codes {
    tables: [HuffmanCodes; 4],
}

impl Codes {
    fn new(specs: [HuffmanSpec<'_>; 4]) -> Self {
        Self {
            tables: specs.map(|spec| HuffmanCodes::new(&spec)),
        }
    }
}

/// The entropy-coded segment being written, with the three components' DC predictors.
struct Coder<'a> {
    writer: BitWriter,
    codes: &'a Codes,
    predictors: [i32; 3],
}

impl<'a> Coder<'a> {
    /// Appends to `out`, which holds the headers.
    fn new(out: Vec<u8>, codes: &'a Codes) -> Self {
        Self {
            writer: BitWriter::new(out),
            codes,
            predictors: [0; 3],
        }
    }

    /// Codes the next block, of `component`.
    #[inline(always)]
    fn code(&mut self, component: usize, block: &[i32; 64]) {
        let table = if component == 0 { 0 } else { 2 };
        encode_block(
            &mut self.writer,
            block,
            &SCAN,
            &mut self.predictors[component],
            &self.codes.tables[table],
            &self.codes.tables[table + 1],
        );
    }

    /// The whole file: the segment, padded, then EOI.
    fn finish(self) -> Vec<u8> {
        let mut out = self.writer.finish();
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &[u8], width: u16, height: u16, channels: usize, quality: u8) -> Vec<u8> {
        encode_sampled(data, width, height, channels, quality, Sampling::Yuv420)
    }

    fn encode_sampled(
        data: &[u8],
        width: u16,
        height: u16,
        channels: usize,
        quality: u8,
        sampling: Sampling,
    ) -> Vec<u8> {
        let color = if channels == 4 {
            ColorType::Rgba
        } else {
            ColorType::Rgb
        };
        Encoder::new(quality)
            .with_sampling(sampling)
            .encode(data, width, height, color)
            .unwrap()
    }

    const SAMPLINGS: [Sampling; 2] = [Sampling::Yuv420, Sampling::Yuv444];

    fn settings(quality: u8, sampling: Sampling, entropy: Entropy) -> Settings {
        Settings {
            quality,
            sampling,
            tables: QuantTables::AnnexK,
            entropy,
            progressive: false,
            trellis: false,
        }
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

    /// The same picture through jpeg-encoder, sampled the same way (chroma averaged, as ours).
    fn reference_sampled(
        source: &[u8],
        width: usize,
        height: usize,
        channels: usize,
        quality: u8,
        sampling: Sampling,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
        encoder.set_sampling_factor(match sampling {
            Sampling::Yuv420 => jpeg_encoder::SamplingFactor::R_4_2_0,
            Sampling::Yuv444 => jpeg_encoder::SamplingFactor::R_4_4_4,
        });
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
            for (channels, sampling) in [3, 4].into_iter().flat_map(|c| SAMPLINGS.map(|s| (c, s))) {
                let source = picture(width, height, channels);
                let (w16, h16) = (width as u16, height as u16);
                let jpeg = encode_sampled(&source, w16, h16, channels, 85, sampling);
                let (w, h, rgb) = decode_with_image(&jpeg);
                assert_eq!((w, h), (width as u32, height as u32));
                let ours = psnr(&source, channels, &rgb);
                let theirs = reference_sampled(&source, width, height, channels, 85, sampling);
                let theirs = psnr(&source, channels, &decode_with_image(&theirs).2);
                assert!(
                    ours > theirs - 0.5,
                    "{width}x{height} {sampling:?}: {ours:.1} dB vs {theirs:.1}"
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
        for (quality, sampling) in [50, 85, 95]
            .into_iter()
            .flat_map(|q| SAMPLINGS.map(|s| (q, s)))
        {
            let ours = encode_sampled(&source, width as u16, height as u16, 3, quality, sampling);
            let theirs = reference_sampled(&source, width, height, 3, quality, sampling);
            let our_psnr = psnr(&source, 3, &decode_with_image(&ours).2);
            let their_psnr = psnr(&source, 3, &decode_with_image(&theirs).2);
            assert!(
                our_psnr > their_psnr - 0.3,
                "q{quality} {sampling:?}: {our_psnr:.2} dB vs {their_psnr:.2} dB"
            );
            let ratio = ours.len() as f64 / theirs.len() as f64;
            assert!(
                ratio < 1.05,
                "q{quality} {sampling:?}: {} vs {} bytes",
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

        /// Any size and content, with or without rate-distortion quantisation: the file
        /// decodes to that size, the vector build writes exactly the bytes of the portable
        /// one, and the progressive file decodes to the sequential file's pixels.
        #[test]
        fn every_picture_decodes_and_every_cpu_writes_the_same_bytes(
            width in 1usize..48,
            height in 1usize..48,
            channels in 3usize..=4,
            quality in 1u8..=100,
            full_chroma in proptest::prelude::any::<bool>(),
            trellis in proptest::prelude::any::<bool>(),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let sampling = if full_chroma { Sampling::Yuv444 } else { Sampling::Yuv420 };
            let mut state = seed | 1;
            let source: Vec<u8> = (0..width * height * channels)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect();
            let (w16, h16) = (width as u16, height as u16);
            let color = if channels == 4 { ColorType::Rgba } else { ColorType::Rgb };
            let jpeg = Encoder::new(quality)
                .with_sampling(sampling)
                .with_trellis(trellis)
                .encode(&source, w16, h16, color)
                .unwrap();
            let (w, h, _) = decode_with_image(&jpeg);
            proptest::prop_assert_eq!((w, h), (width as u32, height as u32));
            let settings = Settings { trellis, ..settings(quality, sampling, FITTED) };
            let portable = encode_portable(&source, w16, h16, channels, settings);
            proptest::prop_assert!(portable == jpeg);
            let progressive = Settings { progressive: true, ..settings };
            let progressive = encode_portable(&source, w16, h16, channels, progressive);
            let decode = |jpeg: &[u8]| jpeg_decoder::Decoder::new(jpeg).decode().unwrap();
            proptest::prop_assert!(decode(&progressive) == decode(&jpeg), "progressive");
        }
    }

    /// Pictures to compare the fitted tables on: synthetic ones of many sizes, noise, a flat
    /// one, and two photos from testdata whole and cut to rendition sizes.
    fn assorted_pictures() -> Vec<(String, usize, usize, Vec<u8>)> {
        let mut pictures = Vec::new();
        for (width, height) in [
            (1, 1),
            (24, 24),
            (32, 32),
            (48, 48),
            (72, 72),
            (17, 33),
            (100, 3),
        ] {
            pictures.push((
                format!("synthetic {width}x{height}"),
                width,
                height,
                picture(width, height, 3),
            ));
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise = (0..40 * 40 * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        pictures.push(("noise 40x40".into(), 40, 40, noise));
        pictures.push(("flat 40x40".into(), 40, 40, vec![128; 40 * 40 * 3]));
        let inputs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/inputs");
        for name in ["sample.jpg", "square_300.jpg"] {
            let bytes = std::fs::read(inputs.join(name)).expect("testdata input");
            let (width, height, rgb) = decode_with_image(&bytes);
            let (width, height) = (width as usize, height as usize);
            for side in [24, 48, 192] {
                let cut: Vec<u8> = (0..side)
                    .flat_map(|y| &rgb[y * width * 3..][..side * 3])
                    .copied()
                    .collect();
                pictures.push((format!("{name} cut to {side}"), side, side, cut));
            }
            pictures.push((name.to_string(), width, height, rgb));
        }
        pictures
    }

    /// The lengths of every DHT table in `jpeg`: (class and id, codes per length 1..=16).
    fn huffman_tables(jpeg: &[u8]) -> Vec<(u8, [u8; 16])> {
        let mut tables = Vec::new();
        let mut at = 2;
        while jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
            let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
            if jpeg[at + 1] == 0xC4 {
                let mut table = &jpeg[at + 4..at + 2 + length];
                while !table.is_empty() {
                    let counts: [u8; 16] = table[1..17].try_into().unwrap();
                    let symbols: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    tables.push((table[0], counts));
                    table = &table[17 + symbols..];
                }
            }
            at += 2 + length;
        }
        tables
    }

    #[test]
    fn fitted_tables_code_the_same_pixels_in_no_more_bytes() {
        for ((name, width, height, source), sampling) in assorted_pictures()
            .into_iter()
            .flat_map(|p| SAMPLINGS.map(|s| (p.clone(), s)))
        {
            let name = format!("{name} {sampling:?}");
            let (w, h) = (width as u16, height as u16);
            let standard =
                encode_with::<3>(&source, w, h, settings(85, sampling, Entropy::Standard));
            let fitted = encode_sampled(&source, w, h, 3, 85, sampling);
            // Huffman coding is lossless: both decoders see the same coefficients.
            assert_eq!(
                decode_with_image(&fitted),
                decode_with_image(&standard),
                "{name}: image (zune-jpeg)"
            );
            let decode = |jpeg: &[u8]| jpeg_decoder::Decoder::new(jpeg).decode().unwrap();
            assert_eq!(decode(&fitted), decode(&standard), "{name}: jpeg-decoder");
            assert!(
                fitted.len() <= standard.len(),
                "{name}: {} bytes fitted, {} with Annex K tables",
                fitted.len(),
                standard.len()
            );

            let tables = huffman_tables(&fitted);
            let mut ids: Vec<u8> = tables.iter().map(|&(id, _)| id).collect();
            ids.sort_unstable();
            assert_eq!(ids, [0x00, 0x01, 0x10, 0x11], "{name}");
            for (id, counts) in tables {
                // Lengths are 1..=16 by the DHT layout; a Kraft sum below 1 leaves the
                // all-ones code of the longest length unused.
                let kraft: u32 = (0..16).map(|l| u32::from(counts[l]) << (15 - l)).sum();
                assert!(kraft < 1 << 16, "{name}: table {id:#04x} uses every code");
            }
        }
    }

    #[test]
    fn photos_take_fewer_bytes_with_fitted_tables() {
        let (mut fitted, mut standard) = (0, 0);
        for (_, width, height, source) in assorted_pictures() {
            let (w, h) = (width as u16, height as u16);
            standard += encode_with::<3>(
                &source,
                w,
                h,
                settings(85, Sampling::Yuv420, Entropy::Standard),
            )
            .len();
            fitted += encode(&source, w, h, 3, 85).len();
        }
        assert!(
            fitted * 100 < standard * 95,
            "{fitted} bytes fitted, {standard} with Annex K tables"
        );
    }

    /// The markers of `jpeg`'s segments up to EOI, scan data skipped.
    fn markers(jpeg: &[u8]) -> Vec<u8> {
        let mut found = Vec::new();
        let mut at = 2;
        while at + 1 < jpeg.len() {
            let marker = jpeg[at + 1];
            found.push(marker);
            if marker == 0xD9 {
                break;
            }
            let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
            at += 2 + length;
            if marker == 0xDA {
                // Entropy-coded data runs to the next 0xFF not followed by a stuffed 0x00.
                while !(jpeg[at] == 0xFF && jpeg[at + 1] != 0x00) {
                    at += 1;
                }
            }
        }
        found
    }

    #[test]
    fn progressive_files_decode_to_the_pixels_of_sequential_ones() {
        let mut checked_djpeg = false;
        for (width, height) in [(1, 1), (17, 9), (33, 65), (200, 120), (257, 31), (8, 300)] {
            for sampling in SAMPLINGS {
                let source = picture(width, height, 3);
                let (w, h) = (width as u16, height as u16);
                let encoder = Encoder::new(80).with_sampling(sampling);
                let sequential = encoder.encode(&source, w, h, ColorType::Rgb).unwrap();
                let progressive = encoder
                    .with_progressive(true)
                    .encode(&source, w, h, ColorType::Rgb)
                    .unwrap();
                let found = markers(&progressive);
                assert!(found.contains(&0xC2) && !found.contains(&0xC0));
                // The DC scan, three luma bands and one band of each chroma component.
                assert_eq!(found.iter().filter(|&&m| m == 0xDA).count(), 6);
                assert_eq!(found.last(), Some(&0xD9));
                let zune = |jpeg: &[u8]| decode_with_image(jpeg);
                assert!(zune(&progressive) == zune(&sequential), "{width}x{height}");
                let other = |jpeg: &[u8]| jpeg_decoder::Decoder::new(jpeg).decode().unwrap();
                assert!(
                    other(&progressive) == other(&sequential),
                    "{width}x{height}"
                );
                if let (Some(a), Some(b)) = (djpeg(&progressive), djpeg(&sequential)) {
                    assert!(a == b, "djpeg, {width}x{height}");
                    checked_djpeg = true;
                }
            }
        }
        if !checked_djpeg {
            eprintln!("djpeg not found: progressive files checked against two decoders");
        }
    }

    #[test]
    fn end_of_band_runs_longer_than_one_symbol_codes_are_split() {
        // 36 864 luma blocks with no AC: more than the 32 767 one end-of-band run codes.
        let side = 1536;
        let grey = vec![90; side * side * 3];
        let encoder = Encoder::new(85).with_progressive(true);
        let jpeg = encoder
            .encode(&grey, side as u16, side as u16, ColorType::Rgb)
            .unwrap();
        assert!(markers(&jpeg).contains(&0xC2));
        let decoded = jpeg_decoder::Decoder::new(jpeg.as_slice())
            .decode()
            .unwrap();
        assert!(decoded.iter().all(|&v| v == 90));
        let (_, _, zune) = decode_with_image(&jpeg);
        assert!(zune.iter().all(|&v| v == 90));
    }

    #[test]
    fn rendition_sized_photos_take_fewer_bytes_progressive() {
        let inputs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/inputs");
        let (mut sequential, mut progressive) = (0, 0);
        for name in ["sample.jpg", "square_300.jpg"] {
            let bytes = std::fs::read(inputs.join(name)).expect("testdata input");
            let (width, height, rgb) = decode_with_image(&bytes);
            let side = width.min(height) as usize;
            assert!(
                side >= PROGRESSIVE_FROM as usize,
                "{name} is {width}x{height}"
            );
            let square: Vec<u8> = (0..side)
                .flat_map(|y| &rgb[y * width as usize * 3..][..side * 3])
                .copied()
                .collect();
            let encoder = rendition_encoder(85, side as u32, false);
            assert!(encoder.progressive());
            let encode = |encoder: Encoder| {
                let s = side as u16;
                encoder.encode(&square, s, s, ColorType::Rgb).unwrap().len()
            };
            progressive += encode(encoder);
            sequential += encode(encoder.with_progressive(false));
        }
        assert!(
            progressive * 100 < sequential * 99,
            "{progressive} bytes progressive, {sequential} sequential"
        );
        assert!(!rendition_encoder(85, PROGRESSIVE_FROM - 1, false).progressive());
    }

    #[test]
    fn rate_distortion_quantisation_takes_fewer_bytes_for_a_little_error() {
        let inputs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/inputs");
        for name in ["sample.jpg", "square_300.jpg"] {
            let bytes = std::fs::read(inputs.join(name)).expect("testdata input");
            let (width, height, rgb) = decode_with_image(&bytes);
            let side = width.min(height) as usize;
            let square: Vec<u8> = (0..side)
                .flat_map(|y| &rgb[y * width as usize * 3..][..side * 3])
                .copied()
                .collect();
            for progressive in [false, true] {
                let encoder = Encoder::new(80)
                    .with_tables(QuantTables::Rendition)
                    .with_progressive(progressive);
                let s = side as u16;
                let rounded = encoder.encode(&square, s, s, ColorType::Rgb).unwrap();
                let chosen = encoder
                    .with_trellis(true)
                    .encode(&square, s, s, ColorType::Rgb)
                    .unwrap();
                let error = |jpeg: &[u8]| psnr(&square, 3, &decode_with_image(jpeg).2);
                let (fewer, lost) = (
                    chosen.len() as f64 / rounded.len() as f64,
                    error(&rounded) - error(&chosen),
                );
                assert!(
                    fewer < 0.97 && lost < 0.4,
                    "{name}, progressive {progressive}: {fewer:.3} of the bytes, {lost:.3} dB lost"
                );
            }
        }
    }

    #[test]
    fn rendition_qualities_keep_their_order_and_their_ends() {
        for steps in [&RENDITION_QUALITY_STEPS, &TRELLIS_QUALITY_STEPS] {
            for side in [1, 24, 32, 47, 48, 72, 191, 192, 511, 512, 1024, 4096] {
                let mut previous = 0;
                for quality in 0..=255u8 {
                    let moved = rendition_quality(quality, side, steps);
                    assert!(
                        (1..=100).contains(&moved),
                        "q{quality} at {side} px: {moved}"
                    );
                    assert!(
                        moved >= previous,
                        "q{quality} at {side} px: {moved} < {previous}"
                    );
                    assert!(moved <= quality.max(1), "q{quality} at {side} px: {moved}");
                    previous = moved;
                }
                assert_eq!(rendition_quality(100, side, steps), 100);
            }
        }
        for side in [24, 1024] {
            for trellis in [false, true] {
                let encoder = rendition_encoder(85, side, trellis);
                assert_eq!(encoder.tables(), QuantTables::Rendition);
                assert_eq!(encoder.sampling(), Sampling::Yuv420);
                assert_eq!(encoder.trellis(), trellis);
            }
            // Rate-distortion quantisation gives up quality at a setting, so it is set
            // no coarser than rounding.
            assert!(
                rendition_encoder(85, side, true).quality()
                    >= rendition_encoder(85, side, false).quality()
            );
        }
    }

    #[test]
    fn rendition_tables_are_written_decoded_and_cheaper_at_a_like_error() {
        let (mut annex_bytes, mut rendition_bytes) = (0, 0);
        for (name, width, height, source) in assorted_pictures() {
            let (w, h) = (width as u16, height as u16);
            let annex = Encoder::new(85)
                .encode(&source, w, h, ColorType::Rgb)
                .unwrap();
            let rendition = rendition_encoder(85, u32::from(w.max(h)), false)
                .encode(&source, w, h, ColorType::Rgb)
                .unwrap();
            let quality = rendition_quality(85, u32::from(w.max(h)), &RENDITION_QUALITY_STEPS);
            assert_eq!(
                declared_quant_tables(&rendition),
                Some([
                    tables::scaled_quant(&RENDITION_LUMA_QUANT, quality),
                    tables::scaled_quant(&RENDITION_CHROMA_QUANT, quality),
                ]),
                "{name}"
            );
            let (dw, dh, decoded) = decode_with_image(&rendition);
            assert_eq!((dw, dh), (u32::from(w), u32::from(h)), "{name}");
            let (_, _, annex_decoded) = decode_with_image(&annex);
            let (ours, theirs) = (psnr(&source, 3, &decoded), psnr(&source, 3, &annex_decoded));
            // The tables trade a little squared error for structure, which PSNR does not see;
            // where PSNR is high that trade is invisible.
            assert!(
                ours > theirs - 1.0 || ours > 38.0,
                "{name}: {ours:.2} dB against {theirs:.2}"
            );
            annex_bytes += annex.len();
            rendition_bytes += rendition.len();
        }
        assert!(
            rendition_bytes < annex_bytes,
            "{rendition_bytes} bytes on the rendition tables, {annex_bytes} on Annex K's"
        );
    }

    #[test]
    fn kept_and_requantised_blocks_give_the_same_bytes() {
        for (name, width, height, source) in assorted_pictures().into_iter().step_by(2) {
            let (w, h) = (width as u16, height as u16);
            for sampling in SAMPLINGS {
                let kept = encode_with::<3>(&source, w, h, settings(85, sampling, FITTED));
                let requantised = Entropy::Fitted { kept_blocks: 0 };
                let again = encode_with::<3>(&source, w, h, settings(85, sampling, requantised));
                assert!(kept == again, "{name} {sampling:?}");
            }
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

    /// A small picture with one-pixel colour detail: red and blue stripes and a green dot
    /// grid on grey, the kind of edge a 24 px avatar is made of.
    fn colour_detail(side: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(side * side * 3);
        for y in 0..side {
            for x in 0..side {
                let pixel = match (x % 3, y % 4) {
                    (0, _) => [200, 30, 40],
                    (_, 0) => [30, 60, 210],
                    (1, 2) => [40, 190, 60],
                    _ => [120, 120, 120],
                };
                data.extend_from_slice(&pixel);
            }
        }
        data
    }

    #[test]
    fn full_chroma_keeps_one_pixel_colour_detail_that_averaging_loses() {
        for side in [24, 48] {
            let source = colour_detail(side);
            let s = side as u16;
            let averaged = encode_sampled(&source, s, s, 3, 85, Sampling::Yuv420);
            let full = encode_sampled(&source, s, s, 3, 85, Sampling::Yuv444);
            let averaged_psnr = psnr(&source, 3, &decode_with_image(&averaged).2);
            let full_psnr = psnr(&source, 3, &decode_with_image(&full).2);
            assert!(
                full_psnr > averaged_psnr + 3.0,
                "{side}: 4:4:4 {full_psnr:.1} dB, 4:2:0 {averaged_psnr:.1} dB"
            );
        }
    }

    /// djpeg (libjpeg-turbo) reads a file like the two Rust decoders; where it is not
    /// installed the test says so and checks the two.
    fn djpeg(jpeg: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("djpeg")
            .args(["-pnm", "-dct", "float", "-nosmooth"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(jpeg).ok()?;
        let output = child.wait_with_output().ok()?;
        // A binary PPM: "P6\n<w> <h>\n255\n", then the pixels.
        let mut fields = 0;
        let start = output.stdout.iter().position(|&b| {
            fields += usize::from(b == b'\n');
            fields == 3
        })?;
        Some(output.stdout[start + 1..].to_vec())
    }

    #[test]
    fn full_chroma_files_decode_alike_in_three_decoders() {
        let mut checked_djpeg = false;
        for (name, width, height, source) in assorted_pictures() {
            let (w, h) = (width as u16, height as u16);
            let jpeg = encode_sampled(&source, w, h, 3, 85, Sampling::Yuv444);
            assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
            let zune = decode_with_image(&jpeg).2;
            let other = jpeg_decoder::Decoder::new(jpeg.as_slice())
                .decode()
                .unwrap();
            let mut decoders = vec![("jpeg-decoder", other)];
            if let Some(pixels) = djpeg(&jpeg) {
                decoders.push(("djpeg", pixels));
                checked_djpeg = true;
            }
            for (decoder, pixels) in decoders {
                assert_eq!(pixels.len(), zune.len(), "{name}: {decoder}");
                // No upsampling to differ in: only the inverse DCTs' rounding, a level or
                // two on average and a few at worst (a wrong sampling factor or block order
                // is tens).
                let differences = zune.iter().zip(&pixels).map(|(a, b)| a.abs_diff(*b));
                let worst = differences.clone().max().unwrap_or(0);
                let mean = differences.map(f64::from).sum::<f64>() / zune.len() as f64;
                assert!(
                    worst <= 4 && mean < 0.6,
                    "{name}: {decoder} differs by {mean:.2} on average, {worst} at worst"
                );
            }
            // Noise is all high frequencies: quality 85 quantises much of it away.
            let floor = if name.starts_with("noise") {
                15.0
            } else {
                28.0
            };
            let decoded_psnr = psnr(&source, 3, &zune);
            assert!(decoded_psnr > floor, "{name}: {decoded_psnr:.1} dB");
        }
        if !checked_djpeg {
            eprintln!("djpeg is not installed: checked zune-jpeg against jpeg-decoder only");
        }
    }

    /// `period` bytes of xorshift noise repeated over a picture: saturated colour detail at
    /// every frequency, the fuzzer's favourite input.
    fn repeated_noise(period: usize, len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        let pattern: Vec<u8> = (0..period)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        pattern.iter().copied().cycle().take(len).collect()
    }

    /// On colour noise our 4:2:0 file scores what jpeg-encoder's does when it averages
    /// chroma over 2x2 pixels as we do (and libjpeg does); its default keeps the top-left
    /// pixel's chroma instead, which on saturated patterns can score higher RGB PSNR (the
    /// three pixels it does not sample come out of gamut and clipping takes part of their
    /// error away) or lower. A transform, rounding or table defect would show here.
    #[test]
    fn colour_noise_scores_what_an_averaging_reference_encoder_scores() {
        let (width, height) = (120, 101);
        for (period, quality) in [6, 12, 24, 31, 720, 36_363]
            .into_iter()
            .flat_map(|p| [56, 85].map(|q| (p, q)))
        {
            let source = repeated_noise(period, width * height * 3, period as u64);
            let (w, h) = (width as u16, height as u16);
            let decode = |jpeg: &[u8]| jpeg_decoder::Decoder::new(jpeg).decode().unwrap();
            let ours = encode(&source, w, h, 3, quality);
            let mut theirs = Vec::new();
            let mut reference = jpeg_encoder::Encoder::new(&mut theirs, quality);
            reference.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            reference.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
            reference
                .encode(&source, w, h, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            let our_psnr = psnr(&source, 3, &decode(&ours));
            let their_psnr = psnr(&source, 3, &decode(&theirs));
            assert!(
                (our_psnr - their_psnr).abs() < 0.25,
                "period {period} q{quality}: {our_psnr:.2} dB against {their_psnr:.2}"
            );
            let full = encode_sampled(&source, w, h, 3, quality, Sampling::Yuv444);
            let full_psnr = psnr(&source, 3, &decode(&full));
            assert!(
                full_psnr > our_psnr + 4.0,
                "period {period} q{quality}: 4:4:4 {full_psnr:.2} dB, 4:2:0 {our_psnr:.2}"
            );
        }
    }
}
