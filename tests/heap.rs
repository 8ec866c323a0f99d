//! Header-only refusals allocate almost nothing: a counting global allocator measures the
//! peak heap of the calling thread while `process` refuses each decompression bomb.
//!
//! Its own test binary, because the allocator is global to the binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use setphoto::{Policy, SetPhotoRequest};

#[path = "common/bombs.rs"]
mod bombs;

use bombs::{gif_with_frames as gif, png_with as png, zlib_zeros};

struct Counting;

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(bytes: usize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + bytes;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn sub(bytes: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get().saturating_sub(bytes)));
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only touches
// const-initialised thread locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
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

/// Peak bytes allocated on this thread, above what was live before, while `f` runs.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

#[test]
fn the_counter_sees_allocations() {
    let (v, peak) = peak_heap(|| vec![1u8; 4096]);
    assert_eq!(v.len(), 4096);
    assert!(peak >= 4096, "{peak}");
}

#[test]
fn header_only_refusals_stay_under_one_mib_of_heap() {
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
