//! The one integration-test binary: the public API, the corpus, the CLI.

mod api;
mod batch;
#[path = "../common/bombs.rs"]
mod bombs;
mod cli;
mod conformance;
mod corpus;
mod golden;
mod limits;
#[cfg(feature = "server")]
mod serve;
mod truncation;
mod util;
