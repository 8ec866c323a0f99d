//! The marker segments of the file the encoder writes: SOI, JFIF, DQT, SOF0 or SOF2, DHT,
//! SOS.

use super::Sampling;
use super::tables::{self, HuffmanSpec};

/// The quantisation tables 0 (luma) and 1 (chroma) that a file declares, natural order: what
/// [`write_headers`] wrote, read back segment by segment up to the first scan (8-bit tables
/// only, as the encoder writes them). For the tests and the fuzz harness, which hold files to
/// their own tables.
#[cfg(any(test, feature = "harness"))]
pub(crate) fn declared_quant_tables(jpeg: &[u8]) -> Option<[[u8; 64]; 2]> {
    let mut found = [None; 2];
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let segment = jpeg.get(at + 4..at + 2 + length)?;
        if marker == 0xDA {
            break;
        }
        if marker == 0xDB {
            for table in segment.chunks(65) {
                let (precision, id) = (table[0] >> 4, usize::from(table[0] & 15));
                if precision == 0 && id < 2 && table.len() == 65 {
                    let mut natural = [0; 64];
                    for (k, &q) in table[1..].iter().enumerate() {
                        natural[tables::ZIGZAG[k]] = q;
                    }
                    found[id] = Some(natural);
                }
            }
        }
        at += 2 + length;
    }
    Some([found[0]?, found[1]?])
}

/// SOI, JFIF APP0, both quantisation tables, SOF0, the four Huffman tables (luma DC and AC,
/// chroma DC and AC) and SOS: the headers of a sequential file.
pub(super) fn write_headers(
    out: &mut Vec<u8>,
    width: u16,
    height: u16,
    sampling: Sampling,
    luma: &[u8; 64],
    chroma: &[u8; 64],
    huffman: [HuffmanSpec<'_>; 4],
) {
    write_frame(out, width, height, sampling, luma, chroma, false);
    let [luma_dc, luma_ac, chroma_dc, chroma_ac] = huffman;
    write_huffman(
        out,
        &[
            (0x00, luma_dc),
            (0x10, luma_ac),
            (0x01, chroma_dc),
            (0x11, chroma_ac),
        ],
    );
    // All three components interleaved, full spectral range, no successive approximation.
    write_scan_header(out, &[(1, 0x00), (2, 0x11), (3, 0x11)], (0, 63));
}

/// SOI, JFIF APP0, both quantisation tables and the frame header: SOF0, or SOF2 when
/// `progressive`.
pub(super) fn write_frame(
    out: &mut Vec<u8>,
    width: u16,
    height: u16,
    sampling: Sampling,
    luma: &[u8; 64],
    chroma: &[u8; 64],
    progressive: bool,
) {
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
    // 8-bit samples; Y with table 0, sampled 2x2 (4:2:0) or 1x1 (4:4:4) against Cb and Cr
    // at 1x1 with table 1.
    let luma_sampling = match sampling {
        Sampling::Yuv420 => 0x22,
        Sampling::Yuv444 => 0x11,
    };
    segment(
        out,
        if progressive { 0xC2 } else { 0xC0 },
        &[
            8,
            height_hi,
            height_lo,
            width_hi,
            width_lo,
            3,
            1,
            luma_sampling,
            0,
            2,
            0x11,
            1,
            3,
            0x11,
            1,
        ],
    );
}

/// One DHT segment defining each `(class << 4 | id, table)`.
pub(super) fn write_huffman(out: &mut Vec<u8>, tables: &[(u8, HuffmanSpec<'_>)]) {
    let mut dht = Vec::with_capacity(tables.len() * 180);
    for (class_and_id, spec) in tables {
        push_huffman(&mut dht, *class_and_id, spec);
    }
    segment(out, 0xC4, &dht);
}

/// SOS for `components` (each its id and `dc << 4 | ac` table ids) over the zig-zag band
/// `first..=last`, with no successive approximation.
pub(super) fn write_scan_header(
    out: &mut Vec<u8>,
    components: &[(u8, u8)],
    (first, last): (u8, u8),
) {
    let mut sos = Vec::with_capacity(4 + 2 * components.len());
    sos.push(components.len() as u8);
    for &(id, tables) in components {
        sos.extend([id, tables]);
    }
    sos.extend([first, last, 0]);
    segment(out, 0xDA, &sos);
}

fn push_huffman(dht: &mut Vec<u8>, class_and_id: u8, spec: &HuffmanSpec<'_>) {
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
