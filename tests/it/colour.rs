//! Colour management through `process()`: uploads with embedded profiles render sRGB.

use setphoto::Policy;

use crate::util::{process, testdata};

/// The pixels of the largest rendition of `bytes`, and its side.
fn largest_rendition(bytes: &[u8]) -> (Vec<u8>, u32) {
    let set = process(bytes, &Policy::default()).unwrap();
    let largest = &set.renditions()[0];
    let image = image::load_from_memory(largest.bytes())
        .unwrap()
        .into_rgb8();
    (image.into_raw(), largest.size())
}

/// `jpeg` without its APP2 segments.
fn without_app2(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut pos = 2;
    while jpeg[pos + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        if jpeg[pos + 1] != 0xE2 {
            out.extend_from_slice(&jpeg[pos..pos + 2 + len]);
        }
        pos += 2 + len;
    }
    out.extend_from_slice(&jpeg[pos..]);
    out
}

/// The mean difference, in levels, between the centres (3x3 pixels) of the 8x8 patches of
/// a rendition of `side` and those of a 128 px reference.
fn patch_difference(rendition: &[u8], side: u32, reference: &[u8]) -> f64 {
    let side = side as usize;
    let mut sum = 0u64;
    for patch in 0..64 {
        let (x, y) = (patch % 8 * 16 + 8, patch / 8 * 16 + 8);
        let want = &reference[(y * 128 + x) * 3..][..3];
        let (rx, ry) = (x * side / 128, y * side / 128);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (1, 2)] {
            let at = ((ry + dy - 1).min(side - 1) * side + (rx + dx - 1).min(side - 1)) * 3;
            for (a, b) in rendition[at..at + 3].iter().zip(want) {
                sum += u64::from(a.abs_diff(*b));
            }
        }
    }
    sum as f64 / (64.0 * 6.0 * 3.0)
}

#[test]
fn a_cmyk_jpeg_with_a_print_profile_renders_as_littlecms_converts_it() {
    let jpeg = testdata("colour/cmyk_lut16.jpg");
    let lcms = image::load_from_memory(&testdata("colour/cmyk_lut16.lcms.png"))
        .unwrap()
        .into_rgb8()
        .into_raw();
    let (tagged, side) = largest_rendition(&jpeg);
    let (untagged, _) = largest_rendition(&without_app2(&jpeg));
    let (converted, naive) = (
        patch_difference(&tagged, side, &lcms),
        patch_difference(&untagged, side, &lcms),
    );
    assert!(
        converted < 4.0 && naive > 5.0 * converted,
        "{converted:.2} levels from LittleCMS with the profile, {naive:.2} without"
    );
}
