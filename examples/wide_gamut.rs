//! Writes wide-gamut twins of a photo, for the colour check in `benches/quality/colour.py`:
//! the photo's sRGB pixels converted to Display P3, Adobe RGB and ProPhoto RGB and saved as
//! q95 JPEGs that carry the profile, plus an untagged sRGB JPEG of the same quality (the
//! truth each twin must render like).
//!
//! `cargo run --release --example wide_gamut -- PHOTO OUT_DIR`

use std::path::Path;

use moxcms::{ColorProfile, Layout, TransformOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, photo, out] = &args[..] else {
        eprintln!("usage: wide_gamut PHOTO OUT_DIR");
        std::process::exit(2);
    };
    let picture = image::open(photo).expect("a readable photo").into_rgb8();
    let (width, height) = (picture.width() as u16, picture.height() as u16);
    let stem = Path::new(photo).file_stem().unwrap().to_string_lossy();
    let out = Path::new(out);
    std::fs::create_dir_all(out).unwrap();
    let save = |name: &str, pixels: &[u8], profile: Option<&[u8]>| {
        let path = out.join(format!("{stem}_{name}.jpg"));
        let mut encoder = jpeg_encoder::Encoder::new_file(&path, 95).unwrap();
        if let Some(profile) = profile {
            encoder.add_icc_profile(profile).unwrap();
        }
        encoder
            .encode(pixels, width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        println!("{}", path.display());
    };
    save("srgb", picture.as_raw(), None);
    for (name, wide) in [
        ("p3", ColorProfile::new_display_p3()),
        ("adobe", ColorProfile::new_adobe_rgb()),
        ("prophoto", ColorProfile::new_pro_photo_rgb()),
    ] {
        let transform = ColorProfile::new_srgb()
            .create_transform_8bit(Layout::Rgb, &wide, Layout::Rgb, TransformOptions::default())
            .unwrap();
        let mut pixels = vec![0; picture.as_raw().len()];
        transform.transform(picture.as_raw(), &mut pixels).unwrap();
        save(name, &pixels, Some(&wide.encode().unwrap()));
    }
}
