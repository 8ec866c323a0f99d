//! Entropy-coded data: the bit reader (byte stuffing, markers, restart intervals) and
//! Huffman tables with a one-lookup fast path.
//!
//! Most codes in a photo are short, so each table keeps a [`LOOKAHEAD`]-bit index that
//! resolves a code in one load; the AC table goes one step further, as libjpeg-turbo does,
//! and also decodes the coefficient's value when code and value bits fit in the lookahead.

use super::Refusal;

/// Bits resolved by one table lookup.
pub(super) const LOOKAHEAD: u32 = 10;

/// The flag of the AC fast path's entry for the end-of-block code (its value is 0, so
/// the entry holds only this flag and the code's length).
const END_OF_BLOCK: i32 = 1 << 12;

/// A Huffman table from a DHT segment, ready for decoding.
pub(super) struct HuffmanTable {
    /// For each `LOOKAHEAD`-bit prefix: `length << 8 | symbol` of the code it starts with,
    /// or 0 when that code is longer than the lookahead.
    fast: [u16; 1 << LOOKAHEAD],
    /// For an AC table, each prefix whose code and value bits both fit: `value << 16 |
    /// run << 8 | bits used`; [`END_OF_BLOCK`] with the bits used for the EOB code; 0
    /// where they do not fit (and for ZRL).
    fast_ac: [i32; 1 << LOOKAHEAD],
    /// `max_code[len]`: the largest code of `len` bits, left-aligned to 16 bits, plus one
    /// (0 when no code has that length); `max_code[17]` is a sentinel past every code.
    max_code: [u32; 18],
    /// `offset[len]`: added to a `len`-bit code to index `symbols`.
    offset: [i32; 17],
    symbols: [u8; 256],
}

impl HuffmanTable {
    /// Builds the canonical code (T.81 annex C) from a DHT's 16 counts and its symbols;
    /// refuses counts that overflow the code space.
    pub(super) fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, Refusal> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 || values.len() != total {
            return Err(Refusal::Corrupt("a Huffman table has more than 256 codes"));
        }
        let mut table = Self {
            fast: [0; 1 << LOOKAHEAD],
            fast_ac: [0; 1 << LOOKAHEAD],
            max_code: [0; 18],
            offset: [0; 17],
            symbols: [0; 256],
        };
        table.symbols[..total].copy_from_slice(values);
        let mut code: u32 = 0;
        let mut index: usize = 0;
        for len in 1..=16u32 {
            let count = u32::from(counts[len as usize - 1]);
            // `offset[len] + code` is the symbol index of a `len`-bit code.
            table.offset[len as usize] = index as i32 - code as i32;
            if count > 0 {
                if code + count > 1 << len {
                    return Err(Refusal::Corrupt("a Huffman table overflows its code space"));
                }
                for _ in 0..count {
                    if len <= LOOKAHEAD {
                        let shift = LOOKAHEAD - len;
                        let first = (code << shift) as usize;
                        let entry = (len as u16) << 8 | u16::from(values[index]);
                        table.fast[first..first + (1 << shift)].fill(entry);
                    }
                    code += 1;
                    index += 1;
                }
                table.max_code[len as usize] = code << (16 - len);
            }
            code <<= 1;
        }
        table.max_code[17] = u32::MAX;
        Ok(table)
    }

    /// Fills the AC fast path: for each lookahead prefix that holds a whole code of a
    /// coefficient and its value bits, the decoded run and value.
    pub(super) fn with_fast_ac(mut self) -> Self {
        for prefix in 0..(1u32 << LOOKAHEAD) {
            let entry = self.fast[prefix as usize];
            let len = u32::from(entry >> 8);
            if len == 0 {
                continue;
            }
            let symbol = entry & 0xFF;
            let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
            if symbol == 0 {
                self.fast_ac[prefix as usize] = END_OF_BLOCK | len as i32;
                continue;
            }
            if size == 0 || len + size > LOOKAHEAD {
                continue;
            }
            let bits = (prefix >> (LOOKAHEAD - len - size)) & ((1 << size) - 1);
            let value = extend(bits, size);
            self.fast_ac[prefix as usize] = value << 16 | (run << 8 | (len + size)) as i32;
        }
        self
    }
}

/// Sign-extends `size` magnitude bits as T.81's EXTEND does.
#[inline]
fn extend(bits: u32, size: u32) -> i32 {
    if size == 0 {
        0
    } else if bits < 1 << (size - 1) {
        bits as i32 - (1 << size) + 1
    } else {
        bits as i32
    }
}

/// Reads the entropy-coded segment of a scan, MSB first.
///
/// The bits in hand ([`Bits`]) are kept apart from the byte source so that block decoding
/// can hold them in registers: only a refill touches the source.
pub(super) struct BitReader<'a> {
    source: Source<'a>,
    bits: Bits,
}

/// The unread bits, left-aligned: the next bit is the buffer's top bit, and the top
/// `count` bits are unread data. The bits below them are either zero or the data that
/// follows (a refill may load more than it counts), never anything else.
#[derive(Clone, Copy)]
struct Bits {
    buffer: u64,
    count: u32,
}

/// Where the bits come from.
struct Source<'a> {
    data: &'a [u8],
    /// The first byte not yet counted into the bits in hand.
    pos: usize,
    /// Zero bits appended past a marker or the end of the file (the last ones read).
    padding: u32,
    /// A marker (or the end of the data) stopped the reader at `pos`.
    at_marker: bool,
}

impl Source<'_> {
    /// `bits` topped up to at least 56 bits (with zeros past the data).
    ///
    /// Cheap enough to call before every symbol: where the next 8 bytes hold no 0xFF (no
    /// stuffing, no marker) it loads them whole and counts as many whole bytes as fit, with
    /// no branch on how many bits were in hand. A refill only when bits run low would cost
    /// a mispredicted branch every few symbols, more than the refill itself.
    #[inline(always)]
    fn refill(&mut self, bits: Bits) -> Bits {
        // At a marker `pos` is on its 0xFF, so this path is never taken there.
        if let Some(next) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(next.try_into().expect("8 bytes"));
            // A byte is 0xFF exactly when its complement is zero.
            let inverted = !word;
            let has_ff =
                inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            if has_ff == 0 {
                // `count` is at most 63, so the shift is defined; the bytes loaded past
                // the whole ones counted are the data that follows, as `Bits` allows.
                self.pos += ((63 - bits.count) / 8) as usize;
                return Bits {
                    buffer: bits.buffer | word >> bits.count,
                    count: bits.count | 56,
                };
            }
        }
        self.refill_bytewise(bits)
    }

    #[inline(never)]
    fn refill_bytewise(&mut self, mut bits: Bits) -> Bits {
        // Bytes from here on may be unstuffed or padding: clear what the last fast refill
        // loaded past the count.
        bits.buffer &= !(u64::MAX.checked_shr(bits.count).unwrap_or(0));
        while bits.count <= 56 {
            let byte = self.next_byte();
            bits.buffer |= u64::from(byte) << (56 - bits.count);
            bits.count += 8;
        }
        bits
    }

    /// The next byte of entropy-coded data, unstuffed; 0 once a marker or the end is hit.
    fn next_byte(&mut self) -> u8 {
        if self.at_marker {
            self.padding += 8;
            return 0;
        }
        loop {
            let Some(&byte) = self.data.get(self.pos) else {
                self.at_marker = true;
                self.padding += 8;
                return 0;
            };
            if byte != 0xFF {
                self.pos += 1;
                return byte;
            }
            match self.data.get(self.pos + 1) {
                Some(0x00) => {
                    self.pos += 2;
                    return 0xFF;
                }
                // Fill bytes before a marker.
                Some(0xFF) => self.pos += 1,
                _ => {
                    self.at_marker = true;
                    self.padding += 8;
                    return 0;
                }
            }
        }
    }
}

impl Bits {
    /// Tops the bits in hand up to at least 56.
    #[inline(always)]
    fn refill(&mut self, source: &mut Source) {
        *self = source.refill(*self);
    }

    /// The next `LOOKAHEAD` bits, not consumed.
    #[inline(always)]
    fn peek_lookahead(&self) -> usize {
        (self.buffer >> (64 - LOOKAHEAD)) as usize
    }

    /// The next 16 bits, not consumed.
    #[inline(always)]
    fn peek16(&self) -> u32 {
        (self.buffer >> 48) as u32
    }

    /// Drops `bits` (at most the count in hand) bits.
    #[inline(always)]
    fn consume(&mut self, bits: u32) {
        self.buffer <<= bits;
        self.count -= bits;
    }

    /// Reads `size` (at most 16, with as many in hand) bits as a signed coefficient
    /// value (T.81 RECEIVE, EXTEND).
    #[inline(always)]
    fn receive_extend(&mut self, size: u32) -> i32 {
        // A rotation, not a shift by `64 - size`, so that `size` 0 reads nothing.
        let bits = self.buffer.rotate_left(size) as u32 & ((1 << size) - 1);
        self.consume(size);
        extend(bits, size)
    }

    /// Decodes one Huffman symbol; needs 16 bits in hand.
    #[inline(always)]
    fn decode(&mut self, table: &HuffmanTable) -> Result<u8, Refusal> {
        let entry = table.fast[self.peek_lookahead()];
        if entry != 0 {
            self.consume(u32::from(entry >> 8));
            return Ok(entry as u8);
        }
        let (symbol, len) =
            long_code(table, self.peek16()).ok_or(Refusal::Corrupt("an invalid Huffman code"))?;
        self.consume(len);
        Ok(symbol)
    }
}

/// The symbol and length of a code longer than the lookahead that starts `code16`.
#[cold]
fn long_code(table: &HuffmanTable, code16: u32) -> Option<(u8, u32)> {
    let mut len = LOOKAHEAD + 1;
    while code16 >= table.max_code[len as usize] {
        len += 1;
    }
    if len > 16 {
        return None;
    }
    let index = table.offset[len as usize] + (code16 >> (16 - len)) as i32;
    let symbol = *table.symbols.get(usize::try_from(index).ok()?)?;
    Some((symbol, len))
}

impl<'a> BitReader<'a> {
    /// A reader of `data` from its start (the first byte after the SOS header).
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self {
            source: Source {
                data,
                pos: 0,
                padding: 0,
                at_marker: false,
            },
            bits: Bits {
                buffer: 0,
                count: 0,
            },
        }
    }

    /// Decodes one block's coefficients: the DC difference with `dc`, then the AC
    /// coefficients with `ac`. Each nonzero coefficient `k` (zig-zag order) is passed to
    /// `put(k, value)`; returns the DC difference and the last `k` passed (0 if none).
    #[inline(always)]
    pub(super) fn decode_block(
        &mut self,
        dc: &HuffmanTable,
        ac: &HuffmanTable,
        mut put: impl FnMut(usize, i32),
    ) -> Result<(i32, usize), Refusal> {
        // A copy the compiler can keep in registers; written back at the end.
        let mut bits = self.bits;
        let source = &mut self.source;
        // A DC code and its value take at most 16 + 11 bits.
        bits.refill(source);
        let size = u32::from(bits.decode(dc)?);
        if size > 11 {
            return Err(Refusal::Corrupt("a DC difference of more than 11 bits"));
        }
        let diff = bits.receive_extend(size);
        let mut k = 1usize;
        let mut last = 0usize;
        while k < 64 {
            // Enough for any AC code and its value (16 + 10 bits).
            bits.refill(source);
            let fast = ac.fast_ac[bits.peek_lookahead()];
            if fast != 0 {
                bits.consume((fast & 0xFF) as u32);
                if fast & END_OF_BLOCK != 0 {
                    break;
                }
                k += ((fast >> 8) & 0xF) as usize;
                if k > 63 {
                    return Err(Refusal::Corrupt("an AC run past the end of a block"));
                }
                put(k, fast >> 16);
                last = k;
                k += 1;
                continue;
            }
            let symbol = bits.decode(ac)?;
            let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
            if size == 0 {
                if run == 15 {
                    k += 16;
                    continue;
                }
                break; // end of block
            }
            if size > 10 {
                return Err(Refusal::Corrupt("an AC coefficient of more than 10 bits"));
            }
            k += run;
            if k > 63 {
                return Err(Refusal::Corrupt("an AC run past the end of a block"));
            }
            put(k, bits.receive_extend(size));
            last = k;
            k += 1;
        }
        if k > 64 {
            return Err(Refusal::Corrupt("an AC run past the end of a block"));
        }
        self.bits = bits;
        Ok((diff, last))
    }

    /// Whether decoding has read past the data into zero padding: the scan is truncated
    /// or its codes do not line up.
    pub(super) fn overran(&self) -> bool {
        self.source.padding > self.bits.count
    }

    /// At a restart interval's end: drops the partial byte and expects marker
    /// `RST(index % 8)` next.
    pub(super) fn restart(&mut self, index: u32) -> Result<(), Refusal> {
        if self.overran() {
            return Err(Refusal::Corrupt("a restart interval ends early"));
        }
        self.bits = Bits {
            buffer: 0,
            count: 0,
        };
        let source = &mut self.source;
        source.padding = 0;
        source.at_marker = false;
        // Skip what is left of the interval (at most the partial byte, plus fill bytes).
        while let Some(&byte) = source.data.get(source.pos) {
            if byte == 0xFF {
                match source.data.get(source.pos + 1) {
                    Some(0x00) | Some(0xFF) => {}
                    Some(&marker) => {
                        if u32::from(marker) != 0xD0 + index % 8 {
                            return Err(Refusal::Corrupt("a restart marker out of sequence"));
                        }
                        source.pos += 2;
                        return Ok(());
                    }
                    None => break,
                }
            }
            source.pos += 1;
        }
        Err(Refusal::Corrupt("a restart marker is missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl BitReader<'_> {
        fn decode(&mut self, table: &HuffmanTable) -> Result<u8, Refusal> {
            self.bits.refill(&mut self.source);
            self.bits.decode(table)
        }

        fn receive_extend(&mut self, size: u32) -> i32 {
            self.bits.refill(&mut self.source);
            self.bits.receive_extend(size)
        }

        fn skip(&mut self, bits: u32) {
            self.bits.refill(&mut self.source);
            self.bits.consume(bits);
        }
    }

    /// The Annex K luminance DC table.
    fn luma_dc() -> HuffmanTable {
        let counts = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
        HuffmanTable::new(&counts, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).unwrap()
    }

    #[test]
    fn extend_follows_t81() {
        assert_eq!(extend(0, 0), 0);
        assert_eq!(extend(0, 1), -1);
        assert_eq!(extend(1, 1), 1);
        assert_eq!(extend(0b00, 2), -3);
        assert_eq!(extend(0b01, 2), -2);
        assert_eq!(extend(0b10, 2), 2);
        assert_eq!(extend(0b000_0000_0000, 11), -2047);
        assert_eq!(extend(0b111_1111_1111, 11), 2047);
    }

    #[test]
    fn codes_decode_in_both_paths_and_stuffing_is_removed() {
        // Annex K luminance DC codes: 00 -> 0, 010 -> 1, 110 -> 5, 1111 1111 0 -> 11 (9
        // bits, the fast path's limit); and a long table with a 12-bit code for the slow path.
        let table = luma_dc();
        // 00 010 110 | 111111110 | padding 1s: 0001_0110 1111_1111 0111_1111, stuffed.
        let data = [0b0001_0110, 0xFF, 0x00, 0b0111_1111];
        let mut bits = BitReader::new(&data);
        let symbols: Vec<u8> = (0..4).map(|_| bits.decode(&table).unwrap()).collect();
        assert_eq!(symbols, [0, 1, 5, 11]);
        assert!(!bits.overran());

        let mut counts = [0u8; 16];
        counts[0] = 1; // code 0
        counts[11] = 1; // 12 bits: 1000 0000 0000
        let long = HuffmanTable::new(&counts, &[7, 9]).unwrap();
        let data = [0b0100_0000, 0b0000_0111];
        let mut bits = BitReader::new(&data);
        assert_eq!(bits.decode(&long).unwrap(), 7);
        assert_eq!(bits.decode(&long).unwrap(), 9);
        // The remaining 1-bits start no code.
        assert!(bits.decode(&long).is_err());
    }

    #[test]
    fn an_overfull_table_is_refused() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes
        assert!(HuffmanTable::new(&counts, &[1, 2, 3]).is_err());
        assert!(HuffmanTable::new(&[0; 16], &[1]).is_err());
    }

    #[test]
    fn reading_past_a_marker_is_an_overrun() {
        let table = luma_dc();
        let data = [0b0000_0000, 0xFF, 0xD9];
        let mut bits = BitReader::new(&data);
        for _ in 0..4 {
            assert_eq!(bits.decode(&table).unwrap(), 0);
        }
        assert!(!bits.overran());
        bits.decode(&table).unwrap();
        assert!(bits.overran());
    }

    #[test]
    fn restart_finds_the_expected_marker() {
        let data = [0b1010_1111, 0xFF, 0xD3, 0x12];
        let mut bits = BitReader::new(&data);
        bits.skip(4);
        bits.restart(3).unwrap();
        // The byte after the marker, as an 8-bit value (0x12 is in the negative half).
        assert_eq!(bits.receive_extend(8), extend(0x12, 8));
        assert_eq!(extend(0x12, 8), 0x12 - 255);
        let mut bits = BitReader::new(&data);
        assert!(bits.restart(4).is_err());
    }
}
