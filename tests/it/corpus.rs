//! Conformance on `../shared/corpus/MANIFEST.tsv`: every file gives its expected outcome
//! (or one of `alt_ok`) within 2 s, without a panic; sets decode again with the promised
//! sizes and formats. Every mismatch is reported at once.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use setphoto::Policy;

use crate::util::{check_renditions, process, shared_corpus};

const DEADLINE: Duration = Duration::from_secs(2);

#[test]
fn every_corpus_file_gives_its_expected_outcome() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file_col, expected_col, alt_col) = (col("file"), col("expected"), col("alt_ok"));

    let mut mismatches = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut alternatives = Vec::new();
    let mut rows = 0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        rows += 1;
        let fields: Vec<&str> = line.split('\t').collect();
        let file = fields[file_col].to_owned();
        let expected = fields[expected_col];
        let alt_ok: Vec<&str> = fields
            .get(alt_col)
            .map(|a| a.split([',', ' ', ';']).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let bytes = std::fs::read(corpus.join(&file)).unwrap();

        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(|| {
                process(&bytes, &Policy::default()).map(|set| check_renditions(&set))
            });
            let _ = tx.send(result);
        });
        let outcome = match rx.recv_timeout(DEADLINE) {
            Err(_) => {
                mismatches.push(format!("{file}: no result within {DEADLINE:?}"));
                continue;
            }
            Ok(Err(_)) => {
                mismatches.push(format!("{file}: PANIC"));
                continue;
            }
            Ok(Ok(Ok(Ok(())))) => "ok".to_owned(),
            Ok(Ok(Ok(Err(problem)))) => {
                mismatches.push(format!("{file}: a rendition is wrong: {problem}"));
                continue;
            }
            Ok(Ok(Err(e))) => e.code().to_owned(),
        };
        *counts.entry(outcome.clone()).or_default() += 1;
        if outcome != expected && alt_ok.contains(&outcome.as_str()) {
            alternatives.push(format!("{file}: {outcome} (expected {expected})"));
        } else if outcome != expected {
            mismatches.push(format!(
                "{file}: got {outcome}, expected {expected} (alt_ok {alt_ok:?}) in {:?}",
                started.elapsed()
            ));
        }
    }
    eprintln!("corpus: {rows} files, outcomes {counts:?}");
    eprintln!("alt_ok outcomes taken:\n{}", alternatives.join("\n"));
    assert!(rows > 300, "the manifest lists only {rows} files");
    assert!(
        mismatches.is_empty(),
        "{} of {rows} corpus files mismatch:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
