//! The one error type of reco-core.
use alloc::string::String;

/// Result alias used throughout reco-core.
pub type Result<T, E = RecoError> = core::result::Result<T, E>;

/// Everything that can go wrong in reco-core. Every message names the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecoError {
    /// A hyperparameter is out of its valid range (checked before any fitting starts).
    #[error("invalid hyperparameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name as the user spells it (e.g. `factors`).
        name: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// Input data cannot be used: empty, non-finite weights, indices out of range, ….
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A user index or id that the model does not know.
    #[error("unknown user {0}")]
    UnknownUser(String),
    /// An item index or id that the model does not know.
    #[error("unknown item {0}")]
    UnknownItem(String),
    /// A requested list length outside `1..=max`.
    #[error("invalid n = {n}: must be between 1 and {max}")]
    InvalidN {
        /// The requested length.
        n: usize,
        /// The largest allowed length.
        max: usize,
    },
    /// The bytes are not a model file: truncated, not safetensors, or a broken header.
    #[error("corrupt model file: {0}")]
    CorruptModel(String),
    /// A model file written by a newer (or unknown) format version of reco.
    #[error(
        "incompatible model file: format version {found}, this build reads versions up to {supported}; retrain or upgrade reco"
    )]
    IncompatibleModel {
        /// The version recorded in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// An operation the model cannot perform (e.g. item similarity for popularity).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A model file of another kind than the one asked for (e.g. a popularity file loaded as ALS).
    #[error("wrong model kind: expected {expected}, the file holds {found}")]
    WrongModelKind {
        /// The kind the caller asked for.
        expected: String,
        /// The kind recorded in the file.
        found: String,
    },
}
