//! GIF: the blocks that make the picture, up to and including the trailer.
//!
//! Kept: the header, the logical screen descriptor and global colour table, every
//! graphic control extension that applies to a frame, every frame (descriptor, local
//! colour table, LZW data), the application extensions that belong to the picture
//! (`NETSCAPE2.0` and `ANIMEXTS1.0` looping, `ICCRGBG1012` colour profile), and the
//! trailer. Removed: comment extensions, other application extensions (XMP and the
//! like), plain-text extensions together with the graphic control extension that applies
//! to them (else it would move onto the next frame), and all after the trailer.
//!
//! Validation accepts a GIF whose structure breaks after its first frame. Where the walk
//! meets a block it cannot read, it ends the file with the trailer there; a block cut
//! short by the end of the file is copied as it is when kept.

/// Block introducers and labels.
const EXTENSION: u8 = 0x21;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;
const GRAPHIC_CONTROL: u8 = 0xF9;
const PLAIN_TEXT: u8 = 0x01;
const APPLICATION: u8 = 0xFF;

/// The identifier and authentication code of the application extensions kept.
const KEPT_APPLICATIONS: [&[u8]; 3] = [b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"];

/// The cleaned bytes of a GIF.
pub(super) fn clean(bytes: &[u8]) -> Vec<u8> {
    let Some(&flags) = bytes.get(10) else {
        return bytes.to_vec();
    };
    let screen_end = 13 + colour_table_len(flags);
    let Some(screen) = bytes.get(..screen_end) else {
        return bytes.to_vec();
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(screen);
    // A graphic control extension waits here until the block it applies to is known.
    let mut pending_control: Option<&[u8]> = None;
    let mut pos = screen_end;
    loop {
        match bytes.get(pos).copied() {
            Some(EXTENSION) => {
                let label = bytes.get(pos + 1).copied();
                let end = sub_blocks_end(bytes, pos + 2);
                let keep = match label {
                    Some(GRAPHIC_CONTROL) => {
                        if let Some(block) = end.map(|end| &bytes[pos..end]) {
                            pending_control = Some(block);
                        }
                        false
                    }
                    Some(PLAIN_TEXT) => {
                        pending_control = None;
                        false
                    }
                    Some(APPLICATION) => bytes
                        .get(pos + 3..pos + 14)
                        .is_some_and(|id| bytes[pos + 2] == 11 && KEPT_APPLICATIONS.contains(&id)),
                    _ => false,
                };
                let Some(end) = end else {
                    if keep || label == Some(GRAPHIC_CONTROL) {
                        out.extend_from_slice(&bytes[pos..]);
                        return out;
                    }
                    break;
                };
                if keep {
                    out.extend_from_slice(&bytes[pos..end]);
                }
                pos = end;
            }
            Some(IMAGE) => {
                if let Some(control) = pending_control.take() {
                    out.extend_from_slice(control);
                }
                // Descriptor, local colour table, LZW minimum code size, data sub-blocks.
                let data = bytes
                    .get(pos + 9)
                    .map(|&flags| pos + 10 + colour_table_len(flags) + 1);
                let Some(end) = data.and_then(|data| sub_blocks_end(bytes, data)) else {
                    out.extend_from_slice(&bytes[pos..]);
                    return out;
                };
                out.extend_from_slice(&bytes[pos..end]);
                pos = end;
            }
            // The trailer, the end of the file, or a block that is not one.
            _ => break,
        }
    }
    out.push(TRAILER);
    out
}

/// Bytes in the colour table a GIF flags byte announces.
fn colour_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 7) + 1)
    }
}

/// The position after a run of data sub-blocks starting at `pos`, ended by a zero-length
/// block; `None` when the bytes end first.
fn sub_blocks_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = usize::from(*bytes.get(pos)?);
        pos += 1;
        if len == 0 {
            return Some(pos);
        }
        pos += len;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `width` x `height` GIF of `frames` frames (each a different colour, the second
    /// transparent where x == y), looping forever, with a comment before each frame.
    pub(crate) fn animated(width: u16, height: u16, frames: u8, comment: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
            let mut encoder = ::gif::Encoder::new(&mut out, width, height, &palette).unwrap();
            encoder.set_repeat(::gif::Repeat::Infinite).unwrap();
            for f in 0..frames {
                encoder
                    .write_raw_extension(::gif::AnyExtension(0xFE), &[comment])
                    .unwrap();
                let mut frame = ::gif::Frame {
                    width,
                    height,
                    delay: 10,
                    ..::gif::Frame::default()
                };
                let pixels = (0..height)
                    .flat_map(|y| (0..width).map(move |x| if x == y { 0 } else { f % 3 + 1 }))
                    .collect::<Vec<u8>>();
                if f == 1 {
                    frame.transparent = Some(0);
                }
                frame.buffer = pixels.into();
                encoder.write_frame(&frame).unwrap();
            }
        }
        out
    }

    /// The positions of every `needle` in `haystack`.
    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack.windows(needle.len()).filter(|w| *w == needle).count()
    }

    #[test]
    fn comments_xmp_and_trailing_bytes_go() {
        let base = animated(9, 7, 3, b"COMMENT-SECRET");
        let mut dirty = base.clone();
        // An XMP application extension after the screen, and data after the trailer.
        let mut xmp = vec![EXTENSION, APPLICATION, 11];
        xmp.extend(b"XMP DataXMP");
        xmp.extend([10]);
        xmp.extend(b"XMP-SECRET");
        xmp.push(0);
        let screen_end = 13 + colour_table_len(base[10]);
        dirty.splice(screen_end..screen_end, xmp);
        dirty.extend(b"TRAILING-SECRET");
        let cleaned = clean(&dirty);
        assert_eq!(count(&cleaned, b"SECRET"), 0);
        assert_eq!(count(&cleaned, b"NETSCAPE2.0"), 1);
        assert_eq!(cleaned.last(), Some(&TRAILER));
        // Removing the comments from the encoder's file gives the same bytes.
        let mut expected: Vec<u8> = Vec::new();
        let comment = [&[EXTENSION, 0xFE, 14][..], b"COMMENT-SECRET", &[0]].concat();
        let mut rest = &base[..];
        while let Some(at) = rest.windows(comment.len()).position(|w| w == comment) {
            expected.extend(&rest[..at]);
            rest = &rest[at + comment.len()..];
        }
        expected.extend(rest);
        assert_eq!(cleaned, expected);
    }

    #[test]
    fn a_plain_text_block_takes_its_graphic_control_with_it() {
        let base = animated(4, 4, 1, b"c");
        let control = [EXTENSION, GRAPHIC_CONTROL, 4, 0, 50, 0, 0, 0];
        let text = [
            &[EXTENSION, PLAIN_TEXT, 12][..],
            &[0; 12],
            &[5],
            b"HELLO",
            &[0],
        ]
        .concat();
        let screen_end = 13 + colour_table_len(base[10]);
        let dirty = [&base[..screen_end], &control, &text, &base[screen_end..]].concat();
        assert_eq!(clean(&dirty), clean(&base));
    }

    #[test]
    fn fixtures_come_back_unchanged_and_cut_ones_keep_what_they_have() {
        for name in ["opaque.gif", "transparent.gif"] {
            let bytes = std::fs::read(format!(
                "{}/testdata/inputs/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            assert_eq!(clean(&bytes), bytes, "{name}");
            for cut in 0..bytes.len() {
                // A prefix of the upload, ended by a trailer where a block ends.
                let cleaned = clean(&bytes[..cut]);
                let body = cleaned.strip_suffix(&[TRAILER]).unwrap_or(&cleaned);
                assert!(bytes[..cut].starts_with(body), "{name} cut at {cut}");
            }
        }
    }
}
