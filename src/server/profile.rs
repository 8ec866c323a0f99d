//! The text fields of a profile: which ones users.profile.set writes, how their values
//! are cleaned, and their `*_normalized` forms.

use crate::Code;

/// The text fields users.profile.set stores, with the most characters each may hold
/// (Slack's own limits). Any other key is ignored, as Slack ignores keys it does not know;
/// `real_name` and `display_name` have columns of their own, the rest are kept together.
pub(super) const TEXT_FIELDS: &[(&str, usize)] = &[
    ("real_name", 80),
    ("display_name", 80),
    ("first_name", 80),
    ("last_name", 80),
    ("title", 255),
    ("phone", 255),
    ("skype", 255),
    ("pronouns", 255),
    ("status_text", 100),
    ("status_emoji", 100),
];

/// The most characters field `name` may hold, if it is one that is stored.
pub(super) fn limit(name: &str) -> Option<usize> {
    TEXT_FIELDS
        .iter()
        .find(|(field, _)| *field == name)
        .map(|(_, max)| *max)
}

/// `value` as stored: line breaks and tabs become spaces, every other control character
/// (C0, DEL, C1) and the bidirectional overrides and isolates (which make a name render
/// as another) are dropped, and the ends are trimmed, as Slack cleans profile text.
/// `invalid_profile` when the result is longer than `max` characters.
pub(super) fn clean(value: &str, max: usize) -> Result<String, Code> {
    let cleaned: String = value
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if c.is_control() || is_bidi_control(c) => None,
            c => Some(c),
        })
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.chars().count() > max {
        return Err(Code::InvalidProfile);
    }
    Ok(cleaned)
}

/// Embedding, override and isolate controls (U+202A..U+202E, U+2066..U+2069) and the
/// implicit marks (U+200E, U+200F, U+061C).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// The `*_normalized` form of a name, as Slack documents it: "with any non-Latin
/// characters filtered out". Latin letters with diacritics are folded to their base
/// letters (`Zoë Ångström` -> `Zoe Angstrom`), everything outside Latin script (and
/// ASCII punctuation, digits and spaces) is dropped, and runs of spaces collapse.
pub(super) fn normalized(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if let Some(folded) = fold_latin(c) {
            out.push_str(folded);
        }
    }
    out.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ASCII base of a Latin-1 Supplement or Latin Extended-A letter.
fn fold_latin(c: char) -> Option<&'static str> {
    const LATIN1: &[&str] = &[
        // U+00C0..U+00FF
        "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I", //
        "D", "N", "O", "O", "O", "O", "O", "", "O", "U", "U", "U", "U", "Y", "TH", "ss", //
        "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i", //
        "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "y",
    ];
    // U+0100..U+017F, in pairs of capital and small letter where Unicode pairs them.
    const EXTENDED_A: &[&str] = &[
        "A", "a", "A", "a", "A", "a", "C", "c", "C", "c", "C", "c", "C", "c", "D", "d", //
        "D", "d", "E", "e", "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g", //
        "G", "g", "G", "g", "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i", //
        "I", "i", "IJ", "ij", "J", "j", "K", "k", "k", "L", "l", "L", "l", "L", "l", "L", //
        "l", "L", "l", "N", "n", "N", "n", "N", "n", "n", "N", "n", "O", "o", "O", "o", //
        "O", "o", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s", //
        "S", "s", "T", "t", "T", "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u", //
        "U", "u", "U", "u", "W", "w", "Y", "y", "Y", "Z", "z", "Z", "z", "Z", "z", "s",
    ];
    let code = u32::from(c);
    let (table, base) = match code {
        0xc0..=0xff => (LATIN1, 0xc0),
        0x100..=0x17f => (EXTENDED_A, 0x100),
        _ => return None,
    };
    let folded = table[usize::try_from(code - base).ok()?];
    (!folded.is_empty()).then_some(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_dropped_and_breaks_become_spaces() {
        let dirty = "\u{0}A\u{1b}[31mda\r\nLove\u{7f}lace\u{202e}cba\u{85}\t";
        assert_eq!(clean(dirty, 80).unwrap(), "A[31mda  Lovelacecba");
        assert_eq!(clean("  x  ", 80).unwrap(), "x");
    }

    #[test]
    fn the_limit_counts_characters_after_cleaning() {
        assert!(clean(&"é".repeat(80), 80).is_ok());
        assert_eq!(clean(&"é".repeat(81), 80), Err(Code::InvalidProfile));
        // Dropped characters do not count.
        assert!(clean(&format!("{}{}", "a".repeat(80), "\u{0}".repeat(50)), 80).is_ok());
    }

    #[test]
    fn normalized_folds_latin_and_drops_other_scripts() {
        assert_eq!(normalized("Zoë Ångström"), "Zoe Angstrom");
        assert_eq!(normalized("Łukasz Żółć"), "Lukasz Zolc");
        assert_eq!(normalized("Straße Œuvre"), "Strasse OEuvre");
        assert_eq!(normalized("田中 Taro"), "Taro");
        assert_eq!(normalized("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(normalized("×÷"), "");
    }

    #[test]
    fn the_tables_cover_their_blocks() {
        for code in 0xc0..=0x17f_u32 {
            let c = char::from_u32(code).unwrap();
            if c.is_alphabetic() {
                let folded = fold_latin(c).unwrap_or_else(|| panic!("{c}"));
                assert!(folded.bytes().all(|b| b.is_ascii_alphabetic()), "{c}");
                assert_eq!(
                    c.is_uppercase(),
                    folded.starts_with(|f: char| f.is_ascii_uppercase()),
                    "{c} -> {folded}"
                );
            }
        }
    }
}
