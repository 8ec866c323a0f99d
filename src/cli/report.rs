//! The JSON Lines report: one line per input, and the run's summary.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Profile;

/// One rendition or original file written for an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileEntry {
    /// File name inside the input's output folder.
    pub(crate) name: String,
    /// Side in pixels, or `None` for the original.
    pub(crate) size: Option<u32>,
    /// Bytes in the file.
    pub(crate) bytes: u64,
}

/// One report line. Success: `ok: true` with `profile` and `files`; rejection: `ok: false`
/// with `error` (a Slack code) and `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Line {
    pub(crate) id: String,
    pub(crate) path: String,
    pub(crate) ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) profile: Option<Profile>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) files: Option<Vec<FileEntry>>,
    /// `true` when the outputs already existed and nothing was redone.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub(crate) skipped: bool,
    pub(crate) elapsed_ms: u64,
}

impl Line {
    /// A rejection line: `ok: false` with a Slack `code` and a message for people.
    pub(crate) fn rejected(id: String, path: String, code: &str, message: String) -> Self {
        Self {
            id,
            path,
            ok: false,
            error: Some(code.to_owned()),
            message: Some(message),
            profile: None,
            files: None,
            skipped: false,
            elapsed_ms: 0,
        }
    }
}

/// Counts and timings of a run, printed at the end.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    outcomes: BTreeMap<String, u64>,
    skipped: u64,
    elapsed_ms: Vec<u64>,
}

impl Summary {
    /// Counts one line.
    pub(crate) fn add(&mut self, line: &Line) {
        let outcome = line.error.clone().unwrap_or_else(|| "ok".to_owned());
        *self.outcomes.entry(outcome).or_default() += 1;
        if line.skipped {
            self.skipped += 1;
        } else {
            self.elapsed_ms.push(line.elapsed_ms);
        }
    }

    /// Inputs seen.
    pub(crate) fn total(&self) -> u64 {
        self.outcomes.values().sum()
    }

    /// Inputs rejected.
    pub(crate) fn rejected(&self) -> u64 {
        self.total() - self.outcomes.get("ok").copied().unwrap_or(0)
    }

    /// The closing line: counts by outcome, images/s and per-image p50/p99.
    pub(crate) fn render(&mut self, wall: Duration) -> String {
        self.elapsed_ms.sort_unstable();
        let pct = |p: f64| -> u64 {
            if self.elapsed_ms.is_empty() {
                return 0;
            }
            let rank = (p * (self.elapsed_ms.len() - 1) as f64).round() as usize;
            self.elapsed_ms[rank]
        };
        let processed = self.elapsed_ms.len() as f64;
        let rate = processed / wall.as_secs_f64().max(1e-9);
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        format!(
            "batch: {} inputs ({}), {} skipped as done, {rate:.1} images/s, p50 {} ms, p99 {} ms, {:.1} s",
            self.total(),
            outcomes.join(", "),
            self.skipped,
            pct(0.5),
            pct(0.99),
            wall.as_secs_f64()
        )
    }
}
