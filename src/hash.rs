//! `avatar_hash` and the file stem, computed before decoding (DESIGN.md section 3.6).
//!
//! ```text
//! digest = SHA-256( "setphoto/avatar/v1\0"
//!                   || RENDER_VERSION            u32 BE
//!                   || square                    b'C' x y side | b'L' side offset_x offset_y (u32 BE)
//!                   || upscale                   u8 (0 or 1)
//!                   || background                3 bytes RGB
//!                   || jpeg_quality              u8
//!                   || png_renditions            u8 (0 auto, 1 always)
//!                   || linear                    u8 (0 or 1)
//!                   || jpeg_effort               u8 (0 standard, 1 smallest)
//!                   || original bytes )
//! avatar_hash = first 12 hex digits, file stem = first 20 hex digits (lowercase)
//! ```
//! Only policy fields that change output pixels are hashed: limits are not.

use sha2::{Digest as _, Sha256};

use crate::geometry::Square;
use crate::policy::{JpegEffort, PngRenditions, Policy};

/// Bumped whenever the output pixels or bytes for the same input and parameters change
/// (decoder, resize filter, encoder settings), so caches keyed by the hash never serve
/// stale renditions.
pub const RENDER_VERSION: u32 = 10;

/// The domain-separation prefix of the digest.
const DOMAIN: &[u8] = b"setphoto/avatar/v1\0";

/// The SHA-256 that names an avatar set; see the module docs for what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvatarDigest([u8; 32]);

impl AvatarDigest {
    /// Hashes the render parameters and the original bytes.
    #[must_use]
    pub fn new(square: &Square, policy: &Policy, original: &[u8]) -> Self {
        let mut sha = Sha256::new();
        sha.update(DOMAIN);
        sha.update(RENDER_VERSION.to_be_bytes());
        let (tag, a, b, c) = match *square {
            Square::Crop { x, y, side } => (b'C', x, y, side),
            Square::Letterbox {
                side,
                offset_x,
                offset_y,
            } => (b'L', side, offset_x, offset_y),
        };
        sha.update([tag]);
        for v in [a, b, c] {
            sha.update(v.to_be_bytes());
        }
        sha.update([u8::from(policy.upscale)]);
        sha.update(policy.background);
        sha.update([policy.jpeg_quality]);
        sha.update([match policy.png_renditions {
            PngRenditions::Auto => 0,
            PngRenditions::Always => 1,
        }]);
        sha.update([u8::from(policy.linear)]);
        sha.update([match policy.jpeg_effort {
            JpegEffort::Standard => 0,
            JpegEffort::Smallest => 1,
        }]);
        sha.update(original);
        Self(sha.finalize().into())
    }

    /// The `avatar_hash`: the first 12 lowercase hex digits.
    #[must_use]
    pub fn avatar_hash(&self) -> String {
        hex::encode(&self.0[..6])
    }

    /// The file stem of every rendition: the first 20 lowercase hex digits.
    #[must_use]
    pub fn file_stem(&self) -> String {
        hex::encode(&self.0[..10])
    }

    /// The whole digest.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SQ: Square = Square::Crop {
        x: 0,
        y: 0,
        side: 10,
    };

    #[test]
    fn hash_and_stem_are_lowercase_hex_prefixes() {
        let d = AvatarDigest::new(&SQ, &Policy::default(), b"abc");
        let (hash, stem) = (d.avatar_hash(), d.file_stem());
        assert_eq!(hash.len(), 12);
        assert_eq!(stem.len(), 20);
        assert!(stem.starts_with(&hash));
        assert!(
            stem.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn every_render_parameter_changes_the_hash() {
        let base = AvatarDigest::new(&SQ, &Policy::default(), b"abc");
        let variants = [
            AvatarDigest::new(
                &Square::Crop {
                    x: 1,
                    y: 0,
                    side: 10,
                },
                &Policy::default(),
                b"abc",
            ),
            AvatarDigest::new(
                &Square::Letterbox {
                    side: 10,
                    offset_x: 0,
                    offset_y: 0,
                },
                &Policy::default(),
                b"abc",
            ),
            AvatarDigest::new(&SQ, &Policy::default().with_upscale(true), b"abc"),
            AvatarDigest::new(&SQ, &Policy::default().with_jpeg_quality(90), b"abc"),
            AvatarDigest::new(
                &SQ,
                &Policy::default().with_background([255, 255, 255]),
                b"abc",
            ),
            AvatarDigest::new(
                &SQ,
                &Policy::default().with_png_renditions(PngRenditions::Always),
                b"abc",
            ),
            AvatarDigest::new(&SQ, &Policy::default().with_linear(true), b"abc"),
            AvatarDigest::new(&SQ, &Policy::default(), b"abd"),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
        // Limits do not change pixels, so they do not change the hash.
        assert_eq!(AvatarDigest::new(&SQ, &Policy::documented(), b"abc"), base);
    }

    proptest! {
        #[test]
        fn distinct_boxes_give_distinct_hashes(a: (u32, u32, u32), b: (u32, u32, u32)) {
            prop_assume!(a != b);
            let p = Policy::default();
            let ha = AvatarDigest::new(&Square::Crop { x: a.0, y: a.1, side: a.2 }, &p, b"x");
            let hb = AvatarDigest::new(&Square::Crop { x: b.0, y: b.1, side: b.2 }, &p, b"x");
            prop_assert_ne!(ha, hb);
        }
    }
}
