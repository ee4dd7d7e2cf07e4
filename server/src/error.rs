//! The one error type of the `reco` command line. Every message says what went wrong and,
//! where there is one, what to do about it; `main` prints it as `error: …` and exits non-zero.
use std::path::{Path, PathBuf};

use reco_core::model_file::ModelKind;

/// Result alias used throughout reco-server.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// Everything that can make a `reco` command fail.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file or folder could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// An input file holds no bytes at all (after decompression).
    #[error("{} is empty: nothing to ingest", path.display())]
    EmptyInput {
        /// The input file.
        path: PathBuf,
    },
    /// Every row of an input file was rejected (or there was only a header line).
    #[error("{} has no usable rows ({summary}); check the file, --preset and the column options", path.display())]
    NoUsableRows {
        /// The input file.
        path: PathBuf,
        /// Rows read and the main rejection reasons.
        summary: String,
    },
    /// A column asked for (by an option or a preset) is not in the header line.
    #[error("{}: no column `{column}` in the header (columns: {available}); pass --{option} with one of them", path.display())]
    MissingColumn {
        /// The input file.
        path: PathBuf,
        /// The column name that was looked for.
        column: String,
        /// The option that names this column (`user-col`, `item-col`, …).
        option: &'static str,
        /// The header's column names, comma-separated.
        available: String,
    },
    /// The reader cannot tell which columns hold users and items.
    #[error("{}: {reason}", path.display())]
    UnknownLayout {
        /// The input file.
        path: PathBuf,
        /// What was seen and which options resolve it.
        reason: String,
    },
    /// `--strict` is on and a row is malformed.
    #[error("{}:{line}: {reason}: {detail} (--strict rejects malformed rows; fix the file or drop --strict to skip them)", path.display())]
    StrictRejected {
        /// The input file.
        path: PathBuf,
        /// 1-based line number of the row.
        line: u64,
        /// The rejection reason.
        reason: String,
        /// The offending value or field count.
        detail: String,
    },
    /// The features folder written by `reco ingest` does not exist.
    #[error("{} not found: run `reco ingest` first", path.display())]
    FeaturesNotFound {
        /// The features folder (or the missing file in it).
        path: PathBuf,
    },
    /// A features file exists but cannot be used (corrupt, foreign, newer version, inconsistent).
    #[error("{}: {reason}; re-run `reco ingest` to rebuild it", path.display())]
    BadFeatures {
        /// The features file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A model file named on the command line does not exist.
    #[error("model file {} not found: {}", path.display(), train_hint(path))]
    ModelFileNotFound {
        /// The model file.
        path: PathBuf,
    },
    /// The models folder given to `reco serve` does not exist.
    #[error("models folder {} not found: {}, or pass --models <folder>", path.display(), folder_hint(path))]
    ModelsNotFound {
        /// The models folder.
        path: PathBuf,
    },
    /// The models folder holds no `*.safetensors` file.
    #[error("models folder {} holds no *.safetensors model files: {}", path.display(), folder_hint(path))]
    NoModels {
        /// The models folder.
        path: PathBuf,
    },
    /// Model files that could not be loaded at start-up (each named with its reason).
    #[error("cannot load model files in {}: {failures}", dir.display())]
    ModelLoad {
        /// The models folder.
        dir: PathBuf,
        /// `file: reason` for each failed file, `; `-separated.
        failures: String,
    },
    /// The server cannot listen on the address.
    #[error("cannot listen on {addr}: {source} (is another server running there? try --port)")]
    Bind {
        /// The address.
        addr: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A Spark model folder, one of its Parquet files or the matching events that
    /// `reco import` cannot use.
    #[error("{}: {reason}", path.display())]
    BadImport {
        /// The folder or file involved.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A command-line option value that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// An error from reco-core (invalid data, model file problems, …).
    #[error(transparent)]
    Core(#[from] reco_core::RecoError),
}

impl ServerError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps an error reading the model file `path`: a missing file says how to train it.
    pub fn model_file(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => ServerError::ModelFileNotFound { path: path.into() },
            _ => ServerError::io(path, source),
        }
    }
}

/// The model kinds as `reco train --model` spells them.
fn kinds() -> String {
    ModelKind::ALL.map(ModelKind::as_str).join(", ")
}

/// How to get the model file `path`: the `reco train` command that writes it (with `--out`
/// when the path is not the default `models/<kind>.safetensors`); the kind comes from a file
/// name `<kind>.safetensors`.
fn train_hint(path: &Path) -> String {
    let kind = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".safetensors"))
        .and_then(ModelKind::parse);
    match kind {
        Some(kind) if path == crate::train::default_model_path(kind) => {
            format!("train it with `reco train --model {kind}`")
        }
        Some(kind) => format!(
            "train it with `reco train --model {kind} --out {}`",
            path.display()
        ),
        None => format!(
            "train a model with `reco train --model <kind>` (kinds: {}; it writes \
             models/<kind>.safetensors) and pass that file",
            kinds()
        ),
    }
}

/// How to fill the models folder `dir`.
fn folder_hint(dir: &Path) -> String {
    if dir == Path::new("models") {
        format!(
            "train a model first with `reco train --model als` (it writes models/<kind>.safetensors; \
             kinds: {})",
            kinds()
        )
    } else {
        format!(
            "train a model into it with `reco train --model als --out {}` (kinds: {})",
            dir.join("als.safetensors").display(),
            kinds()
        )
    }
}
