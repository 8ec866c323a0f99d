//! Progressive frames (T.81 annex G, Huffman coded): any scan script, decoded straight
//! to 1/2, 1/4 or 1/8 like a sequential frame.
//!
//! A progressive file sends each block's coefficients in pieces (bands of frequencies,
//! then their lower bits), so a block is only complete after the last scan. Only the
//! coefficients the reduced IDCT reads are kept: at 1/8 a luma block's DC alone, at 1/4
//! its 2x2 lowest frequencies, at 1/2 its 4x4 (a chroma block sampled at half the luma's
//! resolution keeps twice as many per axis), as 16-bit numbers. A scan whose band lies
//! wholly above what is kept is not decoded at all, unless a later refinement scan that
//! is decoded needs to know which of its coefficients are nonzero.
//!
//! Every scan visits the blocks in the same order, row after row, and each scan's data
//! is a stream of its own. So the scans are read side by side rather than one after the
//! other: for each MCU row, every decoded scan in file order decodes that row's blocks,
//! then the row is dequantised, transformed and colour-converted exactly as a sequential
//! frame's. The decoder holds one MCU row of coefficients, which stays in cache, instead
//! of the whole frame's.

use super::entropy::{BitReader, Select};
use super::header::{self, FrameComponent, ProgressiveStart, ScanHeader, Tables};
use super::huffman::{HuffmanTable, RefinementTable};
use super::idct::{Idct, Window};
use super::{Geometry, Reduced, Refusal, block_size};

/// One component's coefficients, for the whole frame.
struct Component {
    /// Sampling factors.
    h: usize,
    v: usize,
    /// The component's own blocks across and down: what a one-component scan covers
    /// (an interleaved scan covers whole MCUs, up to `stride` x `rows`).
    blocks_across: usize,
    blocks_down: usize,
    /// Blocks per row of `coefficients` (every MCU's blocks).
    stride: usize,
    /// Output samples per block across and down.
    size: (usize, usize),
    /// Per zig-zag index past the DC, where a block keeps that AC coefficient: the kept
    /// ones in zig-zag order from slot 1 (so that a mask of zig-zag indices becomes a
    /// mask of slots by one bit extraction). Slot 0 is the spare that takes the
    /// coefficients the block does not keep, so that storing one needs no branch on
    /// whether it is kept (a branch the predictor often missed); the DC is kept apart.
    slot: [u8; 64],
    /// Slots per block: the `size.0 * size.1` kept, the spare in the DC's stead, rounded
    /// up to whole vectors of 16.
    lanes: usize,
    /// Bit `k` set when a block keeps zig-zag index `k` (the DC included).
    kept_mask: u64,
    /// Each block's DC, block after block, for the MCU row being decoded (`v` rows of
    /// `stride` blocks). Apart from the AC coefficients, so that the DC scans (every
    /// block, one coefficient each) run through a small array.
    dc: Vec<i16>,
    /// The AC coefficients kept (see `slot`), `lanes` slots per block, block after block,
    /// likewise. Those the history does not mark nonzero are zero (slot 0 aside): each
    /// block is cleared as it is transformed.
    coefficients: Vec<i16>,
    /// Per block, which zig-zag indices are nonzero so far: what a refinement scan reads,
    /// and which coefficients the last pass dequantises.
    history: Vec<u64>,
    /// The quantisation table in force at the component's first scan (as libjpeg
    /// latches it), in zig-zag order.
    quant: Option<[u16; 64]>,
}

/// The most scans decoded side by side. Each holds copies of its Huffman tables (tens of
/// kilobytes), so a file of thousands of tiny scans would otherwise cost memory out of
/// all proportion to its size; encoders' scripts use a dozen or so, and a file with more
/// goes to the full decoder.
const MAX_DECODED_SCANS: usize = 64;

/// What the pass over the markers found: table definitions and scans, in file order.
enum Step<'a> {
    /// A DHT, DQT or DRI segment: its marker and body.
    Define(u8, &'a [u8]),
    /// A scan, its entropy-coded data, and whether it is decoded.
    Scan(ScanHeader, &'a [u8], bool),
}

/// Decodes the progressive frame `start` of `bytes` at 1/`reduction` into `rgb`.
#[inline(always)]
pub(super) fn decode(
    select: impl Select,
    bytes: &[u8],
    start: ProgressiveStart,
    reduction: u32,
    mut rgb: Vec<u8>,
) -> Result<Reduced, Refusal> {
    let ProgressiveStart {
        width,
        height,
        components: frame,
        model,
        mut tables,
        first_scan,
    } = start;
    let geometry = Geometry::new(
        width,
        height,
        model,
        frame.iter().map(|c| (c.h, c.v)),
        reduction,
    );
    let mut components = frame
        .iter()
        .map(|c| component(c, &geometry, width, height, reduction))
        .collect::<Result<Vec<_>, _>>()?;
    let mut steps = scans(bytes, first_scan, &frame)?;
    plan(&mut steps, &components);

    // The tables each decoded scan starts with (a later DHT or DRI may change them before
    // the scan is done with, as the scans are read side by side).
    let mut decoded_scans = Vec::new();
    for step in &steps {
        match step {
            Step::Define(marker, body) => {
                tables.define(*marker, body)?;
            }
            Step::Scan(scan, data, decoded) => {
                for &(index, _, _) in &scan.components {
                    let quant_table = frame[index].quant_table;
                    let component = &mut components[index];
                    if component.quant.is_none() {
                        component.quant = Some(tables.quant[quant_table].ok_or(
                            Refusal::Corrupt("a component uses an undefined quantisation table"),
                        )?);
                    }
                }
                if *decoded {
                    if decoded_scans.len() == MAX_DECODED_SCANS {
                        return Err(Refusal::Unsupported(
                            "more scans than are read side by side",
                        ));
                    }
                    decoded_scans.push((scan, *data, ScanTables::new(scan, &tables)?));
                }
            }
        }
    }
    let mut cursors: Vec<Cursor<'_, '_, _>> = decoded_scans
        .iter()
        .map(|(scan, data, tables)| Cursor::new(select, scan, data, tables))
        .collect();

    // Every byte is written: each MCU row converts all its output rows.
    rgb.resize(
        geometry.out_width * geometry.out_height * model.channels(),
        0,
    );
    let idct = Idct::new();
    let mut planes: Vec<Vec<u8>> = components
        .iter()
        .map(|_| vec![0; geometry.mcu_width_out * geometry.mcu_rows_out])
        .collect();
    // Per component: the quantisation step of each kept coefficient, in the order the
    // blocks keep them (the DC's in the spare's place).
    let mut dequantise = Vec::with_capacity(components.len());
    for component in &components {
        let quant = component
            .quant
            .ok_or(Refusal::Corrupt("a component no scan holds"))?;
        let mut steps = [0.0f32; 64];
        steps[0] = f32::from(quant[0]);
        for k in 1..64 {
            if component.kept_mask & 1 << k != 0 {
                steps[usize::from(component.slot[k])] = f32::from(quant[k]);
            }
        }
        dequantise.push(steps);
    }
    for mcu_row in 0..geometry.mcus_down {
        // This MCU row's blocks, through every scan in file order. The coefficients need
        // no clearing: the transform clears each block's.
        for component in &mut components {
            component.dc.fill(0);
            component.history.fill(0);
        }
        for cursor in &mut cursors {
            cursor.advance(mcu_row, &geometry, &mut components)?;
        }
        for ((component, plane), steps) in components.iter_mut().zip(&mut planes).zip(&dequantise) {
            let (nx, ny) = component.size;
            let (lanes, kept) = (component.lanes, component.kept_mask & !1);
            for block_row in 0..component.v {
                let first = block_row * component.stride;
                let dcs = &component.dc[first..][..component.stride];
                let histories = &component.history[first..][..component.stride];
                let blocks = component.coefficients[first * lanes..][..component.stride * lanes]
                    .chunks_exact_mut(lanes);
                for (col, ((&dc, &history), block)) in
                    dcs.iter().zip(histories).zip(blocks).enumerate()
                {
                    let at = block_row * ny * geometry.mcu_width_out + col * nx;
                    idct.compact(
                        select,
                        block,
                        (dc, history & kept),
                        steps,
                        (nx, ny),
                        (&mut plane[at..], geometry.mcu_width_out),
                    );
                }
            }
        }
        match planes.as_slice() {
            [grey] => geometry.convert(&[grey], mcu_row, &mut rgb),
            [y, cb, cr] => geometry.convert(&[y, cb, cr], mcu_row, &mut rgb),
            [c, m, y, k] => geometry.convert(&[c, m, y, k], mcu_row, &mut rgb),
            _ => unreachable!("the header allows one, three or four components"),
        }
    }
    Ok(Reduced {
        width: geometry.out_width as u32,
        height: geometry.out_height as u32,
        rgb,
    })
}

/// A component's layout and its coefficient planes, one MCU row of blocks.
fn component(
    frame: &FrameComponent,
    geometry: &Geometry,
    width: u32,
    height: u32,
    reduction: u32,
) -> Result<Component, Refusal> {
    let size = (
        block_size(geometry.h_max, frame.h, reduction)?,
        block_size(geometry.v_max, frame.v, reduction)?,
    );
    let lanes = (size.0 * size.1).next_multiple_of(16);
    let slot = Window::new(size.0, size.1).by_zigzag;
    let kept_mask = (1..64)
        .filter(|&k| slot[k] != 0)
        .fold(1, |mask, k| mask | 1 << k);
    let (h, v) = (frame.h as usize, frame.v as usize);
    let stride = geometry.mcus_across * h;
    // The component's own size: its share of the frame's, rounded up.
    let own = |len: u32, factor: u32, max: u32| {
        (u64::from(len) * u64::from(factor))
            .div_ceil(u64::from(max))
            .div_ceil(8) as usize
    };
    Ok(Component {
        h,
        v,
        blocks_across: own(width, frame.h, geometry.h_max),
        blocks_down: own(height, frame.v, geometry.v_max),
        stride,
        size,
        slot,
        lanes,
        kept_mask,
        dc: vec![0; stride * v],
        coefficients: vec![0; stride * v * lanes],
        history: vec![0; stride * v],
        quant: None,
    })
}

/// Walks the markers from the first SOS to EOI (or the end of the file), finding each
/// scan's entropy-coded data without decoding it.
fn scans<'a>(
    bytes: &'a [u8],
    mut pos: usize,
    frame: &[FrameComponent],
) -> Result<Vec<Step<'a>>, Refusal> {
    let mut steps = Vec::new();
    // A file cut right after a scan's data is read as if it ended there.
    while pos < bytes.len() {
        let (marker, body) = header::next_segment(bytes, &mut pos)?;
        match marker {
            0xD9 => break,
            0xDA => {
                let scan = header::parse_progressive_scan(body, frame)?;
                let end = data_end(bytes, pos);
                steps.push(Step::Scan(scan, &bytes[pos..end], true));
                pos = end;
            }
            0xC4 | 0xDB | 0xDD => steps.push(Step::Define(marker, body)),
            0xE0..=0xEF | 0xFE => {}
            _ => {
                return Err(Refusal::Corrupt(
                    "a marker that does not belong between scans",
                ));
            }
        }
    }
    if !steps.iter().any(|step| matches!(step, Step::Scan(..))) {
        return Err(Refusal::Corrupt("no scan"));
    }
    Ok(steps)
}

/// Where the entropy-coded data that starts at `from` ends: the first marker other than
/// a restart marker (or the end of the file).
pub(crate) fn data_end(bytes: &[u8], from: usize) -> usize {
    let mut pos = from;
    loop {
        // Eight bytes at a time up to one that holds a 0xFF: a byte is 0xFF exactly when
        // its complement is zero, and the test below finds whether any byte is zero.
        while let Some(chunk) = bytes.get(pos..pos + 8) {
            let inverted = !u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            if inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080 != 0
            {
                break;
            }
            pos += 8;
        }
        let Some(ff) = bytes[pos..].iter().position(|&b| b == 0xFF) else {
            return bytes.len();
        };
        let at = pos + ff;
        let mut next = at + 1;
        while bytes.get(next) == Some(&0xFF) {
            next += 1;
        }
        match bytes.get(next) {
            None => return bytes.len(),
            // Stuffing and restart markers are part of the data.
            Some(0x00 | 0xD0..=0xD7) => pos = next + 1,
            Some(_) => return at,
        }
    }
}

/// Decides which scans are decoded, from the last back: a DC scan always; an AC scan when
/// its band holds a kept coefficient, or one whose history a later decoded refinement
/// scan reads.
fn plan(steps: &mut [Step], components: &[Component]) {
    let mut needed: Vec<u64> = components.iter().map(|c| c.kept_mask).collect();
    for step in steps.iter_mut().rev() {
        let Step::Scan(scan, _, decoded) = step else {
            continue;
        };
        if scan.start == 0 {
            continue;
        }
        let index = scan.components[0].0;
        let band = (u64::MAX << scan.start) & (u64::MAX >> (63 - scan.end));
        *decoded = band & needed[index] != 0;
        if *decoded && scan.high > 0 {
            needed[index] |= band;
        }
    }
}

/// The tables one scan decodes with, copied from those in force where it starts.
struct ScanTables {
    /// Per scan component, its DC table (a DC first scan).
    dc: [Option<Box<HuffmanTable>>; 4],
    /// The AC table (an AC scan), and for a refinement scan its lookahead table.
    ac: Option<(Box<HuffmanTable>, Option<Box<RefinementTable>>)>,
    restart_interval: usize,
}

impl ScanTables {
    fn new(scan: &ScanHeader, tables: &Tables) -> Result<Self, Refusal> {
        let undefined = Refusal::Corrupt("a scan uses an undefined Huffman table");
        let mut dc = [None, None, None, None];
        let mut ac = None;
        if scan.start == 0 {
            if scan.high == 0 {
                for (table, &(_, id, _)) in dc.iter_mut().zip(&scan.components) {
                    *table = Some(Box::new(tables.dc[id].clone().ok_or(undefined)?));
                }
            }
        } else {
            let &(_, _, id) = scan.components.first().ok_or(undefined)?;
            let table = tables.ac[id].clone().ok_or(undefined)?;
            let refinement = (scan.high > 0).then(|| RefinementTable::new(&table));
            ac = Some((Box::new(table), refinement));
        }
        Ok(Self {
            dc,
            ac,
            restart_interval: tables.restart_interval as usize,
        })
    }
}

/// One scan's pass, chosen once per scan.
enum AnyPass<'t, S> {
    DcFirst(DcFirst<'t>),
    DcRefine(DcRefine),
    AcFirst(AcFirst<'t>),
    AcRefine(AcRefine<'t, S>),
}

/// Where one scan is: its bits and what it carries from block to block. The scans are
/// read side by side, each MCU row of blocks through every scan in turn, so that the
/// coefficients of one MCU row are all the decoder holds (and they stay in cache).
struct Cursor<'a, 't, S> {
    scan: &'t ScanHeader,
    pass: AnyPass<'t, S>,
    reader: Reader<'a>,
}

/// A scan's reading state.
struct Reader<'a> {
    bits: BitReader<'a>,
    state: ScanState,
    restarts: u32,
    restart_interval: usize,
    /// The data ran out: the scan gives nothing more.
    stopped: bool,
}

impl<'a, 't, S: Select> Cursor<'a, 't, S> {
    fn new(select: S, scan: &'t ScanHeader, data: &'a [u8], tables: &'t ScanTables) -> Self {
        let band = (usize::from(scan.start), usize::from(scan.end));
        let low = u32::from(scan.low);
        let pass = match (&tables.ac, scan.high) {
            (None, 0) => AnyPass::DcFirst(DcFirst {
                huffman: tables.dc.each_ref().map(|table| table.as_deref()),
                low,
            }),
            (None, _) => AnyPass::DcRefine(DcRefine { low }),
            (Some((table, None)), _) => AnyPass::AcFirst(AcFirst { table, band, low }),
            (Some((table, Some(refinement))), _) => AnyPass::AcRefine(AcRefine {
                select,
                tables: (&**table, &**refinement),
                band,
                low,
            }),
        };
        Self {
            scan,
            pass,
            reader: Reader {
                bits: BitReader::new(data),
                state: ScanState::default(),
                restarts: 0,
                restart_interval: tables.restart_interval,
                stopped: false,
            },
        }
    }

    /// Decodes the scan's blocks in MCU row `mcu_row`.
    #[inline(always)]
    fn advance(
        &mut self,
        mcu_row: usize,
        geometry: &Geometry,
        components: &mut [Component],
    ) -> Result<(), Refusal> {
        let Self { scan, pass, reader } = self;
        if reader.stopped {
            return Ok(());
        }
        match pass {
            AnyPass::DcFirst(pass) => reader.row(scan, pass, mcu_row, geometry, components),
            AnyPass::DcRefine(pass) => reader.row(scan, pass, mcu_row, geometry, components),
            AnyPass::AcFirst(pass) => reader.row(scan, pass, mcu_row, geometry, components),
            AnyPass::AcRefine(pass) => reader.row(scan, pass, mcu_row, geometry, components),
        }
    }
}

impl<'a> Reader<'a> {
    /// Makes `pass` over the scan's blocks in MCU row `mcu_row`, in order, handling restart
    /// markers.
    ///
    /// A scan whose data ends early (a truncated file, or a marker where data should be)
    /// stops after the block or MCU during which the data ran out, which was read with
    /// zero bits as libjpeg reads it: the blocks after it keep what earlier scans gave
    /// them, as libjpeg leaves them after its "premature end of data" warning, and the
    /// decode goes on with the next scan.
    #[inline(always)]
    fn row(
        &mut self,
        scan: &ScanHeader,
        pass: &impl Pass,
        mcu_row: usize,
        geometry: &Geometry,
        components: &mut [Component],
    ) -> Result<(), Refusal> {
        // A copy the compiler can keep in registers through the row; written back at the
        // end.
        let mut bits = std::mem::replace(&mut self.bits, BitReader::new(&[]));
        let result = self.row_with(&mut bits, scan, pass, mcu_row, geometry, components);
        self.bits = bits;
        result
    }

    #[inline(always)]
    fn row_with(
        &mut self,
        bits: &mut BitReader<'a>,
        scan: &ScanHeader,
        pass: &impl Pass,
        mcu_row: usize,
        geometry: &Geometry,
        components: &mut [Component],
    ) -> Result<(), Refusal> {
        if let [(index, _, _)] = scan.components[..] {
            // One component: its own blocks, row by row; a restart interval counts blocks.
            let c = components
                .get_mut(index)
                .ok_or(Refusal::Corrupt("a scan of a missing component"))?;
            for local in 0..c.v {
                let row = mcu_row * c.v + local;
                if row >= c.blocks_down {
                    break;
                }
                // The row in runs of blocks between restart markers, each decoded by
                // the pass in one go.
                let mut col = 0;
                while col < c.blocks_across {
                    let unit = row * c.blocks_across + col;
                    let Some(end) = self.run_end(bits, unit, col, c.blocks_across)? else {
                        return Ok(());
                    };
                    let first = local * c.stride + col;
                    if !pass.run(bits, &mut self.state, c, first..first + (end - col))? {
                        self.stopped = true;
                        return Ok(());
                    }
                    col = end;
                }
            }
        } else {
            // The MCU row in runs of MCUs between restart markers, as above.
            let mut mcu_col = 0;
            while mcu_col < geometry.mcus_across {
                let unit = mcu_row * geometry.mcus_across + mcu_col;
                let Some(end) = self.run_end(bits, unit, mcu_col, geometry.mcus_across)? else {
                    return Ok(());
                };
                if !pass.mcus(bits, &mut self.state, scan, components, mcu_col..end)? {
                    self.stopped = true;
                    return Ok(());
                }
                mcu_col = end;
            }
        }
        Ok(())
    }

    /// Where the run of units (blocks of a one-component scan, MCUs of an interleaved
    /// one) that starts at column `col` of a row of `row_end` units ends: at the row's end
    /// or at the next restart marker. `unit` is the first unit's index in the scan; a
    /// restart marker due before it is read first. `None` when the data has run out before
    /// a restart interval's unit, which stops the scan.
    #[inline(always)]
    fn run_end(
        &mut self,
        bits: &mut BitReader<'a>,
        unit: usize,
        col: usize,
        row_end: usize,
    ) -> Result<Option<usize>, Refusal> {
        let restart_interval = self.restart_interval;
        if restart_interval == 0 {
            return Ok(Some(row_end));
        }
        if bits.overran() {
            self.stopped = true;
            return Ok(None);
        }
        let into = unit % restart_interval;
        if unit > 0 && into == 0 {
            bits.restart(self.restarts)?;
            self.restarts += 1;
            self.state = ScanState::default();
        }
        Ok(Some(row_end.min(col + (restart_interval - into))))
    }
}

/// What one pass does with a scan's blocks: a type per pass, so that each pass's loops
/// are compiled on their own, with what the blocks share taken out of them.
trait Pass {
    /// Decodes blocks `blocks` of a one-component scan's component `c`, in order, with no
    /// restart marker between them; stops before a block when the data has run out, and
    /// says whether all were decoded.
    fn run(
        &self,
        bits: &mut BitReader,
        state: &mut ScanState,
        c: &mut Component,
        blocks: std::ops::Range<usize>,
    ) -> Result<bool, Refusal>;

    /// Decodes MCUs `mcus` of the MCU row's interleaved scan `scan`, in order, with no
    /// restart marker between them; stops before an MCU when the data has run out, and
    /// says whether all were decoded. Only DC scans interleave (the header refuses an AC
    /// scan of more than one component), so the DC passes implement it and the AC passes
    /// keep this refusal, which never runs.
    fn mcus(
        &self,
        _: &mut BitReader,
        _: &mut ScanState,
        _: &ScanHeader,
        _: &mut [Component],
        _: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        Err(Refusal::Corrupt("an AC scan of more than one component"))
    }
}

/// A DC first scan: each block's difference from its predictor, scaled by `2^low`.
struct DcFirst<'t> {
    huffman: [Option<&'t HuffmanTable>; 4],
    low: u32,
}

impl Pass for DcFirst<'_> {
    #[inline(always)]
    fn run(
        &self,
        bits: &mut BitReader,
        state: &mut ScanState,
        c: &mut Component,
        blocks: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        // As in an AC first scan: what the blocks share (the table, the DC array), taken
        // out of the loop.
        let table = self.huffman[0].ok_or(Refusal::Corrupt("a scan without a DC table"))?;
        bits.dc_first_run(table, self.low, &mut state.predictors[0], &mut c.dc[blocks])
    }

    #[inline(always)]
    fn mcus(
        &self,
        bits: &mut BitReader,
        state: &mut ScanState,
        scan: &ScanHeader,
        components: &mut [Component],
        mcus: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        // The MCU's blocks in one flat loop through its layout, with the tables checked
        // once, rather than each block's component and table looked up in turn.
        let (layout, mut dcs) = McuLayout::new(scan, components)?;
        let mut tables = [self.huffman[0].ok_or(Refusal::Corrupt("a scan without a DC table"))?; 4];
        for (s, table) in tables.iter_mut().enumerate().take(scan.components.len()) {
            *table = self.huffman[s].ok_or(Refusal::Corrupt("a scan without a DC table"))?;
        }
        bits.dc_first_mcus(
            (&tables, self.low),
            &mut state.predictors,
            layout.blocks(),
            &mut dcs,
            mcus,
        )
    }
}

/// Where each block of an interleaved scan's MCU keeps its DC: per block (at most 4
/// components of at most 4x4 blocks), its component's place in the scan, its index in
/// the row's first MCU, and how far that moves from one MCU to the next.
struct McuLayout {
    blocks: [(usize, usize, usize); 64],
    count: usize,
}

impl McuLayout {
    /// The layout of `scan`'s MCU, and the DC arrays of its components by their place in
    /// the scan.
    fn new<'c>(
        scan: &ScanHeader,
        components: &'c mut [Component],
    ) -> Result<(Self, [&'c mut [i16]; 4]), Refusal> {
        let mut layout = Self {
            blocks: [(0, 0, 0); 64],
            count: 0,
        };
        let mut dcs: [&mut [i16]; 4] = [&mut [], &mut [], &mut [], &mut []];
        let mut wanted = scan.components.iter().enumerate().peekable();
        for (index, c) in components.iter_mut().enumerate() {
            // The scan's components come in frame order, each once.
            let Some((s, _)) = wanted.next_if(|&(_, &(wanted, _, _))| wanted == index) else {
                continue;
            };
            for block_row in 0..c.v {
                for block_col in 0..c.h {
                    layout.blocks[layout.count] = (s, block_row * c.stride + block_col, c.h);
                    layout.count += 1;
                }
            }
            dcs[s] = &mut c.dc;
        }
        if wanted.next().is_some() {
            return Err(Refusal::Corrupt("a scan of a missing component"));
        }
        Ok((layout, dcs))
    }

    /// The MCU's blocks, in scan order.
    fn blocks(&self) -> &[(usize, usize, usize)] {
        &self.blocks[..self.count]
    }
}

/// A DC refinement scan: bit `low` of each block's DC.
struct DcRefine {
    low: u32,
}

impl Pass for DcRefine {
    #[inline(always)]
    fn run(
        &self,
        bits: &mut BitReader,
        _: &mut ScanState,
        c: &mut Component,
        blocks: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        for dc in &mut c.dc[blocks] {
            if bits.overran() {
                return Ok(false);
            }
            // An OR of the bit, not a branch on it: the bits are as good as random.
            *dc |= (u16::from(bits.bit()) << self.low) as i16;
        }
        Ok(true)
    }

    #[inline(always)]
    fn mcus(
        &self,
        bits: &mut BitReader,
        _: &mut ScanState,
        scan: &ScanHeader,
        components: &mut [Component],
        mcus: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        let (layout, dcs) = McuLayout::new(scan, components)?;
        let (count, low) = (layout.blocks().len(), self.low);
        // Up to 64 MCUs at a time: their bits read first, one word per MCU (the first
        // block's bit the highest), then spread block by block of the layout, so that
        // the loop over MCUs keeps its component's DC array and its place in the layout
        // in hand rather than looking them up for every block.
        let mut words = [0u64; 64];
        let mut start = mcus.start;
        while start < mcus.end {
            let end = (start + words.len()).min(mcus.end);
            let mut read = end;
            for (mcu_col, word) in (start..end).zip(&mut words) {
                if bits.overran() {
                    read = mcu_col;
                    break;
                }
                *word = bits.bits(count as u32);
            }
            for (b, &(s, first, step)) in layout.blocks().iter().enumerate() {
                let (dcs, shift) = (&mut *dcs[s], count - 1 - b);
                for (mcu_col, &word) in (start..read).zip(&words) {
                    if let Some(dc) = dcs.get_mut(first + mcu_col * step) {
                        *dc |= (((word >> shift) & 1) << low) as i16;
                    }
                }
            }
            if read < end {
                return Ok(false);
            }
            start = end;
        }
        Ok(true)
    }
}

/// An AC first scan of zig-zag indices `band`, scaled by `2^low`.
struct AcFirst<'t> {
    table: &'t HuffmanTable,
    band: (usize, usize),
    low: u32,
}

impl Pass for AcFirst<'_> {
    #[inline(always)]
    fn run(
        &self,
        bits: &mut BitReader,
        state: &mut ScanState,
        c: &mut Component,
        blocks: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        let lanes = c.lanes;
        bits.ac_first_run(
            self.table,
            self.band,
            self.low,
            &mut state.eobrun,
            (
                &mut c.coefficients[blocks.start * lanes..][..blocks.len() * lanes],
                lanes,
            ),
            &c.slot,
            &mut c.history[blocks],
        )
    }
}

/// An AC refinement scan of zig-zag indices `band`: bit `low`.
struct AcRefine<'t, S> {
    select: S,
    tables: (&'t HuffmanTable, &'t RefinementTable),
    band: (usize, usize),
    low: u32,
}

impl<S: Select> Pass for AcRefine<'_, S> {
    #[inline(always)]
    fn run(
        &self,
        bits: &mut BitReader,
        state: &mut ScanState,
        c: &mut Component,
        blocks: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        let lanes = c.lanes;
        bits.ac_refine_run(
            self.select,
            self.tables,
            self.band,
            self.low,
            &mut state.eobrun,
            (
                &mut c.coefficients[blocks.start * lanes..][..blocks.len() * lanes],
                lanes,
            ),
            (&c.slot, c.kept_mask),
            &mut c.history[blocks],
        )
    }
}

/// What a scan carries from block to block, reset at each restart marker.
#[derive(Default)]
struct ScanState {
    /// DC predictors per scan component.
    predictors: [i32; 4],
    /// Blocks left in an end-of-band run.
    eobrun: u32,
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        decode, encode, mean_difference, picture, reference, worst_difference,
    };
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    use proptest::prelude::*;
    use std::path::PathBuf;
    use std::process::Command;

    /// Scan scripts for `jpegtran -scans`, for three components: mozjpeg's default, a
    /// Photoshop-style one (DC, then each component's AC whole), DC sent per component
    /// with two refinements, and bands split one way then refined across them.
    const COLOUR_SCRIPTS: [&str; 5] = [
        "0,1,2: 0-0, 0, 0; 0: 1-8, 0, 2; 1: 1-8, 0, 0; 2: 1-8, 0, 0; 0: 9-63, 0, 2;
         0: 1-63, 2, 1; 0: 1-63, 1, 0; 1: 9-63, 0, 0; 2: 9-63, 0, 0;",
        "0,1,2: 0-0, 0, 0; 0: 1-63, 0, 0; 1: 1-63, 0, 0; 2: 1-63, 0, 0;",
        "0: 0-0, 0, 2; 1: 0-0, 0, 2; 2: 0-0, 0, 2; 0,1,2: 0-0, 2, 1; 0,1,2: 0-0, 1, 0;
         0: 1-1, 0, 3; 0: 2-63, 0, 3; 0: 1-63, 3, 2; 0: 1-63, 2, 1; 0: 1-63, 1, 0;
         2: 1-63, 0, 1; 1: 1-63, 0, 0; 2: 1-63, 1, 0;",
        "0,1,2: 0-0, 0, 1; 0: 1-2, 0, 1; 0: 3-20, 0, 1; 0: 21-63, 0, 1; 0: 1-63, 1, 0;
         1: 1-5, 0, 0; 1: 6-63, 0, 0; 2: 1-63, 0, 0; 0,1,2: 0-0, 1, 0;",
        "0,1,2: 0-0, 0, 0; 0: 1-5, 0, 0; 0: 6-63, 0, 0; 1: 1-63, 0, 0; 2: 1-63, 0, 0;",
    ];

    /// The same kinds of script for one component.
    const GREY_SCRIPTS: [&str; 2] = [
        "0: 0-0, 0, 1; 0: 1-5, 0, 2; 0: 6-63, 0, 2; 0: 1-63, 2, 1; 0: 0-0, 1, 0;
         0: 1-63, 1, 0;",
        "0: 0-0, 0, 0; 0: 1-3, 0, 0; 0: 4-63, 0, 0;",
    ];

    /// `jpeg` through `jpegtran` with `args` (a scan script given as `-scans SCRIPT`);
    /// `None` when jpegtran is not installed.
    fn jpegtran(jpeg: &[u8], args: &[&str], script: Option<&str>) -> Option<Vec<u8>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "setphoto-progressive-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str| -> PathBuf { dir.join(name) };
        std::fs::write(file("in.jpg"), jpeg).unwrap();
        let mut command = Command::new("jpegtran");
        command.args(args);
        if let Some(script) = script {
            std::fs::write(file("scans.txt"), script).unwrap();
            command.arg("-scans").arg(file("scans.txt"));
        }
        command
            .arg("-outfile")
            .arg(file("out.jpg"))
            .arg(file("in.jpg"));
        let result = match command.status() {
            Ok(status) => {
                assert!(status.success(), "jpegtran {args:?} failed");
                Some(std::fs::read(file("out.jpg")).unwrap())
            }
            Err(_) => None,
        };
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    fn has_jpegtran() -> bool {
        let found = Command::new("jpegtran").arg("-version").output().is_ok();
        if !found {
            eprintln!("jpegtran is not on PATH: its progressive twins are not tested");
        }
        found
    }

    fn is_progressive(jpeg: &[u8]) -> bool {
        jpeg.windows(2).any(|w| w == [0xFF, 0xC2])
    }

    /// The reduced decode of `progressive` equals, within 1 per sample, the reduced decode
    /// of `baseline`, which holds the same coefficients; and is as close to the full decode
    /// as the sequential path is held to.
    fn assert_twins(baseline: &[u8], progressive: &[u8], size: (u32, u32), what: &str) {
        assert!(is_progressive(progressive), "{what}: not progressive");
        for reduction in [2, 4, 8] {
            let expected = match decode(baseline, reduction, size) {
                Ok(expected) => expected,
                // A sampling not reduced this far (4:1:1 at 1/2): refused alike.
                Err(Refusal::Unsupported(_)) => {
                    let refused = decode(progressive, reduction, size);
                    assert!(matches!(refused, Err(Refusal::Unsupported(_))), "{what}");
                    continue;
                }
                Err(e) => panic!("{what} baseline 1/{reduction}: {e:?}"),
            };
            let got = decode(progressive, reduction, size)
                .unwrap_or_else(|e| panic!("{what} 1/{reduction}: {e:?}"));
            assert_eq!((got.width, got.height), (expected.width, expected.height));
            let worst = worst_difference(&got.rgb, &expected.rgb);
            assert!(worst <= 1, "{what} 1/{reduction}: off by {worst}");
            let (_, _, full) = reference(progressive, reduction);
            let diff = mean_difference(&got.rgb, &full);
            assert!(
                diff < 2.0,
                "{what} 1/{reduction}: {diff} from the full decode"
            );
        }
    }

    #[test]
    fn jpegtran_twins_decode_like_their_baseline() {
        if !has_jpegtran() {
            return;
        }
        let samplings = [
            SamplingFactor::R_4_4_4,
            SamplingFactor::R_4_2_2,
            SamplingFactor::R_4_2_0,
            SamplingFactor::R_4_4_0,
            SamplingFactor::R_4_1_1,
        ];
        let size = (203, 149);
        for sampling in samplings {
            let encoded = encode(size.0, size.1, false, sampling, 0);
            // jpeg-encoder writes 4:1:1 as one scan per component: make it one scan.
            let baseline = jpegtran(&encoded, &[], None).unwrap();
            let what = format!("{sampling:?}");
            let libjpeg = jpegtran(&baseline, &["-progressive"], None).unwrap();
            assert_twins(
                &baseline,
                &libjpeg,
                size,
                &format!("{what} libjpeg's script"),
            );
            let restarts = jpegtran(&baseline, &["-progressive", "-restart", "3B"], None).unwrap();
            assert_twins(&baseline, &restarts, size, &format!("{what} restarts"));
            for (i, script) in COLOUR_SCRIPTS.iter().enumerate() {
                let twin = jpegtran(&baseline, &[], Some(script)).unwrap();
                assert_twins(&baseline, &twin, size, &format!("{what} script {i}"));
            }
        }
        let grey = encode(150, 77, true, SamplingFactor::R_4_4_4, 0);
        let twin = jpegtran(&grey, &["-progressive", "-restart", "1"], None).unwrap();
        assert_twins(&grey, &twin, (150, 77), "grey");
        for (i, script) in GREY_SCRIPTS.iter().enumerate() {
            let twin = jpegtran(&grey, &[], Some(script)).unwrap();
            assert_twins(&grey, &twin, (150, 77), &format!("grey script {i}"));
        }
    }

    /// A valid scan script for `components` components (1 or 3), drawn from `seed`: the DC
    /// interleaved or per component, with or without successive approximation; each
    /// component's AC coefficients in one to three bands, each band first sent at its own
    /// point transform and refined down to 0 on its own (a refinement of part of the band
    /// of 1-63) or, once the bands agree, across all of them; and the components' scans
    /// interleaved in a random order that keeps each one's own order.
    fn random_script(seed: u64, components: usize) -> String {
        let mut state = seed | 1;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let scan = |list: &[usize], band: (u8, u8), high: u8, low: u8| {
            let list: Vec<String> = list.iter().map(usize::to_string).collect();
            format!(
                "{}: {}-{}, {}, {};\n",
                list.join(","),
                band.0,
                band.1,
                high,
                low
            )
        };
        let all: Vec<usize> = (0..components).collect();
        let mut script = String::new();
        // Queues whose heads may go next, each in its own order.
        let mut queues: Vec<std::collections::VecDeque<String>> = Vec::new();
        // The DC: one scan of all components, or one per component.
        let groups: Vec<Vec<usize>> = if next(2) == 0 {
            vec![all]
        } else {
            (0..components).map(|c| vec![c]).collect()
        };
        for group in &groups {
            let low = next(3) as u8;
            script += &scan(group, (0, 0), 0, low);
            queues.push(
                (1..=low)
                    .rev()
                    .map(|a| scan(group, (0, 0), a, a - 1))
                    .collect(),
            );
        }
        for c in 0..components {
            let mut cuts: Vec<u8> = (0..next(3)).map(|_| 2 + next(61) as u8).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bands = Vec::new();
            let mut start = 1;
            for &cut in &cuts {
                bands.push((start, cut - 1));
                start = cut;
            }
            bands.push((start, 63));
            let mut lows: Vec<u8> = bands
                .iter()
                .map(|_| next(if c == 0 { 4 } else { 3 }) as u8)
                .collect();
            let mut queue = std::collections::VecDeque::new();
            for (&band, &low) in bands.iter().zip(&lows) {
                queue.push_back(scan(&[c], band, 0, low));
            }
            while lows.iter().any(|&low| low > 0) {
                if lows.iter().all(|&low| low == lows[0]) && next(2) == 0 {
                    queue.push_back(scan(&[c], (1, 63), lows[0], lows[0] - 1));
                    lows.iter_mut().for_each(|low| *low -= 1);
                    continue;
                }
                for (band, low) in bands.iter().zip(&mut lows) {
                    if *low > 0 {
                        queue.push_back(scan(&[c], *band, *low, *low - 1));
                        *low -= 1;
                    }
                }
            }
            queues.push(queue);
        }
        loop {
            let waiting: Vec<usize> = (0..queues.len())
                .filter(|&q| !queues[q].is_empty())
                .collect();
            if waiting.is_empty() {
                return script;
            }
            let q = waiting[next(waiting.len() as u64) as usize];
            script += &queues[q].pop_front().expect("not empty");
        }
    }

    proptest! {
        // Each case runs jpegtran and decodes at three reductions and in full.
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any valid scan script (random bands, point transforms, refinements of part of
        /// a band, order, restart intervals) decodes like its baseline twin.
        #[test]
        fn random_scan_scripts_decode_like_their_baseline(
            seed in any::<u64>(),
            kind in 0..3usize,
            restart in 0..3usize,
        ) {
            if !has_jpegtran() {
                return Ok(());
            }
            let size = (203, 149);
            let (grey, sampling) = [
                (false, SamplingFactor::R_4_2_0),
                (false, SamplingFactor::R_4_4_4),
                (true, SamplingFactor::R_4_4_4),
            ][kind];
            let baseline = jpegtran(&encode(size.0, size.1, grey, sampling, 0), &[], None).unwrap();
            let script = random_script(seed, if grey { 1 } else { 3 });
            let args: &[&str] = [&[][..], &["-restart", "1"], &["-restart", "5B"]][restart];
            let twin = jpegtran(&baseline, args, Some(&script)).unwrap();
            assert_twins(&baseline, &twin, size, &format!("{sampling:?} grey {grey} {args:?}\n{script}"));
        }
    }

    /// Noise at quality 100 leaves nearly every coefficient nonzero, so refinement scans
    /// read more correction bits for one block than a refill holds (the two-part path);
    /// with a restart every MCU or every other row, end-of-band runs stop at each marker.
    /// The reduced decode still equals the baseline twin's within 1.
    #[test]
    fn dense_refinements_across_restarts_decode_like_their_baseline() {
        if !has_jpegtran() {
            return;
        }
        let (width, height) = (96u32, 64u32);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let noise: Vec<u8> = (0..width * height * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        for sampling in [SamplingFactor::R_4_4_4, SamplingFactor::R_4_2_0] {
            let mut encoded = Vec::new();
            let mut encoder = Encoder::new(&mut encoded, 100);
            encoder.set_sampling_factor(sampling);
            encoder
                .encode(&noise, width as u16, height as u16, ColorType::Rgb)
                .unwrap();
            let baseline = jpegtran(&encoded, &[], None).unwrap();
            for (i, script) in [COLOUR_SCRIPTS[0], COLOUR_SCRIPTS[2]].iter().enumerate() {
                for restart in ["1", "2B"] {
                    let twin = jpegtran(&baseline, &["-restart", restart], Some(script)).unwrap();
                    let what = format!("{sampling:?} script {i} restart {restart}");
                    assert!(is_progressive(&twin), "{what}");
                    for reduction in [2, 4, 8] {
                        let size = (width, height);
                        let expected = decode(&baseline, reduction, size).unwrap();
                        let got = decode(&twin, reduction, size)
                            .unwrap_or_else(|e| panic!("{what} 1/{reduction}: {e:?}"));
                        let worst = worst_difference(&got.rgb, &expected.rgb);
                        assert!(worst <= 1, "{what} 1/{reduction}: off by {worst}");
                    }
                }
            }
        }
    }

    /// Twins made by jpegtran and kept in the repository, so that a machine without it
    /// still tests successive approximation, end-of-band runs and restart markers.
    #[test]
    fn committed_twins_decode_like_their_baseline() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
        let read = |name: &str| std::fs::read(format!("{dir}/{name}")).unwrap();
        let baseline = read("twin_67x45_420.jpg");
        for name in [
            "twin_67x45_420_progressive.jpg",
            "twin_67x45_420_restarts.jpg",
            "twin_67x45_420_split_bands.jpg",
        ] {
            assert_twins(&baseline, &read(name), (67, 45), name);
        }
        let grey = read("twin_150x77_grey.jpg");
        assert_twins(
            &grey,
            &read("twin_150x77_grey_progressive.jpg"),
            (150, 77),
            "grey",
        );
    }

    #[test]
    fn jpeg_encoder_progressive_decodes_like_its_baseline() {
        // jpeg-encoder's progressive mode: spectral selection with no refinement.
        let rgb = picture(203, 149);
        let encode = |progressive: bool| {
            let mut out = Vec::new();
            let mut encoder = Encoder::new(&mut out, 90);
            encoder.set_progressive(progressive);
            encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
            encoder.encode(&rgb, 203, 149, ColorType::Rgb).unwrap();
            out
        };
        assert_twins(&encode(false), &encode(true), (203, 149), "jpeg-encoder");
    }

    #[test]
    fn scans_wholly_above_the_kept_band_are_not_decoded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
        let jpeg = std::fs::read(format!("{dir}/twin_67x45_420_split_bands.jpg")).unwrap();
        let header::Parsed::Progressive(start) = header::parse(&jpeg).unwrap() else {
            panic!("not progressive");
        };
        let decoded = |reduction: u32| {
            let geometry = Geometry::new(
                67,
                45,
                start.model,
                start.components.iter().map(|c| (c.h, c.v)),
                reduction,
            );
            let components: Vec<Component> = start
                .components
                .iter()
                .map(|c| component(c, &geometry, 67, 45, reduction).unwrap())
                .collect();
            let mut steps = scans(&jpeg, start.first_scan, &start.components).unwrap();
            plan(&mut steps, &components);
            steps
                .iter()
                .filter_map(|step| match step {
                    Step::Scan(scan, _, decoded) => Some((scan.start, scan.end, *decoded)),
                    Step::Define(..) => None,
                })
                .collect::<Vec<_>>()
        };
        // At 1/8 the luma keeps its DC alone, so its AC scans are skipped (and so is the
        // 6-63 band of a chroma component that keeps 2x2); the DC scans never are.
        let at_8 = decoded(8);
        assert!(
            at_8.iter()
                .any(|&(start, _, decoded)| start > 0 && !decoded)
        );
        assert!(at_8.iter().all(|&(start, _, decoded)| start > 0 || decoded));
        // At 1/2 the luma's 4x4 reaches every AC scan.
        assert!(decoded(2).iter().all(|&(_, _, decoded)| decoded));
    }

    #[test]
    fn more_decoded_scans_than_read_side_by_side_are_refused() {
        if !has_jpegtran() {
            return;
        }
        // The DC in two steps, each of the luma's first 18 coefficients in five bit steps,
        // the rest in one scan (93 scans; jpegtran takes up to 100): at 1/2 the two DC
        // scans and the 70 of the 14 of these AC coefficients a 4x4 block keeps are
        // decoded, at 1/8 the two DC ones alone.
        let mut script = String::from("0: 0-0, 0, 1; 0: 0-0, 1, 0;");
        for k in 1..=18 {
            script += &format!("0: {k}-{k}, 0, 4;");
            for bit in (1..=4).rev() {
                script += &format!("0: {k}-{k}, {bit}, {};", bit - 1);
            }
        }
        script += "0: 19-63, 0, 0;";
        let grey = encode(150, 77, true, SamplingFactor::R_4_4_4, 0);
        let twin = jpegtran(&grey, &[], Some(&script)).unwrap();
        assert!(matches!(
            decode(&twin, 2, (150, 77)),
            Err(Refusal::Unsupported(_))
        ));
        let expected = decode(&grey, 8, (150, 77)).unwrap();
        let got = decode(&twin, 8, (150, 77)).unwrap();
        let worst = worst_difference(&got.rgb, &expected.rgb);
        assert!(worst <= 1, "1/8: off by {worst}");
    }

    #[test]
    fn data_end_skips_stuffing_and_restart_markers() {
        let data = [
            1, 2, 0xFF, 0x00, 3, 4, 5, 6, 7, 8, 9, 0xFF, 0xD3, 1, 0xFF, 0xFF, 0xC4, 0,
        ];
        assert_eq!(data_end(&data, 0), 14);
        assert_eq!(data_end(&data[..13], 0), 13);
        assert_eq!(data_end(&[0xFF; 3], 0), 3);
        let long: Vec<u8> = (0..100)
            .map(|i| if i == 70 { 0xFF } else { 7 })
            .chain([0xD9])
            .collect();
        assert_eq!(data_end(&long, 0), 70);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any edit of a valid progressive file gives a picture of the declared size or a
        /// refusal.
        #[test]
        fn edited_progressive_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            reduction in prop::sample::select(vec![2u32, 4, 8]),
            file in prop::sample::select(vec![
                "twin_67x45_420_progressive.jpg",
                "twin_67x45_420_restarts.jpg",
                "twin_67x45_420_split_bands.jpg",
            ]),
        ) {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
            let mut jpeg = std::fs::read(format!("{dir}/{file}")).unwrap();
            for (at, byte) in edits {
                let i = at.index(jpeg.len());
                jpeg[i] = byte;
            }
            let keep = jpeg.len() / 2 + cut.index(jpeg.len() / 2 + 1);
            jpeg.truncate(keep);
            if let Ok(decoded) = decode(&jpeg, reduction, (67, 45)) {
                prop_assert_eq!(
                    decoded.rgb.len(),
                    decoded.width as usize * decoded.height as usize * 3
                );
            }
        }
    }
}
