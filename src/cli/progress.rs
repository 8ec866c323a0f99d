//! Progress on stderr: an indicatif bar on a terminal, plain periodic lines otherwise,
//! nothing with `--quiet`.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::report::Line;

/// How often plain progress lines are printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Whether stderr is a terminal (a bar is drawn only then).
pub(crate) fn is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// The run's progress display.
#[derive(Debug)]
pub(crate) enum Progress {
    /// `--quiet`.
    Quiet,
    /// A live bar with count, rate and ETA.
    Bar(ProgressBar),
    /// Plain lines every few seconds.
    Plain {
        started: Instant,
        last: Instant,
        done: u64,
        rejected: u64,
    },
}

impl Progress {
    /// A display for `total` inputs (unknown when `None`).
    pub(crate) fn new(total: Option<usize>, quiet: bool) -> Self {
        if quiet {
            return Self::Quiet;
        }
        if is_terminal() {
            let bar = ProgressBar::with_draw_target(
                total.map(|t| t as u64),
                ProgressDrawTarget::stderr(),
            );
            let template = if total.is_some() {
                "{bar:40} {pos}/{len} images, {per_sec}, ETA {eta} {msg}"
            } else {
                "{spinner} {pos} images, {per_sec} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            return Self::Bar(bar);
        }
        let now = Instant::now();
        Self::Plain {
            started: now,
            last: now,
            done: 0,
            rejected: 0,
        }
    }

    /// Counts one finished input.
    pub(crate) fn record(&mut self, line: &Line) {
        match self {
            Self::Quiet => {}
            Self::Bar(bar) => {
                bar.inc(1);
                if !line.ok {
                    bar.set_message(format!("(last rejected: {})", line.id));
                }
            }
            Self::Plain {
                started,
                last,
                done,
                rejected,
            } => {
                *done += 1;
                *rejected += u64::from(!line.ok);
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    let rate = *done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    eprintln!("batch: {done} done ({rejected} rejected), {rate:.1} images/s");
                }
            }
        }
    }

    /// Ends the display with the summary line.
    pub(crate) fn finish(self, summary: &str) {
        match self {
            Self::Quiet => {}
            Self::Bar(bar) => {
                bar.finish_and_clear();
                eprintln!("{summary}");
            }
            Self::Plain { .. } => eprintln!("{summary}"),
        }
    }
}
