//! Peak heap of `process`, measured by a counting global allocator: header-only refusals
//! allocate almost nothing, and large pictures stay within the estimate of
//! `setphoto::estimate_peak_bytes`, which is their documented function of the header.
//!
//! Its own test binary, because the allocator is global to the binary. The counter is
//! global too (the engine works on rayon's threads), so every test takes one lock for its
//! whole run: a test building its large inputs must not allocate while another measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use setphoto::{Policy, SetPhotoRequest};

#[path = "common/bombs.rs"]
mod bombs;

use bombs::{
    blocks_gif, blocks_gif_on_screen, gif_with_frames as gif, gradient_png, png_with as png,
    zlib_zeros,
};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static MEASURING: Mutex<()> = Mutex::new(());

fn add(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn sub(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only touches
// atomics, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size);
        sub(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated by the whole process, above what was live before, while `f`
/// runs. Other measurements wait; the test harness's own threads allocate next to nothing.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    // Buffers an earlier measurement left for reuse would hide allocations from this one.
    setphoto::release_spare_buffers();
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// Runs the calling test alone among this binary's tests.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    MEASURING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn the_counter_sees_allocations() {
    let _alone = alone();
    let (v, peak) = peak_heap(|| vec![1u8; 4096]);
    assert_eq!(v.len(), 4096);
    assert!(peak >= 4096, "{peak}");
}

#[test]
fn header_only_refusals_stay_under_one_mib_of_heap() {
    let _alone = alone();
    let zeros = zlib_zeros(64 << 20);
    let cases = [
        (
            "PNG declaring 65535x65535",
            png(65535, 65535, &[0; 64]),
            "too_large",
        ),
        (
            "PNG zlib bomb, 64 MB of zeros as 8000x8000 grey",
            png(8000, 8000, &zeros),
            "too_large",
        ),
        (
            "GIF with 10,000 frames",
            gif(1, 1, 10_000),
            "too_many_frames",
        ),
        (
            "GIF over 200 MP summed over frames",
            gif(2000, 2000, 60),
            "too_large",
        ),
        (
            "GIF screen of 65535x65535",
            gif(65535, 65535, 1),
            "too_large",
        ),
    ];
    for (what, bytes, code) in cases {
        let request = SetPhotoRequest::new(bytes);
        let (result, peak) = peak_heap(|| setphoto::process(&request, &Policy::default()));
        let error = result.expect_err(what);
        assert_eq!(error.code(), code, "{what}");
        assert!(peak < 1 << 20, "{what}: peak heap {peak} bytes");
        eprintln!("{what}: {code}, peak heap {peak} bytes");
    }
}

const MIB: f64 = (1 << 20) as f64;

/// A progressive 4:4:4 JPEG of `width` x `height` gradients and checks.
fn progressive_jpeg(width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (u32::from(width), u32::from(height));
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let check = if (x / 64 + y / 64) % 2 == 0 { 200 } else { 30 };
            pixels.extend([(x * 255 / w) as u8, (y * 255 / h) as u8, check]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_progressive(true);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    encoder
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// An Adobe CMYK JPEG of `width` x `height` gradients carrying the test CMYK profile.
fn cmyk_jpeg(width: u16, height: u16) -> Vec<u8> {
    cmyk_jpeg_with(width, height, true, false)
}

/// An Adobe CMYK JPEG of `width` x `height` gradients, with the test CMYK profile or
/// without one, progressive or baseline.
fn cmyk_jpeg_with(width: u16, height: u16, profile: bool, progressive: bool) -> Vec<u8> {
    let (w, h) = (u32::from(width), u32::from(height));
    let mut inks = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let check = if (x / 64 + y / 64) % 2 == 0 { 120 } else { 10 };
            inks.extend([(x * 255 / w) as u8, (y * 255 / h) as u8, check, 40]);
        }
    }
    let icc = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/colour/cmyk_lut16.icc"
    ))
    .unwrap();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    if profile {
        encoder.add_icc_profile(&icc).unwrap();
    }
    encoder.set_progressive(progressive);
    encoder
        .encode(&inks, width, height, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    out
}

/// A 64 x 64 baseline JPEG whose frame header claims `width` x `height`: its scan ends
/// long before the picture does.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..64 * 64 * 3).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, 64, 64, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let sof = out.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

/// Processes `request`, measuring its peak heap against the estimate: never above it,
/// and (when `tight`) not more than 1.5 times the measure plus 16 MiB.
fn within_estimate(what: &str, request: &SetPhotoRequest, tight: bool) -> usize {
    within_estimate_under(what, request, &Policy::default(), tight)
}

/// As [`within_estimate`], under `policy`.
fn within_estimate_under(
    what: &str,
    request: &SetPhotoRequest,
    policy: &Policy,
    tight: bool,
) -> usize {
    let policy = policy.clone();
    let estimate = setphoto::estimate_peak_bytes(request, &policy).unwrap();
    let (result, peak) = peak_heap(|| setphoto::process(request, &policy));
    result.unwrap_or_else(|e| panic!("{what}: {e}"));
    eprintln!(
        "{what}: peak heap {:.1} MiB, estimate {:.1} MiB",
        peak as f64 / MIB,
        estimate as f64 / MIB
    );
    assert!(
        peak as u64 <= estimate,
        "{what}: peak {peak} over the estimate {estimate}"
    );
    if tight {
        assert!(
            estimate as f64 <= 1.5 * peak as f64 + 16.0 * MIB,
            "{what}: the estimate {estimate} is loose for a peak of {peak}"
        );
    }
    peak
}

#[test]
fn large_pngs_stay_within_their_estimate() {
    let _alone = alone();
    for (what, sixteen) in [("16-bit RGBA PNG", true), ("8-bit RGB PNG", false)] {
        let bytes = gradient_png(7071, 7071, sixteen);
        // Letterboxed, the square is 7071: the rows are box-reduced by 4 as they stream.
        let whole = SetPhotoRequest::new(bytes.clone());
        let peak = within_estimate(&format!("{what} 7071x7071"), &whole, true);
        assert!(
            (peak as f64) < 64.0 * MIB,
            "{what}: a reduced decode peaked at {peak} bytes"
        );
        // A 1500 px crop needs every pixel: decoded at full size, straight to 8-bit RGBA.
        let crop = SetPhotoRequest::new(bytes).crop(100, 200, 1500);
        let peak = within_estimate(&format!("{what} 7071x7071, 1500 px crop"), &crop, true);
        assert!(
            (peak as f64) < 4.0 * 7071.0 * 7071.0 + 64.0 * MIB,
            "{what}: a full decode peaked at {peak} bytes"
        );
    }
}

#[test]
fn large_gifs_stay_within_their_estimate() {
    let _alone = alone();
    for transparent in [true, false] {
        let bytes = blocks_gif(7071, 7071, transparent);
        // Letterboxed, the square is 7071: the screen is box-reduced by 4 row by row, and
        // only the frame's indices (a byte a pixel) are held at full size.
        let whole = SetPhotoRequest::new(bytes.clone());
        let what = format!("GIF 7071x7071, transparent {transparent}");
        let peak = within_estimate(&what, &whole, false);
        assert!(
            (peak as f64) < 7071.0 * 7071.0 + 64.0 * MIB,
            "{what}: a reduced decode peaked at {peak} bytes"
        );
        // A 1500 px crop needs every pixel: the screen at full size (with a transparent
        // index, its indices decoded in the same buffer).
        // The estimate covers the reference decoder's path (an RGBA frame and the screen),
        // twice what the fast path takes.
        let crop = SetPhotoRequest::new(bytes).crop(100, 200, 1500);
        let peak = within_estimate(&format!("{what}, 1500 px crop"), &crop, false);
        assert!(
            (peak as f64) < 4.0 * 7071.0 * 7071.0 + 64.0 * MIB,
            "{what}: a full decode peaked at {peak} bytes"
        );
    }
}

#[test]
fn linear_light_renders_stay_within_their_estimate() {
    let _alone = alone();
    // Linear light widens the decoded picture to 16 bits a sample, and fir premultiplies
    // all of it: a crop decoded at full size shows what the estimate must add.
    let policy = Policy::default().with_linear(true);
    let bytes = gradient_png(3000, 3000, true);
    let crop = SetPhotoRequest::new(bytes.clone()).crop(100, 200, 1000);
    let peak = within_estimate_under(
        "16-bit RGBA PNG 3000x3000, linear, crop",
        &crop,
        &policy,
        true,
    );
    assert!(
        peak as f64 > 2.0 * 4.0 * 3000.0 * 3000.0,
        "the widened picture was not held ({peak} bytes), so this test shows nothing"
    );
    let whole = SetPhotoRequest::new(bytes);
    within_estimate_under("16-bit RGBA PNG 3000x3000, linear", &whole, &policy, false);
}

#[test]
fn a_gif_frame_far_larger_than_its_screen_stays_within_its_estimate() {
    let _alone = alone();
    // The frame is decoded whole (its indices alone are twice what the screen alone would
    // be estimated at) and shown clipped to its 300x300 screen.
    for transparent in [true, false] {
        let bytes = blocks_gif_on_screen((300, 300), 7000, 7000, transparent);
        let what = format!("a 7000x7000 GIF frame on a 300x300 screen, transparent {transparent}");
        let peak = within_estimate(&what, &SetPhotoRequest::new(bytes), false);
        assert!(
            peak as f64 > 7000.0 * 7000.0,
            "{what}: the frame was not held whole ({peak} bytes), so this test shows nothing"
        );
    }
}

#[test]
fn large_jpegs_stay_within_their_estimate() {
    let _alone = alone();
    // The estimate of a JPEG is its full decode's, which a reduced decode can fall back to:
    // tight for a full decode (a 1000 px crop), an upper bound for a reduced one.
    let progressive = progressive_jpeg(4608, 3456);
    let whole = SetPhotoRequest::new(progressive.clone());
    let peak = within_estimate("progressive 4:4:4 JPEG 4608x3456", &whole, false);
    assert!(
        (peak as f64) < 64.0 * MIB,
        "a 16 MP JPEG peaked at {peak} bytes"
    );
    let crop = SetPhotoRequest::new(progressive).crop(0, 0, 1000);
    within_estimate("progressive JPEG 4608x3456, 1000 px crop", &crop, true);
    // A CMYK JPEG with a profile: jpeg-decoder's CMYK picture beside the RGB one, reduced
    // for the whole picture, in full for a crop.
    let cmyk = cmyk_jpeg(4000, 3000);
    within_estimate(
        "CMYK JPEG 4000x3000 with a profile",
        &SetPhotoRequest::new(cmyk.clone()),
        false,
    );
    let crop = SetPhotoRequest::new(cmyk).crop(0, 0, 1000);
    within_estimate(
        "CMYK JPEG 4000x3000 with a profile, 1000 px crop",
        &crop,
        true,
    );
    // 16 MP CMYK, progressive or not, with a profile or without: decoded reduced to inks
    // (one MCU row of coefficients), not whole by jpeg-decoder.
    for (profile, progressive) in [(true, true), (false, true), (false, false)] {
        let what = format!("CMYK JPEG 4608x3456, profile {profile}, progressive {progressive}");
        let jpeg = cmyk_jpeg_with(4608, 3456, profile, progressive);
        let peak = within_estimate(&what, &SetPhotoRequest::new(jpeg), false);
        assert!((peak as f64) < 64.0 * MIB, "{what} peaked at {peak} bytes");
    }
    // The missing data is decoded reduced, as libjpeg draws it (validation accepted the
    // structure): the estimate, a full decode's, is an upper bound here.
    let liar = SetPhotoRequest::new(jpeg_claiming(16384, 3051));
    let peak = within_estimate("JPEG claiming 16384x3051 in 1 KB", &liar, false);
    assert!(
        (peak as f64) < 64.0 * MIB,
        "a 1 KB JPEG claiming 50 MP peaked at {peak} bytes"
    );
}
