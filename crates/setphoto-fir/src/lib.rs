//! `fast_image_resize`'s resize, instantiated once, here.
//!
//! `Resizer::resize` is generic over its image types, so its whole convolution machinery
//! (every pixel type, CPU extension and coefficient precision: about 1.1 million lines of
//! LLVM IR) is compiled in whichever crate calls it. Called from `setphoto` itself, that
//! was 95% of setphoto's own code generation, paid again for its unit tests, its
//! integration tests and every change to any of its modules. Called through this crate's
//! one non-generic function, it is compiled once, as a dependency, at the optimisation
//! level dependencies get.

#![forbid(unsafe_code)]

pub use fast_image_resize::images::{Image, ImageRef};
pub use fast_image_resize::{
    Filter, FilterType, PixelType, ResizeAlg, ResizeError, ResizeOptions, Resizer,
};

/// Resizes `src` into `dst` with `options` (see [`Resizer::resize`]).
///
/// Not generic and not `#[inline]`: that is what keeps the instantiation in this crate.
///
/// # Errors
/// As [`Resizer::resize`]: mismatched pixel types, an empty image, a crop box outside the
/// source.
pub fn resize(
    resizer: &mut Resizer,
    src: &ImageRef<'_>,
    dst: &mut Image<'_>,
    options: &ResizeOptions,
) -> Result<(), ResizeError> {
    resizer.resize(src, dst, options)
}
