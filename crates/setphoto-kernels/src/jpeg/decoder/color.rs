//! Samples to RGB: YCbCr (JFIF, full range) in 16-bit fixed point as libjpeg does, grey,
//! and components that are RGB already; and four-component samples to ink (CMYK, YCCK).

/// What a frame's components hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Model {
    /// One component: luma.
    Grey,
    /// Three: luma and the two colour differences.
    YCbCr,
    /// Three: red, green and blue (an Adobe marker with transform 0, or ids 'R', 'G', 'B').
    Rgb,
    /// Four: cyan, magenta, yellow and black, inverted as Adobe stores them (255: no ink).
    Cmyk,
    /// Four: the inverted cyan, magenta and yellow as YCbCr, and the inverted black.
    Ycck,
}

impl Model {
    /// Bytes per output pixel: RGB, or ink for four components.
    pub(super) const fn channels(self) -> usize {
        match self {
            Self::Grey | Self::YCbCr | Self::Rgb => 3,
            Self::Cmyk | Self::Ycck => 4,
        }
    }
}

/// `1.402`, `0.344136`, `0.714136` and `1.772` in 16.16 fixed point.
const CR_TO_R: i32 = 91_881;
const CB_TO_G: i32 = 22_554;
const CR_TO_G: i32 = 46_802;
const CB_TO_B: i32 = 116_130;
const HALF: i32 = 1 << 15;

/// Converts one row: `luma`, `cb` and `cr` samples to packed RGB in `rgb` (three bytes a
/// sample; as many samples as `rgb` holds).
#[inline(always)]
pub(super) fn ycbcr_row(luma: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) {
    for (((pixel, &y), &cb), &cr) in rgb.chunks_exact_mut(3).zip(luma).zip(cb).zip(cr) {
        let y = i32::from(y);
        let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
        let r = y + ((CR_TO_R * cr + HALF) >> 16);
        let g = y + ((HALF - CB_TO_G * cb - CR_TO_G * cr) >> 16);
        let b = y + ((CB_TO_B * cb + HALF) >> 16);
        pixel[0] = r.clamp(0, 255) as u8;
        pixel[1] = g.clamp(0, 255) as u8;
        pixel[2] = b.clamp(0, 255) as u8;
    }
}

/// Converts one row of grey samples to packed RGB.
#[inline(always)]
pub(super) fn grey_row(luma: &[u8], rgb: &mut [u8]) {
    for (pixel, &y) in rgb.chunks_exact_mut(3).zip(luma) {
        pixel.fill(y);
    }
}

/// Interleaves one row of red, green and blue samples into packed RGB.
#[inline(always)]
pub(super) fn rgb_row(red: &[u8], green: &[u8], blue: &[u8], rgb: &mut [u8]) {
    for (((pixel, &r), &g), &b) in rgb.chunks_exact_mut(3).zip(red).zip(green).zip(blue) {
        pixel.copy_from_slice(&[r, g, b]);
    }
}

/// Converts one row of Adobe CMYK samples to ink, four bytes a sample (C, M, Y, K; 0 none,
/// 255 full): the stored values inverted, as jpeg-decoder gives them.
#[inline(always)]
pub(super) fn cmyk_row(c: &[u8], m: &[u8], y: &[u8], k: &[u8], ink: &mut [u8]) {
    for ((((pixel, &c), &m), &y), &k) in ink.chunks_exact_mut(4).zip(c).zip(m).zip(y).zip(k) {
        pixel.copy_from_slice(&[255 - c, 255 - m, 255 - y, 255 - k]);
    }
}

/// Converts one row of YCCK samples to ink, as [`cmyk_row`]: the YCbCr of the inverted
/// cyan, magenta and yellow converts as a colour's would (to the inks themselves), and the
/// black is inverted.
#[inline(always)]
pub(super) fn ycck_row(luma: &[u8], cb: &[u8], cr: &[u8], k: &[u8], ink: &mut [u8]) {
    let mut rgb = [0u8; 3];
    for ((((pixel, &y), &cb), &cr), &k) in ink.chunks_exact_mut(4).zip(luma).zip(cb).zip(cr).zip(k)
    {
        ycbcr_row(&[y], &[cb], &[cr], &mut rgb);
        pixel.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255 - k]);
    }
}

/// Inks (C, M, Y, K, 0 none to 255 full, four bytes a pixel) to RGB without a profile, as
/// zune-jpeg converts an Adobe CMYK or YCCK file: each colour's complement scaled by the
/// black's, `(255 - ink) (255 - k) / 255` rounded. As many pixels as both hold.
pub fn ink_to_rgb(ink: &[u8], rgb: &mut [u8]) {
    let scale = |a: u8, b: u8| {
        let t = u32::from(a) * u32::from(b) + 128;
        ((t + (t >> 8)) >> 8) as u8
    };
    for (ink, pixel) in ink.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
        let white = 255 - ink[3];
        for (channel, &colour) in pixel.iter_mut().zip(&ink[..3]) {
            *channel = scale(255 - colour, white);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inks_convert_as_their_complements_darkened_by_black() {
        let mut rgb = [0u8; 9];
        ink_to_rgb(&[0, 0, 0, 0, 255, 0, 0, 0, 0, 128, 255, 128], &mut rgb);
        // No ink is white; full cyan leaves no red; half black halves what is left.
        assert_eq!(rgb, [255, 255, 255, 0, 255, 255, 127, 63, 0]);
    }

    #[test]
    fn inks_come_out_uninverted_from_cmyk_and_ycck() {
        let mut ink = [0u8; 8];
        cmyk_row(&[255, 0], &[200, 55], &[0, 255], &[255, 10], &mut ink);
        assert_eq!(ink, [0, 55, 255, 0, 255, 200, 0, 245]);
        // YCCK of no ink (white: luma 255, neutral chroma) and full black: the inks of
        // the colour part are what YCbCr gives, the black inverted.
        let mut ink = [0u8; 8];
        ycck_row(&[255, 0], &[128, 128], &[128, 128], &[255, 0], &mut ink);
        assert_eq!(ink, [255, 255, 255, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn neutral_chroma_is_grey_and_primaries_come_out() {
        let mut rgb = [0u8; 9];
        ycbcr_row(&[0, 128, 255], &[128; 3], &[128; 3], &mut rgb);
        assert_eq!(rgb, [0, 0, 0, 128, 128, 128, 255, 255, 255]);
        // Pure red, green and blue as JFIF encodes them (rounded).
        let mut rgb = [0u8; 9];
        ycbcr_row(&[76, 150, 29], &[85, 44, 255], &[255, 21, 107], &mut rgb);
        let expected = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
        for (got, want) in rgb.chunks(3).zip(expected) {
            for (g, w) in got.iter().zip(want) {
                assert!((i32::from(*g) - w).abs() <= 2, "{got:?} vs {want:?}");
            }
        }
    }
}
