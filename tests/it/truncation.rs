//! Every prefix (at a stride) of each fixture gives a set or `bad_image`: never a panic,
//! never another code.

use setphoto::Policy;

use crate::util::{process, testdata};

#[test]
fn every_prefix_is_a_set_or_a_bad_image() {
    let files = [
        "inputs/sample.jpg",
        "inputs/exif6.jpg",
        "inputs/alpha_60x40.png",
        "inputs/transparent.gif",
        // Opaque and covering its screen: decoded straight to RGB.
        "inputs/opaque.gif",
        "inputs/wide_4000x10.png",
        // Decoded reduced (1/2, by jpeg-decoder), progressive: the other JPEG path.
        "inputs/large_2560x2048_progressive.jpg",
    ];
    for file in files {
        let bytes = testdata(file);
        let stride = (bytes.len() / 97).max(1);
        let mut lengths: Vec<usize> = (0..bytes.len()).step_by(stride).collect();
        lengths.extend(0..bytes.len().min(64)); // every header prefix
        for len in lengths {
            match process(&bytes[..len], &Policy::default()) {
                Ok(set) => assert!(!set.renditions().is_empty()),
                Err(e) => assert_eq!(e.code(), "bad_image", "{file} cut at {len}: {e}"),
            }
        }
    }
}

mod mutations {
    use proptest::prelude::*;
    use setphoto::Policy;

    use crate::util::{process, testdata};

    const FILES: [&str; 6] = [
        "inputs/square_300.jpg",
        "inputs/large_2560x2048_progressive.jpg",
        "inputs/alpha_60x40.png",
        "inputs/transparent.gif",
        "inputs/opaque.gif",
        "inputs/tiny_1x1.png",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random byte edits of valid files (a cheap stand-in for a fuzzer on stable Rust):
        /// every result is a set or one of the codes an upload can earn.
        #[test]
        fn mutated_files_give_a_set_or_an_upload_error(
            file in 0..FILES.len(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = testdata(FILES[file]);
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            match process(&bytes, &Policy::default()) {
                Ok(set) => prop_assert!(!set.renditions().is_empty()),
                Err(e) => prop_assert!(
                    matches!(e.code(), "bad_image" | "too_large" | "too_many_frames"),
                    "{}: {}", FILES[file], e
                ),
            }
        }

        /// Arbitrary bytes behind each format's magic.
        #[test]
        fn random_bytes_behind_a_magic_never_panic(
            magic in prop::sample::select(vec![&b"\xFF\xD8\xFF"[..], b"\x89PNG\r\n\x1A\n", b"GIF89a"]),
            tail in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let bytes = [magic, tail.as_slice()].concat();
            if let Err(e) = process(&bytes, &Policy::default()) {
                prop_assert!(matches!(e.code(), "bad_image" | "too_large" | "too_many_frames"));
            }
        }
    }
}
