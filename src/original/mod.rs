//! The stored original (`image_original`): the upload with its metadata removed.
//!
//! What stays is what shows the picture: the image data, its orientation and its colour
//! profile. Everything else goes: EXIF apart from the orientation (GPS position, camera
//! serials, thumbnails), XMP, IPTC, comments, text chunks, and any bytes after the end of
//! the image. The work is segment and chunk surgery on the upload's bytes, never a
//! re-encode, so the pixels are the upload's to the bit. A non-normal orientation is
//! written back as a minimal EXIF block holding that one tag, where the upload's EXIF
//! block was; a normal one needs none.
//!
//! Each walker follows the structure the validator follows and never panics. A structure
//! it cannot follow (only a file validation would refuse has one) ends the cleaning: the
//! rest of the upload is copied as it is, so the picture is never cut short.

mod gif;
mod jpeg;
mod png;

/// PNG chunk helpers for other stages' tests (the colour stage's iCCP tests).
#[cfg(test)]
pub(crate) use png::tests as png_tests;

use bytes::Bytes;

use crate::format::Format;
use crate::orient::Orientation;
use crate::validate::Validated;

/// The stored original of a validated upload: its bytes with the metadata removed. When
/// nothing was removed, the upload itself is returned (no copy is kept).
#[must_use]
pub fn clean(bytes: &Bytes, validated: &Validated) -> Bytes {
    let cleaned = clean_bytes(bytes, validated.format(), validated.orientation());
    if cleaned == bytes.as_ref() {
        bytes.clone()
    } else {
        Bytes::from(cleaned)
    }
}

/// Cleans `bytes` of `format`, writing `orientation` back as minimal EXIF when it is not
/// [`Orientation::Normal`].
#[must_use]
pub fn clean_bytes(bytes: &[u8], format: Format, orientation: Orientation) -> Vec<u8> {
    match format {
        Format::Jpeg => jpeg::clean(bytes, orientation),
        Format::Png => png::clean(bytes, orientation),
        Format::Gif => gif::clean(bytes),
    }
}

/// The TIFF block (what follows `Exif\0\0` in JPEG, the whole of a PNG `eXIf` chunk) of
/// minimal EXIF: big-endian, IFD0 with one entry, Orientation (0x0112, SHORT, count 1),
/// and no next IFD.
fn orientation_tiff(orientation: Orientation) -> [u8; 26] {
    let [hi, lo] = orientation.exif_value().to_be_bytes();
    [
        b'M', b'M', 0, 42, // byte order, magic
        0, 0, 0, 8, // IFD0 offset
        0, 1, // one entry
        0x01, 0x12, 0, 3, 0, 0, 0, 1, hi, lo, 0, 0, // Orientation = value
        0, 0, 0, 0, // no next IFD
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::Policy;
    use proptest::prelude::*;

    /// A TIFF block (little-endian) like a phone writes: the camera's make, `orientation`,
    /// and a GPS IFD with a latitude; every string is marked `SECRET`.
    pub(crate) fn tiff_with_gps(orientation: u16) -> Vec<u8> {
        let mut t = b"II\x2A\0\x08\0\0\0".to_vec();
        let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
            t.extend(tag.to_le_bytes());
            t.extend(kind.to_le_bytes());
            t.extend(count.to_le_bytes());
            t.extend(value.to_le_bytes());
        };
        // IFD0 at 8: 3 entries (2 + 36 + 4 bytes), then the make at 50, the GPS IFD at 66.
        t.extend(3u16.to_le_bytes());
        entry(&mut t, 0x010F, 2, 16, 50);
        entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
        entry(&mut t, 0x8825, 4, 1, 66);
        t.extend(0u32.to_le_bytes());
        t.extend(b"CAM-SECRET-0042\0");
        // GPS IFD at 66: 2 entries (2 + 24 + 4 bytes), then the latitude at 96.
        t.extend(2u16.to_le_bytes());
        entry(&mut t, 0x0001, 2, 2, u32::from(b'N'));
        entry(&mut t, 0x0002, 5, 3, 96);
        t.extend(0u32.to_le_bytes());
        for (num, den) in [(51u32, 1u32), (30, 1), (2_644, 100)] {
            t.extend(num.to_le_bytes());
            t.extend(den.to_le_bytes());
        }
        t
    }

    /// A `width` x `height` JPEG of gradients (progressive or baseline) with the metadata a
    /// phone and an editor leave: JFIF, EXIF with GPS and `orientation`, XMP, an ICC
    /// profile, a comment; plus bytes after EOI.
    pub(crate) fn dirty_jpeg(width: u16, height: u16, orientation: u16, progressive: bool) -> Vec<u8> {
        let pixels: Vec<u8> = (0..height)
            .flat_map(|y| {
                (0..width).flat_map(move |x| {
                    [(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]
                })
            })
            .collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive(progressive);
        encoder
            .add_app_segment(1, [&b"Exif\0\0"[..], &tiff_with_gps(orientation)].concat())
            .unwrap();
        encoder
            .add_app_segment(1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>XMP-SECRET".to_vec())
            .unwrap();
        encoder.add_icc_profile(b"not really a profile").unwrap();
        encoder
            .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let comment = jpeg::tests::segment(0xFE, b"COMMENT-SECRET");
        let mut dirty = jpeg::tests::insert_after_soi(&out, &comment);
        dirty.extend(b"TRAILING-SECRET");
        dirty
    }

    /// A PNG fixture with text chunks, EXIF with GPS and `orientation`, and trailing bytes.
    pub(crate) fn dirty_png(orientation: u16) -> Vec<u8> {
        let base = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/inputs/alpha_60x40.png"
        ))
        .unwrap();
        let mut dirty = base;
        for chunk in [
            png::tests::chunk(b"tEXt", b"Comment\0TEXT-SECRET"),
            png::tests::chunk(b"eXIf", &tiff_with_gps(orientation)),
            png::tests::chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0XMP-SECRET"),
        ] {
            dirty = png::tests::insert_after_ihdr(&dirty, &chunk);
        }
        dirty.extend(b"TRAILING-SECRET");
        dirty
    }

    /// What the pipeline sees of `bytes`: its validation and its decoded, oriented pixels
    /// (or the error code).
    fn seen(bytes: &[u8]) -> Result<(Validated, Vec<u8>), &'static str> {
        let policy = Policy::default();
        let validated = crate::validate::inspect(bytes, &policy).map_err(|e| e.code())?;
        let oriented = crate::decode::decode(bytes, &validated, &policy).map_err(|e| e.code())?;
        Ok((validated, oriented.pixels().data().to_vec()))
    }

    /// What validation tells later stages in public: the format, size, orientation, frame
    /// count and scan layout.
    fn public(v: &Validated) -> (Format, (u32, u32), Orientation, u32, bool) {
        (v.format(), v.stored_size(), v.orientation(), v.frames(), v.non_interleaved())
    }

    /// Every frame the `image` crate decodes, as raw pixels (no orientation applied).
    fn image_frames(bytes: &[u8], format: Format) -> Vec<Vec<u8>> {
        use image::AnimationDecoder as _;
        if format == Format::Gif {
            let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
            return decoder
                .into_frames()
                .collect_frames()
                .unwrap()
                .into_iter()
                .map(|f| f.into_buffer().into_raw())
                .collect();
        }
        vec![image::load_from_memory(bytes).unwrap().into_bytes()]
    }

    /// Checks that `cleaned` shows what `upload` shows, to our pipeline and to `image`.
    fn assert_same_picture(upload: &[u8], cleaned: &[u8]) {
        let (validated, pixels) = seen(upload).unwrap();
        let (cleaned_validated, cleaned_pixels) = seen(cleaned).unwrap();
        assert_eq!(cleaned_validated, validated);
        assert!(cleaned_pixels == pixels, "the pipeline decodes other pixels");
        let format = validated.format();
        assert!(image_frames(cleaned, format) == image_frames(upload, format));
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn cleaned(bytes: &[u8]) -> Bytes {
        let bytes = Bytes::copy_from_slice(bytes);
        let validated = crate::validate::inspect(&bytes, &Policy::default()).unwrap();
        clean(&bytes, &validated)
    }

    #[test]
    fn the_minimal_exif_reads_back_as_its_orientation() {
        for value in 1..=8 {
            let orientation = Orientation::from_exif_value(value);
            assert_eq!(
                Orientation::from_tiff(&orientation_tiff(orientation)),
                orientation
            );
        }
    }

    #[test]
    fn gps_and_other_metadata_leave_a_jpeg_whose_picture_and_orientation_stay() {
        for (orientation, progressive) in [(6, false), (6, true), (1, false), (3, true)] {
            let dirty = dirty_jpeg(45, 30, orientation, progressive);
            assert_eq!(
                seen(&dirty).unwrap().0.orientation().exif_value(),
                orientation
            );
            let clean = cleaned(&dirty);
            for secret in [&b"SECRET"[..], b"\x25\x88", b"http://ns.adobe.com"] {
                assert!(!contains(&clean, secret), "{secret:?} left in");
            }
            assert!(contains(&clean, b"ICC_PROFILE\0\x01\x01not really a profile"));
            assert_eq!(contains(&clean, b"Exif\0\0"), orientation != 1);
            assert!(clean.ends_with(&[0xFF, 0xD9]));
            assert_same_picture(&dirty, &clean);
        }
    }

    #[test]
    fn gps_and_text_leave_a_png_whose_picture_and_orientation_stay() {
        for orientation in [6, 1] {
            let dirty = dirty_png(orientation);
            let clean = cleaned(&dirty);
            assert!(!contains(&clean, b"SECRET"));
            assert!(!contains(&clean, b"tEXt") && !contains(&clean, b"iTXt"));
            assert_eq!(contains(&clean, b"eXIf"), orientation != 1);
            assert!(clean.ends_with(b"IEND\xAE\x42\x60\x82"));
            assert_same_picture(&dirty, &clean);
        }
    }

    #[test]
    fn comments_leave_a_gif_whose_frames_stay() {
        let mut dirty = gif::tests::animated(11, 6, 3, b"COMMENT-SECRET");
        dirty.extend(b"TRAILING-SECRET");
        let clean = cleaned(&dirty);
        assert!(!contains(&clean, b"SECRET"));
        assert!(contains(&clean, b"NETSCAPE2.0"));
        assert_eq!(image_frames(&clean, Format::Gif).len(), 3);
        assert_same_picture(&dirty, &clean);
    }

    #[test]
    fn a_clean_upload_is_returned_without_a_copy() {
        let bytes = Bytes::from(
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/inputs/exif6.jpg"))
                .unwrap(),
        );
        let validated = crate::validate::inspect(&bytes, &Policy::default()).unwrap();
        let clean = clean(&bytes, &validated);
        assert_eq!(clean.as_ptr(), bytes.as_ptr());
    }

    /// One edit of a file.
    #[derive(Debug, Clone)]
    enum Edit {
        /// XOR the byte at (position % len) with the mask.
        Flip(usize, u8),
        /// Insert bytes at (position % (len + 1)).
        Insert(usize, Vec<u8>),
        /// Insert a metadata segment or chunk of this payload at the first place one fits.
        Metadata(u8, Vec<u8>),
        /// Cut the file at (position % (len + 1)).
        Cut(usize),
        /// Append bytes.
        Append(Vec<u8>),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Edit::Flip(at, mask)),
            (any::<usize>(), bytes()).prop_map(|(at, b)| Edit::Insert(at, b)),
            (any::<u8>(), bytes()).prop_map(|(kind, b)| Edit::Metadata(kind, b)),
            any::<usize>().prop_map(Edit::Cut),
            bytes().prop_map(Edit::Append),
        ]
    }

    fn apply(mut bytes: Vec<u8>, format: Format, edit: &Edit) -> Vec<u8> {
        match edit {
            Edit::Flip(at, mask) if !bytes.is_empty() => {
                let at = at % bytes.len();
                bytes[at] ^= mask;
            }
            Edit::Flip(..) => {}
            Edit::Insert(at, extra) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, extra.iter().copied());
            }
            // Each format's place for metadata lies past its fixed header.
            Edit::Metadata(..) if bytes.len() < 33 => {}
            Edit::Metadata(kind, payload) => {
                bytes = match format {
                    Format::Jpeg => {
                        let code = [0xE1, 0xED, 0xE2, 0xFE, 0xEF][usize::from(*kind) % 5];
                        let segment = jpeg::tests::segment(code, payload);
                        jpeg::tests::insert_after_soi(&bytes, &segment)
                    }
                    Format::Png => {
                        let kinds = [b"tEXt", b"eXIf", b"zTXt", b"tIME", b"prVt"];
                        let chunk = png::tests::chunk(kinds[usize::from(*kind) % 5], payload);
                        png::tests::insert_after_ihdr(&bytes, &chunk)
                    }
                    Format::Gif => {
                        let mut block = vec![0x21, 0xFE];
                        for piece in payload.chunks(255) {
                            block.push(piece.len() as u8);
                            block.extend(piece);
                        }
                        block.push(0);
                        let at = 13 + 3 * 4;
                        bytes.splice(at..at, block);
                        bytes
                    }
                }
            }
            Edit::Cut(at) => bytes.truncate(at % (bytes.len() + 1)),
            Edit::Append(extra) => bytes.extend(extra),
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the edits, cleaning never panics; and an edited file the pipeline
        /// accepts and decodes gives a cleaned file that it accepts, sees the same way and
        /// decodes to the same pixels.
        #[test]
        fn cleaning_never_changes_an_accepted_picture(
            which in 0..4usize,
            edits in proptest::collection::vec(edit(), 1..4),
        ) {
            let (mut bytes, format) = match which {
                0 => (dirty_jpeg(19, 13, 6, false), Format::Jpeg),
                1 => (dirty_jpeg(17, 9, 8, true), Format::Jpeg),
                2 => (dirty_png(6), Format::Png),
                _ => (gif::tests::animated(7, 5, 2, b"comment"), Format::Gif),
            };
            for edit in &edits {
                bytes = apply(bytes, format, edit);
            }
            for orientation in 1..=8 {
                let _ = clean_bytes(&bytes, format, Orientation::from_exif_value(orientation));
            }
            if let Ok((validated, pixels)) = seen(&bytes) {
                let clean = clean_bytes(&bytes, validated.format(), validated.orientation());
                let (cleaned_validated, cleaned_pixels) = seen(&clean)
                    .map_err(|code| TestCaseError::fail(format!("cleaned: {code}")))?;
                // The walk's note of stray bytes may differ: cleaning removes them.
                prop_assert_eq!(public(&cleaned_validated), public(&validated));
                prop_assert!(cleaned_pixels == pixels, "other pixels");
            }
        }
    }
}
