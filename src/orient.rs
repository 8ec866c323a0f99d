//! EXIF orientation: read from the header's TIFF block, applied to decoded pixels.
//!
//! Reading is pure and bounds-checked (any malformed EXIF means "no rotation", as browsers
//! do); applying is done by [`crate::decode`] right after decoding.

/// How the stored pixels must be transformed to show the picture upright (EXIF tag 0x0112).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Orientation {
    /// 1: as stored (also: no tag, or an invalid one).
    #[default]
    Normal,
    /// 2: mirrored left-right.
    FlipHorizontal,
    /// 3: rotated 180 degrees.
    Rotate180,
    /// 4: mirrored top-bottom.
    FlipVertical,
    /// 5: mirrored along the main diagonal (transpose).
    Transpose,
    /// 6: rotate 90 degrees clockwise to display.
    Rotate90,
    /// 7: mirrored along the anti-diagonal (transverse).
    Transverse,
    /// 8: rotate 270 degrees clockwise (90 counter-clockwise) to display.
    Rotate270,
}

impl Orientation {
    /// The orientation for an EXIF value 1..=8; anything else is `Normal`.
    #[must_use]
    pub const fn from_exif_value(value: u16) -> Self {
        match value {
            2 => Self::FlipHorizontal,
            3 => Self::Rotate180,
            4 => Self::FlipVertical,
            5 => Self::Transpose,
            6 => Self::Rotate90,
            7 => Self::Transverse,
            8 => Self::Rotate270,
            _ => Self::Normal,
        }
    }

    /// The EXIF value of this orientation, 1..=8.
    #[must_use]
    pub const fn exif_value(self) -> u16 {
        match self {
            Self::Normal => 1,
            Self::FlipHorizontal => 2,
            Self::Rotate180 => 3,
            Self::FlipVertical => 4,
            Self::Transpose => 5,
            Self::Rotate90 => 6,
            Self::Transverse => 7,
            Self::Rotate270 => 8,
        }
    }

    /// Whether showing the picture upright swaps width and height.
    #[must_use]
    pub const fn swaps_sides(self) -> bool {
        matches!(
            self,
            Self::Transpose | Self::Rotate90 | Self::Transverse | Self::Rotate270
        )
    }

    /// The displayed size of a stored `width` x `height` picture.
    #[must_use]
    pub const fn display_size(self, width: u32, height: u32) -> (u32, u32) {
        if self.swaps_sides() {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// Reads the orientation tag from a TIFF block (the EXIF payload after `Exif\0\0`).
    /// Malformed or missing data gives `Normal`.
    #[must_use]
    pub fn from_tiff(tiff: &[u8]) -> Self {
        read_orientation_tag(tiff).map_or(Self::Normal, Self::from_exif_value)
    }

    /// The `image` crate's name for this orientation.
    pub(crate) const fn to_image(self) -> image::metadata::Orientation {
        use image::metadata::Orientation as O;
        match self {
            Self::Normal => O::NoTransforms,
            Self::FlipHorizontal => O::FlipHorizontal,
            Self::Rotate180 => O::Rotate180,
            Self::FlipVertical => O::FlipVertical,
            Self::Transpose => O::Rotate90FlipH,
            Self::Rotate90 => O::Rotate90,
            Self::Transverse => O::Rotate270FlipH,
            Self::Rotate270 => O::Rotate270,
        }
    }
}

/// The value of tag 0x0112 in IFD0, if it is present and well-formed.
fn read_orientation_tag(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries).find_map(|i| {
        let entry = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        const ORIENTATION: u16 = 0x0112;
        const SHORT: u16 = 3;
        (u16_at(entry)? == ORIENTATION && u16_at(entry + 2)? == SHORT && u32_at(entry + 4)? >= 1)
            .then(|| u16_at(entry + 8))
            .flatten()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal TIFF block with one IFD0 entry: Orientation = `value`.
    pub(crate) fn tiff_with_orientation(value: u16, big_endian: bool) -> Vec<u8> {
        let mut t = Vec::new();
        let w16 = |t: &mut Vec<u8>, v: u16| {
            t.extend(if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let w32 = |t: &mut Vec<u8>, v: u32| {
            t.extend(if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        t.extend(if big_endian { b"MM" } else { b"II" });
        w16(&mut t, 42);
        w32(&mut t, 8);
        w16(&mut t, 1);
        w16(&mut t, 0x0112);
        w16(&mut t, 3);
        w32(&mut t, 1);
        w16(&mut t, value);
        w16(&mut t, 0);
        w32(&mut t, 0);
        t
    }

    #[test]
    fn reads_every_value_in_both_byte_orders() {
        for value in 1..=8 {
            for big in [false, true] {
                let o = Orientation::from_tiff(&tiff_with_orientation(value, big));
                assert_eq!(o.exif_value(), value);
            }
        }
    }

    #[test]
    fn malformed_exif_is_normal() {
        let good = tiff_with_orientation(6, false);
        // The value ends at byte 20; every shorter block loses it.
        for len in 0..20 {
            assert_eq!(
                Orientation::from_tiff(&good[..len]),
                Orientation::Normal,
                "{len}"
            );
        }
        assert_eq!(
            Orientation::from_tiff(&tiff_with_orientation(9, true)),
            Orientation::Normal
        );
        assert_eq!(
            Orientation::from_tiff(&tiff_with_orientation(0, true)),
            Orientation::Normal
        );
        let mut bad_offset = good.clone();
        bad_offset[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Orientation::from_tiff(&bad_offset), Orientation::Normal);
    }

    #[test]
    fn rotations_swap_the_displayed_sides() {
        for value in 1..=8 {
            let o = Orientation::from_exif_value(value);
            let expected = if value >= 5 { (20, 10) } else { (10, 20) };
            assert_eq!(o.display_size(10, 20), expected, "{o:?}");
        }
    }
}
