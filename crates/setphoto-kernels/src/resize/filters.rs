//! The filters of the resize passes, as weight functions of the distance in source pixels.

/// The Catmull-Rom cubic (Keys' cubic convolution with a = -0.5), as
/// `FilterType::CatmullRom` computes it, operation for operation, so its weights (and
/// pixels) are the same whether fir's pass or ours uses them.
pub fn catmull_rom_weight(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        (1.5 * x - 2.5) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * -0.5
    } else {
        0.0
    }
}

/// Lanczos3's support: three lobes either side.
pub const LANCZOS3_SUPPORT: f64 = 3.0;

/// sinc(x) sinc(x/3) on (-3, 3), else 0. With s = sin(πx/3), sin(πx) = s (3 - 4s²) (the
/// triple-angle identity), so the product of the two sines is s² (3 - 4s²).
pub fn lanczos3_weight(x: f64) -> f64 {
    use std::f64::consts::PI;
    if !(-3.0..3.0).contains(&x) {
        return 0.0;
    }
    if x == 0.0 {
        return 1.0;
    }
    let s = sine_within_pi(x * (PI / 3.0));
    let s2 = s * s;
    3.0 * s2 * (3.0 - 4.0 * s2) / (PI * PI * x * x)
}

/// sin(t) for |t| <= π, to within 4e-16: folded onto [-π/2, π/2] (sin(π - t) = sin(t)),
/// then its Taylor series to t^21, whose first omitted term is under 2e-18 there. libm's
/// `sin` saves and restores the rounding mode on every call, which made it most of the
/// weights' cost; this is two dozen multiplies and adds, at most five deep.
fn sine_within_pi(t: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    /// (-1)^k / (2k + 1)!, k = 0..=10.
    const TAYLOR: [f64; 11] = [
        1.0,
        -0.16666666666666666,
        0.008333333333333333,
        -0.0001984126984126984,
        2.7557319223985893e-06,
        -2.505210838544172e-08,
        1.6059043836821613e-10,
        -7.647163731819816e-13,
        2.8114572543455206e-15,
        -8.22063524662433e-18,
        1.9572941063391263e-20,
    ];
    let t = if t > FRAC_PI_2 {
        PI - t
    } else if t < -FRAC_PI_2 {
        -PI - t
    } else {
        t
    };
    // Estrin's scheme: pairs of terms combined in parallel, so the chain of dependent
    // operations is five multiplies and adds deep rather than Horner's eleven.
    let u = t * t;
    let u2 = u * u;
    let u4 = u2 * u2;
    let u8 = u4 * u4;
    let c = &TAYLOR;
    let p01 = c[0] + c[1] * u;
    let p23 = c[2] + c[3] * u;
    let p45 = c[4] + c[5] * u;
    let p67 = c[6] + c[7] * u;
    let p89 = c[8] + c[9] * u;
    let p03 = p01 + p23 * u2;
    let p47 = p45 + p67 * u2;
    let p8a = p89 + c[10] * u2;
    let series = (p03 + p47 * u4) + p8a * u8;
    t * series
}

/// Catmull-Rom's support: two pixels either side.
pub const CATMULL_ROM_SUPPORT: f64 = 2.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_sine_lanczos_matches_the_textbook_product() {
        use std::f64::consts::PI;
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                (PI * x).sin() / (PI * x)
            }
        };
        for i in -400..=400 {
            let x = f64::from(i) / 128.0;
            let textbook = if x.abs() < 3.0 {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            };
            let ours = lanczos3_weight(x);
            assert!(
                (ours - textbook).abs() < 1e-14,
                "x = {x}: {ours} vs {textbook}"
            );
        }
    }

    #[test]
    fn the_series_sine_matches_libm_over_its_range() {
        use std::f64::consts::PI;
        for i in -100_000..=100_000 {
            let t = PI * f64::from(i) / 100_000.0;
            let (ours, libm) = (sine_within_pi(t), t.sin());
            assert!((ours - libm).abs() < 4e-16, "t = {t}: {ours} vs {libm}");
        }
    }
}
