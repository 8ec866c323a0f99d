//! The one integration-test binary: the public API, the corpus, the CLI.

mod api;
mod batch;
#[cfg(feature = "s3")]
mod batch_s3;
#[path = "../common/bombs.rs"]
mod bombs;
mod cli;
#[cfg(all(feature = "client", feature = "server", feature = "cli"))]
mod client;
mod colour;
#[cfg(feature = "bench-internals")]
mod conformance;
mod corpus;
#[cfg(feature = "bench-internals")]
mod differential;
#[cfg(feature = "fuzzing")]
mod fuzz;
mod golden;
mod limits;
#[cfg(feature = "bench-internals")]
mod mutate;
mod originals;
#[cfg(feature = "bench-internals")]
mod refs;
#[cfg(all(feature = "server", feature = "cli"))]
mod sdk;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod serve_attack;
#[cfg(feature = "server")]
mod serve_grace;
#[cfg(all(feature = "server", feature = "cli"))]
mod serve_memory;
#[cfg(feature = "server")]
mod serve_methods;
#[cfg(all(feature = "server", feature = "cli"))]
mod serve_ops;
#[cfg(feature = "server")]
mod serve_postgres;
#[cfg(all(feature = "server", feature = "s3"))]
mod serve_replicas;
mod structure;
mod truncation;
mod util;
