//! Entropy-coded data: the bit reader (byte stuffing, markers, restart intervals) and the
//! block decoding loops that drive the Huffman tables ([`super::huffman`]) through it.

use super::Refusal;
use super::huffman::{
    ENDS_BLOCK, HAS_COEFFICIENT, HuffmanTable, LOOKAHEAD, REACH, RefinementTable, extend,
};

/// Reads the entropy-coded segment of a scan, MSB first.
///
/// The bits in hand ([`Bits`]) are kept apart from the byte source so that block decoding
/// can hold them in registers: only a refill touches the source.
pub(super) struct BitReader<'a> {
    source: Source<'a>,
    bits: Bits,
}

/// The unread bits, left-aligned: the next bit is the buffer's top bit, and the top
/// `count` bits are unread data. The bits below them are zero or the raw bytes that follow
/// (a refill may load more than it counts): the data itself up to any 0xFF, which only
/// the byte-wise refill, clearing them first, counts past.
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
    /// `bits` topped up to 56 to 63 bits (with zeros past the data).
    ///
    /// Cheap enough to call before every symbol: where the bytes it would count hold no
    /// 0xFF (no stuffing, no marker) it loads 8 bytes whole and counts as many whole bytes
    /// as fit, with no branch on how many bits were in hand. A refill only when bits run
    /// low would cost a mispredicted branch every few symbols, more than the refill itself.
    #[inline(always)]
    fn refill(&mut self, bits: Bits) -> Bits {
        // At a marker `pos` is on its 0xFF, so this path is never taken there.
        if let Some(next) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(next.try_into().expect("8 bytes"));
            // A byte is 0xFF exactly when its complement is zero. The test flags the last
            // 0xFF exactly and may also flag a 0xFE before it (the borrow runs toward the
            // start), so the first flagged byte is at or before the first 0xFF.
            let inverted = !word;
            let ff_bytes =
                inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            let before_ff = ff_bytes.leading_zeros() / 8;
            let take = (63 - bits.count) / 8;
            if take <= before_ff {
                // `count` is at most 63, so the shift is defined. The bytes counted hold
                // no 0xFF. Those loaded past them are the data that follows up to any
                // 0xFF; from there on, stuffing may make them differ, but they are never
                // counted before the byte-wise refill has cleared them.
                self.pos += take as usize;
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
        // Stop short of 64: the fast refill shifts by the count.
        while bits.count < 56 {
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

    /// The next `LOOKAHEAD` bits, not consumed; the reader keeps at least that many in
    /// hand between blocks.
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

    /// Reads `count` (at most 16, with as many in hand) bits as an unsigned number.
    #[inline(always)]
    fn take(&mut self, count: u32) -> u32 {
        let bits = self.buffer.rotate_left(count) as u32 & ((1 << count) - 1);
        self.consume(count);
        bits
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

/// How the refinement decoder finds the `n`-th set bit of a mask, spreads bits over a
/// mask's set bits and reverses a word's bits: with loops and shifts, or with BMI2's bit
/// deposit and SSSE3's byte shuffle where the code is compiled for them.
pub(super) trait Select: Copy {
    /// The lowest set bit of `mask` left after clearing its `n` lowest set bits (0 when
    /// it has no more than `n`), as a one-bit mask; `n` comes as the one-bit mask `1 <<
    /// n` (what BMI2's `pdep` takes, so that the decoder's table can hold it ready).
    fn nth_set_bit(self, mask: u64, n_bit: u64) -> u64;

    /// The low bits of `source`, one per set bit of `mask`, moved to those bits, lowest
    /// to lowest (BMI2's `pdep`).
    fn deposit(self, source: u64, mask: u64) -> u64;

    /// `word` with its bits in reverse order.
    fn reverse(self, word: u64) -> u64;

    /// The bits of `source` that `mask` selects, packed to the low end, lowest to lowest
    /// (BMI2's `pext`).
    fn extract(self, source: u64, mask: u64) -> u64;

    /// Adds `bit` (a power of two up to 2^13) to the magnitude of each of the 16
    /// `lanes` whose bit of `chosen` is set and that do not have it yet: a refinement
    /// scan's corrections to nonzero coefficients.
    fn correct(self, lanes: &mut [i16; 16], chosen: u16, bit: i16);

    /// Each of the 16 `lanes` times its step: a progressive block's coefficients
    /// dequantised for the transform.
    fn dequantise(self, lanes: &[i16; 16], steps: &[f32; 16]) -> [f32; 16];
}

/// [`Select`] in plain Rust, on any CPU.
#[derive(Clone, Copy)]
pub(super) struct Portable;

impl Select for Portable {
    #[inline(always)]
    fn nth_set_bit(self, mask: u64, n_bit: u64) -> u64 {
        let mut mask = mask;
        for _ in 0..n_bit.trailing_zeros() {
            mask &= mask.wrapping_sub(1);
        }
        mask & mask.wrapping_neg()
    }

    #[inline(always)]
    fn deposit(self, source: u64, mask: u64) -> u64 {
        let (mut source, mut mask, mut out) = (source, mask, 0);
        while mask != 0 {
            let lowest = mask & mask.wrapping_neg();
            out |= lowest & (source & 1).wrapping_neg();
            source >>= 1;
            mask &= mask - 1;
        }
        out
    }

    #[inline(always)]
    fn reverse(self, word: u64) -> u64 {
        word.reverse_bits()
    }

    #[inline(always)]
    fn correct(self, lanes: &mut [i16; 16], chosen: u16, bit: i16) {
        for (lane, value) in lanes.iter_mut().enumerate() {
            let chosen = -i16::from(chosen & 1 << lane != 0);
            let lacking = -i16::from(*value & bit == 0);
            // `bit` or `-bit`, by the value's sign.
            let sign = *value >> 15;
            let step = (bit ^ sign).wrapping_sub(sign);
            *value = value.wrapping_add(step & chosen & lacking);
        }
    }

    #[inline(always)]
    fn dequantise(self, lanes: &[i16; 16], steps: &[f32; 16]) -> [f32; 16] {
        std::array::from_fn(|lane| f32::from(lanes[lane]) * steps[lane])
    }

    #[inline(always)]
    fn extract(self, source: u64, mask: u64) -> u64 {
        let (mut mask, mut out, mut at) = (mask, 0, 0);
        while mask != 0 {
            let lowest = mask & mask.wrapping_neg();
            out |= u64::from(source & lowest != 0) << at;
            at += 1;
            mask &= mask - 1;
        }
        out
    }
}

/// [`Select`] with BMI2's `pdep` and `pext`: one instruction instead of a loop whose
/// length the branch predictor cannot guess; a bit reversal through SSSE3's `pshufb`,
/// half the instructions of the shifts and masks that x86 has otherwise; and corrections
/// to 16 coefficients at once with AVX2. Only made where the CPU has BMI2 and AVX2 (which
/// implies SSSE3), so holding one is the proof that the instructions run.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Bmi2(());

#[cfg(target_arch = "x86_64")]
impl Bmi2 {
    /// # Safety
    /// The CPU must have BMI2 and AVX2.
    pub(super) unsafe fn new() -> Self {
        Self(())
    }
}

#[cfg(target_arch = "x86_64")]
impl Select for Bmi2 {
    #[inline(always)]
    fn nth_set_bit(self, mask: u64, n_bit: u64) -> u64 {
        // SAFETY: a `Bmi2` exists only on a CPU with BMI2 (`Bmi2::new`).
        unsafe { core::arch::x86_64::_pdep_u64(n_bit, mask) }
    }

    #[inline(always)]
    fn deposit(self, source: u64, mask: u64) -> u64 {
        // SAFETY: a `Bmi2` exists only on a CPU with BMI2 (`Bmi2::new`).
        unsafe { core::arch::x86_64::_pdep_u64(source, mask) }
    }

    #[inline(always)]
    fn extract(self, source: u64, mask: u64) -> u64 {
        // SAFETY: a `Bmi2` exists only on a CPU with BMI2 (`Bmi2::new`).
        unsafe { core::arch::x86_64::_pext_u64(source, mask) }
    }

    #[inline(always)]
    fn correct(self, lanes: &mut [i16; 16], chosen: u16, bit: i16) {
        use core::arch::x86_64::{
            __m256i, _mm256_add_epi16, _mm256_and_si256, _mm256_cmpeq_epi16, _mm256_loadu_si256,
            _mm256_set1_epi16, _mm256_setr_epi16, _mm256_setzero_si256, _mm256_srai_epi16,
            _mm256_storeu_si256, _mm256_sub_epi16, _mm256_xor_si256,
        };
        // SAFETY: a `Bmi2` exists only on a CPU with AVX2 (`Bmi2::new`). The load and the
        // store cover exactly the 16 lanes of `lanes`, which the unaligned forms accept at
        // any address.
        unsafe {
            let at = lanes.as_mut_ptr().cast::<__m256i>();
            let values = _mm256_loadu_si256(at);
            let lane_bits = _mm256_setr_epi16(
                1,
                2,
                4,
                8,
                16,
                32,
                64,
                128,
                256,
                512,
                1024,
                2048,
                4096,
                8192,
                16384,
                i16::MIN,
            );
            let chosen = _mm256_and_si256(_mm256_set1_epi16(chosen as i16), lane_bits);
            let chosen = _mm256_cmpeq_epi16(chosen, lane_bits);
            let bit = _mm256_set1_epi16(bit);
            let lacking = _mm256_cmpeq_epi16(_mm256_and_si256(values, bit), _mm256_setzero_si256());
            // `bit` or `-bit`, by the value's sign.
            let sign = _mm256_srai_epi16(values, 15);
            let step = _mm256_sub_epi16(_mm256_xor_si256(bit, sign), sign);
            let step = _mm256_and_si256(step, _mm256_and_si256(chosen, lacking));
            _mm256_storeu_si256(at, _mm256_add_epi16(values, step));
        }
    }

    #[inline(always)]
    fn dequantise(self, lanes: &[i16; 16], steps: &[f32; 16]) -> [f32; 16] {
        use core::arch::x86_64::{
            __m128i, _mm256_castsi256_si128, _mm256_cvtepi16_epi32, _mm256_cvtepi32_ps,
            _mm256_extracti128_si256, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_mul_ps,
            _mm256_storeu_ps,
        };
        let mut out = [0.0f32; 16];
        // SAFETY: a `Bmi2` exists only on a CPU with AVX2 (`Bmi2::new`). The loads cover
        // exactly the 16 lanes of `lanes` and the 16 steps, the stores the 16 of `out`,
        // all in the unaligned forms, which accept any address.
        unsafe {
            let values = _mm256_loadu_si256(lanes.as_ptr().cast());
            let low: __m128i = _mm256_castsi256_si128(values);
            let high: __m128i = _mm256_extracti128_si256::<1>(values);
            let low = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(low));
            let high = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(high));
            let steps_at = steps.as_ptr();
            let out_at = out.as_mut_ptr();
            _mm256_storeu_ps(out_at, _mm256_mul_ps(low, _mm256_loadu_ps(steps_at)));
            _mm256_storeu_ps(
                out_at.add(8),
                _mm256_mul_ps(high, _mm256_loadu_ps(steps_at.add(8))),
            );
        }
        out
    }

    #[inline(always)]
    fn reverse(self, word: u64) -> u64 {
        use core::arch::x86_64::{
            _mm_and_si128, _mm_cvtsi64_si128, _mm_cvtsi128_si64, _mm_or_si128, _mm_set1_epi8,
            _mm_setr_epi8, _mm_shuffle_epi8, _mm_srli_epi16,
        };
        // Each byte's bits reversed by two table lookups, one per nibble (the table of
        // each nibble's reversal, and the same shifted to the high nibble), then the
        // bytes swapped.
        // SAFETY: a `Bmi2` exists only on a CPU with SSSE3 (`Bmi2::new`), and SSE2 is
        // part of x86-64.
        let each_byte = unsafe {
            let low = _mm_set1_epi8(0x0F);
            let reversed = _mm_setr_epi8(0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15);
            let reversed_high = _mm_setr_epi8(
                0x00,
                0x80u8 as i8,
                0x40,
                0xC0u8 as i8,
                0x20,
                0xA0u8 as i8,
                0x60,
                0xE0u8 as i8,
                0x10,
                0x90u8 as i8,
                0x50,
                0xD0u8 as i8,
                0x30,
                0xB0u8 as i8,
                0x70,
                0xF0u8 as i8,
            );
            let bytes = _mm_cvtsi64_si128(word as i64);
            let low_nibbles = _mm_and_si128(bytes, low);
            let high_nibbles = _mm_and_si128(_mm_srli_epi16(bytes, 4), low);
            let each_byte = _mm_or_si128(
                _mm_shuffle_epi8(reversed_high, low_nibbles),
                _mm_shuffle_epi8(reversed, high_nibbles),
            );
            _mm_cvtsi128_si64(each_byte) as u64
        };
        each_byte.swap_bytes()
    }
}

/// A refinement scan's correction bits for one block, gathered as its symbols pass the
/// nonzero coefficients and spread over those coefficients once at the block's end: a
/// deposit of the bits in coefficient order needs them reversed (the stream gives the
/// lowest coefficient's first, the highest bit), and one reversal per block costs less
/// than one per symbol.
///
/// The symbols pass every coefficient of the band once, in order, and those they pass
/// nonzero are the ones nonzero as the block began (a new coefficient is never passed
/// again): so the bits are all that is kept, and that mask tells where they go.
#[derive(Clone, Copy, Default)]
struct Corrections {
    /// The bits read, in stream order: the last read is the lowest. At most 63, one per
    /// nonzero coefficient of the band (index 0 is never in an AC band).
    stream: u64,
}

impl Corrections {
    /// Reads the correction bits of the next `count` nonzero coefficients (at most 63),
    /// all above those gathered so far, one per coefficient in zig-zag order, and leaves
    /// at least `LOOKAHEAD` bits in hand for the next symbol's lookup.
    #[inline(always)]
    fn gather(&mut self, bits: &mut Bits, source: &mut Source, count: u32) {
        if count + LOOKAHEAD > bits.count {
            bits.refill(source);
            if count + LOOKAHEAD > bits.count {
                (*self, *bits) = self.gather_in_parts(*bits, source, count);
                return;
            }
        }
        self.append(bits, count);
    }

    /// Moves the top `count` (at most 63, with as many in hand) bits in hand to the
    /// stream.
    #[inline(always)]
    fn append(&mut self, bits: &mut Bits, count: u32) {
        // Two shifts, so that a `count` of 0 appends nothing with both below 64.
        self.stream = self.stream << count | (bits.buffer >> 1) >> (63 - count);
        bits.consume(count);
    }

    /// [`Self::gather`] for more bits than a refill guarantees with the lookahead to
    /// spare (more than 45, where a block is nonzero almost everywhere): 32, then the
    /// rest (at most 31) after a refill, which leaves at least 25. Everything
    /// goes by value, so that on the common path the block's state stays in registers
    /// rather than in memory this call could see.
    #[cold]
    #[inline(never)]
    fn gather_in_parts(mut self, mut bits: Bits, source: &mut Source, count: u32) -> (Self, Bits) {
        self.append(&mut bits, 32);
        bits.refill(source);
        self.append(&mut bits, count - 32);
        (self, bits)
    }

    /// The coefficients whose correction bit is 1, as a mask of zig-zag indices, from
    /// `passed`: the band's nonzero coefficients as the block began, all of them passed.
    #[inline(always)]
    fn ones(self, select: impl Select, passed: u64) -> u64 {
        // Reversed, the first bit read comes at bit `64 - count`; shifted down to bit 0,
        // it goes to the lowest coefficient passed, the last to the highest.
        let count = passed.count_ones();
        let first_lowest = (select.reverse(self.stream) >> 1) >> (63 - count);
        select.deposit(first_lowest, passed)
    }
}

/// Applies a refinement scan's correction bits `ones` (a mask of zig-zag indices) to the
/// block's kept coefficients: bit `bit` is added to the magnitude of each coefficient kept
/// (bit `k` of `kept` set) that does not have it yet. The block keeps them in zig-zag
/// order from slot 1 (see `progressive::Component::slot`), so the slots to change are
/// the bits of `ones` that `kept` selects, packed. The first 16 slots are visited
/// without a branch per coefficient (how many a block changes is as good as random);
/// the rest, 16 at a time, only when one of them changes: a block larger than 4x4
/// (chroma at twice the luma's size) seldom has a correction past its 15th
/// coefficient, so that branch is seldom taken.
#[inline(always)]
fn apply_corrections(select: impl Select, ones: u64, kept: u64, block: &mut [i16], bit: i16) {
    let slots = select.extract(ones, kept);
    let (first, rest) = block.split_at_mut(16);
    select.correct(first.try_into().expect("16 lanes"), slots as u16, bit);
    if slots >> 16 != 0 {
        for (chunk, lanes) in rest.chunks_exact_mut(16).enumerate() {
            let lanes: &mut [i16; 16] = lanes.try_into().expect("16 lanes");
            select.correct(lanes, (slots >> (16 * (chunk + 1))) as u16, bit);
        }
    }
}

/// One DC difference decoded with `dc`, with the bits in hand `bits` and their source:
/// a progressive DC first scan's ([`BitReader::dc_first_run`],
/// [`BitReader::dc_first_mcus`]) and a sequential block's ([`BitReader::decode_block`]).
#[inline(always)]
fn dc_difference(
    bits_in_hand: &mut Bits,
    source: &mut Source,
    dc: &HuffmanTable,
) -> Result<i32, Refusal> {
    let mut bits = *bits_in_hand;
    // The lookup reads the bits in hand before the refill that follows it (there are
    // always at least `LOOKAHEAD`), so the refill's load runs alongside the lookup
    // instead of ahead of it on the critical path. After the refill there are at least
    // 56: enough for any code and its value on the checked paths (16 + 11 bits), and at
    // least 29 remain for the next lookup.
    let fast = dc.resolved[bits.peek_lookahead()];
    bits.refill(source);
    let diff = if fast.bits != 0 {
        bits.consume(u32::from(fast.bits));
        i32::from(fast.first)
    } else {
        let size = u32::from(bits.decode(dc)?);
        if size > 11 {
            return Err(Refusal::Corrupt("a DC difference of more than 11 bits"));
        }
        bits.receive_extend(size)
    };
    *bits_in_hand = bits;
    Ok(diff)
}

/// A progressive AC refinement scan over `band` of one block (T.81 G.1.2.3), with the
/// bits in hand `bits` and their source: bit `low` of every coefficient already nonzero
/// (`history`), and coefficients newly nonzero at `2^low`, placed as in
/// [`first_block`]. Symbols are decoded with `refinement` (code and sign bit in
/// one lookup), or `ac` where it does not resolve them. `kept` has bit `k` set when the
/// block keeps coefficient `k`: the correction bits of the others are read but not
/// applied.
///
/// The correction bits are gathered as the block is read and applied at its end: they
/// only ever touch coefficients nonzero before the block's symbols, never one of the new
/// ones, so the order does not matter.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn refine_block(
    select: impl Select,
    (ac, refinement): (&HuffmanTable, &RefinementTable),
    (start, end): (usize, usize),
    low: u32,
    eobrun: &mut u32,
    block: &mut [i16],
    (slot, kept): (&[u8; 64], u64),
    history: &mut u64,
    (bits_in_hand, source): (&mut Bits, &mut Source),
) -> Result<(), Refusal> {
    let bit = 1i32 << low;
    let mut bits = *bits_in_hand;
    let mut nonzero = *history;
    let band = (u64::MAX << start) & (u64::MAX >> (63 - end));
    // The band's coefficients not yet passed, as a mask: where the block is, without
    // an index (one register fewer on the path from symbol to symbol).
    let mut ahead = band;
    let mut corrections = Corrections::default();
    if *eobrun == 0 {
        while ahead != 0 {
            // The lookup reads the bits in hand (between symbols there are always at
            // least `LOOKAHEAD`: every gather leaves them) before the refill, so the
            // refill's load runs beside the lookup, as in the sequential decoder; and
            // every symbol refills, where a refill only when the bits ran low was a
            // branch the predictor missed every few symbols. After the refill there
            // are enough for any code and the bits that follow it (16 + 14).
            let entry = refinement.entries[bits.peek_lookahead()];
            bits.refill(source);
            // The run (as the one-bit mask `1 << run`, which the table holds so that
            // no shift stands between the lookup and the deposit that follows), and
            // the new coefficient's sign (0: a run of 16 zeros).
            let (run_bit, sign) = if entry.bits != 0 {
                bits.consume(u32::from(entry.bits));
                if entry.end_of_band() {
                    let extra = entry.run();
                    *eobrun = (1 << extra) + bits.take(extra);
                    break;
                }
                (u64::from(entry.run_bit), i32::from(entry.sign))
            } else {
                let symbol = bits.decode(ac)?;
                let (run, size) = (u32::from(symbol >> 4), symbol & 15);
                if size != 0 {
                    // Only magnitude 1 is allowed here; libjpeg reads any size as 1.
                    (1 << run, if bits.take(1) != 0 { 1 } else { -1 })
                } else if run != 15 {
                    *eobrun = (1 << run) + bits.take(run);
                    break;
                } else {
                    (1 << run, 0)
                }
            };
            // Past `run` zero coefficients, reading the correction bits of the nonzero
            // ones on the way, to the zero one that takes the new coefficient (for a
            // run of 16 zeros, the 16th): the `run + 1`-th zero ahead (`target`, one
            // bit), or none when there are fewer. `upto` masks everything up to it,
            // or everything when there is none, so the rest of the band is passed.
            let target = select.nth_set_bit(!nonzero & ahead, run_bit);
            let upto = target ^ target.wrapping_sub(1);
            let count = (nonzero & ahead & upto).count_ones();
            ahead &= !upto;
            if sign != 0 {
                if target == 0 {
                    return Err(Refusal::Corrupt("an AC run past the end of its band"));
                }
                nonzero |= target;
                let k = target.trailing_zeros() as usize;
                if let Some(coefficient) = block.get_mut(usize::from(slot[k])) {
                    *coefficient = (sign * bit) as i16;
                }
            }
            // The correction bits last, once the symbol's own values are done with: then
            // only the bits, the masks and the table live across the gather's rare
            // refill (a call), and the compiler keeps all of them in registers.
            corrections.gather(&mut bits, source, count);
        }
    }
    if *eobrun > 0 {
        // In an end-of-band run: only the correction bits of the nonzero coefficients
        // left in the band.
        corrections.gather(&mut bits, source, (nonzero & ahead).count_ones());
        *eobrun -= 1;
    }
    let passed = *history & band;
    apply_corrections(
        select,
        corrections.ones(select, passed),
        kept,
        block,
        bit as i16,
    );
    *history = nonzero;
    *bits_in_hand = bits;
    Ok(())
}

/// A progressive AC first scan's coefficients `band` (zig-zag indices) of one block
/// (T.81 G.1.2.2), each scaled by `2^low`, with the bits in hand `bits` and their source;
/// not in an end-of-band run. `eobrun` takes the blocks left in an end-of-band run that
/// the block starts. Coefficient `k` goes to `block[slot[k]]` when that is in the block
/// (the rest are not kept); every nonzero one sets bit `k` of `history`, which
/// refinement scans read.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn first_block(
    ac: &HuffmanTable,
    (start, end): (usize, usize),
    low: u32,
    eobrun: &mut u32,
    block: &mut [i16],
    slot: &[u8; 64],
    history: &mut u64,
    (bits_in_hand, source): (&mut Bits, &mut Source),
) -> Result<(), Refusal> {
    let mut bits = *bits_in_hand;
    let mut k = start;
    while k <= end {
        // The lookup first, as in `decode_block`, so that the refill runs beside it:
        // at least 26 bits are in hand (a symbol takes at most 30 of the 56 a refill
        // leaves: a 16-bit code and a 14-bit end-of-band length).
        let fast = ac.resolved[bits.peek_lookahead()];
        bits.refill(source);
        let first = k + usize::from(fast.run);
        // Up to two coefficients (or one and an end of band) in one lookup, as in a
        // sequential scan, when both lie in the band.
        if fast.bits != 0 && first + usize::from(fast.meta & REACH) <= end {
            bits.consume(u32::from(fast.bits));
            if fast.meta & HAS_COEFFICIENT != 0 {
                let second = first + usize::from(fast.step);
                for (at, value) in [(first, fast.first), (second, fast.second)] {
                    *history |= 1 << at;
                    if let Some(coefficient) = block.get_mut(usize::from(slot[at])) {
                        *coefficient = (i32::from(value) << low) as i16;
                    }
                }
                k = second + 1;
            }
            if fast.meta & ENDS_BLOCK != 0 {
                break;
            }
            continue;
        }
        let symbol = bits.decode(ac)?;
        let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
        if size == 0 {
            if run == 15 {
                k += 16;
                continue;
            }
            // An end-of-band run: this block and `2^run - 1 + bits` more.
            *eobrun = (1 << run) - 1 + bits.take(run);
            break;
        }
        if size > 10 {
            return Err(Refusal::Corrupt("an AC coefficient of more than 10 bits"));
        }
        k += run as usize;
        if k > end {
            return Err(Refusal::Corrupt("an AC run past the end of its band"));
        }
        let value = bits.receive_extend(size) << low;
        *history |= 1 << k;
        if let Some(coefficient) = block.get_mut(usize::from(slot[k])) {
            *coefficient = value as i16;
        }
        k += 1;
    }
    *bits_in_hand = bits;
    Ok(())
}

impl<'a> BitReader<'a> {
    /// A reader of `data` from its start (the first byte after the SOS header).
    pub(super) fn new(data: &'a [u8]) -> Self {
        let mut source = Source {
            data,
            pos: 0,
            padding: 0,
            at_marker: false,
        };
        let bits = source.refill(Bits {
            buffer: 0,
            count: 0,
        });
        Self { source, bits }
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
        // Each lookup reads the bits in hand before the refill that follows it, as the
        // DC difference's does.
        let diff = dc_difference(&mut bits, source, dc)?;
        let mut k = 1usize;
        let mut last = 0usize;
        while k < 64 {
            let fast = ac.resolved[bits.peek_lookahead()];
            bits.refill(source);
            let first = k + usize::from(fast.run);
            // Not resolved, or reaching past the block (a second code there would be the
            // next block's, or the data is bad): one symbol at a time, with every check.
            if fast.bits != 0 && first + usize::from(fast.meta & REACH) <= 63 {
                bits.consume(u32::from(fast.bits));
                let second = first + usize::from(fast.step);
                put(first, i32::from(fast.first));
                put(second, i32::from(fast.second));
                if fast.meta & HAS_COEFFICIENT != 0 {
                    last = second;
                }
                if fast.meta & ENDS_BLOCK != 0 {
                    break;
                }
                k = second + 1;
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

    /// The DC first scan of blocks `dcs` of one component, in order, with no restart
    /// marker between them, each the running sum `predictor` of differences decoded with
    /// `dc`, scaled by `2^low`; stops before a block when the data has run out, and says
    /// whether all were decoded. As in [`Self::ac_refine_run`], the bits in hand stay in
    /// a local from block to block.
    #[inline(always)]
    pub(super) fn dc_first_run(
        &mut self,
        dc: &HuffmanTable,
        low: u32,
        predictor: &mut i32,
        dcs: &mut [i16],
    ) -> Result<bool, Refusal> {
        let mut bits = self.bits;
        let mut sum = *predictor;
        let mut all = true;
        for value in dcs {
            if self.source.padding > bits.count {
                all = false;
                break;
            }
            sum = sum.wrapping_add(dc_difference(&mut bits, &mut self.source, dc)?);
            *value = (sum << low) as i16;
        }
        self.bits = bits;
        *predictor = sum;
        Ok(all)
    }

    /// An interleaved DC first scan's MCUs `mcus`, in order, with no restart marker
    /// between them: per MCU, the blocks of `layout` (per block, its component's place
    /// `s` in the scan, its index in the row's first MCU and how far that moves from one
    /// MCU to the next), each the running sum `predictors[s]` of differences decoded with
    /// `tables[s]`, scaled by `2^low`, into `dcs[s]`; stops before an MCU when the data
    /// has run out, and says whether all were decoded. The bits in hand stay in a local,
    /// as in [`Self::dc_first_run`].
    #[inline(always)]
    pub(super) fn dc_first_mcus(
        &mut self,
        (tables, low): (&[&HuffmanTable; 4], u32),
        predictors: &mut [i32; 4],
        layout: &[(usize, usize, usize)],
        dcs: &mut [&mut [i16]; 4],
        mcus: std::ops::Range<usize>,
    ) -> Result<bool, Refusal> {
        let mut bits = self.bits;
        let mut all = true;
        for mcu_col in mcus {
            if self.source.padding > bits.count {
                all = false;
                break;
            }
            for &(s, first, step) in layout {
                let predictor = &mut predictors[s];
                *predictor =
                    predictor.wrapping_add(dc_difference(&mut bits, &mut self.source, tables[s])?);
                if let Some(dc) = dcs[s].get_mut(first + mcu_col * step) {
                    *dc = (*predictor << low) as i16;
                }
            }
        }
        self.bits = bits;
        Ok(all)
    }

    /// One bit: a DC refinement scan's bit for one block.
    #[inline(always)]
    pub(super) fn bit(&mut self) -> bool {
        // A refill only once the bits in hand are used up, a branch the predictor learns:
        // a refill per block would cost more than the bit.
        if self.bits.count == 0 {
            self.bits.refill(&mut self.source);
        }
        self.bits.take(1) != 0
    }

    /// The next `count` bits (2 to 56), the first the highest: a DC refinement scan's
    /// bits for the blocks of one MCU.
    #[inline(always)]
    pub(super) fn bits(&mut self, count: u32) -> u64 {
        if self.bits.count < count {
            self.bits.refill(&mut self.source);
        }
        // Two shifts, so that both stay below 64.
        let word = (self.bits.buffer >> 1) >> (63 - count);
        self.bits.consume(count);
        word
    }

    /// A progressive AC first scan over the blocks whose histories are `histories`,
    /// `lanes` slots each in `coefficients`, in order, with no restart marker between
    /// them (see [`first_block`]); `eobrun` carries the blocks left in an end-of-band run
    /// from run to run. Stops before a block when the data has run out, and says whether
    /// all were decoded. As in [`Self::ac_refine_run`], the bits in hand stay in a local
    /// from block to block; and the blocks of an end-of-band run, which get nothing from
    /// the scan, are passed over in one step rather than one branch each (in a sparse
    /// band most blocks are in such runs).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ac_first_run(
        &mut self,
        ac: &HuffmanTable,
        band: (usize, usize),
        low: u32,
        eobrun: &mut u32,
        (coefficients, lanes): (&mut [i16], usize),
        slot: &[u8; 64],
        histories: &mut [u64],
    ) -> Result<bool, Refusal> {
        let mut bits = self.bits;
        let mut run = *eobrun;
        let mut all = true;
        let mut at = 0;
        while at < histories.len() {
            if run > 0 {
                let passed = (run as usize).min(histories.len() - at);
                run -= passed as u32;
                at += passed;
                continue;
            }
            if self.source.padding > bits.count {
                all = false;
                break;
            }
            first_block(
                ac,
                band,
                low,
                &mut run,
                &mut coefficients[at * lanes..][..lanes],
                slot,
                &mut histories[at],
                (&mut bits, &mut self.source),
            )?;
            at += 1;
        }
        self.bits = bits;
        *eobrun = run;
        Ok(all)
    }

    /// [`refine_block`] of the blocks whose histories are `histories`, `lanes` slots
    /// each in `coefficients`, in order, with no restart marker between them; stops
    /// before a block when the data has run out, and says whether all were decoded. The
    /// bits in hand stay in a local from block to block, where a write back to the
    /// reader after each block would put a store and a load on the chain of dependent
    /// steps that runs from symbol to symbol.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ac_refine_run(
        &mut self,
        select: impl Select,
        tables: (&HuffmanTable, &RefinementTable),
        band: (usize, usize),
        low: u32,
        eobrun: &mut u32,
        (mut coefficients, lanes): (&mut [i16], usize),
        slots: (&[u8; 64], u64),
        histories: &mut [u64],
    ) -> Result<bool, Refusal> {
        let mut bits = self.bits;
        let mut run = *eobrun;
        let mut all = true;
        for history in histories {
            if self.source.padding > bits.count {
                all = false;
                break;
            }
            let (block, rest) = std::mem::take(&mut coefficients).split_at_mut(lanes);
            coefficients = rest;
            refine_block(
                select,
                tables,
                band,
                low,
                &mut run,
                block,
                slots,
                history,
                (&mut bits, &mut self.source),
            )?;
        }
        self.bits = bits;
        *eobrun = run;
        Ok(all)
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
                        self.bits = source.refill(self.bits);
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
pub(super) mod tests {
    use super::super::huffman::Refinement;
    use super::*;
    use proptest::prelude::*;

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
        HuffmanTable::new(&LUMA_DC.counts, LUMA_DC.symbols).unwrap()
    }

    use crate::jpeg::encoder::huffman::{BitWriter, HuffmanCodes, Scan, encode_block};
    use crate::jpeg::encoder::tables::{LUMA_AC, LUMA_DC};

    /// A block of coefficients the way photos have them, and the edge cases: mostly
    /// small values near the start, sometimes long runs, large values, index 63 set.
    fn block() -> impl Strategy<Value = [i32; 64]> {
        let value = || {
            prop_oneof![
                6 => prop_oneof![-3..=-1i32, 1..=3i32],
                2 => prop_oneof![-60..=-1i32, 1..=60i32],
                1 => prop_oneof![-1023..=-1i32, 1..=1023i32],
            ]
        };
        let dc = prop_oneof![3 => -20..=20i32, 1 => -2047..=2047i32];
        let last = prop_oneof![2 => Just(0i32), 1 => value()];
        (
            dc,
            proptest::collection::vec((1..64usize, value()), 0..24),
            any::<bool>(),
            last,
        )
            .prop_map(|(dc, coefficients, dense_start, last)| {
                let mut block = [0; 64];
                block[0] = dc;
                for (k, v) in coefficients {
                    // Bias positions toward the low frequencies, as in photos.
                    let k = if dense_start { 1 + (k - 1) % 12 } else { k };
                    block[k] = v;
                }
                if last != 0 {
                    block[63] = last;
                }
                block
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Blocks encoded with the Annex K tables decode to their coefficients exactly,
        /// through every path of the AC lookahead (two coefficients, coefficient and end of
        /// block, a coefficient at index 63 followed by the next block's DC code).
        #[test]
        fn blocks_decode_to_their_coefficients(
            blocks in proptest::collection::vec(block(), 1..12),
        ) {
            use proptest::prelude::prop_assert_eq;
            // Our encoder's entropy coder, blocks stored in zig-zag order: ZRL for every 16
            // zeros before a coefficient, EOB unless index 63 is nonzero, 0xFF stuffed.
            let scan = Scan::new(&std::array::from_fn(|k| k));
            let (dc_codes, ac_codes) = (HuffmanCodes::new(&LUMA_DC), HuffmanCodes::new(&LUMA_AC));
            let mut writer = BitWriter::new(Vec::new());
            for block in &blocks {
                // `block[0]` is the DC difference: coded against a predictor of 0.
                encode_block(&mut writer, block, &scan, &mut 0, &dc_codes, &ac_codes);
            }
            let data = writer.finish();
            let dc = luma_dc().with_fast_dc();
            let ac = HuffmanTable::new(&LUMA_AC.counts, LUMA_AC.symbols).unwrap().with_fast_ac();
            let mut bits = BitReader::new(&data);
            for block in &blocks {
                let mut got = [0i32; 64];
                let (diff, last) = bits
                    .decode_block(&dc, &ac, |k, value| got[k] = value)
                    .unwrap();
                got[0] = diff;
                prop_assert_eq!(&got, block);
                let expected_last = (1..64).rev().find(|&k| block[k] != 0).unwrap_or(0);
                prop_assert_eq!(last, expected_last);
            }
            prop_assert!(!bits.overran());
        }
    }

    /// A table shaped like the ones libjpeg optimises for a refinement scan: new
    /// coefficients after runs of 0 to 15 (size 1, and one of size 2, read as 1), runs of
    /// 16 zeros, end-of-band runs of most lengths, codes from 2 to 16 bits.
    fn refinement_like() -> HuffmanTable {
        let mut symbols: Vec<u8> = vec![0x01, 0x00, 0x11, 0x10, 0x21, 0x31, 0x20, 0xF0, 0x02];
        symbols.extend((0x41..=0xF1).step_by(0x10));
        symbols.extend((0x30..=0xD0).step_by(0x10));
        // Two codes of each length from 2 to 15 leave room for four of 16 bits.
        let counts = [0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4];
        assert_eq!(
            counts.iter().map(|&c| usize::from(c)).sum::<usize>(),
            symbols.len()
        );
        HuffmanTable::new(&counts, &symbols).unwrap()
    }

    /// The refinement lookahead gives what the two-step decode reads from the same bits
    /// (the code, then a new coefficient's sign bit) for every prefix it resolves, and
    /// leaves unresolved only what needs more bits than the lookahead holds.
    #[test]
    fn refinement_lookup_equals_the_two_step_decode() {
        let luma_ac = HuffmanTable::new(&LUMA_AC.counts, LUMA_AC.symbols).unwrap();
        for (name, table) in [("luma", luma_ac), ("refinement", refinement_like())] {
            let lookup = RefinementTable::new(&table);
            let mut resolved = 0;
            for prefix in 0..1u64 << LOOKAHEAD {
                for tail in [0, u64::MAX, 0x5555_5555_5555_5555, 0xAAAA_AAAA_AAAA_AAAA] {
                    let word = prefix << (64 - LOOKAHEAD) | tail >> LOOKAHEAD;
                    let entry = lookup.entries[prefix as usize];
                    let mut two = Bits {
                        buffer: word,
                        count: 60,
                    };
                    let Ok(symbol) = two.decode(&table) else {
                        assert_eq!(entry.bits, 0, "{name} {prefix:011b}: not a code");
                        continue;
                    };
                    let (run, size) = (symbol >> 4, symbol & 15);
                    let sign = if size == 0 {
                        0
                    } else if two.take(1) != 0 {
                        1
                    } else {
                        -1
                    };
                    let used = 60 - two.count;
                    if entry.bits == 0 {
                        assert!(used > LOOKAHEAD, "{name} {prefix:011b}: {used} bits");
                        continue;
                    }
                    resolved += 1;
                    let expected = Refinement {
                        bits: used as u8,
                        sign: if size == 0 && run != 15 {
                            Refinement::END_OF_BAND
                        } else {
                            sign
                        },
                        run_bit: 1 << run,
                    };
                    assert_eq!(entry, expected, "{name} {prefix:011b}");
                }
            }
            // Most prefixes start a short code: the lookup is the common path.
            assert!(resolved > 3 << LOOKAHEAD, "{name}: {resolved}");
        }
    }

    /// The AVX2 build's [`Select`], where this CPU can run it.
    #[cfg(target_arch = "x86_64")]
    pub(in crate::jpeg::decoder) fn vector_select() -> Option<Bmi2> {
        let runs = std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("avx2");
        // SAFETY: made only where BMI2 and AVX2 were just detected.
        runs.then(|| unsafe { Bmi2::new() })
    }

    proptest! {
        /// Both ways of packing a mask's bits agree with doing it bit by bit.
        #[test]
        fn extract_agrees_with_bit_by_bit(source in any::<u64>(), mask in any::<u64>()) {
            let mut expected = 0u64;
            let mut next = 0;
            for i in 0..64 {
                if mask >> i & 1 != 0 {
                    expected |= (source >> i & 1) << next;
                    next += 1;
                }
            }
            prop_assert_eq!(Portable.extract(source, mask), expected);
            #[cfg(target_arch = "x86_64")]
            if let Some(bmi2) = vector_select() {
                prop_assert_eq!(bmi2.extract(source, mask), expected);
            }
        }
    }

    proptest! {
        /// Both ways of correcting 16 coefficients agree with correcting each in turn as
        /// T.81 G.1.2.3 does: a chosen coefficient without the bit gains it in magnitude.
        #[test]
        fn correct_agrees_with_one_at_a_time(
            lanes in proptest::array::uniform16(any::<i16>()),
            chosen in any::<u16>(),
            low in 0..14u32,
        ) {
            let bit = 1i16 << low;
            let mut expected = lanes;
            for (lane, value) in expected.iter_mut().enumerate() {
                if chosen >> lane & 1 != 0 && *value & bit == 0 {
                    *value = if *value >= 0 {
                        value.wrapping_add(bit)
                    } else {
                        value.wrapping_sub(bit)
                    };
                }
            }
            let mut portable = lanes;
            Portable.correct(&mut portable, chosen, bit);
            prop_assert_eq!(portable, expected);
            #[cfg(target_arch = "x86_64")]
            if let Some(bmi2) = vector_select() {
                let mut vector = lanes;
                bmi2.correct(&mut vector, chosen, bit);
                prop_assert_eq!(vector, expected);
            }
        }
    }

    proptest! {
        /// Both ways of spreading bits over a mask agree with doing it bit by bit.
        #[test]
        fn deposit_agrees_with_bit_by_bit(source in any::<u64>(), mask in any::<u64>()) {
            let mut expected = 0;
            let mut next = 0;
            for i in 0..64 {
                if mask >> i & 1 != 0 {
                    expected |= (source >> next & 1) << i;
                    next += 1;
                }
            }
            prop_assert_eq!(Portable.deposit(source, mask), expected);
            #[cfg(target_arch = "x86_64")]
            if let Some(bmi2) = vector_select() {
                prop_assert_eq!(bmi2.deposit(source, mask), expected);
            }
        }
    }

    proptest! {
        /// Both ways of reversing a word's bits agree with reversing it bit by bit.
        #[test]
        fn reverse_agrees_with_bit_by_bit(word in any::<u64>()) {
            let expected = (0..64).fold(0u64, |reversed, i| reversed | (word >> i & 1) << (63 - i));
            prop_assert_eq!(Portable.reverse(word), expected);
            #[cfg(target_arch = "x86_64")]
            if let Some(bmi2) = vector_select() {
                prop_assert_eq!(bmi2.reverse(word), expected);
            }
        }
    }

    proptest! {
        /// Both ways of finding the `n`-th set bit agree with counting bit by bit.
        #[test]
        fn nth_set_bit_agrees_with_counting(mask in any::<u64>(), n in 0..16u32) {
            let expected = (0..64)
                .filter(|&i| mask >> i & 1 != 0)
                .nth(n as usize)
                .map_or(0, |i| 1u64 << i);
            prop_assert_eq!(Portable.nth_set_bit(mask, 1 << n), expected);
            #[cfg(target_arch = "x86_64")]
            if let Some(bmi2) = vector_select() {
                prop_assert_eq!(bmi2.nth_set_bit(mask, 1 << n), expected);
            }
        }
    }

    #[test]
    fn codes_decode_in_both_paths_and_stuffing_is_removed() {
        // Annex K luminance DC codes: 00 -> 0, 010 -> 1, 110 -> 5, 1111 1111 0 -> 11 (9
        // bits, the table's longest); and a table with a 12-bit code, past the lookahead.
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
