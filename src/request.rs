//! What users.setPhoto takes: image bytes and an optional square crop box.
//!
//! The crop fields arrive as form strings; [`SetPhotoRequest::from_form`] parses them the
//! way the form sends them (decimal digits only: no sign, no spaces, no fraction).

use bytes::Bytes;

use crate::error::{CropError, Error};

/// A square crop box in the oriented image's pixel coordinates: top-left corner and side.
///
/// The box is what the user asked for; [`crate::geometry::plan`] clamps it to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CropBox {
    x: u32,
    y: u32,
    side: u32,
}

impl CropBox {
    /// A box with its top-left corner at (`x`, `y`) and sides of `side` pixels.
    ///
    /// A `side` of zero is refused here (`invalid_arguments`), so every `CropBox` is non-empty.
    pub fn new(x: u32, y: u32, side: u32) -> Result<Self, Error> {
        if side == 0 {
            return Err(Error::InvalidArguments(CropError::ZeroSide));
        }
        Ok(Self { x, y, side })
    }

    /// Left edge.
    #[must_use]
    pub const fn x(&self) -> u32 {
        self.x
    }

    /// Top edge.
    #[must_use]
    pub const fn y(&self) -> u32 {
        self.y
    }

    /// Side length (never zero).
    #[must_use]
    pub const fn side(&self) -> u32 {
        self.side
    }
}

/// One users.setPhoto call: the uploaded bytes and the optional crop box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPhotoRequest {
    image: Bytes,
    /// The box as asked for, checked by [`SetPhotoRequest::crop_box`].
    crop: Option<(u32, u32, u32)>,
}

impl SetPhotoRequest {
    /// A request for `image` without a crop box (a non-square image will be letterboxed).
    #[must_use]
    pub fn new(image: impl Into<Bytes>) -> Self {
        Self {
            image: image.into(),
            crop: None,
        }
    }

    /// Returns this request with the crop box (`x`, `y`, `side`).
    ///
    /// A `side` of zero makes [`crate::process`] answer `invalid_arguments`, as the form
    /// would; use [`CropBox::new`] to catch it earlier.
    #[must_use]
    pub fn crop(mut self, x: u32, y: u32, side: u32) -> Self {
        self.crop = Some((x, y, side));
        self
    }

    /// Returns this request with an already checked crop box, or none.
    #[must_use]
    pub fn with_crop_box(mut self, crop: Option<CropBox>) -> Self {
        self.crop = crop.map(|c| (c.x, c.y, c.side));
        self
    }

    /// A request from the users.setPhoto form fields, each `None` when the field was absent.
    ///
    /// `crop_x` and `crop_y` default to 0 when `crop_w` is given; either without `crop_w`,
    /// a value that is not a plain decimal integer, or a `crop_w` of 0 is
    /// `invalid_arguments`. Values too large for `u32` saturate: they are clamped or refused
    /// against the image later, exactly as a large in-range value would be.
    pub fn from_form(
        image: impl Into<Bytes>,
        crop_x: Option<&str>,
        crop_y: Option<&str>,
        crop_w: Option<&str>,
    ) -> Result<Self, Error> {
        let crop = parse_crop(crop_x, crop_y, crop_w)?;
        Ok(Self::new(image).with_crop_box(crop))
    }

    /// The uploaded bytes, unchanged.
    #[must_use]
    pub fn image(&self) -> &Bytes {
        &self.image
    }

    /// The crop box, if one was given; `invalid_arguments` for a side of zero.
    pub fn crop_box(&self) -> Result<Option<CropBox>, Error> {
        self.crop
            .map(|(x, y, side)| CropBox::new(x, y, side))
            .transpose()
    }
}

/// Parses the three optional crop fields into an optional box.
pub(crate) fn parse_crop(
    crop_x: Option<&str>,
    crop_y: Option<&str>,
    crop_w: Option<&str>,
) -> Result<Option<CropBox>, Error> {
    let x = crop_x.map(|s| parse_decimal("crop_x", s)).transpose()?;
    let y = crop_y.map(|s| parse_decimal("crop_y", s)).transpose()?;
    let side = crop_w.map(|s| parse_decimal("crop_w", s)).transpose()?;
    match side {
        None if x.is_some() || y.is_some() => Err(Error::InvalidArguments(CropError::MissingSide)),
        None => Ok(None),
        Some(side) => CropBox::new(x.unwrap_or(0), y.unwrap_or(0), side).map(Some),
    }
}

/// Parses a non-empty run of ASCII digits, saturating at `u32::MAX`.
fn parse_decimal(field: &'static str, text: &str) -> Result<u32, Error> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidArguments(CropError::NotADecimal { field }));
    }
    Ok(text.bytes().fold(0u32, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(u32::from(digit - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(r: Result<Option<CropBox>, Error>) -> &'static str {
        r.map_or_else(|e| e.code(), |_| "ok")
    }

    #[test]
    fn parses_plain_decimals() {
        let crop = parse_crop(Some("10"), Some("007"), Some("300")).unwrap();
        assert_eq!(
            crop,
            Some(CropBox {
                x: 10,
                y: 7,
                side: 300
            })
        );
    }

    #[test]
    fn corner_defaults_to_zero() {
        let crop = parse_crop(None, None, Some("5")).unwrap();
        assert_eq!(
            crop,
            Some(CropBox {
                x: 0,
                y: 0,
                side: 5
            })
        );
        assert_eq!(parse_crop(None, None, None).unwrap(), None);
    }

    #[test]
    fn refuses_what_the_form_would_never_send() {
        for bad in ["", " 1", "1 ", "+1", "-1", "1.0", "1e3", "0x10", "١"] {
            assert_eq!(
                code(parse_crop(None, None, Some(bad))),
                "invalid_arguments",
                "{bad:?}"
            );
            assert_eq!(
                code(parse_crop(Some(bad), None, Some("1"))),
                "invalid_arguments",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn zero_side_and_missing_side_are_invalid() {
        assert_eq!(code(parse_crop(None, None, Some("0"))), "invalid_arguments");
        assert_eq!(code(parse_crop(Some("1"), None, None)), "invalid_arguments");
        assert_eq!(code(parse_crop(None, Some("1"), None)), "invalid_arguments");
    }

    #[test]
    fn huge_values_saturate() {
        let crop = parse_crop(Some("99999999999999999999999"), None, Some("4294967296")).unwrap();
        assert_eq!(
            crop,
            Some(CropBox {
                x: u32::MAX,
                y: 0,
                side: u32::MAX
            })
        );
    }

    proptest! {
        #[test]
        fn any_u32_round_trips(x: u32, y: u32, w in 1u32..) {
            let crop = parse_crop(Some(&x.to_string()), Some(&y.to_string()), Some(&w.to_string())).unwrap();
            prop_assert_eq!(crop, Some(CropBox { x, y, side: w }));
        }

        #[test]
        fn any_string_is_a_box_or_invalid_arguments(x in ".{0,12}", w in ".{0,12}") {
            match parse_crop(Some(&x), None, Some(&w)) {
                Ok(Some(b)) => prop_assert!(b.side() > 0),
                Ok(None) => prop_assert!(false, "a given crop_w gave no box"),
                Err(e) => prop_assert_eq!(e.code(), "invalid_arguments"),
            }
        }
    }
}
