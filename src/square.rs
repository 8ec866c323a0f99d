//! Stage 3: the square the renditions show, as a view: a crop box is a region of the
//! upright pixels, a letterbox places them on bars. No full-size canvas is made; the
//! resize stage draws straight into each rendition.

use crate::decode::Oriented;
use crate::geometry::Square;
use crate::pixels::Pixels;

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
