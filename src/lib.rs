#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![warn(unreachable_pub)]

/// Declares a pipeline stage: private, or public (hidden from the docs) with the
/// `bench-internals` feature, so that benchmarks and conformance tests can time and check
/// one stage alone without the stages becoming part of the API.
macro_rules! stage {
    ($name:ident) => {
        #[cfg(feature = "bench-internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "bench-internals"))]
        #[allow(dead_code, unreachable_pub)]
        mod $name;
    };
}

stage!(colour);
stage!(decode);
stage!(encode);
stage!(geometry);
stage!(orient);
stage!(original);
stage!(pixels);
stage!(resize);
stage!(square);
stage!(validate);
mod error;
mod format;
mod hash;
mod peak;
mod policy;
mod profile;
mod request;
mod set;

#[cfg(any(feature = "cli", feature = "server"))]
mod atomic;
#[cfg(any(feature = "cli", feature = "server"))]
mod budget;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(feature = "cli", feature = "server"))]
mod s3;
#[cfg(feature = "server")]
pub mod server;

pub use error::{BadImage, Code, CropError, Error, Limit};
pub use format::{Format, OutputFormat};
pub use geometry::{Plan, RENDITION_SIZES, SizeSet, Square};
pub use hash::{AvatarDigest, RENDER_VERSION};
pub use pixels::release_spare_buffers;
pub use policy::{JpegEffort, PngRenditions, Policy};
pub use profile::{ErrorResponse, Profile, SetPhotoResponse};
pub use request::{CropBox, SetPhotoRequest};
pub use set::{ImageSet, Rendition};
pub use validate::Validated;

use std::sync::{Arc, OnceLock};

/// A request that passed every check that needs no pixels: validated header, planned
/// square and sizes, and the avatar digest. Made by [`prepare`]; rendered by
/// [`Prepared::render`].
///
/// The digest is known here, before decoding, so a caller can skip work it already did.
#[derive(Debug, Clone)]
pub struct Prepared {
    validated: Validated,
    plan: Plan,
    digest: AvatarDigest,
    input_len: usize,
    /// [`Policy::linear`], which the estimate depends on.
    linear: bool,
}

impl Prepared {
    /// The validated header.
    #[must_use]
    pub const fn validated(&self) -> &Validated {
        &self.validated
    }

    /// The square and sizes that will be rendered.
    #[must_use]
    pub const fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The `avatar_hash` the rendered set will have.
    #[must_use]
    pub fn avatar_hash(&self) -> String {
        self.digest.avatar_hash()
    }

    /// An upper bound on the heap [`Self::render`] allocates, in bytes, from the header and
    /// plan alone: see [`estimate_peak_bytes`].
    #[must_use]
    pub fn estimated_peak_bytes(&self) -> u64 {
        peak::peak_bytes(&self.validated, &self.plan, self.input_len, self.linear)
    }

    /// The file stem the rendered set will have.
    #[must_use]
    pub fn file_stem(&self) -> String {
        self.digest.file_stem()
    }

    /// Decodes, squares, resizes and encodes `request` (the one given to [`prepare`]).
    pub fn render(self, request: &SetPhotoRequest, policy: &Policy) -> Result<ImageSet, Error> {
        let renditions = render_renditions(&self.validated, &self.plan, request, policy)?;
        Ok(ImageSet::new(
            self.digest,
            self.validated.format(),
            stored_original(request.image(), &self.validated, policy),
            self.plan.sizes,
            renditions,
        ))
    }
}

/// Decodes, squares, resizes and encodes every size of `plan`.
fn render_renditions(
    validated: &Validated,
    plan: &Plan,
    request: &SetPhotoRequest,
    policy: &Policy,
) -> Result<Vec<Rendition>, Error> {
    let bytes = request.image();
    // A large JPEG decodes reduced in the DCT domain when the largest size allows.
    let reduction = plan.dct_reduction();
    // Renditions are sRGB: a wide-gamut upload is converted before it is resized, a CMYK
    // JPEG with a profile while it is decoded (its four channels exist only there).
    let embedded = colour::embedded(bytes, validated.format());
    let converted = colour::CmykToSrgb::new(&embedded).and_then(|cmyk| {
        decode::decode_cmyk(bytes, validated, reduction, &|from, to| {
            cmyk.convert(from, to);
        })
    });
    let mut oriented = match converted {
        Some(oriented) => oriented,
        None => decode::decode_reduced(bytes, validated, policy, reduction)?,
    };
    colour::to_srgb(oriented.pixels_mut(), &embedded);
    let output = encode::output_format(
        validated.format(),
        oriented.pixels().has_transparency(),
        policy.png_renditions,
    );
    let square = square::apply(oriented, plan.square, encode::bars(output, policy));
    let sizes = &plan.sizes;
    // Each size is encoded on the caller's rayon pool as soon as it is resized: with a
    // second thread free, the 1024 is encoded while the smaller sizes are resized from
    // it; on a one-thread pool this runs in order. Output bytes do not depend on it.
    let encoded: Vec<OnceLock<Result<Rendition, Error>>> =
        sizes.iter().map(|_| OnceLock::new()).collect();
    let mut slots = encoded.iter();
    rayon::in_place_scope(|scope| {
        resize::Renderer::with_thread_local(|renderer| {
            let each = |size, pixels: Arc<pixels::Pixels>| {
                let Some(slot) = slots.next() else { return };
                scope.spawn(move |_| {
                    let rendition = encode::encode(&pixels, output, policy)
                        .map(|bytes| Rendition::new(size, output, bytes));
                    let _ = slot.set(rendition);
                });
            };
            if policy.linear {
                renderer.render_each_linear(&square, sizes, each)
            } else {
                renderer.render_each(&square, sizes, each)
            }
        })
    })?;
    encoded
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|| Err(Error::Internal("a size was not encoded".into())))
        })
        .collect()
}

/// Validates `request` and plans its square and sizes, without decoding any pixels.
///
/// Errors: `bad_image`, `too_large`, `too_many_frames` from the header;
/// `invalid_arguments` for a crop box that starts outside the (oriented) image.
pub fn prepare(request: &SetPhotoRequest, policy: &Policy) -> Result<Prepared, Error> {
    let (validated, plan) = validate_and_plan(request, policy)?;
    let digest = AvatarDigest::new(&plan.square, policy, request.image());
    Ok(Prepared {
        validated,
        plan,
        digest,
        input_len: request.image().len(),
        linear: policy.linear,
    })
}

/// An upper bound on the heap, in bytes, that [`process`] allocates for `request` (beyond
/// the request itself), from its header and plan alone, without decoding or hashing: what
/// a server or batch admits an image by. The function of the header behind it is in the
/// README ("Memory"); every decode path a header can lead to is covered, a reduced JPEG's
/// fallback to a full decode included.
///
/// Errors: those of [`prepare`] from the header (`bad_image`, `too_large`,
/// `too_many_frames`, `invalid_arguments`), which [`process`] would return too.
pub fn estimate_peak_bytes(request: &SetPhotoRequest, policy: &Policy) -> Result<u64, Error> {
    Ok(Planned::new(request, policy)?.estimated_peak_bytes(request))
}

/// The header checks and the plan: what [`prepare`] and [`process`] share.
fn validate_and_plan(
    request: &SetPhotoRequest,
    policy: &Policy,
) -> Result<(Validated, Plan), Error> {
    let validated = validate::inspect(request.image(), policy)?;
    let plan = geometry::plan(validated.oriented_size(), request.crop_box()?, policy)?;
    Ok((validated, plan))
}

/// Runs the whole pipeline: validate, orient, crop or letterbox, resize, encode, hash.
///
/// ```no_run
/// # fn main() -> Result<(), setphoto::Error> {
/// let bytes = std::fs::read("photo.jpg").unwrap();
/// let request = setphoto::SetPhotoRequest::new(bytes).crop(10, 20, 300);
/// let set = setphoto::process(&request, &setphoto::Policy::default())?;
/// println!("{}", set.avatar_hash());
/// # Ok(()) }
/// ```
pub fn process(request: &SetPhotoRequest, policy: &Policy) -> Result<ImageSet, Error> {
    Planned::new(request, policy)?.process(request, policy)
}

/// An upload that passed the header checks, with its plan: what a caller that admits an
/// image by its estimated peak ([`Planned::estimated_peak_bytes`]) holds, so that the
/// headers are checked once, not again when it is processed.
pub(crate) struct Planned {
    validated: Validated,
    plan: Plan,
    linear: bool,
}

impl Planned {
    /// Checks `request`'s headers against `policy` and plans its square and sizes.
    pub(crate) fn new(request: &SetPhotoRequest, policy: &Policy) -> Result<Self, Error> {
        let (validated, plan) = validate_and_plan(request, policy)?;
        Ok(Self {
            validated,
            plan,
            linear: policy.linear,
        })
    }

    /// See [`crate::estimate_peak_bytes`].
    pub(crate) fn estimated_peak_bytes(&self, request: &SetPhotoRequest) -> u64 {
        peak::peak_bytes(
            &self.validated,
            &self.plan,
            request.image().len(),
            self.linear,
        )
    }

    /// What [`crate::process`] does after the header checks.
    pub(crate) fn process(
        self,
        request: &SetPhotoRequest,
        policy: &Policy,
    ) -> Result<ImageSet, Error> {
        let Self {
            validated, plan, ..
        } = self;
        let bytes = request.image();
        // The digest reads every byte of the upload: for a 2.6 MB GIF that is 16-20 ms
        // of SHA-256 on a CPU without SHA instructions, longer than decoding it. Nobody
        // needs it before the set is done here (unlike `prepare`), so a second thread of
        // the caller's pool computes it beside the rendering; on a one-thread pool they
        // run in turn. Cleaning the original reads every byte too, so it goes beside
        // the digest.
        let (renditions, (digest, original)) = rayon::join(
            || render_renditions(&validated, &plan, request, policy),
            || {
                (
                    AvatarDigest::new(&plan.square, policy, bytes),
                    stored_original(bytes, &validated, policy),
                )
            },
        );
        Ok(ImageSet::new(
            digest,
            validated.format(),
            original,
            plan.sizes,
            renditions?,
        ))
    }
}

/// The `image_original` of an upload: cleaned of metadata unless the policy keeps it.
/// The digest is over the uploaded bytes either way.
fn stored_original(bytes: &bytes::Bytes, validated: &Validated, policy: &Policy) -> bytes::Bytes {
    if policy.keep_original_metadata {
        bytes.clone()
    } else {
        original::clean(bytes, validated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resize::{Renderer, Resized};
    use crate::square::Bars;

    /// A `width` x `height` JPEG (q95) of gradients and 150 px checks, which no rotation
    /// or flip maps onto itself, tagged with EXIF `orientation`.
    fn big_jpeg(width: u32, height: u32, orientation: u16, grey: bool) -> Vec<u8> {
        let mut pixels = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                let check = if (x / 150 + y / 150) % 2 == 0 {
                    210
                } else {
                    30
                };
                let rgb = [(x * 255 / width) as u8, (y * 255 / height) as u8, check];
                if grey {
                    pixels.push(
                        ((u32::from(rgb[0]) + u32::from(rgb[1]) + 2 * u32::from(check)) / 4) as u8,
                    );
                } else {
                    pixels.extend(rgb);
                }
            }
        }
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 95);
        if orientation != 1 {
            let mut app1 = b"Exif\0\0".to_vec();
            app1.extend(crate::orient::tests::tiff_with_orientation(
                orientation,
                true,
            ));
            encoder.add_app_segment(1, app1).unwrap();
        }
        let colour = if grey {
            jpeg_encoder::ColorType::Luma
        } else {
            jpeg_encoder::ColorType::Rgb
        };
        encoder
            .encode(&pixels, width as u16, height as u16, colour)
            .unwrap();
        out
    }

    /// The renditions of `request`, decoded at 1/`reduction`.
    fn rendered(request: &SetPhotoRequest, reduction: u32) -> Vec<Resized> {
        let policy = Policy::default();
        let prepared = prepare(request, &policy).unwrap();
        let oriented =
            decode::decode_reduced(request.image(), &prepared.validated, &policy, reduction)
                .unwrap();
        assert_eq!(oriented.reduction(), reduction);
        let square = square::apply(oriented, prepared.plan.square, Bars::Colour([0; 3]));
        Renderer::new()
            .render(&square, &prepared.plan.sizes)
            .unwrap()
    }

    /// Renders `bytes` letterboxed (reduced by 4 at 4400 x 3000) and cropped to 2101 px
    /// from odd offsets (reduced by 2), each at full size and reduced: the renditions must
    /// stay within a level of each other and agree on transparency.
    fn assert_reduced_renders_like_full(bytes: &[u8], what: &str) {
        for crop in [None, Some(("301", "77", "2101"))] {
            let request = SetPhotoRequest::from_form(
                bytes.to_vec(),
                crop.map(|c| c.0),
                crop.map(|c| c.1),
                crop.map(|c| c.2),
            )
            .unwrap();
            let reduction = prepare(&request, &Policy::default())
                .unwrap()
                .plan
                .dct_reduction();
            assert_eq!(reduction, if crop.is_some() { 2 } else { 4 }, "{what}");
            let full = rendered(&request, 1);
            let reduced = rendered(&request, reduction);
            for (a, b) in full.iter().zip(&reduced) {
                assert_eq!(a.pixels.has_transparency(), b.pixels.has_transparency());
                let mean = mean_difference(a.pixels.data(), b.pixels.data());
                assert!(
                    mean < 1.0,
                    "{what}, crop {crop:?}, size {}: mean {mean:.3}",
                    a.size
                );
            }
        }
    }

    #[test]
    fn a_reduced_jpeg_decode_renders_what_a_full_decode_does() {
        // Rotations and a flip check that the reduced pixels are oriented and mapped like
        // the full ones; a grey file takes the L8 path.
        for (orientation, grey) in [(1, false), (3, false), (6, false), (7, false), (1, true)] {
            let bytes = big_jpeg(4400, 3000, orientation, grey);
            assert_reduced_renders_like_full(
                &bytes,
                &format!("orientation {orientation}, grey {grey}"),
            );
        }
    }

    /// A `width` x `height` 8-bit RGBA PNG of gradients, 150 px checks and bands of
    /// partial and no alpha, tagged (`eXIf`) with `orientation`.
    fn big_png(width: u32, height: u32, orientation: u16) -> Vec<u8> {
        let mut pixels = Vec::with_capacity((width * height * 4) as usize);
        for y in 0..height {
            let alpha = [255, 255, 128, 0][(y / 400 % 4) as usize];
            for x in 0..width {
                let check = if (x / 150 + y / 150) % 2 == 0 {
                    210
                } else {
                    30
                };
                pixels.extend([
                    (x * 255 / width) as u8,
                    (y * 255 / height) as u8,
                    check,
                    alpha,
                ]);
            }
        }
        let mut out = Vec::new();
        let mut encoder = ::png::Encoder::new(&mut out, width, height);
        encoder.set_color(::png::ColorType::Rgba);
        encoder.set_compression(::png::Compression::Fast);
        let mut writer = encoder.write_header().unwrap();
        if orientation != 1 {
            let tiff = crate::orient::tests::tiff_with_orientation(orientation, true);
            writer
                .write_chunk(::png::chunk::ChunkType(*b"eXIf"), &tiff)
                .unwrap();
        }
        writer.write_image_data(&pixels).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn a_reduced_png_decode_renders_what_a_full_decode_does() {
        // The box averages weight colour by alpha as the resize stage does, so the
        // renditions (transparent bands included) stay within a level of the full decode's.
        for orientation in [1, 6, 3] {
            let bytes = big_png(4400, 3000, orientation);
            assert_reduced_renders_like_full(&bytes, &format!("orientation {orientation}"));
        }
    }

    /// The 192 px rendition's pixels of `jpeg`, decoded.
    fn rendition_pixels(jpeg: Vec<u8>) -> Vec<u8> {
        let set = process(&SetPhotoRequest::new(jpeg), &Policy::default()).unwrap();
        let rendition = set.rendition_for(192).unwrap();
        image::load_from_memory(rendition.bytes())
            .unwrap()
            .into_rgb8()
            .into_raw()
    }

    fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let sum: u64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        sum as f64 / a.len() as f64
    }

    #[test]
    fn a_wide_gamut_upload_renders_the_colours_of_its_srgb_twin() {
        use moxcms::{ColorProfile, Layout as CmsLayout, TransformOptions};
        // Saturated but in-gamut colours: gradients of every hue at 40-90% saturation.
        let (width, height) = (600u32, 400u32);
        let srgb: Vec<u8> = (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                [
                    (40 + x * 180 / width) as u8,
                    (200 - y * 150 / height) as u8,
                    (60 + (x + y) % 140) as u8,
                ]
            })
            .collect();
        let encode = |pixels: &[u8], profile: Option<&[u8]>| {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, 95);
            if let Some(profile) = profile {
                encoder.add_icc_profile(profile).unwrap();
            }
            encoder
                .encode(
                    pixels,
                    width as u16,
                    height as u16,
                    jpeg_encoder::ColorType::Rgb,
                )
                .unwrap();
            out
        };
        let truth = rendition_pixels(encode(&srgb, None));
        for wide in [
            ColorProfile::new_display_p3(),
            ColorProfile::new_adobe_rgb(),
            ColorProfile::new_pro_photo_rgb(),
        ] {
            let to_wide = ColorProfile::new_srgb()
                .create_transform_8bit(
                    CmsLayout::Rgb,
                    &wide,
                    CmsLayout::Rgb,
                    TransformOptions::default(),
                )
                .unwrap();
            let mut pixels = vec![0; srgb.len()];
            to_wide.transform(&srgb, &mut pixels).unwrap();
            let profile = wide.encode().unwrap();
            let tagged = rendition_pixels(encode(&pixels, Some(&profile)));
            let untagged = rendition_pixels(encode(&pixels, None));
            let (converted, ignored) = (
                mean_difference(&tagged, &truth),
                mean_difference(&untagged, &truth),
            );
            assert!(
                converted < 1.0 && ignored > 5.0 * converted,
                "{:?}: {converted:.2} levels from the truth converted, {ignored:.2} ignored",
                wide.description
            );
        }
    }

    #[test]
    fn an_srgb_tagged_upload_makes_the_bytes_of_its_untagged_twin() {
        use moxcms::{ColorProfile, ToneReprCurve};
        let (width, height) = (300u16, 200u16);
        let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
            .flat_map(|i| [(i % 251) as u8, (i / 300 % 256) as u8, (i * 7 % 256) as u8])
            .collect();
        let set = |profile: Option<Vec<u8>>| {
            let mut jpeg = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
            if let Some(profile) = profile {
                encoder.add_icc_profile(&profile).unwrap();
            }
            encoder
                .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            let set = process(&SetPhotoRequest::new(jpeg), &Policy::default()).unwrap();
            set.renditions()
                .iter()
                .map(|r| r.bytes().to_vec())
                .collect::<Vec<_>>()
        };
        // sRGB as moxcms writes it (a parametric curve), and as older profiles carry it:
        // a 1024-entry sampled curve.
        let parametric = ColorProfile::new_srgb();
        let mut sampled = ColorProfile::new_srgb();
        let curve = ToneReprCurve::Lut(
            (0..1024)
                .map(|i| {
                    let v = f64::from(i) / 1023.0;
                    let linear = if v <= 0.04045 {
                        v / 12.92
                    } else {
                        ((v + 0.055) / 1.055).powf(2.4)
                    };
                    (linear * 65535.0).round() as u16
                })
                .collect(),
        );
        sampled.red_trc = Some(curve.clone());
        sampled.green_trc = Some(curve.clone());
        sampled.blue_trc = Some(curve);
        sampled.cicp = None;
        let untagged = set(None);
        for profile in [parametric, sampled] {
            assert_eq!(set(Some(profile.encode().unwrap())), untagged);
        }
    }

    #[test]
    fn the_set_is_the_same_on_one_thread_and_on_many() {
        // Sizes are encoded on the caller's pool as they are resized: the set must come
        // out in size order with the same bytes whatever the pool, and match each size
        // encoded alone.
        let policy = Policy {
            upscale: true,
            ..Policy::default()
        };
        let request = SetPhotoRequest::new(big_jpeg(900, 500, 6, false));
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| process(&request, &policy).unwrap())
        };
        let one = on(1);
        let sizes: Vec<u32> = one.renditions().iter().map(Rendition::size).collect();
        assert_eq!(sizes, RENDITION_SIZES);
        for threads in [2, 4] {
            assert_eq!(
                on(threads).renditions(),
                one.renditions(),
                "{threads} threads"
            );
        }
        let prepared = prepare(&request, &policy).unwrap();
        let oriented = decode::decode(request.image(), &prepared.validated, &policy).unwrap();
        let square = square::apply(
            oriented,
            prepared.plan.square,
            encode::bars(OutputFormat::Jpeg, &policy),
        );
        let alone = Renderer::new()
            .render(&square, &prepared.plan.sizes)
            .unwrap();
        for (rendition, resized) in one.renditions().iter().zip(&alone) {
            let bytes = encode::encode(&resized.pixels, OutputFormat::Jpeg, &policy).unwrap();
            assert_eq!(rendition.bytes(), bytes, "size {}", resized.size);
        }
    }

    #[test]
    fn a_damaged_large_jpeg_gets_the_outcome_of_a_full_decode() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/inputs/large_2560x2048_progressive.jpg"
        ))
        .unwrap();
        let policy = Policy::default();
        for cut in [
            bytes.len() * 2 / 5,
            bytes.len() * 3 / 5,
            bytes.len() * 4 / 5,
        ] {
            let damaged = bytes::Bytes::copy_from_slice(&bytes[..cut]);
            let request = SetPhotoRequest::new(damaged.clone());
            let prepared = prepare(&request, &policy).unwrap();
            let full = decode::decode(&damaged, &prepared.validated, &policy);
            let reduced = decode::decode_reduced(&damaged, &prepared.validated, &policy, 2);
            match (&full, &reduced) {
                (Ok(_), Ok(_)) => {}
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "cut at {cut}"),
                _ => panic!(
                    "cut at {cut}: full {:?} but reduced {:?}",
                    full.is_ok(),
                    reduced.is_ok()
                ),
            }
        }
    }
}
