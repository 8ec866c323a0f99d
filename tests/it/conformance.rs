//! Decode conformance against the shared references: PngSuite RGBA8 hashes, the
//! jpeg-decoder reftest decodes, and the nine EXIF orientation files.

use std::path::Path;

use setphoto::pixels::{Layout, Pixels};
use setphoto::{Policy, decode, validate};
use sha2::{Digest as _, Sha256};

use crate::util::{mean_abs_diff, shared_corpus};

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
