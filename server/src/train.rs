//! `reco train`: fits a model on the ingested data and writes a model file.
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use reco_core::als::{AlsModel, AlsParams, AlsSolver, IterationReport};
use reco_core::knn::{ItemKnnModel, ItemKnnParams, UserKnnModel, UserKnnParams};
use reco_core::lightfm::{self, EpochReport, LightFmParams, Loss};
use reco_core::model_file::{write_atomic, ModelFile, ModelKind, Precision};
use reco_core::popularity::PopularityModel;
use reco_core::recommender::attach_catalog;
use reco_core::Interactions;
use serde_json::json;

use crate::dataset::Dataset;
use crate::error::{Result, ServerError};
use crate::progress::Progress;

/// Model families on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelChoice {
    /// Implicit alternating least squares (Hu, Koren, Volinsky 2008).
    Als,
    /// Most-interacted items.
    Popularity,
    /// LightFM-style hybrid matrix factorization (WARP / k-OS WARP / BPR).
    Lightfm,
    /// User-based cosine KNN with a popularity fallback.
    Knn,
    /// Item-based cosine KNN.
    ItemKnn,
}

impl ModelChoice {
    /// The model-file kind this choice trains.
    pub fn kind(self) -> ModelKind {
        match self {
            ModelChoice::Als => ModelKind::Als,
            ModelChoice::Popularity => ModelKind::Popularity,
            ModelChoice::Lightfm => ModelKind::LightFm,
            ModelChoice::Knn => ModelKind::UserKnn,
            ModelChoice::ItemKnn => ModelKind::ItemKnn,
        }
    }
}

/// ALS solver on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SolverChoice {
    /// Conjugate gradient, warm-started (`--cg-steps` steps per row).
    Cg,
    /// Exact Cholesky solve per row.
    Cholesky,
}

/// LightFM loss on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossChoice {
    /// Weighted approximate-rank pairwise loss.
    Warp,
    /// k-th order statistic WARP (k = 1 of up to 5 sampled positives).
    WarpKos,
    /// Bayesian personalised ranking.
    Bpr,
}

/// Interaction weighting on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeightChoice {
    /// Binary for knn and item-knn, counts for the other models.
    Auto,
    /// The weights as ingested (purchase rows, ratings, …).
    Counts,
    /// 1 for every interaction.
    Binary,
}

impl WeightChoice {
    /// True when `model` trains on binarized interactions.
    pub fn binary_for(self, model: ModelChoice) -> bool {
        match self {
            WeightChoice::Auto => matches!(model, ModelChoice::Knn | ModelChoice::ItemKnn),
            WeightChoice::Counts => false,
            WeightChoice::Binary => true,
        }
    }
}

/// Hyperparameters shared by `train` and `evaluate` (each model reads its own).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// ALS and LightFM: latent factors (embedding dimension).
    #[arg(long, default_value_t = 64)]
    pub factors: usize,
    /// ALS: L2 regularization λ.
    #[arg(long, default_value_t = 0.05, help_heading = "ALS")]
    pub regularization: f32,
    /// ALS: confidence slope; c = 1 + alpha·w for observed items, 1 otherwise.
    #[arg(long, default_value_t = 1.0, help_heading = "ALS")]
    pub alpha: f32,
    /// ALS: alternating iterations.
    #[arg(long, default_value_t = 15, help_heading = "ALS")]
    pub iterations: usize,
    /// ALS: least-squares solver.
    #[arg(long, value_enum, default_value_t = SolverChoice::Cg, help_heading = "ALS")]
    pub solver: SolverChoice,
    /// ALS: conjugate-gradient steps per row and iteration.
    #[arg(long, default_value_t = 3, help_heading = "ALS")]
    pub cg_steps: usize,
    /// ALS: scale λ by each row's interaction count (Spark's ALS-WR).
    #[arg(long, help_heading = "ALS")]
    pub scale_regularization: bool,
    /// ALS: compute and show the training loss after every iteration (slower).
    #[arg(long, help_heading = "ALS")]
    pub report_loss: bool,
    /// LightFM: passes over the training interactions.
    #[arg(long, default_value_t = 30, help_heading = "LightFM")]
    pub epochs: usize,
    /// LightFM: adagrad learning rate.
    #[arg(long, default_value_t = 0.05, help_heading = "LightFM")]
    pub learning_rate: f32,
    /// LightFM: most negatives sampled per WARP step.
    #[arg(long, default_value_t = 10, help_heading = "LightFM")]
    pub max_sampled: usize,
    /// LightFM: ranking loss.
    #[arg(long, value_enum, default_value_t = LossChoice::Warp, help_heading = "LightFM")]
    pub loss: LossChoice,
    /// LightFM: L2 penalty on item parameters.
    #[arg(long, default_value_t = 0.0, help_heading = "LightFM")]
    pub item_alpha: f32,
    /// LightFM: L2 penalty on user parameters.
    #[arg(long, default_value_t = 0.0, help_heading = "LightFM")]
    pub user_alpha: f32,
    /// LightFM: identity features only (no product-name words or price bands).
    #[arg(long, help_heading = "LightFM")]
    pub no_item_features: bool,
    /// KNN and item-KNN: neighbours per user (knn) or per item (item-knn).
    #[arg(long, default_value_t = 50, help_heading = "KNN")]
    pub neighbors: usize,
    /// Interaction weights the model trains on: `counts` (as ingested, e.g. purchase rows),
    /// `binary` (every interaction 1) or `auto` (binary for knn and item-knn, whose cosine
    /// is dominated by a few bulk purchases otherwise; counts for the others).
    #[arg(long, value_enum, default_value_t = WeightChoice::Auto)]
    pub weights: WeightChoice,
    /// Random seed; the same seed gives the same model whatever the thread count.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl ModelArgs {
    /// ALS parameters from the flags.
    pub fn als(&self) -> AlsParams {
        AlsParams {
            factors: self.factors,
            regularization: self.regularization,
            alpha: self.alpha,
            iterations: self.iterations,
            solver: match self.solver {
                SolverChoice::Cg => AlsSolver::ConjugateGradient { steps: self.cg_steps },
                SolverChoice::Cholesky => AlsSolver::Cholesky,
            },
            scale_regularization_by_count: self.scale_regularization,
            seed: self.seed,
            compute_loss: self.report_loss,
        }
    }

    /// LightFM parameters from the flags.
    pub fn lightfm(&self) -> LightFmParams {
        LightFmParams {
            factors: self.factors,
            learning_rate: self.learning_rate,
            max_sampled: self.max_sampled,
            epochs: self.epochs,
            loss: match self.loss {
                LossChoice::Warp => Loss::Warp,
                LossChoice::WarpKos => Loss::WarpKos { k: 1, n: 5 },
                LossChoice::Bpr => Loss::Bpr,
            },
            item_alpha: self.item_alpha,
            user_alpha: self.user_alpha,
            seed: self.seed,
            ..LightFmParams::default()
        }
    }
}

/// `reco train` options.
#[derive(Debug, Args)]
#[command(after_help = crate::progress::HELP)]
pub struct TrainArgs {
    /// Which model to train.
    #[arg(long, value_enum, default_value_t = ModelChoice::Als)]
    pub model: ModelChoice,
    /// The features folder written by `reco ingest`.
    #[arg(long, default_value = crate::ingest::DEFAULT_FEATURES)]
    pub features: PathBuf,
    /// Output model file [default: models/<model>.safetensors].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tensor precision in the file (f16 halves the size).
    #[arg(long, value_enum, default_value_t = PrecisionChoice::F32)]
    pub precision: PrecisionChoice,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Hyperparameters of the model.
    #[command(flatten)]
    pub hyper: ModelArgs,
}

/// Tensor precision on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionChoice {
    /// 32-bit floats (exact).
    F32,
    /// 16-bit floats (half the size).
    F16,
}

impl From<PrecisionChoice> for Precision {
    fn from(p: PrecisionChoice) -> Self {
        match p {
            PrecisionChoice::F32 => Precision::F32,
            PrecisionChoice::F16 => Precision::F16,
        }
    }
}

/// Configures the global rayon pool (call once, before any parallel work).
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            return Err(ServerError::Usage("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| ServerError::Usage(format!("cannot start {n} threads: {e}")))?;
    }
    Ok(())
}

/// A trained model file (catalog attached) and the wall time the fit took.
pub struct Trained {
    /// The model file, ready to write.
    pub file: ModelFile,
    /// Seconds spent fitting (excluding data loading and writing).
    pub seconds: f64,
}

/// Fits `model` on `train`, showing its progress (see [`crate::progress`]); `names` and `prices` describe items by index
/// (LightFM derives item features from them, see [`crate::item_features`]).
pub fn fit(
    model: ModelChoice,
    train: &Interactions,
    names: &[String],
    prices: &[Option<f32>],
    hyper: &ModelArgs,
) -> Result<Trained> {
    let binary = hyper.weights.binary_for(model);
    let matrix = if binary {
        train.matrix.binarized()
    } else {
        train.matrix.clone()
    };
    let start = Instant::now();
    let label = format!("train {}", model.kind());
    let mut file = match model {
        ModelChoice::Als => {
            let params = hyper.als();
            let progress = Progress::count(label, "iteration", params.iterations as u64);
            let mut last = Instant::now();
            let fitted = AlsModel::fit(&matrix, &params, &mut |r: IterationReport| {
                let took = last.elapsed().as_secs_f64();
                last = Instant::now();
                let loss = r.loss.map(|l| format!(", loss {l:.6}")).unwrap_or_default();
                progress.set_message(format!("(iteration {} took {:.3}s{loss})", r.iteration, took));
                progress.inc(1);
                if r.loss.is_some() && !progress.is_bar() {
                    progress.println(format!("als iteration {}: {:.3}s{loss}", r.iteration, took));
                }
            });
            progress.finish();
            fitted?.to_model_file()
        }
        ModelChoice::Lightfm => {
            let params = hyper.lightfm();
            let features = (!hyper.no_item_features && names.iter().any(|n| !n.is_empty()))
                .then(|| crate::item_features::derive(names, prices));
            let progress = Progress::count(label, "epoch", params.epochs as u64);
            let mut last = Instant::now();
            let fitted = lightfm::fit(
                &matrix,
                features.as_ref().map(|(m, _)| m),
                None,
                &params,
                &mut |r: EpochReport| {
                    progress.set_message(format!(
                        "(epoch {} took {:.3}s)",
                        r.epoch,
                        last.elapsed().as_secs_f64()
                    ));
                    last = Instant::now();
                    progress.inc(1);
                },
            );
            progress.finish();
            let mut fitted = fitted?;
            if let Some((_, feature_names)) = features {
                fitted = fitted.with_feature_names(feature_names, Vec::new())?;
            }
            fitted.to_model_file()
        }
        ModelChoice::Popularity => one_pass(label, || Ok(PopularityModel::fit(&matrix)?.to_model_file()))?,
        ModelChoice::Knn => one_pass(label, || {
            Ok(UserKnnModel::fit(&matrix, UserKnnParams { k: hyper.neighbors })?.to_model_file())
        })?,
        ModelChoice::ItemKnn => one_pass(label, || {
            Ok(ItemKnnModel::fit(&matrix, ItemKnnParams { k: hyper.neighbors })?.to_model_file())
        })?,
    };
    let seconds = start.elapsed().as_secs_f64();
    file.training = json!({
        "users": train.users.len(),
        "items": train.items.len(),
        "interactions": train.matrix.nnz(),
        "binary": binary,
        "train_seconds": seconds,
        "trained_at": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "reco_version": env!("CARGO_PKG_VERSION"),
    });
    attach_catalog(&mut file, train, names);
    Ok(Trained { file, seconds })
}

/// Runs `fit` (one pass, no iterations to count) under a progress that shows the elapsed time.
fn one_pass(label: String, fit: impl FnOnce() -> reco_core::Result<ModelFile>) -> Result<ModelFile> {
    let progress = Progress::spinner(label);
    let file = fit();
    progress.finish();
    Ok(file?)
}

/// Runs `reco train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    set_threads(args.threads)?;
    let data = Dataset::load_features(&args.features)?;
    let trained = fit(
        args.model,
        &data.interactions,
        &data.item_names,
        &data.item_prices,
        &args.hyper,
    )?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_model_path(args.model.kind()));
    let bytes = trained.file.to_bytes(args.precision.into())?;
    write_atomic(&out, &bytes).map_err(|e| ServerError::io(&out, e))?;
    eprintln!(
        "trained {} on {} users x {} items ({} interactions) in {:.2}s -> {} ({:.1} KiB)",
        args.model.kind(),
        data.interactions.users.len(),
        data.interactions.items.len(),
        data.interactions.matrix.nnz(),
        trained.seconds,
        out.display(),
        bytes.len() as f64 / 1024.0
    );
    Ok(())
}

/// `models/<kind>.safetensors`.
pub fn default_model_path(kind: ModelKind) -> PathBuf {
    Path::new("models").join(format!("{kind}.safetensors"))
}
