//! reco-core: training and scoring for implicit-feedback recommenders.
//!
//! The crate is `no_std` + `alloc` when built with `--no-default-features`; the default `std`
//! feature adds rayon parallelism (training, batch scoring) and runtime CPU-feature dispatch.
//! It knows nothing of files, HTTP or JavaScript: model files are read from and written to
//! byte slices (see [`model_file`]).
//!
//! Data flow: (user, item, weight) triples → [`matrix::Interactions`] (CSR + id maps) →
//! a trained model ([`als::AlsModel`], [`popularity::PopularityModel`], …) →
//! [`model_file::ModelFile`] bytes → recommendations ([`topn`]).
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod als;
pub mod ann;
pub mod ease;
pub mod error;
pub mod eval;
pub mod item_item;
pub mod kernels;
pub mod knn;
pub mod lightfm;
pub mod matrix;
pub mod model_file;
mod neighbors;
pub mod popularity;
pub mod recommender;
pub mod rng;
pub mod rp3beta;
pub mod scorer;
pub mod topn;

pub use error::{RecoError, Result};
pub use matrix::{CsrMatrix, IdMap, Interactions, InteractionsBuilder};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
