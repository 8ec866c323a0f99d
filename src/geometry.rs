//! Pure geometry: the square (crop box or letterbox) and the rendition sizes.
//!
//! No pixels here, only integers, so property tests cover it without images.
//!
//! ```text
//!  crop box (x, y, w), clamped:          letterbox of a wide image:
//!  +---------------------+               +-----------------+  <- bar (side - h) / 2
//!  |   (x',y')           |               |#################|
//!  |     +------+        |               |   the picture   |
//!  |     |  w'  |        |               |#################|
//!  |     +------+        |               +-----------------+  <- the rest of the bar
//!  +---------------------+                side = max(w, h)
//!  w' = min(w, width, height), x' = min(x, width - w'), y' = min(y, height - w')
//! ```

use crate::error::{CropError, Error};
use crate::policy::Policy;
use crate::request::CropBox;

/// The rendition sizes of a users.setPhoto profile, largest first.
pub const RENDITION_SIZES: [u32; 7] = [1024, 512, 192, 72, 48, 32, 24];

/// The square picture the renditions are made from, in oriented image coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Square {
    /// A square region of the image (a clamped crop box, or the whole of a square image).
    Crop {
        /// Left edge.
        x: u32,
        /// Top edge.
        y: u32,
        /// Side length, at least 1.
        side: u32,
    },
    /// The whole non-square image centred on a square of its longer side.
    Letterbox {
        /// Side of the square: the image's longer side.
        side: u32,
        /// Where the image's left edge lands on the square.
        offset_x: u32,
        /// Where the image's top edge lands on the square.
        offset_y: u32,
    },
}

impl Square {
    /// The square's side length.
    #[must_use]
    pub const fn side(&self) -> u32 {
        match *self {
            Self::Crop { side, .. } | Self::Letterbox { side, .. } => side,
        }
    }
}

/// Resolves the square for an oriented `width` x `height` image and an optional crop box.
///
/// With a box: `invalid_arguments` if it starts at or past the right or bottom edge,
/// else it is clamped inside the image. Without one: the whole image if square, else a
/// centred letterbox. A zero-sized image is refused by validation before this runs; here
/// it gives `invalid_arguments` for a box and a zero-sided letterbox otherwise.
pub fn square(width: u32, height: u32, crop: Option<CropBox>) -> Result<Square, Error> {
    match crop {
        Some(crop) => {
            if crop.x() >= width || crop.y() >= height {
                return Err(Error::InvalidArguments(CropError::StartsOutside {
                    x: crop.x(),
                    y: crop.y(),
                    width,
                    height,
                }));
            }
            let side = crop.side().min(width).min(height);
            Ok(Square::Crop {
                x: crop.x().min(width - side),
                y: crop.y().min(height - side),
                side,
            })
        }
        None if width == height => Ok(Square::Crop {
            x: 0,
            y: 0,
            side: width,
        }),
        None => {
            let side = width.max(height);
            Ok(Square::Letterbox {
                side,
                offset_x: (side - width) / 2,
                offset_y: (side - height) / 2,
            })
        }
    }
}

/// The set of rendition sizes actually made, a subset of [`RENDITION_SIZES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SizeSet {
    /// Bit `i` set: `RENDITION_SIZES[i]` is made.
    mask: u8,
}

impl SizeSet {
    /// Sizes for a square of `side` px: those not larger than `side`, or all with `upscale`.
    /// A square smaller than 24 px still gets a 24 rendition.
    #[must_use]
    pub fn for_side(side: u32, upscale: bool) -> Self {
        let mut mask = 0u8;
        for (i, &size) in RENDITION_SIZES.iter().enumerate() {
            if upscale || size <= side {
                mask |= 1 << i;
            }
        }
        if mask == 0 {
            mask = 1 << (RENDITION_SIZES.len() - 1);
        }
        Self { mask }
    }

    /// The sizes made, largest first.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        RENDITION_SIZES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mask & (1 << i) != 0)
            .map(|(_, &size)| size)
    }

    /// The largest size made.
    #[must_use]
    pub fn largest(&self) -> u32 {
        self.iter()
            .next()
            .unwrap_or(RENDITION_SIZES[RENDITION_SIZES.len() - 1])
    }

    /// Whether `size` is made.
    #[must_use]
    pub fn contains(&self, size: u32) -> bool {
        self.iter().any(|s| s == size)
    }

    /// The rendition that serves profile key `image_<key>`: the key's own size when made,
    /// else the largest rendition made (a larger key aliases it; Slack does the same).
    #[must_use]
    pub fn rendition_for(&self, key: u32) -> u32 {
        if self.contains(key) {
            key
        } else {
            self.largest()
        }
    }

    /// How many sizes are made.
    #[must_use]
    pub fn len(&self) -> usize {
        self.mask.count_ones() as usize
    }

    /// Never true: a set always has at least one size. Here for API completeness.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.mask == 0
    }
}

/// Everything decided before pixels exist: the square and the sizes to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Plan {
    /// The square the renditions show.
    pub square: Square,
    /// The rendition sizes to make.
    pub sizes: SizeSet,
}

impl Plan {
    /// The DCT reduction a JPEG may be decoded at for this plan: see [`dct_reduction`].
    #[must_use]
    pub fn dct_reduction(&self) -> u32 {
        dct_reduction(self.square.side(), self.sizes.iter().next().unwrap_or(0))
    }
}

/// Plans the square and sizes for an oriented image of `width` x `height`.
pub fn plan(
    (width, height): (u32, u32),
    crop: Option<CropBox>,
    policy: &Policy,
) -> Result<Plan, Error> {
    let square = square(width, height, crop)?;
    Ok(Plan {
        square,
        sizes: SizeSet::for_side(square.side(), policy.upscale),
    })
}

/// Where a picture lands in a square canvas: the rectangle it is resized into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Left edge in the canvas.
    pub x: u32,
    /// Top edge in the canvas.
    pub y: u32,
    /// Width of the resized picture, at least 1.
    pub width: u32,
    /// Height of the resized picture, at least 1.
    pub height: u32,
}

/// Where a `width` x `height` picture, letterboxed on a square of its longer side, lands in
/// a `target` x `target` canvas: scaled so the longer side fills `target`, rounded to
/// whole pixels (at least 1), centred.
#[must_use]
pub fn letterbox_placement(width: u32, height: u32, target: u32) -> Placement {
    let side = u64::from(width.max(height).max(1));
    let scale = |len: u32| -> u32 {
        let scaled = (u64::from(len) * u64::from(target) * 2 + side) / (2 * side);
        u32::try_from(scaled)
            .unwrap_or(target)
            .clamp(1, target.max(1))
    };
    let (w, h) = (scale(width), scale(height));
    Placement {
        x: (target - w) / 2,
        y: (target - h) / 2,
        width: w,
        height: h,
    }
}

/// The JPEG DCT reductions a decoder can apply while decoding (1/1, 1/2, 1/4, 1/8).
pub const DCT_REDUCTIONS: [u32; 4] = [1, 2, 4, 8];

/// The largest DCT reduction `d` (decode at 1/`d`) that still leaves a square of `side`
/// pixels at least `largest` pixels across, so the largest rendition is never upscaled
/// from a reduced decode. 1 when none fits (or for an upscaled rendition).
#[must_use]
pub fn dct_reduction(side: u32, largest: u32) -> u32 {
    DCT_REDUCTIONS
        .into_iter()
        .rev()
        .find(|&d| u64::from(side) >= u64::from(largest) * u64::from(d))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dct_reduction_examples() {
        // 12 MP letterboxed to 4032: 1/4 would give 1008 < 1024.
        assert_eq!(dct_reduction(4032, 1024), 2);
        assert_eq!(dct_reduction(4096, 1024), 4);
        assert_eq!(dct_reduction(1080, 1024), 1);
        assert_eq!(dct_reduction(600, 512), 1);
        assert_eq!(dct_reduction(8000, 512), 8);
        assert_eq!(dct_reduction(100, 1024), 1); // upscaling
        assert_eq!(dct_reduction(0, 0), 8);
    }

    proptest! {
        #[test]
        fn dct_reduction_is_the_largest_that_keeps_the_largest_size(
            side in 1u32..100_000,
            largest in 1u32..=1024,
        ) {
            let d = dct_reduction(side, largest);
            prop_assert!(DCT_REDUCTIONS.contains(&d));
            if d > 1 {
                prop_assert!(f64::from(side) / f64::from(d) >= f64::from(largest));
            }
            if d < 8 {
                // The next reduction would fall short of the largest size.
                prop_assert!(f64::from(side) / f64::from(2 * d) < f64::from(largest));
            }
        }
    }

    fn crop(x: u32, y: u32, side: u32) -> Option<CropBox> {
        Some(CropBox::new(x, y, side).unwrap())
    }

    #[test]
    fn crop_box_is_clamped_to_the_short_side() {
        assert_eq!(
            square(300, 200, crop(50, 0, 1000)).unwrap(),
            Square::Crop {
                x: 50,
                y: 0,
                side: 200
            }
        );
        assert_eq!(
            square(300, 200, crop(250, 150, 100)).unwrap(),
            Square::Crop {
                x: 200,
                y: 100,
                side: 100
            }
        );
    }

    #[test]
    fn a_box_starting_outside_is_invalid() {
        for (x, y) in [(300, 0), (0, 200), (u32::MAX, u32::MAX)] {
            assert_eq!(
                square(300, 200, crop(x, y, 10)).unwrap_err().code(),
                "invalid_arguments"
            );
        }
        assert!(square(300, 200, crop(299, 199, 10)).is_ok());
    }

    #[test]
    fn letterbox_centres_a_wide_image() {
        assert_eq!(
            square(300, 200, None).unwrap(),
            Square::Letterbox {
                side: 300,
                offset_x: 0,
                offset_y: 50
            }
        );
        assert_eq!(
            square(4000, 10, None).unwrap(),
            Square::Letterbox {
                side: 4000,
                offset_x: 0,
                offset_y: 1995
            }
        );
        assert_eq!(
            square(7, 7, None).unwrap(),
            Square::Crop {
                x: 0,
                y: 0,
                side: 7
            }
        );
    }

    #[test]
    fn sizes_stop_at_the_side_unless_upscaling() {
        let sizes: Vec<u32> = SizeSet::for_side(200, false).iter().collect();
        assert_eq!(sizes, [192, 72, 48, 32, 24]);
        assert_eq!(SizeSet::for_side(200, false).rendition_for(1024), 192);
        assert_eq!(SizeSet::for_side(200, false).rendition_for(48), 48);
        let tiny: Vec<u32> = SizeSet::for_side(5, false).iter().collect();
        assert_eq!(tiny, [24]);
        assert_eq!(SizeSet::for_side(5, true).len(), 7);
        assert_eq!(SizeSet::for_side(1024, false).len(), 7);
        assert_eq!(SizeSet::for_side(1023, false).largest(), 512);
    }

    #[test]
    fn placement_of_extreme_shapes_keeps_a_pixel() {
        assert_eq!(
            letterbox_placement(4000, 10, 24),
            Placement {
                x: 0,
                y: 11,
                width: 24,
                height: 1
            }
        );
        assert_eq!(
            letterbox_placement(600, 400, 192),
            Placement {
                x: 0,
                y: 32,
                width: 192,
                height: 128
            }
        );
    }

    proptest! {
        #[test]
        fn any_box_is_invalid_or_a_square_inside(
            width in 1u32..100_000, height in 1u32..100_000,
            x: u32, y: u32, side in 1u32..,
        ) {
            match square(width, height, crop(x, y, side)) {
                Err(e) => {
                    prop_assert_eq!(e.code(), "invalid_arguments");
                    prop_assert!(x >= width || y >= height);
                }
                Ok(Square::Crop { x: cx, y: cy, side: s }) => {
                    prop_assert!(s >= 1 && s <= width.min(height) && s <= side);
                    prop_assert!(u64::from(cx) + u64::from(s) <= u64::from(width));
                    prop_assert!(u64::from(cy) + u64::from(s) <= u64::from(height));
                    prop_assert!(cx <= x && cy <= y);
                }
                Ok(other) => prop_assert!(false, "a box gave {:?}", other),
            }
        }

        #[test]
        fn letterbox_is_centred_and_covers_the_image(width in 1u32..100_000, height in 1u32..100_000) {
            let sq = square(width, height, None).unwrap();
            prop_assert_eq!(sq.side(), width.max(height));
            if let Square::Letterbox { side, offset_x, offset_y } = sq {
                prop_assert!(offset_x + width <= side && offset_y + height <= side);
                let (right, bottom) = (side - width - offset_x, side - height - offset_y);
                prop_assert!(right.abs_diff(offset_x) <= 1 && bottom.abs_diff(offset_y) <= 1);
                prop_assert!(offset_x == 0 || offset_y == 0);
            } else {
                prop_assert_eq!(width, height);
            }
        }

        #[test]
        fn sizes_never_exceed_the_square_unless_upscaling(side in 1u32..5000, upscale: bool) {
            let sizes = SizeSet::for_side(side, upscale);
            prop_assert!(!sizes.is_empty());
            for size in sizes.iter() {
                prop_assert!(upscale || size <= side || (size == 24 && side < 24));
            }
            for key in RENDITION_SIZES {
                prop_assert!(sizes.contains(sizes.rendition_for(key)));
            }
        }

        #[test]
        fn placement_fits_and_is_centred(width in 1u32..100_000, height in 1u32..100_000, target in 1u32..2048) {
            let p = letterbox_placement(width, height, target);
            prop_assert!(p.width >= 1 && p.height >= 1);
            prop_assert!(p.x + p.width <= target && p.y + p.height <= target);
            prop_assert!((target - p.width - p.x).abs_diff(p.x) <= 1);
            prop_assert!((target - p.height - p.y).abs_diff(p.y) <= 1);
            prop_assert!(p.width == target || p.height == target);
        }
    }
}
