//! reco-server: the `reco` command line (ingest, train, evaluate, recommend, serve) as a
//! library, so commands and tests share one implementation. Each command lives in its own
//! module with a clap `Args` struct and a `run` function; `main.rs` only dispatches.
#![warn(missing_docs)]

pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod events;
pub mod export;
pub mod import;
pub mod ingest;
pub mod item_features;
pub mod limits;
pub mod model_bytes;
pub mod progress;
pub mod recommend;
pub mod replay;
pub mod serve;
pub mod synth;
pub mod train;
pub mod tune;

pub use dataset::{Dataset, ReadOptions};
pub use error::{Result, ServerError};
