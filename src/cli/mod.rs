//! The `setphoto` command-line tool (cargo feature `cli`).
//!
//! Exit status: 0 on success, 1 when the engine refused the image (the JSON on stdout
//! says why; for `batch`, only with `--strict`), 2 for usage errors (bad flags,
//! unreadable input file), 3 when a batch run itself failed.

mod args;
mod batch;
mod input;
mod output;
mod process;
mod progress;
mod report;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "client")]
mod upload;

use std::process::ExitCode;

use clap::Parser as _;

#[cfg(feature = "client")]
pub use args::UploadArgs;
pub use args::{BatchArgs, Cli, Command, PolicyPreset, ProcessArgs, Shard};
#[cfg(feature = "server")]
pub use args::{ServeArgs, TokenCommand, TokenCreateArgs};

/// Exit status for a refused image or a failed write.
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Exit status for a usage error.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status for a batch run that itself failed.
pub(crate) const EXIT_RUN_FAILED: u8 = 3;

/// Parses the command line and runs the subcommand.
#[must_use]
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Process(args) => process::run(&args),
        Command::Batch(args) => batch::run(&args),
        #[cfg(feature = "client")]
        Command::Upload(args) => upload::run(&args),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(&args),
        #[cfg(feature = "server")]
        Command::Token(TokenCommand::Create(args)) => serve::create_token(&args),
    }
}

/// An error and its sources, one after another: what stderr and report messages say.
pub(crate) fn describe(error: &crate::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
