//! PNG: the chunks that make the picture, up to and including IEND.
//!
//! Kept, byte for byte (CRCs included, good or bad, as the decoder will judge them):
//! every critical chunk (IHDR, PLTE, IDAT, IEND, and any unknown critical chunk, which a
//! decoder must see to refuse); transparency (`tRNS`); the colour chunks (`iCCP`, `sRGB`,
//! `gAMA`, `cHRM`, `cICP`, `mDCv`, `cLLi`, `sBIT`); the pixel aspect (`pHYs`); and the
//! animation (`acTL`, `fcTL`, `fdAT`), which is the picture of an APNG. The first `eXIf`
//! before the image data (where validation reads the orientation) becomes minimal EXIF
//! holding only the orientation, or goes when the orientation is normal. Everything else
//! goes: text (`tEXt`, `zTXt`, `iTXt`), `tIME`, other `eXIf` chunks, `bKGD`, `hIST`,
//! `sPLT`, private chunks, and all after IEND.

use crate::orient::Orientation;

/// The PNG signature's length.
const SIGNATURE: usize = 8;

/// Ancillary chunks that belong to the picture.
const KEPT_ANCILLARY: [&[u8; 4]; 12] = [
    b"tRNS", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"mDCv", b"cLLi", b"sBIT", b"pHYs",
    b"acTL", b"fcTL",
];

/// The cleaned bytes of a PNG.
pub(super) fn clean(bytes: &[u8], orientation: Orientation) -> Vec<u8> {
    let Some(signature) = bytes.get(..SIGNATURE) else {
        return bytes.to_vec();
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(signature);
    let mut seen_data = false;
    let mut exif_seen = false;
    let mut pos = SIGNATURE;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = usize::try_from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]))
            .unwrap_or(usize::MAX);
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        let chunk = pos
            .checked_add(12)
            .and_then(|end| end.checked_add(len))
            .and_then(|end| bytes.get(pos..end));
        let critical = kind[0].is_ascii_uppercase();
        let first_exif = &kind == b"eXIf" && !seen_data && !exif_seen;
        exif_seen |= first_exif;
        seen_data |= &kind == b"IDAT";
        if first_exif && orientation != Orientation::Normal {
            push_chunk(&mut out, b"eXIf", &super::orientation_tiff(orientation));
        } else if critical || &kind == b"fdAT" || KEPT_ANCILLARY.contains(&&kind) {
            // A chunk cut short by the end of the file is copied as it is: the decoder
            // sees the same truncated picture.
            let Some(chunk) = chunk else {
                out.extend_from_slice(&bytes[pos..]);
                return out;
            };
            out.extend_from_slice(chunk);
            if &kind == b"IEND" {
                return out;
            }
        }
        let Some(chunk) = chunk else {
            // A dropped chunk cut short by the end of the file: the picture ends here, so
            // it gets the end a PNG has (a decoder that met the cut header knew the image
            // data was over; one that meets the end of the file right after IDAT does not).
            push_chunk(&mut out, b"IEND", &[]);
            return out;
        };
        pos += chunk.len();
    }
    // Fewer than 8 bytes left: the start of a chunk header cut short, which holds no
    // metadata; the decoder sees the same end.
    out.extend_from_slice(&bytes[pos.min(bytes.len())..]);
    out
}

/// Appends a chunk of `kind` holding `data`, with its CRC.
fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A chunk of `kind` holding `data`.
    pub(crate) fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_chunk(&mut out, kind, data);
        out
    }

    /// `png` with `chunk` inserted after its IHDR.
    pub(crate) fn insert_after_ihdr(png: &[u8], chunk: &[u8]) -> Vec<u8> {
        [&png[..33], chunk, &png[33..]].concat()
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/testdata/inputs/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn text_and_time_go_and_colour_stays() {
        let base = fixture("alpha_60x40.png");
        let gama = chunk(b"gAMA", &45455u32.to_be_bytes());
        let mut dirty = base.clone();
        for extra in [
            chunk(b"tEXt", b"Comment\0TEXT-SECRET"),
            chunk(b"zTXt", b"Author\0\0ZTXT-SECRET"),
            chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0XMP-SECRET"),
            chunk(b"tIME", b"\x07\xe8\x01\x02\x03\x04\x05"),
            chunk(b"prVt", b"PRIVATE-SECRET"),
            gama.clone(),
        ] {
            dirty = insert_after_ihdr(&dirty, &extra);
        }
        dirty.extend(b"TRAILING-SECRET");
        let cleaned = clean(&dirty, Orientation::Normal);
        assert!(!cleaned.windows(6).any(|w| w == b"SECRET"));
        assert_eq!(cleaned, insert_after_ihdr(&base, &gama));
    }

    #[test]
    fn exif_becomes_the_orientation_alone() {
        let base = fixture("alpha_60x40.png");
        let mut tiff = crate::orient::tests::tiff_with_orientation(8, false);
        tiff.extend(b"GPS-SECRET");
        let dirty = insert_after_ihdr(&base, &chunk(b"eXIf", &tiff));
        let cleaned = clean(&dirty, Orientation::Rotate270);
        let minimal = chunk(b"eXIf", &super::super::orientation_tiff(Orientation::Rotate270));
        assert_eq!(cleaned, insert_after_ihdr(&base, &minimal));
        assert_eq!(clean(&dirty, Orientation::Normal), base);
    }

    #[test]
    fn a_clean_file_comes_back_unchanged_and_a_cut_one_keeps_what_it_has() {
        for name in ["alpha_60x40.png", "tiny_1x1.png", "wide_4000x10.png"] {
            let bytes = fixture(name);
            assert_eq!(clean(&bytes, Orientation::Normal), bytes, "{name}");
            for cut in [0, 5, 8, 20, 33, 40, bytes.len() - 1] {
                let cleaned = clean(&bytes[..cut], Orientation::Normal);
                assert!(bytes.starts_with(&cleaned), "{name} cut at {cut}");
            }
        }
    }
}
