//! The plain pixel buffer passed between the decode, square, resize and encode stages.

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
        let expected = usize::try_from(width)
            .ok()?
            .checked_mul(usize::try_from(height).ok()?)?
            .checked_mul(layout.channels())?;
        (data.len() == expected).then_some(Self {
            width,
            height,
            layout,
            data,
        })
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
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// Whether any pixel is not fully opaque.
    #[must_use]
    pub fn has_transparency(&self) -> bool {
        match self.layout {
            Layout::Rgb8 => false,
            Layout::Rgba8 => self.data.chunks_exact(4).any(|p| p[3] != 255),
        }
    }
}
