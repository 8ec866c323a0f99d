//! Entropy coding: Huffman codes from a DHT-style spec, a bit writer with JPEG's 0xFF byte
//! stuffing, and the coding of one quantised block.

use super::tables::HuffmanSpec;

/// The code and its length for every symbol of one table, packed as `code << 8 | length` so
/// one load fetches both (length 0: not in the table).
#[derive(Debug)]
pub(super) struct HuffmanCodes {
    packed: [u32; 256],
}

impl HuffmanCodes {
    /// Assigns canonical codes (T.81 Annex C): shortest first, each length continuing from
    /// the previous code shifted left.
    pub(super) fn new(spec: &HuffmanSpec) -> Self {
        let mut packed = [0u32; 256];
        let mut next = 0u32;
        let mut symbols = spec.symbols.iter();
        for (length, &count) in (1u32..).zip(&spec.counts) {
            for _ in 0..count {
                let Some(&symbol) = symbols.next() else {
                    break;
                };
                packed[usize::from(symbol)] = next << 8 | length;
                next += 1;
            }
            next <<= 1;
        }
        Self { packed }
    }

    /// `symbol`'s code and length.
    #[cfg(test)]
    fn code(&self, symbol: u8) -> (u32, u32) {
        let entry = self.packed[usize::from(symbol)];
        (entry >> 8, entry & 0xFF)
    }

    /// `symbol`'s code followed by `extra_bits` low bits of `extra`, as one (bits, length) pair.
    #[inline(always)]
    fn with_extra(&self, symbol: usize, extra: u32, extra_bits: u32) -> (u64, u32) {
        let entry = self.packed[symbol & 0xFF];
        let code = u64::from(entry >> 8);
        (
            (code << extra_bits) | u64::from(extra),
            (entry & 0xFF) + extra_bits,
        )
    }
}

/// Appends an entropy-coded segment to a byte vector, 32 bits at a time, inserting the 0x00
/// that must follow every 0xFF data byte.
#[derive(Debug)]
pub(super) struct BitWriter {
    out: Vec<u8>,
    /// Pending bits are the low `pending` bits; anything above them was already written.
    buffer: u64,
    pending: u32,
}

impl BitWriter {
    pub(super) const fn new(out: Vec<u8>) -> Self {
        Self {
            out,
            buffer: 0,
            pending: 0,
        }
    }

    /// Writes the low `length` bits of `bits` (`length` at most 32).
    #[inline(always)]
    pub(super) fn put(&mut self, bits: u64, length: u32) {
        // pending < 32 on entry, so at most 63 bits are held.
        self.buffer = (self.buffer << length) | bits;
        self.pending += length;
        if self.pending >= 32 {
            self.pending -= 32;
            let word = (self.buffer >> self.pending) as u32;
            self.write_word(word);
        }
    }

    #[inline(always)]
    fn write_word(&mut self, word: u32) {
        // A byte is 0xFF exactly when its complement is zero: the classic zero-byte test.
        let inverted = !word;
        let has_ff = inverted.wrapping_sub(0x0101_0101) & word & 0x8080_8080 != 0;
        if has_ff {
            for byte in word.to_be_bytes() {
                self.push_byte(byte);
            }
        } else {
            self.out.extend_from_slice(&word.to_be_bytes());
        }
    }

    fn push_byte(&mut self, byte: u8) {
        self.out.push(byte);
        if byte == 0xFF {
            self.out.push(0x00);
        }
    }

    /// Pads the last byte with 1 bits (T.81 F.1.2.3) and returns the bytes.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let pad = (8 - self.pending % 8) % 8;
        self.put((1 << pad) - 1, pad);
        while self.pending > 0 {
            self.pending -= 8;
            let byte = (self.buffer >> self.pending) as u8;
            self.push_byte(byte);
        }
        self.out
    }
}

/// The magnitude category of `value` (its bit length) and the bits that encode it: the value
/// itself when positive, its one's complement when negative (T.81 F.1.2.1).
#[inline(always)]
fn category(value: i32) -> (u32, u32) {
    let size = 32 - value.unsigned_abs().leading_zeros();
    let bits = (value + (value >> 31)) as u32 & ((1u32 << size) - 1);
    (size, bits)
}

/// Codes one block of quantised coefficients in zig-zag order; `previous_dc` is the
/// component's predictor.
#[inline(always)]
pub(super) fn encode_block(
    writer: &mut BitWriter,
    zigzag: &[i32; 64],
    previous_dc: &mut i32,
    dc: &HuffmanCodes,
    ac: &HuffmanCodes,
) {
    let (size, bits) = category(zigzag[0] - *previous_dc);
    *previous_dc = zigzag[0];
    let (code, length) = dc.with_extra(size as usize, bits, size);
    writer.put(code, length);

    // Visit only the non-zero AC coefficients: a 64-bit mask, lowest set bit first.
    // One byte per coefficient (a vector compare), then eight bytes of 0/1 at a time
    // gathered into eight bits by one multiplication: byte i lands on bit 56 + i, and no two
    // partial products share a bit, so nothing carries.
    let flags: [u8; 64] = std::array::from_fn(|i| u8::from(zigzag[i] != 0));
    let mut nonzero = 0u64;
    for (group, bytes) in flags.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        nonzero |= (word.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (group * 8);
    }
    nonzero &= !1; // the DC coefficient is coded above
    let mut last = 0u32;
    while nonzero != 0 {
        let index = nonzero.trailing_zeros();
        nonzero &= nonzero - 1;
        let mut run = index - last - 1;
        while run >= 16 {
            let (code, length) = ac.with_extra(0xF0, 0, 0);
            writer.put(code, length);
            run -= 16;
        }
        let (size, bits) = category(zigzag[index as usize]);
        let (code, length) = ac.with_extra((run << 4 | size) as usize, bits, size);
        writer.put(code, length);
        last = index;
    }
    if last != 63 {
        let (code, length) = ac.with_extra(0x00, 0, 0);
        writer.put(code, length);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tables::{CHROMA_AC, CHROMA_DC, LUMA_AC, LUMA_DC};
    use super::*;

    #[test]
    fn codes_are_prefix_free_and_never_all_ones() {
        for spec in [&LUMA_DC, &LUMA_AC, &CHROMA_DC, &CHROMA_AC] {
            let codes = HuffmanCodes::new(spec);
            let used: Vec<(u32, u32)> = spec.symbols.iter().map(|&s| codes.code(s)).collect();
            for (i, &(a, la)) in used.iter().enumerate() {
                assert!((1..=16).contains(&la));
                assert_ne!(a, (1 << la) - 1, "all-ones code");
                for &(b, lb) in &used[i + 1..] {
                    let shorter = la.min(lb);
                    let prefix = |c: u32, l: u32| c >> (l - shorter);
                    assert_ne!(prefix(a, la), prefix(b, lb), "one code prefixes another");
                }
            }
        }
    }

    #[test]
    fn runs_of_zeros_longer_than_sixteen_use_zrl() {
        // DC 0, one AC at zig-zag 40 (a run of 39 zeros: ZRL, ZRL, then run 7), one at 63.
        let mut block = [0i32; 64];
        block[40] = 5;
        block[63] = -1;
        let (dc, ac) = (
            HuffmanCodes::new(&super::super::tables::LUMA_DC),
            HuffmanCodes::new(&LUMA_AC),
        );
        let mut writer = BitWriter::new(Vec::new());
        let mut predictor = 0;
        encode_block(&mut writer, &block, &mut predictor, &dc, &ac);
        let mut expected = BitWriter::new(Vec::new());
        let mut put = |(code, length): (u32, u32), extra: u64, extra_bits: u32| {
            expected.put(u64::from(code) << extra_bits | extra, length + extra_bits);
        };
        put(dc.code(0), 0, 0);
        put(ac.code(0xF0), 0, 0);
        put(ac.code(0xF0), 0, 0);
        put(ac.code(0x73), 5, 3);
        put(ac.code(0xF0), 0, 0); // 22 zeros (41..=62): ZRL, then run 6
        put(ac.code(0x61), 0, 1); // size 1, -1 coded as 0
        assert_eq!(writer.finish(), expected.finish());
    }

    #[test]
    fn categories_follow_t81() {
        assert_eq!(category(0), (0, 0));
        assert_eq!(category(1), (1, 1));
        assert_eq!(category(-1), (1, 0));
        assert_eq!(category(-3), (2, 0));
        assert_eq!(category(3), (2, 3));
        assert_eq!(category(-1023), (10, 0));
        assert_eq!(category(1023), (10, 1023));
        assert_eq!(category(-2047), (11, 0));
        assert_eq!(category(-4), (3, 3));
    }

    #[test]
    fn ff_bytes_are_stuffed_and_the_tail_is_padded_with_ones() {
        let mut writer = BitWriter::new(Vec::new());
        writer.put(0xFF, 8);
        writer.put(0x12, 8);
        writer.put(0xFFFF, 16);
        writer.put(0b101, 3);
        assert_eq!(
            writer.finish(),
            [0xFF, 0x00, 0x12, 0xFF, 0x00, 0xFF, 0x00, 0b1011_1111]
        );
        let mut writer = BitWriter::new(Vec::new());
        writer.put(0b1111, 4);
        // Padding that makes 0xFF is stuffed too.
        assert_eq!(writer.finish(), [0xFF, 0x00]);
    }
}
