//! The stored original over the shared corpus: for every file the pipeline accepts, the
//! cleaned original is accepted the same way (same format, size, orientation, square and
//! sizes) and decodes to the same pixels in the `image` crate when the upload does.

use setphoto::{Policy, SetPhotoRequest};

use crate::util::{process, shared_corpus};

#[test]
fn every_accepted_corpus_file_has_an_original_with_the_same_picture() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let file_col = header.iter().position(|h| *h == "file").unwrap();
    let policy = Policy::default();
    let (mut accepted, mut cleaned, mut bytes_before, mut bytes_after) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').nth(file_col).unwrap();
        let upload = std::fs::read(corpus.join(file)).unwrap();
        let Ok(set) = process(&upload, &policy) else {
            continue;
        };
        accepted += 1;
        let original = set.original();
        bytes_before += upload.len();
        bytes_after += original.len();
        if original.as_ref() != upload.as_slice() {
            cleaned += 1;
        }
        // What validation tells in public (its private notes, such as stray bytes the
        // cleaning removes, may differ) and the plan.
        let prepared = |bytes: &[u8]| {
            setphoto::prepare(&SetPhotoRequest::new(bytes.to_vec()), &policy).map(|p| {
                let v = p.validated();
                let seen = (v.format(), v.stored_size(), v.orientation(), v.frames());
                (seen, v.non_interleaved(), *p.plan())
            })
        };
        match (prepared(&upload), prepared(original)) {
            (Ok(a), Ok(b)) if a == b => {}
            (a, b) => problems.push(format!("{file}: upload {a:?}, original {b:?}")),
        }
        if let Ok(picture) = image::load_from_memory(&upload) {
            match image::load_from_memory(original) {
                Ok(again) if again == picture => {}
                Ok(_) => problems.push(format!("{file}: other pixels")),
                Err(e) => problems.push(format!("{file}: the original does not decode: {e}")),
            }
        }
    }
    eprintln!(
        "originals: {accepted} accepted, {cleaned} cleaned, {bytes_before} -> {bytes_after} bytes"
    );
    assert!(accepted > 200, "only {accepted} accepted");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
