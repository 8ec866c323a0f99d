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
    CropBox, Filter, FilterType, PixelType, ResizeAlg, ResizeError, ResizeOptions, Resizer,
    SrcCropping,
};

/// Why [`resize`] left `dst` as it was.
#[derive(Debug)]
pub enum Error {
    /// `fast_image_resize` refused: mismatched pixel types, an empty image, a crop box
    /// outside the source.
    Fir(ResizeError),
    /// An axis that upscales from a crop box edge that is not a whole pixel.
    ///
    /// `fast_image_resize` drops zero weights at the ends of each output pixel's window,
    /// then takes the first output's window start as the least of all of them (and the
    /// last output's end as the greatest) to size and shift its intermediate picture. On an
    /// upscale, outputs are less than a source pixel apart, so when a fractional edge puts
    /// the first window's first weight exactly on the filter's zero, the second window
    /// starts further left than the first: the shift underflows, and its SIMD passes read
    /// past a row. From a whole-pixel edge the first and last windows never begin or end
    /// on a zero while upscaling, and on a downscale consecutive windows start at least a
    /// pixel apart, so those are never refused.
    FractionalUpscale,
    /// A kind of cropping newer than this wrapper, which it cannot check.
    UncheckedCropping,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Fir(error) => error.fmt(f),
            Error::FractionalUpscale => {
                f.write_str("an upscale from a crop box whose edges are not whole pixels")
            }
            Error::UncheckedCropping => f.write_str("a kind of cropping this wrapper cannot check"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Fir(error) => Some(error),
            Error::FractionalUpscale | Error::UncheckedCropping => None,
        }
    }
}

/// Resizes `src` into `dst` with `options` (see [`Resizer::resize`]).
///
/// Not generic and not `#[inline]`: that is what keeps the instantiation in this crate.
///
/// # Errors
/// [`Error::FractionalUpscale`] for a crop box that `fast_image_resize` cannot upscale
/// soundly; otherwise as [`Resizer::resize`]: mismatched pixel types, an empty image, a
/// crop box outside the source.
pub fn resize(
    resizer: &mut Resizer,
    src: &ImageRef<'_>,
    dst: &mut Image<'_>,
    options: &ResizeOptions,
) -> Result<(), Error> {
    let crop = match options.cropping {
        SrcCropping::None => None,
        SrcCropping::Crop(crop) => Some(crop),
        SrcCropping::FitIntoDestination(centering) => Some(CropBox::fit_src_into_dst_size(
            src.width(),
            src.height(),
            dst.width(),
            dst.height(),
            Some(centering),
        )),
        _ => return Err(Error::UncheckedCropping),
    };
    if let Some(crop) = crop
        && (fractional_upscale(crop.left, crop.width, dst.width())
            || fractional_upscale(crop.top, crop.height, dst.height()))
    {
        return Err(Error::FractionalUpscale);
    }
    resizer.resize(src, dst, options).map_err(Error::Fir)
}

/// Whether source pixels `start..start + len` upscale to `out` pixels from an edge that is
/// not a whole pixel.
fn fractional_upscale(start: f64, len: f64, out: u32) -> bool {
    let whole = |edge: f64| edge == edge.round();
    f64::from(out) > len && !(whole(start) && whole(start + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize_rgba(
        (width, height): (u32, u32),
        crop: [f64; 4],
        (out_w, out_h): (u32, u32),
    ) -> Result<Vec<u8>, Error> {
        resize_as(PixelType::U8x4, (width, height), crop, (out_w, out_h))
    }

    /// Resizes a picture of `pixel_type` (whose bytes follow a pattern) with Catmull-Rom,
    /// the kernel setphoto upscales with, and Lanczos3 where it downscales.
    fn resize_as(
        pixel_type: PixelType,
        (width, height): (u32, u32),
        crop: [f64; 4],
        (out_w, out_h): (u32, u32),
    ) -> Result<Vec<u8>, Error> {
        let bytes = pixel_type.size() as u32;
        let source: Vec<u8> = (0..width * height * bytes)
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        let from = ImageRef::new(width, height, &source, pixel_type).expect("a picture");
        let mut out = vec![0u8; (out_w * out_h * bytes) as usize];
        let mut into = Image::from_slice_u8(out_w, out_h, &mut out, pixel_type).expect("a buffer");
        let upscales = f64::from(out_w) > crop[2] || f64::from(out_h) > crop[3];
        let filter = if upscales {
            Filter::new("catmull-rom", catmull_rom, 2.0)
        } else {
            Filter::new("lanczos3", lanczos3, 3.0)
        }
        .expect("a filter");
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Custom(filter)))
            .crop(crop[0], crop[1], crop[2], crop[3])
            .use_alpha(false);
        resize(&mut Resizer::new(), &from, &mut into, &options).map(|()| out)
    }

    fn lanczos3(x: f64) -> f64 {
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                (x * std::f64::consts::PI).sin() / (x * std::f64::consts::PI)
            }
        };
        if x.abs() < 3.0 {
            sinc(x) * sinc(x / 3.0)
        } else {
            0.0
        }
    }

    fn catmull_rom(x: f64) -> f64 {
        let x = x.abs();
        if x < 1.0 {
            1.5 * x * x * x - 2.5 * x * x + 1.0
        } else if x < 2.0 {
            -0.5 * x * x * x + 2.5 * x * x - 4.0 * x + 2.0
        } else {
            0.0
        }
    }

    #[test]
    fn a_fractional_upscale_is_refused_before_fir_sees_it() {
        // Centre of the first output 0.5 px right of the crop's left edge, 0.25 px apart:
        // its window's first weight falls on the filter's zero at -2.
        let refused = resize_rgba((13, 13), [2.375, 2.375, 2.0, 2.0], (8, 8));
        assert!(
            matches!(refused, Err(Error::FractionalUpscale)),
            "{refused:?}"
        );
    }

    #[test]
    fn whole_pixel_upscales_and_fractional_downscales_are_resized() {
        resize_rgba((13, 13), [2.0, 3.0, 2.0, 5.0], (8, 8)).expect("a whole-pixel upscale");
        resize_rgba((13, 13), [2.375, 2.375, 8.5, 8.25], (4, 4)).expect("a downscale");
        resize_rgba((13, 13), [0.0, 0.0, 13.0, 13.0], (13, 13)).expect("no resampling");
    }

    #[test]
    fn fractional_means_an_edge_off_the_pixel_grid_while_upscaling() {
        assert!(fractional_upscale(0.5, 3.0, 4));
        assert!(!fractional_upscale(0.5, 3.0, 3));
        assert!(!fractional_upscale(1.0, 3.0, 7));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// What the wrapper lets through, fir resizes without a panic (tests build fir
        /// with overflow checks), in every pixel type setphoto hands it.
        #[test]
        fn every_crop_the_wrapper_allows_resizes(
            width in 1u32..48,
            height in 1u32..48,
            out in (1u32..96, 1u32..96),
            corner in (0.0f64..1.0, 0.0f64..1.0),
            extent in (0.05f64..1.0, 0.05f64..1.0),
            whole in proptest::bool::ANY,
            kind in 0usize..3,
        ) {
            let pixel_type = [PixelType::U8x4, PixelType::U16x3, PixelType::U16x4][kind];
            let (w, h) = (f64::from(width), f64::from(height));
            let mut crop = [corner.0 * w, corner.1 * h, 0.0, 0.0];
            crop[2] = ((w - crop[0]) * extent.0).max(0.01);
            crop[3] = ((h - crop[1]) * extent.1).max(0.01);
            if whole {
                crop = [crop[0].floor(), crop[1].floor(), crop[2].ceil(), crop[3].ceil()];
                crop[2] = crop[2].min(w - crop[0]);
                crop[3] = crop[3].min(h - crop[1]);
            }
            match resize_as(pixel_type, (width, height), crop, out) {
                Ok(_) => {}
                Err(Error::FractionalUpscale) => proptest::prop_assert!(
                    !whole && (f64::from(out.0) > crop[2] || f64::from(out.1) > crop[3])
                ),
                Err(error) => proptest::prop_assert!(false, "{error}"),
            }
        }
    }
}
