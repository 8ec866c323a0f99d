//! Huffman tables fitted to one picture's symbol counts, by the procedure of T.81 Annex K.2:
//! Huffman code lengths (figure K.1), counted per length (K.2), limited to 16 bits (K.3) and
//! listed by length (K.4).
//!
//! One code point is reserved before the lengths are found, so that once it is taken away no
//! code is made of ones only (T.81 C: such a code could be confused with the 0xFF fill).

use super::huffman::SymbolCounts;
use super::tables::HuffmanSpec;

/// The longest code a baseline table may hold.
const LONGEST: usize = 16;

/// The reserved code point: one past the last byte symbol, so it sorts after every real one.
const RESERVED: usize = 256;

/// A Huffman table as DHT stores it, owned: fitted to one picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FittedTable {
    counts: [u8; LONGEST],
    symbols: Vec<u8>,
}

impl FittedTable {
    /// The table as a spec, to assign codes and write DHT from.
    pub(crate) fn spec(&self) -> HuffmanSpec<'_> {
        HuffmanSpec {
            counts: self.counts,
            symbols: &self.symbols,
        }
    }
}

/// The table that codes symbols counted in `counts` in the fewest bits, among tables with no
/// code longer than 16 bits and no code of all ones (the K.2 procedure, which is optimal up
/// to the length limit). A table with no symbol counted gets symbol 0, so every table is one
/// a decoder accepts.
pub(crate) fn fit(counts: &SymbolCounts) -> FittedTable {
    let mut frequency = [0u64; RESERVED + 1];
    frequency[..RESERVED].copy_from_slice(counts.as_array());
    if frequency.iter().all(|&f| f == 0) {
        frequency[0] = 1;
    }
    frequency[RESERVED] = 1;

    let code_size = code_sizes(frequency);

    // K.2: how many codes of each length; a length can reach one less than the symbol count.
    let mut lengths = [0u32; RESERVED + 2];
    for &size in &code_size {
        if size > 0 {
            lengths[size] += 1;
        }
    }
    limit_lengths(&mut lengths);

    // K.4: symbols by code size, then by value. The reserved point goes last, so that the
    // code taken away by `limit_lengths` (the last of the longest length) is always its own.
    let mut symbols: Vec<usize> = (0..RESERVED).filter(|&s| code_size[s] > 0).collect();
    symbols.sort_by_key(|&s| (code_size[s], s));

    let mut table_counts = [0u8; LONGEST];
    for (count, &n) in table_counts.iter_mut().zip(&lengths[1..=LONGEST]) {
        // At most 256 real symbols, and never all of them at one length but 256 of length 8,
        // which the reserved point rules out.
        *count = u8::try_from(n).unwrap_or(u8::MAX);
    }
    FittedTable {
        counts: table_counts,
        symbols: symbols
            .into_iter()
            .map(|s| u8::try_from(s).unwrap_or(u8::MAX))
            .collect(),
    }
}

/// Figure K.1: Huffman code sizes, 0 for symbols never used. The two least frequent trees are
/// merged until one is left; every symbol of a merged tree gets one bit longer. `others`
/// chains the symbols of one tree, so a merge walks only the symbols it lengthens.
fn code_sizes(mut frequency: [u64; RESERVED + 1]) -> [usize; RESERVED + 1] {
    const END: usize = usize::MAX;
    let mut code_size = [0usize; RESERVED + 1];
    let mut others = [END; RESERVED + 1];
    // Roots of the trees still to merge: symbols of frequency > 0.
    let mut roots: Vec<usize> = (0..=RESERVED).filter(|&s| frequency[s] > 0).collect();
    while roots.len() > 1 {
        // The least frequency, then the next least; ties go to the larger symbol (any rule
        // gives an optimal code; this one is fixed so the output is the same everywhere).
        let key = |s: usize| (frequency[s], std::cmp::Reverse(s));
        let (mut first, mut second) = (0, 1);
        if key(roots[second]) < key(roots[first]) {
            std::mem::swap(&mut first, &mut second);
        }
        for i in 2..roots.len() {
            if key(roots[i]) < key(roots[first]) {
                second = first;
                first = i;
            } else if key(roots[i]) < key(roots[second]) {
                second = i;
            }
        }
        let (v1, v2) = (roots[first], roots[second]);
        frequency[v1] += frequency[v2];
        frequency[v2] = 0;
        roots.swap_remove(second);

        let mut v = v1;
        loop {
            code_size[v] += 1;
            if others[v] == END {
                break;
            }
            v = others[v];
        }
        others[v] = v2;
        let mut v = v2;
        loop {
            code_size[v] += 1;
            if others[v] == END {
                break;
            }
            v = others[v];
        }
    }
    code_size
}

/// Figure K.3: moves codes longer than 16 bits up, then takes away the reserved code point
/// (the last code of the longest length). `lengths[l]` is the number of codes of length `l`,
/// for a complete code (lengths satisfy Kraft's inequality with equality).
fn limit_lengths(lengths: &mut [u32; RESERVED + 2]) {
    let mut i = lengths.len() - 1;
    while i > LONGEST {
        // The deepest level of a complete code holds pairs of siblings. Each pair leaves:
        // one symbol takes its parent's place one level up, and the other joins the first
        // leaf found two or more levels up as its sibling, one level below it. Such a leaf
        // exists, or the code would have more than 2^15 symbols.
        while lengths[i] > 0 {
            let mut j = i - 2;
            while j > 1 && lengths[j] == 0 {
                j -= 1;
            }
            lengths[i] -= 2;
            lengths[i - 1] += 1;
            lengths[j + 1] += 2;
            lengths[j] -= 1;
        }
        i -= 1;
    }
    while i > 1 && lengths[i] == 0 {
        i -= 1;
    }
    lengths[i] -= 1;
}

#[cfg(test)]
mod tests {
    use super::super::huffman::HuffmanCodes;
    use super::*;

    fn counts_of(pairs: &[(u8, u64)]) -> SymbolCounts {
        let mut counts = SymbolCounts::new();
        for &(symbol, n) in pairs {
            for _ in 0..n {
                counts.add(usize::from(symbol));
            }
        }
        counts
    }

    /// The length of each symbol's code in `table` (0: not in it).
    fn code_lengths(table: &FittedTable) -> [u32; 256] {
        let mut lengths = [0u32; 256];
        let mut symbols = table.symbols.iter();
        for (length, &count) in (1u32..).zip(&table.counts) {
            for _ in 0..count {
                lengths[usize::from(*symbols.next().unwrap())] = length;
            }
        }
        assert!(symbols.next().is_none(), "more symbols than counts");
        lengths
    }

    /// The bits a plain Huffman code (no length limit) takes for `frequencies`: every merge
    /// adds its two weights, once per level they go down.
    fn huffman_cost(frequencies: &[u64]) -> u64 {
        let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<u64>> = frequencies
            .iter()
            .filter(|&&f| f > 0)
            .map(|&f| std::cmp::Reverse(f))
            .collect();
        let mut cost = 0;
        while heap.len() > 1 {
            let std::cmp::Reverse(a) = heap.pop().unwrap();
            let std::cmp::Reverse(b) = heap.pop().unwrap();
            cost += a + b;
            heap.push(std::cmp::Reverse(a + b));
        }
        cost
    }

    /// Lengths at most 16, a prefix code (Kraft sum below 1: one code point is left unused,
    /// and it is the all-ones one) holding exactly the used symbols, and no all-ones code.
    fn assert_valid(table: &FittedTable, counts: &SymbolCounts) {
        let lengths = code_lengths(table);
        let kraft: u64 = lengths
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (16 - l))
            .sum();
        assert!(kraft < 1 << 16, "Kraft sum {kraft} / 65536");
        for (symbol, &n) in counts.as_array().iter().enumerate() {
            assert_eq!(n > 0, lengths[symbol] > 0, "symbol {symbol}");
        }
        let codes = HuffmanCodes::new(&table.spec());
        for (symbol, &length) in lengths.iter().enumerate() {
            if length > 0 {
                let (code, l) = codes.code(symbol as u8);
                assert_eq!(l, length);
                assert_ne!(code, (1 << l) - 1, "all-ones code for {symbol}");
            }
        }
    }

    #[test]
    fn a_lone_symbol_gets_a_one_bit_code_of_zero() {
        let counts = counts_of(&[(0, 40)]);
        let table = fit(&counts);
        assert_eq!(table.counts[0], 1);
        assert_eq!(table.symbols, [0]);
        assert_valid(&table, &counts);
    }

    #[test]
    fn nothing_counted_still_gives_a_table() {
        let counts = SymbolCounts::new();
        let table = fit(&counts);
        assert_eq!(table.symbols, [0]);
    }

    #[test]
    fn frequent_symbols_get_short_codes() {
        let counts = counts_of(&[(5, 1000), (1, 300), (2, 300), (9, 20), (0xF0, 3)]);
        let table = fit(&counts);
        assert_valid(&table, &counts);
        let lengths = code_lengths(&table);
        assert_eq!(lengths[5], 1);
        assert!(lengths[1] <= lengths[9] && lengths[9] <= lengths[0xF0]);
    }

    #[test]
    fn doubling_frequencies_are_limited_to_sixteen_bits() {
        // Frequencies 1, 2, 4, ... make a code as deep as there are symbols (30 here).
        let pairs: Vec<(u8, u64)> = (0..30u8).map(|s| (s, 1u64 << s.min(20))).collect();
        let mut counts = SymbolCounts::new();
        for &(symbol, n) in &pairs {
            counts.add_many(usize::from(symbol), n);
        }
        let table = fit(&counts);
        assert_valid(&table, &counts);
        assert!(code_lengths(&table).contains(&16));
    }

    proptest::proptest! {
        /// Any counts: a valid table, within one bit per symbol use of the unlimited Huffman
        /// code when no length had to be limited, and never shorter than it.
        #[test]
        fn fitted_tables_are_valid_and_near_huffman(
            frequencies in proptest::collection::vec(0u64..5000, 1..256),
            skew in 0u32..12,
        ) {
            let mut counts = SymbolCounts::new();
            let mut used = Vec::new();
            for (symbol, &f) in frequencies.iter().enumerate() {
                // A few symbols far more frequent than the rest, as in JPEG's AC tables.
                let f = if symbol % 7 == 0 { f << skew } else { f };
                counts.add_many(symbol, f);
                used.push(f);
            }
            let table = fit(&counts);
            assert_valid(&table, &counts);
            let lengths = code_lengths(&table);
            let cost: u64 = used.iter().zip(&lengths).map(|(&f, &l)| f * u64::from(l)).sum();
            let floor = huffman_cost(&used);
            proptest::prop_assert!(cost >= floor);
            let mut with_reserved = used.clone();
            with_reserved.push(1);
            if lengths.iter().all(|&l| l < 16) {
                // The reserved point costs at most one extra bit on the rarest code's side.
                proptest::prop_assert!(cost <= huffman_cost(&with_reserved));
            }
        }
    }
}
