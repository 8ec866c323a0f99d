//! `setphoto process`: one image in, one avatar set and one JSON body out.

use std::io::Write as _;
use std::process::ExitCode;

use super::args::ProcessArgs;
use super::output::ReadError;
use super::{EXIT_REFUSED, EXIT_USAGE, output};
use crate::{Error, ErrorResponse, SetPhotoRequest, SetPhotoResponse};

/// Runs `setphoto process`.
pub(crate) fn run(args: &ProcessArgs) -> ExitCode {
    let policy = args
        .policy
        .policy(args.upscale)
        .with_keep_original_metadata(args.keep_original_metadata);
    // An oversized file is refused from its length, and never read past the limit.
    let bytes = match output::read_capped(&args.image, policy.max_bytes) {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge(e)) => return refused(&e),
        Err(ReadError::Io(e)) => {
            return usage(&format!("cannot read {}: {e}", args.image.display()));
        }
    };
    let request = match SetPhotoRequest::from_form(
        bytes,
        args.crop_x.as_deref(),
        args.crop_y.as_deref(),
        args.crop_w.as_deref(),
    ) {
        Ok(request) => request,
        Err(e) => return refused(&e),
    };
    let set = match crate::process(&request, &policy) {
        Ok(set) => set,
        Err(e) => return refused(&e),
    };
    let written = output::write_set(&set, &args.out).and_then(|()| match &args.base_url {
        Some(url) => Ok(url.clone()),
        None => output::file_base_url(&args.out),
    });
    let base_url = match written {
        Ok(url) => url,
        Err(e) => {
            return refused(&Error::Internal(
                format!("cannot write to {}: {e}", args.out.display()).into(),
            ));
        }
    };
    print_json(&SetPhotoResponse::success(set.profile(&base_url)));
    ExitCode::SUCCESS
}

fn refused(error: &Error) -> ExitCode {
    eprintln!("setphoto: {}", super::describe(error));
    print_json(&ErrorResponse::from_error(error));
    ExitCode::from(EXIT_REFUSED)
}

fn usage(message: &str) -> ExitCode {
    eprintln!("setphoto: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(json) => {
            // A closed pipe is not an error worth a panic.
            let _ = writeln!(std::io::stdout().lock(), "{json}");
        }
        Err(e) => eprintln!("setphoto: cannot write JSON: {e}"),
    }
}
