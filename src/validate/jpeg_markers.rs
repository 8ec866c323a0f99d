//! The JPEG marker walk of validation: every marker segment up to the end of the image,
//! each scan header checked against its frame, entropy-coded data skipped unread.
//!
//! What it refuses is what libjpeg-turbo refuses with an *error* (and Pillow, built on it,
//! with it): a second SOI or SOF, a frame type we do not decode, a reserved marker,
//! malformed table, frame or scan segments, table indices out of range, tables used before
//! they are defined, scan components missing from the frame, and progressive scan
//! parameters outside the standard's ranges. What libjpeg only warns about is accepted:
//! stray bytes between markers, sequential scans with odd `Ss`/`Se`/`Ah`/`Al`, a
//! progression that skips a refinement step, corrupt entropy data and a premature end
//! after the first scan header. The work is one pass over the bytes, with no allocation
//! beyond the frame's component list.

use crate::error::{BadImage, Error};
use crate::format::Format;
use crate::orient::Orientation;

/// What the walk learnt: the frame's size, the EXIF orientation, and whether the frame is
/// sequential with its components in separate scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) orientation: Orientation,
    /// A sequential frame whose first scan leaves out some of its components (they come
    /// in later scans): a non-interleaved file.
    pub(super) non_interleaved: bool,
    /// A progressive frame (SOF2).
    pub(super) progressive: bool,
    /// Components in the frame.
    pub(super) components: u8,
    /// 8x8 blocks over all components (whole MCUs), what a decoder that keeps every
    /// coefficient holds.
    pub(super) blocks: u64,
    /// Stray bytes or parameterless markers between segments, which libjpeg skips with a
    /// warning.
    pub(super) strays: bool,
}

/// The most components a frame may have (libjpeg's `MAX_COMPONENTS`).
const MAX_COMPONENTS: usize = 10;
/// The most blocks one MCU of an interleaved scan may hold (`D_MAX_BLOCKS_IN_MCU`).
const MAX_BLOCKS_IN_MCU: u32 = 10;
/// The largest successive-approximation shift libjpeg accepts.
const MAX_AL: u8 = 13;

fn bad(reason: &'static str) -> Error {
    Error::BadImage(BadImage::Header {
        format: Format::Jpeg,
        reason,
    })
}

/// One component of the frame header.
#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    blocks: u32,
    quant_table: u8,
    /// Whether a scan has used its quantization table yet (libjpeg checks the table
    /// is defined at the component's first scan).
    latched: bool,
}

/// A Huffman table as defined: the 16 code-length counts and the symbols.
#[derive(Debug, Clone, Copy)]
struct Huffman<'a> {
    counts: &'a [u8],
    symbols: &'a [u8],
}

impl Huffman<'_> {
    /// Whether the table can be built: the codes fit their lengths (none is all ones)
    /// and, for a DC table, every symbol is a bit count of at most 15.
    fn is_valid(&self, dc: bool) -> bool {
        let mut code: u32 = 0;
        for (len, &count) in (1u32..=16).zip(self.counts) {
            code += u32::from(count);
            if code >= 1 << len && count > 0 {
                return false;
            }
            code <<= 1;
        }
        !dc || self.symbols.iter().all(|&s| s <= 15)
    }
}

/// The walk's state between markers.
struct Walk<'a> {
    bytes: &'a [u8],
    pos: usize,
    frame: Option<(Header, bool)>,
    components: Vec<Component>,
    quant_defined: [bool; 4],
    dc_tables: [Option<Huffman<'a>>; 4],
    ac_tables: [Option<Huffman<'a>>; 4],
    restart_interval: u16,
    orientation: Option<Orientation>,
    scans: u32,
    /// Whether the file may hold more than one scan, decided at the first scan as libjpeg
    /// decides it: a progressive frame, or a first scan that leaves out a component.
    multiple_scans: bool,
    /// Whether anything but fill bytes came before a marker outside the scans' data, or a
    /// parameterless marker stood there.
    strays: bool,
}

/// Walks `bytes` (which start with SOI) to the end of the image.
pub(super) fn walk(bytes: &[u8]) -> Result<Header, Error> {
    let mut walk = Walk {
        bytes,
        pos: 2,
        frame: None,
        components: Vec::new(),
        quant_defined: [false; 4],
        dc_tables: [None; 4],
        ac_tables: [None; 4],
        restart_interval: 0,
        orientation: None,
        scans: 0,
        multiple_scans: false,
        strays: false,
    };
    let mut pending = walk.next_segment_marker();
    loop {
        let Some(marker) = pending else {
            return walk.finish();
        };
        pending = match marker {
            0xD8 => return Err(bad("a second start-of-image marker")),
            0xD9 => return walk.finish_at_eoi(),
            // Parameterless: restart markers and TEM, which only belong in scan data.
            0x01 | 0xD0..=0xD7 => {
                walk.strays = true;
                walk.next_segment_marker()
            }
            0xC0..=0xC2 => {
                walk.frame_header(marker == 0xC2)?;
                walk.next_segment_marker()
            }
            0xC3 | 0xC5..=0xCB | 0xCD..=0xCF => {
                return Err(bad(
                    "a lossless, hierarchical or arithmetic-coded frame, which is not decoded",
                ));
            }
            0xC4 => {
                walk.huffman_tables()?;
                walk.next_segment_marker()
            }
            0xCC => {
                walk.arithmetic_conditioning()?;
                walk.next_segment_marker()
            }
            0xDB => {
                walk.quantization_tables()?;
                walk.next_segment_marker()
            }
            0xDD => {
                let segment = walk.segment(false)?;
                let [a, b] = <[u8; 2]>::try_from(segment)
                    .map_err(|_| bad("a restart-interval segment of the wrong length"))?;
                walk.restart_interval = u16::from_be_bytes([a, b]);
                walk.next_segment_marker()
            }
            0xDA => {
                walk.scan_header()?;
                walk.scans += 1;
                walk.skip_entropy_data()?
            }
            0xE0..=0xEF | 0xFE | 0xDC => {
                walk.skipped_segment(marker)?;
                walk.next_segment_marker()
            }
            _ => return Err(bad("a reserved or unknown marker type")),
        };
    }
}

impl<'a> Walk<'a> {
    /// The next marker code, skipping stray bytes, fill bytes and stuffed zeros the way
    /// libjpeg does (it warns about them); `None` at the end of the data.
    fn next_marker(&mut self) -> Option<u8> {
        loop {
            let at = self.pos
                + self
                    .bytes
                    .get(self.pos..)?
                    .iter()
                    .position(|&b| b == 0xFF)?;
            let after = at + self.bytes.get(at..)?.iter().position(|&b| b != 0xFF)?;
            let code = self.bytes[after];
            self.pos = after + 1;
            if code != 0 {
                return Some(code);
            }
        }
    }

    /// The next marker code after a segment, noting whether anything but fill bytes came
    /// before it (see [`Self::next_marker`]).
    fn next_segment_marker(&mut self) -> Option<u8> {
        let start = self.pos;
        let code = self.next_marker()?;
        let run = &self.bytes[start..self.pos - 1];
        self.strays |= run.iter().any(|&b| b != 0xFF);
        Some(code)
    }

    /// The end of the data without an EOI: a premature end, which libjpeg only warns
    /// about once a scan has begun.
    fn finish(&self) -> Result<Header, Error> {
        match self.frame {
            Some((header, _)) if self.scans > 0 => Ok(self.with_orientation(header)),
            _ => Err(Error::BadImage(BadImage::Truncated)),
        }
    }

    fn finish_at_eoi(&self) -> Result<Header, Error> {
        match self.frame {
            Some((header, _)) if self.scans > 0 => Ok(self.with_orientation(header)),
            Some(_) => Err(bad("the image ends before its first scan")),
            None => Err(bad("the image ends before its frame header")),
        }
    }

    fn with_orientation(&self, header: Header) -> Header {
        let progressive = self.frame.is_some_and(|(_, progressive)| progressive);
        Header {
            orientation: self.orientation.unwrap_or_default(),
            non_interleaved: self.multiple_scans && !progressive,
            strays: self.strays,
            ..header
        }
    }

    /// The parameters of the segment at `pos` (after its length), moving past it.
    /// `skipped` is for the segments libjpeg skips unread (APPn, COM, DNL): a length
    /// below 2 skips nothing, and the file ending inside one after the first scan ends
    /// the walk as a premature end would. Elsewhere both are `bad_image`.
    fn segment(&mut self, skipped: bool) -> Result<&'a [u8], Error> {
        let bytes = self.bytes;
        let lenient = skipped && self.scans > 0;
        let empty = &bytes[bytes.len()..];
        let Some(len) = bytes.get(self.pos..self.pos + 2) else {
            self.pos = bytes.len();
            return if lenient {
                Ok(empty)
            } else {
                Err(Error::BadImage(BadImage::Truncated))
            };
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            if skipped {
                self.pos += 2;
                return Ok(empty);
            }
            return Err(bad("a segment length below 2"));
        }
        let Some(segment) = bytes.get(self.pos + 2..self.pos + len) else {
            self.pos = bytes.len();
            return if lenient {
                Ok(empty)
            } else {
                Err(Error::BadImage(BadImage::Truncated))
            };
        };
        self.pos += len;
        Ok(segment)
    }

    /// APPn, COM and DNL: skipped, reading the EXIF orientation from the first APP1.
    fn skipped_segment(&mut self, marker: u8) -> Result<(), Error> {
        let segment = self.segment(true)?;
        if marker == 0xE1
            && self.orientation.is_none()
            && let Some(tiff) = segment.strip_prefix(b"Exif\0\0")
        {
            self.orientation = Some(Orientation::from_tiff(tiff));
        }
        Ok(())
    }

    fn frame_header(&mut self, progressive: bool) -> Result<(), Error> {
        if self.frame.is_some() {
            return Err(bad("a second frame header"));
        }
        let segment = self.segment(false)?;
        let [precision, h1, h0, w1, w0, count, rest @ ..] = segment else {
            return Err(bad("a frame header shorter than 6 bytes"));
        };
        if rest.len() != usize::from(*count) * 3 {
            return Err(bad(
                "a frame header whose length does not fit its components",
            ));
        }
        if *precision != 8 {
            return Err(bad("a sample precision other than 8 bits"));
        }
        if *count == 0 || usize::from(*count) > MAX_COMPONENTS {
            return Err(bad("a frame with no components or more than 10"));
        }
        self.components = rest
            .chunks_exact(3)
            .map(|c| {
                let (h, v) = (c[1] >> 4, c[1] & 15);
                if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                    return Err(bad("sampling factors outside 1 to 4"));
                }
                Ok(Component {
                    id: c[0],
                    blocks: u32::from(h) * u32::from(v),
                    quant_table: c[2],
                    latched: false,
                })
            })
            .collect::<Result<_, _>>()?;
        let (width, height) = (
            u32::from(u16::from_be_bytes([*w1, *w0])),
            u32::from(u16::from_be_bytes([*h1, *h0])),
        );
        let (max_h, max_v) = rest.chunks_exact(3).fold((1, 1), |(h, v), c| {
            (h.max(u32::from(c[1] >> 4)), v.max(u32::from(c[1] & 15)))
        });
        let mcus = u64::from(width.div_ceil(8 * max_h)) * u64::from(height.div_ceil(8 * max_v));
        let per_mcu: u32 = self.components.iter().map(|c| c.blocks).sum();
        let header = Header {
            width,
            height,
            orientation: Orientation::Normal,
            non_interleaved: false,
            progressive,
            components: *count,
            blocks: mcus * u64::from(per_mcu),
            strays: false,
        };
        self.frame = Some((header, progressive));
        Ok(())
    }

    fn huffman_tables(&mut self) -> Result<(), Error> {
        let mut rest = self.segment(false)?;
        while rest.len() > 16 {
            let (index, counts) = (rest[0], &rest[1..17]);
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let after = &rest[17..];
            if total > 256 || total > after.len() {
                return Err(bad("a Huffman table with more symbols than it holds"));
            }
            let table = Huffman {
                counts,
                symbols: &after[..total],
            };
            let slot = usize::from(index & 0x0F);
            match (index >> 4, slot) {
                (0, 0..=3) => self.dc_tables[slot] = Some(table),
                (1, 0..=3) => self.ac_tables[slot] = Some(table),
                _ => return Err(bad("a Huffman table index out of range")),
            }
            rest = &after[total..];
        }
        if rest.is_empty() {
            Ok(())
        } else {
            Err(bad("a Huffman table segment of the wrong length"))
        }
    }

    fn quantization_tables(&mut self) -> Result<(), Error> {
        let mut rest = self.segment(false)?;
        while let Some((&spec, after)) = rest.split_first() {
            let slot = usize::from(spec & 0x0F);
            if slot > 3 {
                return Err(bad("a quantization table index out of range"));
            }
            // libjpeg reads 16-bit entries for any non-zero precision.
            let len = if spec >> 4 == 0 { 64 } else { 128 };
            rest = after
                .get(len..)
                .ok_or_else(|| bad("a quantization table segment of the wrong length"))?;
            self.quant_defined[slot] = true;
        }
        Ok(())
    }

    fn arithmetic_conditioning(&mut self) -> Result<(), Error> {
        let segment = self.segment(false)?;
        if segment.len() % 2 != 0 {
            return Err(bad(
                "an arithmetic-conditioning segment of the wrong length",
            ));
        }
        for pair in segment.chunks_exact(2) {
            let (index, value) = (pair[0], pair[1]);
            if index >= 32 || (index < 16 && value & 0x0F > value >> 4) {
                return Err(bad("an arithmetic-conditioning entry out of range"));
            }
        }
        Ok(())
    }

    fn scan_header(&mut self) -> Result<(), Error> {
        let Some((_, progressive)) = self.frame else {
            return Err(bad("scan data before the frame header"));
        };
        if self.scans > 0 && !self.multiple_scans {
            return Err(bad(
                "a second scan after a sequential scan of every component",
            ));
        }
        let segment = self.segment(false)?;
        let [count, rest @ ..] = segment else {
            return Err(bad("a scan header of the wrong length"));
        };
        let count = usize::from(*count);
        if !(1..=4).contains(&count) || rest.len() != count * 2 + 3 {
            return Err(bad("a scan header of the wrong length"));
        }
        let (specs, params) = rest.split_at(count * 2);
        let (ss, se, ah, al) = (params[0], params[1], params[2] >> 4, params[2] & 15);
        // Like libjpeg, the i-th scan component is looked for among the frame's first
        // four components from index i on (so scan components come in frame order), and
        // naming one twice is refused.
        let mut chosen = [usize::MAX; 4];
        for (i, spec) in specs.chunks_exact(2).enumerate() {
            let found = self
                .components
                .iter()
                .take(4)
                .enumerate()
                .position(|(ci, c)| c.id == spec[0] && ci >= i)
                .filter(|ci| !chosen[..i].contains(ci));
            chosen[i] = found.ok_or_else(|| bad("a scan component that is not in the frame"))?;
        }
        let chosen = &chosen[..count];
        if self.scans == 0 {
            self.multiple_scans = progressive || count < self.components.len();
        }
        if count > 1 {
            let blocks: u32 = chosen.iter().map(|&ci| self.components[ci].blocks).sum();
            if blocks > MAX_BLOCKS_IN_MCU {
                return Err(bad("sampling factors too large for an interleaved scan"));
            }
        }
        for &ci in chosen {
            let component = &mut self.components[ci];
            if !component.latched {
                let slot = usize::from(component.quant_table);
                if slot > 3 || !self.quant_defined[slot] {
                    return Err(bad("a quantization table used before it is defined"));
                }
                component.latched = true;
            }
        }
        let dc_band = ss == 0;
        if progressive {
            let band_ok = if dc_band {
                se == 0
            } else {
                ss <= se && se <= 63 && count == 1
            };
            let refinement_ok = ah == 0 || al + 1 == ah;
            if !band_ok || !refinement_ok || al > MAX_AL {
                return Err(bad("invalid progressive scan parameters"));
            }
        }
        // The Huffman tables each scan decodes with: both of every component in a
        // sequential scan; in a progressive one, DC for a first DC scan (a DC
        // refinement needs none) and AC for an AC scan.
        let (need_dc, need_ac) = if progressive {
            (dc_band && ah == 0, !dc_band)
        } else {
            (true, true)
        };
        for spec in specs.chunks_exact(2) {
            if need_dc {
                check_table(&self.dc_tables, spec[1] >> 4, true, progressive)?;
            }
            if need_ac {
                check_table(&self.ac_tables, spec[1] & 15, false, progressive)?;
            }
        }
        Ok(())
    }

    /// Skips a scan's entropy-coded data to the marker that ends it, which is returned
    /// (`None` at the end of the data). Restart markers belong to the data. Any other
    /// marker below SOF0 inside the data is bogus: libjpeg reaches it after the scan and
    /// refuses it, unless a restart interval is set and a restart marker follows, where it
    /// resynchronises past it.
    fn skip_entropy_data(&mut self) -> Result<Option<u8>, Error> {
        let mut bogus = false;
        loop {
            let Some(code) = self.next_marker() else {
                return if bogus {
                    Err(bad("a reserved or unknown marker type in the scan data"))
                } else {
                    Ok(None)
                };
            };
            match code {
                0xD0..=0xD7 => bogus = false,
                0x01 => {}
                0x02..=0xBF if self.restart_interval > 0 => bogus = true,
                0x02..=0xBF => {
                    return Err(bad("a reserved or unknown marker type in the scan data"));
                }
                _ if bogus => {
                    return Err(bad("a reserved or unknown marker type in the scan data"));
                }
                _ => return Ok(Some(code)),
            }
        }
    }
}

/// Whether Huffman table `index` can decode a scan: defined and well formed, or, in a
/// sequential frame, one of the first two, for which libjpeg's sequential decoder supplies
/// the standard's example tables (motion-JPEG frames carry none); its progressive decoder
/// does not.
fn check_table(
    tables: &[Option<Huffman<'_>>; 4],
    index: u8,
    dc: bool,
    progressive: bool,
) -> Result<(), Error> {
    match tables.get(usize::from(index)) {
        Some(Some(table)) if table.is_valid(dc) => Ok(()),
        Some(Some(_)) => Err(bad("a malformed Huffman table")),
        Some(None) if index <= 1 && !progressive => Ok(()),
        _ => Err(bad("a Huffman table used before it is defined")),
    }
}
