//! A GIF's first frame, composited on a transparent logical screen and clipped to it: RGBA,
//! or RGB when the frame covers the screen and is opaque (no transparent index, every index
//! inside its palette), the RGBA it would otherwise be with its alpha dropped.
//!
//! The `gif` crate parses the file (header, palettes, extensions, the frame's sub-blocks);
//! the LZW data of the frame is decoded by [`super::lzw`], which copies strings from its own
//! output instead of walking prefix chains, and the palette is applied straight into the
//! screen. When that fast path fails in any way (a damaged frame, codes the reference
//! decoder would refuse, a frame of no pixels), the `gif` crate decodes the file itself, so
//! every refusal and its message are the reference decoder's, with one exception: gif 0.14
//! feeds weezl 0.1 one row at a time for an interlaced frame, and when weezl then reports "no
//! progress" the rest of the sub-block is dropped, so some valid frames (small ones most)
//! are refused as "image truncated" (image-gif#232; fixed upstream with weezl 0.2), and in
//! principle could even decode out of step. Those frames decode correctly here.
//!
//! The `gif` crate is used directly (not through `image`) so that unknown extension blocks
//! are skipped, as browsers skip them.
//!
//! Reduced by an integer factor (when the square is large), the screen is composited one
//! row at a time into box sums, so only the frame's indices (a byte a pixel) and the
//! reduced picture are ever held.

use std::io::Cursor;

use crate::error::{BadImage, Error};
use crate::format::Format;
use super::reduce::BoxSums;
use crate::pixels::{Layout, Pixels};
use setphoto_kernels::lzw;

/// Decodes the first frame of a `width` x `height` GIF (its logical screen, validated),
/// reduced by box averages of `factor` x `factor` pixels (1: full size); `max_alloc` is
/// the `gif` crate's memory limit (0: none). At full size the picture is RGB when the fast
/// path finds the frame opaque and covering the screen, else RGBA; reduced it is RGBA
/// (opaque boxes keep alpha 255).
pub(super) fn decode_first_frame(
    bytes: &[u8],
    width: u32,
    height: u32,
    max_alloc: u64,
    factor: u32,
) -> Result<Pixels, Error> {
    if let Some(pixels) = decode_fast(bytes, width, height, max_alloc, factor) {
        return Ok(pixels);
    }
    decode_with_gif_crate(bytes, width, height, max_alloc, factor)
}

/// The reduced screen the box sums hold.
fn reduced_pixels(width: u32, height: u32, factor: u32, boxes: BoxSums) -> Result<Pixels, Error> {
    if !boxes.is_complete() {
        return Err(Error::internal("a GIF screen reduced from too few rows"));
    }
    let (w, h) = (width.div_ceil(factor), height.div_ceil(factor));
    Pixels::new(w, h, Layout::Rgba8, boxes.finish())
        .ok_or_else(|| Error::internal("a reduced GIF screen of the wrong length"))
}

fn options(max_alloc: u64) -> gif::DecodeOptions {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    options.allow_unknown_blocks(true);
    if let Some(limit) = std::num::NonZeroU64::new(max_alloc) {
        options.set_memory_limit(gif::MemoryLimit::Bytes(limit));
    }
    options
}

/// The fast path; `None` whenever it cannot give exactly the reference decoder's pixels.
fn decode_fast(
    bytes: &[u8],
    width: u32,
    height: u32,
    max_alloc: u64,
    factor: u32,
) -> Option<Pixels> {
    let mut options = options(max_alloc);
    // The frame's LZW data is handed over undecoded.
    options.skip_frame_decoding(true);
    let mut decoder = options.read_info(Cursor::new(bytes)).ok()?;
    let global_palette = decoder.global_palette().map(<[u8]>::to_vec);
    let frame = decoder.read_next_frame().ok()??;
    let (&min_code_bits, data) = frame.buffer.split_first()?;
    let palette = frame.palette.as_deref().or(global_palette.as_deref())?;
    let colours = colour_table(palette, frame.transparent);

    let frame_w = usize::from(frame.width);
    let frame_h = usize::from(frame.height);
    let count = frame_w.checked_mul(frame_h)?;
    let exact_fit = (frame.left, frame.top, frame.width, frame.height) == (0, 0, width as u16, height as u16);
    if factor <= 1 && exact_fit && frame.transparent.is_some() {
        let interlaced = frame.interlaced;
        if let Some(screen) =
            decode_in_place(width, height, min_code_bits, data, interlaced, &colours)
        {
            return Some(screen);
        }
    }
    let mut indices = crate::pixels::zeroed_buffer(lzw::buffer_len(count));
    let decoded = lzw::Decoder::new(min_code_bits).decode_into(data, &mut indices);
    if decoded.is_err() {
        crate::pixels::recycle(indices);
        return None;
    }

    let (w, h) = (width as usize, height as usize);
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let covers_screen = left == 0 && top == 0 && frame_w >= w && frame_h >= h;
    let pixels = &indices[lzw::LITERALS..][..count];
    if factor > 1 {
        // Where each frame row's indices are stored (interlaced frames store them in
        // passes).
        let mut stored_at = vec![0usize; frame_h];
        for (stored, row) in frame_rows(frame_h, frame.interlaced).enumerate() {
            stored_at[row] = stored;
        }
        let rect = (left, top, frame_w, frame_h);
        let screen = reduce_screen((width, height), factor, rect, |row, target| {
            let line = &pixels[stored_at[row] * frame_w..];
            for (pixel, &index) in target.chunks_exact_mut(4).zip(line) {
                pixel.copy_from_slice(&colours[usize::from(index)]);
            }
        });
        crate::pixels::recycle(indices);
        return screen.ok();
    }
    // A frame that covers the screen, with no transparent index and every index inside
    // its palette, is opaque: it goes straight to RGB (the pipeline would drop the alpha
    // of an opaque picture anyway, after a scan and a copy). Otherwise the screen is RGBA
    // and, unless the frame covers it, starts transparent.
    let colours_in_palette = palette.len() / 3;
    let opaque = covers_screen
        && frame.transparent.is_none()
        && (colours_in_palette >= 256
            || usize::from(pixels.iter().copied().max().unwrap_or(0)) < colours_in_palette);
    let layout = if opaque { Layout::Rgb8 } else { Layout::Rgba8 };
    let mut screen = if covers_screen {
        Pixels::for_overwrite(width, height, layout)?
    } else {
        Pixels::zeroed(width, height, layout)?
    };
    if left < w {
        let copy = frame_w.min(w - left);
        let channels = layout.channels();
        let canvas = screen.data_mut();
        let rows = frame_rows(frame_h, frame.interlaced);
        for (line, row) in pixels.chunks_exact(frame_w).zip(rows) {
            let y = top + row;
            if y >= h {
                continue;
            }
            let target = &mut canvas[(y * w + left) * channels..][..copy * channels];
            if opaque {
                paint_rgb(target, &line[..copy], &colours);
            } else {
                for (pixel, &index) in target.chunks_exact_mut(4).zip(&line[..copy]) {
                    pixel.copy_from_slice(&colours[usize::from(index)]);
                }
            }
        }
    }
    crate::pixels::recycle(indices);
    Some(screen)
}

/// A frame that fills its screen exactly, with a transparent index (so RGBA): its indices
/// are decoded into the last quarter of the RGBA screen (an interlaced frame's rows are
/// then put in order where they lie) and painted forwards, a row at a time, so the screen
/// and its indices never take two buffers. Painting row `y` writes up to byte
/// `4 (y + 1) w`, which stays below the next row's indices (at `3 w h - SLACK + (y + 1) w`)
/// while `3 w >= SLACK`; the row being painted is copied out first. `None` where that
/// does not hold or the codes fail (the two-buffer way then takes the frame).
fn decode_in_place(
    width: u32,
    height: u32,
    min_code_bits: u8,
    data: &[u8],
    interlaced: bool,
    colours: &[[u8; 4]; 256],
) -> Option<Pixels> {
    let (w, h) = (width as usize, height as usize);
    let pixels = w.checked_mul(h)?;
    let bytes = pixels.checked_mul(4)?;
    if 3 * w < lzw::SLACK || bytes < lzw::buffer_len(pixels) {
        return None;
    }
    let mut screen = Pixels::for_overwrite(width, height, Layout::Rgba8)?;
    let canvas = screen.data_mut();
    let at = bytes - lzw::buffer_len(pixels);
    lzw::Decoder::new(min_code_bits)
        .decode_into(data, &mut canvas[at..])
        .ok()?;
    let first = at + lzw::LITERALS;
    let mut row = vec![0u8; w];
    if interlaced {
        deinterlace(&mut canvas[first..first + pixels], w, h, &mut row);
    }
    for y in 0..h {
        row.copy_from_slice(&canvas[first + y * w..][..w]);
        for (pixel, &index) in canvas[y * w * 4..][..w * 4].chunks_exact_mut(4).zip(&row) {
            pixel.copy_from_slice(&colours[usize::from(index)]);
        }
    }
    Some(screen)
}

/// Puts the `h` rows of `w` bytes of `rows`, stored in GIF's interlace order, in top-to-
/// bottom order where they lie, following each cycle of the permutation with one spare
/// row (`spare`, `w` bytes).
fn deinterlace(rows: &mut [u8], w: usize, h: usize, spare: &mut [u8]) {
    // `target[s]`: the screen row of the row stored `s`-th.
    let target: Vec<usize> = frame_rows(h, true).collect();
    let mut placed = vec![false; h];
    for start in 0..h {
        if placed[start] || target[start] == start {
            placed[start] = true;
            continue;
        }
        // Carry the row stored at `start` to its place, the row there to its own, and so
        // on around the cycle back to `start`.
        spare.copy_from_slice(&rows[start * w..][..w]);
        let mut stored = start;
        loop {
            let to = target[stored];
            placed[stored] = true;
            if to == start {
                rows[start * w..][..w].copy_from_slice(spare);
                break;
            }
            rows[to * w..][..w].swap_with_slice(spare);
            stored = to;
        }
    }
}

/// Where a frame sits on the screen: left, top, width, height.
type FrameRect = (usize, usize, usize, usize);

/// The screen (`width` x `height`) with a frame at `rect` composited one row at a time
/// into box sums of `factor` x `factor` pixels: `paint(row, target)` writes the RGBA of
/// the frame's row `row` (top to bottom) that the screen shows into `target`.
fn reduce_screen(
    (width, height): (u32, u32),
    factor: u32,
    (left, top, frame_w, frame_h): FrameRect,
    mut paint: impl FnMut(usize, &mut [u8]),
) -> Result<Pixels, Error> {
    let copy = frame_w.min((width as usize).saturating_sub(left));
    let mut boxes = BoxSums::new(width, height, factor);
    let mut row = vec![0u8; width as usize * 4];
    for y in 0..height as usize {
        row.fill(0);
        if let Some(frame_row) = y.checked_sub(top).filter(|&r| r < frame_h && copy > 0) {
            paint(frame_row, &mut row[left * 4..][..copy * 4]);
        }
        boxes.add_row(&row);
    }
    reduced_pixels(width, height, factor, boxes)
}

/// Paints `indices` into `target` (three bytes a pixel) with `colours`' RGB, four pixels
/// at a time as three 32-bit words.
fn paint_rgb(target: &mut [u8], indices: &[u8], colours: &[[u8; 4]; 256]) {
    let colour = |index: u8| u32::from_le_bytes(colours[usize::from(index)]);
    let mut quads_to = target.chunks_exact_mut(12);
    let mut quads_from = indices.chunks_exact(4);
    for (to, from) in (&mut quads_to).zip(&mut quads_from) {
        crate::pixels::write_rgb_quad(to, std::array::from_fn(|i| colour(from[i])));
    }
    let rest = quads_to.into_remainder().chunks_exact_mut(3);
    for (to, &index) in rest.zip(quads_from.remainder()) {
        to.copy_from_slice(&colours[usize::from(index)][..3]);
    }
}

/// RGBA for each of the 256 indices: the palette's colour, alpha 0 for the transparent index;
/// indices past the palette stay transparent black, as the `gif` crate leaves them.
fn colour_table(palette: &[u8], transparent: Option<u8>) -> [[u8; 4]; 256] {
    let mut colours = [[0u8; 4]; 256];
    for (index, (colour, rgb)) in colours.iter_mut().zip(palette.chunks_exact(3)).enumerate() {
        let alpha = if transparent == Some(index as u8) {
            0
        } else {
            0xFF
        };
        *colour = [rgb[0], rgb[1], rgb[2], alpha];
    }
    colours
}

/// The frame's rows in the order its data stores them: top to bottom, or GIF's four
/// interlace passes (every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd
/// from 1).
fn frame_rows(height: usize, interlaced: bool) -> Box<dyn Iterator<Item = usize>> {
    if interlaced {
        Box::new(
            [(0, 8), (4, 8), (2, 4), (1, 2)]
                .into_iter()
                .flat_map(move |(first, step)| (first..height).step_by(step)),
        )
    } else {
        Box::new(0..height)
    }
}

/// The reference path: the `gif` crate decodes the frame to RGBA, which is then placed on
/// the screen (reduced by `factor` when it is over 1).
fn decode_with_gif_crate(
    bytes: &[u8],
    width: u32,
    height: u32,
    max_alloc: u64,
    factor: u32,
) -> Result<Pixels, Error> {
    let corrupt = |e| Error::corrupt(Format::Gif, e);
    let mut decoder = options(max_alloc)
        .read_info(Cursor::new(bytes))
        .map_err(corrupt)?;
    let frame = decoder
        .next_frame_info()
        .map_err(corrupt)?
        .ok_or(Error::BadImage(BadImage::Header {
            format: Format::Gif,
            reason: "the file has no image",
        }))?;
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let (frame_w, frame_h) = (usize::from(frame.width), usize::from(frame.height));
    let mut frame_pixels = crate::pixels::zeroed_buffer(decoder.buffer_size());
    decoder
        .read_into_buffer(&mut frame_pixels)
        .map_err(corrupt)?;

    if factor > 1 {
        let rect = (left, top, frame_w, frame_h);
        let screen = reduce_screen((width, height), factor, rect, |row, target| {
            target.copy_from_slice(&frame_pixels[row * frame_w * 4..][..target.len()]);
        });
        crate::pixels::recycle(frame_pixels);
        return screen;
    }
    let (w, h) = (width as usize, height as usize);
    let mut canvas = crate::pixels::zeroed_buffer(w * h * 4);
    if frame_w > 0 && left < w {
        let copy = frame_w.min(w - left) * 4;
        for (row, line) in frame_pixels.chunks_exact(frame_w * 4).enumerate() {
            let y = top + row;
            if y >= h {
                break;
            }
            let at = (y * w + left) * 4;
            canvas[at..at + copy].copy_from_slice(&line[..copy]);
        }
    }
    crate::pixels::recycle(frame_pixels);
    Pixels::new(width, height, Layout::Rgba8, canvas)
        .ok_or_else(|| Error::Internal("a GIF canvas of the wrong length".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::borrow::Cow;

    /// The screen size a GIF declares.
    fn screen(bytes: &[u8]) -> (u32, u32) {
        (
            u32::from(u16::from_le_bytes([bytes[6], bytes[7]])),
            u32::from(u16::from_le_bytes([bytes[8], bytes[9]])),
        )
    }

    const BUDGET: u64 = 64 << 20;

    /// The fast path on one file, held to the reference: what it decodes, the reference
    /// decodes alike. One exception, when `interlaced_may_differ`: the reference mis-reads
    /// some interlaced frames (it feeds weezl one row at a time and drops the rest of a
    /// sub-block on "no progress"), so for those only the fast path's success is returned,
    /// for the caller to hold to a pixel-by-pixel oracle where it has one.
    fn fast_agrees(
        bytes: &[u8],
        interlaced_may_differ: bool,
    ) -> Result<Option<Pixels>, TestCaseError> {
        let (w, h) = screen(bytes);
        let fast = decode_fast(bytes, w, h, BUDGET, 1);
        if let Some(pixels) = &fast {
            if interlaced_may_differ && is_interlaced(bytes) {
                return Ok(fast);
            }
            match decode_with_gif_crate(bytes, w, h, BUDGET, 1) {
                Ok(reference) => prop_assert_eq!(rgba(pixels), reference.data()),
                Err(e) => prop_assert!(false, "fast path decoded what the reference refuses: {e}"),
            }
        }
        Ok(fast)
    }

    /// `pixels` as RGBA (the fast path decodes opaque frames to RGB; the reference and
    /// the oracle give RGBA).
    fn rgba(pixels: &Pixels) -> Vec<u8> {
        match pixels.layout() {
            Layout::Rgba8 => pixels.data().to_vec(),
            Layout::Rgb8 => pixels
                .data()
                .chunks_exact(3)
                .flat_map(|rgb| [rgb[0], rgb[1], rgb[2], 255])
                .collect(),
        }
    }

    /// Whether the reference reads the first frame as interlaced (with the reference's
    /// own options: a helper that refused unknown extensions called a damaged interlaced
    /// file plain, and the reference's interlace bug then failed the comparison).
    fn is_interlaced(bytes: &[u8]) -> bool {
        let mut options = options(BUDGET);
        options.skip_frame_decoding(true);
        options
            .read_info(Cursor::new(bytes))
            .ok()
            .and_then(|mut decoder| Some(decoder.read_next_frame().ok()??.interlaced))
            .unwrap_or(false)
    }

    /// The global palette of the test files: 16 colours.
    fn global_palette() -> Vec<u8> {
        (0..48u8).map(|v| v.wrapping_mul(37)).collect()
    }

    /// A GIF from the `gif` crate's encoder: the global palette, one frame.
    fn encode(screen: (u16, u16), frame: &gif::Frame<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder =
            gif::Encoder::new(&mut out, screen.0, screen.1, &global_palette()).unwrap();
        encoder.write_frame(frame).unwrap();
        drop(encoder);
        out
    }

    /// What a viewer shows for `frame` on a transparent screen, worked out pixel by pixel:
    /// rows stored in interlace order go to their display rows, and indices the palette
    /// (padded with black to a power of two, as the encoder writes it) lacks stay clear.
    fn expected_screen(screen: (u16, u16), frame: &gif::Frame<'_>) -> Vec<u8> {
        let (w, h) = (usize::from(screen.0), usize::from(screen.1));
        let mut palette = frame.palette.clone().unwrap_or_else(global_palette);
        let entries = (palette.len() / 3).next_power_of_two().max(2);
        // Indices past the padded table stay clear.
        palette.resize(entries * 3, 0);
        let fw = usize::from(frame.width);
        let mut display_rows: Vec<usize> = (0..usize::from(frame.height)).collect();
        if frame.interlaced {
            display_rows = [(0, 8), (4, 8), (2, 4), (1, 2)]
                .into_iter()
                .flat_map(|(first, step)| (first..usize::from(frame.height)).step_by(step))
                .collect();
        }
        let mut out = vec![0u8; w * h * 4];
        for (stored, &row) in display_rows.iter().enumerate() {
            for column in 0..fw {
                let (x, y) = (
                    usize::from(frame.left) + column,
                    usize::from(frame.top) + row,
                );
                let index = frame.buffer[stored * fw + column];
                let index_at = usize::from(index) * 3;
                if index_at >= palette.len() {
                    continue;
                }
                let rgb = &palette[index_at..index_at + 3];
                if x < w && y < h {
                    let alpha = if frame.transparent == Some(index) {
                        0
                    } else {
                        255
                    };
                    out[(y * w + x) * 4..][..4].copy_from_slice(&[rgb[0], rgb[1], rgb[2], alpha]);
                }
            }
        }
        out
    }

    #[test]
    fn every_corpus_gif_decodes_to_the_reference_pixels_on_the_fast_path() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
        if !root.is_dir() {
            assert!(
                std::env::var_os("CI").is_none(),
                "../shared is missing under CI"
            );
            eprintln!("skipped: ../shared is missing");
            return;
        }
        let mut files = vec![root.join("bench/corpus/anim_512.gif")];
        let mut folders = vec![root.join("corpus")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "gif") {
                    files.push(path);
                }
            }
        }
        let mut fast = 0;
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            if bytes.len() < 13 || !bytes.starts_with(b"GIF") {
                continue;
            }
            let (w, h) = screen(&bytes);
            if u64::from(w) * u64::from(h) > 1 << 24 {
                continue; // refused before decoding, by validation
            }
            let took = fast_agrees(&bytes, false)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .is_some();
            // Every frame the reference decodes goes the fast way.
            let reference_decodes = decode_with_gif_crate(&bytes, w, h, BUDGET, 1).is_ok();
            assert_eq!(took, reference_decodes, "{}", path.display());
            fast += usize::from(took);
        }
        assert!(
            fast >= 30,
            "{fast} of {} files on the fast path",
            files.len()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any frame (placed anywhere, often at the origin, partly off the screen, interlaced or not, with a
        /// local palette, a transparent index, indices past the palette) decodes on the fast
        /// path to what a viewer shows; damaged copies are decoded fast only as the reference
        /// decodes them.
        #[test]
        fn frames_decode_as_shown_and_damage_as_the_reference_says(
            screen_size in (1u16..40, 1u16..40),
            size in (1u16..48, 1u16..48),
            place in prop_oneof![Just((0u16, 0u16)), (0u16..50, 0u16..50)],
            interlaced in any::<bool>(),
            local_colours in prop_oneof![Just(0usize), 1usize..=256],
            past_palette in prop_oneof![Just(0usize), 1usize..8],
            transparent in proptest::option::of(any::<u8>()),
            seed in any::<u64>(),
            damage in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let (width, height) = size;
            let colours = if local_colours == 0 { 16 } else { local_colours };
            let range = (colours + past_palette).min(256) as u64;
            let mut state = seed | 1;
            let indices: Vec<u8> = (0..u64::from(width) * u64::from(height))
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Runs and noise, so strings of every length appear.
                    (if (state >> 60) < 10 { i / 7 % range } else { state % range }) as u8
                })
                .collect();
            let frame = gif::Frame {
                left: place.0,
                top: place.1,
                width,
                height,
                interlaced,
                transparent,
                palette: (local_colours > 0)
                    .then(|| (0..local_colours * 3).map(|v| (v * 7) as u8).collect()),
                buffer: Cow::Owned(indices),
                ..gif::Frame::default()
            };
            let bytes = encode(screen_size, &frame);
            let decoded = fast_agrees(&bytes, true)?;
            prop_assert!(decoded.is_some(), "a well-formed frame left the fast path");
            let decoded = decoded.unwrap();
            let shown = expected_screen(screen_size, &frame);
            prop_assert!(rgba(&decoded) == shown);
            // RGB exactly when the frame covers the screen with no transparent index and
            // every index (shown or clipped) inside the palette as written (padded to a
            // power of two); an unused transparent index still gives RGBA, made RGB later.
            let covers = frame.left == 0 && frame.top == 0 && width >= screen_size.0 && height >= screen_size.1;
            let written = (frame.palette.as_ref().map_or(16, |p| p.len() / 3)).next_power_of_two().max(2);
            let in_palette = frame.buffer.iter().all(|&i| usize::from(i) < written);
            prop_assert_eq!(
                decoded.layout() == Layout::Rgb8,
                covers && frame.transparent.is_none() && in_palette
            );

            // Reduced, the screen is the full one box-averaged, whatever the factor.
            let (w, h) = (u32::from(screen_size.0), u32::from(screen_size.1));
            for factor in [2, 3, 8] {
                let reduced = decode_first_frame(&bytes, w, h, BUDGET, factor).unwrap();
                let mut boxes = BoxSums::new(w, h, factor);
                for row in shown.chunks_exact(w as usize * 4) {
                    boxes.add_row(row);
                }
                prop_assert_eq!((reduced.width(), reduced.height()), (w.div_ceil(factor), h.div_ceil(factor)));
                let expected = boxes.finish();
                prop_assert!(reduced.data() == expected.as_slice(), "factor {}", factor);
                // The reference path reduces alike (where gif 0.14 decodes the frame: see
                // the module's note on interlaced frames).
                if let Ok(reference) = decode_with_gif_crate(&bytes, w, h, BUDGET, factor) {
                    prop_assert!(reference.data() == expected.as_slice(), "reference, factor {}", factor);
                }
            }

            let mut damaged = bytes;
            for (at, bits) in damage {
                let at = 13 + at % (damaged.len() - 13);
                damaged[at] ^= bits;
            }
            fast_agrees(&damaged, true)?;
            // Reduction never changes whether a frame decodes.
            prop_assert_eq!(
                decode_first_frame(&damaged, w, h, BUDGET, 1).is_ok(),
                decode_first_frame(&damaged, w, h, BUDGET, 4).is_ok()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// A frame that fills its screen with a transparent index is decoded in place
        /// (its indices in the screen's own buffer, interlaced rows put in order there) to
        /// what a viewer shows, at any width, including the narrow ones that take the
        /// two-buffer way.
        #[test]
        fn a_transparent_frame_filling_its_screen_decodes_in_place_as_shown(
            (width, height) in (1u16..300, 1u16..60),
            interlaced in any::<bool>(),
            transparent in any::<u8>(),
            seed in any::<u64>(),
        ) {
            let mut state = seed | 1;
            let indices: Vec<u8> = (0..usize::from(width) * usize::from(height))
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (if (state >> 60) < 12 { i / 9 % 16 } else { (state % 16) as usize }) as u8
                })
                .collect();
            let frame = gif::Frame {
                width,
                height,
                interlaced,
                transparent: Some(transparent % 16),
                buffer: Cow::Owned(indices),
                ..gif::Frame::default()
            };
            let bytes = encode((width, height), &frame);
            let decoded =
                decode_first_frame(&bytes, u32::from(width), u32::from(height), BUDGET, 1).unwrap();
            prop_assert!(rgba(&decoded) == expected_screen((width, height), &frame));
        }
    }

    #[test]
    fn a_frame_far_larger_than_its_screen_is_clipped_alike_on_both_paths() {
        // Validation bounds the frame (the screen grown to every frame's extent); within
        // that, a 1x1 screen may carry a 1500x1500 frame, and only its corner shows.
        let frame = gif::Frame {
            width: 1500,
            height: 1500,
            buffer: Cow::Owned((0..1500 * 1500).map(|i| (i % 13) as u8).collect()),
            ..gif::Frame::default()
        };
        let bytes = encode((1, 1), &frame);
        let budget = super::super::allocation_budget(1, 1);
        let fast = decode_fast(&bytes, 1, 1, budget, 1).expect("the fast path");
        let reference = decode_with_gif_crate(&bytes, 1, 1, budget, 1).expect("the reference");
        assert_eq!(rgba(&fast), reference.data());
        assert_eq!(rgba(&fast), expected_screen((1, 1), &frame));
        assert_eq!(
            fast.layout(),
            Layout::Rgb8,
            "an opaque frame covering the screen"
        );
    }
}
