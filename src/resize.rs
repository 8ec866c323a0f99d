//! Stage 4: SIMD resize (`fast_image_resize`) from the square to every rendition size.
//!
//! Each rendition is drawn straight into its own canvas: a crop box is read as a source
//! region and a letterboxed picture is resized into its centred rectangle, so no
//! full-size square is ever allocated. Downscaled renditions cascade: each is made from
//! the previous (larger) one, which costs a fraction of resizing a large original seven
//! times. Alpha is premultiplied during the resize when the picture has transparency.

use fast_image_resize::images::{CroppedImageMut, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::error::Error;
use crate::geometry::{SizeSet, Square, letterbox_placement};
use crate::pixels::{Layout, Pixels};
use crate::square::{Bars, SquareImage};

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

/// One resized square picture.
#[derive(Debug, Clone)]
pub struct Resized {
    /// The side in pixels (the rendition size).
    pub size: u32,
    /// The pixels, `size` x `size`.
    pub pixels: Pixels,
}

/// Resizes squares to rendition sizes, reusing one `fast_image_resize::Resizer` (and its
/// internal buffers) for every size.
#[derive(Debug, Default)]
pub struct Renderer {
    resizer: Resizer,
}

impl Renderer {
    /// A renderer using the best CPU extensions available.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every size in `sizes` from `square`, largest first.
    pub fn render(&mut self, square: &SquareImage, sizes: &SizeSet) -> Result<Vec<Resized>, Error> {
        let pixels = square.pixels();
        let layout = pixels.layout();
        let pixel_type = match layout {
            Layout::Rgb8 => PixelType::U8x3,
            Layout::Rgba8 => PixelType::U8x4,
        };
        let use_alpha = pixels.has_transparency();
        let (width, height) = (pixels.width(), pixels.height());
        let side = square.square().side();
        let source_region = match square.square() {
            Square::Crop { x, y, side } => Rect { x, y, width: side, height: side },
            Square::Letterbox { .. } => Rect { x: 0, y: 0, width, height },
        };
        if source_region.x.checked_add(source_region.width).is_none_or(|r| r > width)
            || source_region.y.checked_add(source_region.height).is_none_or(|b| b > height)
        {
            return Err(internal("the square lies outside the decoded image"));
        }

        let mut out: Vec<(Resized, Rect)> = Vec::with_capacity(sizes.len());
        for size in sizes.iter() {
            let target = match square.square() {
                Square::Crop { .. } => Rect { x: 0, y: 0, width: size, height: size },
                Square::Letterbox { .. } => {
                    let p = letterbox_placement(width, height, size);
                    Rect { x: p.x, y: p.y, width: p.width, height: p.height }
                }
            };
            let mut canvas = blank_canvas(size, layout, square.bars()).map_err(internal)?;
            // Cascade from the previous rendition only while downscaling: an upscaled
            // rendition is always made from the original.
            let previous = out.last().filter(|(prev, _)| prev.size < side);
            let (from, region) = match previous {
                Some((prev, region)) => (
                    ImageRef::new(prev.size, prev.size, prev.pixels.data(), pixel_type)
                        .map_err(internal)?,
                    *region,
                ),
                None => (
                    ImageRef::new(width, height, pixels.data(), pixel_type).map_err(internal)?,
                    source_region,
                ),
            };
            let filter = if target.width > region.width || target.height > region.height {
                FilterType::CatmullRom // upscaling: no Lanczos ringing
            } else {
                FilterType::Lanczos3
            };
            let options = ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(filter))
                .crop(
                    f64::from(region.x),
                    f64::from(region.y),
                    f64::from(region.width),
                    f64::from(region.height),
                )
                .use_alpha(use_alpha);
            {
                let mut dst =
                    Image::from_slice_u8(size, size, &mut canvas, pixel_type).map_err(internal)?;
                let mut view = CroppedImageMut::new(
                    &mut dst,
                    target.x,
                    target.y,
                    target.width,
                    target.height,
                )
                .map_err(internal)?;
                self.resizer.resize(&from, &mut view, &options).map_err(internal)?;
            }
            let pixels = Pixels::new(size, size, layout, canvas)
                .ok_or_else(|| internal("a canvas of the wrong length"))?;
            out.push((Resized { size, pixels }, target));
        }
        Ok(out.into_iter().map(|(resized, _)| resized).collect())
    }
}

/// A `size` x `size` canvas filled with the bar colour (transparent black for alpha).
fn blank_canvas(size: u32, layout: Layout, bars: Bars) -> Result<Vec<u8>, &'static str> {
    let pixels = usize::try_from(u64::from(size) * u64::from(size)).map_err(|_| "canvas too big")?;
    Ok(match (layout, bars) {
        (_, Bars::Transparent) => vec![0; pixels * layout.channels()],
        (Layout::Rgb8, Bars::Colour(rgb)) => rgb.repeat(pixels),
        (Layout::Rgba8, Bars::Colour([r, g, b])) => [r, g, b, 255].repeat(pixels),
    })
}

#[cold]
fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("resize: {e}").into())
}
