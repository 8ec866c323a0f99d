//! `setphoto serve`: a users.setPhoto-compatible HTTP service (cargo feature `server`).
//!
//! Any app built on a Slack SDK can point its base URL at `http://<host>/api/` and call
//! `users.setPhoto`, `users.deletePhoto`, `users.profile.get`, `users.profile.set`,
//! `users.info` and `users.identity`. Users, tokens and current avatars live in SQLite in
//! the data folder (or in PostgreSQL, shared by replicas), avatar files beside it (or in an
//! S3 bucket), served under `/avatars/`.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let config = setphoto::server::ServerConfig::new("./setphoto-data");
//! let server = setphoto::server::Server::start(config)?;
//! println!("listening on {}", server.public_url());
//! server.wait();
//! # Ok(())
//! # }
//! ```
//!
//! Wire rules (what the official SDKs rely on): application errors are HTTP 200 with
//! `{"ok":false,"error":CODE}`; only rate limiting is HTTP 429 with `Retry-After`. Bodies
//! over the limit are refused from `Content-Length` alone, or as soon as the count passes
//! the limit; headers must arrive within `header_timeout` and the body within
//! `request_timeout`, without pausing longer than `body_idle_timeout` or falling below
//! `body_min_rate`; a panic in a handler becomes `internal_error`. A token in the query
//! string or `Authorization` header is checked (and rate limited) before the body is read;
//! requests without one share a few body slots only (see `anonymous_bodies`), and no
//! request waits longer than `slot_wait` for a slot (it is answered `ratelimited`).

mod admission;
mod api;
pub mod avatars;
mod deadline;
mod files;
mod http;
mod ops;
pub mod params;
mod profile;
pub mod ratelimit;
mod reply;
pub mod store;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use avatars::FileStore;
pub use ipnet::IpNet;
pub use ops::parse_trusted;
pub use store::{DEFAULT_SCOPES, DEFAULT_TEAM, Database, Store, StoreError};

use crate::Policy;

/// Everything `setphoto serve` can be told; [`ServerConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Folder of the database and the avatar files.
    pub data_dir: PathBuf,
    /// Base of every URL the server returns; `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// Calls a minute per token and method (Slack's Tier 2: 20); 0 turns limiting off.
    pub rate_limit_per_minute: u32,
    /// Largest request body read (the image limit plus room for the other form fields).
    pub max_body_bytes: u64,
    /// Time a client has to send the request line and headers.
    pub header_timeout: Duration,
    /// Time a client has to send the whole body.
    pub request_timeout: Duration,
    /// Longest pause while a body arrives; also the grace before `body_min_rate` applies.
    pub body_idle_timeout: Duration,
    /// Least average rate of a body, in bytes a second, once `body_idle_timeout` has
    /// passed (0: none). Cuts a trickle that never pauses long enough to be idle.
    pub body_min_rate: u64,
    /// Limits and output settings of the engine.
    pub policy: Policy,
    /// Images processed at once (default: the number of cores).
    pub engine_threads: usize,
    /// Bytes the images being processed may need together, by their estimates
    /// ([`crate::estimate_peak_bytes`]); an image waits until it fits, and one larger
    /// than the whole budget runs alone. Default: half the machine's memory (or its
    /// cgroup limit), between 256 MiB and 16 GiB.
    pub memory_budget: u64,
    /// Open connections at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Request bodies read and held at once (each up to `max_body_bytes`); more wait.
    /// Bounds memory whatever the number of connections.
    pub bodies_in_flight: usize,
    /// Of `bodies_in_flight`, how many may go to requests whose token was not checked
    /// before their body (token only in the body, or none); always leaves one to others.
    pub anonymous_bodies: usize,
    /// Longest a write to a client may stay blocked (the client not reading) before the
    /// connection is dropped; a slow reader that keeps reading is never cut.
    pub write_timeout: Duration,
    /// Avatar file bodies streamed at once; past it `/avatars/` answers 503 with
    /// `Retry-After: 1`. Each holds one chunk of the file at a time, not the file.
    pub files_in_flight: usize,
    /// Failed authentications a minute per client address (a burst of as many, then
    /// that rate); past it the address is answered `ratelimited` (HTTP 429) before any
    /// token it sends is looked up. 0 turns the throttle off.
    pub auth_failures_per_minute: u32,
    /// How long the files of a superseded avatar stay served after a new one is set
    /// (their URLs were handed out as cacheable for a year); then the sweeper removes
    /// them. Zero: at once. `users.deletePhoto` removes the files at once whatever this is.
    pub keep_old: Duration,
    /// Longest wait for a body slot; past it the call is answered `ratelimited` (HTTP 429,
    /// `Retry-After: 1`) instead of queueing.
    pub slot_wait: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see
    /// [`parse_trusted`]); the client address is what the access log shows and what
    /// failed authentications are throttled by. Empty: the peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Where users, tokens and avatars are recorded; `None`: SQLite in `data_dir`.
    pub database: Option<Database>,
    /// Where the avatar files are kept; `None`: `avatars/` in `data_dir`.
    pub store: Option<FileStore>,
    /// With a database shared by replicas, how old a file that no avatar references must
    /// be before the orphan sweep removes it (another replica may be about to commit a
    /// younger one): far longer than any request may take. The sweep runs at start-up
    /// and then this often. With SQLite, orphans are removed at start-up whatever their age.
    pub orphan_age: Duration,
}

impl ServerConfig {
    /// The defaults of `setphoto serve`, storing data in `data_dir`.
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let policy = Policy::default();
        let engine_threads = std::thread::available_parallelism().map_or(2, usize::from);
        let bodies_in_flight = (4 * engine_threads).max(16);
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            public_url: None,
            rate_limit_per_minute: 20,
            auth_failures_per_minute: 60,
            keep_old: Duration::from_secs(24 * 60 * 60),
            max_body_bytes: policy.max_bytes + 64 * 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            policy,
            engine_threads,
            memory_budget: crate::budget::default_bytes(),
            body_idle_timeout: Duration::from_secs(5),
            body_min_rate: 8 * 1024,
            max_connections: 1024,
            bodies_in_flight,
            anonymous_bodies: (bodies_in_flight / 4).max(1),
            slot_wait: Duration::from_secs(10),
            write_timeout: Duration::from_secs(20),
            files_in_flight: 128,
            trusted_proxies: Vec::new(),
            database: None,
            store: None,
            orphan_age: Duration::from_secs(60 * 60),
        }
    }
}

/// Removes expired superseded files now and then, for as long as the server runs.
async fn sweeper(state: Arc<api::State>) {
    // Often enough that a file outlives its grace by a small fraction of it.
    let every =
        (state.config.keep_old / 8).clamp(Duration::from_millis(200), Duration::from_secs(600));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        api::sweep_superseded(&state).await;
    }
}

/// With a shared database, removes orphaned files every `orphan_age` (the start-up sweep
/// is the first), for as long as the server runs.
async fn orphan_sweeper(state: Arc<api::State>) {
    let every = state.config.orphan_age.max(Duration::from_millis(200));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        api::sweep_orphans(&state).await;
    }
}

/// A running server: its address, and a way to stop it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    public_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Opens the store, binds the address and starts serving on background threads.
    /// Returns once the port is bound, so a client may connect at once.
    pub fn start(config: ServerConfig) -> std::io::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        let database = config
            .database
            .clone()
            .unwrap_or_else(|| Database::in_folder(&config.data_dir));
        let store = Store::connect(&database).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        let state = Arc::new(api::State::new(config.clone(), store, public_url.clone())?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("setphoto-serve")
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("setphoto-accept".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(sweeper(state.clone()));
                    if state.store.is_shared() {
                        tokio::spawn(orphan_sweeper(state.clone()));
                    }
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => http::serve(listener, state, rx).await,
                        Err(e) => tracing::error!(target: "setphoto::serve", "{e}"),
                    }
                });
            })?;
        Ok(Self {
            addr,
            public_url,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base of the URLs the server returns, without a trailing slash.
    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Blocks until the server stops (Ctrl-C or SIGTERM).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Blocks until Ctrl-C (or SIGTERM on Unix), then shuts down gracefully.
    pub fn wait_for_signal(self) {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    if let Ok(mut terminate) = signal(SignalKind::terminate()) {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = terminate.recv() => {}
                        }
                        return;
                    }
                }
                let _ = tokio::signal::ctrl_c().await;
            });
        }
        self.shutdown();
    }

    /// Stops accepting, lets requests in progress finish (for a few seconds at most), and
    /// returns when the server is down.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
