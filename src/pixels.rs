//! The plain pixel buffer passed between the decode, square, resize and encode stages,
//! and the spare buffers it recycles.
//!
//! A set needs a handful of large buffers (the decoded picture: 3.5 MB for a 1080 px
//! photo, 9 MB for a 12 MP one at 1/2; the 1024 px rendition: 3 MB). Freshly allocated,
//! each costs a page fault for every 4 KiB on its first write, about 1 µs each: 2-5 ms a
//! set, 15-20% of a warm set's time, because the system allocator hands memory that
//! large back to the kernel when it is freed. A dropped [`Pixels`] therefore leaves its
//! buffer in a small process-wide pool, and the stages take theirs from it (as Pillow's
//! block cache and libvips' buffer cache do). A decoder's buffer is zeroed when taken, so
//! no pixel of one upload can reach another's output through a damaged file that a
//! decoder leaves partly unwritten; the resize, which writes every byte, takes its own as
//! they are.

use std::sync::Mutex;

/// How the bytes of a [`Pixels`] buffer are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// 8-bit R, G, B.
    Rgb8,
    /// 8-bit R, G, B, A (straight, not premultiplied).
    Rgba8,
}

impl Layout {
    /// Bytes per pixel.
    #[must_use]
    pub const fn channels(self) -> usize {
        match self {
            Self::Rgb8 => 3,
            Self::Rgba8 => 4,
        }
    }
}

/// A packed, row-major 8-bit image without padding.
///
/// Dropping it returns a large buffer to the pool [`Pixels::zeroed`] takes from.
#[derive(Clone, PartialEq, Eq)]
pub struct Pixels {
    width: u32,
    height: u32,
    layout: Layout,
    data: Vec<u8>,
}

impl std::fmt::Debug for Pixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pixels")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl Pixels {
    /// Wraps `data`; `None` when its length is not `width * height * channels`.
    #[must_use]
    pub fn new(width: u32, height: u32, layout: Layout, data: Vec<u8>) -> Option<Self> {
        (data.len() == byte_len(width, height, layout)?).then_some(Self {
            width,
            height,
            layout,
            data,
        })
    }

    /// A `width` x `height` picture of zero bytes, in a recycled buffer when one fits;
    /// `None` when its size overflows `usize`.
    #[must_use]
    pub fn zeroed(width: u32, height: u32, layout: Layout) -> Option<Self> {
        let len = byte_len(width, height, layout)?;
        Self::new(width, height, layout, buffer(len, Fill::Zero))
    }

    /// A `width` x `height` picture whose bytes may be left from an earlier upload's, for
    /// a stage that writes every byte before anything reads it (a resize into it, a
    /// fill); `None` when its size overflows `usize`. Crate-private: a caller that read
    /// before writing would see another upload's pixels.
    #[must_use]
    pub(crate) fn for_overwrite(width: u32, height: u32, layout: Layout) -> Option<Self> {
        let len = byte_len(width, height, layout)?;
        Self::new(width, height, layout, buffer(len, Fill::Any))
    }

    /// The raw bytes, to write.
    #[must_use]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Width in pixels.
    #[must_use]
    pub const fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub const fn height(&self) -> u32 {
        self.height
    }

    /// The byte layout.
    #[must_use]
    pub const fn layout(&self) -> Layout {
        self.layout
    }

    /// The raw bytes.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the raw bytes.
    #[must_use]
    pub fn into_data(mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }

    /// The same picture in RGB when it is RGBA with every pixel opaque (its alpha says
    /// nothing), else itself. Resizing and JPEG encoding are cheaper on three bytes a
    /// pixel, and give the same R, G, B.
    #[must_use]
    pub fn into_opaque_rgb(self) -> Self {
        if self.layout != Layout::Rgba8 || self.has_transparency() {
            return self;
        }
        self.without_alpha().unwrap_or(self)
    }

    /// An RGB copy of RGBA pixels, their alpha dropped whatever it says; `None` for RGB
    /// pixels.
    pub(crate) fn without_alpha(&self) -> Option<Self> {
        if self.layout != Layout::Rgba8 {
            return None;
        }
        let mut rgb = Self::for_overwrite(self.width, self.height, Layout::Rgb8)?;
        // Four pixels at a time as 32-bit words: 16 bytes in, 12 out.
        let mut quads_to = rgb.data.chunks_exact_mut(12);
        let mut quads_from = self.data.chunks_exact(16);
        for (to, from) in (&mut quads_to).zip(&mut quads_from) {
            let w: [u32; 4] = std::array::from_fn(|i| {
                u32::from_le_bytes(std::array::from_fn(|b| from[4 * i + b]))
            });
            write_rgb_quad(to, w);
        }
        let rest = quads_to.into_remainder().chunks_exact_mut(3);
        for (to, from) in rest.zip(quads_from.remainder().chunks_exact(4)) {
            to.copy_from_slice(&from[..3]);
        }
        Some(rgb)
    }

    /// Whether any pixel is not fully opaque.
    #[must_use]
    pub fn has_transparency(&self) -> bool {
        match self.layout {
            Layout::Rgb8 => false,
            // 64 pixels at a time: AND their words together (which vectorises), then
            // look at the alpha byte of the result.
            Layout::Rgba8 => self.data.chunks(256).any(|block| {
                let all = block.chunks_exact(4).fold(u32::MAX, |all, p| {
                    all & u32::from_le_bytes([p[0], p[1], p[2], p[3]])
                });
                all >> 24 != 255
            }),
        }
    }
}

/// `width * height * channels`, or `None` when it overflows `usize`.
fn byte_len(width: u32, height: u32, layout: Layout) -> Option<usize> {
    usize::try_from(width)
        .ok()?
        .checked_mul(usize::try_from(height).ok()?)?
        .checked_mul(layout.channels())
}

impl Drop for Pixels {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

/// Buffers smaller than this are left to the allocator, which keeps them cheaply.
const RECYCLE_MIN_BYTES: usize = 256 << 10;
/// At most this many bytes wait in the pool: enough for the buffers of two sets of a
/// 12 MP photo in flight, little beside a service's working set.
pub(crate) const POOL_MAX_BYTES: usize = 48 << 20;
/// At most this many buffers wait in the pool.
const POOL_MAX_BUFFERS: usize = 16;

/// Spare buffers, oldest first, and their summed capacity.
#[derive(Debug)]
struct Pool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl Pool {
    const fn new() -> Self {
        Self {
            buffers: Vec::new(),
            bytes: 0,
        }
    }

    /// The smallest spare that holds `len` bytes without wasting more than half of itself.
    fn take(&mut self, len: usize) -> Option<Vec<u8>> {
        let best = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len && b.capacity() / 2 <= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)?;
        let buffer = self.buffers.remove(best);
        self.bytes -= buffer.capacity();
        Some(buffer)
    }

    /// Keeps `buffer` when it is large; returns what no longer fits (the oldest spares,
    /// or `buffer` itself), for the caller to free outside the lock.
    fn put(&mut self, buffer: Vec<u8>) -> Vec<Vec<u8>> {
        if !(RECYCLE_MIN_BYTES..=POOL_MAX_BYTES).contains(&buffer.capacity()) {
            return vec![buffer];
        }
        self.bytes += buffer.capacity();
        self.buffers.push(buffer);
        let mut evicted = Vec::new();
        while self.bytes > POOL_MAX_BYTES || self.buffers.len() > POOL_MAX_BUFFERS {
            let oldest = self.buffers.remove(0);
            self.bytes -= oldest.capacity();
            evicted.push(oldest);
        }
        evicted
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new());

/// What a buffer from [`buffer`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Zeros: for decoders, which may leave bytes of a damaged file unwritten.
    Zero,
    /// Whatever a recycled buffer held: for a writer of every byte.
    Any,
}

/// Writes four pixels given as little-endian RGBx words into `to` (12 bytes) as RGB, with
/// three 32-bit stores (pixel by pixel, each took a 2-byte and a 1-byte store).
#[inline(always)]
pub(crate) fn write_rgb_quad(to: &mut [u8], w: [u32; 4]) {
    let packed = [
        (w[0] & 0x00FF_FFFF) | (w[1] << 24),
        ((w[1] >> 8) & 0xFFFF) | (w[2] << 16),
        ((w[2] >> 16) & 0xFF) | (w[3] << 8),
    ];
    for (bytes, word) in to.chunks_exact_mut(4).zip(packed) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
}

/// `len` zero bytes, in a spare buffer when one fits, else a new allocation.
pub(crate) fn zeroed_buffer(len: usize) -> Vec<u8> {
    buffer(len, Fill::Zero)
}

/// `len` bytes of whatever a spare buffer held (or zeros), for a caller that writes every
/// byte before anyone reads one.
pub(crate) fn buffer_for_overwrite(len: usize) -> Vec<u8> {
    buffer(len, Fill::Any)
}

/// `len` bytes filled as `fill` says, in a spare buffer when one fits.
fn buffer(len: usize, fill: Fill) -> Vec<u8> {
    if len >= RECYCLE_MIN_BYTES {
        let spare = POOL.lock().ok().and_then(|mut pool| pool.take(len));
        if let Some(mut buffer) = spare {
            // Zeroing memory that is already mapped costs a fraction of faulting it in.
            if fill == Fill::Zero {
                buffer.clear();
            }
            buffer.resize(len, 0);
            return buffer;
        }
    }
    vec![0; len]
}

/// Frees the large buffers kept for reuse (at most 48 MiB, shared by the whole process):
/// for a caller that wants the memory back after a burst, or that measures the heap.
pub fn release_spare_buffers() {
    let spares = POOL
        .lock()
        .map(|mut pool| {
            pool.bytes = 0;
            std::mem::take(&mut pool.buffers)
        })
        .unwrap_or_default();
    // Freed here, after the lock is released.
    drop(spares);
}

/// Keeps `buffer` for reuse when it is large.
pub(crate) fn recycle(buffer: Vec<u8>) {
    if buffer.capacity() < RECYCLE_MIN_BYTES {
        return;
    }
    let evicted = POOL.lock().map(|mut pool| pool.put(buffer));
    // Freed here, after the lock is released.
    drop(evicted);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn only_opaque_rgba_drops_its_alpha() {
        let rgba: Vec<u8> = (0..600u32)
            .map(|i| if i % 4 == 3 { 255 } else { (i * 7) as u8 })
            .collect();
        let opaque = Pixels::new(10, 15, Layout::Rgba8, rgba.clone()).unwrap();
        let rgb = opaque.into_opaque_rgb();
        assert_eq!(
            (rgb.layout(), rgb.width(), rgb.height()),
            (Layout::Rgb8, 10, 15)
        );
        let expect: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        assert_eq!(rgb.data(), expect);
        // One pixel not quite opaque keeps the alpha.
        let mut translucent = rgba.clone();
        translucent[599] = 254;
        let kept = Pixels::new(10, 15, Layout::Rgba8, translucent.clone()).unwrap();
        assert_eq!(kept.into_opaque_rgb().data(), translucent);
        for alpha_at in [3, 255, 259, 515, 599] {
            let mut one = rgba.clone();
            one[alpha_at] = 0;
            let pixels = Pixels::new(10, 15, Layout::Rgba8, one).unwrap();
            assert!(pixels.has_transparency(), "alpha byte {alpha_at}");
        }
        // RGB stays as it is.
        let same = Pixels::new(2, 1, Layout::Rgb8, vec![1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(same.clone().into_opaque_rgb(), same);
    }

    #[test]
    fn the_pool_hands_back_the_smallest_fitting_spare() {
        let mut pool = Pool::new();
        for len in [4 * MIB, MIB, 2 * MIB] {
            assert!(pool.put(vec![7; len]).is_empty());
        }
        let taken = pool.take(MIB + 1).unwrap();
        assert_eq!(taken.capacity(), 2 * MIB);
        assert_eq!(pool.bytes, 5 * MIB);
        // Over twice the request: left for a larger one.
        assert!(pool.take(MIB / 2 - 1).is_none());
        assert!(pool.take(5 * MIB).is_none());
    }

    #[test]
    fn the_pool_keeps_only_large_buffers_within_its_caps() {
        let mut pool = Pool::new();
        assert_eq!(pool.put(vec![0; RECYCLE_MIN_BYTES - 1]).len(), 1);
        assert_eq!(pool.put(vec![0; POOL_MAX_BYTES + 1]).len(), 1);
        let mut evicted = 0;
        for _ in 0..(POOL_MAX_BYTES / (4 * MIB) + 3) {
            evicted += pool.put(vec![0; 4 * MIB]).len();
        }
        assert!(pool.bytes <= POOL_MAX_BYTES);
        assert!(pool.buffers.len() <= POOL_MAX_BUFFERS);
        assert_eq!(evicted + pool.buffers.len(), POOL_MAX_BYTES / (4 * MIB) + 3);
    }

    #[test]
    fn a_recycled_buffer_comes_back_zeroed() {
        // Other tests share the process-wide pool, so only what holds whichever buffer
        // is handed out is asserted.
        let mut pixels = Pixels::zeroed(700, 500, Layout::Rgb8).unwrap();
        pixels.data_mut().fill(0xAB);
        drop(pixels);
        let again = Pixels::zeroed(700, 500, Layout::Rgb8).unwrap();
        assert_eq!(again.data().len(), 700 * 500 * 3);
        assert!(again.data().iter().all(|&b| b == 0));
    }
}
