//! `reco evaluate`: train on one part of the data, measure ranking quality on the rest.
//!
//! Metrics @K (train items excluded from every list, averaged over users with at least one
//! test item; T = the user's test items; hits at 1-based ranks r):
//! precision = hits/K; recall = hits/|T|;
//! NDCG = Σ_hits 1/log2(r+1) / Σ_{r=1..min(K,|T|)} 1/log2(r+1);
//! MAP = Σ_hits (hits within top r / r) / min(K,|T|);
//! AUC = share of (test item, unseen non-test item) pairs ranked correctly;
//! coverage = distinct items in any list / catalog size. See `reco_core::eval`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use reco_core::eval::{self, Metrics};
use reco_core::recommender::{RecommendOptions, Recommender, Scratch};
use reco_core::rng::Rng;
use reco_core::CsrMatrix;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::error::{Result, ServerError};
use crate::ingest::{ReadArgs, DEFAULT_FEATURES, DEFAULT_INPUT};
use crate::progress::Progress;
use crate::train::{fit, set_threads, ModelArgs, ModelChoice, PrecisionChoice};

/// `--split`, `--test-fraction`, `--leave-out`: how `reco evaluate` splits --input (and what
/// `reco tune` sets aside).
#[derive(Debug, Clone, Args)]
pub struct SplitArgs {
    /// How to split --input.
    #[arg(long, value_enum, default_value_t = SplitChoice::Random)]
    pub split: SplitChoice,
    /// Share of each user's items held out (random and time splits).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Items held out per user (leave-out split).
    #[arg(long, default_value_t = 1)]
    pub leave_out: usize,
}

/// How `--input` is split into train and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitChoice {
    /// Per user, a seeded random `--test-fraction` of the items (n = floor(f·n_u + 0.5)).
    Random,
    /// Per user, `--leave-out` random items (users with no more items stay in train).
    LeaveOut,
    /// Per user, the latest `--test-fraction` of the items by first interaction time.
    Time,
}

/// `reco evaluate` options.
#[derive(Debug, Args)]
#[command(after_help = crate::progress::HELP)]
pub struct EvaluateArgs {
    /// One interactions file to split (any format `reco ingest` reads), or a features folder
    /// written by `reco ingest` [default: data/features if ingested, else data/online_retail.csv.gz].
    #[arg(long, conflicts_with_all = ["train", "test"])]
    pub input: Option<PathBuf>,
    /// Training file of an explicit split (e.g. headerless `user<TAB>item` lines).
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// Test file of an explicit split, in the same id space as --train.
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// How --input is split.
    #[command(flatten)]
    pub split: SplitArgs,
    /// Models to evaluate, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "als")]
    pub model: Vec<ModelChoice>,
    /// A tuned.json written by `reco tune`: evaluates its model with its hyperparameters (over
    /// the defaults; the other hyperparameter flags are ignored).
    #[arg(long, conflicts_with = "model")]
    pub params: Option<PathBuf>,
    /// List length K of the metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Print one JSON object per model instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads for training and batch scoring [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Users sampled (with --seed) for the single-user latency measurement.
    #[arg(long, default_value_t = 200)]
    pub latency_users: usize,
    /// Evaluate the model as loaded from a file of this precision (f16 and int8 round the
    /// factors; f32 is exact).
    #[arg(long, value_enum, default_value_t = PrecisionChoice::F32)]
    pub precision: PrecisionChoice,
    /// How to read the input files.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Hyperparameters of the models.
    #[command(flatten)]
    pub hyper: ModelArgs,
}

/// One model's evaluation, as printed with `--json`.
#[derive(Debug, Serialize)]
pub struct Evaluation {
    /// Model kind.
    pub model: String,
    /// Quality metrics @K.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Wall time of training.
    pub train_seconds: f64,
    /// Wall time of top-K lists for every evaluated user (parallel).
    pub batch_seconds: f64,
    /// Median wall time of one single-user top-K call through the serving facade.
    pub latency_median_ms: f64,
    /// 95th percentile of the same.
    pub latency_p95_ms: f64,
    /// Users × items of the training matrix and its interactions.
    pub train_shape: [usize; 3],
    /// Interactions in the test matrix.
    pub test_interactions: usize,
}

/// Loads train data and test matrix according to the options.
fn load(args: &EvaluateArgs) -> Result<(Dataset, CsrMatrix)> {
    let opts = args.read.to_options(true);
    if let (Some(train), Some(test)) = (&args.train, &args.test) {
        let pair = Dataset::read_pair(train, test, &opts)?;
        return Ok((pair.train, pair.test));
    }
    let data = load_input(args.input.as_deref(), &opts)?;
    split_dataset(data, &args.split, args.hyper.seed)
}

/// Reads `--input`: a features folder written by `reco ingest`, or a raw file; without it,
/// data/features when ingested, else the bundled data.
pub fn load_input(input: Option<&Path>, opts: &crate::dataset::ReadOptions) -> Result<Dataset> {
    Ok(match input {
        Some(path) if path.is_dir() => Dataset::load_features(path)?,
        Some(path) => Dataset::read(path, opts)?.0,
        None if Path::new(DEFAULT_FEATURES).is_dir() => Dataset::load_features(Path::new(DEFAULT_FEATURES))?,
        None => Dataset::read(Path::new(DEFAULT_INPUT), opts)?.0,
    })
}

/// Splits `data` as `reco evaluate` does (`--split`, `--test-fraction`, `--leave-out`, seeded):
/// the train part (timestamps dropped) and the test matrix. `reco tune` uses the same function
/// and keeps only the train part, so a tuned model evaluated with the same options is tested on
/// data the tuner never saw.
pub fn split_dataset(data: Dataset, split: &SplitArgs, seed: u64) -> Result<(Dataset, CsrMatrix)> {
    let (test_fraction, leave_out) = (split.test_fraction, split.leave_out);
    let m = &data.interactions.matrix;
    let (train, test) = match split.split {
        SplitChoice::Random => eval::holdout_split(m, test_fraction, seed)?,
        SplitChoice::LeaveOut => eval::leave_k_out(m, leave_out, seed)?,
        SplitChoice::Time => {
            let ts = data.timestamps.as_deref().ok_or_else(|| {
                ServerError::Usage(
                    "--split time needs timestamps: ingest a file with a time column (--time-col)".into(),
                )
            })?;
            eval::time_split(m, ts, test_fraction)?
        }
    };
    let mut train_data = data;
    train_data.interactions.matrix = train;
    train_data.timestamps = None;
    Ok((train_data, test))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Trains and evaluates one model on a prepared split.
pub fn evaluate_model(
    model: ModelChoice,
    hyper: &ModelArgs,
    train: &Dataset,
    test: &CsrMatrix,
    args: &EvaluateArgs,
) -> Result<Evaluation> {
    let trained = fit(
        model,
        &train.interactions,
        &train.item_names,
        &train.item_prices,
        hyper,
    )?;
    let rec = match args.precision {
        PrecisionChoice::F32 => Recommender::from_model_file(trained.file)?,
        p => Recommender::from_bytes(&trained.file.to_bytes(p.into())?)?,
    };
    let seen = &train.interactions.matrix;
    let users: Vec<u32> = (0..test.n_rows())
        .filter(|&u| test.row_nnz(u) > 0)
        .map(|u| u as u32)
        .collect();
    let kind = model.kind();
    let progress = Progress::count(format!("evaluate {kind}"), "scoring users", users.len() as u64);
    let metrics = eval::evaluate_with_progress(rec.scorer(), seen, test, args.k, &|| progress.inc(1));
    progress.finish();
    let metrics = metrics?;

    let progress = Progress::spinner(format!("evaluate {kind}: timing batch and single-user latency"));
    let start = Instant::now();
    let lists = eval::recommend_batch(rec.scorer(), seen, &users, args.k);
    let batch_seconds = start.elapsed().as_secs_f64();
    drop(lists);

    let mut sample = users.clone();
    Rng::new(args.hyper.seed).shuffle(&mut sample);
    sample.truncate(args.latency_users);
    let (mut scratch, opts) = (Scratch::default(), RecommendOptions::default());
    let mut times = Vec::with_capacity(sample.len());
    for &u in &sample {
        let id = train.interactions.users.id(u).unwrap_or_default();
        let start = Instant::now();
        let recs = rec.recommend_user(id, args.k, &opts, &mut scratch)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(recs);
    }
    progress.finish();
    times.sort_by(f64::total_cmp);
    Ok(Evaluation {
        model: kind.to_string(),
        metrics,
        train_seconds: trained.seconds,
        batch_seconds,
        latency_median_ms: percentile(&times, 0.5),
        latency_p95_ms: percentile(&times, 0.95),
        train_shape: [seen.n_rows(), seen.n_cols(), seen.nnz()],
        test_interactions: test.nnz(),
    })
}

/// Runs `reco evaluate`.
pub fn run(args: &EvaluateArgs) -> Result<()> {
    set_threads(args.threads)?;
    if args.k == 0 {
        return Err(ServerError::Usage("--k must be at least 1".into()));
    }
    let (train, test) = load(args)?;
    if !args.json {
        let m = &train.interactions.matrix;
        println!(
            "train: {} users x {} items, {} interactions; test: {} interactions",
            m.n_rows(),
            m.n_cols(),
            m.nnz(),
            test.nnz()
        );
        println!(
            "{:<11} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8} {:>8} {:>10}",
            "model",
            "users",
            format!("P@{}", args.k),
            format!("R@{}", args.k),
            format!("NDCG@{}", args.k),
            format!("MAP@{}", args.k),
            "AUC",
            "coverage",
            "train s",
            "batch s",
            "latency ms"
        );
    }
    let runs: Vec<(ModelChoice, ModelArgs)> = match &args.params {
        Some(path) => {
            let (model, params) = crate::tune::Tuned::read(path)?;
            vec![(
                model,
                crate::tune::apply(&ModelArgs::defaults(args.hyper.seed), &params)?,
            )]
        }
        None => args.model.iter().map(|&m| (m, args.hyper.clone())).collect(),
    };
    for (model, hyper) in &runs {
        let e = evaluate_model(*model, hyper, &train, &test, args)?;
        if args.json {
            println!("{}", serde_json::to_string(&e).expect("evaluation serializes"));
        } else {
            let m = &e.metrics;
            println!(
                "{:<11} {:>6} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>7.4} {:>8.4} {:>8.2} {:>8.2} {:>10.3}",
                e.model,
                m.users_evaluated,
                m.precision,
                m.recall,
                m.ndcg,
                m.map,
                m.auc,
                m.coverage,
                e.train_seconds,
                e.batch_seconds,
                e.latency_median_ms
            );
        }
    }
    Ok(())
}
