//! The constant tables of baseline JPEG: zig-zag order, the example quantisation tables and the
//! typical Huffman tables of ITU-T T.81 Annex K, which every decoder reads from the file's own
//! DQT and DHT segments (so these values set size and quality, never decodability). Files are
//! written with Huffman tables fitted to each picture; the typical ones are kept for tests, as
//! the yardstick fitted tables must beat and for the decoder's tests to encode with.

pub(super) use crate::zigzag::ZIGZAG;

/// Annex K.1 luminance quantisation table, natural order (the quality-50 table).
pub(super) const LUMA_QUANT: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, //
    12, 12, 14, 19, 26, 58, 60, 55, //
    14, 13, 16, 24, 40, 57, 69, 56, //
    14, 17, 22, 29, 51, 87, 80, 62, //
    18, 22, 37, 56, 68, 109, 103, 77, //
    24, 35, 55, 64, 81, 104, 113, 92, //
    49, 64, 78, 87, 103, 121, 120, 101, //
    72, 92, 95, 98, 112, 100, 103, 99,
];

/// Annex K.1 chrominance quantisation table, natural order.
pub(super) const CHROMA_QUANT: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, //
    18, 21, 26, 66, 99, 99, 99, 99, //
    24, 26, 56, 99, 99, 99, 99, 99, //
    47, 66, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99,
];

/// The renditions' luminance table, natural order: the geometric mean of Annex K's and a
/// flat table of 16, rounded. Annex K grows steeply with frequency, tuned for viewing at
/// distance; halving that slope (on a log scale) spends the bytes on the mid frequencies that
/// structural similarity weighs, so a rendition reaches the quality of an Annex K file in
/// fewer bytes (PERFORMANCE.md, "JPEG bytes"). The test beside it derives it again.
pub(super) const RENDITION_LUMA_QUANT: [u8; 64] = [
    16, 13, 13, 16, 20, 25, 29, 31, //
    14, 14, 15, 17, 20, 30, 31, 30, //
    15, 14, 16, 20, 25, 30, 33, 30, //
    15, 16, 19, 22, 29, 37, 36, 31, //
    17, 19, 24, 30, 33, 42, 41, 35, //
    20, 24, 30, 32, 36, 41, 43, 38, //
    28, 32, 35, 37, 41, 44, 44, 40, //
    34, 38, 39, 40, 42, 40, 41, 40,
];

/// The renditions' chrominance table, natural order: 1.3 times the geometric mean of Annex
/// K's and a flat table of 17, rounded. Flattened like the luma table, then raised as a whole,
/// since at the luma table's quality the colour planes came out better than they need to be.
pub(super) const RENDITION_CHROMA_QUANT: [u8; 64] = [
    22, 23, 26, 37, 53, 53, 53, 53, //
    23, 25, 27, 44, 53, 53, 53, 53, //
    26, 27, 40, 53, 53, 53, 53, 53, //
    37, 44, 53, 53, 53, 53, 53, 53, //
    53, 53, 53, 53, 53, 53, 53, 53, //
    53, 53, 53, 53, 53, 53, 53, 53, //
    53, 53, 53, 53, 53, 53, 53, 53, //
    53, 53, 53, 53, 53, 53, 53, 53,
];

/// A Huffman table as DHT stores it: how many codes of each length 1..=16, then the symbols
/// in order of increasing code length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HuffmanSpec<'a> {
    pub(crate) counts: [u8; 16],
    pub(crate) symbols: &'a [u8],
}

/// Annex K.3 table K.3: luminance DC differences.
#[cfg(test)]
pub(crate) const LUMA_DC: HuffmanSpec<'static> = HuffmanSpec {
    counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

/// Annex K.3 table K.4: chrominance DC differences.
#[cfg(test)]
pub(super) const CHROMA_DC: HuffmanSpec<'static> = HuffmanSpec {
    counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

/// Annex K.3 table K.5: luminance AC (run, size) symbols.
#[cfg(test)]
pub(crate) const LUMA_AC: HuffmanSpec<'static> = HuffmanSpec {
    counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
    symbols: &[
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
        0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52,
        0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
        0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64,
        0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
        0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
        0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3,
        0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8,
        0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ],
};

/// Annex K.3 table K.6: chrominance AC (run, size) symbols.
#[cfg(test)]
pub(super) const CHROMA_AC: HuffmanSpec<'static> = HuffmanSpec {
    counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
    symbols: &[
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
        0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33,
        0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18,
        0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
        0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63,
        0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
        0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
        0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
        0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
        0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
    ],
};

/// A base quantisation table scaled to `quality` (1..=100) the way libjpeg does, so `-quality
/// 85` means the same here as in cjpeg, Pillow and libvips. Natural order, 8-bit entries.
pub(super) fn scaled_quant(base: &[u8; 64], quality: u8) -> [u8; 64] {
    let quality = u32::from(quality.clamp(1, 100));
    let percent = if quality < 50 {
        5000 / quality
    } else {
        200 - 2 * quality
    };
    base.map(|q| {
        let scaled = (u32::from(q) * percent + 50) / 100;
        u8::try_from(scaled.clamp(1, 255)).unwrap_or(u8::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_visits_every_coefficient_once_along_antidiagonals() {
        let mut seen = [false; 64];
        for (k, &n) in ZIGZAG.iter().enumerate() {
            assert!(!seen[n]);
            seen[n] = true;
            if k > 0 {
                let (r0, c0) = (ZIGZAG[k - 1] / 8, ZIGZAG[k - 1] % 8);
                let (r1, c1) = (n / 8, n % 8);
                // Each step moves to a neighbour (diagonal, or along an edge).
                assert!(r0.abs_diff(r1) <= 1 && c0.abs_diff(c1) <= 1, "step {k}");
                assert!((r0 + c0).abs_diff(r1 + c1) <= 1);
            }
        }
    }

    #[test]
    fn huffman_specs_cover_every_symbol_of_their_alphabet() {
        let mut ac_alphabet: Vec<u8> = vec![0x00, 0xf0];
        for run in 0..16u8 {
            ac_alphabet.extend((1..=10u8).map(|size| run << 4 | size));
        }
        ac_alphabet.sort_unstable();
        for spec in [&LUMA_AC, &CHROMA_AC] {
            let mut symbols = spec.symbols.to_vec();
            assert_eq!(
                spec.counts.iter().map(|&c| usize::from(c)).sum::<usize>(),
                symbols.len()
            );
            symbols.sort_unstable();
            assert_eq!(symbols, ac_alphabet);
        }
        for spec in [&LUMA_DC, &CHROMA_DC] {
            assert_eq!(
                spec.counts.iter().map(|&c| usize::from(c)).sum::<usize>(),
                12
            );
            assert_eq!(spec.symbols, (0..12).collect::<Vec<u8>>());
        }
    }

    #[test]
    fn the_rendition_tables_are_annex_k_flattened() {
        let flattened = |annex: &[u8; 64], flat: f64, scale: f64| {
            annex.map(|q| {
                let value = scale * (f64::from(q) * flat).sqrt();
                u8::try_from(value.round() as u32).unwrap()
            })
        };
        assert_eq!(flattened(&LUMA_QUANT, 16.0, 1.0), RENDITION_LUMA_QUANT);
        assert_eq!(flattened(&CHROMA_QUANT, 17.0, 1.3), RENDITION_CHROMA_QUANT);
    }

    #[test]
    fn quality_scales_like_libjpeg() {
        assert_eq!(scaled_quant(&LUMA_QUANT, 50), LUMA_QUANT);
        assert_eq!(scaled_quant(&LUMA_QUANT, 100), [1; 64]);
        let q85 = scaled_quant(&LUMA_QUANT, 85);
        assert_eq!((q85[0], q85[1], q85[63]), (5, 3, 30));
        assert!(scaled_quant(&CHROMA_QUANT, 1).iter().all(|&q| q == 255));
    }
}
