//! JPEG: the marker segments that make the picture, up to and including EOI.
//!
//! Kept: SOI; the frame, table, restart-interval and DNL segments; every scan header with
//! its entropy-coded data (restart markers included); EOI. Of the application segments:
//! APP0 JFIF (its embedded thumbnail removed), APP0 `AVI1` (motion-JPEG frames without
//! Huffman tables decode with the standard's where it is present), every APP2
//! `ICC_PROFILE` chunk in order, and APP14 `Adobe`, whose colour-transform flag decides
//! how the components are read.
//! The first APP1 `Exif` (the one validation reads the orientation from) becomes minimal
//! EXIF holding only the orientation, or goes when the orientation is normal. Everything
//! else goes: other APPn (XMP, extended XMP, Photoshop/IPTC APP13, MPF, FlashPix, maker
//! data), COM, stray bytes and fill bytes between markers, and all after EOI (where MPF's
//! second pictures and appended data live).

use crate::orient::Orientation;

/// Start of image.
const SOI: u8 = 0xD8;
/// End of image.
const EOI: u8 = 0xD9;
/// Start of scan.
const SOS: u8 = 0xDA;

/// The cleaned bytes of a JPEG (`bytes` starts with SOI when validated; anything else
/// is returned unchanged).
pub(super) fn clean(bytes: &[u8], orientation: Orientation) -> Vec<u8> {
    if !bytes.starts_with(&[0xFF, SOI]) {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut exif_seen = false;
    let mut pos = 2;
    loop {
        let Some(Marker { at, code, after }) = next_marker(bytes, pos) else {
            return out;
        };
        match code {
            EOI => {
                out.extend_from_slice(&[0xFF, EOI]);
                return out;
            }
            // Parameterless markers outside a scan (a second SOI, stray restart markers,
            // TEM) carry nothing.
            SOI | 0x01 | 0xD0..=0xD7 => pos = after,
            SOS => {
                let Some(end) = segment_end(bytes, after) else {
                    out.extend_from_slice(&bytes[at..]);
                    return out;
                };
                let data_end = entropy_data_end(bytes, end);
                out.extend_from_slice(&[0xFF, code]);
                out.extend_from_slice(&bytes[after..data_end]);
                pos = data_end;
            }
            // Frames, Huffman and arithmetic tables, quantization tables, DNL, DRI, DHP,
            // EXP: the picture itself.
            0xC0..=0xCF | 0xDB..=0xDF => {
                let Some(end) = segment_end(bytes, after) else {
                    out.extend_from_slice(&bytes[at..]);
                    return out;
                };
                out.extend_from_slice(&[0xFF, code]);
                out.extend_from_slice(&bytes[after..end]);
                pos = end;
            }
            0xE0..=0xEF | 0xFE => {
                // Validation skips a length below 2 as two bytes, as libjpeg does.
                let len = bytes
                    .get(after..after + 2)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                let Some(len) = len else {
                    out.extend_from_slice(&bytes[at..]);
                    return out;
                };
                if len < 2 {
                    pos = after + 2;
                    continue;
                }
                // A metadata segment cut short by the end of the file (validation only
                // lets one through after the first scan) is damage the decoders each
                // stumble on in their own way, depending on what follows: the rest is
                // copied as it is, so they draw the picture they drew from the upload.
                let Some(payload) = bytes.get(after + 2..after + len) else {
                    out.extend_from_slice(&bytes[at..]);
                    return out;
                };
                let first_exif = code == 0xE1 && !exif_seen && payload.starts_with(b"Exif\0\0");
                exif_seen |= first_exif;
                match kept_application_segment(code, payload, first_exif, orientation) {
                    Kept::Whole => {
                        out.extend_from_slice(&[0xFF, code]);
                        out.extend_from_slice(&bytes[after..after + len]);
                    }
                    Kept::Rewritten(payload) => push_segment(&mut out, code, &payload),
                    Kept::Dropped => {}
                }
                pos = after + len;
            }
            // A reserved marker, which validation refuses: copy the rest as it is.
            _ => {
                out.extend_from_slice(&bytes[at..]);
                return out;
            }
        }
    }
}

/// What becomes of an application or comment segment.
enum Kept {
    /// Copied as it is.
    Whole,
    /// Replaced by this payload.
    Rewritten(Vec<u8>),
    /// Removed.
    Dropped,
}

/// The fate of segment `code` with `payload` (after its length); `first_exif` marks the
/// EXIF block validation reads the orientation from.
fn kept_application_segment(
    code: u8,
    payload: &[u8],
    first_exif: bool,
    orientation: Orientation,
) -> Kept {
    match code {
        // JFIF: version, density units, densities, then a thumbnail of width x height
        // RGB pixels, which is cut (its size becomes 0 x 0).
        0xE0 if payload.starts_with(b"JFIF\0") => match payload.get(..12) {
            Some(head) if payload.len() > 14 || payload[12..].iter().any(|&b| b != 0) => {
                Kept::Rewritten([head, &[0, 0]].concat())
            }
            _ => Kept::Whole,
        },
        // Motion-JPEG's marker: frames without Huffman tables decode with the standard's
        // only where it is present (zune-jpeg reads it so).
        0xE0 if payload.starts_with(b"AVI1") => Kept::Whole,
        0xE1 if first_exif && orientation != Orientation::Normal => {
            Kept::Rewritten([&b"Exif\0\0"[..], &super::orientation_tiff(orientation)].concat())
        }
        0xE2 if payload.starts_with(b"ICC_PROFILE\0") => Kept::Whole,
        0xEE if payload.starts_with(b"Adobe") => Kept::Whole,
        _ => Kept::Dropped,
    }
}

/// Appends marker `code` and a segment holding `payload` (at most 65533 bytes).
fn push_segment(out: &mut Vec<u8>, code: u8, payload: &[u8]) {
    let len = u16::try_from(payload.len() + 2).unwrap_or(u16::MAX);
    out.extend_from_slice(&[0xFF, code]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A marker found in the bytes.
struct Marker {
    /// Where its run of `FF` bytes begins.
    at: usize,
    /// Its code.
    code: u8,
    /// The position after the code.
    after: usize,
}

/// The next marker from `pos` on, past stray bytes, fill bytes and stuffed zeros (as
/// validation and libjpeg skip them); `None` at the end of the data.
fn next_marker(bytes: &[u8], mut pos: usize) -> Option<Marker> {
    loop {
        let at = pos + bytes.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        let code_at = at + bytes.get(at..)?.iter().position(|&b| b != 0xFF)?;
        let code = bytes[code_at];
        pos = code_at + 1;
        if code != 0 {
            return Some(Marker {
                at,
                code,
                after: pos,
            });
        }
    }
}

/// The end of the segment whose length field is at `pos`, if it fits in the bytes.
fn segment_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let len = bytes.get(pos..pos + 2)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    (len >= 2 && pos + len <= bytes.len()).then_some(pos + len)
}

/// Where the entropy-coded data starting at `pos` ends: at the run of `FF` bytes of the
/// first marker that is not part of the data (restart markers, TEM and markers below
/// SOF0 are, as validation treats them), or at the end of the bytes.
fn entropy_data_end(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(Marker { at, code, after }) = next_marker(bytes, pos) {
        if code >= 0xC0 && !(0xD0..=0xD7).contains(&code) {
            return at;
        }
        pos = after;
    }
    bytes.len()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `jpeg` with `segment` (marker and all) inserted after its SOI.
    pub(crate) fn insert_after_soi(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
        [&jpeg[..2], segment, &jpeg[2..]].concat()
    }

    /// Marker `code` with `payload`.
    pub(crate) fn segment(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_segment(&mut out, code, payload);
        out
    }

    /// The (code, payload) of every segment before the first scan.
    fn header_segments(jpeg: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut found = Vec::new();
        let mut pos = 2;
        while let Some(Marker { code, after, .. }) = next_marker(jpeg, pos) {
            let end = segment_end(jpeg, after).unwrap();
            found.push((code, jpeg[after + 2..end].to_vec()));
            if code == SOS {
                break;
            }
            pos = end;
        }
        found
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/testdata/inputs/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn metadata_segments_go_and_picture_segments_stay() {
        let base = fixture("sample.jpg");
        let icc = segment(0xE2, b"ICC_PROFILE\0\x01\x01profile-bytes");
        let adobe = segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01");
        let mut dirty = base.clone();
        for extra in [
            segment(0xFE, b"COMMENT-SECRET"),
            segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0XMP-SECRET"),
            segment(0xED, b"Photoshop 3.0\08BIM IPTC-SECRET"),
            segment(0xE2, b"MPF\0MPF-SECRET"),
            adobe.clone(),
            icc.clone(),
        ] {
            dirty = insert_after_soi(&dirty, &extra);
        }
        // A comment between the tables and the scan, and bytes after EOI.
        let sos = dirty.windows(2).position(|w| w == [0xFF, SOS]).unwrap();
        dirty.splice(sos..sos, segment(0xFE, b"LATE-SECRET"));
        dirty.extend(b"\xFF\xD8TRAILING-SECRET\xFF\xD9");

        let cleaned = clean(&dirty, Orientation::Normal);
        assert!(!cleaned.windows(6).any(|w| w == b"SECRET"));
        let expected = [&base[..2], &icc, &adobe, &base[2..]].concat();
        assert_eq!(cleaned, expected);
    }

    #[test]
    fn exif_becomes_the_orientation_alone() {
        let base = fixture("sample.jpg");
        let mut tiff = crate::orient::tests::tiff_with_orientation(6, false);
        tiff.extend(b"GPS-SECRET");
        let dirty = insert_after_soi(&base, &segment(0xE1, &[b"Exif\0\0", &tiff[..]].concat()));
        let cleaned = clean(&dirty, Orientation::Rotate90);
        let segments = header_segments(&cleaned);
        let exif: Vec<_> = segments.iter().filter(|(code, _)| *code == 0xE1).collect();
        assert_eq!(exif.len(), 1);
        let tiff = exif[0].1.strip_prefix(b"Exif\0\0").unwrap();
        assert_eq!(tiff.len(), 26);
        assert_eq!(Orientation::from_tiff(tiff), Orientation::Rotate90);
        // Normal: the EXIF block goes altogether, leaving the upload without it.
        assert_eq!(clean(&dirty, Orientation::Normal), base);
    }

    #[test]
    fn the_jfif_thumbnail_is_cut() {
        let base = fixture("sample.jpg");
        let app0_end = 4 + 16;
        let mut jfif = base[6..app0_end].to_vec();
        jfif[12] = 2;
        jfif[13] = 1;
        jfif.extend([0x55; 6]);
        let dirty = [&base[..2], &segment(0xE0, &jfif), &base[app0_end..]].concat();
        assert_eq!(clean(&dirty, Orientation::Normal), base);
    }

    #[test]
    fn a_clean_file_comes_back_unchanged() {
        for name in ["sample.jpg", "exif6.jpg", "large_2560x2048_progressive.jpg"] {
            let bytes = fixture(name);
            let orientation = if name == "exif6.jpg" {
                Orientation::Rotate90
            } else {
                Orientation::Normal
            };
            assert_eq!(clean(&bytes, orientation), bytes, "{name}");
        }
    }

    #[test]
    fn restart_markers_and_stuffed_bytes_stay_in_the_scan() {
        let base = fixture("sample.jpg");
        let sos = base.windows(2).position(|w| w == [0xFF, SOS]).unwrap();
        let data = sos + 2 + usize::from(u16::from_be_bytes([base[sos + 2], base[sos + 3]]));
        // Entropy data as the scanner sees it: a restart marker, a stuffed zero, TEM.
        let mut dirty = base[..data].to_vec();
        dirty.extend(b"\x12\xFF\xD0\x34\xFF\x00\x56\xFF\x01\x78");
        dirty.extend(&base[data..]);
        assert_eq!(clean(&dirty, Orientation::Normal), dirty);
    }

    #[test]
    fn a_file_cut_short_keeps_what_it_has() {
        let base = fixture("sample.jpg");
        for cut in [3, 10, 30, 200, 700, base.len() / 2, base.len() - 1] {
            let cleaned = clean(&base[..cut], Orientation::Normal);
            assert!(base.starts_with(&cleaned), "cut at {cut}");
            // Past the headers, every byte up to the cut is scan data, and stays.
            if cut >= 700 {
                assert_eq!(cleaned.len(), cut, "cut at {cut}");
            }
        }
    }
}
