//! What a JPEG's headers say about its colour: the ICC profile of its `APP2 ICC_PROFILE`
//! chunks, the number of components of its frame, and whether an Adobe `APP14` segment
//! marks it as Adobe's (inverted) CMYK or YCCK.

use super::MAX_PROFILE_BYTES;

/// The colour facts of a JPEG's headers.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct JpegColour {
    /// The profile, when its chunks are all present, once each, and not too large.
    pub(super) icc: Option<Vec<u8>>,
    /// Components of the first frame header (1 grey, 3 colour, 4 CMYK or YCCK).
    pub(super) components: Option<u8>,
    /// An `APP14 Adobe` segment: four components are CMYK (transform 0) or YCCK (2), stored
    /// inverted, as Photoshop writes them.
    pub(super) adobe: bool,
}

/// Reads the headers of `bytes` up to the first scan.
pub(super) fn read(bytes: &[u8]) -> JpegColour {
    const TAG: &[u8] = b"ICC_PROFILE\0";
    let mut colour = JpegColour::default();
    let mut chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut count = 0u8;
    let mut consistent = true;
    let mut pos = 2; // after SOI
    while pos + 4 <= bytes.len() {
        if bytes[pos] != 0xFF {
            break;
        }
        let marker = bytes[pos + 1];
        match marker {
            0xFF => {
                pos += 1; // fill byte
                continue;
            }
            0xD8..=0xDA => break, // SOI, EOI, SOS: no profile after the headers
            0x01 | 0xD0..=0xD7 => {
                pos += 2; // no length
                continue;
            }
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
        let Some(payload) = bytes.get(pos + 4..pos + 2 + len.max(2)) else {
            break;
        };
        match marker {
            0xE2 if payload.len() > TAG.len() + 2 && payload.starts_with(TAG) => {
                let (sequence, total) = (payload[TAG.len()], payload[TAG.len() + 1]);
                if total == 0 || (count != 0 && total != count) {
                    consistent = false;
                }
                count = total;
                chunks.push((sequence, &payload[TAG.len() + 2..]));
            }
            0xEE if payload.starts_with(b"Adobe") => colour.adobe = true,
            // Frame headers (SOF0-15 but DHT, JPG and DAC): precision, height, width, count.
            0xC0..=0xCF
                if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && colour.components.is_none() =>
            {
                colour.components = payload.get(5).copied();
            }
            _ => {}
        }
        pos += 2 + len;
    }
    if consistent {
        colour.icc = joined(chunks, count);
    }
    colour
}

/// The chunks joined in sequence order, when there are `count` of them numbered 1 to
/// `count` and their sum is not over [`MAX_PROFILE_BYTES`].
fn joined(mut chunks: Vec<(u8, &[u8])>, count: u8) -> Option<Vec<u8>> {
    if chunks.is_empty() || chunks.len() != usize::from(count) {
        return None;
    }
    chunks.sort_by_key(|&(sequence, _)| sequence);
    let in_order = chunks
        .iter()
        .enumerate()
        .all(|(i, &(sequence, _))| usize::from(sequence) == i + 1);
    if !in_order {
        return None;
    }
    let len = chunks.iter().map(|(_, data)| data.len()).sum::<usize>();
    if len > MAX_PROFILE_BYTES {
        return None;
    }
    Some(chunks.into_iter().flat_map(|(_, data)| data).copied().collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `profile` as APP2 segments of at most `chunk` bytes each, in sequence order.
    pub(crate) fn app2_segments(profile: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let parts: Vec<&[u8]> = profile.chunks(chunk).collect();
        parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let mut payload = b"ICC_PROFILE\0".to_vec();
                payload.extend([i as u8 + 1, parts.len() as u8]);
                payload.extend_from_slice(part);
                segment(0xE2, &payload)
            })
            .collect()
    }

    /// A marker segment.
    pub(crate) fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut segment = vec![0xFF, marker];
        segment.extend(((payload.len() + 2) as u16).to_be_bytes());
        segment.extend(payload);
        segment
    }

    /// A small JPEG-shaped header: SOI, the segments, then SOS.
    pub(crate) fn jpeg_with(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8];
        for segment in segments {
            bytes.extend(segment);
        }
        bytes.extend([0xFF, 0xDA, 0, 2]);
        bytes
    }

    fn profile() -> Vec<u8> {
        (0..1000u32).map(|i| (i * 7 % 256) as u8).collect()
    }

    #[test]
    fn app2_chunks_are_joined_in_sequence_order() {
        let profile = profile();
        let mut segments = app2_segments(&profile, 100);
        segments.swap(0, 2);
        assert_eq!(read(&jpeg_with(&segments)).icc, Some(profile));
    }

    #[test]
    fn a_missing_or_repeated_chunk_means_no_profile() {
        let profile = profile();
        let segments = app2_segments(&profile, 100);
        let missing: Vec<_> = segments[1..].to_vec();
        assert_eq!(read(&jpeg_with(&missing)).icc, None);
        let mut repeated = segments.clone();
        repeated[1] = segments[0].clone();
        assert_eq!(read(&jpeg_with(&repeated)).icc, None);
        assert_eq!(read(&jpeg_with(&[])).icc, None);
    }

    #[test]
    fn the_frame_and_an_adobe_segment_are_read() {
        let sof = segment(0xC0, &[8, 0, 16, 0, 16, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0]);
        let adobe = segment(0xEE, b"Adobe\0\x64\0\0\0\0\x02");
        let colour = read(&jpeg_with(&[adobe, sof.clone()]));
        assert_eq!((colour.components, colour.adobe), (Some(4), true));
        let colour = read(&jpeg_with(&[sof]));
        assert_eq!((colour.components, colour.adobe), (Some(4), false));
        // A Huffman table (0xC4) is not a frame.
        let dht = segment(0xC4, &[0, 1, 2, 3, 4, 5]);
        assert_eq!(read(&jpeg_with(&[dht])).components, None);
    }
}
