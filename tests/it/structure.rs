//! Structural errors that libjpeg-turbo refuses (and Pillow with it) are `bad_image` from
//! validation, before any decoding; what libjpeg only warns about passes validation.
//! Each case is a valid fixture with a few marker bytes edited. Where `djpeg` is on PATH
//! each case is also checked against it (exit 1 is its error; 2, a warning).

use setphoto::validate::inspect;
use setphoto::{Policy, decode};

use crate::util::{png_chunk, testdata};

/// The marker segments of a JPEG up to EOI: (position of the 0xFF, marker, length field).
/// Entropy-coded data after each scan header is skipped.
fn segments(jpeg: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 1 < jpeg.len() {
        let marker = jpeg[pos + 1];
        if marker == 0xD9 {
            out.push((pos, marker, 0));
            break;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        out.push((pos, marker, len));
        pos += 2 + len;
        if marker == 0xDA {
            while !(jpeg[pos] == 0xFF
                && jpeg[pos + 1] != 0
                && !(0xD0..=0xD7).contains(&jpeg[pos + 1]))
            {
                pos += 1;
            }
        }
    }
    out
}

fn first(jpeg: &[u8], marker: u8) -> usize {
    segments(jpeg)
        .into_iter()
        .find(|s| s.1 == marker)
        .unwrap_or_else(|| panic!("no marker {marker:#x}"))
        .0
}

/// The positions of every scan header.
fn scans(jpeg: &[u8]) -> Vec<usize> {
    segments(jpeg)
        .into_iter()
        .filter(|s| s.1 == 0xDA)
        .map(|s| s.0)
        .collect()
}

/// Where a scan header's Ss, Se and Ah/Al bytes are.
fn scan_params(jpeg: &[u8], sos: usize) -> usize {
    sos + 5 + 2 * usize::from(jpeg[sos + 4])
}

fn insert(bytes: &[u8], at: usize, new: &[u8]) -> Vec<u8> {
    [&bytes[..at], new, &bytes[at..]].concat()
}

fn put(bytes: &[u8], at: usize, new: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at..at + new.len()].copy_from_slice(new);
    out
}

/// djpeg's exit status on `bytes`, or `None` when it is not installed.
fn djpeg(bytes: &[u8]) -> Option<i32> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("djpeg")
        .args(["-outfile", "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    // djpeg may stop reading at an error: a broken pipe here is no failure.
    let _ = stdin.write_all(bytes);
    drop(stdin);
    child.wait().ok()?.code()
}

fn djpeg_present() -> bool {
    let present = djpeg(&testdata("inputs/square_300.jpg")) == Some(0);
    if !present {
        eprintln!("notice: djpeg is not on PATH; the cases are not checked against it");
    }
    present
}

/// The refused cases: (what, bytes).
fn refused_cases() -> Vec<(&'static str, Vec<u8>)> {
    let base = testdata("inputs/square_300.jpg");
    let prog = testdata("inputs/large_2560x2048_progressive.jpg");
    let sof = first(&base, 0xC0);
    let dqt = first(&base, 0xDB);
    let dht = first(&base, 0xC4);
    let sos = first(&base, 0xDA);
    let sof_len = usize::from(base[sof + 3]) + 2;
    let seq = scans(&prog);
    let dc = scan_params(&prog, seq[0]);
    let ac_sos = *seq
        .iter()
        .find(|&&s| prog[scan_params(&prog, s)] != 0)
        .expect("an AC scan");
    let ac = scan_params(&prog, ac_sos);
    // The AC scan's header rewritten to name two components.
    let ac_len = usize::from(u16::from_be_bytes([prog[ac_sos + 2], prog[ac_sos + 3]]));
    let mut two = vec![
        0xFF,
        0xDA,
        0,
        10,
        2,
        prog[ac_sos + 5],
        prog[ac_sos + 6],
        2,
        0x11,
    ];
    two.extend(&prog[ac..ac + 3]);
    let ac_two = [&prog[..ac_sos], &two, &prog[ac_sos + 2 + ac_len..]].concat();
    let data = sos + 14 + 100;
    vec![
        ("two SOI markers", insert(&base, 20, &[0xFF, 0xD8])),
        (
            "two SOF markers",
            insert(&base, dqt, &base[sof..sof + sof_len]),
        ),
        ("SOF3 (lossless)", put(&base, sof + 1, &[0xC3])),
        ("SOF5 (hierarchical)", put(&base, sof + 1, &[0xC5])),
        ("SOF6 (hierarchical)", put(&base, sof + 1, &[0xC6])),
        ("SOF11 (lossless, arithmetic)", put(&base, sof + 1, &[0xCB])),
        (
            "reserved marker 0x02",
            insert(&base, 20, &[0xFF, 0x02, 0, 4, 1, 2]),
        ),
        (
            "reserved marker 0xF0",
            insert(&base, 20, &[0xFF, 0xF0, 0, 4, 1, 2]),
        ),
        ("SOS component id 9", put(&base, sos + 5, &[9])),
        ("SOS component twice", put(&base, sos + 7, &[base[sos + 5]])),
        (
            "SOS Huffman table 2 undefined",
            put(&base, sos + 6, &[0x20]),
        ),
        (
            "SOS Huffman table 3 undefined",
            put(&base, sos + 6, &[0x03]),
        ),
        ("DQT index 4", put(&base, dqt + 4, &[0x04])),
        (
            "quantization table 2 undefined",
            put(&base, sof + 12, &[0x02]),
        ),
        ("DHT index 4", put(&base, dht + 4, &[0x04])),
        ("DHT class 2", put(&base, dht + 4, &[0x20])),
        ("oversubscribed Huffman table", put(&base, dht + 5, &[3])),
        ("DC Huffman symbol 16", put(&base, dht + 5 + 16, &[16])),
        ("sample precision 12", put(&base, sof + 4, &[12])),
        (
            "sampling factors too large for an interleaved scan",
            put(&base, sof + 11, &[0x44]),
        ),
        ("sampling factor 0", put(&base, sof + 11, &[0x01])),
        ("SOF length", put(&base, sof + 2, &[0, 18])),
        (
            "DRI length",
            insert(&base, sos, &[0xFF, 0xDD, 0, 5, 0, 1, 0]),
        ),
        ("EOI before SOS", insert(&base, sos, &[0xFF, 0xD9])),
        (
            "SOS before SOF",
            [&base[..sof], &base[sof + sof_len..]].concat(),
        ),
        (
            "reserved marker in scan data",
            put(&base, data, &[0xFF, 0x12]),
        ),
        ("DHT inside scan data", put(&base, data, &[0xFF, 0xC4])),
        ("progressive DC scan with Se=5", put(&prog, dc + 1, &[5])),
        ("progressive AC scan with Ss>Se", put(&prog, ac, &[6, 5])),
        ("progressive AC scan with Se=64", put(&prog, ac + 1, &[64])),
        ("progressive scan with Al=14", put(&prog, dc + 2, &[14])),
        (
            "progressive refinement with Al != Ah-1",
            put(&prog, dc + 2, &[0x20]),
        ),
        ("progressive AC scan of two components", ac_two),
    ]
}

/// Edits that libjpeg accepts, with at most a warning: validation passes them.
fn accepted_cases() -> Vec<(&'static str, Vec<u8>)> {
    let base = testdata("inputs/square_300.jpg");
    let prog = testdata("inputs/large_2560x2048_progressive.jpg");
    let sos = first(&base, 0xDA);
    let params = scan_params(&base, sos);
    let dht = first(&base, 0xC4);
    let dc = scan_params(&prog, scans(&prog)[0]);
    // Motion-JPEG style: no DHT at all, libjpeg's default tables are used.
    let no_dht = [&base[..dht], &base[sos..]].concat();
    vec![
        ("the fixture itself", base.clone()),
        ("sequential scan with Se=0", put(&base, params + 1, &[0])),
        ("sequential scan with Ah=1", put(&base, params + 2, &[0x10])),
        ("no DHT (default tables)", no_dht),
        (
            "DNL segment",
            insert(&base, sos, &[0xFF, 0xDC, 0, 4, 0, 16]),
        ),
        (
            "stray bytes before a marker",
            insert(&base, sos, &[1, 2, 3]),
        ),
        ("EOI inside scan data", put(&base, sos + 114, &[0xFF, 0xD9])),
        ("RST inside scan data", put(&base, sos + 114, &[0xFF, 0xD0])),
        ("truncated in scan data", base[..sos + 200].to_vec()),
        ("garbage after EOI", [&base[..], b"\xFF\x02junk"].concat()),
        (
            "progression skipping a refinement (first DC scan with Ah=1)",
            put(&prog, dc + 2, &[0x10]),
        ),
        ("progressive scan with Al=13", put(&prog, dc + 2, &[13])),
    ]
}

#[test]
fn structural_errors_are_bad_images_before_decoding() {
    let check_djpeg = djpeg_present();
    for (what, bytes) in refused_cases() {
        let err = inspect(&bytes, &Policy::default()).expect_err(what);
        assert_eq!(err.code(), "bad_image", "{what}: {err}");
        // The full pipeline refuses it the same way.
        let err = setphoto::process(
            &setphoto::SetPhotoRequest::new(bytes.clone()),
            &Policy::default(),
        )
        .expect_err(what);
        assert_eq!(err.code(), "bad_image", "{what}: {err}");
        if check_djpeg {
            assert_eq!(djpeg(&bytes), Some(1), "djpeg refuses {what} too");
        }
    }
}

#[test]
fn what_libjpeg_only_warns_about_passes_validation() {
    let check_djpeg = djpeg_present();
    for (what, bytes) in accepted_cases() {
        if let Err(e) = inspect(&bytes, &Policy::default()) {
            panic!("{what}: {e}");
        }
        if check_djpeg {
            assert_ne!(djpeg(&bytes), Some(1), "djpeg accepts {what}");
        }
    }
}

/// An error and its sources, as the CLI and report messages show them.
fn describe(error: &setphoto::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[test]
fn refusals_say_what_is_wrong() {
    let base = testdata("inputs/square_300.jpg");
    let sof = first(&base, 0xC0);
    let message =
        describe(&inspect(&put(&base, sof + 1, &[0xC5]), &Policy::default()).unwrap_err());
    assert!(message.contains("hierarchical"), "{message}");
    let prog = testdata("inputs/large_2560x2048_progressive.jpg");
    let dc = scan_params(&prog, scans(&prog)[0]);
    let message = describe(&inspect(&put(&prog, dc + 1, &[5]), &Policy::default()).unwrap_err());
    assert!(message.contains("progressive scan parameters"), "{message}");
}

#[test]
fn a_second_png_ihdr_is_refused_and_ancillary_errors_are_not() {
    let png = testdata("inputs/alpha_60x40.png");
    let ihdr = png[8..33].to_vec();
    let twice = [&png[..33], &ihdr, &png[33..]].concat();
    let err = inspect(&twice, &Policy::default()).unwrap_err();
    assert_eq!(err.code(), "bad_image");
    let message = describe(&err);
    assert!(message.contains("second IHDR"), "{message}");
    // A gAMA chunk whose CRC is wrong is an ancillary error: ignored, as libpng does.
    let mut gama = png_chunk(b"gAMA", &45_455u32.to_be_bytes());
    let last = gama.len() - 1;
    gama[last] ^= 0xFF;
    let bent = [&png[..33], &gama, &png[33..]].concat();
    assert!(inspect(&bent, &Policy::default()).is_ok());
    let set = setphoto::process(&setphoto::SetPhotoRequest::new(bent), &Policy::default());
    assert!(set.is_ok(), "{:?}", set.err());
}

#[test]
fn a_png_chunk_that_runs_past_the_end_of_the_file_is_refused_wherever_it_is() {
    let png = testdata("inputs/alpha_60x40.png");
    let iend = png.len() - 12;
    assert_eq!(&png[iend + 4..iend + 8], b"IEND");
    // A text chunk after the image data whose length was edited past the end: libpng
    // ("chunk data is too large", then a read error) and Pillow both refuse the file.
    let mut text = png_chunk(b"tEXt", b"Comment\0hello");
    text[..4].copy_from_slice(&1_000u32.to_be_bytes());
    let overlong = [&png[..iend], &text, &png[iend..]].concat();
    let err = inspect(&overlong, &Policy::default()).unwrap_err();
    assert_eq!(err.code(), "bad_image");
    let set = setphoto::process(
        &setphoto::SetPhotoRequest::new(overlong),
        &Policy::default(),
    );
    assert_eq!(set.err().map(|e| e.code()), Some("bad_image"));
    // A file that just stops after a whole chunk, without IEND, stays accepted (Pillow
    // decodes it; so do we).
    assert!(inspect(&png[..iend], &Policy::default()).is_ok());
}

#[test]
fn a_gif_screen_with_a_zero_side_takes_the_first_frames_extent() {
    let gif = testdata("inputs/opaque.gif");
    let whole = inspect(&gif, &Policy::default()).unwrap();
    for side in [6, 8] {
        let mut empty = gif.clone();
        empty[side..side + 2].copy_from_slice(&[0, 0]);
        // Both references (giflib, Pillow) and browsers show the frame; so do we, at the
        // size of the screen it covers.
        let validated = inspect(&empty, &Policy::default()).unwrap();
        assert_eq!(validated.stored_size(), whole.stored_size(), "{side}");
        let ours = decode::decode(&empty, &validated, &Policy::default())
            .unwrap()
            .into_pixels();
        let reference = decode::decode(&gif, &whole, &Policy::default())
            .unwrap()
            .into_pixels();
        assert_eq!(ours.data(), reference.data(), "{side}");
    }
    // Both sides zero and no frame: still nothing to show.
    let mut nothing = gif[..13].to_vec();
    nothing[6..10].fill(0);
    nothing[10] = 0;
    nothing.push(0x3B);
    assert_eq!(
        inspect(&nothing, &Policy::default()).unwrap_err().code(),
        "bad_image"
    );
}
