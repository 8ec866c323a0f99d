//! Linear-light resampling ([`crate::Policy::linear`]): 8-bit sRGB samples are turned into
//! 16-bit linear light before the resize passes and back after, so that averaging pixels
//! averages light, as the eye and a camera sum it. Resized in sRGB's gamma (what every
//! peer does by default), a 1 px black and white pattern becomes level 128, darker than
//! the pattern looks from afar; in linear light it becomes 188. Alpha is coverage, already
//! linear: it is widened to 16 bits unchanged, and colours are premultiplied by it in
//! linear light, which is how light from a partly covered pixel adds up.
//!
//! Sixteen bits keep every 8-bit level distinct (the darkest step, 0 to 1, is about 20
//! units of 65535), so a pixel that the resize leaves alone comes back as it went in.

use std::sync::OnceLock;

use setphoto_fir::{Image, PixelType};

use crate::pixels::{Layout, Pixels};

/// The fir pixel type of linear pixels for a layout.
pub(super) const fn pixel_type(layout: Layout) -> PixelType {
    match layout {
        Layout::Rgb8 => PixelType::U16x3,
        Layout::Rgba8 => PixelType::U16x4,
    }
}

/// sRGB's decoding curve (IEC 61966-2-1), 0..=1 to 0..=1.
fn srgb_to_linear(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB's encoding curve, 0..=1 to 0..=1.
fn linear_to_srgb(v: f64) -> f64 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// Each 8-bit sRGB level as 16-bit linear light.
fn to_linear_table() -> &'static [u16; 256] {
    static TABLE: OnceLock<[u16; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| (srgb_to_linear(i as f64 / 255.0) * 65535.0).round() as u16)
    })
}

/// Each 16-bit linear value as the nearest 8-bit sRGB level.
fn to_srgb_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|v| (linear_to_srgb(f64::from(v) / 65535.0) * 255.0).round() as u8)
            .collect()
    })
}

/// `pixels` as 16-bit linear light (native-endian samples, alpha widened), a fir image.
pub(super) fn widen(pixels: &Pixels) -> Image<'static> {
    let layout = pixels.layout();
    let channels = layout.channels();
    let mut image = Image::new(pixels.width(), pixels.height(), pixel_type(layout));
    let table = to_linear_table();
    for (from, to) in pixels
        .data()
        .chunks_exact(channels)
        .zip(image.buffer_mut().chunks_exact_mut(2 * channels))
    {
        for (c, (&v, out)) in from.iter().zip(to.chunks_exact_mut(2)).enumerate() {
            let wide = if c == 3 {
                u16::from(v) * 257
            } else {
                table[usize::from(v)]
            };
            out.copy_from_slice(&wide.to_ne_bytes());
        }
    }
    image
}

/// Writes 16-bit linear `samples` (native-endian, `layout`'s channels) into `out` as
/// 8-bit sRGB, alpha narrowed to the nearest level.
pub(super) fn narrow(samples: &[u8], layout: Layout, out: &mut [u8]) {
    let channels = layout.channels();
    let table = to_srgb_table();
    for (from, to) in samples
        .chunks_exact(2 * channels)
        .zip(out.chunks_exact_mut(channels))
    {
        for (c, (pair, v)) in from.chunks_exact(2).zip(to.iter_mut()).enumerate() {
            let wide = u16::from_ne_bytes([pair[0], pair[1]]);
            *v = if c == 3 {
                ((u32::from(wide) + 128) / 257) as u8
            } else {
                table[usize::from(wide)]
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_survives_the_round_trip() {
        for layout in [Layout::Rgb8, Layout::Rgba8] {
            let data: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 2, v]).collect();
            let data = match layout {
                Layout::Rgba8 => data,
                Layout::Rgb8 => data.chunks_exact(4).flat_map(|p| &p[..3]).copied().collect(),
            };
            let pixels = Pixels::new(256, 1, layout, data.clone()).unwrap();
            let wide = widen(&pixels);
            let mut back = vec![0; data.len()];
            narrow(wide.buffer(), layout, &mut back);
            assert_eq!(back, data);
        }
    }

    #[test]
    fn half_of_full_light_is_level_188_and_every_level_is_distinct() {
        // sRGB encodes 0.5 as 0.7354: level 187.5.
        assert!((187..=188).contains(&to_srgb_table()[32768]));
        assert!(to_linear_table().windows(2).all(|w| w[0] < w[1]));
    }
}
