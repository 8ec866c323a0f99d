//! GIF's variable-length LZW (least significant bit first), decoded by copying from the output.
//!
//! Every code stands for a string that is already in the output: a table entry is the previous
//! code's string plus the first byte of the one after it, which the decoder wrote right behind
//! it. So an entry is just a place and a length in the output, and decoding a code is one
//! short copy from earlier in the output: no per-byte walk down a chain of prefixes.
//!
//! The hot loop does not branch on whether a code is a literal or an entry. Literals are
//! entries too: the output buffer starts with [`LITERALS`] bytes holding every literal value,
//! and the pixels follow. The entry a code would define is stored before the code is read, so
//! a code naming that very entry (the "KwKwK" case: the previous string plus its own first
//! byte) is copied like any other, and one more store puts that first byte at its end.
//! Copies move 16 bytes at a time and may run past the string's end into room that later
//! strings overwrite, so the buffer has [`SLACK`] spare bytes at its end.
//!
//! The codes accepted are exactly those the `weezl` crate (which the `gif` crate uses)
//! accepts: after a clear code only a literal, a clear or the end code; later any code up to
//! the next free one; no new entries once 4096 exist. Anything else is an error, and so is
//! running out of codes before the output is full. Past a full output at most one code is
//! read (weezl may read one more, when the last string ended exactly at the end of the output,
//! and refuse it); the rest of the data is never looked at, as `gif` never looks at it.

/// Bytes before the pixels in the buffer: the literal values 0..=255.
pub const LITERALS: usize = 256;

/// Spare bytes the buffer needs past the pixels.
pub const SLACK: usize = 32;

/// The buffer length for `pixels` pixels.
pub const fn buffer_len(pixels: usize) -> usize {
    LITERALS + pixels + SLACK
}

/// The largest code width GIF allows.
const MAX_CODE_BITS: u32 = 12;

/// How many codes a table can hold.
const TABLE_SIZE: usize = 1 << MAX_CODE_BITS;

/// Why the data did not fill the output. The caller needs no more than that: it hands the
/// file to the reference decoder, which names the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incomplete;

/// A GIF frame's LZW decoder, set up like `weezl`'s: the minimum code size, then
/// [`decode_into`](Self::decode_into) per frame.
///
/// ```
/// # use setphoto_kernels::lzw::{Decoder, buffer_len, LITERALS, SLACK};
/// // Clear (4), literal 1, end (5), in 3-bit codes, least significant bit first.
/// let mut buffer = vec![0; buffer_len(1)];
/// Decoder::new(2).decode_into(&[0b0100_1100, 0b0000_0001], &mut buffer).unwrap();
/// assert_eq!(&buffer[LITERALS..buffer.len() - SLACK], &[1]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Decoder {
    min_code_bits: u8,
}

impl Decoder {
    /// A decoder for the frame's minimum code size (1..=11; others refuse every stream).
    #[must_use]
    pub const fn new(min_code_bits: u8) -> Self {
        Self { min_code_bits }
    }

    /// Decodes `data` (the frame's sub-blocks, joined) into `buffer`, [`buffer_len`] of
    /// the pixel count: the pixels are `buffer[LITERALS..buffer.len() - SLACK]`, and the
    /// rest is scratch.
    ///
    /// # Errors
    /// [`Incomplete`] when the codes are invalid or end before the pixels do.
    pub fn decode_into(&self, data: &[u8], buffer: &mut [u8]) -> Result<(), Incomplete> {
        decode(self.min_code_bits, data, buffer)
    }
}

/// Decodes `data` (the frame's sub-blocks, joined) with `min_code_bits` (1..=11) into
/// `buffer`, [`buffer_len`] of the pixel count (at least one pixel): the pixels are
/// `buffer[LITERALS..buffer.len() - SLACK]`, and the rest is scratch.
fn decode(min_code_bits: u8, data: &[u8], buffer: &mut [u8]) -> Result<(), Incomplete> {
    let min_code_bits = u32::from(min_code_bits);
    // Table entries keep u32 places: more than 4 GiB of pixels is far beyond any policy.
    let fits = u32::try_from(buffer.len()).is_ok();
    if !(1..MAX_CODE_BITS).contains(&min_code_bits) || buffer.len() <= buffer_len(0) || !fits {
        return Err(Incomplete);
    }
    let goal = buffer.len() - SLACK;
    let clear = 1u32 << min_code_bits;

    // Entry `code` is `buffer[start..start + len]`, literals included; the extra last slot
    // takes the entry a full table no longer defines.
    let mut table = [(0u32, 0u32); TABLE_SIZE + 1];
    for (value, byte) in buffer[..LITERALS].iter_mut().enumerate() {
        *byte = value as u8;
    }
    // Literals above 255 (from 9- to 11-bit literal codes) are their low byte, as in weezl.
    for (literal, entry) in (0u32..).zip(table.iter_mut().take(clear as usize)) {
        *entry = (literal % LITERALS as u32, 1);
    }
    let mut bits = Bits::new(data);
    let mut code_bits = min_code_bits + 1;
    let mut next = clear + 2;
    let mut position = LITERALS;
    // The previous code's string, as (start, len).
    let (mut previous_start, mut previous_len) = (0, 0);
    // Right after a clear code (and at the start) a literal must come, and defines nothing.
    let mut fresh = true;

    while position < goal {
        if fresh {
            let Some(code) = bits.read(code_bits) else {
                return Err(Incomplete);
            };
            if code == clear {
                continue;
            }
            if code > clear {
                // The end code, or one not defined yet.
                return Err(Incomplete);
            }
            buffer[position] = code as u8;
            (previous_start, previous_len) = (position, 1);
            position += 1;
            fresh = false;
            continue;
        }
        // The entry this code defines, known before the code: the previous string plus the
        // byte after it, which is this code's first.
        table[next as usize] = (previous_start as u32, previous_len as u32 + 1);
        let Some(code) = bits.read(code_bits) else {
            return Err(Incomplete);
        };
        if code & !1 == clear {
            if code == clear {
                code_bits = min_code_bits + 1;
                next = clear + 2;
                fresh = true;
                continue;
            }
            return Err(Incomplete); // the end code, before the pixels are all there
        }
        if code > next {
            return Err(Incomplete);
        }
        let (start, len) = table[code as usize];
        let (start, len) = (start as usize, len as usize);
        copy_string(
            buffer,
            start,
            position,
            len.min(goal - position),
            code == next,
        );
        if next < TABLE_SIZE as u32 {
            next += 1;
            if next >= 1 << code_bits && code_bits < MAX_CODE_BITS {
                // `>=`, not `==`: with 1-bit literals the first free code (4) is already
                // past what 2 bits hold, and the first entry widens the codes at once, as in
                // weezl.
                code_bits += 1;
            }
        }
        (previous_start, previous_len) = (position, len);
        position += len;
    }
    // When the last string ends exactly at the goal, weezl may already have read the code
    // after it and refused it; a code it would refuse sends the file to the reference decoder.
    if position == goal && !fresh && bits.read(code_bits).is_some_and(|code| code > next) {
        return Err(Incomplete);
    }
    Ok(())
}

/// Copies the string `buffer[from..from + len]` to `buffer[to..]` (`from < to`, `len >= 1`,
/// `to + len <= goal`) in 16-byte steps, each loaded before it is stored, so it may run up to
/// 15 bytes past the string. When `defining` (the code names the entry being defined),
/// `from + len` is `to + 1`: the string's last byte is its first, which one more store puts in
/// place. (Only then: a byte stored into the middle of the 16 just written stalls the next
/// string's load from there, 7% of the decode when done for every code.)
#[inline(always)]
fn copy_string(buffer: &mut [u8], from: usize, to: usize, len: usize, defining: bool) {
    let mut done = 0;
    loop {
        // The bytes read were all written before this step: `to - from >= 16` whenever a
        // string takes more than one step.
        let chunk: [u8; 16] = buffer[from + done..][..16].try_into().unwrap_or([0; 16]);
        buffer[to + done..][..16].copy_from_slice(&chunk);
        done += 16;
        if done >= len {
            break;
        }
    }
    if defining {
        buffer[to + len - 1] = buffer[from + len - 1];
    }
}

/// Codes read least significant bit first from a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    /// Pending bits, the next code's lowest bit at bit 0.
    buffer: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    const fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            buffer: 0,
            count: 0,
        }
    }

    /// The next `width`-bit code, or `None` when the data ends first.
    #[inline(always)]
    fn read(&mut self, width: u32) -> Option<u32> {
        if self.count < width {
            self.refill();
            if self.count < width {
                return None;
            }
        }
        let code = (self.buffer & ((1 << width) - 1)) as u32;
        self.buffer >>= width;
        self.count -= width;
        Some(code)
    }

    /// Tops the buffer up to at least 56 bits, or to what the data has left.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(word) = self.data.first_chunk::<8>() {
            self.buffer |= u64::from_le_bytes(*word) << self.count;
            let taken = (63 - self.count) / 8;
            self.data = &self.data[taken as usize..];
            self.count += taken * 8;
        } else {
            while self.count <= 56 {
                let Some((&byte, rest)) = self.data.split_first() else {
                    break;
                };
                self.buffer |= u64::from(byte) << self.count;
                self.data = rest;
                self.count += 8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the `gif` crate gets from weezl for `n` pixels: sub-blocks of up to 255 bytes fed
    /// in turn (a call may stop early, after a clear code, and is made again; "no progress"
    /// drops the rest of the sub-block), then one empty input to drain; it stops as soon as
    /// the pixels are all there, and any error refuses the frame.
    fn reference(min_code_bits: u8, data: &[u8], n: usize) -> Option<Vec<u8>> {
        let mut decoder = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, min_code_bits);
        let mut out = vec![0; n];
        let mut filled = 0;
        let blocks = data.chunks(255).chain(std::iter::once(&[][..]));
        for mut block in blocks {
            // Every call but a "no progress" one moves on; the cap only guards the test.
            for _ in 0..100_000 {
                let result = decoder.decode_bytes(block, &mut out[filled..]);
                let status = result.status.ok()?;
                filled += result.consumed_out;
                if filled == n {
                    return Some(out);
                }
                block = &block[result.consumed_in..];
                let done = matches!(
                    status,
                    weezl::LzwStatus::NoProgress | weezl::LzwStatus::Done
                );
                if done || block.is_empty() && result.consumed_out == 0 {
                    break;
                }
            }
        }
        None
    }

    fn ours(min_code_bits: u8, data: &[u8], n: usize) -> Option<Vec<u8>> {
        // Stale bytes everywhere, as a recycled buffer may hold.
        let mut buffer = vec![0xA5; buffer_len(n)];
        decode(min_code_bits, data, &mut buffer).ok()?;
        Some(buffer[LITERALS..][..n].to_vec())
    }

    /// Whether the stream has two clear codes in a row, read with GIF's widths up to the
    /// end code, the end of the data or a code past the table: weezl 0.1 stops producing
    /// pixels there (see `clear_codes_in_a_row_reset_the_table_once`), so the two decoders
    /// differ on such streams and ours is the one that follows the format.
    fn has_clear_codes_in_a_row(min_code_bits: u8, data: &[u8]) -> bool {
        let min = u32::from(min_code_bits);
        let clear = 1u32 << min;
        let (mut width, mut next, mut fresh, mut after_clear) = (min + 1, clear + 2, true, false);
        let (mut buffer, mut count, mut bytes) = (0u64, 0u32, data.iter());
        loop {
            while count < width {
                let Some(&byte) = bytes.next() else {
                    return false;
                };
                buffer |= u64::from(byte) << count;
                count += 8;
            }
            let code = (buffer & ((1 << width) - 1)) as u32;
            buffer >>= width;
            count -= width;
            if code == clear {
                if after_clear {
                    return true;
                }
                (width, next, fresh, after_clear) = (min + 1, clear + 2, true, true);
                continue;
            }
            after_clear = false;
            if code == clear + 1 || code > next {
                return false;
            }
            if fresh {
                fresh = false;
            } else if next < 4096 {
                next += 1;
                if next >= 1 << width && width < 12 {
                    width += 1;
                }
            }
        }
    }

    #[test]
    fn clear_codes_in_a_row_reset_the_table_once() {
        // min 2: clear 4, end 5. The format makes a second clear code a no-op, and giflib
        // reads past it; weezl 0.1 produces nothing after it, so the `gif` crate reads
        // fewer pixels than the frame has and refuses it. Ours gives the pixels; the
        // property tests below leave such streams out.
        for (codes, pixels) in [
            (vec![(4, 3), (4, 3), (1, 3), (5, 3)], vec![1]),
            (
                vec![(4, 3), (1, 3), (2, 3), (4, 3), (4, 3), (0, 3), (5, 3)],
                vec![1, 2, 0],
            ),
        ] {
            let data = pack(&codes);
            assert!(has_clear_codes_in_a_row(2, &data));
            assert_eq!(ours(2, &data, pixels.len()), Some(pixels.clone()));
            assert_eq!(reference(2, &data, pixels.len()), None);
        }
        let one_clear = pack(&[(4, 3), (1, 3), (2, 3), (4, 3), (0, 3), (5, 3)]);
        assert!(!has_clear_codes_in_a_row(2, &one_clear));
        assert_eq!(ours(2, &one_clear, 3), Some(vec![1, 2, 0]));
        assert_eq!(reference(2, &one_clear, 3), Some(vec![1, 2, 0]));
    }

    /// Packs (code, width) pairs least significant bit first.
    fn pack(codes: &[(u32, u32)]) -> Vec<u8> {
        let (mut out, mut buffer, mut count) = (Vec::new(), 0u64, 0);
        for &(code, width) in codes {
            buffer |= u64::from(code) << count;
            count += width;
            while count >= 8 {
                out.push(buffer as u8);
                buffer >>= 8;
                count -= 8;
            }
        }
        if count > 0 {
            out.push(buffer as u8);
        }
        out
    }

    /// A code stream steered by `choices`: mostly what an encoder could emit (literals,
    /// known codes, the code being defined), now and then a clear, rarely an end or a code too
    /// high; widths follow GIF's rule. Returns the packed bytes.
    fn steered_codes(min_code_bits: u8, choices: &[(u8, u16)]) -> Vec<u8> {
        let min = u32::from(min_code_bits);
        let clear = 1 << min;
        let (mut width, mut next, mut fresh) = (min + 1, clear + 2, true);
        let mut codes = Vec::new();
        for &(kind, value) in choices {
            let value = u32::from(value);
            let code = match kind % 64 {
                0 => clear,
                1 if value % 16 == 0 => clear + 1,
                2 if value % 16 == 0 => next + 1 + value % 4,
                _ if fresh => value % clear,
                3..=8 => next,
                9..=30 => value % clear,
                _ if next > clear + 2 => clear + 2 + value % (next - clear - 2),
                _ => value % clear,
            };
            codes.push((code % (1 << width), width));
            if code == clear {
                (width, next, fresh) = (min + 1, clear + 2, true);
            } else if fresh {
                fresh = false;
            } else if next < 4096 {
                next += 1;
                if next >= 1 << width && width < 12 {
                    width += 1;
                }
            }
        }
        pack(&codes)
    }

    #[test]
    fn long_streams_fill_the_table_and_keep_decoding() {
        // Noise fills all 4096 entries quickly; then 12-bit codes go on with no new entries.
        let mut state = 0x9E37_79B9_u32;
        let data: Vec<u8> = (0..200_000)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i % 1000 < 300 {
                    7
                } else {
                    (state >> 24) as u8
                }
            })
            .collect();
        for min in [8u8, 5] {
            let data: Vec<u8> = data.iter().map(|&v| v & (u8::MAX >> (8 - min))).collect();
            let encoded = weezl::encode::Encoder::new(weezl::BitOrder::Lsb, min)
                .encode(&data)
                .unwrap();
            assert_eq!(ours(min, &encoded, data.len()).as_deref(), Some(&data[..]));
        }
    }

    #[test]
    fn one_bit_literals_widen_at_the_first_entry() {
        // min 1: clear 2, end 3, first free code 4, already past 2 bits: 3-bit codes from the
        // first entry on. Literals 0 and 1 (2 bits; the second defines 4 = "01"), then code 4
        // (defining 5 = "10"), code 5, the end code.
        let codes = [(2, 2), (0, 2), (1, 2), (4, 3), (5, 3), (3, 3)];
        let data = pack(&codes);
        assert_eq!(ours(1, &data, 6), Some(vec![0, 1, 0, 1, 1, 0]));
        assert_eq!(reference(1, &data, 6), Some(vec![0, 1, 0, 1, 1, 0]));
    }

    #[test]
    fn refusals() {
        // After a clear, a code other than a literal, clear or end.
        assert_eq!(ours(2, &pack(&[(4, 3), (6, 3)]), 2), None);
        // A code beyond the one being defined.
        assert_eq!(ours(2, &pack(&[(4, 3), (1, 3), (7, 3)]), 4), None);
        // The end code before the pixels are all there; data that runs out.
        assert_eq!(ours(2, &pack(&[(4, 3), (1, 3), (5, 3)]), 3), None);
        assert_eq!(ours(2, &pack(&[(4, 3), (1, 3)]), 3), None);
        // Code sizes outside 1..=11, and no pixels.
        assert_eq!(ours(0, &[0; 8], 1), None);
        assert_eq!(ours(12, &[0; 8], 1), None);
        assert_eq!(ours(2, &[0; 8], 0), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// What weezl's encoder writes comes back whole, and any prefix of it as the
        /// reference decoder gives it.
        #[test]
        fn encoded_pixels_come_back(
            min in 2u8..=8,
            runs in proptest::collection::vec((any::<u8>(), 1usize..40), 1..300),
            cut in 0.0f64..1.0,
        ) {
            let data: Vec<u8> = runs
                .iter()
                .flat_map(|&(value, len)| std::iter::repeat_n(value & (u8::MAX >> (8 - min)), len))
                .collect();
            let encoded = weezl::encode::Encoder::new(weezl::BitOrder::Lsb, min)
                .encode(&data)
                .unwrap();
            prop_assert_eq!(ours(min, &encoded, data.len()), Some(data.clone()));
            let n = ((data.len() as f64 * cut) as usize).max(1);
            let prefix = ours(min, &encoded, n);
            prop_assert_eq!(prefix.clone(), Some(data[..n].to_vec()));
            prop_assert_eq!(prefix, reference(min, &encoded, n));
        }

        /// On steered and damaged code streams, whatever we accept weezl accepts, with the same
        /// pixels (but for clear codes in a row, after which weezl gives nothing).
        #[test]
        fn what_we_accept_the_reference_accepts_alike(
            min in 1u8..=11,
            choices in proptest::collection::vec((any::<u8>(), any::<u16>()), 1..400),
            n in 1usize..600,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        ) {
            let mut data = steered_codes(min, &choices);
            for (at, bits) in flips {
                if !data.is_empty() {
                    let at = at % data.len();
                    data[at] ^= bits;
                }
            }
            prop_assume!(!has_clear_codes_in_a_row(min, &data));
            if let Some(pixels) = ours(min, &data, n) {
                prop_assert_eq!(Some(pixels), reference(min, &data, n));
            }
        }

        /// The same for bytes with no structure at all.
        #[test]
        fn random_bytes_are_accepted_only_as_the_reference_accepts_them(
            min in 1u8..=11,
            data in proptest::collection::vec(any::<u8>(), 0..300),
            n in 1usize..300,
        ) {
            prop_assume!(!has_clear_codes_in_a_row(min, &data));
            if let Some(pixels) = ours(min, &data, n) {
                prop_assert_eq!(Some(pixels), reference(min, &data, n));
            }
        }
    }
}
