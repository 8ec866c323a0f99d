//! `process()` through the public API: the profile, sizes, formats, crop, letterbox,
//! orientation, determinism and metadata stripping.

use setphoto::{
    JpegEffort, OutputFormat, PngRenditions, Policy, RENDITION_SIZES, SetPhotoRequest,
    SetPhotoResponse,
};

use crate::util::{
    check_renditions, insert_after_ihdr, mean_abs_diff, png_chunk, process, testdata,
    validate_schema,
};

fn rgb_of(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes).unwrap().into_rgb8()
}

#[test]
fn profile_has_nine_keys_and_matches_the_schema() {
    let set = process(&testdata("inputs/sample.jpg"), &Policy::default()).unwrap();
    let body =
        serde_json::to_value(SetPhotoResponse::success(set.profile("https://x.test/a/"))).unwrap();
    let profile = body["profile"].as_object().unwrap();
    assert_eq!(profile.len(), 9);
    let hash = profile["avatar_hash"].as_str().unwrap();
    assert!(hash.len() == 12 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert_eq!(
        profile["image_72"].as_str().unwrap(),
        format!("https://x.test/a/{}_72.jpg", set.file_stem())
    );
    if let Some(result) = validate_schema("users.setPhoto.response.json", &body) {
        result.unwrap();
    }
}

#[test]
fn renditions_stop_at_the_square_and_larger_keys_alias_the_largest() {
    let set = process(&testdata("inputs/square_300.jpg"), &Policy::default()).unwrap();
    let sizes: Vec<u32> = set.renditions().iter().map(|r| r.size()).collect();
    assert_eq!(sizes, [192, 72, 48, 32, 24]);
    let profile = set.profile("http://h");
    assert_eq!(profile.image_1024, profile.image_192);
    assert_eq!(profile.image_512, profile.image_192);
    assert!(profile.image_192.ends_with("_192.jpg"));
    check_renditions(&set).unwrap();
}

#[test]
fn upscale_makes_every_size_and_a_tiny_image_still_gets_24() {
    let tiny = testdata("inputs/tiny_1x1.png");
    let set = process(&tiny, &Policy::default()).unwrap();
    assert_eq!(
        set.renditions()
            .iter()
            .map(|r| r.size())
            .collect::<Vec<_>>(),
        [24]
    );
    let set = process(&tiny, &Policy::default().with_upscale(true)).unwrap();
    let sizes: Vec<u32> = set.renditions().iter().map(|r| r.size()).collect();
    assert_eq!(sizes, RENDITION_SIZES);
    check_renditions(&set).unwrap();
}

#[test]
fn output_format_follows_the_input() {
    let cases = [
        ("inputs/sample.jpg", OutputFormat::Jpeg, "jpg"),
        ("inputs/alpha_60x40.png", OutputFormat::Png, "png"),
        ("inputs/transparent.gif", OutputFormat::Png, "gif"),
        ("inputs/opaque.gif", OutputFormat::Jpeg, "gif"),
        ("inputs/wide_4000x10.png", OutputFormat::Jpeg, "png"),
    ];
    for (file, format, original_ext) in cases {
        let set = process(&testdata(file), &Policy::default()).unwrap();
        assert!(
            set.renditions().iter().all(|r| r.format() == format),
            "{file}"
        );
        assert!(set.original_file_name().ends_with(original_ext), "{file}");
        check_renditions(&set).unwrap();
    }
    let always = Policy::default().with_png_renditions(PngRenditions::Always);
    let set = process(&testdata("inputs/wide_4000x10.png"), &always).unwrap();
    assert!(
        set.renditions()
            .iter()
            .all(|r| r.format() == OutputFormat::Png)
    );
    check_renditions(&set).unwrap();
}

/// A 40x30 RGBA PNG of a gradient, every pixel opaque but the one at (5, 5), whose alpha is
/// `alpha`.
fn rgba_png(alpha: u8) -> Vec<u8> {
    let mut picture = image::RgbaImage::from_fn(40, 30, |x, y| {
        image::Rgba([(x * 6) as u8, (y * 8) as u8, 90, 255])
    });
    picture.get_pixel_mut(5, 5).0[3] = alpha;
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[test]
fn a_png_is_rendered_as_jpeg_when_no_pixel_is_transparent_whatever_its_colour_type() {
    let opaque = process(&rgba_png(255), &Policy::default()).unwrap();
    assert!(
        opaque
            .renditions()
            .iter()
            .all(|r| r.format() == OutputFormat::Jpeg)
    );
    assert!(opaque.profile("http://h").image_24.ends_with("_24.jpg"));
    check_renditions(&opaque).unwrap();
    // One pixel short of opaque keeps the alpha channel, and PNG.
    let translucent = process(&rgba_png(254), &Policy::default()).unwrap();
    assert!(
        translucent
            .renditions()
            .iter()
            .all(|r| r.format() == OutputFormat::Png)
    );
    check_renditions(&translucent).unwrap();
    // The policy switch is in the hash: the two sets never share file names.
    let always = Policy::default().with_png_renditions(PngRenditions::Always);
    let kept = process(&rgba_png(255), &always).unwrap();
    assert!(
        kept.renditions()
            .iter()
            .all(|r| r.format() == OutputFormat::Png)
    );
    assert_ne!(kept.avatar_hash(), opaque.avatar_hash());
}

#[test]
fn letterbox_bars_are_transparent_for_png_and_black_for_jpeg() {
    let always = Policy::default().with_png_renditions(PngRenditions::Always);
    let set = process(&testdata("inputs/wide_4000x10.png"), &always).unwrap();
    let r = set.rendition_for(192).unwrap();
    let img = image::load_from_memory(r.bytes()).unwrap().into_rgba8();
    assert_eq!(img.get_pixel(96, 0)[3], 0, "top bar is transparent");
    assert_eq!(img.get_pixel(96, 191)[3], 0, "bottom bar is transparent");
    // 4000x10 at 192 px is a 192x1 strip on row (192 - 1) / 2 = 95.
    assert_eq!(img.get_pixel(96, 95)[3], 255, "the picture is opaque");
    assert_eq!(img.get_pixel(96, 96)[3], 0, "the row below it is bar");

    // The same opaque PNG rendered as JPEG (the default) gets the background's bars.
    let set = process(&testdata("inputs/wide_4000x10.png"), &Policy::default()).unwrap();
    let img = rgb_of(set.rendition_for(192).unwrap().bytes());
    assert!(img.get_pixel(96, 0).0.iter().all(|&c| c < 12));
    assert!(img.get_pixel(96, 191).0.iter().all(|&c| c < 12));

    let set = process(&testdata("inputs/sample.jpg"), &Policy::default()).unwrap();
    let img = rgb_of(set.rendition_for(192).unwrap().bytes());
    // 640x480 on a 640 square: 80 px bars, 24 px at 192.
    for y in [0, 10, 20, 171, 181, 191] {
        let p = img.get_pixel(96, y);
        assert!(p.0.iter().all(|&c| c < 12), "bar pixel at y={y} is {p:?}");
    }
    let middle = img.get_pixel(10, 96);
    assert!(
        middle.0.iter().any(|&c| c > 40),
        "picture pixel is {middle:?}"
    );

    let white = Policy::default().with_background([255, 255, 255]);
    let set = process(&testdata("inputs/sample.jpg"), &white).unwrap();
    let img = rgb_of(set.rendition_for(192).unwrap().bytes());
    assert!(img.get_pixel(96, 2).0.iter().all(|&c| c > 243));
}

#[test]
fn exif_rotated_input_is_cropped_in_display_orientation() {
    // exif6.jpg stores the sample card rotated; EXIF 6 turns it upright. The same box on
    // both must show the same pixels (the top-left corner, with its "F").
    let crop = |file: &str| {
        let request = SetPhotoRequest::new(testdata(file)).crop(20, 30, 240);
        setphoto::process(&request, &Policy::default()).unwrap()
    };
    let upright = crop("inputs/sample.jpg");
    let rotated = crop("inputs/exif6.jpg");
    let a = rgb_of(upright.rendition_for(192).unwrap().bytes());
    let b = rgb_of(rotated.rendition_for(192).unwrap().bytes());
    let diff = mean_abs_diff(a.as_raw(), b.as_raw());
    assert!(diff < 3.0, "mean difference {diff}");
    // And the box really is in display coordinates: upright the picture is 640x480, so
    // x = 600 and y = 470 are inside and y = 480 is past the bottom edge.
    let request = SetPhotoRequest::new(testdata("inputs/exif6.jpg")).crop(600, 0, 10);
    assert!(setphoto::process(&request, &Policy::default()).is_ok());
    let request = SetPhotoRequest::new(testdata("inputs/exif6.jpg")).crop(0, 470, 10);
    assert!(setphoto::process(&request, &Policy::default()).is_ok());
    let request = SetPhotoRequest::new(testdata("inputs/exif6.jpg")).crop(0, 480, 10);
    assert_eq!(
        setphoto::process(&request, &Policy::default())
            .unwrap_err()
            .code(),
        "invalid_arguments"
    );
}

#[test]
fn bad_crop_strings_are_invalid_arguments() {
    for (x, y, w) in [
        (Some("-1"), None, Some("10")),
        (None, None, Some("0")),
        (Some("5"), None, None),
        (None, None, Some("1.5")),
    ] {
        let e = SetPhotoRequest::from_form(testdata("inputs/sample.jpg"), x, y, w).unwrap_err();
        assert_eq!(e.code(), "invalid_arguments");
    }
    let request = SetPhotoRequest::new(testdata("inputs/sample.jpg")).crop(1, 1, 0);
    assert_eq!(
        setphoto::process(&request, &Policy::default())
            .unwrap_err()
            .code(),
        "invalid_arguments"
    );
}

#[test]
fn the_hash_is_known_before_decoding_and_matches_the_set() {
    let request = SetPhotoRequest::new(testdata("inputs/sample.jpg")).crop(10, 10, 100);
    let prepared = setphoto::prepare(&request, &Policy::default()).unwrap();
    let hash = prepared.avatar_hash();
    let set = prepared.render(&request, &Policy::default()).unwrap();
    assert_eq!(set.avatar_hash(), hash);
    assert!(set.file_stem().starts_with(&hash));
    // `process` hashes beside the rendering instead of before it: the same set.
    let direct = setphoto::process(&request, &Policy::default()).unwrap();
    assert_eq!(direct.avatar_hash(), hash);
    assert_eq!(direct.file_stem(), set.file_stem());
    assert!(
        direct
            .files()
            .map(|(name, bytes)| (name, bytes.to_vec()))
            .eq(set.files().map(|(name, bytes)| (name, bytes.to_vec())))
    );
}

#[test]
fn the_same_bytes_give_identical_sets_across_runs_and_threads() {
    let inputs = [
        "inputs/sample.jpg",
        "inputs/alpha_60x40.png",
        "inputs/transparent.gif",
    ];
    for file in inputs {
        let bytes = testdata(file);
        let first = process(&bytes, &Policy::default()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let bytes = bytes.clone();
                std::thread::spawn(move || process(&bytes, &Policy::default()).unwrap())
            })
            .collect();
        for t in threads {
            let other = t.join().unwrap();
            assert_eq!(other.avatar_hash(), first.avatar_hash(), "{file}");
            assert_eq!(other.renditions(), first.renditions(), "{file}");
        }
    }
}

#[test]
fn no_metadata_or_trailing_bytes_reach_a_rendition() {
    // EXIF in a JPEG, text chunks in a PNG, junk after the end of each.
    let jpeg = testdata("inputs/exif6.jpg");
    let mut jpeg_trailing = jpeg.clone();
    jpeg_trailing.extend(b"TRAILING-SECRET");
    let png = testdata("inputs/alpha_60x40.png");
    let png_text = insert_after_ihdr(&png, &png_chunk(b"tEXt", b"Comment\0PNG-SECRET"));
    let mut png_trailing = png_text.clone();
    png_trailing.extend(b"TRAILING-SECRET");

    for (clean, dirty) in [
        (&jpeg, &jpeg_trailing),
        (&png, &png_text),
        (&png, &png_trailing),
    ] {
        let a = process(clean, &Policy::default()).unwrap();
        let b = process(dirty, &Policy::default()).unwrap();
        assert_eq!(
            a.renditions(),
            b.renditions(),
            "renditions depend only on pixels"
        );
        assert_eq!(
            b.original().as_ref(),
            clean.as_slice(),
            "the original loses the metadata and the trailing bytes"
        );
        let kept = process(dirty, &Policy::default().with_keep_original_metadata(true)).unwrap();
        assert_eq!(kept.original().as_ref(), dirty.as_slice());
        assert_eq!(
            kept.avatar_hash(),
            b.avatar_hash(),
            "the hash is over the upload"
        );
        assert_eq!(kept.renditions(), b.renditions());
        for r in b.renditions() {
            for secret in [&b"SECRET"[..], b"Exif", b"tEXt", b"eXIf", b"iTXt", b"zTXt"] {
                assert!(!r.bytes().windows(secret.len()).any(|w| w == secret));
            }
        }
    }
}

/// A TIFF block (little-endian) as a phone writes it: the camera's make, `orientation`,
/// and a GPS IFD with a latitude. Its strings are marked `SECRET`.
fn tiff_with_gps(orientation: u16) -> Vec<u8> {
    let mut t = b"II\x2A\0\x08\0\0\0".to_vec();
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        for bytes in [
            &tag.to_le_bytes()[..],
            &kind.to_le_bytes(),
            &count.to_le_bytes(),
        ] {
            t.extend(bytes);
        }
        t.extend(value.to_le_bytes());
    };
    // IFD0 at 8 (3 entries), the make at 50, the GPS IFD at 66 (2 entries), latitude at 96.
    t.extend(3u16.to_le_bytes());
    entry(&mut t, 0x010F, 2, 16, 50);
    entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
    entry(&mut t, 0x8825, 4, 1, 66);
    t.extend(0u32.to_le_bytes());
    t.extend(b"CAM-SECRET-0042\0");
    t.extend(2u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from(b'N'));
    entry(&mut t, 0x0002, 5, 3, 96);
    t.extend(0u32.to_le_bytes());
    for v in [51u32, 1, 30, 1, 2_644, 100] {
        t.extend(v.to_le_bytes());
    }
    t
}

/// A JPEG marker segment.
fn jpeg_segment(code: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 2).unwrap();
    [&[0xFF, code][..], &len.to_be_bytes(), payload].concat()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The EXIF orientation the `image` crate reads from `bytes`.
fn image_orientation(bytes: &[u8]) -> image::metadata::Orientation {
    use image::ImageDecoder as _;
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .unwrap();
    reader.into_decoder().unwrap().orientation().unwrap()
}

#[test]
fn an_original_loses_its_gps_position_and_keeps_its_picture_and_orientation() {
    // exif6.jpg with its EXIF replaced by a phone's (GPS, make; orientation 6), XMP, a
    // comment and bytes after the end; alpha_60x40.png with the same EXIF and text.
    let jpeg = testdata("inputs/exif6.jpg");
    let exif = jpeg_segment(0xE1, &[&b"Exif\0\0"[..], &tiff_with_gps(6)].concat());
    let xmp = jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>XMP-SECRET");
    let comment = jpeg_segment(0xFE, b"COMMENT-SECRET");
    // exif6.jpg: SOI, JFIF APP0 (18 bytes), its own EXIF APP1 (36 bytes), the rest.
    let mut dirty_jpeg = [&jpeg[..20], &exif, &xmp, &comment, &jpeg[56..]].concat();
    dirty_jpeg.extend(b"TRAILING-SECRET");
    let png = testdata("inputs/alpha_60x40.png");
    let mut dirty_png = insert_after_ihdr(&png, &png_chunk(b"eXIf", &tiff_with_gps(6)));
    dirty_png = insert_after_ihdr(&dirty_png, &png_chunk(b"tEXt", b"Comment\0TEXT-SECRET"));
    dirty_png.extend(b"TRAILING-SECRET");

    for dirty in [&dirty_jpeg, &dirty_png] {
        let set = process(dirty, &Policy::default()).unwrap();
        let original = set.original();
        for secret in [&b"SECRET"[..], b"\x25\x88", b"http://ns.adobe.com", b"tEXt"] {
            assert!(!contains(original, secret), "{secret:?} is left");
        }
        assert!(original.len() < dirty.len());
        assert_eq!(
            image_orientation(dirty),
            image::metadata::Orientation::Rotate90
        );
        assert_eq!(
            image_orientation(original),
            image::metadata::Orientation::Rotate90
        );
        let upload_pixels = image::load_from_memory(dirty).unwrap();
        let original_pixels = image::load_from_memory(original).unwrap();
        assert!(upload_pixels == original_pixels, "other pixels");
        // The set of the cleaned original is the set of the upload, bar the hash, which
        // is over the uploaded bytes.
        let again = process(original, &Policy::default()).unwrap();
        assert_eq!(again.renditions(), set.renditions());
        assert_ne!(again.avatar_hash(), set.avatar_hash());
        assert_eq!(again.original(), original);
    }
}

#[test]
fn files_are_named_by_stem_size_and_extension() {
    let set = process(&testdata("inputs/alpha_60x40.png"), &Policy::default()).unwrap();
    let names: Vec<String> = set.files().map(|(name, _)| name).collect();
    let stem = set.file_stem();
    assert_eq!(
        names,
        [
            format!("{stem}_48.png"),
            format!("{stem}_32.png"),
            format!("{stem}_24.png"),
            format!("{stem}_original.png")
        ]
    );
}

#[test]
fn linear_light_is_a_policy_switch_that_brightens_fine_patterns() {
    let board = image::GrayImage::from_fn(64, 64, |x, y| image::Luma([((x + y) % 2 * 255) as u8]));
    let mut png = Vec::new();
    board
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let policy = Policy::default().with_png_renditions(PngRenditions::Always);
    let mean_of_24 = |policy: &Policy| {
        let set = process(&png, policy).unwrap();
        let grey = image::load_from_memory(set.rendition_for(24).unwrap().bytes())
            .unwrap()
            .into_luma8();
        grey.pixels().map(|p| f64::from(p[0])).sum::<f64>() / (24.0 * 24.0)
    };
    let (gamma, linear) = (
        mean_of_24(&policy),
        mean_of_24(&policy.clone().with_linear(true)),
    );
    assert!((125.0..=131.0).contains(&gamma), "{gamma}");
    assert!((185.0..=191.0).contains(&linear), "{linear}");
}

#[test]
fn the_smallest_jpeg_effort_writes_fewer_bytes_and_names_its_set_apart() {
    let upload = testdata("inputs/sample.jpg");
    let policy = Policy::default().with_upscale(true);
    let standard = process(&upload, &policy).unwrap();
    let smallest = process(
        &upload,
        &policy.clone().with_jpeg_effort(JpegEffort::Smallest),
    )
    .unwrap();
    assert_ne!(standard.avatar_hash(), smallest.avatar_hash());
    let total = |set: &setphoto::ImageSet| -> usize {
        set.renditions().iter().map(|r| r.bytes().len()).sum()
    };
    assert!(
        total(&smallest) * 100 < total(&standard) * 99,
        "{} bytes at the smallest effort, {} at the standard one",
        total(&smallest),
        total(&standard)
    );
    for rendition in smallest.renditions() {
        assert_eq!(rendition.format(), OutputFormat::Jpeg);
        let picture = image::load_from_memory(rendition.bytes()).unwrap();
        assert_eq!(picture.width(), rendition.size());
    }
}
