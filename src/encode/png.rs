//! PNG renditions: the smallest lossless colour type the pixels allow, deflated as zlib's
//! level 6 does.
//!
//! Every rendition is written in the narrowest form that keeps every pixel exactly:
//!
//! - grey (every pixel has R = G = B) as grey or grey + alpha, one or two bytes a pixel
//!   instead of three or four;
//! - at most 256 distinct colours (alpha included) also as a palette (`PLTE`, with `tRNS`
//!   for the translucent entries first), its indices packed at 1, 2, 4 or 8 bits as the
//!   colour count allows; kept only when it comes out smaller than the direct form, since
//!   a palette of many colours in a smooth picture can deflate worse than the pixels;
//! - otherwise RGB when every pixel is opaque, else RGBA.
//!
//! Deflate is zlib-rs (the Rust port of zlib-ng, through flate2) at its level 7. zlib's
//! level 6, which libpng, Pillow and ImageMagick default to, is a lazy matcher; zlib-ng's
//! level 6 is its faster "medium" strategy, which compresses worse (fine patterns most),
//! and its level 7 is the lazy matcher with settings close to zlib's 6. A rendition is
//! encoded once and served many times, so bytes matter more than the milliseconds the
//! faster strategy saves. Higher levels, and trying every filter and keeping the smallest
//! file, gained little more at several times the encode time (`examples/png_strategies.rs`).
//! Direct colour rows get the adaptive (minimum sum of absolute differences) filter choice
//! libpng makes; palette rows are not filtered, since differences of palette indices mean
//! nothing and only scatter the runs deflate would find.

use png::{BitDepth, ColorType, DeflateCompression, Filter};

use crate::error::Error;
use crate::pixels::{Layout, Pixels};

/// zlib-rs's level whose strategy is zlib's default one (lazy matching), which libpng,
/// Pillow and ImageMagick use for PNG (see the module docs).
const DEFLATE_LEVEL: u8 = 7;

/// Encodes `pixels` as a PNG in the smallest lossless form tried (see the module docs).
pub(super) fn encode(pixels: &Pixels) -> Result<Vec<u8>, Error> {
    let (width, height) = (pixels.width(), pixels.height());
    if width == 0 || height == 0 {
        return Err(internal("an empty picture has no PNG"));
    }
    let form = Form::of(pixels);
    let direct = form.direct(pixels)?;
    let direct_png = write(width, height, &direct)?;
    let Some(palette) = Palette::of(pixels) else {
        return Ok(direct_png);
    };
    if form == Form::Grey && palette.bits() == 8 {
        // Byte-wide indices of grey levels are the grey bytes again, less the filters.
        return Ok(direct_png);
    }
    let indexed_png = write(width, height, &palette.image(pixels))?;
    Ok(if indexed_png.len() < direct_png.len() {
        indexed_png
    } else {
        direct_png
    })
}

/// The direct (non-palette) colour type a picture needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Grey,
    GreyAlpha,
    Rgb,
    Rgba,
}

impl Form {
    fn of(pixels: &Pixels) -> Self {
        let opaque = !pixels.has_transparency();
        let grey = match pixels.layout() {
            Layout::Rgb8 => is_grey(pixels.data(), 3),
            Layout::Rgba8 => is_grey(pixels.data(), 4),
        };
        match (grey, opaque) {
            (true, true) => Self::Grey,
            (true, false) => Self::GreyAlpha,
            (false, true) => Self::Rgb,
            (false, false) => Self::Rgba,
        }
    }

    /// The picture's bytes in this form.
    fn direct(self, pixels: &Pixels) -> Result<Image, Error> {
        let data = pixels.data();
        let (colour, bytes) = match (self, pixels.layout()) {
            (Self::Rgb, Layout::Rgb8) | (Self::Rgba, Layout::Rgba8) => {
                let colour = if self == Self::Rgb {
                    ColorType::Rgb
                } else {
                    ColorType::Rgba
                };
                (colour, data.to_vec())
            }
            (Self::Rgb, Layout::Rgba8) => (
                ColorType::Rgb,
                pixels
                    .without_alpha()
                    .ok_or_else(|| internal("an RGB copy larger than its RGBA picture"))?
                    .into_data(),
            ),
            (Self::Grey, layout) => (
                ColorType::Grayscale,
                data.chunks_exact(layout.channels()).map(|p| p[0]).collect(),
            ),
            (Self::GreyAlpha, Layout::Rgba8) => (
                ColorType::GrayscaleAlpha,
                data.chunks_exact(4).flat_map(|p| [p[0], p[3]]).collect(),
            ),
            (Self::Rgba | Self::GreyAlpha, Layout::Rgb8) => {
                return Err(internal("RGB pixels have no alpha to keep"));
            }
        };
        Ok(Image {
            colour,
            depth: BitDepth::Eight,
            data: bytes,
            palette: Vec::new(),
            trns: Vec::new(),
        })
    }
}

/// Whether every pixel of `data` (`channels` bytes each, R, G, B first) has R = G = B.
fn is_grey(data: &[u8], channels: usize) -> bool {
    // A block at a time, so the comparison vectorises and a colour picture stops early.
    data.chunks(channels * 64).all(|block| {
        block
            .chunks_exact(channels)
            .fold(true, |grey, p| grey & (p[0] == p[1]) & (p[1] == p[2]))
    })
}

/// Filtered or packed bytes ready for the PNG writer, with their header fields.
struct Image {
    colour: ColorType,
    depth: BitDepth,
    data: Vec<u8>,
    /// `PLTE` entries (R, G, B each); empty for direct colour.
    palette: Vec<u8>,
    /// `tRNS` alphas of the first palette entries; empty when every entry is opaque.
    trns: Vec<u8>,
}

fn write(width: u32, height: u32, image: &Image) -> Result<Vec<u8>, Error> {
    // Raw size plus a little: deflate rarely grows data, and this spares most regrowth.
    let mut out = Vec::with_capacity(image.data.len() / 2 + 128);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(image.colour);
    encoder.set_depth(image.depth);
    encoder.set_deflate_compression(DeflateCompression::Level(DEFLATE_LEVEL));
    if image.colour == ColorType::Indexed {
        encoder.set_filter(Filter::NoFilter);
        encoder.set_palette(image.palette.as_slice());
        if !image.trns.is_empty() {
            encoder.set_trns(image.trns.as_slice());
        }
    } else {
        encoder.set_filter(Filter::Adaptive);
    }
    let mut writer = encoder.write_header().map_err(internal)?;
    writer.write_image_data(&image.data).map_err(internal)?;
    writer.finish().map_err(internal)?;
    Ok(out)
}

/// The distinct colours of a picture that has at most 256 of them.
struct Palette {
    /// RGBA colours, translucent ones first (so `tRNS` stays short), each group in the
    /// order the picture first shows them.
    colours: Vec<[u8; 4]>,
    /// Colour -> index into `colours`.
    table: ColourTable,
}

impl Palette {
    /// The picture's colours, or `None` when it has more than 256.
    fn of(pixels: &Pixels) -> Option<Self> {
        let channels = pixels.layout().channels();
        let mut seen = ColourTable::new();
        let mut first_seen = Vec::new();
        let mut last = None;
        for p in pixels.data().chunks_exact(channels) {
            let rgba = rgba(p);
            // Runs of one colour are the rule in the pictures a palette suits.
            if last == Some(rgba) {
                continue;
            }
            last = Some(rgba);
            if seen.get(rgba).is_none() {
                if first_seen.len() == 256 {
                    return None;
                }
                let index = u8::try_from(first_seen.len()).ok()?;
                seen.insert(rgba, index);
                first_seen.push(rgba);
            }
        }
        let (mut colours, opaque): (Vec<_>, Vec<_>) =
            first_seen.into_iter().partition(|c| c[3] != 255);
        colours.extend(opaque);
        let mut table = ColourTable::new();
        for (i, &c) in colours.iter().enumerate() {
            table.insert(c, u8::try_from(i).ok()?);
        }
        Some(Self { colours, table })
    }

    /// Bits per index: the fewest PNG allows for this many colours.
    fn bits(&self) -> u8 {
        match self.colours.len() {
            0..=2 => 1,
            3..=4 => 2,
            5..=16 => 4,
            _ => 8,
        }
    }

    /// The picture as packed indices, with its `PLTE` and `tRNS`.
    fn image(&self, pixels: &Pixels) -> Image {
        let bits = self.bits();
        let channels = pixels.layout().channels();
        let width = pixels.width() as usize;
        let per_byte = usize::from(8 / bits);
        let row_bytes = width.div_ceil(per_byte);
        let mut data = Vec::with_capacity(row_bytes * pixels.height() as usize);
        for row in pixels.data().chunks_exact(width * channels) {
            // Wider than a byte so that shifting in a whole byte-wide index stays defined.
            let mut byte = 0u16;
            let mut filled = 0;
            for p in row.chunks_exact(channels) {
                // Every colour of the picture is in the table: it was built from them.
                let index = self.table.get(rgba(p)).unwrap_or(0);
                byte = (byte << bits) | u16::from(index);
                filled += 1;
                if filled == per_byte {
                    data.push(byte.to_le_bytes()[0]);
                    byte = 0;
                    filled = 0;
                }
            }
            if filled > 0 {
                // The last byte of a row is padded on the right (low bits) with zeros.
                let pad = u32::from(bits) * u32::try_from(per_byte - filled).unwrap_or(0);
                data.push((byte << pad).to_le_bytes()[0]);
            }
        }
        let palette = self.colours.iter().flat_map(|c| [c[0], c[1], c[2]]).collect();
        let trns = self
            .colours
            .iter()
            .take_while(|c| c[3] != 255)
            .map(|c| c[3])
            .collect();
        Image {
            colour: ColorType::Indexed,
            depth: match bits {
                1 => BitDepth::One,
                2 => BitDepth::Two,
                4 => BitDepth::Four,
                _ => BitDepth::Eight,
            },
            data,
            palette,
            trns,
        }
    }
}

/// A pixel of 3 or 4 bytes as RGBA.
fn rgba(p: &[u8]) -> [u8; 4] {
    [p[0], p[1], p[2], p.get(3).copied().unwrap_or(255)]
}

/// A fixed open-addressing map from at most 256 RGBA colours to palette indices.
struct ColourTable {
    /// (colour + 1 so that 0 means empty, index); twice the most entries, so probes stay short.
    slots: Box<[(u64, u8); Self::SLOTS]>,
}

impl ColourTable {
    const SLOTS: usize = 512;

    fn new() -> Self {
        Self {
            slots: Box::new([(0, 0); Self::SLOTS]),
        }
    }

    fn slot(colour: [u8; 4]) -> usize {
        // Fibonacci hashing: the top bits of a multiplication mix every byte of the colour.
        let h = u32::from_le_bytes(colour).wrapping_mul(0x9E37_79B9);
        (h >> 23) as usize
    }

    fn key(colour: [u8; 4]) -> u64 {
        u64::from(u32::from_le_bytes(colour)) + 1
    }

    fn get(&self, colour: [u8; 4]) -> Option<u8> {
        let key = Self::key(colour);
        let mut i = Self::slot(colour);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Some(v);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) % Self::SLOTS;
        }
    }

    /// Inserts a colour not yet present; the table holds at most 256, half its slots.
    fn insert(&mut self, colour: [u8; 4], index: u8) {
        let key = Self::key(colour);
        let mut i = Self::slot(colour);
        while self.slots[i].0 != 0 {
            i = (i + 1) % Self::SLOTS;
        }
        self.slots[i] = (key, index);
    }
}

#[cold]
fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("encode png: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes a PNG with the `png` crate, expanded to 8-bit RGBA, with its header colour type.
    fn decode(png: &[u8]) -> (ColorType, BitDepth, u32, u32, Vec<u8>) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
        let mut reader = decoder.read_info().unwrap();
        let (colour, depth) = {
            let info = reader.info();
            (info.color_type, info.bit_depth)
        };
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        assert_eq!(frame.bit_depth, BitDepth::Eight);
        buf.truncate(frame.buffer_size());
        let rgba = match frame.color_type {
            ColorType::Rgba => buf,
            // The `ALPHA` transformation leaves grey as grey.
            ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
            other => panic!("expanded to {other:?}"),
        };
        (colour, depth, frame.width, frame.height, rgba)
    }

    fn as_rgba(pixels: &Pixels) -> Vec<u8> {
        pixels
            .data()
            .chunks_exact(pixels.layout().channels())
            .flat_map(rgba)
            .collect()
    }

    /// Encodes, decodes and checks every pixel comes back; returns the header's colour type.
    fn round_trip(pixels: &Pixels) -> (ColorType, BitDepth) {
        let png = encode(pixels).unwrap();
        let (colour, depth, w, h, back) = decode(&png);
        assert_eq!((w, h), (pixels.width(), pixels.height()));
        assert_eq!(back, as_rgba(pixels), "pixels differ after {colour:?} {depth:?}");
        // The `image` decoder the rest of the crate uses agrees.
        let img = image::load_from_memory(&png).unwrap().into_rgba8();
        assert_eq!(img.into_raw(), as_rgba(pixels));
        (colour, depth)
    }

    /// A picture with many colours (a smooth ramp with a little hash noise).
    fn photo_like(w: u32, h: u32, layout: Layout, grey: bool, alpha: bool) -> Pixels {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 28;
                let v = |k: u32| ((x * 3 + y * k + n) % 256) as u8;
                let (r, g, b) = if grey {
                    (v(2), v(2), v(2))
                } else {
                    (v(2), v(5), v(7))
                };
                data.extend([r, g, b]);
                if layout == Layout::Rgba8 {
                    data.push(if alpha { ((x + y) % 256) as u8 } else { 255 });
                }
            }
        }
        Pixels::new(w, h, layout, data).unwrap()
    }

    #[test]
    fn rgb_photo_is_rgb() {
        let px = photo_like(70, 33, Layout::Rgb8, false, false);
        assert_eq!(round_trip(&px).0, ColorType::Rgb);
    }

    #[test]
    fn rgba_photo_is_rgba_and_opaque_rgba_is_rgb() {
        let px = photo_like(70, 33, Layout::Rgba8, false, true);
        assert_eq!(round_trip(&px).0, ColorType::Rgba);
        let px = photo_like(70, 33, Layout::Rgba8, false, false);
        assert_eq!(round_trip(&px).0, ColorType::Rgb);
    }

    #[test]
    fn grey_stays_grey() {
        let px = photo_like(70, 33, Layout::Rgb8, true, false);
        assert_eq!(round_trip(&px).0, ColorType::Grayscale);
        let px = photo_like(70, 33, Layout::Rgba8, true, false);
        assert_eq!(round_trip(&px).0, ColorType::Grayscale);
        let px = photo_like(70, 33, Layout::Rgba8, true, true);
        assert_eq!(round_trip(&px).0, ColorType::GrayscaleAlpha);
    }

    #[test]
    fn few_colours_become_a_packed_palette_with_trns() {
        // Four colours, one transparent and one half transparent: 2-bit indices.
        let colours = [[0, 0, 0, 0], [200, 10, 10, 255], [10, 200, 10, 128], [0, 0, 255, 255]];
        let (w, h) = (37, 29);
        let data = (0..w * h)
            .flat_map(|i| colours[((i / 5 + i / w) % 4) as usize])
            .collect();
        let px = Pixels::new(w, h, Layout::Rgba8, data).unwrap();
        assert_eq!(round_trip(&px), (ColorType::Indexed, BitDepth::Two));
        let png = encode(&px).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(&png[..]))
            .read_info()
            .unwrap();
        // Only the two translucent entries need alpha, and they come first.
        assert_eq!(reader.info().trns.as_deref(), Some(&[0, 128][..]));
        assert_eq!(reader.info().palette.as_deref().map(<[u8]>::len), Some(12));
    }

    #[test]
    fn palette_is_kept_only_when_smaller() {
        // 256 colours in a smooth ramp: filtered RGB beats unfiltered indices.
        let data = (0..256u32 * 64)
            .map(|i| (i % 256) as u8)
            .flat_map(|v| [v, 255 - v, v / 2])
            .collect();
        let px = Pixels::new(256, 64, Layout::Rgb8, data).unwrap();
        let (colour, _) = round_trip(&px);
        let png = encode(&px).unwrap();
        let indexed = write(256, 64, &Palette::of(&px).unwrap().image(&px)).unwrap();
        let direct = write(256, 64, &Form::of(&px).direct(&px).unwrap()).unwrap();
        assert_eq!(png.len(), indexed.len().min(direct.len()));
        assert_eq!(colour == ColorType::Indexed, indexed.len() < direct.len());
    }

    #[test]
    fn more_than_256_colours_have_no_palette() {
        let data = (0..257u32).flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 0]).collect();
        let px = Pixels::new(257, 1, Layout::Rgb8, data).unwrap();
        assert!(Palette::of(&px).is_none());
        assert_eq!(round_trip(&px).0, ColorType::Rgb);
        // Exactly 256 colours still get one.
        let data = (0..256u32).flat_map(|i| [i as u8, 0, 7]).collect();
        let px = Pixels::new(256, 1, Layout::Rgb8, data).unwrap();
        assert_eq!(Palette::of(&px).unwrap().colours.len(), 256);
        round_trip(&px);
    }

    #[test]
    fn a_fine_pattern_compresses_well() {
        // A 1-pixel checkerboard of two colours: a palette of two, one bit each.
        let (w, h) = (128, 128);
        let data = (0..w * h)
            .flat_map(|i| if (i % w + i / w) % 2 == 0 { [250, 20, 20] } else { [20, 20, 250] })
            .collect();
        let px = Pixels::new(w, h, Layout::Rgb8, data).unwrap();
        assert_eq!(round_trip(&px), (ColorType::Indexed, BitDepth::One));
        assert!(encode(&px).unwrap().len() < 200);
    }

    fn small_picture() -> impl Strategy<Value = Pixels> {
        // Few distinct values per channel make palettes and grey likely, many make photos.
        (1u32..24, 1u32..24, any::<bool>(), any::<bool>(), 1u8..=255, any::<u64>()).prop_map(
            |(w, h, rgba, grey, levels, seed)| {
                let layout = if rgba { Layout::Rgba8 } else { Layout::Rgb8 };
                let mut state = seed | 1;
                let mut next = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % u64::from(levels)) as u8 * (255 / levels)
                };
                let mut data = Vec::new();
                for _ in 0..w * h {
                    let r = next();
                    let (g, b) = if grey { (r, r) } else { (next(), next()) };
                    data.extend([r, g, b]);
                    if rgba {
                        data.push(if levels % 3 == 0 { 255 } else { next() });
                    }
                }
                Pixels::new(w, h, layout, data).unwrap()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_small_picture_round_trips(px in small_picture()) {
            let png = encode(&px).unwrap();
            let (_, _, w, h, back) = decode(&png);
            prop_assert_eq!((w, h), (px.width(), px.height()));
            prop_assert_eq!(back, as_rgba(&px));
        }
    }
}
