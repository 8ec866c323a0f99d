//! Stage 3: the square the renditions show, as a view: a crop box is a region of the
//! upright pixels, a letterbox places them on bars. No full-size canvas is made; the
//! resize stage draws straight into each rendition, and this stage says where the picture
//! lies in each and fills the bars around it.

use crate::decode::Oriented;
use crate::error::Error;
use crate::geometry::{Square, letterbox_placement};
use crate::pixels::{Layout, Pixels};

/// What fills the letterbox bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bars {
    /// Fully transparent (the output keeps alpha).
    Transparent,
    /// An opaque colour (the output has no alpha).
    Colour([u8; 3]),
}

/// Upright pixels with the square to show from them.
#[derive(Debug, Clone)]
pub struct SquareImage {
    picture: Oriented,
    square: Square,
    bars: Bars,
}

impl SquareImage {
    /// The upright pixels the square is taken from.
    #[must_use]
    pub fn pixels(&self) -> &Pixels {
        self.picture.pixels()
    }

    /// The square, in full-resolution coordinates: a region of the picture, or a
    /// letterbox around it.
    #[must_use]
    pub const fn square(&self) -> Square {
        self.square
    }

    /// The decoded picture, with its DCT reduction and full-resolution size (which
    /// [`Self::square`] refers to).
    #[must_use]
    pub const fn picture(&self) -> &Oriented {
        &self.picture
    }

    /// What fills letterbox bars.
    #[must_use]
    pub const fn bars(&self) -> Bars {
        self.bars
    }

    /// The part of the decoded pixels the square shows, in their (possibly reduced)
    /// coordinates: the crop box, or the whole picture of a letterbox.
    #[must_use]
    pub(crate) fn source_region(&self) -> Region {
        let (full_w, full_h) = self.picture.full_size();
        let d = f64::from(self.picture.reduction().max(1));
        match self.square {
            Square::Crop { x, y, side } => Region {
                x: f64::from(x) / d,
                y: f64::from(y) / d,
                width: f64::from(side) / d,
                height: f64::from(side) / d,
            },
            Square::Letterbox { .. } => Region {
                x: 0.0,
                y: 0.0,
                width: f64::from(full_w) / d,
                height: f64::from(full_h) / d,
            },
        }
    }

    /// Where the picture lies in a `size` x `size` rendition: all of it for a crop, the
    /// letterbox placement between the bars otherwise.
    #[must_use]
    pub(crate) fn placement(&self, size: u32) -> Rect {
        match self.square {
            Square::Crop { .. } => Rect {
                x: 0,
                y: 0,
                width: size,
                height: size,
            },
            Square::Letterbox { .. } => {
                let (full_w, full_h) = self.picture.full_size();
                let p = letterbox_placement(full_w, full_h, size);
                Rect {
                    x: p.x,
                    y: p.y,
                    width: p.width,
                    height: p.height,
                }
            }
        }
    }
}

/// Pairs decoded pixels with their planned square.
///
/// `square` must come from [`crate::geometry::plan`] for these pixels' size, which
/// [`crate::process`] guarantees; the resize stage re-checks the bounds.
#[must_use]
pub fn apply(oriented: Oriented, square: Square, bars: Bars) -> SquareImage {
    SquareImage {
        picture: oriented,
        square,
        bars,
    }
}

/// A source region, in (possibly fractional) pixels of the decoded picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Region {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// `picture` drawn at `at` on a `size` x `size` canvas of bars.
pub(crate) fn place(picture: &Pixels, at: Rect, size: u32, bars: Bars) -> Result<Pixels, Error> {
    let layout = picture.layout();
    let mut canvas =
        Pixels::for_overwrite(size, size, layout).ok_or_else(|| Error::Internal("a letterbox canvas too large for memory".into()))?;
    let channels = layout.channels();
    let bar = |data: &mut [u8]| fill_bars(data, layout, bars);
    // Every byte is written once: the bars around the picture, the picture's rows.
    let row_len = size as usize * channels;
    let (left, row_bytes) = (at.x as usize * channels, at.width as usize * channels);
    let rows = between_bars(
        canvas.data_mut(),
        row_len,
        at.y..at.y + at.height,
        layout,
        bars,
    );
    for (row, line) in rows
        .chunks_exact_mut(row_len)
        .zip(picture.data().chunks_exact(row_bytes))
    {
        let (before, rest) = row.split_at_mut(left);
        let (middle, after) = rest.split_at_mut(row_bytes);
        bar(before);
        middle.copy_from_slice(line);
        bar(after);
    }
    Ok(canvas)
}

/// Fills the rows of `canvas` (each `row_len` bytes) above and below `rows` with the bars
/// and returns `rows`' bytes, for the picture.
pub(crate) fn between_bars(
    canvas: &mut [u8],
    row_len: usize,
    rows: std::ops::Range<u32>,
    layout: Layout,
    bars: Bars,
) -> &mut [u8] {
    let (above, rest) = canvas.split_at_mut(rows.start as usize * row_len);
    let (picture_rows, below) = rest.split_at_mut(rows.len() * row_len);
    fill_bars(above, layout, bars);
    fill_bars(below, layout, bars);
    picture_rows
}

/// Fills `data` (a whole number of `layout` pixels) with the bars' colour.
fn fill_bars(data: &mut [u8], layout: Layout, bars: Bars) {
    match (layout, bars) {
        (_, Bars::Transparent) => data.fill(0),
        (Layout::Rgb8, Bars::Colour(rgb)) => fill_with(data, &rgb),
        (Layout::Rgba8, Bars::Colour([r, g, b])) => fill_with(data, &[r, g, b, 255]),
    }
}

/// Fills `data` (a whole number of pixels) with copies of `pixel`, by doubling copies:
/// memcpy speed, where a 3-byte store per pixel is several times slower.
fn fill_with(data: &mut [u8], pixel: &[u8]) {
    let Some(first) = data.get_mut(..pixel.len()) else {
        return;
    };
    first.copy_from_slice(pixel);
    let mut filled = pixel.len();
    while filled < data.len() {
        let n = filled.min(data.len() - filled);
        data.copy_within(..n, filled);
        filled += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_puts_the_picture_at_its_rectangle_and_bars_everywhere_else() {
        // A 2x3 picture in a 5x5 canvas at (1, 1): bars on all four sides, of each kind.
        let picture = |layout: Layout| {
            let channels = layout.channels();
            let data = (0..2 * 3 * channels).map(|i| 100 + i as u8).collect();
            Pixels::new(2, 3, layout, data).unwrap()
        };
        let at = Rect {
            x: 1,
            y: 1,
            width: 2,
            height: 3,
        };
        let cases = [
            (Layout::Rgb8, Bars::Colour([1, 2, 3]), vec![1, 2, 3]),
            (Layout::Rgba8, Bars::Colour([1, 2, 3]), vec![1, 2, 3, 255]),
            (Layout::Rgba8, Bars::Transparent, vec![0, 0, 0, 0]),
        ];
        for (layout, bars, bar) in cases {
            let picture = picture(layout);
            let canvas = place(&picture, at, 5, bars).unwrap();
            let channels = layout.channels();
            for y in 0..5usize {
                for x in 0..5usize {
                    let got = &canvas.data()[(y * 5 + x) * channels..][..channels];
                    let inside = (1..3).contains(&x) && (1..4).contains(&y);
                    let want = if inside {
                        &picture.data()[((y - 1) * 2 + x - 1) * channels..][..channels]
                    } else {
                        &bar[..]
                    };
                    assert_eq!(got, want, "{layout:?} {bars:?} at {x},{y}");
                }
            }
        }
    }


    #[test]
    fn fill_with_repeats_the_pixel_over_the_whole_buffer() {
        for pixels in [0, 1, 2, 3, 7, 64, 1000] {
            let mut data = vec![9; pixels * 3];
            fill_with(&mut data, &[1, 2, 3]);
            assert_eq!(data, [1, 2, 3].repeat(pixels), "{pixels} pixels");
        }
    }
}
