//! The most memory one image's rendering needs, from its header and plan alone (before any
//! pixel is decoded), so that a server or batch can admit images by a memory budget.
//!
//! The estimate is an upper bound on the heap the engine allocates while rendering one
//! image (the upload's own bytes, which the caller already holds, are not counted), and is
//! the largest of three phases, each a sum of buffers that are alive together:
//!
//! - **decode**: the decoder's working memory and the decoded picture;
//! - **orient**: a picture rotated by its EXIF orientation (5 to 8) is copied once;
//! - **render**: the picture, the resize stage's scratch (with alpha, the premultiplied
//!   copy of the rows and columns it reads, and one intermediate pass of up to 1024 rows
//!   or columns; in linear light, the whole picture widened to 16 bits a sample, with alpha
//!   premultiplied once more, and the pass at 16 bits)
//!   and the renditions with their encoders.
//!
//! plus what runs beside them: the cleaned original (at most the upload's size) and a fixed
//! allowance ([`FIXED_BYTES`]) for renditions, encoders, colour transforms and tables.
//!
//! Per format, with `w` x `h` the stored size, `k` the plan's reduction
//! ([`crate::geometry::dct_reduction`]) and `px(k)` = `ceil(w/k) * ceil(h/k)`:
//!
//! | input | decode phase (bytes) |
//! |---|---|
//! | PNG, not interlaced | `4 px(k)` + `16 ceil(w/k)` box sums (when `k > 1`) + `32 w` rows + the upload (text chunks) |
//! | PNG, interlaced | `4 w h` + `4 px(k)` (when `k > 1`) + `32 w` + the upload |
//! | JPEG | `3 w h` + `128` a coefficient block (progressive) + `w h` (grey) or `5 w h` (four components) + `64 w` rows |
//! | GIF | `4 f` + `4 w h` + the upload; reduced (`k > 1`): `4 f` + `4 px(k)` + `4 w` + the upload |
//!
//! where `f` is the larger of the GIF's screen (`w h`) and its first frame, which may be
//! far larger than the screen.
//!
//! Four components take a decoder's four planes and, for a CMYK file converted through its
//! profile, jpeg-decoder's CMYK picture beside them, then that picture beside the RGB one.
//!
//! A JPEG is bounded by its full decode whatever `k`: a reduced decoder may refuse a
//! damaged file, which then decodes at full size (so that reduction never changes whether
//! an upload is accepted). A file with little data behind a large header is exactly such a
//! file, and its full decode is what the budget must hold.

use crate::geometry::{Plan, Square};
use crate::validate::{Detail, Validated};

/// Renditions (all seven at most 5.6 MB as RGBA), their encoders' buffers, colour
/// transforms and the resize stage's kernels and thread-local buffers.
pub(crate) const FIXED_BYTES: u64 = 24 << 20;

/// The largest rendition side, which bounds the resize stage's intermediate pass.
const LARGEST: u64 = 1024;

/// The estimated peak heap, in bytes, of rendering an upload of `input_len` bytes whose
/// header is `validated`, as `plan` says, in linear light when `linear`.
#[must_use]
pub(crate) fn peak_bytes(
    validated: &Validated,
    plan: &Plan,
    input_len: usize,
    linear: bool,
) -> u64 {
    let input = input_len as u64;
    let (w, h) = validated.stored_size();
    let (w, h) = (u64::from(w), u64::from(h));
    let k = u64::from(plan.dct_reduction().max(1));
    let px = |k: u64| w.div_ceil(k).saturating_mul(h.div_ceil(k));
    // The decode phase, the decoded picture's bytes, its channels, and the reduction
    // the resize stage then works at.
    let (decode, picture, channels, alpha, k) = match validated.detail() {
        Detail::Png { interlaced, alpha } => {
            let reduced = px(k).saturating_mul(4);
            let working = if interlaced {
                px(1).saturating_mul(4) + if k > 1 { reduced } else { 0 }
            } else {
                reduced + if k > 1 { w.div_ceil(k) * 16 } else { 0 }
            };
            (working + 32 * w + input, reduced, 4, alpha, k)
        }
        Detail::Jpeg {
            progressive,
            components,
            blocks,
            strays,
        } => {
            let picture = px(1).saturating_mul(3);
            let coefficients = if progressive {
                blocks.saturating_mul(128)
            } else {
                0
            };
            let converted = match components {
                1 => px(1),
                4 => px(1).saturating_mul(5),
                _ => 0,
            };
            // A file with strays is decoded from a copy without them.
            let copy = if strays { input } else { 0 };
            let working = picture
                .saturating_add(coefficients)
                .saturating_add(converted)
                .saturating_add(copy)
                .saturating_add(64 * w);
            (working, picture, 3, false, 1)
        }
        Detail::Gif { first_frame } => {
            let picture = px(k).saturating_mul(4);
            // The reference decoder's RGBA frame (the fast path's indices are a quarter of
            // it), counted at the screen's size at least.
            let frame = first_frame.max(px(1)).saturating_mul(4);
            let working = if k > 1 {
                // With the reduced screen and one screen row.
                frame.saturating_add(picture) + 4 * w
            } else {
                // With the RGBA screen.
                frame.saturating_add(px(1).saturating_mul(4))
            };
            (working.saturating_add(input), picture, 4, true, k)
        }
    };
    let orient = if validated.orientation().swaps_sides() {
        picture.saturating_mul(2)
    } else {
        picture
    };
    // The region the renditions are made from, in decoded pixels.
    let (region_w, region_h) = match plan.square {
        Square::Crop { side, .. } => {
            let side = u64::from(side).div_ceil(k);
            (side, side)
        }
        Square::Letterbox { .. } => {
            let (ow, oh) = validated.oriented_size();
            (u64::from(ow).div_ceil(k), u64::from(oh).div_ceil(k))
        }
    };
    // With alpha, the resize stage premultiplies the rows and columns it reads: the
    // region's and the filter's reach around them (copied out first, when they are not
    // the picture's whole width).
    let premultiplied = if alpha {
        let (ow, oh) = validated.oriented_size();
        let (picture_w, picture_h) = (u64::from(ow).div_ceil(k), u64::from(oh).div_ceil(k));
        let largest = u64::from(plan.sizes.iter().next().unwrap_or(1).max(1));
        let read = |region: u64, picture: u64| {
            let reach = 2 * (3 * region.div_ceil(largest).max(1) + 3);
            region.saturating_add(reach).min(picture)
        };
        let (columns, rows) = (read(region_w, picture_w), read(region_h, picture_h));
        let copies = if columns < picture_w { 2 } else { 1 };
        columns.saturating_mul(rows).saturating_mul(4 * copies)
    } else {
        0
    };
    // fir's intermediate: the columns (or rows) read, by the rendition's rows (columns).
    let pass = LARGEST
        .saturating_mul(region_w.max(region_h))
        .saturating_mul(channels);
    let render = if linear {
        // The picture widened to 16-bit linear light, with alpha fir's premultiplied copy
        // of all of it, and the intermediate pass at 16 bits a sample.
        let wide = picture.saturating_mul(2);
        let premultiplied_wide = if alpha { wide } else { 0 };
        picture
            .saturating_add(wide)
            .saturating_add(premultiplied_wide)
            .saturating_add(pass.saturating_mul(2))
    } else {
        picture.saturating_add(premultiplied).saturating_add(pass)
    };
    decode
        .max(orient)
        .max(render)
        .saturating_add(input)
        .saturating_add(FIXED_BYTES)
}
