//! The reduced JPEG decoder: what it accepts decodes close to a full decode, box-averaged.

use super::Input;
use crate::jpeg::decoder::{Decoder, data_end, ink_to_rgb};

/// The mean difference per byte the reduced decode may have from the full decode
/// box-averaged (the decoder's own tests hold natural pictures to it), unless the decoder
/// it stands in for, `jpeg-decoder`'s scaled decode, strays further still.
const BOUND: f64 = 2.0;

/// How much further than `jpeg-decoder`'s scaled decode ours may stray past [`BOUND`]:
/// 0.05 per byte (what the decoder's tests allow on natural pictures) and 10% of
/// jpeg-decoder's own difference, for damaged data near the bound, where the two reduced
/// decoders' different chroma upsampling weighs more.
const YARDSTICK_SLACK: (f64, f64) = (0.05, 0.10);

/// The largest frame checked, in pixels: bigger ones cost the fuzzer time and memory
/// for nothing the small ones do not show.
const MAX_PIXELS: u64 = 1 << 22;

/// Input: a byte choosing the reduction (2, 4 or 8), then a JPEG file. Whatever our reduced
/// decoder accepts must have the size the frame header declares, reduced and rounded up;
/// when a full decoder (zune-jpeg through `image`, or else `jpeg-decoder`) decodes the file,
/// ours must match the full picture's box average within [`BOUND`] per byte wherever
/// `jpeg-decoder`'s own scaled decode does. A four-component file, which ours decodes to
/// inks, is compared in inks when it is sequential, against `jpeg-decoder`'s full decode
/// where that decodes it: both reduced decoders average inks, and in RGB (`ink_to_rgb`
/// multiplies each ink by the key) a difference in the key would count three times over.
/// Otherwise its inks are converted as zune-jpeg converts them ([`ink_to_rgb`]) and
/// compared in RGB: zune-jpeg reads damaged progressions as libjpeg does (as ours does),
/// where `jpeg-decoder` may read them otherwise. Where the two full decoders' pictures of
/// a four-component file differ by more than [`BOUND`], neither is taken as the oracle.
///
/// # Panics
/// When ours decodes another size, or strays further.
pub fn jpeg_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let reduction = [2u32, 4, 8][usize::from(input.byte() % 3)];
    let jpeg = input.rest();

    // The declared size, from a decoder that reads the headers only.
    let mut header = jpeg_decoder::Decoder::new(jpeg);
    let (width, height) = match header.read_info().ok().and(header.info()) {
        Some(info) => (u32::from(info.width), u32::from(info.height)),
        // Still run ours, on a size no frame should match.
        None => (1, 1),
    };
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return;
    }
    let decoder = Decoder::new(jpeg)
        .scale(reduction)
        .expect_size(width, height);
    let (reduced, channels) = match decoder.decode() {
        Ok(reduced) => (reduced, 3),
        Err(_) => match decoder.decode_ink_into(Vec::new()) {
            Ok(reduced) => (reduced, 4),
            Err(_) => return,
        },
    };
    let (rw, rh) = (width.div_ceil(reduction), height.div_ceil(reduction));
    assert_eq!(
        (reduced.width, reduced.height),
        (rw, rh),
        "the reduced size"
    );
    assert_eq!(
        reduced.rgb.len(),
        (rw * rh) as usize * channels,
        "the buffer length"
    );

    // Progressions that libjpeg reads one way and zune-jpeg and `jpeg-decoder` another:
    // bogus ones, and for inks (where the two agree with each other but not with libjpeg
    // or ours) incomplete ones.
    let progression = progression(jpeg);
    if defines_symbols_decoders_read_differently(jpeg)
        || progression == Progression::Bogus
        || (channels == 4 && progression == Progression::Incomplete)
    {
        return;
    }
    // The reduced decoder reads up to the end of the first scan and no further: what comes
    // after it (a second frame, say) is for setphoto's marker validation, which runs first
    // and refuses what libjpeg refuses. A file no full decoder decodes has nothing to be
    // compared with.
    let jpeg_decoder_inks = (channels == 4)
        .then(|| full_inks(jpeg, width, height))
        .flatten();
    let inks = jpeg_decoder_inks
        .as_deref()
        .filter(|_| progression == Progression::Sequential);
    let (ours, expected, format) = if let Some(full) = inks {
        (
            reduced.rgb,
            box_average(full, (width, height), 4, reduction),
            jpeg_decoder::PixelFormat::CMYK32,
        )
    } else {
        let Some(full) = full_decode(jpeg, width, height) else {
            return;
        };
        let ours = if channels == 4 {
            to_rgb(&reduced.rgb)
        } else {
            reduced.rgb
        };
        (
            ours,
            box_average(&full, (width, height), 3, reduction),
            jpeg_decoder::PixelFormat::RGB24,
        )
    };
    let diff = mean_difference(&ours, &expected);
    if diff < BOUND {
        return;
    }
    // For inks the two full decoders can disagree with each other (where one of them
    // strays from libjpeg): then neither is an oracle.
    if let (Some(inks), Some(zune)) = (&jpeg_decoder_inks, zune_rgb(jpeg, width, height))
        && mean_difference(&to_rgb(inks), &zune) > BOUND
    {
        return;
    }
    let yardstick = scaled_reference(jpeg, rw, rh, format)
        .map_or(f64::INFINITY, |theirs| mean_difference(&theirs, &expected));
    // Coefficients far from what an encoder writes (damaged entropy data that still decodes)
    // make the full decode clip, which no reduced IDCT follows: when jpeg-decoder's reduced
    // decode strays past the bound as well, there is no oracle for ours.
    if yardstick >= BOUND {
        return;
    }
    assert!(
        diff <= yardstick * (1.0 + YARDSTICK_SLACK.1) + YARDSTICK_SLACK.0,
        "1/{reduction} of {width}x{height}: {diff:.3} from the full decode box-averaged \
         (jpeg-decoder's scaled decode: {yardstick:.3})"
    );
}

/// Whether a Huffman table before the first scan defines a symbol outside 8-bit baseline's:
/// a DC difference of more than 11 bits, an AC coefficient of more than 10, or an AC
/// symbol of no coefficient other than end of block and sixteen zeros (0xR0, R 1..=14).
/// Decoders disagree on those: libjpeg (and ours) end the block at 0xR0, zune-jpeg and
/// `jpeg-decoder` read it as a progressive end-of-band run and skip the blocks that follow,
/// so the full decode is no oracle. (libjpeg refuses DC symbols past 15 outright, and so
/// does setphoto's validation, before any decoder runs.)
fn defines_symbols_decoders_read_differently(jpeg: &[u8]) -> bool {
    let mut at = 2;
    while let (Some(&0xFF), Some(&marker), Some(len)) =
        (jpeg.get(at), jpeg.get(at + 1), jpeg.get(at + 2..at + 4))
    {
        if marker == 0xFF {
            at += 1; // a fill byte before the marker
            continue;
        }
        if marker == 0xDA {
            break;
        }
        let end = at + 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(segment) = jpeg.get(at + 4..end) else {
            break;
        };
        let mut tables = segment;
        while marker == 0xC4 && tables.len() >= 17 {
            let dc = tables[0] >> 4 == 0;
            let count: usize = tables[1..17].iter().map(|&c| usize::from(c)).sum();
            let symbols = &tables[17..(17 + count).min(tables.len())];
            let odd = |&symbol: &u8| {
                let (run, size) = (symbol >> 4, symbol & 15);
                if dc {
                    symbol > 11
                } else {
                    size > 10 || size == 0 && !matches!(run, 0 | 15)
                }
            };
            if symbols.iter().any(odd) {
                return true;
            }
            tables = &tables[(17 + count).min(tables.len())..];
        }
        at = end;
    }
    false
}

/// What a file's scans send of its coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progression {
    /// A sequential file (SOF0 or SOF1).
    Sequential,
    /// A progressive file whose every coefficient arrives whole.
    Complete,
    /// A progressive file that leaves some coefficient unsent or unrefined.
    Incomplete,
    /// A progressive file whose scans send a coefficient's first bits twice, or refine it
    /// at another bit than the one it was left at (what libjpeg warns of as a bogus
    /// progression, and decodes on). zune-jpeg and `jpeg-decoder` read such files alike,
    /// but not as libjpeg does, which ours follows: the full decode is no oracle there.
    Bogus,
}

/// The progression of `jpeg`'s scans, from their headers.
fn progression(jpeg: &[u8]) -> Progression {
    // Per component id: per zig-zag index, the bit its value was left at (None: not sent).
    let mut sent: Vec<(u8, [Option<u8>; 64])> = Vec::new();
    let mut at = 2;
    while let (Some(&0xFF), Some(&marker)) = (jpeg.get(at), jpeg.get(at + 1)) {
        if marker == 0xFF || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            at += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let Some(len) = jpeg.get(at + 2..at + 4) else {
            break;
        };
        let end = at + 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(segment) = jpeg.get(at + 4..end) else {
            break;
        };
        match marker {
            0xC0 | 0xC1 => return Progression::Sequential,
            0xC2 => {
                let count = usize::from(segment.get(5).copied().unwrap_or(0));
                sent = (0..count)
                    .filter_map(|c| segment.get(6 + 3 * c).map(|&id| (id, [None; 64])))
                    .collect();
            }
            0xDA => {
                let count = usize::from(segment.first().copied().unwrap_or(0));
                let Some(&[start, stop, bits]) = segment.get(1 + 2 * count..4 + 2 * count) else {
                    break;
                };
                let (high, low) = (bits >> 4, bits & 15);
                for c in 0..count {
                    let id = segment.get(1 + 2 * c).copied();
                    let Some((_, coefficients)) = sent.iter_mut().find(|(i, _)| Some(*i) == id)
                    else {
                        continue;
                    };
                    let band = usize::from(start)..=usize::from(stop);
                    let expected = if high == 0 { None } else { Some(high) };
                    for coefficient in coefficients.get_mut(band).unwrap_or_default() {
                        if *coefficient != expected {
                            return Progression::Bogus;
                        }
                        *coefficient = Some(low);
                    }
                }
                // Past the entropy-coded data, as the decoder finds its end.
                at = data_end(jpeg, end);
                continue;
            }
            0xD9 => break,
            _ => {}
        }
        at = end;
    }
    let whole =
        |(_, coefficients): &(u8, [Option<u8>; 64])| coefficients.iter().all(|&bit| bit == Some(0));
    if sent.iter().all(whole) {
        Progression::Complete
    } else {
        Progression::Incomplete
    }
}

/// The full picture as RGB: zune-jpeg's (through `image`), or `jpeg-decoder`'s when zune
/// refuses; `None` when both refuse or decode another size.
fn full_decode(jpeg: &[u8], width: u32, height: u32) -> Option<Vec<u8>> {
    zune_rgb(jpeg, width, height).or_else(|| {
        let (pixels, format) = jpeg_decoder_full(jpeg, width, height)?;
        as_rgb(pixels, format)
    })
}

/// `jpeg-decoder`'s full decode and its pixel format, when it is `width` x `height`.
fn jpeg_decoder_full(
    jpeg: &[u8],
    width: u32,
    height: u32,
) -> Option<(Vec<u8>, jpeg_decoder::PixelFormat)> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().ok()?;
    let info = decoder.info()?;
    ((u32::from(info.width), u32::from(info.height)) == (width, height))
        .then_some((pixels, info.pixel_format))
}

/// zune-jpeg's full decode (through `image`) as RGB, when it is `width` x `height`.
fn zune_rgb(jpeg: &[u8], width: u32, height: u32) -> Option<Vec<u8>> {
    let picture = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).ok()?;
    let picture = picture.into_rgb8();
    (picture.dimensions() == (width, height)).then(|| picture.into_raw())
}

/// `jpeg-decoder`'s full decode of a four-component file: its inks, four bytes a pixel;
/// `None` when it refuses the file or decodes another size or kind.
fn full_inks(jpeg: &[u8], width: u32, height: u32) -> Option<Vec<u8>> {
    let (pixels, format) = jpeg_decoder_full(jpeg, width, height)?;
    (format == jpeg_decoder::PixelFormat::CMYK32).then_some(pixels)
}

/// `jpeg-decoder`'s `pixels` of `format` as RGB: grey widened, inks converted as
/// [`ink_to_rgb`] converts them.
fn as_rgb(pixels: Vec<u8>, format: jpeg_decoder::PixelFormat) -> Option<Vec<u8>> {
    match format {
        jpeg_decoder::PixelFormat::RGB24 => Some(pixels),
        jpeg_decoder::PixelFormat::L8 => Some(pixels.iter().flat_map(|&v| [v, v, v]).collect()),
        jpeg_decoder::PixelFormat::CMYK32 => Some(to_rgb(&pixels)),
        _ => None,
    }
}

/// Inks (four bytes a pixel) as RGB, through [`ink_to_rgb`].
fn to_rgb(ink: &[u8]) -> Vec<u8> {
    let mut rgb = vec![0; ink.len() / 4 * 3];
    ink_to_rgb(ink, &mut rgb);
    rgb
}

/// `jpeg-decoder`'s scaled decode as RGB, or for `CMYK32` as inks, when it comes out
/// `width` x `height`.
fn scaled_reference(
    jpeg: &[u8],
    width: u32,
    height: u32,
    format: jpeg_decoder::PixelFormat,
) -> Option<Vec<u8>> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    decoder.read_info().ok()?;
    let size = decoder
        .scale(u16::try_from(width).ok()?, u16::try_from(height).ok()?)
        .ok()?;
    if (u32::from(size.0), u32::from(size.1)) != (width, height) {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    let decoded = decoder.info()?.pixel_format;
    if format == jpeg_decoder::PixelFormat::CMYK32 {
        return (decoded == format).then_some(pixels);
    }
    as_rgb(pixels, decoded)
}

/// `full` (`channels` bytes a pixel, `width` x `height`) averaged over
/// `reduction`-square boxes, rounded; the boxes at the right and bottom edges take what
/// is left.
fn box_average(
    full: &[u8],
    (width, height): (u32, u32),
    channels: usize,
    reduction: u32,
) -> Vec<u8> {
    let (rw, rh) = (width.div_ceil(reduction), height.div_ceil(reduction));
    let mut out = Vec::with_capacity(rw as usize * rh as usize * channels);
    for y in 0..rh {
        for x in 0..rw {
            let mut sum = [0u32; 4];
            let mut n = 0;
            for yy in y * reduction..((y + 1) * reduction).min(height) {
                for xx in x * reduction..((x + 1) * reduction).min(width) {
                    let at = (yy * width + xx) as usize * channels;
                    for (total, &v) in sum.iter_mut().zip(&full[at..at + channels]) {
                        *total += u32::from(v);
                    }
                    n += 1;
                }
            }
            out.extend(sum[..channels].iter().map(|s| ((s + n / 2) / n) as u8));
        }
    }
    out
}

fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    let total: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / a.len().max(1) as f64
}
