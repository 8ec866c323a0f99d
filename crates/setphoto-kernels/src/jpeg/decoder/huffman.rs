//! Huffman tables of a DHT segment, ready for decoding, with a one-lookup fast path.
//!
//! Most codes in a photo are short, so each table keeps a [`LOOKAHEAD`]-bit index that
//! resolves a code in one load, and where the lookahead also holds the value bits, the
//! value: a DC difference, an AC coefficient. The AC table goes further: where it holds
//! two coefficients (or a coefficient and the end of the block) it gives both. Each lookup
//! is a step on the decoder's critical path (the next lookup needs to know how many bits
//! this one used).

use super::Refusal;

/// Bits resolved by one table lookup.
pub(super) const LOOKAHEAD: u32 = 11;

/// What one lookahead prefix decodes to, code and value bits together. In a DC table: the
/// difference (`first`) and the bits used. In an AC table: up to two coefficients,
/// possibly followed by the end of the block, laid out so that the decoding loop needs no
/// branch on which.
///
/// The coefficients go at `k1 = k + run` and `k2 = k1 + step`; an entry with one
/// coefficient repeats it at `k2 = k1` (a second identical store costs less than a
/// branch), and one with none stores a zero at `k`, which is zero already.
#[derive(Clone, Copy, Default)]
pub(super) struct Resolved {
    /// The first coefficient's value.
    pub(super) first: i16,
    /// The second's (the first's again, or 0, when there is no second).
    pub(super) second: i16,
    /// Bits used, code and value bits together; 0: not resolved by the lookahead.
    pub(super) bits: u8,
    /// Zero coefficients before the first.
    pub(super) run: u8,
    /// From the first coefficient's index to the second's (0 when there is no second).
    pub(super) step: u8,
    /// `reach | HAS_COEFFICIENT | ENDS_BLOCK`: `reach`, how far past `k1` the entry
    /// reads (the second coefficient, or the end-of-block code, which is only allowed
    /// before index 63).
    pub(super) meta: u8,
}

/// [`Resolved::meta`]: the entry decodes at least one coefficient.
pub(super) const HAS_COEFFICIENT: u8 = 1 << 6;
/// [`Resolved::meta`]: the entry ends with the end-of-block code.
pub(super) const ENDS_BLOCK: u8 = 1 << 7;
/// [`Resolved::meta`]: the reach's bits.
pub(super) const REACH: u8 = 0x3F;

/// A Huffman table from a DHT segment, ready for decoding.
#[derive(Clone)]
pub(super) struct HuffmanTable {
    /// For each `LOOKAHEAD`-bit prefix: `length << 8 | symbol` of the code it starts with,
    /// or 0 when that code is longer than the lookahead.
    pub(super) fast: [u16; 1 << LOOKAHEAD],
    /// What each prefix decodes to, value bits included (see [`Resolved`]); filled by
    /// [`Self::with_fast_dc`] or [`Self::with_fast_ac`].
    pub(super) resolved: [Resolved; 1 << LOOKAHEAD],
    /// `max_code[len]`: the largest code of `len` bits, left-aligned to 16 bits, plus one
    /// (0 when no code has that length); `max_code[17]` is a sentinel past every code.
    pub(super) max_code: [u32; 18],
    /// `offset[len]`: added to a `len`-bit code to index `symbols`.
    pub(super) offset: [i32; 17],
    pub(super) symbols: [u8; 256],
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
            resolved: [Resolved::default(); 1 << LOOKAHEAD],
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

    /// Fills the DC fast path: for each lookahead prefix that holds a whole difference,
    /// code and value bits, the difference.
    pub(super) fn with_fast_dc(mut self) -> Self {
        for prefix in 0..(1u32 << LOOKAHEAD) {
            let entry = self.fast[prefix as usize];
            let (len, size) = (u32::from(entry >> 8), u32::from(entry & 0xFF));
            // Sizes past 11 are not DC differences: left to the checked path.
            if len == 0 || size > 11 || len + size > LOOKAHEAD {
                continue;
            }
            self.resolved[prefix as usize] = Resolved {
                first: value_after(prefix, len, size),
                bits: (len + size) as u8,
                ..Resolved::default()
            };
        }
        self
    }

    /// Fills the AC fast path: for each lookahead prefix, the coefficients (and end of
    /// block) whose codes and value bits it holds whole, at most two.
    pub(super) fn with_fast_ac(mut self) -> Self {
        for prefix in 0..(1u32 << LOOKAHEAD) {
            let Some(first) = self.ac_symbol(prefix, LOOKAHEAD) else {
                continue;
            };
            self.resolved[prefix as usize] = match first {
                AcSymbol::EndOfBlock { bits } => Resolved {
                    bits: bits as u8,
                    meta: ENDS_BLOCK,
                    ..Resolved::default()
                },
                AcSymbol::Coefficient { bits, run, value } => {
                    // What the bits after the first coefficient hold.
                    let rest = LOOKAHEAD - bits;
                    let next = (prefix << bits) & ((1 << LOOKAHEAD) - 1);
                    let mut fast = Resolved {
                        first: value,
                        second: value,
                        bits: bits as u8,
                        run: run as u8,
                        step: 0,
                        meta: HAS_COEFFICIENT,
                    };
                    match self.ac_symbol(next, rest) {
                        None => {}
                        Some(AcSymbol::EndOfBlock { bits: more }) => {
                            fast.bits += more as u8;
                            fast.meta |= ENDS_BLOCK | 1;
                        }
                        Some(AcSymbol::Coefficient {
                            bits: more,
                            run: run2,
                            value: value2,
                        }) => {
                            fast.bits += more as u8;
                            fast.second = value2;
                            fast.step = run2 as u8 + 1;
                            fast.meta |= fast.step;
                        }
                    }
                    fast
                }
            };
        }
        self
    }

    /// The AC symbol that the top `known` bits of the `LOOKAHEAD`-bit `prefix` hold whole,
    /// code and value bits; `None` for a longer one, a run of 16 zeros, or no code.
    fn ac_symbol(&self, prefix: u32, known: u32) -> Option<AcSymbol> {
        let entry = self.fast[prefix as usize];
        let len = u32::from(entry >> 8);
        if len == 0 || len > known {
            return None;
        }
        let symbol = entry & 0xFF;
        let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
        if symbol == 0 {
            return Some(AcSymbol::EndOfBlock { bits: len });
        }
        if size == 0 || len + size > known {
            return None;
        }
        Some(AcSymbol::Coefficient {
            bits: len + size,
            run,
            value: value_after(prefix, len, size),
        })
    }
}

/// The value whose `size` bits follow a `len`-bit code at the top of the `LOOKAHEAD`-bit
/// `prefix` (`len + size` at most `LOOKAHEAD`, `size` at most 11).
fn value_after(prefix: u32, len: u32, size: u32) -> i16 {
    let bits = (prefix >> (LOOKAHEAD - len - size)) & ((1 << size) - 1);
    extend(bits, size) as i16
}

/// What one lookahead prefix decodes to in a progressive AC refinement scan (T.81
/// G.1.2.3), where every symbol is a run and either a new coefficient of magnitude 1,
/// whose sign bit follows the code, or no coefficient: code and sign bit in one lookup.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(super) struct Refinement {
    /// Bits used, the code and a new coefficient's sign bit; 0: not resolved by the
    /// lookahead (a longer code, or a code whose sign bit lies past it).
    pub(super) bits: u8,
    /// The new coefficient's sign, 1 or -1; 0 for none (a run of 16 zeros);
    /// [`Self::END_OF_BAND`] where the code starts an end-of-band run.
    pub(super) sign: i8,
    /// `1 << run`, where the run is the zero coefficients passed before the new one (for
    /// a run of 16 zeros, 15, the 16th being where it stops), or the extra bits of an
    /// end-of-band run's length: the one-bit mask that the decoder's bit deposit takes.
    /// All four fields fit in four bytes, so a lookup is one scaled load.
    pub(super) run_bit: u16,
}

impl Refinement {
    /// The `sign` of an end-of-band run's code.
    pub(super) const END_OF_BAND: i8 = i8::MIN;

    /// Whether the code starts an end-of-band run.
    #[inline(always)]
    pub(super) fn end_of_band(self) -> bool {
        self.sign == Self::END_OF_BAND
    }

    /// The run, or an end-of-band run's extra bits.
    #[inline(always)]
    pub(super) fn run(self) -> u32 {
        self.run_bit.trailing_zeros()
    }
}

/// A refinement scan's lookahead table, made from an AC table's when a refinement scan
/// uses it (the others never need one).
pub(super) struct RefinementTable {
    /// Per `LOOKAHEAD`-bit prefix.
    pub(super) entries: [Refinement; 1 << LOOKAHEAD],
}

impl RefinementTable {
    /// Resolves every prefix of `table` whose code (and sign bit) it holds whole.
    pub(super) fn new(table: &HuffmanTable) -> Box<Self> {
        let mut out = Box::new(Self {
            entries: [Refinement::default(); 1 << LOOKAHEAD],
        });
        for (prefix, entry) in out.entries.iter_mut().enumerate() {
            let fast = table.fast[prefix];
            let len = u32::from(fast >> 8);
            let (run, size) = ((fast >> 4) as u8 & 15, fast & 15);
            if len == 0 {
                continue;
            }
            *entry = if size != 0 {
                // Any size reads as magnitude 1 (as libjpeg does): one sign bit follows.
                if len + 1 > LOOKAHEAD {
                    continue;
                }
                let positive = prefix >> (LOOKAHEAD - len - 1) & 1 != 0;
                Refinement {
                    bits: (len + 1) as u8,
                    sign: if positive { 1 } else { -1 },
                    run_bit: 1 << run,
                }
            } else {
                Refinement {
                    bits: len as u8,
                    sign: if run != 15 {
                        Refinement::END_OF_BAND
                    } else {
                        0
                    },
                    run_bit: 1 << run,
                }
            };
        }
        out
    }
}

/// One AC symbol resolved from a lookahead prefix.
enum AcSymbol {
    /// The end-of-block code, `bits` long.
    EndOfBlock { bits: u32 },
    /// A coefficient `value` after `run` zeros; code and value take `bits`.
    Coefficient { bits: u32, run: u32, value: i16 },
}

/// Sign-extends `size` magnitude bits as T.81's EXTEND does.
#[inline]
pub(super) fn extend(bits: u32, size: u32) -> i32 {
    if size == 0 {
        0
    } else if bits < 1 << (size - 1) {
        bits as i32 - (1 << size) + 1
    } else {
        bits as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_overfull_table_is_refused() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes
        assert!(HuffmanTable::new(&counts, &[1, 2, 3]).is_err());
        assert!(HuffmanTable::new(&[0; 16], &[1]).is_err());
    }
}
