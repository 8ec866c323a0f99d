//! The colour stage of the encoder: RGB(A) rows become level-shifted luma and chroma planes,
//! cut into 8x8 blocks for the DCT. For 4:2:0, sixteen rows at a time with chroma averaged
//! over 2x2 pixels ([`Strip`]); for 4:4:4, eight rows at a time, every plane at full
//! resolution ([`FullStrip`]).

use super::dct::Block;

/// The JFIF colour transform (ITU-R BT.601, full range), with luma level-shifted by 128 and
/// chroma centred on 0, as the DCT wants them.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];
const BLUE_DIFFERENCE: [f32; 3] = [-0.168_736, -0.331_264, 0.5];
const RED_DIFFERENCE: [f32; 3] = [0.5, -0.418_688, -0.081_312];

/// Sixteen image rows as planes: luma at full resolution, chroma averaged over 2x2 pixels,
/// both padded to whole macroblocks by repeating the last column and row (as libjpeg does, so
/// edges do not bleed towards black).
pub(super) struct Strip {
    width: usize,
    pub(super) macroblocks: usize,
    luma_width: usize,
    pub(super) chroma_width: usize,
    luma: Vec<f32>,
    pub(super) blue: Vec<f32>,
    pub(super) red: Vec<f32>,
}

impl Strip {
    pub(super) fn new(width: usize) -> Self {
        let macroblocks = width.div_ceil(16);
        let luma_width = macroblocks * 16;
        let chroma_width = macroblocks * 8;
        Self {
            width,
            macroblocks,
            luma_width,
            chroma_width,
            luma: vec![0.0; luma_width * 16],
            blue: vec![0.0; chroma_width * 8],
            red: vec![0.0; chroma_width * 8],
        }
    }

    /// Converts image rows `top..top + 16` (the last row repeated past the bottom).
    #[inline(always)]
    pub(super) fn fill<const CHANNELS: usize>(&mut self, data: &[u8], rows: usize, top: usize) {
        let stride = self.width * CHANNELS;
        let row = |y: usize| &data[y.min(rows - 1) * stride..][..stride];
        for dy in 0..16 {
            let luma = &mut self.luma[dy * self.luma_width..][..self.luma_width];
            let source = row(top + dy);
            for (sample, pixel) in luma.iter_mut().zip(source.chunks_exact(CHANNELS)) {
                *sample = weigh_sum(&LUMA, &channels::<CHANNELS>(pixel)) - 128.0;
            }
            let last = luma[self.width - 1];
            luma[self.width..].fill(last);
        }
        let pairs = self.width / 2;
        for dy in 0..8 {
            let upper = row(top + 2 * dy);
            let lower = row(top + 2 * dy + 1);
            let blue = &mut self.blue[dy * self.chroma_width..][..self.chroma_width];
            let red = &mut self.red[dy * self.chroma_width..][..self.chroma_width];
            let quads = upper
                .chunks_exact(2 * CHANNELS)
                .zip(lower.chunks_exact(2 * CHANNELS));
            for ((b, r), (up, down)) in blue.iter_mut().zip(red.iter_mut()).zip(quads) {
                let sum = quad_sum::<CHANNELS>(up, down);
                *b = weigh_sum(&BLUE_DIFFERENCE, &sum) * 0.25;
                *r = weigh_sum(&RED_DIFFERENCE, &sum) * 0.25;
            }
            let mut filled = pairs;
            if self.width % 2 == 1 {
                // The last column pairs with itself.
                let x = (self.width - 1) * CHANNELS;
                let sum: [f32; 3] = std::array::from_fn(|c| {
                    2.0 * (f32::from(upper[x + c]) + f32::from(lower[x + c]))
                });
                blue[pairs] = weigh_sum(&BLUE_DIFFERENCE, &sum) * 0.25;
                red[pairs] = weigh_sum(&RED_DIFFERENCE, &sum) * 0.25;
                filled += 1;
            }
            let (last_blue, last_red) = (blue[filled - 1], red[filled - 1]);
            blue[filled..].fill(last_blue);
            red[filled..].fill(last_red);
        }
    }

    #[inline(always)]
    pub(super) fn luma_block(&self, x: usize, top: usize) -> Block {
        block_at(&self.luma[top * self.luma_width + x..], self.luma_width)
    }

    #[inline(always)]
    pub(super) fn chroma_block(plane: &[f32], width: usize, x: usize) -> Block {
        block_at(&plane[x..], width)
    }
}

/// Eight image rows as three full-resolution planes (4:4:4), padded to whole blocks by
/// repeating the last column and row.
pub(super) struct FullStrip {
    width: usize,
    /// Blocks across.
    pub(super) blocks: usize,
    stride: usize,
    pub(super) planes: [Vec<f32>; 3],
}

impl FullStrip {
    pub(super) fn new(width: usize) -> Self {
        let blocks = width.div_ceil(8);
        let stride = blocks * 8;
        Self {
            width,
            blocks,
            stride,
            planes: std::array::from_fn(|_| vec![0.0; stride * 8]),
        }
    }

    /// Converts image rows `top..top + 8` (the last row repeated past the bottom).
    #[inline(always)]
    pub(super) fn fill<const CHANNELS: usize>(&mut self, data: &[u8], rows: usize, top: usize) {
        let stride = self.width * CHANNELS;
        let [luma, blue, red] = &mut self.planes;
        for dy in 0..8 {
            let source = &data[(top + dy).min(rows - 1) * stride..][..stride];
            let at = dy * self.stride;
            let luma = &mut luma[at..][..self.stride];
            let blue = &mut blue[at..][..self.stride];
            let red = &mut red[at..][..self.stride];
            let samples = luma.iter_mut().zip(blue.iter_mut()).zip(red.iter_mut());
            for (((y, b), r), pixel) in samples.zip(source.chunks_exact(CHANNELS)) {
                let rgb = channels::<CHANNELS>(pixel);
                *y = weigh_sum(&LUMA, &rgb) - 128.0;
                *b = weigh_sum(&BLUE_DIFFERENCE, &rgb);
                *r = weigh_sum(&RED_DIFFERENCE, &rgb);
            }
            for plane in [luma, blue, red] {
                let last = plane[self.width - 1];
                plane[self.width..].fill(last);
            }
        }
    }

    /// The block of `plane` (0 luma, 1 Cb, 2 Cr) whose left column is `x`.
    #[inline(always)]
    pub(super) fn block(&self, plane: usize, x: usize) -> Block {
        block_at(&self.planes[plane][x..], self.stride)
    }
}

/// The 8x8 block whose top-left sample starts `plane`, rows `stride` apart.
#[inline(always)]
fn block_at(plane: &[f32], stride: usize) -> Block {
    let mut block = [[0.0; 8]; 8];
    for (dy, row) in block.iter_mut().enumerate() {
        row.copy_from_slice(&plane[dy * stride..][..8]);
    }
    block
}

/// A pixel's R, G, B. RGBA pixels are read as one 32-bit word each and split by shifts,
/// which the compiler turns into whole-vector operations; byte by byte it inserted them into
/// vectors one at a time.
#[inline(always)]
fn channels<const CHANNELS: usize>(pixel: &[u8]) -> [f32; 3] {
    if CHANNELS == 4 {
        let word = u32::from_le_bytes([pixel[0], pixel[1], pixel[2], pixel[3]]);
        [word & 0xFF, word >> 8 & 0xFF, word >> 16 & 0xFF].map(|v| v as f32)
    } else {
        [pixel[0], pixel[1], pixel[2]].map(f32::from)
    }
}

/// R, G, B summed over two horizontal pairs of pixels, one row above the other. Integer sums
/// (at most 1020) are exact in f32, so they equal any order of float additions.
#[inline(always)]
fn quad_sum<const CHANNELS: usize>(upper: &[u8], lower: &[u8]) -> [f32; 3] {
    if CHANNELS == 4 {
        // R and B in the low halves of two 16-bit fields, G in one: four of them fit.
        let words = [&upper[..4], &upper[4..8], &lower[..4], &lower[4..8]]
            .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]));
        let red_blue: u32 = words.iter().map(|w| w & 0x00FF_00FF).sum();
        let green: u32 = words.iter().map(|w| w >> 8 & 0xFF).sum();
        [red_blue & 0xFFFF, green, red_blue >> 16].map(|v| v as f32)
    } else {
        std::array::from_fn(|c| {
            f32::from(u16::from(upper[c]) + u16::from(upper[CHANNELS + c]))
                + f32::from(u16::from(lower[c]) + u16::from(lower[CHANNELS + c]))
        })
    }
}

#[inline(always)]
fn weigh_sum(weights: &[f32; 3], sum: &[f32; 3]) -> f32 {
    (weights[0] * sum[0] + weights[1] * sum[1]) + weights[2] * sum[2]
}
