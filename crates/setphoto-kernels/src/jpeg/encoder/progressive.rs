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
use super::huffman::{BitWriter, BlockWriter, HuffmanCodes, Scan, SymbolCounts, category};
use super::markers;

/// The AC scans after the DC scan: a component and the zig-zag band (first, last) each
/// codes. Luma in three bands, each chroma component whole.
const AC_SCANS: [(usize, (u32, u32)); 5] = [
    (0, (1, 2)),
    (0, (3, 9)),
    (0, (10, 63)),
    (1, (1, 63)),
    (2, (1, 63)),
];

/// The longest end-of-band run one symbol codes (T.81 G.1.2.2: EOB14 with 14 extra bits).
const LONGEST_RUN: u32 = 0x7FFF;

/// Where each component's blocks lie among the kept blocks, which are in the order of the
/// sequential scan: per MCU, the luma blocks, then Cb, then Cr.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    sampling: Sampling,
    /// The component of each block of an MCU, in coding order.
    mcu_components: &'static [usize],
    /// MCUs across the picture.
    mcus_across: usize,
    /// Luma blocks across and down that a non-interleaved scan codes: the picture's, not
    /// the MCUs' (T.81 A.2.2).
    luma_blocks: (usize, usize),
}

impl Layout {
    /// The layout of a `width` x `height` picture sampled as `sampling`.
    pub(super) fn new(width: u16, height: u16, sampling: Sampling) -> Self {
        let (mcu_side, mcu_components) = sampling.mcu();
        Self {
            sampling,
            mcu_components,
            mcus_across: usize::from(width).div_ceil(mcu_side),
            luma_blocks: (
                usize::from(width).div_ceil(8),
                usize::from(height).div_ceil(8),
            ),
        }
    }

    /// Blocks per MCU.
    fn per_mcu(&self) -> usize {
        self.mcu_components.len()
    }

    /// The kept index of every block a non-interleaved scan of `component` codes, in its
    /// order: the component's blocks left to right, top to bottom.
    fn blocks(&self, component: usize, mcus: usize) -> impl Iterator<Item = usize> + '_ {
        let per_mcu = self.per_mcu();
        let (across, down) = match (component, self.sampling) {
            (0, _) | (_, Sampling::Yuv444) => self.luma_blocks,
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
        self.mcu_components[index]
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

/// One block being written, and the tables it codes with.
struct Coding<'a> {
    writer: BlockWriter<'a>,
    codes: &'a [HuffmanCodes],
}

impl Symbols for Coding<'_> {
    #[inline(always)]
    fn put(&mut self, table: usize, symbol: u32, extra: u32, extra_bits: u32) {
        self.writer
            .put(&self.codes[table], symbol, extra, extra_bits);
    }
}

/// A picture's quantised blocks on their way to a progressive file: gathered block by
/// block as the sequential encoder quantises them, then written scan by scan.
///
/// While a block is at hand the symbols that depend on it alone are counted: its DC
/// difference (the DC scan is in the order blocks are quantised) and the runs and values
/// inside each band. The end-of-band runs depend on the order of a band scan, which for
/// 4:2:0 luma is not the quantising order; they are counted from the blocks' nonzero masks
/// when the file is written.
pub(super) struct Progressive {
    /// The blocks, stored in the quantiser's order.
    kept: Vec<[i16; 64]>,
    /// Each block's nonzero coefficients, a bit each in zig-zag order.
    nonzero: Vec<u64>,
    /// The DC scan's symbols: luma, chroma.
    dc_counts: [SymbolCounts; 2],
    predictors: [i32; 3],
    /// Each AC scan's symbols so far.
    ac_counts: [SymbolCounts; AC_SCANS.len()],
}

impl Progressive {
    /// Room for `blocks` blocks.
    pub(super) fn with_capacity(blocks: usize) -> Self {
        Self {
            kept: Vec::with_capacity(blocks),
            nonzero: Vec::with_capacity(blocks),
            dc_counts: [const { SymbolCounts::new() }; 2],
            predictors: [0; 3],
            ac_counts: [const { SymbolCounts::new() }; AC_SCANS.len()],
        }
    }

    /// The next block in coding order, of `component`, stored in `scan`'s order.
    #[inline(always)]
    pub(super) fn add(&mut self, component: usize, block: &[i32; 64], scan: &Scan) {
        let nonzero = scan.nonzero(block);
        put_dc(
            block[scan.stored(0)],
            component,
            &mut self.predictors,
            &mut self.dc_counts[..],
        );
        for (&(scan_component, band), counts) in AC_SCANS.iter().zip(&mut self.ac_counts) {
            if scan_component == component {
                let value = |k| block[scan.stored(k)];
                BandScan::new(band).coefficients(nonzero, value, std::slice::from_mut(counts));
            }
        }
        self.nonzero.push(nonzero);
        // Quantised coefficients are within +-1023.
        self.kept.push(block.map(|c| c as i16));
    }

    /// Appends the scans to `out`, which holds the headers up to the frame, and then EOI.
    /// Inlined, so that `encode_avx2`'s copy is compiled with BMI2 and LZCNT.
    #[inline(always)]
    pub(super) fn write(self, mut out: Vec<u8>, scan: &Scan, layout: Layout) -> Vec<u8> {
        let Self {
            kept,
            nonzero,
            dc_counts,
            mut ac_counts,
            ..
        } = self;
        let mcus = kept.len() / layout.per_mcu();

        // The DC scan, interleaved as the sequential scan is: luma table 0, chroma table 1.
        let fitted = dc_counts.each_ref().map(fitted::fit);
        let tables = [(0x00, fitted[0].spec()), (0x01, fitted[1].spec())];
        markers::write_huffman(&mut out, &tables);
        markers::write_scan_header(&mut out, &[(1, 0x00), (2, 0x11), (3, 0x11)], (0, 0));
        let codes = fitted
            .each_ref()
            .map(|table| HuffmanCodes::new(&table.spec()));
        let mut writer = BitWriter::new(out);
        let mut predictors = [0; 3];
        for mcu in kept.chunks_exact(layout.per_mcu()) {
            for (index, block) in mcu.iter().enumerate() {
                let component = layout.component_in_mcu(index);
                let mut coding = Coding {
                    writer: writer.block(),
                    codes: &codes,
                };
                put_dc(
                    i32::from(block[scan.stored(0)]),
                    component,
                    &mut predictors,
                    &mut coding,
                );
            }
        }
        out = writer.finish();

        // The end-of-band runs of each AC scan, from the masks in the scan's order.
        for (&(component, band), counts) in AC_SCANS.iter().zip(&mut ac_counts) {
            let mut ends = BandScan::new(band);
            let counts = std::slice::from_mut(counts);
            for index in layout.blocks(component, mcus) {
                ends.before(nonzero[index], counts);
                ends.after(nonzero[index], counts);
            }
            ends.finish(counts);
        }
        let fitted = ac_counts.each_ref().map(fitted::fit);
        let codes = fitted
            .each_ref()
            .map(|table| [HuffmanCodes::new(&table.spec())]);

        // A component's scans are written in one pass over its blocks (which are read
        // from memory once rather than once a band), each into a segment of its own sized
        // from its counts, then appended after its DHT and SOS.
        for component in 0..3 {
            let scans: Vec<usize> = (0..AC_SCANS.len())
                .filter(|&s| AC_SCANS[s].0 == component)
                .collect();
            let mut writers: Vec<(BitWriter, BandScan)> = scans
                .iter()
                .map(|&s| {
                    let bytes = coded_bits(&ac_counts[s], &codes[s][0]).div_ceil(8);
                    // Room for a little stuffing; the writer grows if there is more.
                    let segment = Vec::with_capacity(bytes as usize + bytes as usize / 64 + 64);
                    (BitWriter::new(segment), BandScan::new(AC_SCANS[s].1))
                })
                .collect();
            for index in layout.blocks(component, mcus) {
                let (block, mask) = (&kept[index], nonzero[index]);
                let value = |k| i32::from(block[scan.stored(k)]);
                for ((writer, band), &s) in writers.iter_mut().zip(&scans) {
                    let mut coding = Coding {
                        writer: writer.block(),
                        codes: &codes[s],
                    };
                    band.before(mask, &mut coding);
                    band.coefficients(mask, value, &mut coding);
                    band.after(mask, &mut coding);
                }
            }
            for ((mut writer, band), &s) in writers.into_iter().zip(&scans) {
                band.finish(&mut Coding {
                    writer: writer.block(),
                    codes: &codes[s],
                });
                let (first, last) = AC_SCANS[s].1;
                markers::write_huffman(&mut out, &[(0x10, fitted[s].spec())]);
                let id = component as u8 + 1;
                markers::write_scan_header(&mut out, &[(id, 0x00)], (first as u8, last as u8));
                out.extend_from_slice(&writer.finish());
            }
        }
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }
}

/// The bits an AC scan's symbols, counted in `counts`, take when coded with `codes`: each
/// code and its extra bits (a coefficient's size, an end-of-band run's length), before
/// stuffing.
fn coded_bits(counts: &SymbolCounts, codes: &HuffmanCodes) -> u64 {
    let extra = |symbol: u8| match (symbol >> 4, symbol & 15) {
        (15, 0) => 0,
        (run_bits, 0) => u32::from(run_bits),
        (_, size) => u32::from(size),
    };
    (0..=255u8)
        .map(|symbol| {
            counts.as_array()[usize::from(symbol)] * u64::from(codes.length(symbol) + extra(symbol))
        })
        .sum()
}

/// A block's DC coefficient `value` in the DC scan: the difference from the previous one of
/// its component, with table 0 for luma and 1 for chroma.
#[inline(always)]
fn put_dc<S: Symbols + ?Sized>(
    value: i32,
    component: usize,
    predictors: &mut [i32; 3],
    symbols: &mut S,
) {
    let (size, bits) = category(value - predictors[component]);
    predictors[component] = value;
    symbols.put(usize::from(component > 0), size, bits, size);
}

/// A scan of the AC band `first..=last` (T.81 G.1.2.2), block by block: in each block, runs
/// of zeros and the coefficient ending each, as in a sequential scan; a block whose band
/// ends in zeros adds one to the end-of-band run, coded (as EOBn, `n` extra bits) before the
/// next coefficient, when it reaches the longest run, and at the end of the scan.
struct BandScan {
    first: u32,
    last: u32,
    /// The band's bits in a nonzero mask.
    mask: u64,
    /// Blocks ending in zeros whose end-of-band run is not coded yet.
    end_run: u32,
}

impl BandScan {
    fn new((first, last): (u32, u32)) -> Self {
        Self {
            first,
            last,
            mask: (u64::MAX >> (63 - last)) & (u64::MAX << first),
            end_run: 0,
        }
    }

    /// Before a block whose nonzero mask is `nonzero`: the run so far, if the block has a
    /// coefficient in the band.
    #[inline(always)]
    fn before<S: Symbols + ?Sized>(&mut self, nonzero: u64, symbols: &mut S) {
        if nonzero & self.mask != 0 && self.end_run > 0 {
            put_end_run(symbols, self.end_run);
            self.end_run = 0;
        }
    }

    /// The block's runs of zeros and coefficients in the band (`value` gives the `k`-th in
    /// zig-zag order).
    #[inline(always)]
    fn coefficients<S: Symbols + ?Sized>(
        &self,
        nonzero: u64,
        value: impl Fn(usize) -> i32,
        symbols: &mut S,
    ) {
        let mut left = nonzero & self.mask;
        // The zig-zag index before the next coefficient's run.
        let mut previous = self.first - 1;
        while left != 0 {
            let k = left.trailing_zeros();
            left &= left - 1;
            let mut zeros = k - previous - 1;
            while zeros >= 16 {
                symbols.put(0, 0xF0, 0, 0);
                zeros -= 16;
            }
            let (size, bits) = category(value(k as usize));
            symbols.put(0, zeros << 4 | size, bits, size);
            previous = k;
        }
    }

    /// After the block: one more in the run if its band ends in zeros.
    #[inline(always)]
    fn after<S: Symbols + ?Sized>(&mut self, nonzero: u64, symbols: &mut S) {
        // The band's last coefficient is nonzero exactly when its bit is set; counted
        // without a branch, which would follow the picture's content.
        let ends_in_zeros = nonzero >> self.last & 1 == 0;
        self.end_run += u32::from(ends_in_zeros);
        if self.end_run == LONGEST_RUN {
            put_end_run(symbols, self.end_run);
            self.end_run = 0;
        }
    }

    /// The run left at the end of the scan.
    #[inline(always)]
    fn finish<S: Symbols + ?Sized>(self, symbols: &mut S) {
        if self.end_run > 0 {
            put_end_run(symbols, self.end_run);
        }
    }
}

/// An end-of-band run of `run` blocks (1..=0x7FFF): EOBn, `n` the run's bit length less
/// one, then the run's `n` low bits.
#[inline(always)]
fn put_end_run<S: Symbols + ?Sized>(symbols: &mut S, run: u32) {
    let n = 31 - run.leading_zeros();
    symbols.put(0, n << 4, run & ((1 << n) - 1), n);
}
