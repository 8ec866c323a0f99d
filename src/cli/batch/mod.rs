//! `setphoto batch`: normalise a folder or manifest of images in parallel.
//!
//! Inputs stream through `--jobs` worker threads, whose engine work runs on a rayon pool
//! of as many threads; an input is rendered only once its estimated peak fits in the
//! memory budget (`--memory`), so memory is bounded by the budget, not by the number of
//! images in flight. The workers are plain threads because they block on the budget: a
//! rayon worker blocked on it could sit above, on its own stack, the very render it waits
//! for (rayon runs stolen work inside a waiting join). Each input's files go to `DEST/<id>/` (a folder or an S3 prefix, see [`dest`]),
//! each written whole or not at all; a `<stem>.json` record written last marks the input
//! as done, so a re-run (or a run after `kill -9`) skips exactly the inputs whose outputs
//! are complete for the same avatar hash, which is known before decoding.

pub(crate) mod dest;

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use rayon::ThreadPool;
use sha2::{Digest as _, Sha256};

use self::dest::Dest;
use super::args::{BatchArgs, Shard};
use super::input::{self, BadLine, Entry, Item};
use super::output::ReadError;
use super::progress;
use super::report::{FileEntry, Line, Summary};
use super::{EXIT_REFUSED, EXIT_RUN_FAILED, output};
use crate::budget::Blocking as Budget;
use crate::profile::Profile;
use crate::{Error, Policy, SetPhotoRequest};

/// Runs `setphoto batch`.
pub(crate) fn run(args: &BatchArgs) -> ExitCode {
    match run_batch(args) {
        Ok(summary) if args.strict && summary.rejected() > 0 => ExitCode::from(EXIT_REFUSED),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("setphoto batch: {e}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

fn run_batch(args: &BatchArgs) -> io::Result<Summary> {
    let policy = args.render.to_policy();
    let started = Instant::now();
    let context = |what: &str, path: &Path| {
        let path = path.display().to_string();
        let what = what.to_owned();
        move |e: io::Error| io::Error::new(e.kind(), format!("{what} {path}: {e}"))
    };
    let dest = Dest::open(&args.out, args.base_url.as_deref())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write to {}: {e}", args.out)))?;
    // DEST and the report may sit inside the input folder: the walk never enters them.
    let mut exclude: Vec<_> = dest
        .folder()
        .map(fs::canonicalize)
        .transpose()?
        .into_iter()
        .collect();
    let mut sink: Box<dyn Write + Send> = match &args.report {
        Some(path) => {
            let file = fs::File::create(path).map_err(context("cannot create", path))?;
            exclude.extend(fs::canonicalize(path));
            Box::new(io::BufWriter::new(file))
        }
        None => Box::new(io::stdout()),
    };
    let entries = input::open(&args.input, &exclude, args.allow_outside)
        .map_err(context("cannot read", &args.input))?;
    // Counting reads the input twice: only for a folder or a regular file, never a pipe.
    let countable = fs::metadata(&args.input).is_ok_and(|m| m.is_dir() || m.is_file());
    let total = if args.quiet || !countable || !progress::is_terminal() {
        None
    } else {
        input::open(&args.input, &exclude, args.allow_outside)
            .ok()
            .map(|e| e.filter(|e| in_shard(e, args.shard)).count())
    };
    let mut progress = progress::Progress::new(total, args.quiet);

    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(io::Error::other)?;
    let budget = Budget::new(args.memory.unwrap_or_else(crate::budget::default_bytes));
    let (tx, rx) = mpsc::sync_channel::<Line>(jobs.max(1) * 2);
    let shard = args.shard;
    let entries = std::sync::Mutex::new(entries.filter(|e| in_shard(e, shard)));
    let work = Work {
        dest: &dest,
        policy: &policy,
        force: args.force,
        pool: &pool,
        budget: &budget,
    };
    let mut summary = Summary::default();
    let mut write_error = None;
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (tx, entries, work) = (tx.clone(), &entries, &work);
            scope.spawn(move || {
                loop {
                    let next = entries
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .next();
                    let Some(entry) = next else { break };
                    let line = match entry {
                        Ok(item) => process_item_or_panic(&item, work),
                        Err(bad) => bad_line(bad),
                    };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for line in rx {
            summary.add(&line);
            progress.record(&line);
            if write_error.is_none() {
                // Flushed per line: a killed or still-running batch has a report of
                // every input finished so far.
                let written = serde_json::to_string(&line)
                    .map_err(io::Error::other)
                    .and_then(|json| writeln!(sink, "{json}"))
                    .and_then(|()| sink.flush());
                write_error = written.err();
            }
        }
    });
    sink.flush()?;
    if let Some(e) = write_error {
        return Err(io::Error::new(
            e.kind(),
            format!("cannot write the report: {e}"),
        ));
    }
    progress.finish(&summary.render(started.elapsed()));
    Ok(summary)
}

/// Whether an entry belongs to `shard`: a stable partition by the SHA-256 of its id, the
/// same on every machine and release.
fn in_shard(entry: &Entry, shard: Option<Shard>) -> bool {
    let Some(shard) = shard else { return true };
    let id = match entry {
        Ok(item) => item.id.as_str(),
        Err(bad) => bad.id.as_str(),
    };
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % shard.count == shard.index
}

fn bad_line(bad: BadLine) -> Line {
    Line::rejected(bad.id, String::new(), "invalid_arguments", bad.message)
}

/// What every input of a run shares.
struct Work<'a> {
    dest: &'a Dest,
    policy: &'a Policy,
    force: bool,
    /// Where the engine's work runs (`--jobs` threads).
    pool: &'a ThreadPool,
    budget: &'a Budget,
}

/// [`process_item`], with a panic anywhere below (a decoder bug) turned into an
/// `internal_error` line for that input, so one bad file never stops the run.
fn process_item_or_panic(item: &Item, work: &Work<'_>) -> Line {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process_item(item, work)))
        .unwrap_or_else(|_| {
            Line::rejected(
                item.id.clone(),
                item.path.display().to_string(),
                "internal_error",
                "the engine panicked on this input".to_owned(),
            )
        })
}

/// Processes one input into its report line. Never fails: every problem is a line.
fn process_item(item: &Item, work: &Work<'_>) -> Line {
    let started = Instant::now();
    let mut line = match render_item(item, work) {
        Ok(line) => line,
        Err(Rejected { code, message }) => Line::rejected(
            item.id.clone(),
            item.path.display().to_string(),
            code,
            message,
        ),
    };
    line.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    line
}

/// Why an input was rejected: a Slack code and a message for people.
struct Rejected {
    code: &'static str,
    message: String,
}

impl From<Error> for Rejected {
    fn from(e: Error) -> Self {
        Self {
            code: e.code(),
            message: super::describe(&e),
        }
    }
}

fn render_item(item: &Item, work: &Work<'_>) -> Result<Line, Rejected> {
    let (dest, policy, force) = (work.dest, work.policy, work.force);
    // What a killed run left half-written for this input goes first.
    dest.sweep(&item.id);
    // A file that cannot be read is no usable image.
    let unreadable = |e: io::Error| Rejected {
        code: "bad_image",
        message: format!("cannot read {}: {e}", item.path.display()),
    };
    let bytes = match output::read_capped(&item.path, policy.max_bytes) {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge(e)) => return Err(e.into()),
        Err(ReadError::Io(e)) => return Err(unreadable(e)),
    };
    let request = SetPhotoRequest::from_form(
        bytes,
        item.crop_x.as_deref(),
        item.crop_y.as_deref(),
        item.crop_w.as_deref(),
    )?;
    let prepared = work.pool.install(|| crate::prepare(&request, policy))?;
    let record_name = format!("{}.json", prepared.file_stem());
    if !force
        && let Some(mut done) = dest
            .read(&item.id, &record_name)
            .and_then(|b| parse_record(&b))
    {
        done.path = item.path.display().to_string();
        done.skipped = true;
        // The files stay; where they are reached from may have changed (--base-url).
        let base_url = dest
            .base_url(&item.id)
            .map_err(|e| Error::Internal(e.into()))?;
        done.profile = done.profile.map(|p| rebase(p, &base_url));
        return Ok(done);
    }
    let set = {
        // Waits here, on this worker thread, until the image's estimated peak fits.
        let _memory = work.budget.acquire(prepared.estimated_peak_bytes());
        work.pool.install(|| prepared.render(&request, policy))?
    };
    let internal =
        |e: io::Error| Error::Internal(format!("cannot write {}/{}: {e}", dest, item.id).into());
    dest.write_set(&item.id, &set).map_err(internal)?;
    let base_url = dest.base_url(&item.id).map_err(internal)?;
    let mut files: Vec<FileEntry> = set
        .renditions()
        .iter()
        .map(|r| FileEntry {
            name: set.rendition_file_name(r),
            size: Some(r.size()),
            bytes: r.bytes().len() as u64,
        })
        .collect();
    files.push(FileEntry {
        name: set.original_file_name(),
        size: None,
        bytes: set.original().len() as u64,
    });
    let line = Line {
        id: item.id.clone(),
        path: item.path.display().to_string(),
        ok: true,
        error: None,
        message: None,
        profile: Some(set.profile(&base_url)),
        files: Some(files),
        skipped: false,
        elapsed_ms: 0,
    };
    let json = serde_json::to_vec(&line).map_err(|e| Error::Internal(e.into()))?;
    // Written last: its presence means every file above is complete.
    dest.write(&item.id, &record_name, &json)
        .map_err(internal)?;
    Ok(line)
}

/// `profile` with every URL's folder replaced by `base_url`, file names kept.
fn rebase(profile: Profile, base_url: &str) -> Profile {
    let moved = |url: String| match url.rsplit_once('/') {
        Some((_, name)) => format!("{}/{name}", base_url.trim_end_matches('/')),
        None => url,
    };
    Profile {
        avatar_hash: profile.avatar_hash,
        image_24: moved(profile.image_24),
        image_32: moved(profile.image_32),
        image_48: moved(profile.image_48),
        image_72: moved(profile.image_72),
        image_192: moved(profile.image_192),
        image_512: moved(profile.image_512),
        image_1024: moved(profile.image_1024),
        image_original: moved(profile.image_original),
    }
}

/// The done-record of a finished input, if it is whole and says so.
fn parse_record(bytes: &[u8]) -> Option<Line> {
    serde_json::from_slice::<Line>(bytes).ok().filter(|l| l.ok)
}
