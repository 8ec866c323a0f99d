//! Entropy coding: Huffman codes from a DHT-style spec, a bit writer with JPEG's 0xFF byte
//! stuffing, and the coding of one quantised block.

use super::tables::HuffmanSpec;

/// The code and its length for every symbol of one table, packed as `code << 8 | length` so
/// one load fetches both (length 0: not in the table).
#[derive(Debug)]
pub(crate) struct HuffmanCodes {
    packed: [u32; 256],
}

impl HuffmanCodes {
    /// Assigns canonical codes (T.81 Annex C): shortest first, each length continuing from
    /// the previous code shifted left.
    pub(crate) fn new(spec: &HuffmanSpec<'_>) -> Self {
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
    pub(super) fn code(&self, symbol: u8) -> (u32, u32) {
        let entry = self.packed[usize::from(symbol)];
        (entry >> 8, entry & 0xFF)
    }

    /// The length of `symbol`'s code (0: not in the table).
    pub(super) fn length(&self, symbol: u8) -> u32 {
        self.packed[usize::from(symbol)] & 0xFF
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

/// Appends an entropy-coded segment to a byte vector, inserting the 0x00 that must follow every
/// 0xFF data byte.
///
/// Every `put` stores eight bytes and moves on by the whole bytes it completed, with no branch
/// on how full the buffer is (such a branch is taken every few codes in no pattern, and
/// mispredicted often). The vector is kept longer than what is written (see
/// `reserve_block`), so the store always has room; `finish` cuts it to the written length.
#[derive(Debug)]
pub(crate) struct BitWriter {
    out: Vec<u8>,
    cursor: Cursor,
}

/// Where a `BitWriter` stands: plain values, copied out while a block is coded so that they
/// stay in registers (through a `&mut BitWriter` they went to memory on every code).
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// Where the next byte goes; `out[position..]` is scratch.
    position: usize,
    /// Pending bits, left-aligned (the first to be written is bit 63); the rest are zero.
    buffer: u64,
    /// How many bits `buffer` holds: below 8 between calls.
    pending: u32,
}

/// Room one block can need: a DC code with its bits (at most 20 bits) and at most 63 AC codes
/// with theirs (at most 26 bits each, ZRL codes replacing coefficients), all bytes doubled
/// by stuffing, plus the eight-byte store's overhang. A block of a progressive band scan
/// fits too: at most 63 codes and two end-of-band runs (30 bits each) around them.
const BLOCK_ROOM: usize = 2 * (20 + 63 * 26_usize).div_ceil(8) + 24;

impl BitWriter {
    /// A writer that appends to `out`, using its spare capacity as the scratch area.
    pub(crate) fn new(mut out: Vec<u8>) -> Self {
        let position = out.len();
        out.resize(out.capacity().max(position + BLOCK_ROOM), 0);
        Self {
            out,
            cursor: Cursor {
                position,
                buffer: 0,
                pending: 0,
            },
        }
    }

    /// Makes sure one more block fits; call before coding each block.
    #[inline(always)]
    fn reserve_block(&mut self) {
        let needed = self.cursor.position + BLOCK_ROOM;
        if self.out.len() < needed {
            let wanted = needed.max(self.out.len() * 2);
            self.out.resize(wanted, 0);
        }
    }

    /// Writes the low `length` bits of `bits` (`length` at most 32; no bits set above it).
    #[cfg(test)]
    fn put(&mut self, bits: u64, length: u32) {
        self.reserve_block();
        self.cursor.put(&mut self.out, bits, length);
    }

    /// Room for one more block, and the writer's position copied out for coding it (see
    /// [`BlockWriter`]).
    #[inline(always)]
    pub(super) fn block(&mut self) -> BlockWriter<'_> {
        self.reserve_block();
        let Self { out, cursor } = self;
        BlockWriter {
            out: out.as_mut_slice(),
            cursor: *cursor,
            home: cursor,
        }
    }

    /// Pads the last byte with 1 bits (T.81 F.1.2.3) and returns the bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.reserve_block();
        let pad = (8 - self.cursor.pending % 8) % 8;
        self.cursor.put(&mut self.out, (1 << pad) - 1, pad);
        self.out.truncate(self.cursor.position);
        self.out
    }
}

/// One block's codes being written: the writer's position in a local (so that it stays in
/// registers), stored back when dropped.
pub(super) struct BlockWriter<'a> {
    out: &'a mut [u8],
    cursor: Cursor,
    home: &'a mut Cursor,
}

impl BlockWriter<'_> {
    /// Writes `symbol`'s code in `codes` followed by the low `extra_bits` bits of `extra`.
    #[inline(always)]
    pub(super) fn put(&mut self, codes: &HuffmanCodes, symbol: u32, extra: u32, extra_bits: u32) {
        let (code, length) = codes.with_extra(symbol as usize, extra, extra_bits);
        self.cursor.put(self.out, code, length);
    }
}

impl Drop for BlockWriter<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        *self.home = self.cursor;
    }
}

impl Cursor {
    /// Writes the low `length` bits of `bits` (`length` at most 32; no bits set above it) into
    /// `out`, which has room for eight bytes past `position`.
    #[inline(always)]
    fn put(&mut self, out: &mut [u8], bits: u64, length: u32) {
        // pending < 8 on entry, so at most 39 bits are held.
        let total = self.pending + length;
        // `total` is 0 only when `length` and `bits` are: the wrapped shift is then harmless.
        self.buffer |= bits.wrapping_shl(64 - total);
        let complete = (total / 8) as usize;
        // Bits past `total` are zero, so a 0xFF byte can only be a complete one.
        let inverted = !self.buffer;
        let has_ff =
            inverted.wrapping_sub(0x0101_0101_0101_0101) & self.buffer & 0x8080_8080_8080_8080 != 0;
        if has_ff {
            self.position = write_stuffed(out, self.position, self.buffer, complete);
        } else {
            out[self.position..][..8].copy_from_slice(&self.buffer.to_be_bytes());
            self.position += complete;
        }
        // complete <= 4, so the shift stays below 64.
        self.buffer <<= complete * 8;
        self.pending = total % 8;
    }
}

/// The rare path: the top `complete` bytes of `buffer` into `out` at `position`, each 0xFF
/// followed by 0x00; returns the position after them.
#[cold]
fn write_stuffed(out: &mut [u8], mut position: usize, buffer: u64, complete: usize) -> usize {
    for &byte in &buffer.to_be_bytes()[..complete] {
        out[position] = byte;
        position += 1;
        if byte == 0xFF {
            out[position] = 0x00;
            position += 1;
        }
    }
    position
}

/// The magnitude category of `value` (its bit length) and the bits that encode it: the value
/// itself when positive, its one's complement when negative (T.81 F.1.2.1).
#[inline(always)]
pub(super) fn category(value: i32) -> (u32, u32) {
    let size = 32 - value.unsigned_abs().leading_zeros();
    let bits = (value + (value >> 31)) as u32 & ((1u32 << size) - 1);
    (size, bits)
}

/// The order in which a block's coefficients are coded, for blocks stored in another order.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Where the `k`-th coefficient in zig-zag order is stored.
    position: [u8; 64],
    /// For byte `j` of a stored-order bit mask (stored positions `8j..8j + 8`) and its value,
    /// the same bits at their zig-zag indices: eight lookups reorder a 64-bit mask.
    zigzag_bits: [[u64; 256]; 8],
}

impl Scan {
    /// For coefficients stored so that the `k`-th in zig-zag order is at `position[k]` (a
    /// permutation of 0..64).
    pub(crate) const fn new(position: &[usize; 64]) -> Self {
        let mut stored = [0u8; 64];
        let mut zigzag_index = [0u32; 64];
        let mut k = 0;
        while k < 64 {
            stored[k] = position[k] as u8;
            zigzag_index[position[k]] = k as u32;
            k += 1;
        }
        let mut zigzag_bits = [[0u64; 256]; 8];
        let mut byte = 0;
        while byte < 8 {
            let mut value = 0;
            while value < 256 {
                let mut bits = 0u64;
                let mut bit = 0;
                while bit < 8 {
                    if value >> bit & 1 == 1 {
                        bits |= 1 << zigzag_index[byte * 8 + bit];
                    }
                    bit += 1;
                }
                zigzag_bits[byte][value] = bits;
                value += 1;
            }
            byte += 1;
        }
        Self {
            position: stored,
            zigzag_bits,
        }
    }

    /// Where the `k`-th coefficient in zig-zag order is stored.
    #[inline(always)]
    pub(super) fn stored(&self, k: usize) -> usize {
        usize::from(self.position[k])
    }

    /// Bit `k` set when the `k`-th coefficient in zig-zag order is not zero.
    #[inline(always)]
    pub(super) fn nonzero(&self, coefficients: &[i32; 64]) -> u64 {
        // One byte per coefficient (a vector compare), then eight bytes of 0/1 at a time
        // gathered into eight bits by one multiplication (byte i lands on bit 56 + i, and no
        // two partial products share a bit, so nothing carries) and moved to their zig-zag
        // places by one lookup.
        let flags: [u8; 64] = std::array::from_fn(|i| u8::from(coefficients[i] != 0));
        let mut nonzero = 0u64;
        for (group, bytes) in flags.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
            let stored_bits = (word.wrapping_mul(0x0102_0408_1020_4080) >> 56) as usize;
            nonzero |= self.zigzag_bits[group][stored_bits];
        }
        nonzero
    }
}

/// How many times each symbol of one table is coded in a picture.
#[derive(Debug, Clone)]
pub(crate) struct SymbolCounts {
    counts: [u64; 256],
}

impl SymbolCounts {
    /// No symbol counted yet.
    pub(crate) const fn new() -> Self {
        Self { counts: [0; 256] }
    }

    /// Counts one use of `symbol` (its low byte).
    #[inline(always)]
    pub(crate) fn add(&mut self, symbol: usize) {
        self.counts[symbol & 0xFF] += 1;
    }

    /// Counts `times` uses of `symbol` (its low byte).
    #[cfg(test)]
    pub(crate) fn add_many(&mut self, symbol: usize, times: u64) {
        self.counts[symbol & 0xFF] += times;
    }

    /// The count of every symbol, by symbol.
    pub(crate) const fn as_array(&self) -> &[u64; 256] {
        &self.counts
    }
}

/// Counts the symbols `encode_block` would code for the same block: what a table fitted to
/// the picture is built from.
#[inline(always)]
pub(crate) fn count_block(
    coefficients: &[i32; 64],
    scan: &Scan,
    previous_dc: &mut i32,
    dc: &mut SymbolCounts,
    ac: &mut SymbolCounts,
) {
    let dc_value = coefficients[usize::from(scan.position[0])];
    let (size, _) = category(dc_value - *previous_dc);
    *previous_dc = dc_value;
    dc.add(size as usize);

    let mut nonzero = scan.nonzero(coefficients) & !1;
    let mut last = 0u32;
    while nonzero != 0 {
        let index = nonzero.trailing_zeros();
        nonzero &= nonzero - 1;
        let mut run = index - last - 1;
        while run >= 16 {
            ac.add(0xF0);
            run -= 16;
        }
        let (size, _) = category(coefficients[usize::from(scan.position[index as usize])]);
        ac.add((run << 4 | size) as usize);
        last = index;
    }
    if last != 63 {
        ac.add(0x00);
    }
}

/// Codes one block of quantised coefficients, stored in `scan`'s order; `previous_dc` is the
/// component's predictor.
#[inline(always)]
pub(crate) fn encode_block(
    writer: &mut BitWriter,
    coefficients: &[i32; 64],
    scan: &Scan,
    previous_dc: &mut i32,
    dc: &HuffmanCodes,
    ac: &HuffmanCodes,
) {
    writer.reserve_block();
    let out = writer.out.as_mut_slice();
    let mut cursor = writer.cursor;
    let dc_value = coefficients[usize::from(scan.position[0])];
    let (size, bits) = category(dc_value - *previous_dc);
    *previous_dc = dc_value;
    let (code, length) = dc.with_extra(size as usize, bits, size);
    cursor.put(out, code, length);

    // Visit only the non-zero AC coefficients, in zig-zag order: lowest set bit first.
    let mut nonzero = scan.nonzero(coefficients) & !1; // the DC coefficient is coded above
    let mut last = 0u32;
    while nonzero != 0 {
        let index = nonzero.trailing_zeros();
        nonzero &= nonzero - 1;
        let mut run = index - last - 1;
        while run >= 16 {
            let (code, length) = ac.with_extra(0xF0, 0, 0);
            cursor.put(out, code, length);
            run -= 16;
        }
        let (size, bits) = category(coefficients[usize::from(scan.position[index as usize])]);
        let (code, length) = ac.with_extra((run << 4 | size) as usize, bits, size);
        cursor.put(out, code, length);
        last = index;
    }
    if last != 63 {
        let (code, length) = ac.with_extra(0x00, 0, 0);
        cursor.put(out, code, length);
    }
    writer.cursor = cursor;
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
        let in_order = Scan::new(&std::array::from_fn(|k| k));
        encode_block(&mut writer, &block, &in_order, &mut predictor, &dc, &ac);
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

    /// Bit by bit, the way T.81 describes it.
    fn reference_bytes(codes: &[(u64, u32)]) -> Vec<u8> {
        let mut bits: Vec<bool> = codes
            .iter()
            .flat_map(|&(value, length)| (0..length).rev().map(move |i| value >> i & 1 == 1))
            .collect();
        while !bits.len().is_multiple_of(8) {
            bits.push(true);
        }
        let mut bytes = Vec::new();
        for chunk in bits.chunks(8) {
            let byte = chunk.iter().fold(0u8, |acc, &bit| acc << 1 | u8::from(bit));
            bytes.push(byte);
            if byte == 0xFF {
                bytes.push(0x00);
            }
        }
        bytes
    }

    proptest::proptest! {
        /// Codes written through the eight-byte stores give the bytes of a bit-by-bit writer;
        /// runs of ones make plenty of 0xFF bytes, next to each other and across codes.
        #[test]
        fn codes_are_written_and_stuffed_like_bit_by_bit(
            codes in proptest::collection::vec((0u32..=32, proptest::prelude::any::<u64>(), proptest::prelude::any::<bool>()), 0..120)
        ) {
            let codes: Vec<(u64, u32)> = codes
                .into_iter()
                .map(|(length, random, ones)| {
                    let mask = if length == 0 { 0 } else { u64::MAX >> (64 - length) };
                    (if ones { mask } else { random & mask }, length)
                })
                .collect();
            let mut writer = BitWriter::new(Vec::new());
            // Room for the whole sequence, stuffed, as reserve_block gives a real block.
            writer.out.resize(2 * codes.len() * 4 + 64, 0);
            let mut cursor = writer.cursor;
            for &(value, length) in &codes {
                cursor.put(&mut writer.out, value, length);
            }
            writer.cursor = cursor;
            proptest::prop_assert_eq!(writer.finish(), reference_bytes(&codes));
        }
    }

    proptest::proptest! {
        /// The reordered mask marks exactly the non-zero coefficients, at their zig-zag index,
        /// for the order the DCT leaves them in and for a shuffled one.
        #[test]
        fn the_nonzero_mask_follows_the_scan_order(
            values in proptest::collection::vec(-3i32..=3, 64),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let coefficients: [i32; 64] = values.try_into().unwrap();
            let mut state = seed | 1;
            let mut shuffle: [usize; 64] = std::array::from_fn(|k| k);
            for i in (1..64).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffle.swap(i, (state % (i as u64 + 1)) as usize);
            }
            for order in [super::super::dct::ZIGZAG_AFTER_DCT, shuffle] {
                let scan = Scan::new(&order);
                let mask = scan.nonzero(&coefficients);
                for (k, &stored) in order.iter().enumerate() {
                    proptest::prop_assert_eq!(mask >> k & 1 == 1, coefficients[stored] != 0, "k {}", k);
                }
            }
        }
    }
}
