//! `reco train`: fits a model on the ingested data and writes a model file.
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use reco_core::als::{AlsModel, AlsParams, AlsSolver, IterationReport};
use reco_core::ann::{AnnMode, IvfParams};
use reco_core::ease::{self, EaseParams};
use reco_core::knn::{ItemKnnModel, ItemKnnParams, KnnWeighting, UserKnnModel, UserKnnParams};
use reco_core::lightfm::{self, EpochReport, LightFmParams, Loss};
use reco_core::model_file::{write_atomic, ModelFile, ModelKind, Precision};
use reco_core::popularity::PopularityModel;
use reco_core::recommender::{attach_catalog, attach_index};
use reco_core::rp3beta::{self, Rp3betaParams};
use reco_core::Interactions;
use serde_json::json;

use crate::dataset::Dataset;
use crate::error::{Result, ServerError};
use crate::progress::Progress;

/// Model families on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// EASE: closed-form item-item regression (Steck 2019); catalogs up to 20,000 items.
    Ease,
    /// RP3beta: popularity-discounted random-walk item-item weights (Paudel et al. 2017).
    Rp3beta,
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
            ModelChoice::Ease => ModelKind::Ease,
            ModelChoice::Rp3beta => ModelKind::Rp3Beta,
        }
    }
}

/// ALS solver on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SolverChoice {
    /// Conjugate gradient, warm-started (`--cg-steps` steps per row).
    Cg,
    /// Exact Cholesky solve per row.
    Cholesky,
}

/// LightFM loss on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossChoice {
    /// Weighted approximate-rank pairwise loss.
    Warp,
    /// k-th order statistic WARP (k = 1 of up to 5 sampled positives).
    WarpKos,
    /// Bayesian personalised ranking.
    Bpr,
}

/// Item-KNN's column weighting on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnnWeightingChoice {
    /// Cosine of the raw item columns.
    Cosine,
    /// Cosine of TF-IDF weighted columns (sqrt(r) · idf of the user).
    Tfidf,
    /// BM25 weighted columns (--bm25-k1, --bm25-b), compared by dot product.
    Bm25,
}

/// Interaction weighting on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightChoice {
    /// Binary for knn, item-knn, ease and rp3beta; counts for the other models.
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
            WeightChoice::Auto => matches!(
                model,
                ModelChoice::Knn | ModelChoice::ItemKnn | ModelChoice::Ease | ModelChoice::Rp3beta
            ),
            WeightChoice::Counts => false,
            WeightChoice::Binary => true,
        }
    }
}

/// Hyperparameters shared by `train` and `evaluate` (each model reads its own). Recorded in
/// every model file (`training.args`), so a server can retrain it the same way; a field
/// missing there takes its command-line default.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
#[serde(default)]
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
    /// Neighbours per user (knn) or per item (item-knn, ease, rp3beta) [default: 50 for knn
    /// and item-knn, 200 for ease, 100 for rp3beta].
    #[arg(long, help_heading = "KNN, item-KNN, EASE, RP3beta")]
    pub neighbors: Option<usize>,
    /// Item-KNN: how item columns are weighted and compared (as implicit's Cosine, TFIDF and
    /// BM25 recommenders).
    #[arg(long, value_enum, default_value_t = KnnWeightingChoice::Cosine, help_heading = "item-KNN")]
    pub knn_weighting: KnnWeightingChoice,
    /// Item-KNN with BM25: term-frequency saturation k1.
    #[arg(long, default_value_t = 1.2, help_heading = "item-KNN")]
    pub bm25_k1: f32,
    /// Item-KNN with BM25: length normalization b (0..=1).
    #[arg(long, default_value_t = 0.75, help_heading = "item-KNN")]
    pub bm25_b: f32,
    /// Item-KNN (cosine, tfidf): shrinkage s of the similarity, dot / (‖a‖·‖b‖ + s).
    #[arg(long, default_value_t = 0.0, help_heading = "item-KNN")]
    pub shrink: f32,
    /// EASE: L2 penalty λ added to the diagonal of XᵀX.
    #[arg(long, default_value_t = 500.0, help_heading = "EASE")]
    pub lambda: f32,
    /// RP3beta: exponent α of the walk's transition probabilities.
    #[arg(long, default_value_t = 1.0, help_heading = "RP3beta")]
    pub rp3_alpha: f32,
    /// RP3beta: popularity discount β (weights divided by the target item's users^β).
    #[arg(long, default_value_t = 0.6, help_heading = "RP3beta")]
    pub rp3_beta: f32,
    /// RP3beta: keep the pruned weights as they are instead of dividing each item's row by
    /// its sum.
    #[arg(long, help_heading = "RP3beta")]
    pub rp3_no_normalize: bool,
    /// Interaction weights the model trains on: `counts` (as ingested, e.g. purchase rows),
    /// `binary` (every interaction 1) or `auto` (binary for knn, item-knn, ease and
    /// rp3beta, which a few bulk purchases would dominate otherwise; counts for the others).
    #[arg(long, value_enum, default_value_t = WeightChoice::Auto)]
    pub weights: WeightChoice,
    /// Random seed; the same seed gives the same model whatever the thread count.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl Default for ModelArgs {
    fn default() -> Self {
        Self::defaults(42)
    }
}

impl ModelArgs {
    /// Every hyperparameter at its command-line default, with `seed`.
    pub fn defaults(seed: u64) -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            hyper: ModelArgs,
        }
        use clap::Parser;
        let mut hyper = Defaults::parse_from(["reco"]).hyper;
        hyper.seed = seed;
        hyper
    }

    /// `--neighbors`, or the default of `model`.
    pub fn neighbors_for(&self, model: ModelChoice) -> usize {
        self.neighbors.unwrap_or(match model {
            ModelChoice::Ease => EaseParams::default().k,
            ModelChoice::Rp3beta => Rp3betaParams::default().k,
            _ => reco_core::knn::DEFAULT_K,
        })
    }

    /// Item-KNN parameters from the flags.
    pub fn item_knn(&self) -> ItemKnnParams {
        ItemKnnParams {
            k: self.neighbors_for(ModelChoice::ItemKnn),
            weighting: match self.knn_weighting {
                KnnWeightingChoice::Cosine => KnnWeighting::Cosine,
                KnnWeightingChoice::Tfidf => KnnWeighting::TfIdf,
                KnnWeightingChoice::Bm25 => KnnWeighting::Bm25 {
                    k1: self.bm25_k1,
                    b: self.bm25_b,
                },
            },
            shrink: self.shrink,
        }
    }

    /// EASE parameters from the flags.
    pub fn ease(&self) -> EaseParams {
        EaseParams {
            lambda: self.lambda,
            k: self.neighbors_for(ModelChoice::Ease),
        }
    }

    /// RP3beta parameters from the flags.
    pub fn rp3beta(&self) -> Rp3betaParams {
        Rp3betaParams {
            alpha: self.rp3_alpha,
            beta: self.rp3_beta,
            k: self.neighbors_for(ModelChoice::Rp3beta),
            normalize: !self.rp3_no_normalize,
        }
    }

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
    /// A tuned.json written by `reco tune`: its model and hyperparameters (over the defaults;
    /// the other hyperparameter flags are ignored).
    #[arg(long, conflicts_with = "model")]
    pub params: Option<PathBuf>,
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
    /// Also train on the live events `reco serve --events-dir` logged in this folder (archived
    /// segments included); the file records the last event's sequence number
    /// (`training.events_through`), so a server applies only newer events on top.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Approximate top-N index in the file (ALS, LightFM): `auto` builds one for catalogs of
    /// at least 50,000 items; queries then probe it instead of scanning every item.
    #[arg(long, value_enum, default_value_t = AnnChoice::Auto)]
    pub ann: AnnChoice,
    /// Hyperparameters of the model.
    #[command(flatten)]
    pub hyper: ModelArgs,
}

/// `--ann` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnnChoice {
    /// An index for factor models with at least 50,000 items.
    Auto,
    /// An index for every factor model.
    On,
    /// No index (exact scans).
    Off,
}

/// Builds (or removes) the approximate top-N index of `file` for `choice`, seeded with
/// `seed`, and reports a built one on stderr.
pub fn attach_ann(file: &mut ModelFile, choice: AnnChoice, seed: u64) -> Result<()> {
    let mode = match choice {
        AnnChoice::Auto => AnnMode::Auto,
        AnnChoice::On => AnnMode::On,
        AnnChoice::Off => AnnMode::Off,
    };
    let start = std::time::Instant::now();
    let progress = mode
        .wants_index(file.item_ids.len())
        .then(|| Progress::spinner("building the ANN index".to_string()));
    let params = IvfParams {
        seed,
        ..IvfParams::default()
    };
    let built = attach_index(file, mode, &params);
    if let Some(p) = progress {
        p.finish();
    }
    if built? {
        let lists = file.tensors.get("ann.offsets").map_or(0, |t| match t {
            reco_core::model_file::Tensor::U64 { data, .. } => data.len().saturating_sub(1),
            _ => 0,
        });
        let probe = file.u32("ann.probe", &[Some(1)])?[0];
        eprintln!(
            "ANN index: {lists} lists, {probe} probed per query, built in {:.2}s",
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Tensor precision on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrecisionChoice {
    /// 32-bit floats (exact).
    F32,
    /// 16-bit floats (half the size).
    F16,
    /// Factor matrices as 8-bit integers with one scale per row (a quarter of the size),
    /// other floats as f16.
    Int8,
}

impl From<PrecisionChoice> for Precision {
    fn from(p: PrecisionChoice) -> Self {
        match p {
            PrecisionChoice::F32 => Precision::F32,
            PrecisionChoice::F16 => Precision::F16,
            PrecisionChoice::Int8 => Precision::Int8,
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
            fitted?.into_model_file()
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
            let k = hyper.neighbors_for(model);
            Ok(UserKnnModel::fit(&matrix, UserKnnParams { k })?.to_model_file())
        })?,
        ModelChoice::ItemKnn => one_pass(label, || {
            Ok(ItemKnnModel::fit(&matrix, hyper.item_knn())?.to_model_file())
        })?,
        ModelChoice::Ease => one_pass(label, || Ok(ease::fit(&matrix, hyper.ease())?.to_model_file()))?,
        ModelChoice::Rp3beta => one_pass(label, || {
            Ok(rp3beta::fit(&matrix, hyper.rp3beta())?.to_model_file())
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
        "args": {"model": model, "hyper": hyper},
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
    let (model, hyper) = match &args.params {
        Some(path) => {
            let (model, params) = crate::tune::Tuned::read(path)?;
            (
                model,
                crate::tune::apply(&ModelArgs::defaults(args.hyper.seed), &params)?,
            )
        }
        None => (args.model, args.hyper.clone()),
    };
    let mut data = Dataset::load_features(&args.features)?;
    let through = match &args.events {
        Some(dir) => Some(merge_events(&mut data, dir, u64::MAX)?),
        None => None,
    };
    let mut trained = fit(
        model,
        &data.interactions,
        &data.item_names,
        &data.item_prices,
        &hyper,
    )?;
    if let Some(through) = through {
        trained.file.training["events_through"] = json!(through);
    }
    trained.file.training["args"]["precision"] = json!(args.precision);
    trained.file.training["args"]["ann"] = json!(args.ann);
    let mut file = trained.file;
    attach_ann(&mut file, args.ann, hyper.seed)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_model_path(model.kind()));
    let bytes = file.to_bytes(args.precision.into())?;
    write_atomic(&out, &bytes).map_err(|e| ServerError::io(&out, e))?;
    eprintln!(
        "trained {} on {} users x {} items ({} interactions) in {:.2}s -> {} ({:.1} KiB)",
        model.kind(),
        data.interactions.users.len(),
        data.interactions.items.len(),
        data.interactions.matrix.nnz(),
        trained.seconds,
        out.display(),
        bytes.len() as f64 / 1024.0
    );
    Ok(())
}

/// Adds the logged events of `dir` with `seq <= through` to `data` (new users and items
/// appended, item names of new items empty); returns the last sequence number merged (0 when
/// the log is empty). Bad records are skipped and reported on stderr.
pub fn merge_events(data: &mut Dataset, dir: &Path, through: u64) -> Result<u64> {
    let (records, report) = crate::events::read_all(dir, through)?;
    for (path, offset, reason) in &report.corrupt {
        eprintln!(
            "warning: {}: a bad record at byte {offset} ({reason}); the rest of that segment is skipped",
            path.display()
        );
    }
    let last = records.last().map_or(0, |r| r.seq);
    data.interactions = crate::events::merge(&data.interactions, &records)?;
    let n_items = data.interactions.items.len();
    data.item_names.resize(n_items, String::new());
    data.item_prices.resize(n_items, None);
    data.timestamps = None;
    Ok(last)
}

/// `models/<kind>.safetensors`.
pub fn default_model_path(kind: ModelKind) -> PathBuf {
    Path::new("models").join(format!("{kind}.safetensors"))
}
