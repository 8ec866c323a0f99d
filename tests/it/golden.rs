//! Golden vectors: `testdata/golden/hashes.tsv` pins `avatar_hash` for inputs and crop
//! boxes. `SETPHOTO_BLESS=1 cargo test golden` rewrites it after a deliberate change
//! (which should also bump `RENDER_VERSION` when pixels change).

use std::fmt::Write as _;
use std::path::Path;

use setphoto::{Policy, SetPhotoRequest};

use crate::util::testdata;

/// One golden row: input, crop_x, crop_y, crop_w, upscale.
type Case = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    bool,
);

const CASES: &[Case] = &[
    ("inputs/sample.jpg", None, None, None, false),
    (
        "inputs/sample.jpg",
        Some("10"),
        Some("20"),
        Some("300"),
        false,
    ),
    ("inputs/sample.jpg", None, None, Some("100000"), false),
    ("inputs/sample.jpg", None, None, None, true),
    (
        "inputs/exif6.jpg",
        Some("20"),
        Some("30"),
        Some("240"),
        false,
    ),
    ("inputs/alpha_60x40.png", None, None, None, false),
    ("inputs/transparent.gif", None, None, None, false),
    ("inputs/tiny_1x1.png", None, None, None, true),
];

fn table() -> String {
    let mut out = String::from("input\tcrop_x\tcrop_y\tcrop_w\tupscale\tavatar_hash\n");
    for &(file, x, y, w, upscale) in CASES {
        let request = SetPhotoRequest::from_form(testdata(file), x, y, w).unwrap();
        let prepared =
            setphoto::prepare(&request, &Policy::default().with_upscale(upscale)).unwrap();
        let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
        writeln!(
            out,
            "{file}\t{}\t{}\t{}\t{upscale}\t{}",
            dash(x),
            dash(y),
            dash(w),
            prepared.avatar_hash()
        )
        .unwrap();
    }
    out
}

#[test]
fn avatar_hashes_match_the_golden_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/hashes.tsv");
    let actual = table();
    if std::env::var_os("SETPHOTO_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        actual, expected,
        "hash vectors changed; if deliberate, bump RENDER_VERSION and bless"
    );
}

#[test]
fn a_change_of_crop_or_quality_changes_the_hash() {
    let bytes = testdata("inputs/sample.jpg");
    let hash = |request: SetPhotoRequest, policy: Policy| {
        setphoto::prepare(&request, &policy).unwrap().avatar_hash()
    };
    let base = hash(
        SetPhotoRequest::new(bytes.clone()).crop(0, 0, 100),
        Policy::default(),
    );
    assert_ne!(
        base,
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(1, 0, 100),
            Policy::default()
        )
    );
    assert_ne!(
        base,
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(0, 0, 101),
            Policy::default()
        )
    );
    assert_ne!(
        base,
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(0, 0, 100),
            Policy::default().with_jpeg_quality(86)
        )
    );
    // Boxes that clamp to the same square are the same avatar.
    assert_eq!(
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(0, 0, 480),
            Policy::default()
        ),
        hash(
            SetPhotoRequest::new(bytes).crop(0, 0, 9999),
            Policy::default()
        )
    );
}
