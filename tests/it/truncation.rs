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
        "inputs/wide_4000x10.png",
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
