//! Stage 1: sniff and validate from bytes and headers only, before any pixel is decoded.
//!
//! Everything here reads headers with bounds checks and bounded work: a JPEG marker walk
//! through every segment and scan header (entropy-coded data skipped), the PNG IHDR and
//! the chunk sequence (an `eXIf` before the image data; a second IHDR refused), and a GIF
//! structure scan that counts frames with LZW decoding skipped. The [`Policy`] decides.

mod jpeg_markers;

use crate::error::{BadImage, Error};
use crate::format::{Format, sniff};
use crate::orient::Orientation;
use crate::policy::Policy;

/// An upload that passed validation: its format, declared size, orientation and frame
/// count. Only [`inspect`] makes one, so later stages cannot see unchecked bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validated {
    format: Format,
    width: u32,
    height: u32,
    orientation: Orientation,
    frames: u32,
    /// A sequential JPEG whose components come in separate scans (see [`Self::non_interleaved`]).
    non_interleaved: bool,
    detail: Detail,
}

/// What a header says about the work of decoding it, beyond its size: what
/// [`crate::peak`] needs to bound a decode's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// A JPEG frame.
    Jpeg {
        /// Progressive (SOF2): a full decoder keeps every coefficient until the end.
        progressive: bool,
        /// Components in the frame (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK).
        components: u8,
        /// 8x8 blocks over all components, in whole MCUs.
        blocks: u64,
        /// Stray bytes or markers between segments, which libjpeg skips with a warning
        /// but which stop or mislead other decoders: the decode stage decodes the file
        /// as the stored original's marker walk leaves it.
        strays: bool,
    },
    /// A PNG image header.
    Png {
        /// Adam7 interlaced: decoded at full size before any reduction.
        interlaced: bool,
        /// An alpha channel or a tRNS chunk: the picture may have transparency, which
        /// the resize stage premultiplies.
        alpha: bool,
    },
    /// A GIF.
    Gif {
        /// Pixels of the first frame, the one decoded: a frame may be far larger than its
        /// logical screen (it is shown clipped), and decoders hold it whole.
        first_frame: u64,
    },
}

impl Validated {
    /// The sniffed format.
    #[must_use]
    pub const fn format(&self) -> Format {
        self.format
    }

    /// The stored picture size (before orientation): for GIF, the logical screen.
    #[must_use]
    pub const fn stored_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The size as displayed, after EXIF orientation: the coordinates of a crop box.
    #[must_use]
    pub const fn oriented_size(&self) -> (u32, u32) {
        self.orientation.display_size(self.width, self.height)
    }

    /// The EXIF orientation found in the header (`Normal` when there is none).
    #[must_use]
    pub const fn orientation(&self) -> Orientation {
        self.orientation
    }

    /// Number of frames: GIF image descriptors counted (1 for JPEG and PNG).
    #[must_use]
    pub const fn frames(&self) -> u32 {
        self.frames
    }

    /// Whether this is a sequential JPEG whose first scan leaves out some components, which
    /// come in later scans (a non-interleaved file): the decode stage picks its decoder by it.
    #[must_use]
    pub const fn non_interleaved(&self) -> bool {
        self.non_interleaved
    }

    /// What the header says about the decoder's work, beyond the size.
    pub(crate) const fn detail(&self) -> Detail {
        self.detail
    }
}

/// Validates `bytes` against `policy` from headers only.
///
/// Errors: `bad_image` (not JPEG/PNG/GIF, truncated header, zero size), `too_large`
/// (bytes, side, pixels, GIF canvas or summed frame pixels), `too_many_frames`.
/// `too_large` wins over `too_many_frames`.
pub fn inspect(bytes: &[u8], policy: &Policy) -> Result<Validated, Error> {
    let format = sniff(bytes).ok_or(Error::BadImage(BadImage::UnknownFormat))?;
    policy.check_bytes(bytes.len())?;
    let validated = match format {
        Format::Jpeg => inspect_jpeg(bytes)?,
        Format::Png => inspect_png(bytes)?,
        Format::Gif => return inspect_gif(bytes, policy),
    };
    check_size(&validated, policy)?;
    Ok(validated)
}

fn check_size(v: &Validated, policy: &Policy) -> Result<(), Error> {
    if v.width == 0 || v.height == 0 {
        return Err(Error::BadImage(BadImage::ZeroSize {
            width: v.width,
            height: v.height,
        }));
    }
    policy.check_dimensions(v.width, v.height)
}

fn header_error(format: Format, reason: &'static str) -> Error {
    Error::BadImage(BadImage::Header { format, reason })
}

/// Walks every JPEG marker to the end of the image (see [`jpeg_markers`]), reading the
/// frame size and the EXIF orientation on the way.
fn inspect_jpeg(bytes: &[u8]) -> Result<Validated, Error> {
    let header = jpeg_markers::walk(bytes)?;
    Ok(Validated {
        format: Format::Jpeg,
        width: header.width,
        height: header.height,
        orientation: header.orientation,
        frames: 1,
        non_interleaved: header.non_interleaved,
        detail: Detail::Jpeg {
            progressive: header.progressive,
            components: header.components,
            blocks: header.blocks,
            strays: header.strays,
        },
    })
}

/// Reads the PNG IHDR, then walks the chunks by their lengths: an `eXIf` before the
/// image data gives the orientation, and a second IHDR anywhere is a critical-chunk error
/// (libpng's "out of place"). Errors in ancillary chunks are left alone, as libpng
/// leaves them, but a chunk that runs past the end of the file is refused wherever it
/// is: libpng and Pillow both read every chunk up to IEND and fail there.
fn inspect_png(bytes: &[u8]) -> Result<Validated, Error> {
    let ihdr = bytes
        .get(8..33)
        .ok_or(Error::BadImage(BadImage::Truncated))?;
    if ihdr[..8] != *b"\0\0\0\x0DIHDR" {
        return Err(header_error(
            Format::Png,
            "the first chunk is not a 13-byte IHDR",
        ));
    }
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let width = be32(&ihdr[8..12]);
    let height = be32(&ihdr[12..16]);
    let mut orientation = Orientation::Normal;
    let mut seen_data = false;
    // An alpha channel (colour types 4 and 6) or a tRNS chunk before the image data.
    let mut transparency = matches!(ihdr[17], 4 | 6);
    let mut pos: usize = 33;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = usize::try_from(be32(&head[..4])).unwrap_or(usize::MAX);
        let kind = &head[4..8];
        // libpng refuses a chunk type that is not four ASCII letters, ancillary or not.
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(header_error(
                Format::Png,
                "a chunk type that is not four letters",
            ));
        }
        match kind {
            b"IHDR" => return Err(header_error(Format::Png, "a second IHDR chunk")),
            b"IDAT" => seen_data = true,
            b"IEND" => break,
            _ => {}
        }
        let Some(data) = pos
            .checked_add(8)
            .and_then(|start| bytes.get(start..start.checked_add(len)?))
        else {
            return Err(Error::BadImage(BadImage::Truncated));
        };
        if kind == b"tRNS" && !seen_data {
            transparency = true;
        }
        if kind == b"eXIf" && !seen_data {
            orientation = Orientation::from_tiff(data);
        }
        pos += 12 + len;
    }
    Ok(Validated {
        format: Format::Png,
        width,
        height,
        orientation,
        frames: 1,
        non_interleaved: false,
        detail: Detail::Png {
            interlaced: ihdr[20] != 0,
            alpha: transparency,
        },
    })
}

/// Scans a GIF's block structure without decoding any LZW data: logical screen, every
/// frame's extent and the frame count. Sizes are checked as soon as each descriptor is
/// read, so a huge frame is `too_large` even when the data after it is missing, and
/// counting stops at `max_frames + 1`. A structure that breaks after the first frame ends
/// the scan (browsers show what came before); one that breaks before it is `bad_image`.
///
/// This walks the blocks itself rather than through the `gif` crate, whose scan reports
/// an error for a truncated frame before its descriptor can be seen.
fn inspect_gif(bytes: &[u8], policy: &Policy) -> Result<Validated, Error> {
    let truncated = || Error::BadImage(BadImage::Truncated);
    let le16 = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 2)?;
        Some(u32::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let (width, height) = (
        le16(6).ok_or_else(truncated)?,
        le16(8).ok_or_else(truncated)?,
    );
    let mut validated = Validated {
        format: Format::Gif,
        width,
        height,
        orientation: Orientation::Normal,
        frames: 0,
        non_interleaved: false,
        detail: Detail::Gif { first_frame: 0 },
    };
    // A screen with a zero side is taken from the first frame's extent, as browsers and
    // Pillow take it; its size is checked once that frame is seen.
    let empty_screen = width == 0 || height == 0;
    if !empty_screen {
        check_size(&validated, policy)?;
    }
    let flags = *bytes.get(10).ok_or_else(truncated)?;
    let mut pos = 13 + colour_table_len(flags);

    // The canvas a compositing decoder allocates: the screen grown to every frame's extent.
    let (mut canvas_w, mut canvas_h) = (width, height);
    let mut frames: u32 = 0;
    let broken = |frames: u32, reason: &'static str| {
        if frames > 0 {
            Ok(())
        } else {
            Err(header_error(Format::Gif, reason))
        }
    };
    loop {
        match bytes.get(pos) {
            None => {
                broken(frames, "the file ends before its first frame")?;
                break;
            }
            Some(0x3B) => {
                broken(frames, "the file ends before its first frame")?;
                break;
            }
            Some(0x21) => pos = skip_sub_blocks(bytes, pos + 2),
            Some(0x2C) => {
                let (Some(left), Some(top), Some(w), Some(h), Some(&frame_flags)) = (
                    le16(pos + 1),
                    le16(pos + 3),
                    le16(pos + 5),
                    le16(pos + 7),
                    bytes.get(pos + 9),
                ) else {
                    broken(frames, "the file ends inside a frame descriptor")?;
                    break;
                };
                canvas_w = canvas_w.max(left + w);
                canvas_h = canvas_h.max(top + h);
                frames += 1;
                if frames == 1 {
                    validated.detail = Detail::Gif {
                        first_frame: u64::from(w) * u64::from(h),
                    };
                }
                if empty_screen && frames == 1 {
                    validated.width = if width == 0 { left + w } else { width };
                    validated.height = if height == 0 { top + h } else { height };
                    check_size(&validated, policy)?;
                }
                policy.check_dimensions(canvas_w, canvas_h)?;
                policy.check_frame_pixels(frames, u64::from(canvas_w) * u64::from(canvas_h))?;
                if frames > policy.max_frames {
                    return Err(Error::TooManyFrames {
                        max: policy.max_frames,
                    });
                }
                // Descriptor, local colour table, LZW minimum code size, data sub-blocks.
                pos = skip_sub_blocks(bytes, pos + 10 + colour_table_len(frame_flags) + 1);
            }
            Some(_) => {
                broken(frames, "an unknown block before the first frame")?;
                break;
            }
        }
    }
    Ok(Validated {
        frames,
        ..validated
    })
}

/// Bytes in the colour table a GIF flags byte announces.
fn colour_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 7) + 1)
    }
}

/// The position after a run of GIF data sub-blocks starting at `pos` (past the end of
/// `bytes` when the run is cut short). Each step moves forward, so this always ends.
fn skip_sub_blocks(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(&len) = bytes.get(pos) {
        pos += 1;
        if len == 0 {
            return pos;
        }
        pos += usize::from(len);
    }
    pos.max(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    fn jpeg_header(width: u16, height: u16, exif: Option<&[u8]>) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        if let Some(tiff) = exif {
            b.extend([0xFF, 0xE1]);
            b.extend(u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
            b.extend(b"Exif\0\0");
            b.extend(tiff);
        }
        b.extend([0xFF, 0xC0, 0, 17, 8]);
        b.extend(height.to_be_bytes());
        b.extend(width.to_be_bytes());
        b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        // Quantization tables 0 and 1; Huffman tables 0 and 1 are libjpeg's defaults.
        b.extend([0xFF, 0xDB, 0, 132, 0]);
        b.extend([1; 64]);
        b.push(1);
        b.extend([1; 64]);
        b.extend([0xFF, 0xDA, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
        b.extend(SCAN_TAIL);
        b
    }

    /// What [`jpeg_header`] puts after its scan header: entropy-coded bytes and EOI.
    const SCAN_TAIL: [u8; 6] = [0x12, 0x34, 0xFF, 0x00, 0xFF, 0xD9];

    fn code(r: Result<Validated, Error>) -> &'static str {
        r.map_or_else(|e| e.code(), |_| "ok")
    }

    #[test]
    fn reads_png_and_jpeg_sizes_from_headers() {
        let v = inspect(&png_header(300, 200), &Policy::default()).unwrap();
        assert_eq!((v.format(), v.stored_size()), (Format::Png, (300, 200)));
        let v = inspect(&jpeg_header(640, 480, None), &Policy::default()).unwrap();
        assert_eq!((v.format(), v.stored_size()), (Format::Jpeg, (640, 480)));
    }

    #[test]
    fn exif_orientation_swaps_the_oriented_size() {
        let tiff = crate::orient::tests::tiff_with_orientation(6, true);
        let v = inspect(&jpeg_header(640, 480, Some(&tiff)), &Policy::default()).unwrap();
        assert_eq!(v.orientation(), Orientation::Rotate90);
        assert_eq!(v.oriented_size(), (480, 640));
    }

    #[test]
    fn refuses_oversized_headers_before_decoding() {
        assert_eq!(
            code(inspect(&png_header(65535, 65535), &Policy::default())),
            "too_large"
        );
        assert_eq!(
            code(inspect(&png_header(16385, 1), &Policy::default())),
            "too_large"
        );
        assert_eq!(
            code(inspect(&png_header(10_000, 5_001), &Policy::default())),
            "too_large"
        );
        assert_eq!(
            code(inspect(&jpeg_header(1025, 10, None), &Policy::documented())),
            "too_large"
        );
    }

    #[test]
    fn zero_sizes_and_truncated_headers_are_bad_images() {
        assert_eq!(
            code(inspect(&png_header(0, 10), &Policy::default())),
            "bad_image"
        );
        assert_eq!(
            code(inspect(&jpeg_header(10, 0, None), &Policy::default())),
            "bad_image"
        );
        let jpeg = jpeg_header(10, 10, None);
        // Cut anywhere before its first scan header ends.
        for len in 0..jpeg.len() - SCAN_TAIL.len() {
            assert_eq!(
                code(inspect(&jpeg[..len], &Policy::default())),
                "bad_image",
                "{len}"
            );
        }
        let png = png_header(10, 10);
        for len in 0..png.len() - 8 {
            assert_eq!(
                code(inspect(&png[..len], &Policy::default())),
                "bad_image",
                "{len}"
            );
        }
    }

    #[test]
    fn a_gif_without_a_frame_is_a_bad_image() {
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x3B";
        assert_eq!(code(inspect(gif, &Policy::default())), "bad_image");
        assert_eq!(code(inspect(&gif[..12], &Policy::default())), "bad_image");
    }

    #[test]
    fn stray_bytes_and_stuffed_zeros_before_the_frame_header_are_skipped() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0x00, 0x12, 0x34];
        jpeg.extend(&jpeg_header(64, 32, None)[2..]);
        let v = inspect(&jpeg, &Policy::default()).unwrap();
        assert_eq!(v.stored_size(), (64, 32));
        assert!(strays(&v));
    }

    fn strays(v: &Validated) -> bool {
        matches!(v.detail(), Detail::Jpeg { strays: true, .. })
    }

    #[test]
    fn strays_are_noted_and_fill_bytes_are_not() {
        let clean = jpeg_header(64, 32, None);
        assert!(!strays(&inspect(&clean, &Policy::default()).unwrap()));
        let with = |extra: &[u8]| {
            // After the frame header (SOI, then 2 + 17 bytes).
            let mut jpeg = clean[..21].to_vec();
            jpeg.extend(extra);
            jpeg.extend(&clean[21..]);
            strays(&inspect(&jpeg, &Policy::default()).unwrap())
        };
        assert!(!with(&[0xFF, 0xFF]), "fill bytes");
        assert!(with(&[0x12]), "a stray byte");
        assert!(with(&[0xFF, 0xD3]), "a restart marker outside a scan");
        assert!(with(&[0xFF, 0x01]), "TEM");
    }

    #[test]
    fn byte_limit_is_checked_first_for_known_formats() {
        let policy = Policy {
            max_bytes: 10,
            ..Policy::default()
        };
        assert_eq!(code(inspect(&png_header(1, 1), &policy)), "too_large");
        assert_eq!(code(inspect(&[b'x'; 100], &policy)), "bad_image");
    }
}
