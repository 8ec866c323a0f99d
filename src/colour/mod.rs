//! Stage 2b: colour. Renditions are sRGB, whatever the upload's embedded ICC profile says
//! its pixels mean: a Display P3 phone photo, an Adobe RGB or ProPhoto export, decoded as if
//! sRGB, come out dull; a CMYK print file decoded without its profile comes out garish.
//! Decoded pixels are converted to sRGB before they are resized.
//!
//! The profile is read from the upload's bytes (`jpeg.rs`: `APP2 ICC_PROFILE` chunks
//! reassembled in order; `png.rs`: `iCCP`, else an `sRGB` chunk, which means sRGB, else
//! `cHRM` primaries and a `gAMA` exponent, as the matrix-shaper profile they describe).
//! A profile is used only for pixels of its kind:
//!
//! - RGB profiles (matrix/TRC, or a device-to-PCS table where there is no matrix) for
//!   colour pictures;
//! - grey profiles (a grey tone curve) for grey pictures, which decode to RGB: each level
//!   maps to the sRGB grey (or colour, for a non-neutral white) the profile means;
//! - CMYK profiles for Adobe CMYK and YCCK JPEGs: `CmykToSrgb` converts the decoder's
//!   four channels in place of its naive ink arithmetic.
//!
//! A profile that is damaged, of another kind than the pixels, larger than
//! `MAX_PROFILE_BYTES`, or with tables larger than `MAX_TABLE_POINTS` is ignored and the
//! pixels are taken as sRGB, as every browser does: colour management never refuses an
//! upload. The work any profile can cause is bounded: parsing is linear in its bytes, and
//! moxcms evaluates a table profile once per point of its own fixed grid (17^4 for CMYK,
//! 33^3 for RGB) to build the transform, whose cost per pixel is then fixed. A profile whose
//! transform maps every probe colour to itself (any sRGB profile) is skipped, so sRGB
//! uploads pay nothing and keep their pixels.
//!
//! The conversion is moxcms's (pure Rust, SIMD, fixed point for 8-bit matrix shapers), with
//! relative colorimetric intent, as browsers render tagged images; a table profile without
//! a colorimetric table (`A2B1`) is read through its perceptual one (`A2B0`), as LittleCMS
//! does.

mod jpeg;
mod png;

use std::sync::{Arc, Mutex};

use moxcms::{
    ColorProfile, DataColorSpace, ParsingOptions, RenderingIntent, TransformExecutor,
    TransformOptions,
};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::format::Format;
use crate::pixels::{Layout, Pixels};

/// The largest profile used (reassembled, or after PNG's inflation). RGB and grey profiles
/// are a few hundred bytes to a few kilobytes; the CMYK profiles print workflows embed are
/// tables of a few hundred kilobytes to about two megabytes.
pub(crate) const MAX_PROFILE_BYTES: usize = 4 << 20;

/// The most grid points one table of a profile may have (its side to the power of its
/// inputs): 33 a side for four inputs, more than print profiles use.
pub(crate) const MAX_TABLE_POINTS: usize = 33 * 33 * 33 * 33;

/// Bytes of pixels converted per task: large enough that the split costs nothing, small
/// enough that a second thread shares a 1024 px rendition's source.
const CHUNK_BYTES: usize = 1 << 18;

/// What an upload says about the colour of its pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Embedded {
    /// No profile, an `sRGB` chunk, or a profile that does not fit the pixels: sRGB.
    Srgb,
    /// An RGB profile of a colour picture or a grey profile of a grey one, whole: applied
    /// to the decoded pixels by [`to_srgb`].
    Icc(Vec<u8>),
    /// The CMYK profile of an Adobe CMYK or YCCK JPEG: applied while decoding, through
    /// [`CmykToSrgb`].
    Cmyk(Vec<u8>),
}

/// The colour spaces a profile's header can name that the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Space {
    Rgb,
    Grey,
    Cmyk,
}

/// The data colour space an ICC profile's header names (bytes 16 to 19), without parsing
/// the rest.
fn space(icc: &[u8]) -> Option<Space> {
    match icc.get(16..20)? {
        b"RGB " => Some(Space::Rgb),
        b"GRAY" => Some(Space::Grey),
        b"CMYK" => Some(Space::Cmyk),
        _ => None,
    }
}

/// The colour profile embedded in `bytes` of `format`, without decoding pixels.
pub(crate) fn embedded(bytes: &[u8], format: Format) -> Embedded {
    let (icc, grey, adobe_cmyk) = match format {
        Format::Jpeg => {
            let colour = jpeg::read(bytes);
            let grey = colour.components == Some(1);
            let cmyk = colour.components == Some(4) && colour.adobe;
            (colour.icc, grey, cmyk)
        }
        Format::Png => {
            let colour = png::read(bytes);
            (colour.icc, colour.grey, false)
        }
        Format::Gif => (None, false, false),
    };
    let Some(icc) = icc.filter(|icc| !icc.is_empty() && icc.len() <= MAX_PROFILE_BYTES) else {
        return Embedded::Srgb;
    };
    match space(&icc) {
        Some(Space::Rgb) if !grey && !adobe_cmyk => Embedded::Icc(icc),
        Some(Space::Grey) if grey => Embedded::Icc(icc),
        Some(Space::Cmyk) if adobe_cmyk => Embedded::Cmyk(icc),
        _ => Embedded::Srgb,
    }
}

/// Converts `pixels` from the colour space `embedded` names to sRGB, in place. Does nothing
/// for sRGB, for CMYK (converted while decoding), for profiles it cannot use, and where the
/// conversion would change no pixel.
pub(crate) fn to_srgb(pixels: &mut Pixels, embedded: &Embedded) {
    let Embedded::Icc(icc) = embedded else {
        return;
    };
    let layout = pixels.layout();
    let use_ = match (space(icc), layout) {
        (Some(Space::Rgb), Layout::Rgb8) => Use::Rgb8,
        (Some(Space::Rgb), Layout::Rgba8) => Use::Rgba8,
        (Some(Space::Grey), _) => Use::Grey,
        _ => return,
    };
    let Some(conversion) = conversion_for(icc, use_) else {
        return;
    };
    let channels = layout.channels();
    let row = pixels.width() as usize * channels;
    if row == 0 {
        return;
    }
    let rows_per_chunk = (CHUNK_BYTES / row).max(1);
    let chunks = pixels.data_mut().par_chunks_mut(row * rows_per_chunk);
    match conversion {
        Conversion::Rgb(transform) => chunks.for_each_init(Vec::new, |source, chunk| {
            source.clear();
            source.extend_from_slice(chunk);
            // The lengths match and hold whole pixels: the transform cannot fail here, and
            // a chunk it did not convert keeps its pixels.
            let _ = transform.transform(source, chunk);
        }),
        Conversion::Grey(levels) => chunks.for_each(|chunk| {
            for pixel in chunk.chunks_exact_mut(channels) {
                // A grey picture's pixels have three equal channels: each takes its own
                // channel of the level's colour.
                pixel[0] = levels[usize::from(pixel[0])][0];
                pixel[1] = levels[usize::from(pixel[1])][1];
                pixel[2] = levels[usize::from(pixel[2])][2];
            }
        }),
        Conversion::Cmyk(_) => {}
    }
}

/// Converts the four channels of an Adobe CMYK or YCCK JPEG, as a decoder gives them with
/// Adobe's inversion undone (0 no ink, 255 full ink), to sRGB through the file's profile.
#[derive(Clone)]
pub(crate) struct CmykToSrgb(Transform);

impl std::fmt::Debug for CmykToSrgb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmykToSrgb").finish_non_exhaustive()
    }
}

impl CmykToSrgb {
    /// The conversion for `embedded`: `None` unless it is a usable CMYK profile.
    pub(crate) fn new(embedded: &Embedded) -> Option<Self> {
        let Embedded::Cmyk(icc) = embedded else {
            return None;
        };
        match conversion_for(icc, Use::Cmyk)? {
            Conversion::Cmyk(transform) => Some(Self(transform)),
            _ => None,
        }
    }

    /// Converts whole pixels of `cmyk` (four bytes each) into `rgb` (three each); pixels
    /// past the shorter of the two are left alone.
    pub(crate) fn convert(&self, cmyk: &[u8], rgb: &mut [u8]) {
        let pixels = (cmyk.len() / 4).min(rgb.len() / 3);
        // The lengths match and hold whole pixels: the transform cannot fail here.
        let _ = self.0.transform(&cmyk[..pixels * 4], &mut rgb[..pixels * 3]);
    }
}

/// An 8-bit transform.
type Transform = Arc<dyn TransformExecutor<u8> + Send + Sync>;

/// What a profile is used for: the pixels its transform takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// RGB pictures of a colour profile.
    Rgb8,
    /// RGBA pictures of a colour profile.
    Rgba8,
    /// Grey pictures (expanded to RGB or RGBA) of a grey profile.
    Grey,
    /// CMYK to RGB.
    Cmyk,
}

/// A ready conversion.
#[derive(Clone)]
enum Conversion {
    /// Through a transform of RGB or RGBA pixels.
    Rgb(Transform),
    /// Each grey level to its sRGB colour.
    Grey(Arc<[[u8; 3]; 256]>),
    /// Through a transform of CMYK to RGB pixels.
    Cmyk(Transform),
}

/// The conversions made last, by the SHA-256 of the profile and its use: an upload
/// service sees the same few profiles (every iPhone's Display P3) over and over, and a
/// transform's tables take longer to build than a small picture takes to convert.
static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

/// A profile's digest, its use, and the conversion (`None`: nothing to do).
type Kept = ([u8; 32], Use, Option<Conversion>);

/// How many conversions are kept.
const KEEP: usize = 8;

/// The conversion of `icc` to sRGB for `use_`, or `None` when there is nothing to do.
fn conversion_for(icc: &[u8], use_: Use) -> Option<Conversion> {
    let digest: [u8; 32] = Sha256::digest(icc).into();
    if let Ok(kept) = KEPT.lock()
        && let Some((_, _, conversion)) = kept.iter().find(|(d, u, _)| *d == digest && *u == use_)
    {
        return conversion.clone();
    }
    // A parser bug must not fail the upload: a profile is advice, the pixels are the image.
    let made = std::panic::catch_unwind(|| make_conversion(icc, use_)).unwrap_or(None);
    if let Ok(mut kept) = KEPT.lock() {
        if kept.len() == KEEP {
            kept.remove(0);
        }
        kept.push((digest, use_, made.clone()));
    }
    made
}

/// Parses `icc` with the size limits of [`MAX_PROFILE_BYTES`] and [`MAX_TABLE_POINTS`].
fn parse(icc: &[u8]) -> Option<ColorProfile> {
    let options = ParsingOptions {
        max_profile_size: MAX_PROFILE_BYTES + 1,
        max_allowed_clut_size: MAX_TABLE_POINTS,
        ..ParsingOptions::default()
    };
    ColorProfile::new_from_slice_with_options(icc, options).ok()
}

/// The rendering intent a transform from `profile` uses: relative colorimetric, unless
/// the profile's only device-to-PCS table is the perceptual one.
fn intent(profile: &ColorProfile) -> RenderingIntent {
    if profile.lut_a_to_b_colorimetric.is_none() && profile.lut_a_to_b_perceptual.is_some() {
        RenderingIntent::Perceptual
    } else {
        RenderingIntent::RelativeColorimetric
    }
}

/// Builds the conversion, or `None` for a profile that is unusable or already sRGB.
fn make_conversion(icc: &[u8], use_: Use) -> Option<Conversion> {
    let mut profile = parse(icc)?;
    let srgb = ColorProfile::new_srgb();
    let transform = |profile: &ColorProfile, from, to| -> Option<Transform> {
        let options = TransformOptions {
            rendering_intent: intent(profile),
            ..TransformOptions::default()
        };
        profile.create_transform_8bit(from, &srgb, to, options).ok()
    };
    match use_ {
        Use::Rgb8 | Use::Rgba8 => {
            if profile.color_space != DataColorSpace::Rgb {
                return None;
            }
            let table = !profile.is_matrix_shaper();
            if !table {
                // Colorants and curves, where a profile has them beside its tables, are
                // read instead: exact where a table samples, and cheaper to apply.
                profile.lut_a_to_b_perceptual = None;
                profile.lut_a_to_b_colorimetric = None;
                profile.lut_a_to_b_saturation = None;
            }
            let layout = if use_ == Use::Rgb8 {
                moxcms::Layout::Rgb
            } else {
                moxcms::Layout::Rgba
            };
            let made = transform(&profile, layout, layout)?;
            let channels = if use_ == Use::Rgb8 { 3 } else { 4 };
            // A table is probed more finely: it need not be smooth between probes.
            let steps = if table { 18 } else { 9 };
            (!is_identity(made.as_ref(), channels, steps)).then_some(Conversion::Rgb(made))
        }
        Use::Grey => {
            if profile.color_space != DataColorSpace::Gray {
                return None;
            }
            let made = transform(&profile, moxcms::Layout::Gray, moxcms::Layout::Rgb)?;
            let levels: Vec<u8> = (0..=255).collect();
            let mut colours = [0; 256 * 3];
            made.transform(&levels, &mut colours).ok()?;
            let mut table = [[0; 3]; 256];
            for (entry, colour) in table.iter_mut().zip(colours.chunks_exact(3)) {
                entry.copy_from_slice(colour);
            }
            let identity = table
                .iter()
                .zip(0u8..)
                .all(|(colour, level)| colour.iter().all(|c| c.abs_diff(level) <= 1));
            (!identity).then(|| Conversion::Grey(Arc::new(table)))
        }
        Use::Cmyk => {
            if profile.color_space != DataColorSpace::Cmyk {
                return None;
            }
            let made = transform(&profile, moxcms::Layout::Rgba, moxcms::Layout::Rgb)?;
            Some(Conversion::Cmyk(made))
        }
    }
}

/// Whether `transform` leaves every colour of a `steps`^3 grid spanning 0 to 255 (and so,
/// for a smooth matrix shaper probed at 9 steps, every colour) within one level of itself.
fn is_identity(
    transform: &(dyn TransformExecutor<u8> + Send + Sync),
    channels: usize,
    steps: u32,
) -> bool {
    let level = |i: u32| (i * 255 / (steps - 1)) as u8;
    let mut probe = Vec::with_capacity((steps as usize).pow(3) * channels);
    for r in 0..steps {
        for g in 0..steps {
            for b in 0..steps {
                probe.extend_from_slice(&[level(r), level(g), level(b), 255][..channels]);
            }
        }
    }
    let mut out = vec![0; probe.len()];
    if transform.transform(&probe, &mut out).is_err() {
        return true;
    }
    probe.iter().zip(&out).all(|(a, b)| a.abs_diff(*b) <= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::jpeg::tests::{app2_segments, jpeg_with};

    fn p3() -> Vec<u8> {
        ColorProfile::new_display_p3().encode().unwrap()
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

    fn colour_fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/colour/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The RGB pixels of a PNG fixture.
    fn reference(name: &str) -> Vec<u8> {
        image::load_from_memory(&colour_fixture(name))
            .unwrap()
            .into_rgb8()
            .into_raw()
    }

    /// The largest and the mean difference of two pixel buffers, in levels.
    fn differences(a: &[u8], b: &[u8]) -> (u8, f64) {
        assert_eq!(a.len(), b.len());
        let max = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        let sum: u64 = a.iter().zip(b).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
        (max, sum as f64 / a.len() as f64)
    }

    /// `jpeg` decoded as the engine decodes it, converted as its profile says.
    fn decoded_and_converted(jpeg: &[u8], reduction: u32) -> Vec<u8> {
        let validated = crate::validate::inspect(jpeg, &crate::Policy::default()).unwrap();
        let embedded = embedded(jpeg, Format::Jpeg);
        let cmyk = CmykToSrgb::new(&embedded).expect("a usable CMYK profile");
        crate::decode::decode_cmyk(jpeg, &validated, reduction, &|from, to| {
            cmyk.convert(from, to);
        })
        .expect("jpeg-decoder decodes it")
        .into_pixels()
        .into_data()
    }

    #[test]
    fn a_cmyk_jpeg_converts_through_its_profile_as_littlecms_does() {
        let jpeg = colour_fixture("cmyk_lut16.jpg");
        let profile = colour_fixture("cmyk_lut16.icc");
        assert_eq!(embedded(&jpeg, Format::Jpeg), Embedded::Cmyk(profile));
        let converted = decoded_and_converted(&jpeg, 1);
        let lcms = reference("cmyk_lut16.lcms.png");
        let (max, mean) = differences(&converted, &lcms);
        assert!(max <= 4 && mean <= 0.8, "{max} levels at most, {mean:.2} on average");

        // What the engine makes of it without the profile: inverted-ink arithmetic.
        let validated = crate::validate::inspect(&jpeg, &crate::Policy::default()).unwrap();
        let naive = crate::decode::decode(&jpeg, &validated, &crate::Policy::default())
            .unwrap()
            .into_pixels()
            .into_data();
        let (_, naive_mean) = differences(&naive, &lcms);
        assert!(naive_mean > 10.0 * mean.max(1.0), "naive {naive_mean:.2}, profile {mean:.2}");
    }

    #[test]
    fn a_reduced_cmyk_decode_converts_too() {
        let jpeg = colour_fixture("cmyk_lut16.jpg");
        let reduced = decoded_and_converted(&jpeg, 2);
        // Each 16 px patch is 8 px at 1/2: its centre is the patch's colour.
        let lcms = reference("cmyk_lut16.lcms.png");
        for patch in 0..64 {
            let (x, y) = (patch % 8 * 16 + 8, patch / 8 * 16 + 8);
            let full = &lcms[(y * 128 + x) * 3..][..3];
            let half = &reduced[((y / 2) * 64 + x / 2) * 3..][..3];
            let (max, _) = differences(full, half);
            assert!(max <= 4, "patch {patch}: {half:?} against {full:?}");
        }
    }

    #[test]
    fn cmyk_and_ycck_jpegs_decode_to_the_inks_they_hold() {
        let profile = colour_fixture("cmyk_lut16.icc");
        // 4x4 patches of 16 px, ink values (0 none), 4:4:4.
        let ink = |patch: usize| -> [u8; 4] {
            let p = patch as u32;
            [(p * 17 % 256) as u8, (p * 53 % 256) as u8, (p * 97 % 256) as u8, (p * 31 % 200) as u8]
        };
        let inks: Vec<u8> = (0..64 * 64)
            .flat_map(|i| ink(i / 64 / 16 * 4 + i % 64 / 16))
            .collect();
        let encode = |colour_type| {
            let mut jpeg = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 95);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
            encoder.add_icc_profile(&profile).unwrap();
            encoder.encode(&inks, 64, 64, colour_type).unwrap();
            jpeg
        };
        let cmyk = CmykToSrgb::new(&Embedded::Cmyk(profile.clone())).unwrap();
        let mut want = vec![0; 64 * 64 * 3];
        cmyk.convert(&inks, &mut want);
        for colour_type in [jpeg_encoder::ColorType::Cmyk, jpeg_encoder::ColorType::CmykAsYcck] {
            let got = decoded_and_converted(&encode(colour_type), 1);
            for patch in 0..16 {
                let at = ((patch / 4 * 16 + 8) * 64 + patch % 4 * 16 + 8) * 3;
                let (max, _) = differences(&got[at..at + 3], &want[at..at + 3]);
                assert!(max <= 3, "{colour_type:?} patch {patch}: {:?} against {:?}", &got[at..at + 3], &want[at..at + 3]);
            }
        }
    }

    #[test]
    fn a_cmyk_profile_needs_an_adobe_cmyk_jpeg_and_a_damaged_one_is_ignored() {
        let profile = colour_fixture("cmyk_lut16.icc");
        // On an RGB or unlabelled picture, a CMYK profile does not fit: sRGB.
        let segments = app2_segments(&profile, 60_000);
        assert_eq!(embedded(&jpeg_with(&segments), Format::Jpeg), Embedded::Srgb);
        let mut damaged = profile.clone();
        damaged.truncate(damaged.len() / 2);
        assert!(CmykToSrgb::new(&Embedded::Cmyk(damaged)).is_none());
        let mut absurd = profile;
        // The table's side (byte 10 of the lut16 tag) made 255: 255^4 grid points.
        let a2b0 = absurd.windows(4).position(|w| w == b"mft2").unwrap();
        absurd[a2b0 + 10] = 255;
        assert!(CmykToSrgb::new(&Embedded::Cmyk(absurd)).is_none());
        assert!(CmykToSrgb::new(&Embedded::Icc(p3())).is_none());
    }

    /// A grey profile with a pure gamma curve.
    fn grey_profile(gamma: f32) -> Vec<u8> {
        let mut profile = ColorProfile::new_gray_with_gamma(gamma);
        profile.cicp = None;
        profile.encode().unwrap()
    }

    /// A grey PNG (colour type 0) of the 256 levels, with `chunks` after IHDR.
    fn grey_png(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut png = Vec::new();
        image::GrayImage::from_fn(256, 1, |x, _| image::Luma([x as u8]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        for (kind, data) in chunks {
            png = with_chunk(&png, kind, data);
        }
        png
    }

    /// The 256 grey levels as RGB pixels, converted as `png`'s chunks say.
    fn grey_levels_converted(png: &[u8]) -> Vec<u8> {
        let data: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        let mut pixels = Pixels::new(256, 1, Layout::Rgb8, data).unwrap();
        to_srgb(&mut pixels, &embedded(png, Format::Png));
        pixels.into_data()
    }

    fn iccp(profile: &[u8]) -> Vec<u8> {
        let mut iccp = b"grey\0\0".to_vec();
        iccp.extend(miniz_oxide::deflate::compress_to_vec_zlib(profile, 6));
        iccp
    }

    /// sRGB's encoding of linear light `v` (0 to 1), in levels.
    fn srgb_level(v: f64) -> f64 {
        let encoded = if v <= 0.003_130_8 {
            12.92 * v
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        };
        encoded * 255.0
    }

    #[test]
    fn a_grey_profile_maps_each_level_to_the_srgb_grey_it_means() {
        for gamma in [1.0f32, 1.8] {
            let png = grey_png(&[(b"iCCP", iccp(&grey_profile(gamma)))]);
            assert!(matches!(embedded(&png, Format::Png), Embedded::Icc(_)));
            let out = grey_levels_converted(&png);
            for (level, rgb) in out.chunks_exact(3).enumerate() {
                let want = srgb_level((level as f64 / 255.0).powf(f64::from(gamma)));
                for &c in rgb {
                    assert!(
                        (f64::from(c) - want).abs() <= 1.5,
                        "gamma {gamma}, level {level}: {rgb:?}, want {want:.1}"
                    );
                }
            }
            assert!(out[128 * 3] > 140, "a gamma under sRGB's lightens the mid-tones");
        }
    }

    #[test]
    fn a_grey_profile_with_srgbs_curve_changes_nothing_and_fits_only_grey_pictures() {
        let mut srgb_grey = ColorProfile::new_gray_with_gamma(1.0);
        srgb_grey.gray_trc = ColorProfile::new_srgb().red_trc;
        srgb_grey.cicp = None;
        let png = grey_png(&[(b"iCCP", iccp(&srgb_grey.encode().unwrap()))]);
        let levels: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        assert_eq!(grey_levels_converted(&png), levels);
        // A grey profile on a colour picture, or a colour profile on a grey one: sRGB.
        let grey_on_rgb = png_with(&[(b"iCCP", iccp(&grey_profile(1.0)))]);
        assert_eq!(embedded(&grey_on_rgb, Format::Png), Embedded::Srgb);
        let rgb_on_grey = grey_png(&[(b"iCCP", iccp(&p3()))]);
        assert_eq!(embedded(&rgb_on_grey, Format::Png), Embedded::Srgb);
    }

    #[test]
    fn a_grey_jpeg_takes_its_grey_profile() {
        let mut jpeg = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
        encoder.add_icc_profile(&grey_profile(1.0)).unwrap();
        encoder
            .encode(&[128; 64], 8, 8, jpeg_encoder::ColorType::Luma)
            .unwrap();
        assert_eq!(embedded(&jpeg, Format::Jpeg), Embedded::Icc(grey_profile(1.0)));
        let set = crate::process(&crate::SetPhotoRequest::new(jpeg), &crate::Policy::default())
            .unwrap();
        let rendition = image::load_from_memory(set.renditions()[0].bytes())
            .unwrap()
            .into_rgb8();
        // Linear 0.5 is sRGB 188.
        let centre = rendition.get_pixel(12, 12).0;
        assert!(centre.iter().all(|c| (185..=191).contains(c)), "{centre:?}");
    }

    #[test]
    fn an_rgb_table_profile_converts_as_littlecms_does() {
        let png = colour_fixture("rgb_lut16.png");
        let profile = colour_fixture("rgb_lut16.icc");
        assert_eq!(embedded(&png, Format::Png), Embedded::Icc(profile));
        let source = reference("rgb_lut16.png");
        let mut pixels = Pixels::new(128, 128, Layout::Rgb8, source.clone()).unwrap();
        to_srgb(&mut pixels, &embedded(&png, Format::Png));
        let (max, mean) = differences(pixels.data(), &reference("rgb_lut16.lcms.png"));
        assert!(max <= 3 && mean <= 0.6, "{max} levels at most, {mean:.2} on average");
        let (_, unconverted) = differences(&source, &reference("rgb_lut16.lcms.png"));
        assert!(unconverted > 10.0 * mean.max(1.0), "{unconverted:.2}");
    }

    #[test]
    fn a_profile_with_a_matrix_and_a_table_is_read_by_its_matrix() {
        // The P3 profile with a table that means something else (the test RGB table, a
        // 1.8 gamma): the matrix and curves are what is used.
        let mut both = parse(&p3()).unwrap();
        let table = parse(&colour_fixture("rgb_lut16.icc")).unwrap();
        both.lut_a_to_b_perceptual = table.lut_a_to_b_perceptual;
        both.cicp = None;
        let both = both.encode().unwrap();
        assert!(parse(&both).unwrap().lut_a_to_b_perceptual.is_some());
        let colours: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 2]).collect();
        let convert = |icc: Vec<u8>| {
            let mut pixels = Pixels::new(256, 1, Layout::Rgb8, colours.clone()).unwrap();
            to_srgb(&mut pixels, &Embedded::Icc(icc));
            pixels.into_data()
        };
        assert_eq!(convert(both), convert(p3()));
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

    /// A `cICP` chunk's data for RGB, full range.
    fn cicp(primaries: u8, transfer: u8) -> Vec<u8> {
        vec![primaries, transfer, 0, 1]
    }

    #[test]
    fn png_cicp_display_p3_converts_as_the_p3_profile_does() {
        let colours: Vec<u8> = (0..64u8)
            .flat_map(|i| [i * 4, 255 - i * 3, (u32::from(i) * 37 % 251) as u8])
            .collect();
        let png = png_with(&[(b"cICP", cicp(12, 13))]);
        let from_cicp = converted(&png, &colours);
        let mut from_icc = Pixels::new(64, 1, Layout::Rgb8, colours.clone()).unwrap();
        to_srgb(&mut from_icc, &Embedded::Icc(p3()));
        assert_ne!(from_cicp, colours);
        let (max, _) = differences(&from_cicp, from_icc.data());
        assert!(max <= 1, "{from_cicp:?} against {:?}", from_icc.data());
        // BT.2020 with BT.709's curve: a wider gamut still, so a larger change.
        let bt2020 = converted(&png_with(&[(b"cICP", cicp(9, 14))]), &colours);
        let (_, p3_shift) = differences(&from_cicp, &colours);
        let (_, bt2020_shift) = differences(&bt2020, &colours);
        assert!(bt2020_shift > p3_shift, "{bt2020_shift:.2} against {p3_shift:.2}");
    }

    #[test]
    fn png_cicp_comes_before_iccp_and_unusable_code_points_are_ignored() {
        let p3_iccp = {
            let mut iccp = b"P3\0\0".to_vec();
            iccp.extend(miniz_oxide::deflate::compress_to_vec_zlib(&p3(), 6));
            iccp
        };
        let srgb_over_p3 = png_with(&[(b"iCCP", p3_iccp.clone()), (b"cICP", cicp(1, 13))]);
        assert_eq!(embedded(&srgb_over_p3, Format::Png), Embedded::Srgb);
        let p3_over_srgb = png_with(&[(b"sRGB", vec![0]), (b"cICP", cicp(12, 13))]);
        assert!(matches!(embedded(&p3_over_srgb, Format::Png), Embedded::Icc(_)));
        // PQ, HLG, a YCbCr matrix, narrow range, reserved and unspecified values: the
        // chunk is ignored, and the other chunks speak.
        for ignored in [
            cicp(9, 16),
            cicp(9, 18),
            vec![12, 13, 1, 1],
            vec![12, 13, 0, 0],
            cicp(2, 13),
            cicp(12, 2),
            cicp(40, 13),
            vec![12, 13, 0],
        ] {
            let alone = png_with(&[(b"cICP", ignored.clone())]);
            assert_eq!(embedded(&alone, Format::Png), Embedded::Srgb, "{ignored:?}");
            let over_p3 = png_with(&[(b"iCCP", p3_iccp.clone()), (b"cICP", ignored.clone())]);
            assert_eq!(embedded(&over_p3, Format::Png), Embedded::Icc(p3()), "{ignored:?}");
        }
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
