//! `setphoto serve` and `setphoto token create`.

use std::process::ExitCode;

use super::args::{AdmissionArgs, LogFormat, ServeArgs, TokenCreateArgs};
use super::{EXIT_RUN_FAILED, EXIT_USAGE};
use crate::server::{DEFAULT_SCOPES, Database, FileStore, Server, ServerConfig, Store, StoreError};

/// Starts the server and serves until Ctrl-C or SIGTERM.
pub(crate) fn run(args: &ServeArgs) -> ExitCode {
    let mut config = ServerConfig::new(&args.data);
    config.listen = args.listen;
    config.public_url.clone_from(&args.public_url);
    config.rate_limit_per_minute = args.rate_limit;
    config.keep_old = args.keep_old;
    config.auth_failures_per_minute = args.auth_failures;
    config.policy = args.render.to_policy();
    if let Some(jobs) = args.jobs {
        config.engine_threads = jobs.max(1);
    }
    config.trusted_proxies.clone_from(&args.trust_proxy);
    config.database.clone_from(&args.database);
    config.store.clone_from(&args.store);
    config.orphan_age = args.orphan_age;
    apply_admission(&args.admission, &mut config);
    install_logger(args.log_format, !args.no_access_log);
    if let Some(memory) = args.memory {
        config.memory_budget = memory;
    }
    match Server::start(config) {
        Ok(server) => {
            // The one start-up line; scripts read the address from it.
            let database = args
                .database
                .clone()
                .unwrap_or_else(|| Database::in_folder(&args.data));
            let store = args
                .store
                .clone()
                .unwrap_or_else(|| FileStore::Folder(args.data.clone()));
            eprintln!(
                "setphoto serve: listening on http://{} (API {}/api/, database {}, store {} {})",
                server.local_addr(),
                server.public_url(),
                database.engine(),
                store.kind(),
                store
            );
            server.wait_for_signal();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("setphoto serve: cannot start: {e}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

/// Overrides the admission defaults with the flags given.
fn apply_admission(flags: &AdmissionArgs, config: &mut ServerConfig) {
    let set = |value: Option<usize>, field: &mut usize| {
        if let Some(value) = value {
            *field = value.max(1);
        }
    };
    set(flags.max_connections, &mut config.max_connections);
    set(flags.files_in_flight, &mut config.files_in_flight);
    if let Some(bodies) = flags.bodies {
        config.bodies_in_flight = bodies.max(1);
        // The anonymous share follows the total unless given.
        config.anonymous_bodies = (config.bodies_in_flight / 4).max(1);
    }
    set(flags.anonymous_bodies, &mut config.anonymous_bodies);
    let durations = [
        (flags.slot_wait, &mut config.slot_wait),
        (flags.header_timeout, &mut config.header_timeout),
        (flags.request_timeout, &mut config.request_timeout),
        (flags.body_idle_timeout, &mut config.body_idle_timeout),
        (flags.write_timeout, &mut config.write_timeout),
    ];
    for (flag, field) in durations {
        if let Some(value) = flag {
            *field = value;
        }
    }
    if let Some(rate) = flags.body_min_rate {
        config.body_min_rate = rate;
    }
}

/// Log lines go to stderr (the journal under systemd, the container log under Docker):
/// the server's own events at INFO and above, and one access line per request unless
/// `access` is off.
fn install_logger(format: LogFormat, access: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::fmt;
    use tracing_subscriber::prelude::*;

    let access_level = if access {
        LevelFilter::INFO
    } else {
        LevelFilter::OFF
    };
    let filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("setphoto::access", access_level);
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true);
    // A second install (a test calling run twice in one process) keeps the first.
    let _ = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().flatten_event(true).with_filter(filter))
            .try_init(),
    };
}

/// Creates a token and prints it alone on stdout.
pub(crate) fn create_token(args: &TokenCreateArgs) -> ExitCode {
    let scopes: Vec<String> = args
        .scopes
        .clone()
        .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| Database::in_folder(&args.data));
    let created = std::fs::create_dir_all(&args.data)
        .map_err(StoreError::from)
        .and_then(|()| Store::connect(&database))
        .and_then(|store| store.create_token(&args.user, &args.team, &scopes));
    match created {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e @ StoreError::Invalid(_)) => {
            eprintln!("setphoto token create: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("setphoto token create: {e}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}
