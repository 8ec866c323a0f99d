//! Limits, in the shape of image-rs `tests/limits.rs`: fine with the default policy, the
//! exact code when a limit is tight; and decompression bombs refused from headers.

use setphoto::{Policy, SetPhotoRequest};

use crate::util::{png_chunk, process, testdata};

fn code(bytes: &[u8], policy: &Policy) -> &'static str {
    process(bytes, policy).map_or_else(|e| e.code(), |_| "ok")
}

/// A PNG signature and IHDR declaring `width` x `height` 8-bit greyscale, then `idat`.
pub fn png_with(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    [
        b"\x89PNG\r\n\x1A\n".to_vec(),
        png_chunk(b"IHDR", &ihdr),
        png_chunk(b"IDAT", idat),
        png_chunk(b"IEND", &[]),
    ]
    .concat()
}

/// A zlib stream of `len` zero bytes: about a thousandth of `len`.
pub fn zlib_zeros(len: usize) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; len], 9)
}

/// A GIF with a `width` x `height` screen and `frames` 1x1 frames.
pub fn gif_with_frames(width: u16, height: u16, frames: u32) -> Vec<u8> {
    let mut b = b"GIF89a".to_vec();
    b.extend(width.to_le_bytes());
    b.extend(height.to_le_bytes());
    b.extend([0x80, 0, 0]); // global colour table of 2 entries
    b.extend([0, 0, 0, 255, 255, 255]);
    for _ in 0..frames {
        b.extend([0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]); // descriptor: 1x1 at (0, 0)
        b.extend([2, 2, 0x44, 0x01, 0]); // LZW min code 2, one sub-block, terminator
    }
    b.push(0x3B);
    b
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
