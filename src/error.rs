//! The one error type of setphoto, with Slack's error code strings.
//!
//! Every way a request can fail maps to exactly one [`Error`] variant, and every variant
//! maps to one stable Slack `error` string through [`Error::code`]. `Display` says what was
//! wrong in words a user can act on; decoder errors stay behind `source()` so the versions
//! of `image` and `gif` never leak into the public API.

use std::fmt;

use crate::format::Format;

/// A boxed error from a dependency, kept only as a `source()`.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request was refused.
///
/// [`Error::code`] is the Slack `error` string sent on the wire; `Display` explains the
/// problem in words a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a JPEG, PNG or GIF, or are truncated or corrupt.
    #[error("the upload is not a usable JPEG, PNG or GIF image")]
    BadImage(#[source] BadImage),
    /// A declared size is over the policy; found before decoding.
    #[error("the image is too large: {0}")]
    TooLarge(Limit),
    /// The GIF has more frames than the policy allows (counting stops at `max + 1`).
    #[error("the GIF has more than {max} frames, the limit is {max}")]
    TooManyFrames {
        /// The policy's frame limit.
        max: u32,
    },
    /// `crop_x` / `crop_y` / `crop_w` are malformed or outside the image.
    #[error("invalid crop: {0}")]
    InvalidArguments(CropError),
    /// No token was sent (client and server only).
    #[error("no token was sent")]
    NotAuthed,
    /// The token was rejected (client and server only).
    #[error("the token was rejected")]
    InvalidAuth,
    /// The form could not be read (client and server only).
    #[error("the form could not be read: {0}")]
    InvalidFormData(String),
    /// Too many requests (client and server only).
    #[error("rate limited; retry in {retry_after_secs} s")]
    Ratelimited {
        /// Seconds the caller should wait before retrying.
        retry_after_secs: u32,
    },
    /// A failure that is not the caller's fault, such as an encoder error.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    /// The Slack `error` string. Stable: never derived from `Display` or `Debug`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::BadImage(_) => "bad_image",
            Self::TooLarge(_) => "too_large",
            Self::TooManyFrames { .. } => "too_many_frames",
            Self::InvalidArguments(_) => "invalid_arguments",
            Self::NotAuthed => "not_authed",
            Self::InvalidAuth => "invalid_auth",
            Self::InvalidFormData(_) => "invalid_form_data",
            Self::Ratelimited { .. } => "ratelimited",
            Self::Internal(_) => "internal_error",
        }
    }

    /// A [`BadImage::Corrupt`] error for `format`, keeping the decoder's error as source.
    #[cold]
    pub(crate) fn corrupt(format: Format, source: impl Into<BoxError>) -> Self {
        Self::BadImage(BadImage::Corrupt {
            format,
            source: source.into(),
        })
    }
}

/// Why an upload is a `bad_image`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BadImage {
    /// The bytes start like no JPEG, PNG or GIF (empty, WebP, HEIC, BMP, SVG, HTML...).
    #[error("its bytes are not JPEG, PNG or GIF")]
    UnknownFormat,
    /// The file ends before its header does.
    #[error("the file ends before the image header does")]
    Truncated,
    /// The header declares a width or height of zero.
    #[error("the header declares an empty image ({width}x{height})")]
    ZeroSize {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The header is malformed in a way the decoder would reject.
    #[error("the {format} header is malformed: {reason}")]
    Header {
        /// The sniffed format.
        format: Format,
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// The pixel data is corrupt or truncated.
    #[error("the {format} data is corrupt")]
    Corrupt {
        /// The sniffed format.
        format: Format,
        /// The decoder's own error.
        #[source]
        source: BoxError,
    },
}

/// Which policy limit was exceeded, with the value and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// A side is longer than the policy allows.
    Side {
        /// The declared width.
        width: u32,
        /// The declared height.
        height: u32,
        /// The policy's limit for either side.
        max: u32,
    },
    /// Width times height is over the policy.
    Pixels {
        /// Declared pixels.
        pixels: u64,
        /// The policy's limit.
        max: u64,
    },
    /// The upload has more bytes than the policy allows.
    Bytes {
        /// The upload's size.
        bytes: u64,
        /// The policy's limit.
        max: u64,
    },
    /// A GIF's frames together cover more pixels than the policy allows.
    FramePixels {
        /// Canvas pixels summed over the frames counted so far.
        pixels: u64,
        /// The policy's limit.
        max: u64,
    },
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Side { width, height, max } => write!(
                f,
                "{width}x{height} px, the limit is {max} px a side; scale it down first"
            ),
            Self::Pixels { pixels, max } => {
                write!(
                    f,
                    "{pixels} pixels, the limit is {max}; scale it down first"
                )
            }
            Self::Bytes { bytes, max } => {
                write!(f, "{bytes} bytes, the limit is {max}; compress it first")
            }
            Self::FramePixels { pixels, max } => write!(
                f,
                "its GIF frames cover {pixels} pixels in all, the limit is {max}; use fewer or smaller frames"
            ),
        }
    }
}

/// Why a crop box was refused (`invalid_arguments`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CropError {
    /// A field is not a non-negative decimal integer (no sign, no spaces, no fraction).
    NotADecimal {
        /// The form field name (`crop_x`, `crop_y` or `crop_w`).
        field: &'static str,
    },
    /// `crop_x` or `crop_y` was given without `crop_w`.
    MissingSide,
    /// `crop_w` is zero.
    ZeroSide,
    /// The box starts at or beyond the right or bottom edge of the (oriented) image.
    StartsOutside {
        /// The box's left edge.
        x: u32,
        /// The box's top edge.
        y: u32,
        /// The oriented image width.
        width: u32,
        /// The oriented image height.
        height: u32,
    },
}

impl fmt::Display for CropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADecimal { field } => write!(
                f,
                "{field} must be a non-negative whole number written in decimal digits"
            ),
            Self::MissingSide => f.write_str("crop_x or crop_y was sent without crop_w"),
            Self::ZeroSide => f.write_str("crop_w must be at least 1"),
            Self::StartsOutside {
                x,
                y,
                width,
                height,
            } => write!(
                f,
                "the box starts at ({x}, {y}), outside the {width}x{height} image"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_design_code() {
        let table: Vec<(Error, &str)> = vec![
            (Error::BadImage(BadImage::UnknownFormat), "bad_image"),
            (
                Error::TooLarge(Limit::Bytes { bytes: 2, max: 1 }),
                "too_large",
            ),
            (Error::TooManyFrames { max: 100 }, "too_many_frames"),
            (
                Error::InvalidArguments(CropError::ZeroSide),
                "invalid_arguments",
            ),
            (Error::NotAuthed, "not_authed"),
            (Error::InvalidAuth, "invalid_auth"),
            (Error::InvalidFormData("x".into()), "invalid_form_data"),
            (
                Error::Ratelimited {
                    retry_after_secs: 3,
                },
                "ratelimited",
            ),
            (Error::Internal("x".into()), "internal_error"),
        ];
        for (error, code) in table {
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn display_names_the_value_and_the_limit() {
        let e = Error::TooLarge(Limit::Side {
            width: 20000,
            height: 10,
            max: 16384,
        });
        let text = e.to_string();
        assert!(
            text.contains("20000x10") && text.contains("16384"),
            "{text}"
        );
        assert!(!text.ends_with('.'));
    }

    #[test]
    fn corrupt_keeps_the_decoder_error_as_source() {
        use std::error::Error as _;
        let e = Error::corrupt(Format::Png, "zlib stream ended early");
        let Error::BadImage(inner) = &e else {
            panic!("not bad_image")
        };
        assert_eq!(
            inner.source().map(ToString::to_string).as_deref(),
            Some("zlib stream ended early")
        );
    }
}
