//! The markers before the first scan: frame, tables, restart interval, colour transform.

use super::Refusal;
use super::color::Model;
use super::huffman::HuffmanTable;

/// One colour component of the frame, with its tables resolved by the scan.
pub(super) struct Component {
    /// Horizontal and vertical sampling factors (1 or more).
    pub(super) h: u32,
    pub(super) v: u32,
    /// The quantisation table, in zig-zag order.
    pub(super) quant: [u16; 64],
    /// Indices of its DC and AC Huffman tables in [`Header::dc`] and [`Header::ac`].
    pub(super) dc: usize,
    pub(super) ac: usize,
}

/// What the decoder needs from the markers up to and including the (only) scan header.
pub(super) struct Header {
    pub(super) width: u32,
    pub(super) height: u32,
    /// In scan order, which is also frame order here.
    pub(super) components: Vec<Component>,
    /// What the components' samples mean.
    pub(super) model: Model,
    /// The tables as defined before the scan; the decoder refuses a scan that uses an
    /// undefined one when it resolves them.
    pub(super) dc: [Option<HuffmanTable>; 4],
    pub(super) ac: [Option<HuffmanTable>; 4],
    /// MCUs per restart interval; 0 when there are none.
    pub(super) restart_interval: u32,
    /// Where the entropy-coded data of the scan begins.
    pub(super) scan_start: usize,
}

/// Reads big-endian fields from one marker segment, refusing reads past its end.
struct Segment<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Segment<'_> {
    fn u8(&mut self) -> Result<u8, Refusal> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or(Refusal::Corrupt("a marker segment ends early"))?;
        self.pos += 1;
        Ok(byte)
    }

    fn u16(&mut self) -> Result<u16, Refusal> {
        Ok(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }

    fn take(&mut self, len: usize) -> Result<&[u8], Refusal> {
        let bytes = self
            .bytes
            .get(self.pos..self.pos + len)
            .ok_or(Refusal::Corrupt("a marker segment ends early"))?;
        self.pos += len;
        Ok(bytes)
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

/// A frame component as the SOF declares it.
pub(super) struct FrameComponent {
    id: u8,
    /// Horizontal and vertical sampling factors (1 to 4).
    pub(super) h: u32,
    pub(super) v: u32,
    /// Which quantisation table it uses.
    pub(super) quant_table: usize,
}

/// Where the markers up to the first scan lead: a sequential frame, ready to decode, or a
/// progressive one, whose scans [`super::progressive`] reads on from `first_scan`.
// Both variants hold the tables (most of their size), and one is made per decode.
#[allow(clippy::large_enum_variant)]
pub(super) enum Parsed {
    Sequential(Header),
    Progressive(ProgressiveStart),
}

/// A progressive frame and the tables defined before its first scan.
pub(super) struct ProgressiveStart {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) components: Vec<FrameComponent>,
    /// What the components' samples mean.
    pub(super) model: Model,
    pub(super) tables: Tables,
    /// Where the first SOS marker begins (its 0xFF).
    pub(super) first_scan: usize,
}

/// The tables in force at some point of the file: DQT, DHT and DRI segments update them.
pub(super) struct Tables {
    /// Quantisation tables in zig-zag order.
    pub(super) quant: [Option<[u16; 64]>; 4],
    /// Huffman tables; a scan that uses an undefined one is refused when it resolves them.
    pub(super) dc: [Option<HuffmanTable>; 4],
    pub(super) ac: [Option<HuffmanTable>; 4],
    /// MCUs (or, in a one-component scan, blocks) per restart interval; 0 when none.
    pub(super) restart_interval: u32,
}

impl Tables {
    pub(super) const fn new() -> Self {
        Self {
            quant: [None; 4],
            dc: [None, None, None, None],
            ac: [None, None, None, None],
            restart_interval: 0,
        }
    }

    /// Takes in a DHT, DQT or DRI segment's `body`; `false` for other markers.
    pub(super) fn define(&mut self, marker: u8, body: &[u8]) -> Result<bool, Refusal> {
        let mut segment = Segment {
            bytes: body,
            pos: 0,
        };
        match marker {
            0xC4 => {
                while !segment.is_empty() {
                    let class_and_id = segment.u8()?;
                    let id = usize::from(class_and_id & 15);
                    let class = class_and_id >> 4;
                    if id > 3 || class > 1 {
                        return Err(Refusal::Corrupt(
                            "a Huffman table of unknown class or index",
                        ));
                    }
                    let counts: [u8; 16] = segment.take(16)?.try_into().expect("16 bytes");
                    let total = counts.iter().map(|&c| usize::from(c)).sum();
                    let table = HuffmanTable::new(&counts, segment.take(total)?)?;
                    if class == 0 {
                        self.dc[id] = Some(table.with_fast_dc());
                    } else {
                        self.ac[id] = Some(table.with_fast_ac());
                    }
                }
            }
            0xDB => {
                while !segment.is_empty() {
                    let precision_and_id = segment.u8()?;
                    let id = usize::from(precision_and_id & 15);
                    if id > 3 || precision_and_id >> 4 > 1 {
                        return Err(Refusal::Corrupt("a quantisation table of unknown index"));
                    }
                    let mut table = [0u16; 64];
                    for value in &mut table {
                        *value = if precision_and_id >> 4 == 0 {
                            u16::from(segment.u8()?)
                        } else {
                            segment.u16()?
                        };
                    }
                    self.quant[id] = Some(table);
                }
            }
            0xDD => self.restart_interval = u32::from(segment.u16()?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Reads the marker at `*pos` (after any fill bytes) and the body of its segment, empty
/// for stand-alone markers (RSTn, TEM, EOI), and moves `*pos` past them.
pub(super) fn next_segment<'a>(
    bytes: &'a [u8],
    pos: &mut usize,
) -> Result<(u8, &'a [u8]), Refusal> {
    // Markers may be preceded by fill bytes (0xFF).
    if bytes.get(*pos) != Some(&0xFF) {
        return Err(Refusal::Corrupt("data where a marker belongs"));
    }
    while bytes.get(*pos) == Some(&0xFF) {
        *pos += 1;
    }
    let marker = *bytes
        .get(*pos)
        .ok_or(Refusal::Corrupt("the file ends before its last marker"))?;
    *pos += 1;
    if matches!(marker, 0xD0..=0xD7 | 0x01 | 0xD9) {
        return Ok((marker, &[]));
    }
    let length = bytes
        .get(*pos..*pos + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(Refusal::Corrupt("a marker segment ends early"))?;
    if length < 2 {
        return Err(Refusal::Corrupt(
            "a marker segment shorter than its length field",
        ));
    }
    let body = bytes
        .get(*pos + 2..*pos + length)
        .ok_or(Refusal::Corrupt("a marker segment ends early"))?;
    *pos += length;
    Ok((marker, body))
}

/// Parses `bytes` from SOI up to the first SOS. Only what this decoder handles is
/// accepted: one baseline, extended sequential or progressive (Huffman, 8-bit) frame of
/// one component, three in YCbCr or RGB, or four in CMYK or YCCK; when sequential, a first
/// scan that holds every component.
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, Refusal> {
    if bytes.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(Refusal::Corrupt("no SOI marker"));
    }
    let mut pos = 2;
    let mut tables = Tables::new();
    let mut frame: Option<(u32, u32, Vec<FrameComponent>, bool)> = None;
    let mut adobe_transform = None;
    let mut jfif = false;
    loop {
        let marker_at = pos;
        let (marker, body) = next_segment(bytes, &mut pos)?;
        let mut segment = Segment {
            bytes: body,
            pos: 0,
        };
        match marker {
            0xD9 => return Err(Refusal::Corrupt("the file ends before the scan")),
            0xD0..=0xD7 | 0x01 => {} // stand-alone markers
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return Err(Refusal::Corrupt("a second frame header"));
                }
                let (width, height, components) = parse_frame(&mut segment)?;
                frame = Some((width, height, components, marker == 0xC2));
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(Refusal::Unsupported(
                    "a lossless, hierarchical or arithmetic-coded JPEG",
                ));
            }
            0xC4 | 0xDB | 0xDD => {
                tables.define(marker, body)?;
            }
            0xE0 => jfif |= body.starts_with(b"JFIF\0"),
            0xEE => {
                if body.starts_with(b"Adobe") && body.len() >= 12 {
                    adobe_transform = Some(body[11]);
                }
            }
            0xDA => {
                let (width, height, frame_components, progressive) =
                    frame.ok_or(Refusal::Corrupt("a scan before the frame header"))?;
                let model = match frame_components.len() {
                    3 => colour_model(&frame_components, jfif, adobe_transform)?,
                    4 => ink_model(adobe_transform)?,
                    _ => Model::Grey,
                };
                if progressive {
                    return Ok(Parsed::Progressive(ProgressiveStart {
                        width,
                        height,
                        components: frame_components,
                        model,
                        tables,
                        first_scan: marker_at,
                    }));
                }
                let components = parse_scan(&mut segment, &frame_components, &tables.quant)?;
                return Ok(Parsed::Sequential(Header {
                    width,
                    height,
                    components,
                    model,
                    dc: tables.dc,
                    ac: tables.ac,
                    restart_interval: tables.restart_interval,
                    scan_start: pos,
                }));
            }
            0xE1..=0xEF | 0xFE => {} // application data and comments
            _ => {
                return Err(Refusal::Unsupported(
                    "a marker this decoder does not handle",
                ));
            }
        }
    }
}

/// One scan of a progressive frame, as its SOS header declares it.
pub(super) struct ScanHeader {
    /// Per component in the scan: its index in the frame, its DC and AC table indices.
    pub(super) components: Vec<(usize, usize, usize)>,
    /// Spectral selection (zig-zag indices `start..=end`) and successive approximation.
    pub(super) start: u8,
    pub(super) end: u8,
    pub(super) high: u8,
    pub(super) low: u8,
}

/// Parses a progressive SOS `body`, refusing parameters T.81 G.1.1.1 does not allow.
pub(super) fn parse_progressive_scan(
    body: &[u8],
    frame: &[FrameComponent],
) -> Result<ScanHeader, Refusal> {
    let mut segment = Segment {
        bytes: body,
        pos: 0,
    };
    let count = usize::from(segment.u8()?);
    if count == 0 || count > frame.len() {
        return Err(Refusal::Corrupt("a scan with no or too many components"));
    }
    let mut components: Vec<(usize, usize, usize)> = Vec::with_capacity(count);
    for _ in 0..count {
        let id = segment.u8()?;
        let tables = segment.u8()?;
        let index = frame
            .iter()
            .position(|c| c.id == id)
            .ok_or(Refusal::Corrupt("a scan component missing from the frame"))?;
        // Interleaved components come in frame order, each once.
        if components.last().is_some_and(|&(last, _, _)| last >= index) {
            return Err(Refusal::Corrupt("scan components out of frame order"));
        }
        let (dc, ac) = (usize::from(tables >> 4), usize::from(tables & 15));
        if dc > 3 || ac > 3 {
            return Err(Refusal::Corrupt("a Huffman table index out of range"));
        }
        components.push((index, dc, ac));
    }
    let (start, end, approximation) = (segment.u8()?, segment.u8()?, segment.u8()?);
    let (high, low) = (approximation >> 4, approximation & 15);
    let bad = if start == 0 {
        end != 0
    } else {
        end < start || end > 63 || count != 1
    };
    if bad || low > 13 || (high != 0 && low + 1 != high) {
        return Err(Refusal::Corrupt("invalid progressive scan parameters"));
    }
    Ok(ScanHeader {
        components,
        start,
        end,
        high,
        low,
    })
}

fn parse_frame(segment: &mut Segment) -> Result<(u32, u32, Vec<FrameComponent>), Refusal> {
    if segment.u8()? != 8 {
        return Err(Refusal::Unsupported("samples of other than 8 bits"));
    }
    let height = u32::from(segment.u16()?);
    let width = u32::from(segment.u16()?);
    if width == 0 || height == 0 {
        return Err(Refusal::Unsupported("a frame without its size (DNL)"));
    }
    let count = segment.u8()?;
    if !matches!(count, 1 | 3 | 4) {
        return Err(Refusal::Unsupported(
            "a component count other than 1, 3 or 4",
        ));
    }
    let mut components = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let id = segment.u8()?;
        let sampling = segment.u8()?;
        let (h, v) = (u32::from(sampling >> 4), u32::from(sampling & 15));
        let quant_table = usize::from(segment.u8()?);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || quant_table > 3 {
            return Err(Refusal::Corrupt(
                "a component's sampling or table is out of range",
            ));
        }
        if components.iter().any(|c: &FrameComponent| c.id == id) {
            return Err(Refusal::Corrupt("two components with one id"));
        }
        components.push(FrameComponent {
            id,
            h,
            v,
            quant_table,
        });
    }
    if count == 1 {
        // One component is coded as single blocks whatever its declared sampling.
        components[0].h = 1;
        components[0].v = 1;
    }
    Ok((width, height, components))
}

/// The scan's components with their tables; refuses a scan that leaves components for
/// later scans (this decoder handles one interleaved scan).
fn parse_scan(
    segment: &mut Segment,
    frame: &[FrameComponent],
    quant: &[Option<[u16; 64]>; 4],
) -> Result<Vec<Component>, Refusal> {
    let count = usize::from(segment.u8()?);
    if count != frame.len() {
        return Err(Refusal::Unsupported("components coded in separate scans"));
    }
    let mut components = Vec::with_capacity(count);
    for expected in frame {
        let id = segment.u8()?;
        let tables = segment.u8()?;
        if id != expected.id {
            return Err(Refusal::Unsupported(
                "a scan in another order than the frame",
            ));
        }
        let (dc, ac) = (usize::from(tables >> 4), usize::from(tables & 15));
        if dc > 3 || ac > 3 {
            return Err(Refusal::Corrupt("a Huffman table index out of range"));
        }
        let quant = quant[expected.quant_table].ok_or(Refusal::Corrupt(
            "a component uses an undefined quantisation table",
        ))?;
        components.push(Component {
            h: expected.h,
            v: expected.v,
            quant,
            dc,
            ac,
        });
    }
    let (start, end, approximation) = (segment.u8()?, segment.u8()?, segment.u8()?);
    if start != 0 || end != 63 || approximation != 0 {
        return Err(Refusal::Corrupt(
            "a sequential scan with spectral selection",
        ));
    }
    Ok(components)
}

/// What four components are, as libjpeg and jpeg-decoder decide: an Adobe marker's
/// transform 2 means YCCK; transform 0, an unknown one and no marker mean CMYK (Adobe's
/// inverted inks). Transform 1 (YCbCr, which four components cannot be) is left to a full
/// decoder.
fn ink_model(adobe_transform: Option<u8>) -> Result<Model, Refusal> {
    match adobe_transform {
        Some(2) => Ok(Model::Ycck),
        Some(1) => Err(Refusal::Unsupported(
            "four components with Adobe's YCbCr transform",
        )),
        _ => Ok(Model::Cmyk),
    }
}

/// What three components are, as libjpeg decides: JFIF means YCbCr; an Adobe marker says
/// by its transform flag (0 RGB, 1 YCbCr; other flags are left to a full decoder);
/// otherwise ids 'R', 'G', 'B' mean RGB and anything else YCbCr.
fn colour_model(
    components: &[FrameComponent],
    jfif: bool,
    adobe_transform: Option<u8>,
) -> Result<Model, Refusal> {
    if jfif {
        return Ok(Model::YCbCr);
    }
    match adobe_transform {
        Some(0) => Ok(Model::Rgb),
        Some(1) => Ok(Model::YCbCr),
        Some(_) => Err(Refusal::Unsupported(
            "an Adobe colour transform other than 0 or 1",
        )),
        None if components.iter().map(|c| c.id).eq(*b"RGB") => Ok(Model::Rgb),
        None => Ok(Model::YCbCr),
    }
}
