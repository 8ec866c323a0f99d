//! Differential tests on mutated files (issue 22): the fixtures and the shared corpus's
//! JPEGs, PNGs and GIFs, each mutated many times with a fixed seed (bit flips, inserted
//! bytes, truncations, marker, segment, chunk and block edits; `mutate.rs`).
//!
//! - Our outcome (`setphoto::process`: accepted, or the error) against two reference
//!   decoders' where they agree: Pillow, and for JPEG libjpeg-turbo's `djpeg`, for PNG
//!   libpng (`pngtopam`), for GIF giflib (`giftext`). At least 99% must agree, per format;
//!   the rest are printed by class.
//! - Reduction never changes acceptance: every corpus JPEG and every mutated one gets the
//!   same outcome decoded in full and at 1/2, 1/4 and 1/8 (this needs no reference).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use setphoto::{Code, Policy, decode, validate};

use crate::mutate::{self, Mutant, Rng};
use crate::refs::{self, Pillow, Verdict};
use crate::util;

/// Mutations per format: enough for a rate to the percent, few enough for the whole test
/// to take well under a minute on two cores.
const JPEG_MUTANTS: usize = 500;
const PNG_MUTANTS: usize = 300;
const GIF_MUTANTS: usize = 200;
/// Sources larger than this are left out: mutating them tells nothing a small file does
/// not, and each costs a full decode per mutant.
const MAX_SOURCE_PIXELS: u64 = 600_000;

const SUITE: &str = "the differential tests against djpeg, libpng, giflib and Pillow";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Jpeg,
    Png,
    Gif,
}

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Gif => "gif",
        }
    }

    /// The verdict of this format's reference decoder besides Pillow.
    fn reference(self, path: &Path) -> Option<Verdict> {
        match self {
            Self::Jpeg => refs::djpeg_verdict(path),
            Self::Png => refs::libpng_verdict(path),
            Self::Gif => refs::giflib_verdict(path),
        }
    }

    fn mutate(self, src: &[u8], rng: &mut Rng) -> Mutant {
        match self {
            Self::Jpeg => mutate::jpeg(src, rng),
            Self::Png => mutate::png(src, rng),
            Self::Gif => mutate::gif(src, rng),
        }
    }
}

/// The files to mutate: the fixtures and the corpus files labelled `ok`, small ones only.
fn sources(kind: Kind) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inputs");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&inputs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let ext = match kind {
        Kind::Jpeg => "jpg",
        Kind::Png => "png",
        Kind::Gif => "gif",
    };
    for path in names {
        if path.extension().is_some_and(|e| e == ext) {
            out.push((
                format!(
                    "testdata/inputs/{}",
                    path.file_name().unwrap().to_string_lossy()
                ),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
    if let Some(corpus) = util::shared_corpus() {
        let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
        for line in manifest.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            let pixels = f[4].parse::<u64>().unwrap_or(0) * f[5].parse::<u64>().unwrap_or(0);
            if f[3] == kind.name() && f[7] == "ok" && pixels <= MAX_SOURCE_PIXELS {
                out.push((f[0].to_string(), std::fs::read(corpus.join(f[0])).unwrap()));
            }
        }
    }
    out.retain(|(_, bytes)| {
        let validated = validate::inspect(bytes, &Policy::default());
        validated.is_ok_and(|v| {
            let (w, h) = v.stored_size();
            u64::from(w) * u64::from(h) <= MAX_SOURCE_PIXELS
        })
    });
    out
}

/// `count` mutants of `kind`, from the sources in turn, each with its source's name.
fn mutants(kind: Kind, count: usize, seed: u64) -> Vec<(String, Mutant)> {
    let sources = sources(kind);
    assert!(!sources.is_empty(), "no {} sources", kind.name());
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let (name, bytes) = &sources[i % sources.len()];
            (name.clone(), kind.mutate(bytes, &mut rng))
        })
        .collect()
}

/// Our outcome: accepted, or the error code and what the error says (its sources too).
fn our_outcome(bytes: &[u8]) -> Result<(), (Code, String)> {
    util::process(bytes, &Policy::default())
        .map(|_| ())
        .map_err(|e| (e.wire_code(), describe(&e)))
}

/// An error and its sources, innermost last.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// One mutant's comparison.
struct Case {
    kind: Kind,
    class: &'static str,
    source: String,
    ours: Result<(), (Code, String)>,
    reference: Option<Verdict>,
}

#[test]
fn mutated_files_get_the_reference_decoders_outcome() {
    let tools = [
        ("djpeg", "libjpeg-turbo-progs"),
        ("pngtopam", "netpbm"),
        ("giftext", "giflib-tools"),
    ];
    if !refs::tools(&tools, SUITE) {
        return;
    }
    let Some(mut pillow) = Pillow::start(SUITE) else {
        return;
    };
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (kind, count, seed) in [
        (Kind::Jpeg, JPEG_MUTANTS, 0x5E7_0001),
        (Kind::Png, PNG_MUTANTS, 0x5E7_0002),
        (Kind::Gif, GIF_MUTANTS, 0x5E7_0003),
    ] {
        let mutants = mutants(kind, count, seed);
        let paths: Vec<PathBuf> = mutants
            .iter()
            .enumerate()
            .map(|(i, (_, m))| {
                let path = dir.path().join(format!("{}-{i}", kind.name()));
                std::fs::write(&path, &m.bytes).unwrap();
                path
            })
            .collect();
        let ours: Vec<Result<(), (Code, String)>> = mutants
            .par_iter()
            .map(|(_, m)| our_outcome(&m.bytes))
            .collect();
        // The policy's limits are ours alone: a mutant over them is not compared, and no
        // reference is asked to decode a picture of a billion pixels.
        let compared: Vec<bool> = ours
            .iter()
            .map(|o| !matches!(o, Err((Code::TooLarge | Code::TooManyFrames, _))))
            .collect();
        let other: Vec<Option<Verdict>> = paths
            .par_iter()
            .zip(&compared)
            .map(|(path, &compared)| compared.then(|| kind.reference(path)).flatten())
            .collect();
        for (i, (source, mutant)) in mutants.into_iter().enumerate() {
            let reference = compared[i]
                .then(|| {
                    let pillow = pillow.verdict(&paths[i]);
                    match &other[i] {
                        Some(o) if o.decodes() == pillow.decodes() => {
                            Some(if o.decodes() { pillow } else { o.clone() })
                        }
                        _ => None,
                    }
                })
                .flatten();
            cases.push(Case {
                kind,
                class: mutant.class,
                source,
                ours: ours[i].clone(),
                reference,
            });
        }
    }

    let mut failures = Vec::new();
    let mut differing: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for kind in [Kind::Jpeg, Kind::Png, Kind::Gif] {
        let of_kind: Vec<&Case> = cases.iter().filter(|c| c.kind == kind).collect();
        let judged: Vec<&Case> = of_kind
            .iter()
            .copied()
            .filter(|c| c.reference.is_some())
            .collect();
        let agree = judged
            .iter()
            .filter(|c| c.ours.is_ok() == c.reference.as_ref().unwrap().decodes())
            .count();
        let refused = judged.iter().filter(|c| c.ours.is_err()).count();
        let rate = 100.0 * agree as f64 / judged.len().max(1) as f64;
        eprintln!(
            "{}: {} mutants, {} judged by the references ({} refused by us), {agree} agree: {rate:.1}%",
            kind.name(),
            of_kind.len(),
            judged.len(),
            refused,
        );
        if judged.len() * 2 < of_kind.len() {
            failures.push(format!(
                "{}: only {} of {} mutants judged",
                kind.name(),
                judged.len(),
                of_kind.len()
            ));
        }
        if rate < 99.0 {
            failures.push(format!("{}: agreement {rate:.1}% < 99%", kind.name()));
        }
        for c in judged {
            let reference = c.reference.as_ref().unwrap();
            if c.ours.is_ok() == reference.decodes() {
                continue;
            }
            let key = match (&c.ours, reference) {
                (Ok(()), Verdict::Refuses(why)) => format!(
                    "{} {}: we accept, the references refuse ({})",
                    kind.name(),
                    c.class,
                    why.chars().take(90).collect::<String>()
                ),
                (Err((code, why)), _) => format!(
                    "{} {}: we answer {code} ({why}), the references decode",
                    kind.name(),
                    c.class
                ),
                (Ok(()), Verdict::Decodes) => unreachable!(),
            };
            let entry = differing.entry(key).or_insert((0, c.source.clone()));
            entry.0 += 1;
        }
    }
    eprintln!("classes that differ (count, one source):");
    for (class, (count, source)) in &differing {
        eprintln!("  {count:4}  {class}  [e.g. from {source}]");
    }
    eprintln!("differential test: {:.1?}", start.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The outcome of decoding `bytes` at 1/`reduction` (1: in full), after validation.
fn outcome_at(bytes: &[u8], reduction: u32) -> Result<(), Code> {
    let policy = Policy::default();
    let validated = validate::inspect(bytes, &policy).map_err(|e| e.wire_code())?;
    decode::decode_reduced(bytes, &validated, &policy, reduction)
        .map(|_| ())
        .map_err(|e| e.wire_code())
}

#[test]
fn reduction_never_changes_whether_a_jpeg_is_accepted() {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(corpus) = util::shared_corpus() {
        let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
        for line in manifest.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            if f[3] == "jpeg" {
                files.push((f[0].to_string(), std::fs::read(corpus.join(f[0])).unwrap()));
            }
        }
    }
    let mutants = mutants(Kind::Jpeg, JPEG_MUTANTS, 0x5E7_0004);
    files.extend(
        mutants
            .into_iter()
            .enumerate()
            .map(|(i, (source, m))| (format!("mutant {i} of {source} ({})", m.class), m.bytes)),
    );
    let mismatches: Vec<String> = files
        .par_iter()
        .filter_map(|(name, bytes)| {
            let full = outcome_at(bytes, 1);
            let differing: Vec<String> = [2, 4, 8]
                .into_iter()
                .filter_map(|n| {
                    let reduced = outcome_at(bytes, n);
                    (reduced != full).then(|| format!("1/{n}: {reduced:?}"))
                })
                .collect();
            (!differing.is_empty())
                .then(|| format!("{name}: in full {full:?}, {}", differing.join(", ")))
        })
        .collect();
    // How many accepted files no decoder could use (drawn mid-grey): reported, since the
    // rule makes them accepted whatever the decoders say.
    let policy = Policy::default();
    let blank = files
        .par_iter()
        .filter(|(_, bytes)| {
            validate::inspect(bytes, &policy).is_ok_and(|v| {
                decode::decode(bytes, &v, &policy)
                    .is_ok_and(|d| d.path() == decode::DecodePath::Blank)
            })
        })
        .count();
    eprintln!(
        "{} JPEGs decoded in full and at 1/2, 1/4, 1/8; {} differ; {blank} accepted ones \
         no decoder could use (drawn mid-grey)",
        files.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
