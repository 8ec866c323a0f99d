//! `setphoto upload`: one image, or a folder or manifest of them, to a users.setPhoto
//! endpoint.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::args::UploadArgs;
use super::input::{self, Entry};
use super::output::{ReadError, read_capped};
use super::progress::Progress;
use super::report::{Line, Summary};
use super::{EXIT_REFUSED, EXIT_RUN_FAILED, EXIT_USAGE};
use crate::Code;
use crate::client::{Answer, Client, ClientConfig, ClientError, RetryPolicy};
use crate::profile::Profile;
use crate::request::parse_crop;

/// Uploads, prints the endpoint's body, and maps the outcome to an exit status.
pub(crate) fn run(args: &UploadArgs) -> ExitCode {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("SLACK_TOKEN").ok())
        .unwrap_or_default();
    if let Some(from) = &args.from {
        return run_many(args, from, &token);
    }
    let Some(image) = &args.image else {
        eprintln!("setphoto upload: give IMAGE or --from INPUT");
        return ExitCode::from(EXIT_USAGE);
    };
    let client = match client_for(args, token) {
        Ok(client) => client,
        Err(e) => return failed(&e),
    };
    match upload_file(
        &client,
        args,
        image,
        [
            args.crop.crop_x.as_deref(),
            args.crop.crop_y.as_deref(),
            args.crop.crop_w.as_deref(),
        ],
    ) {
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
        Err(UploadError::Unreadable(message)) => {
            eprintln!("setphoto upload: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(UploadError::Client(e)) => failed(&e),
    }
}

/// Why one upload failed before or after the network.
enum UploadError {
    /// The file could not be read.
    Unreadable(String),
    /// The crop, --normalize, the transport or the endpoint refused.
    Client(ClientError),
}

fn client_for(args: &UploadArgs, token: String) -> Result<Client, ClientError> {
    let retry = RetryPolicy {
        max_retries: args.retries,
        ..RetryPolicy::default()
    };
    Client::new(
        ClientConfig::new(token)
            .base_url(args.base_url.clone())
            .timeout(Duration::from_secs(args.timeout.max(1)))
            .retry(retry),
    )
}

/// Reads `path` (capped at the policy's byte limit), parses the crop, and uploads.
fn upload_file(
    client: &Client,
    args: &UploadArgs,
    path: &Path,
    [crop_x, crop_y, crop_w]: [Option<&str>; 3],
) -> Result<Answer, UploadError> {
    let policy = args.policy.policy(false);
    let crop = parse_crop(crop_x, crop_y, crop_w)
        .map_err(|e| UploadError::Client(ClientError::Image(e)))?;
    let image = match read_capped(path, policy.max_bytes) {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge(e)) => return Err(UploadError::Client(ClientError::Image(e))),
        Err(ReadError::Io(e)) => {
            return Err(UploadError::Unreadable(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let answer = if args.normalize {
        client.set_photo_normalized(image, crop, &policy)
    } else {
        client.set_photo_answer(image.into(), crop)
    };
    answer.map_err(UploadError::Client)
}

/// `--from`: every input in turn, one report line each, paced per token.
fn run_many(args: &UploadArgs, from: &Path, default_token: &str) -> ExitCode {
    let entries = match input::open(from, &[], args.allow_outside) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("setphoto upload: cannot read {}: {e}", from.display());
            return ExitCode::from(EXIT_RUN_FAILED);
        }
    };
    // Slack limits calls per token and method: space one token's calls by 60/rate s, so a
    // run with one token stays under the limit instead of bouncing off 429s.
    let interval = if args.rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs(60) / args.rate
    };
    let mut clients: HashMap<String, (Client, Option<Instant>)> = HashMap::new();
    let mut progress = Progress::new(None, args.quiet);
    let mut summary = Summary::default();
    let started = Instant::now();
    let mut stdout = std::io::stdout().lock();
    for entry in entries {
        let line = upload_entry(args, entry, default_token, interval, &mut clients);
        progress.record(&line);
        summary.add(&line);
        let json = serde_json::to_string(&line).unwrap_or_default();
        if writeln!(stdout, "{json}").is_err() {
            return ExitCode::from(EXIT_RUN_FAILED);
        }
    }
    progress.finish(&summary.render(started.elapsed()));
    if summary.rejected() > 0 {
        ExitCode::from(EXIT_REFUSED)
    } else {
        ExitCode::SUCCESS
    }
}

fn upload_entry(
    args: &UploadArgs,
    entry: Entry,
    default_token: &str,
    interval: Duration,
    clients: &mut HashMap<String, (Client, Option<Instant>)>,
) -> Line {
    let started = Instant::now();
    let item = match entry {
        Ok(item) => item,
        Err(bad) => {
            return Line::rejected(
                bad.id,
                String::new(),
                Code::InvalidArguments.as_str(),
                bad.message,
            );
        }
    };
    let path = item.path.display().to_string();
    let token = item
        .token
        .clone()
        .unwrap_or_else(|| default_token.to_owned());
    if !clients.contains_key(&token) {
        match client_for(args, token.clone()) {
            Ok(client) => {
                clients.insert(token.clone(), (client, None));
            }
            Err(e) => return Line::rejected(item.id, path, e.code(), e.to_string()),
        }
    }
    let Some((client, last_call)) = clients.get_mut(&token) else {
        return Line::rejected(
            item.id,
            path,
            Code::InternalError.as_str(),
            "no client".into(),
        );
    };
    if let Some(last) = *last_call {
        std::thread::sleep(interval.saturating_sub(last.elapsed()));
    }
    *last_call = Some(Instant::now());
    let crop = [
        item.crop_x.as_deref(),
        item.crop_y.as_deref(),
        item.crop_w.as_deref(),
    ];
    let mut line = match upload_file(client, args, &item.path, crop) {
        Ok(answer) => match serde_json::from_value::<Profile>(answer.json["profile"].clone()) {
            Ok(profile) => Line {
                id: item.id,
                path,
                ok: true,
                error: None,
                message: None,
                profile: Some(profile),
                files: None,
                skipped: false,
                elapsed_ms: 0,
            },
            Err(e) => Line::rejected(item.id, path, Code::InvalidResponse.as_str(), e.to_string()),
        },
        Err(UploadError::Unreadable(message)) => {
            Line::rejected(item.id, path, Code::BadImage.as_str(), message)
        }
        Err(UploadError::Client(e)) => Line::rejected(item.id, path, e.code(), e.to_string()),
    };
    line.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    line
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
