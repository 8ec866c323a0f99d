//! Stage 2b: colour. Renditions are sRGB, whatever the upload's embedded ICC profile says
//! its pixels mean: a Display P3 phone photo, an Adobe RGB or ProPhoto export, decoded as if
//! sRGB, come out dull. Decoded pixels are converted to sRGB before they are resized.
//!
//! The profile is read from the upload's bytes (JPEG `APP2 ICC_PROFILE` chunks reassembled in
//! order, PNG `iCCP`); a PNG with an `sRGB` chunk is sRGB, and one with neither chunk but
//! `cHRM` primaries or a `gAMA` exponent gets the matrix-shaper profile those describe
//! (sRGB's curve or primaries for the one missing; a `gAMA` of 1/2.2 stands for sRGB's
//! curve). Profiles are used only when they
//! are RGB matrix-shaper profiles (colorants and tone curves: every camera, phone and
//! working-space profile), so the work a hostile profile can cause stays bounded. A profile
//! that is damaged, of another kind or larger than `MAX_PROFILE_BYTES` (1 MiB) is ignored
//! and the pixels are taken as sRGB, as every browser does: colour management never refuses
//! an upload. A profile whose transform maps every probe colour to itself (any sRGB profile) is
//! skipped, so sRGB uploads pay nothing and keep their pixels.
//!
//! The conversion is moxcms's (pure Rust, SIMD, fixed point for 8-bit matrix shapers), with
//! relative colorimetric intent, as browsers render tagged images.

use std::sync::{Arc, Mutex};

use moxcms::{
    Chromaticity, ColorPrimaries, ColorProfile, DataColorSpace, RenderingIntent,
    TransformExecutor, TransformOptions,
};
use rayon::prelude::*;

use crate::format::Format;
use crate::pixels::{Layout, Pixels};

/// The largest profile used (after PNG's inflation). Real RGB profiles are a few hundred
/// bytes to a few kilobytes; larger ones are LUT profiles for printers.
pub(crate) const MAX_PROFILE_BYTES: usize = 1 << 20;

/// Bytes of pixels converted per task: large enough that the split costs nothing, small
/// enough that a second thread shares a 1024 px rendition's source.
const CHUNK_BYTES: usize = 1 << 18;

/// What an upload says about the colour of its pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Embedded {
    /// No profile, an `sRGB` chunk, or a profile that cannot be used: the pixels are sRGB.
    Srgb,
    /// An ICC profile, whole.
    Icc(Vec<u8>),
}

/// The colour profile embedded in `bytes` of `format`, without decoding pixels.
pub(crate) fn embedded(bytes: &[u8], format: Format) -> Embedded {
    let icc = match format {
        Format::Jpeg => jpeg_profile(bytes),
        Format::Png => png_profile(bytes),
        Format::Gif => None,
    };
    match icc {
        Some(icc) if !icc.is_empty() && icc.len() <= MAX_PROFILE_BYTES => Embedded::Icc(icc),
        _ => Embedded::Srgb,
    }
}

/// Converts `pixels` from the colour space `embedded` names to sRGB, in place. Does nothing
/// for sRGB, for profiles it cannot use, and where the conversion would change no pixel.
pub(crate) fn to_srgb(pixels: &mut Pixels, embedded: &Embedded) {
    let Embedded::Icc(icc) = embedded else {
        return;
    };
    let layout = pixels.layout();
    let Some(transform) = transform_for(icc, layout) else {
        return;
    };
    let row = pixels.width() as usize * layout.channels();
    if row == 0 {
        return;
    }
    let rows_per_chunk = (CHUNK_BYTES / row).max(1);
    pixels
        .data_mut()
        .par_chunks_mut(row * rows_per_chunk)
        .for_each_init(Vec::new, |source, chunk| {
            source.clear();
            source.extend_from_slice(chunk);
            // The lengths match and hold whole pixels: the transform cannot fail here, and
            // a chunk it did not convert keeps its pixels.
            let _ = transform.transform(source, chunk);
        });
}

/// An 8-bit transform.
type Transform = Arc<dyn TransformExecutor<u8> + Send + Sync>;

/// The transforms made last, by profile and layout: an upload service sees the same few
/// profiles (every iPhone's Display P3) over and over, and a transform's tables take longer
/// to build than a small picture takes to convert.
static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

/// A profile, the layout its transform is for, and the transform (`None`: nothing to do).
type Kept = (Vec<u8>, Layout, Option<Transform>);

/// How many transforms are kept.
const KEEP: usize = 8;

/// The transform from `icc` to sRGB for `layout`, or `None` when there is nothing to do.
fn transform_for(icc: &[u8], layout: Layout) -> Option<Transform> {
    if let Ok(kept) = KEPT.lock()
        && let Some((_, _, transform)) = kept.iter().find(|(p, l, _)| p == icc && *l == layout)
    {
        return transform.clone();
    }
    // A parser bug must not fail the upload: a profile is advice, the pixels are the image.
    let made = std::panic::catch_unwind(|| make_transform(icc, layout)).unwrap_or(None);
    if let Ok(mut kept) = KEPT.lock() {
        if kept.len() == KEEP {
            kept.remove(0);
        }
        kept.push((icc.to_vec(), layout, made.clone()));
    }
    made
}

/// Builds the transform, or `None` for a profile that is unusable or already sRGB.
fn make_transform(icc: &[u8], layout: Layout) -> Option<Transform> {
    let profile = ColorProfile::new_from_slice(icc).ok()?;
    if profile.color_space != DataColorSpace::Rgb || !profile.is_matrix_shaper() {
        return None;
    }
    let cms_layout = match layout {
        Layout::Rgb8 => moxcms::Layout::Rgb,
        Layout::Rgba8 => moxcms::Layout::Rgba,
    };
    let options = TransformOptions {
        rendering_intent: RenderingIntent::RelativeColorimetric,
        ..TransformOptions::default()
    };
    let srgb = ColorProfile::new_srgb();
    let transform: Transform = profile
        .create_transform_8bit(cms_layout, &srgb, cms_layout, options)
        .ok()?;
    (!is_identity(transform.as_ref(), layout)).then_some(transform)
}

/// Whether `transform` leaves every colour of a 9x9x9 grid (and so, for a smooth matrix
/// shaper, every colour) within one level of itself.
fn is_identity(transform: &(dyn TransformExecutor<u8> + Send + Sync), layout: Layout) -> bool {
    const STEPS: [u8; 9] = [0, 32, 64, 96, 128, 160, 192, 224, 255];
    let channels = layout.channels();
    let mut probe = Vec::with_capacity(STEPS.len().pow(3) * channels);
    for r in STEPS {
        for g in STEPS {
            for b in STEPS {
                probe.extend_from_slice(&[r, g, b, 255][..channels]);
            }
        }
    }
    let mut out = vec![0; probe.len()];
    if transform.transform(&probe, &mut out).is_err() {
        return true;
    }
    probe.iter().zip(&out).all(|(a, b)| a.abs_diff(*b) <= 1)
}

/// The ICC profile of a JPEG: its `APP2 ICC_PROFILE` chunks before the first scan, joined
/// in their sequence order. Missing, repeated or inconsistent chunks: no profile.
fn jpeg_profile(bytes: &[u8]) -> Option<Vec<u8>> {
    const TAG: &[u8] = b"ICC_PROFILE\0";
    let mut chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut count = 0u8;
    let mut pos = 2; // after SOI
    while pos + 4 <= bytes.len() {
        if bytes[pos] != 0xFF {
            return None;
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
        let payload = bytes.get(pos + 4..pos + 2 + len.max(2))?;
        if marker == 0xE2 && payload.len() > TAG.len() + 2 && payload.starts_with(TAG) {
            let (sequence, total) = (payload[TAG.len()], payload[TAG.len() + 1]);
            if total == 0 || (count != 0 && total != count) {
                return None;
            }
            count = total;
            chunks.push((sequence, &payload[TAG.len() + 2..]));
        }
        pos += 2 + len;
    }
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

/// The ICC profile of a PNG, from its colour chunks before the image data, in the PNG
/// specification's order of precedence: an `iCCP` profile, inflated; else an `sRGB` chunk
/// (no profile: the pixels are sRGB); else `cHRM` primaries and a `gAMA` exponent, either
/// alone (the other taken from sRGB, as browsers do), as a matrix-shaper profile.
fn png_profile(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 8; // after the signature
    let (mut iccp, mut srgb, mut gama, mut chrm) = (None, false, None, None);
    while let Some(header) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let Some(data) = (pos + 8)
            .checked_add(len)
            .and_then(|end| bytes.get(pos + 8..end))
        else {
            break;
        };
        match kind {
            b"IDAT" | b"IEND" => break,
            b"sRGB" => srgb = true,
            b"iCCP" if iccp.is_none() => iccp = Some(data),
            b"gAMA" if gama.is_none() => gama = Some(data),
            b"cHRM" if chrm.is_none() => chrm = Some(data),
            _ => {}
        }
        pos += 12 + len;
    }
    if srgb {
        return None;
    }
    let Some(data) = iccp else {
        return primaries_and_gamma(chrm, gama);
    };
    // A name of 1 to 79 bytes, a NUL, compression method 0 (zlib), the profile.
    let name_end = data.iter().take(80).position(|&b| b == 0)?;
    if data.get(name_end + 1) != Some(&0) {
        return None;
    }
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&data[name_end + 2..], MAX_PROFILE_BYTES)
        .ok()
}

/// A PNG's `cHRM` and `gAMA` chunks as an ICC profile: sRGB's tone curve or primaries
/// stand in for a missing or unusable chunk. `None` when neither chunk is usable.
fn primaries_and_gamma(chrm: Option<&[u8]>, gama: Option<&[u8]>) -> Option<Vec<u8>> {
    let primaries = chrm.and_then(chromaticities);
    let exponent = gama.and_then(decoding_exponent);
    if primaries.is_none() && exponent.is_none() {
        return None;
    }
    let mut profile = ColorProfile::new_srgb();
    if let Some((white, primaries)) = primaries {
        profile.update_rgb_colorimetry(white.to_xyyb(), primaries);
        // Primaries on one line (or NaN from degenerate ones) span no gamut.
        let det = determinant(&profile.colorant_matrix().v);
        if !det.is_finite() || det.abs() < 1e-4 {
            return None;
        }
    }
    if let Some(exponent) = exponent {
        let curve = moxcms::curve_from_gamma(exponent);
        profile.red_trc = Some(curve.clone());
        profile.green_trc = Some(curve.clone());
        profile.blue_trc = Some(curve);
    }
    profile.cicp = None;
    profile.encode().ok()
}

/// The determinant of a 3x3 matrix.
fn determinant(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// `cHRM`: the white point and the red, green and blue primaries, each x then y in
/// 1/100000. `None` unless every chromaticity lies inside the unit triangle with y > 0.
fn chromaticities(data: &[u8]) -> Option<(Chromaticity, ColorPrimaries)> {
    if data.len() != 32 {
        return None;
    }
    let value = |i: usize| {
        let v = u32::from_be_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]);
        v as f32 / 100_000.0
    };
    let point = |i: usize| {
        let (x, y) = (value(2 * i), value(2 * i + 1));
        (y > 0.0 && x >= 0.0 && x + y <= 1.0).then_some(Chromaticity { x, y })
    };
    Some((
        point(0)?,
        ColorPrimaries {
            red: point(1)?,
            green: point(2)?,
            blue: point(3)?,
        },
    ))
}

/// `gAMA`: the encoding gamma in 1/100000, as the exponent that decodes the samples.
/// `None` for a value outside 0.1..=10 once inverted (no real encoding is), and for
/// 0.45455 give or take 1%: the value the PNG specification has encoders write beside an
/// `sRGB` chunk, and what libpng and ImageMagick write for sRGB pictures, so it stands for
/// sRGB's own curve (a plain 2.2 power would darken their deepest shadows by a few levels).
fn decoding_exponent(data: &[u8]) -> Option<f32> {
    let encoding = u32::from_be_bytes(data.try_into().ok()?);
    if encoding == 0 || (45_000..=45_910).contains(&encoding) {
        return None;
    }
    let exponent = 100_000.0 / encoding as f32;
    (0.1..=10.0).contains(&exponent).then_some(exponent)
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
                let mut segment = vec![0xFF, 0xE2];
                segment.extend(((payload.len() + 2) as u16).to_be_bytes());
                segment.extend(payload);
                segment
            })
            .collect()
    }

    /// A small JPEG-shaped header: SOI, the segments, then SOS.
    fn jpeg_with(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8];
        for segment in segments {
            bytes.extend(segment);
        }
        bytes.extend([0xFF, 0xDA, 0, 2]);
        bytes
    }

    fn p3() -> Vec<u8> {
        ColorProfile::new_display_p3().encode().unwrap()
    }

    #[test]
    fn app2_chunks_are_joined_in_sequence_order() {
        let profile = p3();
        let mut segments = app2_segments(&profile, 100);
        assert!(segments.len() > 2);
        segments.swap(0, 2);
        assert_eq!(jpeg_profile(&jpeg_with(&segments)), Some(profile));
    }

    #[test]
    fn a_missing_or_repeated_chunk_means_no_profile() {
        let profile = p3();
        let segments = app2_segments(&profile, 100);
        let missing: Vec<_> = segments[1..].to_vec();
        assert_eq!(jpeg_profile(&jpeg_with(&missing)), None);
        let mut repeated = segments.clone();
        repeated[1] = segments[0].clone();
        assert_eq!(jpeg_profile(&jpeg_with(&repeated)), None);
        assert_eq!(jpeg_profile(&jpeg_with(&[])), None);
    }

    #[test]
    fn a_p3_profile_converts_and_an_srgb_one_changes_nothing() {
        let mut saturated = Pixels::new(2, 1, Layout::Rgb8, vec![255, 0, 0, 0, 255, 0]).unwrap();
        to_srgb(&mut saturated, &Embedded::Icc(p3()));
        // P3's red is outside sRGB: it clips to sRGB red; P3's green likewise.
        assert_eq!(&saturated.data()[..3], &[255, 0, 0]);
        let mut muted = Pixels::new(1, 1, Layout::Rgb8, vec![120, 160, 90]).unwrap();
        to_srgb(&mut muted, &Embedded::Icc(p3()));
        let shifted = muted.data().to_vec();
        assert_ne!(shifted, [120, 160, 90], "P3 colours are more saturated in sRGB");
        assert!(shifted[1] > 160 || shifted[0] < 120, "{shifted:?}");

        let srgb = ColorProfile::new_srgb().encode().unwrap();
        let data: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 2]).collect();
        let mut pixels = Pixels::new(256, 1, Layout::Rgb8, data.clone()).unwrap();
        to_srgb(&mut pixels, &Embedded::Icc(srgb));
        assert_eq!(pixels.data(), data);
    }

    #[test]
    fn damaged_and_oversized_profiles_are_ignored() {
        let data = vec![10, 200, 30, 40];
        let mut profile = p3();
        profile.truncate(profile.len() / 2);
        for icc in [profile, vec![0; 200], b"not a profile".to_vec()] {
            let mut pixels = Pixels::new(1, 1, Layout::Rgba8, data.clone()).unwrap();
            to_srgb(&mut pixels, &Embedded::Icc(icc));
            assert_eq!(pixels.data(), data);
        }
        let huge = vec![0; MAX_PROFILE_BYTES + 1];
        let segments = app2_segments(&huge, 65_000);
        assert_eq!(embedded(&jpeg_with(&segments), Format::Jpeg), Embedded::Srgb);
    }

    /// `png` with a chunk of `kind` holding `data` inserted after IHDR, its CRC right.
    fn with_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        use crate::original::png_tests::{chunk, insert_after_ihdr};
        insert_after_ihdr(png, &chunk(kind, data))
    }

    #[test]
    fn a_png_iccp_profile_is_inflated_unless_an_srgb_chunk_says_srgb() {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let profile = p3();
        let mut iccp = b"Display P3\0\0".to_vec();
        iccp.extend(miniz_oxide::deflate::compress_to_vec_zlib(&profile, 6));
        let tagged = with_chunk(&png, b"iCCP", &iccp);
        assert_eq!(embedded(&tagged, Format::Png), Embedded::Icc(profile));
        assert!(image::load_from_memory(&tagged).is_ok());
        let srgb = with_chunk(&tagged, b"sRGB", &[0]);
        assert_eq!(embedded(&srgb, Format::Png), Embedded::Srgb);
        assert_eq!(embedded(&png, Format::Png), Embedded::Srgb);
    }

    /// A 4x4 RGB PNG with the given chunks inserted after IHDR.
    fn png_with(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        for (kind, data) in chunks {
            png = with_chunk(&png, kind, data);
        }
        png
    }

    /// A `cHRM` chunk's data: white, red, green, blue, each (x, y).
    fn chrm(points: [(f64, f64); 4]) -> Vec<u8> {
        points
            .iter()
            .flat_map(|&(x, y)| [x, y])
            .flat_map(|v| ((v * 100_000.0).round() as u32).to_be_bytes())
            .collect()
    }

    const P3_CHROMATICITIES: [(f64, f64); 4] = [
        (0.3127, 0.3290),
        (0.680, 0.320),
        (0.265, 0.690),
        (0.150, 0.060),
    ];
    const SRGB_CHROMATICITIES: [(f64, f64); 4] = [
        (0.3127, 0.3290),
        (0.640, 0.330),
        (0.300, 0.600),
        (0.150, 0.060),
    ];

    /// `pixels` (RGB) converted as `png`'s colour chunks say.
    fn converted(png: &[u8], pixels: &[u8]) -> Vec<u8> {
        let mut out = Pixels::new(pixels.len() as u32 / 3, 1, Layout::Rgb8, pixels.to_vec()).unwrap();
        to_srgb(&mut out, &embedded(png, Format::Png));
        out.data().to_vec()
    }

    #[test]
    fn a_png_gama_of_one_is_linear_light() {
        let png = png_with(&[(b"gAMA", 100_000u32.to_be_bytes().to_vec())]);
        let out = converted(&png, &[128, 128, 128, 0, 255, 0]);
        // Linear 0.502 is sRGB 187.5; primaries stay sRGB's, so pure green stays green.
        assert!(out[..3].iter().all(|v| (186..=189).contains(v)), "{out:?}");
        assert_eq!(&out[3..], &[0, 255, 0]);
    }

    #[test]
    fn png_chrm_primaries_convert_as_the_profile_of_those_primaries_does() {
        let colours: Vec<u8> = (0..64u8)
            .flat_map(|i| [i * 4, 255 - i * 3, (u32::from(i) * 37 % 251) as u8])
            .collect();
        let png = png_with(&[(b"cHRM", chrm(P3_CHROMATICITIES))]);
        let from_chunks = converted(&png, &colours);
        let with_srgb_gamma = png_with(&[
            (b"cHRM", chrm(P3_CHROMATICITIES)),
            (b"gAMA", 45_455u32.to_be_bytes().to_vec()),
        ]);
        assert_eq!(converted(&with_srgb_gamma, &colours), from_chunks);
        let mut from_icc = Pixels::new(64, 1, Layout::Rgb8, colours.clone()).unwrap();
        to_srgb(&mut from_icc, &Embedded::Icc(p3()));
        assert_ne!(from_chunks, colours, "P3 primaries change the colours");
        for (a, b) in from_chunks.iter().zip(from_icc.data()) {
            assert!(a.abs_diff(*b) <= 1, "{from_chunks:?} against {:?}", from_icc.data());
        }
    }

    #[test]
    fn srgb_chunks_change_nothing_and_bad_chunks_are_ignored() {
        let colours: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 3]).collect();
        let cases = [
            png_with(&[(b"cHRM", chrm(SRGB_CHROMATICITIES))]),
            png_with(&[(b"gAMA", 45_455u32.to_be_bytes().to_vec())]),
            png_with(&[
                (b"gAMA", 45_455u32.to_be_bytes().to_vec()),
                (b"cHRM", chrm(SRGB_CHROMATICITIES)),
            ]),
            png_with(&[(b"cHRM", vec![0; 32])]),
            png_with(&[(b"cHRM", chrm([(0.3, 0.3); 4]))]),
            png_with(&[(b"cHRM", vec![1; 31])]),
            png_with(&[(b"gAMA", vec![0; 4])]),
            png_with(&[(b"gAMA", 1u32.to_be_bytes().to_vec())]),
        ];
        for png in cases {
            assert_eq!(converted(&png, &colours), colours);
        }
    }

    #[test]
    fn iccp_then_srgb_then_chrm_and_gama_in_that_order() {
        let linear = 100_000u32.to_be_bytes().to_vec();
        let mut iccp = b"P3\0\0".to_vec();
        iccp.extend(miniz_oxide::deflate::compress_to_vec_zlib(&p3(), 6));
        let both = png_with(&[(b"gAMA", linear.clone()), (b"iCCP", iccp)]);
        assert_eq!(embedded(&both, Format::Png), Embedded::Icc(p3()));
        let srgb = png_with(&[(b"gAMA", linear.clone()), (b"sRGB", vec![0])]);
        assert_eq!(embedded(&srgb, Format::Png), Embedded::Srgb);
        let alone = png_with(&[(b"gAMA", linear)]);
        assert!(matches!(embedded(&alone, Format::Png), Embedded::Icc(_)));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_profile_or_none_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        ) {
            let mut jpeg = vec![0xFF, 0xD8];
            jpeg.extend(&bytes);
            let _ = embedded(&jpeg, Format::Jpeg);
            let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
            png.extend(&bytes);
            let _ = embedded(&png, Format::Png);
        }
    }
}
