//! Replays the fuzz targets' seed corpus (`fuzz/corpus/<target>`) and every minimised
//! finding (`fuzz/regressions/<target>`) through the checks the targets run
//! (`setphoto::fuzzing`), so that CI guards each finding on a stable toolchain.

use std::path::Path;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 5] = [
    ("pipeline", setphoto::fuzzing::pipeline),
    ("jpeg_decoder", setphoto::fuzzing::jpeg_decoder),
    ("lzw", setphoto::fuzzing::lzw),
    ("resize", setphoto::fuzzing::resize),
    ("encoder", setphoto::fuzzing::encoder),
];

/// The files of `fuzz/<kind>/<target>`, sorted; none when the folder is absent.
fn inputs(kind: &str, target: &str) -> Vec<std::path::PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `kind` through its target's check; names each one that fails.
fn replay(kind: &str) -> usize {
    let mut failed = Vec::new();
    let mut count = 0;
    for (target, check) in TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).expect("a readable input");
            count += 1;
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "fuzz inputs that fail: {failed:#?}");
    count
}

#[test]
fn the_seed_corpus_passes_every_check() {
    assert!(replay("corpus") >= TARGETS.len(), "a seed for every target");
}

#[test]
fn every_kept_finding_passes_its_check() {
    replay("regressions");
}

#[test]
fn the_45_byte_lzw_stream_decodes_alike_in_ours_and_the_gif_crate() {
    // Minimum code size 3, 64 pixels: a stream the old model of how `gif` drives weezl
    // refused, though `gif` itself decodes it.
    let stream = hex::decode(
        "a58104810888080103088818188802000000090000002088810880188810098880188810098018881009",
    )
    .unwrap();
    let theirs = setphoto::fuzzing::gif_frame(3, &stream, 64).expect("the gif crate decodes it");
    let mut buffer = vec![0; setphoto_kernels::lzw::buffer_len(64)];
    setphoto_kernels::lzw::Decoder::new(3)
        .decode_into(&stream, &mut buffer)
        .expect("ours decodes it");
    assert_eq!(
        &buffer[setphoto_kernels::lzw::LITERALS..][..64],
        &theirs[..]
    );
}
