//! The one error type of setphoto, and the one list of Slack error codes it puts on the wire.
//!
//! Every way a request can fail maps to exactly one [`Error`] variant, and every variant
//! maps to one stable [`Code`] through [`Error::wire_code`]. Every `error` string the
//! server, the CLI and the client emit is a [`Code`]: the engine's through [`Error`], the
//! service's own (authentication, arguments, transport) directly. `Display` says what was
//! wrong in words a user can act on; decoder errors stay behind `source()` so the versions
//! of `image` and `gif` never leak into the public API.

use std::fmt;

use crate::format::Format;

/// A boxed error from a dependency, kept only as a `source()`.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A Slack `error` code: every one that setphoto's server, CLI and client emit.
///
/// [`Code::as_str`] is the string on the wire; it is stable and never derived from
/// `Debug`. Codes another endpoint answers that are not in this list reach the client's
/// caller verbatim (see `ClientError::code`), never through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The upload is not a usable JPEG, PNG or GIF.
    BadImage,
    /// The upload, or the request body, is over a limit.
    TooLarge,
    /// The GIF has more frames than the policy allows.
    TooManyFrames,
    /// An argument is malformed or missing (a crop field, a profile write without fields).
    InvalidArguments,
    /// No token was sent.
    NotAuthed,
    /// The token was rejected.
    InvalidAuth,
    /// The token lacks the method's scope.
    MissingScope,
    /// Too many calls (HTTP 429 with `Retry-After`), or no capacity to take the call now.
    Ratelimited,
    /// The form could not be read (broken multipart, or the body broke off).
    InvalidFormData,
    /// A JSON body that is not a JSON object.
    InvalidJson,
    /// The body stalled or did not arrive in time.
    RequestTimeout,
    /// No such method.
    UnknownMethod,
    /// An HTTP method other than GET or POST.
    MethodNotSupported,
    /// The user asked about does not exist.
    UserNotFound,
    /// A profile write Slack refuses (bad JSON, a value too long or of the wrong type).
    InvalidProfile,
    /// A failure that is not the caller's fault.
    InternalError,
    /// Client side: no answer came back (after retries).
    TransportError,
    /// Client side: an answer that is not a Slack API answer.
    InvalidResponse,
    /// Client side: `ok:false` without an `error` string.
    UnknownError,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: [Self; 19] = [
        Self::BadImage,
        Self::TooLarge,
        Self::TooManyFrames,
        Self::InvalidArguments,
        Self::NotAuthed,
        Self::InvalidAuth,
        Self::MissingScope,
        Self::Ratelimited,
        Self::InvalidFormData,
        Self::InvalidJson,
        Self::RequestTimeout,
        Self::UnknownMethod,
        Self::MethodNotSupported,
        Self::UserNotFound,
        Self::InvalidProfile,
        Self::InternalError,
        Self::TransportError,
        Self::InvalidResponse,
        Self::UnknownError,
    ];

    /// The string on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadImage => "bad_image",
            Self::TooLarge => "too_large",
            Self::TooManyFrames => "too_many_frames",
            Self::InvalidArguments => "invalid_arguments",
            Self::NotAuthed => "not_authed",
            Self::InvalidAuth => "invalid_auth",
            Self::MissingScope => "missing_scope",
            Self::Ratelimited => "ratelimited",
            Self::InvalidFormData => "invalid_form_data",
            Self::InvalidJson => "invalid_json",
            Self::RequestTimeout => "request_timeout",
            Self::UnknownMethod => "unknown_method",
            Self::MethodNotSupported => "method_not_supported",
            Self::UserNotFound => "user_not_found",
            Self::InvalidProfile => "invalid_profile",
            Self::InternalError => "internal_error",
            Self::TransportError => "transport_error",
            Self::InvalidResponse => "invalid_response",
            Self::UnknownError => "unknown_error",
        }
    }

    /// The code whose wire string is `text`, if it is one of ours.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == text)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

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
    /// A failure that is not the caller's fault, such as an encoder error.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    /// The Slack error code of this failure.
    #[must_use]
    pub const fn wire_code(&self) -> Code {
        match self {
            Self::BadImage(_) => Code::BadImage,
            Self::TooLarge(_) => Code::TooLarge,
            Self::TooManyFrames { .. } => Code::TooManyFrames,
            Self::InvalidArguments(_) => Code::InvalidArguments,
            Self::Internal(_) => Code::InternalError,
        }
    }

    /// The Slack `error` string: [`Error::wire_code`] as a string. Stable: never derived
    /// from `Display` or `Debug`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        self.wire_code().as_str()
    }

    /// An [`Error::Internal`] keeping `source` (and its own sources) behind `source()`.
    #[cold]
    pub(crate) fn internal(source: impl Into<BoxError>) -> Self {
        Self::Internal(source.into())
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
            (Error::Internal("x".into()), "internal_error"),
        ];
        for (error, code) in table {
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn codes_are_distinct_snake_case_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{text}"
            );
            assert_eq!(Code::parse(text), Some(code));
            assert_eq!(code.to_string(), text);
        }
        assert_eq!(Code::parse("account_inactive"), None);
    }

    #[test]
    fn internal_keeps_the_source_chain() {
        use std::error::Error as _;
        let io = std::io::Error::other("disk full");
        let e = Error::internal(io);
        assert_eq!(e.code(), "internal_error");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("disk full")
        );
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
