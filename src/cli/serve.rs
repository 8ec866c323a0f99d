//! `setphoto serve` and `setphoto token create`.

use std::process::ExitCode;

use super::args::{ServeArgs, TokenCreateArgs};
use super::{EXIT_RUN_FAILED, EXIT_USAGE};
use crate::server::{DEFAULT_SCOPES, Server, ServerConfig, Store, StoreError};

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
    if let Some(memory) = args.memory {
        config.memory_budget = memory;
    }
    match Server::start(config) {
        Ok(server) => {
            // The one start-up line; scripts read the address from it.
            eprintln!(
                "setphoto serve: listening on http://{} (API {}/api/, data in {})",
                server.local_addr(),
                server.public_url(),
                args.data.display()
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

/// Creates a token and prints it alone on stdout.
pub(crate) fn create_token(args: &TokenCreateArgs) -> ExitCode {
    let scopes: Vec<String> = args
        .scopes
        .clone()
        .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    let created = Store::open(&args.data)
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
