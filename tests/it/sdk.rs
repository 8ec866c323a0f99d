//! `setphoto serve` against the official Slack SDKs: runs `tests/sdk/run.sh all`, which
//! installs slack_sdk (Python) and @slack/web-api (Node) under the target folder, starts
//! the server and runs tests/sdk/python and tests/sdk/node against it.
//!
//! Without python3, pip or the package registries, run.sh exits 77: under CI (`CI=true`)
//! that is a failure; on a user's machine the test prints a notice and is skipped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

/// run.sh's "the SDKs could not be installed here" status.
const EXIT_UNAVAILABLE: i32 = 77;

/// Far more than a cold install and both runs take (about a minute at most); a hung
/// install or server must not hang the test suite.
const LIMIT: Duration = Duration::from_secs(15 * 60);

fn skip_or_fail(why: &str) {
    util::skip_or_fail(why, "the Slack SDK conformance tests");
}

#[test]
#[cfg(unix)]
fn official_slack_sdks_talk_to_setphoto_serve() {
    run("all", &[]);
}

/// The same run, Python's half, against PostgreSQL and an S3 bucket (moto): the
/// configuration of replicas.
#[test]
#[cfg(all(unix, feature = "s3"))]
fn official_slack_sdk_talks_to_setphoto_serve_on_postgres_and_s3() {
    let Some(backends) = crate::serve_replicas::Backends::start() else {
        return;
    };
    run("python", &backends.env());
}

/// Runs `tests/sdk/run.sh which` with `env` added, and asserts it passed (or skips).
#[cfg(unix)]
fn run(which: &str, env: &[(String, String)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_setphoto"));
    let sdk_dir = std::env::var_os("SETPHOTO_SDK_DIR")
        .map_or_else(|| util::beside_build("sdk"), PathBuf::from);

    // stdout and stderr into one pipe, so the lines keep their order.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let mut command = Command::new("bash");
    command
        .arg(root.join("tests/sdk/run.sh"))
        .arg(which)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .env("SETPHOTO_BIN", &bin)
        .env("SETPHOTO_SDK_DIR", &sdk_dir)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("a pipe"))
        .stderr(writer);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip_or_fail("bash is not installed");
            return;
        }
        Err(e) => panic!("cannot run tests/sdk/run.sh: {e}"),
    };
    // The Command holds the write ends: drop them, or the reader never sees the end.
    drop(command);
    let printer = std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            match line {
                Ok(line) => println!("{line}"),
                Err(_) => break,
            }
        }
    });

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for run.sh") {
            break status;
        }
        if start.elapsed() > LIMIT {
            // TERM first: run.sh's trap stops the server it started.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(20));
            let _ = child.kill();
            let _ = child.wait();
            panic!("tests/sdk/run.sh ran past {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = printer.join();
    eprintln!(
        "tests/sdk/run.sh {which}: {status} after {:.1?}",
        start.elapsed()
    );
    if status.code() == Some(EXIT_UNAVAILABLE) {
        skip_or_fail("the Slack SDKs could not be installed (tests/sdk/run.sh exited 77)");
        return;
    }
    assert!(
        status.success(),
        "tests/sdk/run.sh {which} failed ({status}); its output is above"
    );
}
