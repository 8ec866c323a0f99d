//! Shared helpers: fixtures, the shared corpus location, re-decoding renditions.

use std::path::{Path, PathBuf};

use setphoto::{ImageSet, OutputFormat, Policy, SetPhotoRequest};

pub use crate::bombs::png_chunk;

/// The repository's own fixtures.
pub fn testdata(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `../shared/corpus` when present. Absent: under CI (`CI=true`) that is a failure; on a
/// user's fresh clone the test prints a notice and is skipped.
pub fn shared_corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    skip_or_fail("../shared/corpus is missing", "this test");
    None
}

/// `suite` cannot run here because of `why` (a folder or tool it needs is missing): under
/// CI (`CI=true`) that is a failure; on a user's machine a notice, and the caller skips.
pub fn skip_or_fail(why: &str, suite: &str) {
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{why}, and CI=true requires {suite} to run"
    );
    eprintln!("skipped: {why}; {suite} did not run");
}

/// Runs the engine on `bytes` with no crop.
pub fn process(bytes: &[u8], policy: &Policy) -> Result<ImageSet, setphoto::Error> {
    setphoto::process(&SetPhotoRequest::new(bytes.to_vec()), policy)
}

/// Decodes every rendition again and checks its size and format against the set; returns
/// a description of the first problem.
pub fn check_renditions(set: &ImageSet) -> Result<(), String> {
    if set.renditions().is_empty() {
        return Err("no renditions".into());
    }
    for r in set.renditions() {
        let format = match r.format() {
            OutputFormat::Jpeg => image::ImageFormat::Jpeg,
            OutputFormat::Png => image::ImageFormat::Png,
            other => return Err(format!("unexpected output format {other:?}")),
        };
        let sniffed = image::guess_format(r.bytes()).map_err(|e| e.to_string())?;
        if sniffed != format {
            return Err(format!(
                "{} px: bytes are {sniffed:?}, not {format:?}",
                r.size()
            ));
        }
        let decoded = image::load_from_memory_with_format(r.bytes(), format)
            .map_err(|e| format!("{} px does not decode: {e}", r.size()))?;
        if (decoded.width(), decoded.height()) != (r.size(), r.size()) {
            return Err(format!(
                "{} px rendition decodes as {}x{}",
                r.size(),
                decoded.width(),
                decoded.height()
            ));
        }
    }
    Ok(())
}

/// Mean absolute difference per channel between two equally sized RGB8 buffers.
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len().max(1) as f64
}

/// A file under `../shared/`, or `None` (with the same CI rule as [`shared_corpus`]).
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let corpus = shared_corpus()?;
    let path = corpus.join("..").join(relative);
    assert!(path.is_file(), "{} is missing", path.display());
    Some(path)
}

/// Inserts `chunk` right after the IHDR of `png`.
pub fn insert_after_ihdr(png: &[u8], chunk: &[u8]) -> Vec<u8> {
    [&png[..33], chunk, &png[33..]].concat()
}

/// Validates `json` against a schema file under `../shared/schemas/`; `None` when shared/
/// is absent (skipped with a notice).
pub fn validate_schema(schema_file: &str, json: &serde_json::Value) -> Option<Result<(), String>> {
    let schema = load_schema(schema_file)?;
    Some(validate_against(&schema, json))
}

/// A schema from `../shared/schemas/`, with Slack's "`items` on a non-array means one of
/// these" rewritten to `anyOf` (the schemas' README says to). `None` without `../shared`.
pub fn load_schema(schema_file: &str) -> Option<serde_json::Value> {
    fn rewrite(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                let is_array = map.get("type").is_some_and(|t| t == "array");
                if !is_array && map.get("items").is_some_and(serde_json::Value::is_array) {
                    let items = map.remove("items").unwrap();
                    map.insert("anyOf".into(), items);
                }
                map.values_mut().for_each(rewrite);
            }
            serde_json::Value::Array(list) => list.iter_mut().for_each(rewrite),
            _ => {}
        }
    }
    let path = shared_file(&format!("schemas/{schema_file}"))?;
    let mut schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    rewrite(&mut schema);
    Some(schema)
}

/// Every violation of `schema` by `json`, joined; `Ok` when there is none.
pub fn validate_against(
    schema: &serde_json::Value,
    json: &serde_json::Value,
) -> Result<(), String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(json).map(|e| e.to_string()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// A fixture's path under `testdata/inputs/`.
#[cfg(feature = "cli")]
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/inputs")
        .join(name)
}

/// `<target>/<name>`: where a test installs the tools it needs, beside the build (the
/// binary is `<target>/<profile>/setphoto`).
#[cfg(all(feature = "cli", any(feature = "server", feature = "s3")))]
pub fn beside_build(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_setphoto"))
        .parent()
        .and_then(Path::parent)
        .map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target")
                    .join(name)
            },
            |target| target.join(name),
        )
}

/// Runs the `setphoto` binary with `args`.
#[cfg(feature = "cli")]
pub fn setphoto(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_setphoto"))
        .args(args)
        .output()
        .expect("setphoto runs")
}
