//! The one integration-test binary: the public API, the corpus, the CLI.

mod api;
mod batch;
mod cli;
mod conformance;
mod corpus;
mod golden;
mod limits;
mod truncation;
mod util;
