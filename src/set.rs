//! The result: every rendition, the original, the hash, and the profile they make.

use bytes::Bytes;

use crate::format::{Format, OutputFormat};
use crate::geometry::{RENDITION_SIZES, SizeSet};
use crate::hash::AvatarDigest;
use crate::profile::Profile;

/// One encoded square rendition.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    size: u32,
    format: OutputFormat,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Rendition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendition")
            .field("size", &self.size)
            .field("format", &self.format)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Rendition {
    pub(crate) fn new(size: u32, format: OutputFormat, bytes: Vec<u8>) -> Self {
        Self {
            size,
            format,
            bytes,
        }
    }

    /// Width and height in pixels.
    #[must_use]
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// The encoded format.
    #[must_use]
    pub const fn format(&self) -> OutputFormat {
        self.format
    }

    /// The encoded bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A finished avatar set: what users.setPhoto stores and returns.
#[derive(Debug, Clone)]
pub struct ImageSet {
    digest: AvatarDigest,
    original_format: Format,
    original: Bytes,
    sizes: SizeSet,
    renditions: Vec<Rendition>,
}

impl ImageSet {
    pub(crate) fn new(
        digest: AvatarDigest,
        original_format: Format,
        original: Bytes,
        sizes: SizeSet,
        renditions: Vec<Rendition>,
    ) -> Self {
        Self {
            digest,
            original_format,
            original,
            sizes,
            renditions,
        }
    }

    /// The 12-hex `avatar_hash`.
    #[must_use]
    pub fn avatar_hash(&self) -> String {
        self.digest.avatar_hash()
    }

    /// The 20-hex stem of every file name.
    #[must_use]
    pub fn file_stem(&self) -> String {
        self.digest.file_stem()
    }

    /// The full digest.
    #[must_use]
    pub const fn digest(&self) -> &AvatarDigest {
        &self.digest
    }

    /// The renditions made, largest first (sizes above the square are not made unless the
    /// policy upscales).
    #[must_use]
    pub fn renditions(&self) -> &[Rendition] {
        &self.renditions
    }

    /// The rendition that serves `image_<key>` (a larger key aliases the largest made).
    #[must_use]
    pub fn rendition_for(&self, key: u32) -> Option<&Rendition> {
        let size = self.sizes.rendition_for(key);
        self.renditions.iter().find(|r| r.size == size)
    }

    /// The stored original (`image_original`): the upload cleaned of metadata, or the
    /// upload byte for byte under [`Policy::keep_original_metadata`](crate::Policy::keep_original_metadata).
    #[must_use]
    pub fn original(&self) -> &Bytes {
        &self.original
    }

    /// The uploaded bytes' format.
    #[must_use]
    pub const fn original_format(&self) -> Format {
        self.original_format
    }

    /// File name of a rendition: `<stem>_<size>.<ext>`.
    #[must_use]
    pub fn rendition_file_name(&self, rendition: &Rendition) -> String {
        format!(
            "{}_{}.{}",
            self.file_stem(),
            rendition.size,
            rendition.format.extension()
        )
    }

    /// File name of the original: `<stem>_original.<ext>`.
    #[must_use]
    pub fn original_file_name(&self) -> String {
        format!(
            "{}_original.{}",
            self.file_stem(),
            self.original_format.extension()
        )
    }

    /// Every file of the set, as (file name, bytes): the renditions, then the original.
    pub fn files(&self) -> impl Iterator<Item = (String, &[u8])> + '_ {
        self.renditions
            .iter()
            .map(|r| (self.rendition_file_name(r), r.bytes()))
            .chain(std::iter::once((
                self.original_file_name(),
                self.original.as_ref(),
            )))
    }

    /// The users.setPhoto `profile` with URLs `<base_url>/<file name>` (a trailing `/` on
    /// `base_url` is ignored).
    #[must_use]
    pub fn profile(&self, base_url: &str) -> Profile {
        let base = base_url.trim_end_matches('/');
        let url = |key: u32| -> String {
            let name = self
                .rendition_for(key)
                .map(|r| self.rendition_file_name(r))
                .unwrap_or_default();
            format!("{base}/{name}")
        };
        let [s1024, s512, s192, s72, s48, s32, s24] = RENDITION_SIZES;
        Profile {
            avatar_hash: self.avatar_hash(),
            image_24: url(s24),
            image_32: url(s32),
            image_48: url(s48),
            image_72: url(s72),
            image_192: url(s192),
            image_512: url(s512),
            image_1024: url(s1024),
            image_original: format!("{base}/{}", self.original_file_name()),
        }
    }
}
