//! `reco`: the command line of the reco recommender system.
//!
//! Every subcommand is a variant of [`Command`] holding the clap `Args` struct of its module
//! in the `reco_server` library; adding one is a variant plus one `match` arm.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reco_server::{evaluate, export, import, ingest, progress, recommend, replay, serve, synth, train, tune};

/// reco: an implicit-feedback recommender system (ALS, KNN, LightFM-style, popularity).
///
/// Typical flow: `reco ingest` (raw data → data/features), then train, evaluate, recommend.
#[derive(Debug, Parser)]
#[command(name = "reco", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Show no progress on stderr (no bars on a terminal, no periodic lines elsewhere).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Clean a raw interactions file and write data/processed/interactions.tsv and data/features/.
    ///
    /// With no arguments reads data/online_retail.csv.gz (UCI Online Retail) with the
    /// online-retail preset. Any CSV/TSV/'::' file, gzip or plain, or Parquet (a file or a folder
    /// of part files, as Spark and pandas write them) works with the column options.
    ///
    /// Limits: a record is at most 1 MiB; a quoted field spans at most 1,000 lines and must be
    /// closed (else the file is refused, naming the line where the quote opened); a used column
    /// is named once in the header. Rows with ids over 256 bytes or with control characters, or
    /// with weights or prices outside the f32 range (also summed per user and item), are
    /// rejected and counted with their line. The outputs are replaced as one set: a failed or
    /// killed ingest leaves the previous ones as they were.
    Ingest(ingest::IngestArgs),
    /// Fit a model on data/features and write models/<model>.safetensors.
    Train(train::TrainArgs),
    /// Train on a split of the data and report precision, recall, NDCG, MAP, AUC, coverage @K.
    ///
    /// With no arguments: a seeded per-user 80/20 split of the bundled data.
    Evaluate(evaluate::EvaluateArgs),
    /// Search hyperparameters (of one model or all) on a validation split of the training data
    /// and write the winner to tuned.json, for `reco train --params` and `reco evaluate --params`.
    ///
    /// Within a budget of trials or time (--budget 10m). The data is split as `reco evaluate`
    /// splits it with the same options; the tuner reads only the train part and carves its
    /// validation set from it, so the evaluation's test part stays unseen.
    Tune(tune::TuneArgs),
    /// Recommend for a user id, a basket of item ids, or items similar to an item.
    Recommend(recommend::RecommendArgs),
    /// Serve the trained models over HTTP (REST + OpenAPI docs at /docs, Prometheus /metrics).
    Serve(serve::ServeArgs),
    /// Write the compact model file a browser downloads (for the reco-wasm package and web/).
    ///
    /// Also writes or updates `index.json` beside it: the list of web models in that folder.
    Export(export::ExportArgs),
    /// Turn a model trained elsewhere into a reco model file (`reco import spark-als DIR
    /// --events FILE`: Spark MLlib's implicit ALS).
    Import(import::ImportArgs),
    /// Write a seeded synthetic interactions CSV (planted low-rank preferences, Zipf item
    /// popularity, string ids) that `reco ingest` reads as is.
    Generate(synth::GenerateArgs),
    /// Replay the purchases after a cut-off date in time order and report how often each was
    /// in the customer's top N: frozen model vs live events vs live events + periodic retrain.
    ///
    /// Answers "do live events pay?" on your own data (it needs interaction times); the live
    /// modes use the same code path as `reco serve --events-dir`.
    Replay(replay::ReplayArgs),
}

// mimalloc: see server/Cargo.toml. Only the binary; the library leaves the choice to its user.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = progress::configure(cli.quiet).and_then(|()| match &cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::Train(args) => train::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Recommend(args) => recommend::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Export(args) => export::run(args),
        Command::Generate(args) => synth::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Import(args) => import::run(args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
