//! Decode conformance against the shared references: PngSuite RGBA8 hashes, the
//! jpeg-decoder reftest decodes, and the nine EXIF orientation files.

use std::path::Path;

use setphoto::pixels::{Layout, Pixels};
use setphoto::{Policy, decode, validate};
use sha2::{Digest as _, Sha256};

use crate::refs::djpeg_rgb;
use crate::util::{mean_abs_diff, shared_corpus, testdata};

/// Decodes `bytes` through the engine's validate and decode stages.
fn decode_file(path: &Path) -> Result<Pixels, setphoto::Error> {
    let bytes = std::fs::read(path).unwrap();
    let policy = Policy::default();
    let validated = validate::inspect(&bytes, &policy)?;
    Ok(decode::decode(&bytes, &validated, &policy)?.into_pixels())
}

fn rgba8(p: &Pixels) -> Vec<u8> {
    match p.layout() {
        Layout::Rgba8 => p.data().to_vec(),
        Layout::Rgb8 => p
            .data()
            .chunks_exact(3)
            .flat_map(|c| [c[0], c[1], c[2], 255])
            .collect(),
        other => panic!("unexpected layout {other:?}"),
    }
}

fn rgb8(p: &Pixels) -> Vec<u8> {
    match p.layout() {
        Layout::Rgb8 => p.data().to_vec(),
        Layout::Rgba8 => p
            .data()
            .chunks_exact(4)
            .flat_map(|c| [c[0], c[1], c[2]])
            .collect(),
        other => panic!("unexpected layout {other:?}"),
    }
}

#[test]
fn pngsuite_decodes_to_the_reference_rgba8_hashes() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let table = std::fs::read_to_string(corpus.join("pngsuite/reference/REFERENCE.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in table.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let (file, round, trunc) = (f[0], f[6], f[7]);
        checked += 1;
        match decode_file(&corpus.join(file)) {
            Err(e) => failures.push(format!("{file}: {}", e.code())),
            Ok(pixels) => {
                let hash = hex::encode(Sha256::digest(rgba8(&pixels)));
                if hash != round && hash != trunc {
                    failures.push(format!(
                        "{file}: RGBA8 hash {hash} matches neither reference"
                    ));
                }
            }
        }
    }
    assert_eq!(
        checked, 162,
        "REFERENCE.tsv should list the 162 valid PngSuite files"
    );
    assert!(
        failures.is_empty(),
        "{} PngSuite mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Files allowed a larger mean difference, each with the reason. Keep this list short and
/// explained: a new entry needs the same evidence.
const JPEG_KNOWN_DEVIATIONS: &[(&str, f64, &str)] = &[(
    "jpeg/jpeg-decoder/mozilla_jpg-size-2x2.jpg",
    4.0,
    "4:2:0 image smaller than one MCU: libjpeg's fancy upsampling reads chroma rows from \
     the padded DCT block past the image edge, zune-jpeg replicates the edge sample; 12 \
     values in all, max 12 levels",
)];

#[test]
fn jpeg_reftests_decode_within_one_level_of_the_reference() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let dir = corpus.join("jpeg/jpeg-decoder");
    let table = std::fs::read_to_string(dir.join("reference/REFERENCE.tsv")).unwrap();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for line in table.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let (jpeg, reference) = (corpus.join(f[0]), corpus.join(f[1]));
        let reference = image::open(&reference).unwrap();
        // 16-bit references (the 16-bit grey file) are scaled by 1/257 by this conversion.
        let reference = reference.into_rgb8();
        match decode_file(&jpeg) {
            Err(e) => failures.push(format!("{}: {}", f[0], e.code())),
            Ok(pixels) => {
                if (pixels.width(), pixels.height()) != reference.dimensions() {
                    failures.push(format!("{}: size differs", f[0]));
                    continue;
                }
                let ours = rgb8(&pixels);
                let mean = mean_abs_diff(&ours, reference.as_raw());
                let max = ours
                    .iter()
                    .zip(reference.as_raw())
                    .map(|(a, b)| a.abs_diff(*b))
                    .max();
                report.push(format!("{}: mean {mean:.3} max {}", f[0], max.unwrap_or(0)));
                let bound = JPEG_KNOWN_DEVIATIONS
                    .iter()
                    .find(|(file, _, _)| *file == f[0])
                    .map_or(1.0, |&(_, bound, _)| bound);
                if mean > bound {
                    failures.push(format!("{}: mean difference {mean:.3} > {bound}", f[0]));
                }
            }
        }
    }
    eprintln!("jpeg reftests:\n{}", report.join("\n"));
    assert_eq!(
        report.len() + failures.iter().filter(|f| !f.contains("mean")).count(),
        24
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_nine_exif_orientations_show_the_same_upright_picture() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let dir = corpus.join("jpeg/exif-orientation");
    let upright = rgb8(&decode_file(&dir.join("Landscape_1.jpg")).unwrap());
    for n in 0..=8 {
        let pixels = decode_file(&dir.join(format!("Landscape_{n}.jpg"))).unwrap();
        assert_eq!(
            (pixels.width(), pixels.height()),
            (1800, 1200),
            "Landscape_{n}"
        );
        let mean = mean_abs_diff(&rgb8(&pixels), &upright);
        assert!(
            mean <= 5.0,
            "Landscape_{n}: mean difference {mean:.2} levels"
        );
    }
}

const REFS_SUITE: &str = "the pixel conformance tests against djpeg and Pillow";

/// The bound on a full JPEG decode's mean absolute difference from djpeg's, per channel:
/// IDCTs and upsamplers round differently (zune-jpeg's and jpeg-decoder's integer IDCTs
/// against libjpeg's "islow", their chroma upsampling against libjpeg's "fancy" triangle
/// filter), which moves some samples by a few levels but the mean of a picture by well
/// under one; a mis-decode (a wrong sampling, a shifted block, a lost scan) moves it by
/// tens (the non-interleaved 4:2:0 file that zune-jpeg 0.5.15 mis-decodes: 140).
const FULL_MEAN_BOUND: f64 = 1.5;
/// The bound on any one sample of a full decode: rounding and upsampling differences stay
/// within a few levels, and reach tens only at the sharpest colour edges.
const FULL_MAX_BOUND: u8 = 48;
/// The bound on a reduced decode's mean difference from djpeg's decode at the same scale
/// (`-scale 1/N`). Reduced IDCTs are different filters: libjpeg's 4x4, 2x2 and 1x1
/// kernels average the full-size samples (a box filter); ours keep the lower frequencies
/// of each block (a band-limited picture, and the chroma scaled by the IDCT too);
/// jpeg-decoder's upsamples the chroma. So two decoders differ more than at full size:
/// about one and a half levels on a 900x600 photo at 1/2, a few on small pictures, and
/// far more on pictures whose energy lies in the upper half of the spectrum (noise, fuzzed
/// files), where no filter is the right one and the renditions decide (see
/// `band_limited_reduction_renders_as_close_to_the_full_decode_as_libjpegs`).
const REDUCED_MEAN_BOUND: f64 = 2.5;
/// The bound on any one sample of a reduced decode: the reduced kernels differ most at
/// hard edges; a block decoded wrong, or a channel swapped, differs by far more.
const REDUCED_MAX_BOUND: u8 = 128;
/// Reduced pictures smaller than this on a side are not held to a bound: their mean is
/// made by a few edge blocks, where each decoder extends the picture its own way (the
/// pipeline reduces only squares of 2048 px or more, so a reduced picture there is at
/// least 256 px).
const MIN_REDUCED_SIDE: u32 = 16;

/// Decodes not held to the bounds, each with the reason: `true` for every path, `false`
/// for the reduced paths only. Keep this list short and explained.
const DJPEG_KNOWN_DEVIATIONS: &[(&str, bool, &str)] = &[
    (
        "jpeg/jpeg-decoder/mozilla_jpg-size-2x2.jpg",
        true,
        "4:2:0 image smaller than one MCU: libjpeg's fancy upsampling reads chroma rows \
         from the padded DCT block past the image edge, zune-jpeg replicates the edge \
         sample; 12 values in all",
    ),
    (
        "jpeg/jpeg-decoder-crash/dc-predictor-overflow.jpg",
        true,
        "damaged entropy-coded data (djpeg: premature end of data segment): where a \
         decoder resumes after the damage, and what it draws there, is its own",
    ),
    (
        "jpeg/jpeg-decoder-crash/subtract-with-overflow.jpg",
        true,
        "damaged entropy-coded data (djpeg: 956 extraneous bytes before marker 0xc4)",
    ),
    (
        "other/afl/not_kitty.jpg",
        false,
        "a fuzzer's 32x32 picture quantised with steps up to 255, clipped at its border: \
         most of its energy is in the upper half of the spectrum. Our reduced IDCT keeps \
         the lower half (a band-limited picture), libjpeg's averages pairs of full-size \
         samples (a box filter), so at 1/2 the two differ by a mean of 19.6",
    ),
    (
        "jpeg/jpeg-decoder/rgb.jpg",
        false,
        "a small, sharp RGB picture (every channel carries full detail): at 1/2 and 1/4 the \
         band-limited reduction differs from libjpeg's box-averaged one by a mean of 3.5 \
         to 4.2; at 1/8 (the mean alone in both) they agree exactly",
    ),
];

/// `rgb` (width `w`, height `h`) in the orientation given by the EXIF value `exif`.
fn oriented(w: u32, h: u32, rgb: Vec<u8>, exif: u16) -> (u32, u32, Vec<u8>) {
    let mut image = image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, rgb).unwrap());
    let orientation = image::metadata::Orientation::from_exif(u8::try_from(exif).unwrap())
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    image.apply_orientation(orientation);
    let image = image.into_rgb8();
    (image.width(), image.height(), image.into_raw())
}

/// The worst decode of one path: (decodes, worst mean, its file, worst max).
type Worst = (usize, f64, String, u8);

#[test]
fn every_accepted_corpus_jpeg_decodes_to_djpegs_pixels_on_every_path() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    if !crate::refs::djpeg(REFS_SUITE) {
        return;
    }
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    let policy = Policy::default();
    let mut failures = Vec::new();
    let mut unbounded = Vec::new();
    let mut worst: std::collections::BTreeMap<String, Worst> = std::collections::BTreeMap::new();
    let mut accepted = 0;
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f[3] != "jpeg" {
            continue;
        }
        let path = corpus.join(f[0]);
        let bytes = std::fs::read(&path).unwrap();
        let Ok(validated) = validate::inspect(&bytes, &policy) else {
            continue;
        };
        accepted += 1;
        let exif = validated.orientation().exif_value();
        for reduction in [1, 2, 4, 8] {
            let decoded = match decode::decode_reduced(&bytes, &validated, &policy, reduction) {
                Ok(decoded) => decoded,
                Err(e) => {
                    failures.push(format!("{} at 1/{reduction}: {}", f[0], e.code()));
                    continue;
                }
            };
            let scale = decoded.reduction();
            let route = format!("{:?} at 1/{scale}", decoded.path());
            let (w, h, reference) = match djpeg_rgb(&path, scale) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{}: djpeg -scale 1/{scale}: {e}", f[0]));
                    continue;
                }
            };
            let (w, h, reference) = oriented(w, h, reference, exif);
            let pixels = decoded.pixels();
            if (pixels.width(), pixels.height()) != (w, h) {
                failures.push(format!(
                    "{} ({route}): {}x{} against djpeg's {w}x{h}",
                    f[0],
                    pixels.width(),
                    pixels.height()
                ));
                continue;
            }
            let ours = rgb8(pixels);
            let mean = mean_abs_diff(&ours, &reference);
            let max = ours
                .iter()
                .zip(&reference)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            let known = DJPEG_KNOWN_DEVIATIONS
                .iter()
                .any(|&(file, every_path, _)| file == f[0] && (every_path || scale > 1));
            if known || (scale > 1 && w.min(h) < MIN_REDUCED_SIDE) {
                unbounded.push(format!("{} ({route}): mean {mean:.3}, max {max}", f[0]));
                continue;
            }
            let (mean_bound, max_bound) = if scale == 1 {
                (FULL_MEAN_BOUND, FULL_MAX_BOUND)
            } else {
                (REDUCED_MEAN_BOUND, REDUCED_MAX_BOUND)
            };
            if mean > mean_bound || max > max_bound {
                failures.push(format!(
                    "{} ({route}): mean difference {mean:.3} (bound {mean_bound}), max {max} (bound {max_bound})",
                    f[0]
                ));
            }
            let entry = worst.entry(route).or_insert((0, 0.0, String::new(), 0));
            entry.0 += 1;
            if mean > entry.1 {
                (entry.1, entry.2) = (mean, f[0].to_string());
            }
            entry.3 = entry.3.max(max);
        }
    }
    eprintln!("{accepted} accepted corpus JPEGs, decoded in full and asked for 1/2, 1/4, 1/8:");
    for (route, (count, mean, file, max)) in &worst {
        eprintln!("  {route}: {count} decodes, worst mean {mean:.3} ({file}), worst max {max}");
    }
    eprintln!(
        "not held to the bounds (known deviations; reduced pictures under {MIN_REDUCED_SIDE} px):\n  {}",
        unbounded.join("\n  ")
    );
    assert!(accepted >= 40, "only {accepted} corpus JPEGs accepted");
    // Each path a file can take is exercised, so none escapes the comparison.
    for route in [
        "Image at 1/1",
        "JpegDecoder at 1/1",
        "Kernels at 1/2",
        "JpegDecoder at 1/2",
    ] {
        assert!(worst.contains_key(route), "no corpus file took {route}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `rgb` (`w` x `h`) resized to `side` x `side` with a Lanczos filter, as RGB bytes.
fn lanczos(w: u32, h: u32, rgb: Vec<u8>, side: u32) -> Vec<u8> {
    let image = image::RgbImage::from_raw(w, h, rgb).unwrap();
    image::imageops::resize(&image, side, side, image::imageops::FilterType::Lanczos3).into_raw()
}

/// The reduced decode is a filter choice, not an approximation of libjpeg's: what matters
/// is the rendition made from it. For a photo and for noise (all of its energy high), the
/// renditions made from our 1/2 decode are at least as close to those made from the full
/// decode as the renditions made from libjpeg's 1/2 decode are.
#[test]
fn band_limited_reduction_renders_as_close_to_the_full_decode_as_libjpegs() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    if !crate::refs::djpeg(REFS_SUITE) {
        return;
    }
    let photo = image::open(corpus.join("jpeg/exif-orientation/Landscape_1.jpg"))
        .unwrap()
        .into_rgb8();
    let side = 1024.min(photo.width()).min(photo.height());
    let photo = image::imageops::crop_imm(&photo, 0, 0, side, side).to_image();
    let mut state = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..512 * 512 * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let noise = image::RgbImage::from_raw(512, 512, noise).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let policy = Policy::default();
    for (name, picture) in [("photo", photo), ("noise", noise)] {
        let path = scratch.path().join(format!("{name}.jpg"));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&picture)
            .unwrap();
        std::fs::write(&path, &jpeg).unwrap();
        let validated = validate::inspect(&jpeg, &policy).unwrap();
        let ours = decode::decode_reduced(&jpeg, &validated, &policy, 2).unwrap();
        assert_eq!(format!("{:?}", ours.path()), "Kernels", "{name}");
        let (ow, oh) = (ours.pixels().width(), ours.pixels().height());
        let ours = rgb8(ours.pixels());
        let (fw, fh, full) = djpeg_rgb(&path, 1).unwrap();
        let (lw, lh, libjpeg) = djpeg_rgb(&path, 2).unwrap();
        assert_eq!((ow, oh), (lw, lh));
        for side in [ow / 2, ow / 4, ow / 8] {
            let truth = lanczos(fw, fh, full.clone(), side);
            let ours = mean_abs_diff(&lanczos(ow, oh, ours.clone(), side), &truth);
            let libjpeg = mean_abs_diff(&lanczos(lw, lh, libjpeg.clone(), side), &truth);
            eprintln!("{name} at {side} px: ours {ours:.3}, libjpeg's {libjpeg:.3}");
            assert!(
                ours <= libjpeg + 0.02,
                "{name} at {side} px: ours {ours:.3} vs libjpeg's {libjpeg:.3}"
            );
        }
    }
}

/// A progressive JPEG cut short (an interrupted upload) is accepted, as libjpeg accepts it
/// with a warning, and our reduced decoder draws it as libjpeg does: each scan up to where
/// its data ends, the blocks after that as earlier scans left them. So it stays on the
/// reduced path, in reduced memory, instead of falling back to a full decode.
#[test]
fn a_truncated_progressive_jpeg_reduces_as_libjpeg_draws_it() {
    if !crate::refs::djpeg(REFS_SUITE) {
        return;
    }
    let whole = testdata("inputs/large_2560x2048_progressive.jpg");
    let scratch = tempfile::tempdir().unwrap();
    let policy = Policy::default();
    for percent in [35, 60, 90] {
        let cut = whole[..whole.len() * percent / 100].to_vec();
        let path = scratch.path().join(format!("cut{percent}.jpg"));
        std::fs::write(&path, &cut).unwrap();
        let validated = validate::inspect(&cut, &policy).unwrap();
        for reduction in [2, 4, 8] {
            let decoded = decode::decode_reduced(&cut, &validated, &policy, reduction).unwrap();
            assert_eq!(format!("{:?}", decoded.path()), "Kernels", "{percent}%");
            let (w, h, reference) = djpeg_rgb(&path, reduction).unwrap();
            let pixels = decoded.pixels();
            assert_eq!((pixels.width(), pixels.height()), (w, h));
            let mean = mean_abs_diff(&rgb8(pixels), &reference);
            eprintln!("cut at {percent}%, 1/{reduction}: mean {mean:.3}");
            assert!(
                mean <= REDUCED_MEAN_BOUND,
                "cut at {percent}%, 1/{reduction}: mean difference {mean:.3} from djpeg"
            );
        }
    }
}

#[test]
fn every_accepted_corpus_gif_decodes_to_pillows_first_frame() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let Some(mut pillow) = crate::refs::Pillow::start(REFS_SUITE) else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    let mut failures = Vec::new();
    let (mut compared, mut partial, mut clipped) = (0, 0, 0);
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f[3] != "gif" {
            continue;
        }
        let path = corpus.join(f[0]);
        let Ok(pixels) = decode_file(&path) else {
            continue;
        };
        let frame = match pillow.rgba(&path, &scratch.path().join("frame.rgba")) {
            Ok(frame) => frame,
            Err(e) => {
                failures.push(format!("{}: we decode it, Pillow refuses: {e}", f[0]));
                continue;
            }
        };
        compared += 1;
        let (w, h) = (pixels.width(), pixels.height());
        // A first frame reaching past its screen: Pillow grows the picture to hold it; we
        // clip it to the screen (the README's rule), so the screen's part is compared.
        let grown = frame.width > w || frame.height > h;
        let reference: Vec<u8> = if grown && frame.width >= w && frame.height >= h {
            clipped += 1;
            (0..h as usize)
                .flat_map(|y| {
                    let at = y * frame.width as usize * 4;
                    frame.rgba[at..at + w as usize * 4].to_vec()
                })
                .collect()
        } else {
            frame.rgba.clone()
        };
        if reference.len() != w as usize * h as usize * 4 {
            failures.push(format!(
                "{}: {w}x{h} against Pillow's {}x{}",
                f[0], frame.width, frame.height
            ));
            continue;
        }
        let ours = rgba8(&pixels);
        let [x0, y0, x1, y1] = frame.rect;
        let (mut inside, mut outside) = (0, 0);
        for (i, (a, b)) in ours
            .chunks_exact(4)
            .zip(reference.chunks_exact(4))
            .enumerate()
        {
            let (x, y) = (i as u32 % w, i as u32 / w);
            if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                // A fully transparent pixel's colour carries nothing: alpha only there.
                let same = (a[3] == 0 && b[3] == 0) || a == b;
                inside += usize::from(!same);
            } else {
                // Outside a first frame smaller than its screen Pillow shows the
                // background colour; we leave the screen transparent, as browsers do
                // (the README's rule).
                outside += usize::from(a[3] != 0);
            }
        }
        if inside + outside > 0 {
            failures.push(format!(
                "{}: {inside} pixels of the first frame differ from Pillow's, {outside} \
                 outside it are not transparent",
                f[0]
            ));
        }
        if [x0, y0, x1, y1] != [0, 0, frame.width, frame.height] {
            partial += 1;
        }
    }
    eprintln!(
        "{compared} accepted corpus GIFs compared with Pillow's first frame \
         ({partial} with a first frame not covering the screen, {clipped} reaching past it)"
    );
    assert!(compared >= 30, "only {compared} corpus GIFs compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
