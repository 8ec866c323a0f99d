//! `setphoto upload`: one image to a users.setPhoto endpoint.

use std::process::ExitCode;
use std::time::Duration;

use super::args::UploadArgs;
use super::output::{ReadError, read_capped};
use super::{EXIT_REFUSED, EXIT_RUN_FAILED, EXIT_USAGE};
use crate::client::{Client, ClientConfig, ClientError, RetryPolicy};
use crate::request::parse_crop;

/// Uploads, prints the endpoint's body, and maps the outcome to an exit status.
pub(crate) fn run(args: &UploadArgs) -> ExitCode {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("SLACK_TOKEN").ok())
        .unwrap_or_default();
    let policy = args.policy.policy(false);
    let crop = match parse_crop(
        args.crop_x.as_deref(),
        args.crop_y.as_deref(),
        args.crop_w.as_deref(),
    ) {
        Ok(crop) => crop,
        Err(e) => return refused(e.code(), &e.to_string()),
    };
    let image = match read_capped(&args.image, policy.max_bytes) {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge(e)) => return refused(e.code(), &e.to_string()),
        Err(ReadError::Io(e)) => {
            eprintln!("setphoto upload: cannot read {}: {e}", args.image.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let retry = RetryPolicy {
        max_retries: args.retries,
        ..RetryPolicy::default()
    };
    let config = ClientConfig::new(token)
        .base_url(args.base_url.clone())
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .retry(retry);
    let client = match Client::new(config) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("setphoto upload: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let answer = if args.normalize {
        client.set_photo_normalized(image, crop, &policy)
    } else {
        client.set_photo_answer(image.into(), crop)
    };
    match answer {
        Ok(answer) => {
            println!("{}", answer.body);
            if args.verify {
                let sent = answer.json["profile"]["avatar_hash"].as_str().unwrap_or("");
                match client.current_avatar_hash() {
                    Ok(served) if served == sent => {}
                    Ok(served) => {
                        eprintln!(
                            "setphoto upload: the endpoint serves avatar_hash {served}, not the uploaded {sent}"
                        );
                        return ExitCode::from(EXIT_REFUSED);
                    }
                    Err(e) => return failed(&e),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(&e),
    }
}

fn failed(error: &ClientError) -> ExitCode {
    match error {
        ClientError::Api { body, .. } => {
            println!("{body}");
            ExitCode::from(EXIT_REFUSED)
        }
        ClientError::Image(e) => refused(e.code(), &super::describe(e)),
        ClientError::Config(message) => {
            eprintln!("setphoto upload: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            eprintln!("setphoto upload: {error}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

/// A local refusal, printed as the endpoint would have answered it.
fn refused(code: &str, message: &str) -> ExitCode {
    println!("{}", serde_json::json!({"ok": false, "error": code}));
    eprintln!("setphoto upload: {message}");
    ExitCode::from(EXIT_REFUSED)
}
