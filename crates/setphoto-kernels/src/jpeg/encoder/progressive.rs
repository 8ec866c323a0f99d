//! Progressive output by spectral selection: the kept blocks written again as a DC scan of
//! every component followed by scans of AC bands, one component each (T.81 G.1.2.1), with
//! no successive approximation.
//!
//! What a band scan buys is the end-of-band run: a run of blocks with nothing left in the
//! band costs one symbol (and up to 14 bits), where a sequential scan pays an end-of-block
//! code in each of them. Every scan has its own Huffman table, fitted to its symbols.
//!
//! The bands were chosen on rendition-sized photos by rewriting our files with
//! `jpegtran -scans` (PERFORMANCE.md, "JPEG bytes"): three luma bands and chroma whole, which
//! came out smaller than libjpeg's default script with successive approximation.

use super::Sampling;
use super::fitted;
use super::huffman::{BitWriter, HuffmanCodes, Scan, SymbolCounts, category};
use super::markers;

/// The luma AC bands, in zig-zag indices (first, last), each written as one scan.
const LUMA_BANDS: [(usize, usize); 3] = [(1, 2), (3, 9), (10, 63)];

/// The chroma AC bands: each chroma component in one scan.
const CHROMA_BANDS: [(usize, usize); 1] = [(1, 63)];

/// The longest end-of-band run one symbol codes (T.81 G.1.2.2: EOB14 with 14 extra bits).
const LONGEST_RUN: u32 = 0x7FFF;

/// Where each component's blocks lie among the kept blocks, which are in the order of the
/// sequential scan: per MCU, the luma blocks, then Cb, then Cr.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    sampling: Sampling,
    /// MCUs across the picture.
    mcus_across: usize,
    /// Luma blocks across and down that a non-interleaved scan codes: the picture's, not
    /// the MCUs' (T.81 A.2.2).
    luma_blocks: (usize, usize),
}

impl Layout {
    /// The layout of a `width` x `height` picture sampled as `sampling`.
    pub(super) fn new(width: u16, height: u16, sampling: Sampling) -> Self {
        let mcu_side = match sampling {
            Sampling::Yuv420 => 16,
            Sampling::Yuv444 => 8,
        };
        Self {
            sampling,
            mcus_across: usize::from(width).div_ceil(mcu_side),
            luma_blocks: (
                usize::from(width).div_ceil(8),
                usize::from(height).div_ceil(8),
            ),
        }
    }

    /// Blocks per MCU.
    fn per_mcu(&self) -> usize {
        match self.sampling {
            Sampling::Yuv420 => 6,
            Sampling::Yuv444 => 3,
        }
    }

    /// The kept index of every block a non-interleaved scan of `component` codes, in its
    /// order: the component's blocks left to right, top to bottom.
    fn blocks(&self, component: usize, mcus: usize) -> impl Iterator<Item = usize> + '_ {
        let per_mcu = self.per_mcu();
        let (across, down) = match (component, self.sampling) {
            (0, _) => self.luma_blocks,
            (_, Sampling::Yuv444) => self.luma_blocks,
            // Chroma at half resolution: one block per MCU.
            (_, Sampling::Yuv420) => (self.mcus_across, mcus / self.mcus_across),
        };
        (0..down).flat_map(move |y| {
            (0..across).map(move |x| match (component, self.sampling) {
                (0, Sampling::Yuv420) => {
                    let mcu = y / 2 * self.mcus_across + x / 2;
                    mcu * per_mcu + y % 2 * 2 + x % 2
                }
                (_, Sampling::Yuv420) => (y * across + x) * per_mcu + 3 + component,
                (_, Sampling::Yuv444) => (y * across + x) * per_mcu + component,
            })
        })
    }

    /// The component of the `index`-th block of an MCU.
    fn component_in_mcu(&self, index: usize) -> usize {
        match self.sampling {
            Sampling::Yuv420 => index.saturating_sub(3),
            Sampling::Yuv444 => index,
        }
    }
}

/// Where the symbols of a scan go: counted, to fit its tables, or coded.
trait Symbols {
    /// One symbol of table `table` followed by the low `extra_bits` bits of `extra`.
    fn put(&mut self, table: usize, symbol: u32, extra: u32, extra_bits: u32);
}

impl Symbols for [SymbolCounts] {
    #[inline(always)]
    fn put(&mut self, table: usize, symbol: u32, _extra: u32, _extra_bits: u32) {
        self[table].add(symbol as usize);
    }
}

/// A writer and the tables it codes with.
struct Coding<'a> {
    writer: BitWriter,
    codes: &'a [HuffmanCodes],
}

impl Symbols for Coding<'_> {
    #[inline(always)]
    fn put(&mut self, table: usize, symbol: u32, extra: u32, extra_bits: u32) {
        self.writer
            .put_symbol(&self.codes[table], symbol, extra, extra_bits);
    }
}

/// Appends the scans of `kept` (blocks stored in `scan`'s order, laid out as `layout` says)
/// to `out`, which holds the headers up to the frame, and then EOI.
pub(super) fn write_scans(
    mut out: Vec<u8>,
    kept: &[[i16; 64]],
    scan: &Scan,
    layout: Layout,
) -> Vec<u8> {
    let mcus = kept.len() / layout.per_mcu();

    // The DC scan, interleaved as the sequential scan is: luma table 0, chroma table 1.
    let mut counts = [SymbolCounts::new(), SymbolCounts::new()];
    dc_scan(kept, scan, layout, &mut counts[..]);
    let fitted = counts.each_ref().map(fitted::fit);
    markers::write_huffman(
        &mut out,
        &[(0x00, fitted[0].spec()), (0x01, fitted[1].spec())],
    );
    markers::write_scan_header(&mut out, &[(1, 0x00), (2, 0x11), (3, 0x11)], (0, 0));
    let codes = fitted
        .each_ref()
        .map(|table| HuffmanCodes::new(&table.spec()));
    let mut coding = Coding {
        writer: BitWriter::new(out),
        codes: &codes,
    };
    dc_scan(kept, scan, layout, &mut coding);
    out = coding.writer.finish();

    // One scan per band and component, each with an AC table (id 0) of its own.
    for component in 0..3 {
        let bands: &[(usize, usize)] = if component == 0 {
            &LUMA_BANDS
        } else {
            &CHROMA_BANDS
        };
        for &band in bands {
            let blocks = || layout.blocks(component, mcus).map(|index| &kept[index]);
            let mut counts = [SymbolCounts::new()];
            band_scan(blocks(), scan, band, &mut counts[..]);
            let table = fitted::fit(&counts[0]);
            markers::write_huffman(&mut out, &[(0x10, table.spec())]);
            let id = component as u8 + 1;
            markers::write_scan_header(&mut out, &[(id, 0x00)], (band.0 as u8, band.1 as u8));
            let codes = [HuffmanCodes::new(&table.spec())];
            let mut coding = Coding {
                writer: BitWriter::new(out),
                codes: &codes,
            };
            band_scan(blocks(), scan, band, &mut coding);
            out = coding.writer.finish();
        }
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// The DC scan: every block in MCU order, its DC coefficient coded as the difference from
/// the previous one of its component, with table 0 for luma and 1 for chroma.
fn dc_scan<S: Symbols + ?Sized>(kept: &[[i16; 64]], scan: &Scan, layout: Layout, symbols: &mut S) {
    let dc = scan.stored(0);
    let mut predictors = [0i32; 3];
    for mcu in kept.chunks_exact(layout.per_mcu()) {
        for (index, block) in mcu.iter().enumerate() {
            let component = layout.component_in_mcu(index);
            let value = i32::from(block[dc]);
            let (size, bits) = category(value - predictors[component]);
            predictors[component] = value;
            symbols.put(usize::from(component > 0), size, bits, size);
        }
    }
}

/// A scan of the AC band `first..=last` over `blocks` (T.81 G.1.2.2): in each block, runs
/// of zeros and the coefficient ending each, as in a sequential scan; a block whose band
/// ends in zeros adds one to the end-of-band run, coded (as EOBn, `n` extra bits) before
/// the next coefficient, when it reaches the longest run, and at the end of the scan.
fn band_scan<'a, S: Symbols + ?Sized>(
    blocks: impl Iterator<Item = &'a [i16; 64]>,
    scan: &Scan,
    (first, last): (usize, usize),
    symbols: &mut S,
) {
    let mut end_run = 0u32;
    for block in blocks {
        let mut zeros = 0u32;
        for k in first..=last {
            let value = i32::from(block[scan.stored(k)]);
            if value == 0 {
                zeros += 1;
                continue;
            }
            if end_run > 0 {
                put_end_run(symbols, end_run);
                end_run = 0;
            }
            while zeros >= 16 {
                symbols.put(0, 0xF0, 0, 0);
                zeros -= 16;
            }
            let (size, bits) = category(value);
            symbols.put(0, zeros << 4 | size, bits, size);
            zeros = 0;
        }
        if zeros > 0 {
            end_run += 1;
            if end_run == LONGEST_RUN {
                put_end_run(symbols, end_run);
                end_run = 0;
            }
        }
    }
    if end_run > 0 {
        put_end_run(symbols, end_run);
    }
}

/// An end-of-band run of `run` blocks (1..=0x7FFF): EOBn, `n` the run's bit length less
/// one, then the run's `n` low bits.
fn put_end_run<S: Symbols + ?Sized>(symbols: &mut S, run: u32) {
    let n = 31 - run.leading_zeros();
    symbols.put(0, n << 4, run & ((1 << n) - 1), n);
}
