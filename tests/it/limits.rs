//! Limits, in the shape of image-rs `tests/limits.rs`: fine with the default policy, the
//! exact code when a limit is tight; and decompression bombs refused from headers.

use setphoto::{Policy, SetPhotoRequest};

use crate::bombs::{gif_with_frames, png_with, zlib_zeros};
use crate::util::{process, testdata};

fn code(bytes: &[u8], policy: &Policy) -> &'static str {
    process(bytes, policy).map_or_else(|e| e.code(), |_| "ok")
}

#[test]
fn tight_limits_give_the_exact_code() {
    let jpeg = testdata("inputs/sample.jpg"); // 640x480
    assert_eq!(code(&jpeg, &Policy::default()), "ok");
    let mut p = Policy::default();
    p.max_side = 639;
    assert_eq!(code(&jpeg, &p), "too_large");
    let mut p = Policy::default();
    p.max_pixels = 640 * 480 - 1;
    assert_eq!(code(&jpeg, &p), "too_large");
    let mut p = Policy::default();
    p.max_pixels = 640 * 480;
    assert_eq!(code(&jpeg, &p), "ok");
    let mut p = Policy::default();
    p.max_bytes = jpeg.len() as u64 - 1;
    assert_eq!(code(&jpeg, &p), "too_large");
}

#[test]
fn gif_frame_limits() {
    let two = gif_with_frames(4, 4, 2);
    assert_eq!(code(&two, &Policy::default()), "ok");
    let mut p = Policy::default();
    p.max_frames = 1;
    assert_eq!(code(&two, &p), "too_many_frames");
    assert_eq!(code(&gif_with_frames(4, 4, 100), &Policy::default()), "ok");
    assert_eq!(
        code(&gif_with_frames(4, 4, 101), &Policy::default()),
        "too_many_frames"
    );
}

#[test]
fn decompression_bombs_are_refused_from_headers() {
    assert_eq!(
        code(
            &png_with(65535, 65535, &zlib_zeros(1024)),
            &Policy::default()
        ),
        "too_large"
    );
    // A real zlib bomb: 64 MB of zeros in a few kB, declared 8000x8000 (64 MP).
    let bomb = png_with(8000, 8000, &zlib_zeros(8001 * 8000));
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    assert_eq!(code(&bomb, &Policy::default()), "too_large");
    assert_eq!(
        code(&gif_with_frames(1, 1, 10_000), &Policy::default()),
        "too_many_frames"
    );
    // 60 frames on a 2000x2000 canvas: 240 MP summed, over the 200 MP limit.
    assert_eq!(
        code(&gif_with_frames(2000, 2000, 60), &Policy::default()),
        "too_large"
    );
    assert_eq!(
        code(&gif_with_frames(2000, 2000, 50), &Policy::default()),
        "ok"
    );
}

#[test]
fn too_large_wins_over_too_many_frames() {
    // 101 frames on a 5000x5000 canvas: both limits, and the size wins.
    let gif = gif_with_frames(5000, 5000, 101);
    let mut p = Policy::default();
    p.max_pixels = 10_000_000;
    assert_eq!(code(&gif, &p), "too_large");
}

#[test]
fn documented_policy_refuses_more_than_1024_a_side() {
    let request = SetPhotoRequest::new(testdata("inputs/wide_4000x10.png"));
    let e = setphoto::process(&request, &Policy::documented()).unwrap_err();
    assert_eq!(e.code(), "too_large");
    assert!(e.to_string().contains("1024"), "{e}");
}
