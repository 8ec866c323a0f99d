//! Writes the hand-made fixtures in `testdata/inputs/`. Run once, review, commit:
//! `cargo run --example make_fixtures`. The files are committed so golden hashes stay
//! pinned even if an encoder used here changes its output later.

use std::path::Path;

use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// A smooth, photo-like test card: gradients, a disc and an "F" that shows orientation.
fn card(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let (dx, dy) = (fx - 0.6, fy - 0.5);
        let disc = dx * dx + dy * dy < 0.04;
        // An "F" in the top-left quarter: a vertical bar, a top bar and a middle bar.
        let f = (0.10..0.15).contains(&fx) && (0.10..0.45).contains(&fy)
            || (0.10..0.35).contains(&fx) && (0.10..0.15).contains(&fy)
            || (0.10..0.28).contains(&fx) && (0.25..0.30).contains(&fy);
        if f {
            Rgb([250, 250, 250])
        } else if disc {
            Rgb([220, 60, 40])
        } else {
            Rgb([(40.0 + 150.0 * fx) as u8, (60.0 + 120.0 * fy) as u8, 140])
        }
    })
}

/// A baseline JPEG at quality 90, with an EXIF orientation when given.
fn jpeg(image: &RgbImage, exif_orientation: Option<u16>) -> Vec<u8> {
    encode_jpeg(image, 90, false, exif_orientation)
}

/// A progressive JPEG at quality 40: large enough in pixels (side >= 2048) that the
/// engine decodes it reduced, small enough in bytes for a fixture.
fn progressive_jpeg(image: &RgbImage) -> Vec<u8> {
    encode_jpeg(image, 40, true, None)
}

fn encode_jpeg(
    image: &RgbImage,
    quality: u8,
    progressive: bool,
    exif_orientation: Option<u16>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_progressive(progressive);
    if let Some(o) = exif_orientation {
        // TIFF, big-endian, IFD0 with one entry: Orientation (0x0112, SHORT, 1) = o.
        let mut tiff = b"MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        tiff.extend(o.to_be_bytes());
        tiff.extend([0, 0, 0, 0, 0, 0]);
        enc.add_exif_metadata(&tiff).expect("exif");
    }
    enc.encode(
        image.as_raw(),
        image.width() as u16,
        image.height() as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .expect("jpeg");
    out
}

fn save(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write");
    println!("wrote testdata/inputs/{name} ({} bytes)", bytes.len());
}

fn png(image: impl Into<image::DynamicImage>) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .into()
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inputs");
    std::fs::create_dir_all(&dir).expect("mkdir");

    save(&dir, "sample.jpg", &jpeg(&card(640, 480), None));
    save(&dir, "square_300.jpg", &jpeg(&card(300, 300), None));
    // Stored 480x640 (rotated 90 degrees counter-clockwise); EXIF 6 says "rotate 90
    // clockwise to display", so it shows as the same 640x480 card as sample.jpg.
    let rotated = image::imageops::rotate270(&card(640, 480));
    save(&dir, "exif6.jpg", &jpeg(&rotated, Some(6)));

    save(
        &dir,
        "large_2560x2048_progressive.jpg",
        &progressive_jpeg(&card(2560, 2048)),
    );

    let alpha = RgbaImage::from_fn(60, 40, |x, y| {
        let inside = (x as i32 - 30).pow(2) + (y as i32 - 20).pow(2) < 18 * 18;
        if inside {
            Rgba([30, 120, 200, 255])
        } else {
            Rgba([0, 0, 0, (x * 2) as u8])
        }
    });
    save(&dir, "alpha_60x40.png", &png(alpha));
    save(&dir, "tiny_1x1.png", &png(card(1, 1)));
    save(&dir, "wide_4000x10.png", &png(card(4000, 10)));

    // A GIF whose first frame has a transparent index, and one without.
    for (name, transparent) in [("transparent.gif", true), ("opaque.gif", false)] {
        let mut bytes = Vec::new();
        {
            let palette = [255, 0, 0, 0, 0, 255, 255, 255, 255];
            let mut enc = gif::Encoder::new(&mut bytes, 32, 24, &palette).expect("gif");
            let pixels: Vec<u8> = (0..32 * 24)
                .map(|i| ((i / 32 + i % 32) % 3) as u8)
                .collect();
            let mut frame = gif::Frame::from_indexed_pixels(32, 24, pixels, None);
            frame.transparent = transparent.then_some(2);
            enc.write_frame(&frame).expect("frame");
        }
        save(&dir, name, &bytes);
    }
}
