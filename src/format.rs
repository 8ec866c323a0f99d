//! Input and output formats, sniffed from bytes only.

use std::fmt;

/// An accepted input format, known from the file's first bytes (never from its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JPEG / JFIF / EXIF (`FF D8 FF`).
    Jpeg,
    /// PNG (8-byte signature).
    Png,
    /// GIF87a or GIF89a.
    Gif,
}

/// Magic bytes of each accepted format. A static table, so adding a format is one line.
const MAGIC: &[(&[u8], Format)] = &[
    (b"\xFF\xD8\xFF", Format::Jpeg),
    (b"\x89PNG\r\n\x1A\n", Format::Png),
    (b"GIF87a", Format::Gif),
    (b"GIF89a", Format::Gif),
];

/// Returns the format whose magic bytes start `bytes`, if any.
#[must_use]
pub(crate) fn sniff(bytes: &[u8]) -> Option<Format> {
    MAGIC
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|&(_, format)| format)
}

impl Format {
    /// The file extension used for the uploaded original: `jpg`, `png` or `gif`.
    #[must_use]
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Gif => "gif",
        }
    }

    /// The MIME type of this format.
    #[must_use]
    pub const fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::Gif => "GIF",
        })
    }
}

/// The format of an encoded rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputFormat {
    /// Baseline JPEG, 4:2:0, no metadata.
    Jpeg,
    /// 8-bit PNG (RGB or RGBA), no metadata.
    Png,
}

impl OutputFormat {
    /// The file extension of a rendition: `jpg` or `png`.
    #[must_use]
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    /// The MIME type of a rendition.
    #[must_use]
    pub const fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_format_from_its_magic() {
        for format in [Format::Jpeg, Format::Png, Format::Gif] {
            let found = MAGIC.iter().any(|&(magic, f)| {
                f == format && sniff(&[magic, b"rest".as_slice()].concat()) == Some(format)
            });
            assert!(found, "no magic tested for {format:?}");
        }
    }

    #[test]
    fn refuses_other_formats_and_names() {
        for bytes in [
            &b""[..],
            b"\xFF\xD8",
            b"\x89PNG\r\n",
            b"GIF88a",
            b"RIFF\0\0\0\0WEBPVP8 ",
            b"BM\x36\0\0\0",
            b"<svg xmlns=",
            b"<!DOCTYPE html>",
            b"\0\0\0\x18ftypheic",
        ] {
            assert_eq!(sniff(bytes), None, "{bytes:?}");
        }
    }
}
