#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![warn(unreachable_pub)]

pub mod decode;
pub mod encode;
pub mod error;
pub mod format;
pub mod geometry;
pub mod hash;
pub mod orient;
pub mod pixels;
pub mod policy;
pub mod profile;
pub mod request;
pub mod resize;
pub mod set;
pub mod square;
pub mod validate;

#[cfg(any(feature = "cli", feature = "server"))]
mod atomic;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;

pub use error::{BadImage, CropError, Error, Limit};
pub use format::{Format, OutputFormat};
pub use geometry::{Plan, RENDITION_SIZES, SizeSet, Square};
pub use hash::{AvatarDigest, RENDER_VERSION};
pub use policy::Policy;
pub use profile::{ErrorResponse, Profile, SetPhotoResponse};
pub use request::{CropBox, SetPhotoRequest};
pub use set::{ImageSet, Rendition};
pub use validate::Validated;

/// A request that passed every check that needs no pixels: validated header, planned
/// square and sizes, and the avatar digest. Made by [`prepare`]; rendered by
/// [`Prepared::render`].
///
/// The digest is known here, before decoding, so a caller can skip work it already did.
#[derive(Debug, Clone)]
pub struct Prepared {
    validated: Validated,
    plan: Plan,
    digest: AvatarDigest,
}

impl Prepared {
    /// The validated header.
    #[must_use]
    pub const fn validated(&self) -> &Validated {
        &self.validated
    }

    /// The square and sizes that will be rendered.
    #[must_use]
    pub const fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The `avatar_hash` the rendered set will have.
    #[must_use]
    pub fn avatar_hash(&self) -> String {
        self.digest.avatar_hash()
    }

    /// The file stem the rendered set will have.
    #[must_use]
    pub fn file_stem(&self) -> String {
        self.digest.file_stem()
    }

    /// Decodes, squares, resizes and encodes `request` (the one given to [`prepare`]).
    pub fn render(self, request: &SetPhotoRequest, policy: &Policy) -> Result<ImageSet, Error> {
        let bytes = request.image();
        let oriented = decode::decode(bytes, &self.validated, policy)?;
        let output = encode::output_format(
            self.validated.format(),
            oriented.pixels().has_transparency(),
        );
        let square = square::apply(oriented, self.plan.square, encode::bars(output, policy));
        let resized = resize::Renderer::new().render(&square, &self.plan.sizes)?;
        let renditions = resized
            .iter()
            .map(|r| {
                encode::encode(&r.pixels, output, policy)
                    .map(|bytes| Rendition::new(r.size, output, bytes))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ImageSet::new(
            self.digest,
            self.validated.format(),
            bytes.clone(),
            self.plan.sizes,
            renditions,
        ))
    }
}

/// Validates `request` and plans its square and sizes, without decoding any pixels.
///
/// Errors: `bad_image`, `too_large`, `too_many_frames` from the header;
/// `invalid_arguments` for a crop box that starts outside the (oriented) image.
pub fn prepare(request: &SetPhotoRequest, policy: &Policy) -> Result<Prepared, Error> {
    let bytes = request.image();
    let validated = validate::inspect(bytes, policy)?;
    let plan = geometry::plan(validated.oriented_size(), request.crop_box()?, policy)?;
    let digest = AvatarDigest::new(&plan.square, policy, bytes);
    Ok(Prepared {
        validated,
        plan,
        digest,
    })
}

/// Runs the whole pipeline: validate, orient, crop or letterbox, resize, encode, hash.
///
/// ```no_run
/// # fn main() -> Result<(), setphoto::Error> {
/// let bytes = std::fs::read("photo.jpg").unwrap();
/// let request = setphoto::SetPhotoRequest::new(bytes).crop(10, 20, 300);
/// let set = setphoto::process(&request, &setphoto::Policy::default())?;
/// println!("{}", set.avatar_hash());
/// # Ok(()) }
/// ```
pub fn process(request: &SetPhotoRequest, policy: &Policy) -> Result<ImageSet, Error> {
    prepare(request, policy)?.render(request, policy)
}
