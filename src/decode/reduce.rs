//! Integer box reduction of RGBA rows as they arrive, for decoders that hand out rows
//! (PNG, the GIF screen): the picture is never held at full size.

/// Box sums of RGBA rows, `factor` x `factor` pixels to a box (fewer at the right and
/// bottom edges), emitting a reduced row each time a band of `factor` rows is complete.
/// Colour is summed premultiplied by alpha.
#[derive(Debug)]
pub(super) struct BoxSums {
    width: u32,
    height: u32,
    factor: u32,
    /// Per reduced column: colour x alpha (three) and alpha.
    sums: Vec<[u32; 4]>,
    /// Rows added to the current band.
    band_rows: u32,
    /// Rows added in all.
    rows: u32,
    out: Vec<u8>,
}

impl BoxSums {
    /// Sums for a `width` x `height` picture reduced by `factor` (2 to 16).
    pub(super) fn new(width: u32, height: u32, factor: u32) -> Self {
        let out_w = width.div_ceil(factor) as usize;
        let out_h = height.div_ceil(factor) as usize;
        Self {
            width,
            height,
            factor,
            sums: vec![[0; 4]; out_w],
            band_rows: 0,
            rows: 0,
            out: crate::pixels::buffer_for_overwrite(out_w * out_h * 4),
        }
    }

    /// Adds the next row (`width` RGBA pixels); extra rows past the height are ignored.
    pub(super) fn add_row(&mut self, row: &[u8]) {
        if self.rows >= self.height {
            return;
        }
        let box_len = self.factor as usize * 4;
        for (sum, pixels) in self.sums.iter_mut().zip(row.chunks(box_len)) {
            for p in pixels.chunks_exact(4) {
                let a = u32::from(p[3]);
                sum[0] += u32::from(p[0]) * a;
                sum[1] += u32::from(p[1]) * a;
                sum[2] += u32::from(p[2]) * a;
                sum[3] += a;
            }
        }
        self.rows += 1;
        self.band_rows += 1;
        if self.band_rows == self.factor || self.rows == self.height {
            self.emit();
        }
    }

    /// Whether every row of the picture was added.
    pub(super) const fn is_complete(&self) -> bool {
        self.rows == self.height
    }

    /// Writes the current band's reduced row and clears the sums.
    fn emit(&mut self) {
        let out_w = self.sums.len();
        let band = (self.rows - 1) / self.factor;
        let start = band as usize * out_w * 4;
        let out = &mut self.out[start..start + out_w * 4];
        let last_w = self.width - (out_w as u32 - 1) * self.factor;
        for (x, (sum, pixel)) in self.sums.iter_mut().zip(out.chunks_exact_mut(4)).enumerate() {
            let box_w = if x + 1 == out_w { last_w } else { self.factor };
            pixel.copy_from_slice(&average(*sum, box_w * self.band_rows));
            *sum = [0; 4];
        }
        self.band_rows = 0;
    }

    /// The reduced picture (RGBA). Rows never added are left as the buffer held them; the
    /// caller checks [`Self::is_complete`] first.
    pub(super) fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// The average of a box of `count` pixels from its premultiplied sums, unpremultiplied.
/// The alpha of a box with any pixel less than opaque stays below 255, so whether a
/// picture has transparency (which decides the output format) survives the reduction.
#[inline(always)]
fn average([r, g, b, a]: [u32; 4], count: u32) -> [u8; 4] {
    let count = count.max(1);
    let mut alpha = (a + count / 2) / count;
    if a < 255 * count {
        alpha = alpha.min(254);
    }
    if a == 0 {
        return [0, 0, 0, 0];
    }
    // Each quotient is a weighted mean of 8-bit samples: at most 255.
    let channel = |c: u32| ((c + a / 2) / a) as u8;
    [channel(r), channel(g), channel(b), alpha as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_sums_average_each_box_and_keep_transparency() {
        // 5 x 3, reduced by 2: boxes of 2x2, 1x2 at the right, 2x1 and 1x1 at the bottom.
        let mut rows = vec![vec![0u8; 20]; 3];
        for (y, row) in rows.iter_mut().enumerate() {
            for (x, p) in row.chunks_exact_mut(4).enumerate() {
                p.copy_from_slice(&[(10 * x + y) as u8, 100, 200, 255]);
            }
        }
        // One transparent pixel whose colour must not count, one nearly opaque one.
        rows[0][0..4].copy_from_slice(&[255, 255, 255, 0]);
        rows[2][16..20].copy_from_slice(&[40, 100, 200, 254]);
        let mut boxes = BoxSums::new(5, 3, 2);
        for row in &rows {
            boxes.add_row(row);
        }
        assert!(boxes.is_complete());
        let out = boxes.finish();
        assert_eq!(out.len(), 3 * 2 * 4);
        // Box (0,0): pixels (1,0), (0,1), (1,1) opaque, (0,0) transparent.
        // Red: (10 + 1 + 11) / 3 rounded, the transparent pixel's 255 not counted.
        assert_eq!(&out[0..4], &[7, 100, 200, 191]);
        // Box (2,0): one column (x = 4), two rows.
        assert_eq!(&out[8..12], &[41, 100, 200, 255]);
        // Box (2,1): the single pixel (4,2), alpha 254, stays below opaque.
        assert_eq!(&out[20..24], &[40, 100, 200, 254]);
        // Box (1,1): (2,2) and (3,2).
        assert_eq!(&out[16..20], &[27, 100, 200, 255]); // (22 + 32) / 2 rounded
    }

    #[test]
    fn a_box_of_nearly_opaque_pixels_is_not_opaque() {
        // 63 opaque pixels and one at 254 average to 254.98: rounding to 255 would make an
        // upload with transparency look opaque and change its output format.
        let sum = [0, 0, 0, 63 * 255 + 254];
        assert_eq!(average(sum, 64)[3], 254);
        assert_eq!(average([0, 0, 0, 64 * 255], 64)[3], 255);
    }
}
