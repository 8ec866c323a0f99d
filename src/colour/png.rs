//! What a PNG's chunks say about its colour: `cICP` code points, an `sRGB` chunk, an `iCCP`
//! profile, or the `cHRM` primaries and `gAMA` exponent, and whether its pixels are grey.

use moxcms::{
    Chromaticity, CicpColorPrimaries, CicpProfile, ColorPrimaries, ColorProfile,
    MatrixCoefficients, TransferCharacteristics,
};

use super::MAX_PROFILE_BYTES;

/// The colour facts of a PNG's chunks.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PngColour {
    /// The profile the chunks give, if any (none: sRGB).
    pub(super) icc: Option<Vec<u8>>,
    /// The pixels are grey (colour type 0 or 4), expanded to RGB when decoded.
    pub(super) grey: bool,
}

/// The ICC profile of a PNG and whether its pixels are grey. The profile comes from its
/// colour chunks before the image data, in the PNG specification's order of precedence
/// (third edition): a usable `cICP` chunk, as the profile of its code points (none for
/// sRGB's); else an `sRGB` chunk (no profile: the pixels are sRGB); else an `iCCP`
/// profile, inflated; else `cHRM` primaries and a `gAMA` exponent, either alone (the other
/// taken from sRGB, as browsers do), as a matrix-shaper profile.
pub(super) fn read(bytes: &[u8]) -> PngColour {
    PngColour {
        icc: profile(bytes),
        // IHDR's colour type: 0 grey, 4 grey with alpha.
        grey: matches!(bytes.get(25), Some(0 | 4)),
    }
}

/// See [`read`].
fn profile(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 8; // after the signature
    let (mut iccp, mut srgb, mut gama, mut chrm, mut cicp) = (None, false, None, None, None);
    while let Some(header) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let Some(data) = (pos + 8)
            .checked_add(len)
            .and_then(|end| bytes.get(pos + 8..end))
        else {
            break;
        };
        match kind {
            b"IDAT" | b"IEND" => break,
            b"sRGB" => srgb = true,
            b"iCCP" if iccp.is_none() => iccp = Some(data),
            b"gAMA" if gama.is_none() => gama = Some(data),
            b"cHRM" if chrm.is_none() => chrm = Some(data),
            b"cICP" if cicp.is_none() => cicp = Some(data),
            _ => {}
        }
        pos += 12 + len;
    }
    if let Some(profile) = cicp.and_then(coding_independent) {
        return profile;
    }
    if srgb {
        return None;
    }
    let Some(data) = iccp else {
        return primaries_and_gamma(chrm, gama);
    };
    // A name of 1 to 79 bytes, a NUL, compression method 0 (zlib), the profile.
    let name_end = data.iter().take(80).position(|&b| b == 0)?;
    if data.get(name_end + 1) != Some(&0) {
        return None;
    }
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&data[name_end + 2..], MAX_PROFILE_BYTES)
        .ok()
}

/// A `cICP` chunk (ITU-T H.273 code points: colour primaries, transfer characteristics,
/// matrix coefficients, full-range flag) as what it means here: `Some(None)` for sRGB,
/// `Some(Some(profile))` for another RGB space with a standard dynamic range transfer
/// function, and `None` (the chunk is ignored) for what cannot be shown as sRGB without
/// tone mapping (PQ, HLG), what a PNG cannot hold (YCbCr matrices, narrow range) and
/// unknown or unspecified values.
fn coding_independent(data: &[u8]) -> Option<Option<Vec<u8>>> {
    let &[primaries, transfer, matrix, full_range] = data else {
        return None;
    };
    if matrix != 0 || full_range != 1 {
        return None;
    }
    // BT.709, BT.470 M and B/G, BT.601, SMPTE 240, generic film, BT.2020, DCI-P3, Display
    // P3, EBU 3213.
    let known_primaries = matches!(primaries, 1 | 4..=9 | 11 | 12 | 22);
    // BT.709 (also 6, 14, 15), gamma 2.2 and 2.8, linear, sRGB.
    let known_transfer = matches!(transfer, 1 | 4 | 5 | 6 | 8 | 13 | 14 | 15);
    if !known_primaries || !known_transfer {
        return None;
    }
    if (primaries, transfer) == (1, 13) {
        return Some(None);
    }
    let cicp = CicpProfile {
        color_primaries: CicpColorPrimaries::try_from(primaries).ok()?,
        transfer_characteristics: TransferCharacteristics::try_from(transfer).ok()?,
        matrix_coefficients: MatrixCoefficients::try_from(0).ok()?,
        full_range: true,
    };
    let mut profile = ColorProfile::new_from_cicp(cicp);
    // The code points are the profile now; a `cicp` tag would let moxcms read them again.
    profile.cicp = None;
    profile.encode().ok().map(Some)
}

/// A PNG's `cHRM` and `gAMA` chunks as an ICC profile: sRGB's tone curve or primaries
/// stand in for a missing or unusable chunk. `None` when neither chunk is usable.
fn primaries_and_gamma(chrm: Option<&[u8]>, gama: Option<&[u8]>) -> Option<Vec<u8>> {
    let primaries = chrm.and_then(chromaticities);
    let exponent = gama.and_then(decoding_exponent);
    if primaries.is_none() && exponent.is_none() {
        return None;
    }
    let mut profile = ColorProfile::new_srgb();
    if let Some((white, primaries)) = primaries {
        profile.update_rgb_colorimetry(white.to_xyyb(), primaries);
        // Primaries on one line (or NaN from degenerate ones) span no gamut.
        let det = determinant(&profile.colorant_matrix().v);
        if !det.is_finite() || det.abs() < 1e-4 {
            return None;
        }
    }
    if let Some(exponent) = exponent {
        let curve = moxcms::curve_from_gamma(exponent);
        profile.red_trc = Some(curve.clone());
        profile.green_trc = Some(curve.clone());
        profile.blue_trc = Some(curve);
    }
    profile.cicp = None;
    profile.encode().ok()
}

/// The determinant of a 3x3 matrix.
fn determinant(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// `cHRM`: the white point and the red, green and blue primaries, each x then y in
/// 1/100000. `None` unless every chromaticity lies inside the unit triangle with y > 0.
fn chromaticities(data: &[u8]) -> Option<(Chromaticity, ColorPrimaries)> {
    if data.len() != 32 {
        return None;
    }
    let value = |i: usize| {
        let v = u32::from_be_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]);
        v as f32 / 100_000.0
    };
    let point = |i: usize| {
        let (x, y) = (value(2 * i), value(2 * i + 1));
        (y > 0.0 && x >= 0.0 && x + y <= 1.0).then_some(Chromaticity { x, y })
    };
    Some((
        point(0)?,
        ColorPrimaries {
            red: point(1)?,
            green: point(2)?,
            blue: point(3)?,
        },
    ))
}

/// `gAMA`: the encoding gamma in 1/100000, as the exponent that decodes the samples.
/// `None` for a value outside 0.1..=10 once inverted (no real encoding is), and for
/// 0.45455 give or take 1%: the value the PNG specification has encoders write beside an
/// `sRGB` chunk, and what libpng and ImageMagick write for sRGB pictures, so it stands for
/// sRGB's own curve (a plain 2.2 power would darken their deepest shadows by a few levels).
fn decoding_exponent(data: &[u8]) -> Option<f32> {
    let encoding = u32::from_be_bytes(data.try_into().ok()?);
    if encoding == 0 || (45_000..=45_910).contains(&encoding) {
        return None;
    }
    let exponent = 100_000.0 / encoding as f32;
    (0.1..=10.0).contains(&exponent).then_some(exponent)
}
