//! Deterministic mutations of JPEG, PNG and GIF files for the differential tests: bit
//! flips, byte inserts, truncations, and edits that know the format (markers, segment
//! parameters and lengths; chunk types, IHDR fields and CRCs; GIF blocks and fields).

/// splitmix64: a small, seeded, portable generator, so a run is the same everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// One mutated file and the class of mutation that made it (for the report).
pub struct Mutant {
    pub bytes: Vec<u8>,
    pub class: &'static str,
}

fn flip_bit(bytes: &mut [u8], range: std::ops::Range<usize>, rng: &mut Rng) {
    if range.is_empty() {
        return;
    }
    let at = range.start + rng.below(range.len());
    bytes[at] ^= 1 << rng.below(8);
}

/// A value for a parameter byte: its neighbours, the extremes, or anything.
fn edited(old: u8, rng: &mut Rng) -> u8 {
    match rng.below(6) {
        0 => old.wrapping_add(1),
        1 => old.wrapping_sub(1),
        2 => 0,
        3 => 0xFF,
        4 => old ^ (1 << rng.below(8)),
        _ => rng.byte(),
    }
}

/// Mutations every format gets: a flipped bit in the headers or anywhere, an inserted
/// byte, a truncation.
fn generic(src: &[u8], header_end: usize, rng: &mut Rng) -> Mutant {
    let mut bytes = src.to_vec();
    let class = match rng.below(4) {
        0 => {
            flip_bit(&mut bytes, 0..header_end.min(src.len()), rng);
            "bit flip in the headers"
        }
        1 => {
            flip_bit(&mut bytes, 0..src.len(), rng);
            "bit flip anywhere"
        }
        2 => {
            let at = rng.below(src.len() + 1);
            bytes.insert(at, rng.byte());
            "byte inserted"
        }
        _ => {
            bytes.truncate(1 + rng.below(src.len().max(2) - 1));
            "truncated"
        }
    };
    Mutant { bytes, class }
}

/// A JPEG marker segment: where its `FF` is, its code, and its length field's value
/// (0 for markers without one).
#[derive(Clone, Copy)]
struct Segment {
    at: usize,
    code: u8,
    len: usize,
}

fn jpeg_segments(bytes: &[u8]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 1 < bytes.len() {
        if bytes[pos] != 0xFF || matches!(bytes[pos + 1], 0x00 | 0xFF | 0xD0..=0xD7) {
            pos += 1;
            continue;
        }
        let code = bytes[pos + 1];
        if matches!(code, 0xD8 | 0xD9 | 0x01) {
            out.push(Segment {
                at: pos,
                code,
                len: 0,
            });
            pos += 2;
            continue;
        }
        let Some(len) = bytes.get(pos + 2..pos + 4) else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        out.push(Segment { at: pos, code, len });
        // After SOS the entropy-coded data follows: step over the header and scan on.
        pos += 2 + len.max(2);
    }
    out
}

/// Marker codes a JPEG marker is changed to: frame types decoded and not, tables,
/// scan, restart, image bounds, APPn/COM, and reserved codes.
const JPEG_MARKERS: &[u8] = &[
    0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC9, 0xCA, 0xCC, 0xC4, 0xDB, 0xDA, 0xDD, 0xD8, 0xD9, 0xD0, 0xD5,
    0x01, 0x02, 0x4F, 0xBF, 0xE1, 0xEE, 0xFE, 0xF0, 0xDC, 0xDE, 0xDF,
];

/// One mutation of the JPEG `src`.
pub fn jpeg(src: &[u8], rng: &mut Rng) -> Mutant {
    let segments = jpeg_segments(src);
    let first_scan = segments.iter().find(|s| s.code == 0xDA);
    let header_end = first_scan.map_or(src.len(), |s| s.at + 2 + s.len);
    let with_params: Vec<Segment> = segments
        .iter()
        .copied()
        .filter(|s| matches!(s.code, 0xC0..=0xC2 | 0xC4 | 0xDA | 0xDB | 0xDD) && s.len > 2)
        .collect();
    if segments.is_empty() || with_params.is_empty() {
        return generic(src, header_end, rng);
    }
    let mut bytes = src.to_vec();
    let class = match rng.below(9) {
        0..=3 => return generic(src, header_end, rng),
        4 => {
            let s = rng.pick(&segments);
            bytes[s.at + 1] = rng.pick(JPEG_MARKERS);
            "marker code changed"
        }
        5 | 6 => {
            // The byte to edit: SOF, SOS, DQT, DHT, DRI parameters.
            let s = rng.pick(&with_params);
            let end = (s.at + 2 + s.len).min(bytes.len());
            let at = s.at + 4 + rng.below(end.saturating_sub(s.at + 4).max(1));
            if at < bytes.len() {
                bytes[at] = edited(bytes[at], rng);
            }
            match s.code {
                0xC0..=0xC2 => "frame header parameter edited",
                0xDA => "scan header parameter edited",
                0xC4 => "Huffman table edited",
                0xDB => "quantization table edited",
                _ => "restart interval edited",
            }
        }
        7 => {
            let s = rng.pick(&with_params);
            let at = s.at + 2 + rng.below(2);
            if at < bytes.len() {
                bytes[at] = edited(bytes[at], rng);
            }
            "segment length edited"
        }
        _ => {
            let s = rng.pick(&with_params);
            let end = (s.at + 2 + s.len).min(bytes.len());
            let segment = src[s.at..end].to_vec();
            if rng.below(2) == 0 {
                let to = rng.pick(&segments).at;
                bytes.splice(to..to, segment);
                "segment duplicated"
            } else {
                bytes.drain(s.at..end);
                "segment removed"
            }
        }
    };
    Mutant { bytes, class }
}

/// A PNG chunk: where its length field is, its type and its data length.
#[derive(Clone, Copy)]
struct Chunk {
    at: usize,
    len: usize,
}

fn png_chunks(bytes: &[u8]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut pos = 8;
    while let Some(len) = bytes.get(pos..pos + 4) {
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        if pos + 12 + len > bytes.len() {
            break;
        }
        out.push(Chunk { at: pos, len });
        pos += 12 + len;
    }
    out
}

const PNG_TYPES: &[[u8; 4]] = &[
    *b"IHDR", *b"IDAT", *b"IEND", *b"PLTE", *b"tRNS", *b"gAMA", *b"iCCP", *b"eXIf", *b"acTL",
    *b"fdAT", *b"zzZz", *b"ZZZZ",
];

/// Recomputes the CRC of the chunk at `at`, so an edit tests the field, not the CRC.
fn fix_crc(bytes: &mut [u8], at: usize, len: usize) {
    if let Some(body) = bytes.get(at + 4..at + 8 + len) {
        let crc = crate::bombs::crc32(body);
        bytes[at + 8 + len..at + 12 + len].copy_from_slice(&crc.to_be_bytes());
    }
}

/// One mutation of the PNG `src`.
pub fn png(src: &[u8], rng: &mut Rng) -> Mutant {
    let chunks = png_chunks(src);
    let header_end = chunks
        .iter()
        .find(|c| &src[c.at + 4..c.at + 8] == b"IDAT")
        .map_or(src.len(), |c| c.at);
    if chunks.len() < 2 {
        return generic(src, header_end, rng);
    }
    let mut bytes = src.to_vec();
    let class = match rng.below(9) {
        0..=3 => return generic(src, header_end, rng),
        4 => {
            let c = rng.pick(&chunks);
            if rng.below(2) == 0 {
                // Critical <-> ancillary and the other case bits.
                bytes[c.at + 4 + rng.below(4)] ^= 0x20;
            } else {
                bytes[c.at + 4..c.at + 8].copy_from_slice(&rng.pick(PNG_TYPES));
            }
            fix_crc(&mut bytes, c.at, c.len);
            "chunk type changed"
        }
        5 => {
            // IHDR fields: size, bit depth, colour type, methods, interlace.
            let c = chunks[0];
            let at = c.at + 8 + rng.below(13);
            bytes[at] = match at - c.at - 8 {
                8 => rng.pick(&[0, 1, 2, 3, 4, 5, 8, 16, 32]),
                9 => rng.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 8]),
                _ => edited(bytes[at], rng),
            };
            fix_crc(&mut bytes, c.at, c.len);
            "IHDR field edited"
        }
        6 => {
            let c = rng.pick(&chunks);
            let at = c.at + 8 + c.len + rng.below(4);
            bytes[at] ^= 1 << rng.below(8);
            if src[c.at + 4] & 0x20 == 0 {
                "CRC of a critical chunk broken"
            } else {
                "CRC of an ancillary chunk broken"
            }
        }
        7 => {
            let c = rng.pick(&chunks);
            let at = c.at + rng.below(4);
            bytes[at] = edited(bytes[at], rng);
            "chunk length edited"
        }
        _ => {
            let c = rng.pick(&chunks);
            let chunk = src[c.at..c.at + 12 + c.len].to_vec();
            match rng.below(3) {
                0 => {
                    let to = rng.pick(&chunks).at;
                    bytes.splice(to..to, chunk);
                    "chunk duplicated"
                }
                1 => {
                    bytes.drain(c.at..c.at + 12 + c.len);
                    "chunk removed"
                }
                _ => {
                    bytes.drain(c.at..c.at + 12 + c.len);
                    let to = rng.pick(&png_chunks(&bytes)).at.min(bytes.len());
                    bytes.splice(to..to, chunk);
                    "chunk moved"
                }
            }
        }
    };
    Mutant { bytes, class }
}

/// Where a GIF's blocks start: extension and image introducers, each image's LZW minimum
/// code size byte, and the trailer.
struct GifLayout {
    blocks: Vec<usize>,
    descriptors: Vec<usize>,
    code_sizes: Vec<usize>,
    header_end: usize,
}

fn gif_layout(bytes: &[u8]) -> GifLayout {
    let mut layout = GifLayout {
        blocks: Vec::new(),
        descriptors: Vec::new(),
        code_sizes: Vec::new(),
        header_end: bytes.len(),
    };
    let Some(&flags) = bytes.get(10) else {
        return layout;
    };
    let table = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let mut pos = 13 + table(flags);
    let skip_sub_blocks = |mut pos: usize| {
        while let Some(&n) = bytes.get(pos) {
            pos += 1 + usize::from(n);
            if n == 0 {
                break;
            }
        }
        pos
    };
    while let Some(&introducer) = bytes.get(pos) {
        layout.blocks.push(pos);
        match introducer {
            0x21 => pos = skip_sub_blocks(pos + 2),
            0x2C => {
                layout.descriptors.push(pos);
                let Some(&flags) = bytes.get(pos + 9) else {
                    break;
                };
                let code_size = pos + 10 + table(flags);
                layout.header_end = layout.header_end.min(code_size + 1);
                layout.code_sizes.push(code_size);
                pos = skip_sub_blocks(code_size + 1);
            }
            _ => break,
        }
    }
    layout
}

/// One mutation of the GIF `src`.
pub fn gif(src: &[u8], rng: &mut Rng) -> Mutant {
    let layout = gif_layout(src);
    if layout.descriptors.is_empty() {
        return generic(src, layout.header_end, rng);
    }
    let mut bytes = src.to_vec();
    let class = match rng.below(8) {
        0..=3 => return generic(src, layout.header_end, rng),
        4 => {
            let at = 6 + rng.below(7);
            bytes[at] = edited(bytes[at], rng);
            "logical screen edited"
        }
        5 => {
            let d = rng.pick(&layout.descriptors);
            let at = (d + 1 + rng.below(9)).min(bytes.len() - 1);
            bytes[at] = edited(bytes[at], rng);
            "image descriptor edited"
        }
        6 => {
            let at = rng.pick(&layout.code_sizes);
            if at < bytes.len() {
                bytes[at] = rng.pick(&[0, 1, 2, 7, 8, 11, 12, 13, 255]);
            }
            "LZW code size edited"
        }
        _ => {
            let at = rng.pick(&layout.blocks);
            bytes[at] = rng.pick(&[0x00, 0x21, 0x2C, 0x3B, 0x2D, 0xFF]);
            "block introducer changed"
        }
    };
    Mutant { bytes, class }
}
