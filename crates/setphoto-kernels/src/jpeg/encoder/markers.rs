//! The marker segments of the file the encoder writes: SOI, JFIF, DQT, SOF0, DHT, SOS.

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
/// chroma DC and AC) and SOS.
pub(super) fn write_headers(
    out: &mut Vec<u8>,
    width: u16,
    height: u16,
    sampling: Sampling,
    luma: &[u8; 64],
    chroma: &[u8; 64],
    huffman: [HuffmanSpec<'_>; 4],
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
        0xC0,
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

    let mut dht = Vec::with_capacity(432);
    for (class_and_id, spec) in [0x00u8, 0x10, 0x01, 0x11].into_iter().zip(&huffman) {
        push_huffman(&mut dht, class_and_id, spec);
    }
    segment(out, 0xC4, &dht);

    // All three components interleaved, full spectral range, no successive approximation.
    segment(out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
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
