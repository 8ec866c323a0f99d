//! The weights of one resampling pass along one axis (rows or columns), in 16-bit fixed
//! point.
//!
//! They are worked out by the scheme `fast_image_resize` uses for its 8-bit convolution
//! (Pillow's): each output pixel's centre is mapped into the source, the filter is widened
//! by the downscale factor, every source pixel under it gets the filter's value at its
//! distance, zero weights at either end are dropped, the rest are divided by their sum,
//! and all are scaled by 2^`precision`, the most bits that keep the largest weight in an
//! `i16`. The same steps in the same order give the same weights, so our vertical,
//! horizontal and fused passes (`crate::simd`) make the same pixels as fir's would;
//! `mod.rs` tests that.

/// The most fixed-point bits: an 8-bit value times the weights' sum, plus two bits for
/// filters whose partial sums go below zero or above one, must fit an `i32`.
const MAX_PRECISION: u32 = 32 - 8 - 2;

/// Each output pixel's first source pixel and weights along one axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taps {
    /// Weights per output pixel: a multiple of 4, the most any output pixel needs rounded
    /// up; the extra ones are 0, so SIMD code can take every output in whole groups.
    width: usize,
    /// Each output pixel's first source pixel.
    starts: Vec<u32>,
    /// `width` weights per output pixel, scaled by 2^`precision`.
    weights: Vec<i16>,
    /// Fixed-point bits of the weights.
    precision: u32,
    /// One past the last source pixel any output pixel reads.
    end: u32,
}

impl Taps {
    /// The taps that resample source pixels `from..to` (fractional, within
    /// `0..source_len`) to `out_len` pixels with `filter`, which is zero outside
    /// `-support..support`. `None` when there is nothing to resample.
    pub fn new(
        source_len: u32,
        from: f64,
        to: f64,
        out_len: u32,
        filter: fn(f64) -> f64,
        support: f64,
    ) -> Option<Self> {
        let scale = (to - from) / f64::from(out_len);
        // NaN scales (empty regions) fail the comparison too.
        let resamples = scale > 0.0 && support.is_finite();
        if source_len == 0 || out_len == 0 || !resamples {
            return None;
        }
        // Downscaling widens the filter, so every source pixel is heard; upscaling does not
        // narrow it.
        let widen = scale.max(1.0);
        let radius = support * widen;
        let per_widen = 1.0 / widen;
        let window = radius.ceil() as usize * 2 + 1;

        // First pass, in f64: each output's start, its weights (`window` slots each) and
        // how many of them are used.
        let out = out_len as usize;
        let mut starts = Vec::with_capacity(out);
        let mut lens = Vec::with_capacity(out);
        let mut real = vec![0.0f64; out * window];
        let mut largest = 0.0f64;
        for (o, slots) in real.chunks_exact_mut(window).enumerate() {
            let centre = from + (o as f64 + 0.5) * scale;
            let first = (centre - radius).floor().max(0.0) as u32;
            let last = (centre + radius).ceil().min(f64::from(source_len)) as u32;
            // Source pixel x covers x..x+1; its distance is from its middle.
            let middle = centre - 0.5;
            let mut start = first;
            let mut len = 0usize;
            let mut sum = 0.0;
            for x in first..last {
                let weight = filter((f64::from(x) - middle) * per_widen);
                if len == 0 && weight == 0.0 {
                    start += 1; // a zero at the front: start later
                } else {
                    slots[len] = weight;
                    len += 1;
                    sum += weight;
                }
            }
            while len > 0 && slots[len - 1] == 0.0 {
                len -= 1; // zeros at the back
            }
            if sum != 0.0 {
                for weight in &mut slots[..len] {
                    *weight /= sum;
                }
            }
            largest = slots[..len].iter().fold(largest, |a, &b| a.max(b));
            starts.push(start);
            lens.push(len);
        }

        // The most bits that keep the largest weight (rounded) under 2^15.
        let precision = (0..MAX_PRECISION)
            .find(|&bits| (largest * f64::from(1u32 << (bits + 1))).round() >= 32768.0)
            .unwrap_or(MAX_PRECISION - 1);
        let unit = f64::from(1u32 << precision);
        let width = lens
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1)
            .next_multiple_of(4);
        let mut weights = vec![0i16; out * width];
        for ((fixed, slots), &len) in weights
            .chunks_exact_mut(width)
            .zip(real.chunks_exact(window))
            .zip(&lens)
        {
            for (w, &r) in fixed.iter_mut().zip(&slots[..len]) {
                *w = (r * unit).round() as i16;
            }
        }
        let end = starts
            .iter()
            .zip(&lens)
            .map(|(&s, &l)| s + l as u32)
            .max()
            .unwrap_or(0);
        Some(Self {
            width,
            starts,
            weights,
            precision,
            end,
        })
    }

    /// Bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.starts.capacity() * size_of::<u32>() + self.weights.capacity() * size_of::<i16>()
    }

    /// Output pixels.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are no output pixels (never, for taps [`Taps::new`] made).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Weights per output pixel (a multiple of 4).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Fixed-point bits of the weights.
    pub fn precision(&self) -> u32 {
        self.precision
    }

    /// Output pixel `o`'s first source pixel.
    pub fn start(&self, o: usize) -> usize {
        self.starts[o] as usize
    }

    /// Output pixel `o`'s `width` weights.
    pub fn weights(&self, o: usize) -> &[i16] {
        &self.weights[o * self.width..][..self.width]
    }

    /// How many of output `o`'s weights are read: up to its last non-zero one (the rest
    /// is padding, which may name source pixels past the last).
    pub fn used(&self, o: usize) -> usize {
        self.weights(o)
            .iter()
            .rposition(|&w| w != 0)
            .map_or(0, |t| t + 1)
    }

    /// The source pixels any output reads: `first..end`.
    pub fn span(&self) -> (u32, u32) {
        (self.starts.iter().copied().min().unwrap_or(0), self.end)
    }

    /// The taps of outputs `outputs` alone (in their order), for a pass over just them.
    ///
    /// # Panics
    /// When `outputs` ends past the last output.
    pub fn select(&self, outputs: std::ops::Range<usize>) -> Self {
        let weights = self.weights[outputs.start * self.width..outputs.end * self.width].to_vec();
        let end = outputs
            .clone()
            .map(|o| self.start(o) + self.used(o))
            .max()
            .unwrap_or(0) as u32;
        let starts = self.starts[outputs].to_vec();
        Self {
            width: self.width,
            starts,
            weights,
            precision: self.precision,
            end,
        }
    }

    /// These taps as a [`Doubling`], when they are one.
    ///
    /// The pattern is read off the middle output pair and followed outwards, so the
    /// outputs near either end, whose weights were renormalised over fewer source pixels,
    /// fall outside it; it must hold for at least one pair.
    pub fn doubling(&self) -> Option<Doubling> {
        if self.width != 4 || self.precision < DOUBLING_BITS || self.len() < 2 {
            return None;
        }
        let step = self.precision - DOUBLING_BITS;
        // Output `o`'s weights in 2^-DOUBLING_BITS units, when all four are whole ones,
        // none is zero (so all four source pixels exist) and each fits an i8.
        let coarse = |o: usize| -> Option<[i8; 4]> {
            let mut out = [0i8; 4];
            for (c, &w) in out.iter_mut().zip(self.weights(o)) {
                let whole = i32::from(w) >> step;
                if w == 0 || whole << step != i32::from(w) {
                    return None;
                }
                *c = i8::try_from(whole).ok()?;
            }
            Some(out)
        };
        let pairs = self.len() / 2;
        let middle = pairs / 2;
        let weights = [coarse(2 * middle)?, coarse(2 * middle + 1)?];
        // Where pair p's even output starts, minus p: the same for every pair.
        let lead = self.start(2 * middle) as isize - middle as isize;
        let follows = |p: usize| {
            coarse(2 * p) == Some(weights[0])
                && coarse(2 * p + 1) == Some(weights[1])
                && self.start(2 * p + 1) == self.start(2 * p) + 1
                && self.start(2 * p) as isize - p as isize == lead
        };
        if !follows(middle) {
            return None;
        }
        let first = (0..middle).rev().take_while(|&p| follows(p)).last();
        let end = (middle + 1..pairs).take_while(|&p| follows(p)).last();
        let pairs = first.unwrap_or(middle)..end.unwrap_or(middle) + 1;
        let bias = Doubling::bias_for(weights)?;
        Some(Doubling {
            weights,
            start: self.start(2 * pairs.start),
            pairs,
            bias,
        })
    }

    /// The same taps for a source that begins at pixel `first` of this one.
    pub fn shifted_left(mut self, first: u32) -> Self {
        for start in &mut self.starts {
            *start -= first;
        }
        self.end -= first;
        self
    }
}

/// The fixed-point bits of a [`Doubling`]'s weights: 7, so that they fit `i8`s.
const DOUBLING_BITS: u32 = 7;

/// Taps that double the source along the row, as Catmull-Rom makes them from a whole
/// source region: each source pixel gives two outputs, an even one with four `weights[0]`
/// from the pixel two before it, and an odd one with four `weights[1]` one pixel later.
/// The weights are whole multiples of 2^-7, so the sums fit 16-bit lanes (see `bias`)
/// and a doubling pass can work on 16 lanes where the general one works on 8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doubling {
    /// The even and the odd outputs' weights, in 2^-7 units (sum: 128).
    pub weights: [[i8; 4]; 2],
    /// The output pairs (2p, 2p + 1) that follow the pattern: all but a few at the ends.
    pub pairs: std::ops::Range<usize>,
    /// The first source pixel of the first pair's even output; pair `pairs.start + i`
    /// starts `i` pixels later.
    pub start: usize,
    /// How many units of 128 lift the lowest sum (plus the 64 that round it) to zero or
    /// more, so that every sum is a `u16`: each 16-bit lane then holds
    /// `sum + 64 + 128 * bias` exactly, whatever wraps in between.
    pub bias: u16,
}

impl Doubling {
    /// The bias for `weights` on 8-bit pixels; `None` when a pair of weights (as
    /// `vpmaddubsw` multiplies them) could leave an `i16`, or the sums span more than a
    /// `u16` holds.
    fn bias_for(weights: [[i8; 4]; 2]) -> Option<u16> {
        // The lowest and highest sum of `taps` times 8-bit pixels.
        let span = |taps: &[i8]| -> (i32, i32) {
            taps.iter().fold((0, 0), |(low, high), &w| {
                let w = i32::from(w) * 255;
                (low + w.min(0), high + w.max(0))
            })
        };
        let pairs_fit = weights.iter().flat_map(|w| w.chunks_exact(2)).all(|pair| {
            let (low, high) = span(pair);
            low >= i32::from(i16::MIN) && high <= i32::from(i16::MAX)
        });
        let spans = weights.map(|w| span(&w));
        let lowest = spans.iter().map(|s| s.0).min()?;
        let bias = ((-(lowest + 64)).max(0) + 127) / 128;
        let highest = spans.iter().map(|s| s.1).max()?;
        let fits = highest + 64 + 128 * bias <= i32::from(u16::MAX);
        (pairs_fit && fits)
            .then(|| u16::try_from(bias).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triangle(x: f64) -> f64 {
        (1.0 - x.abs()).max(0.0)
    }

    #[test]
    fn halving_with_a_triangle_gives_the_textbook_weights() {
        // Each output covers two source pixels; the triangle widened to radius 2 weighs the
        // four pixels around it 1/8, 3/8, 3/8, 1/8 (the outer ones drop at the edges).
        let taps = Taps::new(8, 0.0, 8.0, 4, triangle, 1.0).unwrap();
        assert_eq!(taps.len(), 4);
        assert_eq!(taps.width(), 4);
        let unit = f64::from(1u32 << taps.precision());
        let expect = |w: &[f64]| {
            w.iter()
                .map(|&v| (v * unit).round() as i16)
                .collect::<Vec<_>>()
        };
        assert_eq!(taps.start(1), 1);
        assert_eq!(taps.weights(1), expect(&[0.125, 0.375, 0.375, 0.125]));
        // At the left edge the first pixel is missing and the rest are renormalised.
        assert_eq!(taps.start(0), 0);
        assert_eq!(
            taps.weights(0),
            expect(&[3.0 / 7.0, 3.0 / 7.0, 1.0 / 7.0, 0.0])
        );
        assert_eq!(taps.span(), (0, 8));
    }

    #[test]
    fn the_largest_weight_fills_but_never_overflows_an_i16() {
        for (len, out) in [(1080, 1024), (1024, 512), (300, 7), (4032, 1024), (50, 49)] {
            let taps = Taps::new(len, 0.0, f64::from(len), out, triangle, 1.0).unwrap();
            let largest = (0..taps.len())
                .flat_map(|o| taps.weights(o).iter().copied())
                .max()
                .unwrap();
            assert!(
                largest >= 1 << 14,
                "{len} -> {out}: {largest} under half the range"
            );
            assert!(taps.precision() < MAX_PRECISION);
        }
    }

    #[test]
    fn every_weight_lies_inside_the_source_and_sums_to_one() {
        let taps = Taps::new(100, 10.5, 73.25, 17, triangle, 1.0).unwrap();
        let unit = 1i32 << taps.precision();
        let (first, end) = taps.span();
        // The filter reaches its radius (support x 3.69, the downscale) past the region.
        let radius: f64 = (73.25 - 10.5) / 17.0;
        assert!(
            f64::from(first) >= (10.5 - radius).floor()
                && f64::from(end) <= (73.25 + radius).ceil(),
            "{first}..{end}"
        );
        for o in 0..taps.len() {
            let used = taps.weights(o).iter().rposition(|&w| w != 0).unwrap() + 1;
            assert!(taps.start(o) + used <= end as usize);
            let sum: i32 = taps.weights(o).iter().map(|&w| i32::from(w)).sum();
            // Each weight is rounded on its own: the sum is within half a unit a weight.
            assert!(
                (sum - unit).abs() <= taps.width() as i32,
                "output {o}: {sum} vs {unit}"
            );
        }
        let shifted = taps.clone().shifted_left(first);
        assert_eq!(shifted.span(), (0, end - first));
        assert_eq!(shifted.start(3), taps.start(3) - first as usize);
    }

    #[test]
    fn a_selection_keeps_its_outputs_taps_and_reach() {
        let taps = Taps::new(60, 3.5, 50.0, 25, triangle, 1.0).unwrap();
        for outputs in [0..0, 0..4, 10..11, 21..25] {
            let some = taps.select(outputs.clone());
            assert_eq!(some.len(), outputs.len());
            for (i, o) in outputs.clone().enumerate() {
                assert_eq!(
                    (some.start(i), some.weights(i)),
                    (taps.start(o), taps.weights(o))
                );
            }
            // Its reach is its own last output's, not the whole pass's.
            let reach = outputs
                .map(|o| taps.start(o) + taps.weights(o).iter().rposition(|&w| w != 0).unwrap() + 1)
                .max()
                .unwrap_or(0);
            assert_eq!(some.span().1 as usize, reach);
        }
    }

    #[test]
    fn catmull_rom_doubling_is_found_inside_the_edges() {
        let catmull_rom = crate::resize::catmull_rom_weight;
        let taps = Taps::new(512, 0.0, 512.0, 1024, catmull_rom, 2.0).unwrap();
        let doubling = taps.doubling().expect("a doubling");
        assert_eq!(doubling.weights, [[-3, 29, 111, -9], [-9, 111, 29, -3]]);
        // Pairs 0 and 1 (and 510, 511) reach past an edge and are renormalised.
        assert_eq!(doubling.pairs, 2..510);
        assert_eq!(doubling.start, 0);
        // The lowest sum, -12 * 255 + 64, lifted by 24 units of 128.
        assert_eq!(doubling.bias, 24);
        // Inside a larger picture, only the picture's own edges are renormalised.
        let inside = Taps::new(600, 40.0, 552.0, 1024, catmull_rom, 2.0).unwrap();
        assert_eq!(
            inside.doubling().map(|d| (d.pairs, d.start)),
            Some((0..512, 38))
        );
        // Not a doubling: another ratio, and Lanczos3's weights (not multiples of 2^-7).
        assert!(
            Taps::new(512, 0.0, 512.0, 1000, catmull_rom, 2.0)
                .unwrap()
                .doubling()
                .is_none()
        );
        let lanczos = crate::resize::lanczos3_weight;
        assert!(
            Taps::new(512, 0.0, 512.0, 1024, lanczos, 3.0)
                .unwrap()
                .doubling()
                .is_none()
        );
    }

    #[test]
    fn nothing_to_resample_gives_none() {
        assert!(Taps::new(0, 0.0, 1.0, 1, triangle, 1.0).is_none());
        assert!(Taps::new(10, 0.0, 10.0, 0, triangle, 1.0).is_none());
        assert!(Taps::new(10, 5.0, 5.0, 3, triangle, 1.0).is_none());
    }
}
