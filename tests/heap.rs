//! Header-only refusals allocate almost nothing: a counting global allocator measures the
//! peak heap of the calling thread while `process` refuses each decompression bomb.
//!
//! Its own test binary, because the allocator is global to the binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use setphoto::{Policy, SetPhotoRequest};

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

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend(kind);
    out.extend(data);
    out.extend([0, 0, 0, 0]); // never read: refused before any chunk CRC is checked
    out
}

fn png(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    [
        b"\x89PNG\r\n\x1A\n".to_vec(),
        png_chunk(b"IHDR", &ihdr),
        png_chunk(b"IDAT", idat),
    ]
    .concat()
}

fn gif(width: u16, height: u16, frames: u32) -> Vec<u8> {
    let mut b = b"GIF89a".to_vec();
    b.extend(width.to_le_bytes());
    b.extend(height.to_le_bytes());
    b.extend([0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    for _ in 0..frames {
        b.extend([0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0]);
    }
    b.push(0x3B);
    b
}

#[test]
fn the_counter_sees_allocations() {
    let (v, peak) = peak_heap(|| vec![1u8; 4096]);
    assert_eq!(v.len(), 4096);
    assert!(peak >= 4096, "{peak}");
}

#[test]
fn header_only_refusals_stay_under_one_mib_of_heap() {
    let zeros = miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; 64 << 20], 9);
    let cases = [
        (
            "PNG declaring 65535x65535",
            png(65535, 65535, &[0; 64]),
            "too_large",
        ),
        (
            "PNG zlib bomb, 64 MB of zeros as 8000x8000 RGBA",
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
