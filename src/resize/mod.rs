//! Stage 4: SIMD resize (`fast_image_resize`, through `setphoto_fir`) from the square to every rendition size.
//!
//! Each rendition is drawn straight into its own canvas: a crop box is read as a source
//! region and a letterboxed picture is resized into its centred rectangle, so no
//! full-size square is ever allocated. Downscaled renditions cascade: each is made from
//! the previous (larger) one, which costs a fraction of resizing a large original seven
//! times. Alpha is premultiplied during the resize when the picture has transparency.
//!
//! RGB pictures on AVX2 CPUs take our own passes (`crate::simd`): the vertical one, then
//! the horizontal one, or one fused pass for an upscale by two (a 512 px picture's 1024 px
//! rendition). They use fir's weights (`taps`) and arithmetic, so the pixels are the ones
//! fir alone would make, and a renderer keeps its recent passes' weights for the next
//! picture of the same geometry. fir does the rest: RGBA (premultiplied), and the renditions
//! that need no horizontal pass.
//!
//! With [`crate::Policy::linear`] every size is resampled in 16-bit linear light by fir
//! instead ([`Renderer::render_each_linear`], `linear`); the default path is untouched.

mod linear;

use std::cell::RefCell;
use std::sync::Arc;

use setphoto_fir::{
    Filter, FilterType, Image, ImageRef, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use setphoto_kernels::resize::{self as passes, Taps, catmull_rom_weight, lanczos3_weight};

use crate::error::Error;
use crate::geometry::SizeSet;
use crate::pixels::{Layout, Pixels};
use crate::square::{Region, SquareImage, between_bars, place};

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
    /// The vertical pass's output when our horizontal pass follows it (the fused pass's
    /// row buffers when it runs).
    vertical: Vec<u8>,
    /// Recent horizontal passes, the most recently used first.
    passes: Vec<(PassKey, Arc<KeptPass>)>,
    /// Recent vertical passes, the most recently used first.
    verticals: Vec<(PassKey, Arc<passes::Vertical>)>,
    /// The last upscale by two looked at (horizontal and vertical keys), and its fused
    /// pass when it has one.
    doubling: Option<(PassKey, PassKey, Option<Arc<passes::DoublingRgb>>)>,
}

/// The most a thread's renderer keeps allocated between sets: the intermediate picture
/// (source width x 1024 rows) of a 2048 px wide picture in RGBA is 8 MiB.
pub const KEEP_BUFFERS_MAX_BYTES: usize = 16 << 20;

thread_local! {
    /// Each thread's renderer: `fast_image_resize` keeps its intermediate picture (3 MB
    /// for a 1080 px square) between calls, so it is not allocated and faulted in anew
    /// for every set.
    static RENDERER: RefCell<Renderer> = RefCell::new(Renderer::new());
}

impl Renderer {
    /// A renderer using the best CPU extensions available.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with this thread's renderer, which keeps its buffers between calls (or
    /// with a new one, should `f` reach this again).
    ///
    /// Buffers over [`KEEP_BUFFERS_MAX_BYTES`] (left by a very wide picture) are freed
    /// afterwards, so that each thread keeps at most that much between sets.
    pub fn with_thread_local<R>(f: impl FnOnce(&mut Self) -> R) -> R {
        RENDERER.with(|renderer| match renderer.try_borrow_mut() {
            Ok(mut renderer) => {
                let result = f(&mut renderer);
                if renderer.buffer_bytes() > KEEP_BUFFERS_MAX_BYTES {
                    renderer.resizer.reset_internal_buffers();
                    renderer.vertical = Vec::new();
                    renderer.passes = Vec::new();
                    renderer.verticals = Vec::new();
                    renderer.doubling = None;
                }
                result
            }
            Err(_) => f(&mut Self::new()),
        })
    }

    /// Bytes this renderer keeps allocated between sets.
    fn buffer_bytes(&self) -> usize {
        self.resizer.size_of_internal_buffers()
            + self.vertical.capacity()
            + self
                .passes
                .iter()
                .map(|(_, kept)| kept.pass.heap_bytes())
                .sum::<usize>()
            + self
                .verticals
                .iter()
                .map(|(_, pass)| pass.heap_bytes())
                .sum::<usize>()
            + self
                .doubling
                .iter()
                .flat_map(|(_, _, pass)| pass)
                .map(|pass| pass.heap_bytes())
                .sum::<usize>()
    }

    /// Makes every size in `sizes` from `square`, largest first.
    pub fn render(&mut self, square: &SquareImage, sizes: &SizeSet) -> Result<Vec<Resized>, Error> {
        let mut out = Vec::with_capacity(sizes.len());
        self.render_each(square, sizes, |size, pixels| out.push((size, pixels)))?;
        // The renderer has dropped its references, so no picture is copied here.
        Ok(out
            .into_iter()
            .map(|(size, pixels)| Resized {
                size,
                pixels: Arc::unwrap_or_clone(pixels),
            })
            .collect())
    }

    /// Makes every size in `sizes` from `square`, largest first, and hands each to `each`
    /// (its size and pixels) as soon as it is made, so that a caller can encode one size
    /// while the next is being resized.
    pub fn render_each(
        &mut self,
        square: &SquareImage,
        sizes: &SizeSet,
        mut each: impl FnMut(u32, Arc<Pixels>),
    ) -> Result<(), Error> {
        let pixels = square.pixels();
        let layout = pixels.layout();
        let pixel_type = match layout {
            Layout::Rgb8 => PixelType::U8x3,
            Layout::Rgba8 => PixelType::U8x4,
        };
        let use_alpha = pixels.has_transparency();
        let (width, height) = (pixels.width(), pixels.height());
        // The square is in full-resolution coordinates, its region in the decoded (maybe reduced) ones.
        let side = square.square().side();
        let source_region = square.source_region();
        if source_region.x + source_region.width > f64::from(width)
            || source_region.y + source_region.height > f64::from(height)
        {
            return Err(Error::internal("the square lies outside the decoded image"));
        }

        // The previous picture without its bars: the next size cascades from it, so bar
        // pixels never bleed into the picture's edges. It is its rendition's rows
        // `rows` (shared, not copied) when it spans the rendition's width.
        let mut previous: Option<Previous> = None;
        // The columns a resize with alpha reads, when they are fewer than the picture's.
        let mut window = Vec::new();
        for size in sizes.iter() {
            let target = square.placement(size);
            // Cascade from the previous picture only while downscaling: an upscaled
            // rendition is always made from the original.
            let cascade_from = previous.as_ref().filter(|prev| prev.size < side);
            let (from, region) = match cascade_from {
                Some(prev) => (
                    prev.image(pixel_type)?,
                    Region {
                        x: 0.0,
                        y: 0.0,
                        width: f64::from(prev.pixels.width()),
                        height: f64::from(prev.rows.len() as u32),
                    },
                ),
                None => {
                    // fir premultiplies a picture with alpha into a copy of its whole
                    // source before cropping it: only the rows and columns this resize
                    // reads go in (the columns copied out first where they are fewer).
                    let (rows, columns) = if use_alpha {
                        (
                            span_read(height, source_region.y, source_region.height, target.height),
                            span_read(width, source_region.x, source_region.width, target.width),
                        )
                    } else {
                        (0..height, 0..width)
                    };
                    let channels = layout.channels();
                    let row_len = width as usize * channels;
                    let data = &pixels.data()
                        [rows.start as usize * row_len..rows.end as usize * row_len];
                    let data = if columns.len() < width as usize {
                        let (left, len) = (columns.start as usize * channels, columns.len() * channels);
                        window.clear();
                        for row in data.chunks_exact(row_len) {
                            window.extend_from_slice(&row[left..left + len]);
                        }
                        &window[..]
                    } else {
                        data
                    };
                    (
                        ImageRef::new(columns.len() as u32, rows.len() as u32, data, pixel_type)
                            .map_err(Error::internal)?,
                        Region {
                            x: source_region.x - f64::from(columns.start),
                            y: source_region.y - f64::from(rows.start),
                            ..source_region
                        },
                    )
                }
            };
            let kernel = if f64::from(target.width) > region.width
                || f64::from(target.height) > region.height
            {
                Kernel::CatmullRom // upscaling: no Lanczos ringing
            } else {
                Kernel::Lanczos3
            };
            let options = ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Custom(kernel.filter())))
                .crop(region.x, region.y, region.width, region.height)
                .use_alpha(use_alpha);
            // A picture as wide as its rendition (a square, or a landscape letterbox) is
            // resized straight into the rendition's rows; a narrower one is placed after.
            let in_place = target.width == size;
            let (canvas_height, rows) = if in_place {
                (size, target.y..target.y + target.height)
            } else {
                (target.height, 0..target.height)
            };
            let mut canvas = Pixels::for_overwrite(target.width, canvas_height, layout)
                .ok_or_else(|| Error::internal("a rendition too large for memory"))?;
            let row_len = target.width as usize * layout.channels();
            let picture_rows = between_bars(
                canvas.data_mut(),
                row_len,
                rows.clone(),
                layout,
                square.bars(),
            );
            let mut into =
                Image::from_slice_u8(target.width, target.height, picture_rows, pixel_type)
                    .map_err(Error::internal)?;
            // RGB takes our passes on every CPU (the portable path where there is no
            // AVX2): fast_image_resize's SSE4.1 RGB horizontal pass reads past a row on
            // some cropped upscales (see fuzz/findings).
            let ours =
                layout == Layout::Rgb8 && self.resize_rgb(&from, region, kernel, &mut into)?;
            if !ours {
                setphoto_fir::resize(&mut self.resizer, &from, &mut into, &options)
                    .map_err(Error::internal)?;
            }
            let picture = Arc::new(canvas);
            let rendition = if in_place {
                Arc::clone(&picture)
            } else {
                Arc::new(place(&picture, target, size, square.bars())?)
            };
            each(size, rendition);
            previous = Some(Previous {
                size,
                pixels: picture,
                rows,
            });
        }
        Ok(())
    }

    /// As [`Self::render_each`], resampling linear light ([`crate::Policy::linear`]): the
    /// decoded picture is widened once to 16-bit linear samples, every size is resized
    /// (and cascaded) in them by `fast_image_resize`, and each rendition is narrowed back
    /// to 8-bit sRGB (see `linear`).
    pub fn render_each_linear(
        &mut self,
        square: &SquareImage,
        sizes: &SizeSet,
        mut each: impl FnMut(u32, Arc<Pixels>),
    ) -> Result<(), Error> {
        let pixels = square.pixels();
        let layout = pixels.layout();
        let pixel_type = linear::pixel_type(layout);
        let use_alpha = pixels.has_transparency();
        let side = square.square().side();
        let source_region = square.source_region();
        if source_region.x + source_region.width > f64::from(pixels.width())
            || source_region.y + source_region.height > f64::from(pixels.height())
        {
            return Err(Error::internal("the square lies outside the decoded image"));
        }
        let source = linear::widen(pixels);
        // The previous size's picture, without bars, in linear light.
        let mut previous: Option<(u32, Image<'static>)> = None;
        for size in sizes.iter() {
            let target = square.placement(size);
            let cascade_from = previous.as_ref().filter(|(made, _)| *made < side);
            let (from, region) = match cascade_from {
                Some((_, picture)) => (
                    picture,
                    Region {
                        x: 0.0,
                        y: 0.0,
                        width: f64::from(picture.width()),
                        height: f64::from(picture.height()),
                    },
                ),
                None => (&source, source_region),
            };
            let from = ImageRef::new(from.width(), from.height(), from.buffer(), pixel_type)
                .map_err(Error::internal)?;
            let kernel = if f64::from(target.width) > region.width
                || f64::from(target.height) > region.height
            {
                Kernel::CatmullRom
            } else {
                Kernel::Lanczos3
            };
            let options = ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Custom(kernel.filter())))
                .crop(region.x, region.y, region.width, region.height)
                .use_alpha(use_alpha);
            let mut picture = Image::new(target.width, target.height, pixel_type);
            setphoto_fir::resize(&mut self.resizer, &from, &mut picture, &options)
                .map_err(Error::internal)?;
            let in_place = target.width == size;
            let (canvas_height, rows) = if in_place {
                (size, target.y..target.y + target.height)
            } else {
                (target.height, 0..target.height)
            };
            let mut canvas = Pixels::for_overwrite(target.width, canvas_height, layout)
                .ok_or_else(|| Error::internal("a rendition too large for memory"))?;
            let row_len = target.width as usize * layout.channels();
            let picture_rows =
                between_bars(canvas.data_mut(), row_len, rows, layout, square.bars());
            linear::narrow(picture.buffer(), layout, picture_rows);
            let rendition = if in_place {
                canvas
            } else {
                place(&canvas, target, size, square.bars())?
            };
            each(size, Arc::new(rendition));
            previous = Some((size, picture));
        }
        Ok(())
    }
}

/// The rows (or columns) of a picture `len` pixels high (wide) that resizing the region's
/// `start..start + extent` to `target` pixels can read: the region's, and the filter's
/// support around them (Lanczos3 reaches 3 source pixels per destination pixel, scaled
/// when downscaling), with a spare pixel each side.
fn span_read(len: u32, start: f64, extent: f64, target: u32) -> std::ops::Range<u32> {
    let scale = (extent / f64::from(target.max(1))).max(1.0);
    let margin = (3.0 * scale).ceil() + 2.0;
    let first = (start - margin).floor().max(0.0);
    let end = (start + extent + margin).ceil();
    // Both are clamped to the picture, so the casts are exact.
    let first = (first as u32).min(len);
    let end = if end >= f64::from(len) {
        len
    } else {
        end as u32
    };
    first..end.max(first)
}

/// The picture a rendition was made of, for the next size to cascade from.
struct Previous {
    /// The rendition's size.
    size: u32,
    /// The picture: the rendition itself, or the picture before its bars were added.
    pixels: Arc<Pixels>,
    /// The picture's rows in `pixels` (all its columns).
    rows: std::ops::Range<u32>,
}

impl Previous {
    /// The picture's rows as an image.
    fn image(&self, pixel_type: PixelType) -> Result<ImageRef<'_>, Error> {
        let row_len = self.pixels.width() as usize * self.pixels.layout().channels();
        let rows = &self.pixels.data()
            [self.rows.start as usize * row_len..self.rows.end as usize * row_len];
        ImageRef::new(
            self.pixels.width(),
            self.rows.len() as u32,
            rows,
            pixel_type,
        )
        .map_err(Error::internal)
    }
}

impl Renderer {
    /// The horizontal pass for `key`, from the renderer's recent passes or made now.
    /// `None` when there is nothing to resample.
    fn horizontal_pass(&mut self, key: PassKey) -> Option<Arc<KeptPass>> {
        kept(&mut self.passes, key, || {
            let taps = key.taps()?;
            let (first, end) = taps.span();
            Some(KeptPass {
                first,
                columns: end - first,
                pass: passes::HorizontalRgb::new(taps.shifted_left(first)),
            })
        })
    }

    /// The vertical pass for `key`, from the renderer's recent passes or made now.
    fn vertical_pass(&mut self, key: PassKey) -> Option<Arc<passes::Vertical>> {
        kept(&mut self.verticals, key, || {
            key.taps().map(passes::Vertical::new)
        })
    }

    /// Resizes RGB `from`'s `region` into `into` with `kernel` as `fast_image_resize`
    /// would (same weights, same pixels) with our passes: the vertical one first, over
    /// just the columns the horizontal one reads, as fir orders them. `false` when fir
    /// should do it (no horizontal pass is needed, or no weights came out for an axis).
    fn resize_rgb(
        &mut self,
        from: &ImageRef<'_>,
        region: Region,
        kernel: Kernel,
        into: &mut Image<'_>,
    ) -> Result<bool, Error> {
        let (width, height) = (into.width(), into.height());
        if f64::from(width) == region.width && region.x == region.x.round() {
            return Ok(false);
        }
        let across = PassKey::along(from.width(), region.x, region.width, width, kernel);
        let Some(pass) = self.horizontal_pass(across) else {
            return Ok(false);
        };
        let (first, columns) = (pass.first, pass.columns);
        let pass = &pass.pass;
        let out = into.buffer_mut();
        let stride = from.width() as usize * 3;
        if f64::from(height) == region.height && region.y == region.y.round() {
            // No vertical pass: straight from the source rows.
            let at = region.y as usize * stride + first as usize * 3;
            let source = from
                .buffer()
                .get(at..)
                .ok_or_else(|| Error::internal("rows outside the source"))?;
            pass.run(source, stride, out, height as usize);
            return Ok(true);
        }
        let down = PassKey::along(from.height(), region.y, region.height, height, kernel);
        let Some(vertical) = self.vertical_pass(down) else {
            return Ok(false);
        };
        if let Some(doubling) = self.doubling_pass(across, pass, down, &vertical) {
            doubling.run(
                from.buffer(),
                stride,
                first as usize,
                out,
                &mut self.vertical,
            );
            return Ok(true);
        }
        let rows = passes::Rows {
            bytes: from.buffer(),
            stride,
            offset: first as usize * 3,
            len: columns as usize * 3,
        };
        let mut columns_picture = std::mem::take(&mut self.vertical);
        columns_picture.resize(columns as usize * height as usize * 3, 0);
        vertical.run(&rows, &mut columns_picture);
        pass.run(&columns_picture, columns as usize * 3, out, height as usize);
        // Kept for the next size.
        self.vertical = columns_picture;
        Ok(true)
    }

    /// The fused pass of an upscale by two along both axes (a 512 px picture's 1024 px
    /// rendition), from the one kept or made now; `None` for any other resize, or when
    /// the weights or the CPU do not suit it ([`passes::DoublingRgb::new`]).
    fn doubling_pass(
        &mut self,
        across: PassKey,
        pass: &passes::HorizontalRgb,
        down: PassKey,
        vertical: &passes::Vertical,
    ) -> Option<Arc<passes::DoublingRgb>> {
        if !across.doubles() || !down.doubles() {
            return None;
        }
        match &self.doubling {
            Some((a, d, fused)) if *a == across && *d == down => fused.clone(),
            _ => {
                let fused = passes::DoublingRgb::new(pass.taps().clone(), vertical.taps().clone())
                    .map(Arc::new);
                self.doubling = Some((across, down, fused.clone()));
                fused
            }
        }
    }
}

/// The pass kept in `cache` for `key`, moved to the front, or made by `make` and put
/// there (the least recently used one dropped past [`KEEP_PASSES`]).
fn kept<T>(
    cache: &mut Vec<(PassKey, Arc<T>)>,
    key: PassKey,
    make: impl FnOnce() -> Option<T>,
) -> Option<Arc<T>> {
    if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
        let found = cache.remove(i);
        cache.insert(0, found);
    } else {
        let made = make()?;
        cache.truncate(KEEP_PASSES - 1);
        cache.insert(0, (key, Arc::new(made)));
    }
    cache.first().map(|(_, pass)| Arc::clone(pass))
}

/// How many passes of each direction a renderer keeps. Every square's cascade below 1024 px
/// (1024 -> 512 -> 192 -> 72 -> 48 -> 32 -> 24) has the same geometry, so those passes'
/// weights are worked out once per thread rather than once per set.
const KEEP_PASSES: usize = 12;

/// What a pass is for: the source's length along the pass, the region's ends along it
/// (as f64 bits), the output length and the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PassKey {
    source: u32,
    from: u64,
    to: u64,
    out: u32,
    kernel: Kernel,
}

/// The resampling filters a rendition is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// Downscaling: Lanczos with three lobes.
    Lanczos3,
    /// Upscaling (either side): Catmull-Rom, which does not ring as Lanczos does.
    CatmullRom,
}

impl PassKey {
    /// The pass over `len` source pixels from `start` (of `source`) to `out` pixels.
    fn along(source: u32, start: f64, len: f64, out: u32, kernel: Kernel) -> Self {
        Self {
            source,
            from: start.to_bits(),
            to: (start + len).to_bits(),
            out,
            kernel,
        }
    }

    /// Whether the pass doubles its region.
    fn doubles(self) -> bool {
        f64::from(self.out) == 2.0 * (f64::from_bits(self.to) - f64::from_bits(self.from))
    }

    /// The pass's weights; `None` when there is nothing to resample.
    fn taps(self) -> Option<Taps> {
        Taps::new(
            self.source,
            f64::from_bits(self.from),
            f64::from_bits(self.to),
            self.out,
            self.kernel.weight(),
            self.kernel.support(),
        )
    }
}

impl Kernel {
    /// The filter's weight at a distance in source pixels.
    fn weight(self) -> fn(f64) -> f64 {
        match self {
            Kernel::Lanczos3 => lanczos3_weight,
            Kernel::CatmullRom => catmull_rom_weight,
        }
    }

    /// Where the weight is zero beyond.
    fn support(self) -> f64 {
        match self {
            Kernel::Lanczos3 => passes::LANCZOS3_SUPPORT,
            Kernel::CatmullRom => passes::CATMULL_ROM_SUPPORT,
        }
    }

    /// The filter for `fast_image_resize`.
    fn filter(self) -> Filter {
        let name = match self {
            Kernel::Lanczos3 => "Lanczos3, one sine a tap",
            Kernel::CatmullRom => "Catmull-Rom",
        };
        Filter::new(name, self.weight(), self.support()).expect("a finite, positive support")
    }
}

/// A kept horizontal pass and the source columns it reads.
#[derive(Debug)]
struct KeptPass {
    /// The first source column its taps read (they are counted from it).
    first: u32,
    /// How many columns from `first` it reads.
    columns: u32,
    pass: passes::HorizontalRgb,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Oriented;
    use crate::geometry::{SizeSet, letterbox_placement, square};
    use crate::square::{Bars, apply};

    fn solid(width: u32, height: u32, layout: Layout, value: &[u8]) -> Pixels {
        let n = (width * height) as usize;
        Pixels::new(width, height, layout, value.repeat(n)).unwrap()
    }

    fn render(pixels: Pixels, bars: Bars, upscale: bool) -> Vec<Resized> {
        let sq = square(pixels.width(), pixels.height(), None).unwrap();
        let sizes = SizeSet::for_side(sq.side(), upscale);
        let image = apply(Oriented::from_pixels_for_tests(pixels), sq, bars);
        Renderer::new().render(&image, &sizes).unwrap()
    }

    fn render_linear(pixels: Pixels, bars: Bars) -> Vec<(u32, Arc<Pixels>)> {
        let sq = square(pixels.width(), pixels.height(), None).unwrap();
        let sizes = SizeSet::for_side(sq.side(), false);
        let image = apply(Oriented::from_pixels_for_tests(pixels), sq, bars);
        let mut out = Vec::new();
        Renderer::new()
            .render_each_linear(&image, &sizes, |size, pixels| out.push((size, pixels)))
            .unwrap();
        out
    }

    fn mean(data: &[u8], channels: usize, channel: usize) -> f64 {
        let values: Vec<f64> = data
            .chunks_exact(channels)
            .map(|p| f64::from(p[channel]))
            .collect();
        values.iter().sum::<f64>() / values.len() as f64
    }

    /// A `side` x `side` checkerboard of 1 px squares of `a` and `b`.
    fn checkerboard(side: u32, layout: Layout, a: &[u8], b: &[u8]) -> Pixels {
        let data = (0..side * side)
            .flat_map(|i| if (i % side + i / side).is_multiple_of(2) { a } else { b })
            .copied()
            .collect();
        Pixels::new(side, side, layout, data).unwrap()
    }

    #[test]
    fn a_checkerboard_halved_is_188_in_linear_light_and_128_in_srgb() {
        let board = || checkerboard(96, Layout::Rgb8, &[0; 3], &[255; 3]);
        let linear = render_linear(board(), Bars::Colour([0; 3]));
        let gamma = render(board(), Bars::Colour([0; 3]), false);
        // 96 px: 72, then 48 (half the square), 32, 24.
        assert_eq!(linear.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [72, 48, 32, 24]);
        for ((size, lin), srgb) in linear.iter().zip(&gamma) {
            let (lin, srgb) = (mean(lin.data(), 3, 1), mean(srgb.pixels.data(), 3, 1));
            assert!((186.0..=190.0).contains(&lin), "{size}: linear mean {lin}");
            assert!((126.0..=130.0).contains(&srgb), "{size}: sRGB mean {srgb}");
        }
    }

    #[test]
    fn linear_light_keeps_a_flat_colour_and_the_letterbox() {
        let out = render_linear(
            solid(300, 100, Layout::Rgb8, &[10, 200, 30]),
            Bars::Colour([1, 2, 3]),
        );
        assert_eq!(out.len(), 5); // 192 .. 24
        for (size, r) in out {
            let p = letterbox_placement(300, 100, size);
            let row = size as usize * 3;
            for (y, line) in r.data().chunks_exact(row).enumerate() {
                let inside = (p.y..p.y + p.height).contains(&(y as u32));
                let expected: &[u8] = if inside { &[10, 200, 30] } else { &[1, 2, 3] };
                assert!(line.chunks_exact(3).all(|px| px == expected), "{size}, row {y}");
            }
        }
    }

    #[test]
    fn linear_light_premultiplies_alpha() {
        // Opaque white and fully transparent black: the colour of what shows is white,
        // half covered. Without premultiplying, black would bleed in.
        let out = render_linear(
            checkerboard(96, Layout::Rgba8, &[0, 0, 0, 0], &[255, 255, 255, 255]),
            Bars::Transparent,
        );
        for (size, r) in out {
            for px in r.data().chunks_exact(4) {
                assert!(px[..3].iter().all(|&c| c >= 250), "{size}: {px:?}");
            }
            // Coverage is linear already: half the pixels, half the alpha.
            let alpha = mean(r.data(), 4, 3);
            assert!((124.0..=131.0).contains(&alpha), "{size}: mean alpha {alpha}");
        }
    }

    /// The renditions of the `side` px crop at (`x`, `y`) of `pixels`.
    fn render_crop(pixels: Pixels, (x, y, side): (u32, u32, u32)) -> Vec<Resized> {
        let crop = crate::request::CropBox::new(x, y, side).unwrap();
        let sq = square(pixels.width(), pixels.height(), Some(crop)).unwrap();
        let sizes = SizeSet::for_side(sq.side(), true);
        let image = apply(Oriented::from_pixels_for_tests(pixels), sq, Bars::Transparent);
        Renderer::new().render(&image, &sizes).unwrap()
    }

    #[test]
    fn a_transparent_crop_renders_as_the_same_crop_cut_out_first() {
        // Only the columns around the crop are premultiplied for fir: the renditions must
        // be those of a picture that never had the others, at every size (a downscale
        // from the picture, an upscale from it, and sizes cascading from the first).
        let (width, height) = (600u32, 300u32);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..width * height * 4)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let cut = |from: u32, to: u32| {
            let data = noise
                .chunks_exact(width as usize * 4)
                .flat_map(|row| &row[from as usize * 4..to as usize * 4])
                .copied()
                .collect();
            Pixels::new(to - from, height, Layout::Rgba8, data).unwrap()
        };
        for (x, y, side) in [(230, 40, 200), (260, 100, 60)] {
            let whole = render_crop(cut(0, width), (x, y, side));
            let alone = render_crop(cut(130, 530), (x - 130, y, side));
            assert_eq!(whole.len(), alone.len());
            for (a, b) in whole.iter().zip(&alone) {
                assert!(a.pixels.data() == b.pixels.data(), "{side} px crop, {} px", a.size);
            }
        }
    }

    #[test]
    fn a_flat_colour_stays_flat_at_every_size() {
        let out = render(
            solid(1100, 1100, Layout::Rgb8, &[10, 200, 30]),
            Bars::Colour([0; 3]),
            false,
        );
        assert_eq!(
            out.iter().map(|r| r.size).collect::<Vec<_>>(),
            [1024, 512, 192, 72, 48, 32, 24]
        );
        for r in out {
            assert!(
                r.pixels.data().chunks_exact(3).all(|p| p == [10, 200, 30]),
                "{}",
                r.size
            );
        }
    }

    #[test]
    fn letterbox_bars_take_the_bar_colour_and_keep_the_picture_edge_clean() {
        let out = render(
            solid(300, 100, Layout::Rgba8, &[200, 100, 50, 255]),
            Bars::Transparent,
            false,
        );
        for r in out {
            let p = letterbox_placement(300, 100, r.size);
            let at = |x: u32, y: u32| {
                let i = ((y * r.size + x) * 4) as usize;
                &r.pixels.data()[i..i + 4]
            };
            assert_eq!(at(0, 0), [0, 0, 0, 0], "{} px top bar", r.size);
            assert_eq!(
                at(r.size - 1, r.size - 1),
                [0, 0, 0, 0],
                "{} px bottom bar",
                r.size
            );
            // The picture's first and last rows are the picture, not a blend with the bars.
            assert_eq!(at(r.size / 2, p.y), [200, 100, 50, 255], "{} px", r.size);
            assert_eq!(
                at(r.size / 2, p.y + p.height - 1),
                [200, 100, 50, 255],
                "{} px",
                r.size
            );
        }
    }

    /// What fir alone and `renderer`'s RGB passes make of `region` of a `width` x `height`
    /// picture of noise from `seed`, resized to `target` with `kernel`; the first `None`
    /// when the wrapper refuses fir the crop (an upscale from a fractional edge, which
    /// setphoto never asks of it), the second when the renderer leaves the resize to fir.
    fn fir_and_ours(
        renderer: &mut Renderer,
        (width, height): (u32, u32),
        region: Region,
        target: (u32, u32),
        kernel: Kernel,
        seed: u64,
    ) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        // Half the bytes at 0 or 255, where the filters overshoot and the clamps matter.
        let mut state = seed | 1;
        let data: Vec<u8> = (0..width * height * 3)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let byte = (state >> 56) as u8;
                if byte < 64 {
                    0
                } else if byte < 128 {
                    255
                } else {
                    byte
                }
            })
            .collect();
        let from = ImageRef::new(width, height, &data, PixelType::U8x3).unwrap();
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Custom(kernel.filter())))
            .crop(region.x, region.y, region.width, region.height);
        let len = (target.0 * target.1 * 3) as usize;
        let (mut fir, mut ours) = (vec![0u8; len], vec![0u8; len]);
        let mut into = Image::from_slice_u8(target.0, target.1, &mut fir, PixelType::U8x3).unwrap();
        let resized = setphoto_fir::resize(&mut Resizer::new(), &from, &mut into, &options);
        drop(into);
        let fir = match resized {
            Ok(()) => Some(fir),
            Err(setphoto_fir::Error::FractionalUpscale) => None,
            Err(error) => panic!("fir: {error}"),
        };
        let done = renderer
            .resize_rgb(
                &from,
                region,
                kernel,
                &mut Image::from_slice_u8(target.0, target.1, &mut ours, PixelType::U8x3).unwrap(),
            )
            .unwrap();
        (fir, done.then_some(ours))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Our vertical and horizontal passes give fir's pixels exactly, for
        /// whole and fractional regions, down- and upscales in either or both directions,
        /// with either filter, wherever fir can take the crop (the kernels' fuzz harness
        /// holds ours to a float evaluation everywhere).
        #[test]
        fn our_rgb_resize_makes_firs_pixels(
            (width, height) in (1u32..200, 1u32..200),
            region in (0.0f64..0.5, 0.0f64..0.5, 0.5f64..=1.0, 0.5f64..=1.0),
            whole_region in proptest::prelude::any::<bool>(),
            out in (0.05f64..=2.5, 0.05f64..=2.5),
            catmull_rom in proptest::prelude::any::<bool>(),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let kernel = if catmull_rom { Kernel::CatmullRom } else { Kernel::Lanczos3 };
            let region_fraction = (region.2, region.3);
            let mut region = Region {
                x: region.0 * f64::from(width),
                y: region.1 * f64::from(height),
                width: 0.0,
                height: 0.0,
            };
            region.width = (f64::from(width) - region.x) * region_fraction.0;
            region.height = (f64::from(height) - region.y) * region_fraction.1;
            if whole_region {
                region = Region { x: region.x.floor(), y: region.y.floor(), ..region };
                region.width = region.width.floor().max(1.0);
                region.height = region.height.floor().max(1.0);
            }
            let target = (((region.width * out.0) as u32).max(1), ((region.height * out.1) as u32).max(1));
            let (fir, ours) = fir_and_ours(&mut Renderer::new(), (width, height), region, target, kernel, seed);
            let needs_horizontal = f64::from(target.0) != region.width || region.x != region.x.round();
            proptest::prop_assert_eq!(ours.is_some(), needs_horizontal);
            if let (Some(ours), Some(fir)) = (ours, fir) {
                proptest::prop_assert!(ours == fir, "{}x{} {:?} -> {:?}", width, height, region, target);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]

        /// An upscale by two (whole-pixel regions, twice as wide and high) takes the fused
        /// pass on AVX2 CPUs and gives fir's pixels exactly.
        #[test]
        fn a_doubling_makes_firs_pixels(
            (width, height) in (6u32..300, 6u32..120),
            region in (0.0f64..1.0, 0.0f64..1.0, 0.0f64..=1.0, 0.0f64..=1.0),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let x = (region.0 * f64::from(width - 6)).floor();
            let y = (region.1 * f64::from(height - 6)).floor();
            let region = Region {
                x,
                y,
                width: 6.0 + (region.2 * (f64::from(width) - x - 6.0)).floor(),
                height: 6.0 + (region.3 * (f64::from(height) - y - 6.0)).floor(),
            };
            let target = ((2.0 * region.width) as u32, (2.0 * region.height) as u32);
            let mut renderer = Renderer::new();
            let (fir, ours) = fir_and_ours(&mut renderer, (width, height), region, target, Kernel::CatmullRom, seed);
            let fused = matches!(renderer.doubling, Some((_, _, Some(_))));
            proptest::prop_assert_eq!(fused, setphoto_kernels::Cpu::detect() == setphoto_kernels::Cpu::Avx2);
            proptest::prop_assert!(fir.is_some() && ours == fir, "{}x{} {:?}", width, height, region);
        }
    }

    #[test]
    fn our_catmull_rom_makes_firs_built_in_one() {
        // Upscales used `FilterType::CatmullRom` before our pass took them over.
        for (width, height, out_w, out_h) in [(5, 7, 24, 24), (31, 17, 64, 40), (100, 3, 240, 7)] {
            let data: Vec<u8> = (0..width * height * 3)
                .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect();
            let from = ImageRef::new(width, height, &data, PixelType::U8x3).unwrap();
            let resize = |filter: FilterType| {
                let mut out = vec![0u8; (out_w * out_h * 3) as usize];
                let mut image =
                    Image::from_slice_u8(out_w, out_h, &mut out, PixelType::U8x3).unwrap();
                let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
                setphoto_fir::resize(&mut Resizer::new(), &from, &mut image, &options).unwrap();
                out
            };
            assert_eq!(
                resize(FilterType::Custom(Kernel::CatmullRom.filter())),
                resize(FilterType::CatmullRom),
                "{width}x{height} -> {out_w}x{out_h}"
            );
        }
    }

    #[test]
    fn kept_passes_make_what_new_ones_make_and_stay_few() {
        let picture = |side: u32, seed: u32| {
            let data = (0..side * side * 3)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as u8)
                .collect();
            let pixels = Pixels::new(side, side, Layout::Rgb8, data).unwrap();
            let sq = square(side, side, None).unwrap();
            (
                apply(
                    Oriented::from_pixels_for_tests(pixels),
                    sq,
                    Bars::Colour([0; 3]),
                ),
                SizeSet::for_side(side, false),
            )
        };
        let mut kept = Renderer::new();
        for (side, seed) in [
            (1100, 1),
            (700, 2),
            (1100, 3),
            (1300, 4),
            (700, 5),
            (1100, 6),
        ] {
            let (image, sizes) = picture(side, seed);
            let fresh = Renderer::new().render(&image, &sizes).unwrap();
            let again = kept.render(&image, &sizes).unwrap();
            for (a, b) in fresh.iter().zip(&again) {
                assert_eq!(a.pixels.data(), b.pixels.data(), "{side} px -> {}", a.size);
            }
            assert!(kept.passes.len() <= KEEP_PASSES);
        }
        // The shared cascade (512 -> 192 -> .. -> 24) is kept once, not once per set.
        let keys: Vec<_> = kept.passes.iter().map(|(key, _)| *key).collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "{key:?} kept twice");
        }
    }

    #[test]
    fn the_thread_local_renderer_frees_buffers_over_its_cap() {
        let sizes = SizeSet::for_side(1024, false);
        let square_of = |width: u32, height: u32| {
            let pixels = solid(width, height, Layout::Rgb8, &[1, 2, 3]);
            let sq = square(width, height, None).unwrap();
            apply(
                Oriented::from_pixels_for_tests(pixels),
                sq,
                Bars::Colour([0; 3]),
            )
        };
        // The vertical pass comes first: the 1024 px size's intermediate is the source's
        // width by 1024 rows, 5800 x 1024 x 3 bytes = 17.8 MB here.
        let wide = square_of(5_800, 5_800);
        let kept = Renderer::with_thread_local(|renderer| {
            renderer.render(&wide, &sizes).unwrap();
            renderer.buffer_bytes()
        });
        assert!(
            kept > KEEP_BUFFERS_MAX_BYTES,
            "the test needs a large buffer: {kept}"
        );
        let after = Renderer::with_thread_local(|renderer| renderer.buffer_bytes());
        assert!(after <= KEEP_BUFFERS_MAX_BYTES, "{after} bytes kept");
    }

    #[test]
    fn upscaling_makes_every_size_from_a_tiny_square() {
        let out = render(
            solid(3, 3, Layout::Rgb8, &[9, 9, 9]),
            Bars::Colour([0; 3]),
            true,
        );
        assert_eq!(out.len(), 7);
        assert!(out.iter().all(|r| r.pixels.data().iter().all(|&c| c == 9)));
    }
}
