//! `reco tune`: searches hyperparameters of one or several models on a validation split carved
//! from the training data only, within a budget of trials or time, and writes the winner to a
//! file that `reco train --params` and `reco evaluate --params` read.
//!
//! ## Data
//! The input is split exactly as `reco evaluate` splits it with the same options
//! ([`crate::evaluate::split_dataset`]); the test part is dropped at once. From the train part a
//! seeded per-user random `--validation-fraction` (default 0.2) becomes the validation set and
//! the rest trains every trial. With `--train FILE` the whole file is the train part (there is
//! no `--test`: the tuner cannot be given a test file).
//!
//! ## Search
//! Every model first runs at its defaults (so the winner is never worse than the defaults on
//! validation). Then rounds: each model still in the race gets one trial per round, drawn at
//! random from its space (log-uniform for scales such as λ, learning rate, neighbours) in the
//! first two rounds, then either at random or as a perturbation of its best setting so far
//! (half and half; a normal step of 15 % of the range in the log or linear domain, choices
//! switched with probability 1/4; from the default values when the defaults are the best so
//! far). After rounds 3, 6, 12, 24, … the worse half of the models
//! leaves the race (successive halving over models), so most of the budget goes to the
//! model that wins. Random search is a strong baseline when few hyperparameters matter
//! (Bergstra and Bengio, JMLR 2012); the local steps refine the best region.
//!
//! Deterministic: the sequence of trials depends only on the seed and the trial results
//! (every model trains deterministically for a seed, except LightFM with more than one thread,
//! whose Hogwild updates vary). A trial budget (`--budget 40`) is reproducible; a time budget
//! (`--budget 10m`) stops the same sequence earlier or later, and no trial starts after it.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use reco_core::eval::{self, Metrics};
use reco_core::model_file::write_atomic;
use reco_core::recommender::Recommender;
use reco_core::rng::Rng;
use reco_core::CsrMatrix;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::dataset::Dataset;
use crate::error::{Result, ServerError};
use crate::evaluate::{load_input, split_dataset, SplitArgs};
use crate::ingest::ReadArgs;
use crate::progress::{self, Progress};
use crate::train::{fit, set_threads, ModelArgs, ModelChoice};

/// The `format` value of a tuned file.
pub const TUNED_FORMAT: &str = "reco-tuned";

/// `reco tune` options.
#[derive(Debug, Args)]
#[command(after_help = crate::progress::HELP)]
pub struct TuneArgs {
    /// Models to search, comma-separated, or `all` (every model; EASE only up to 20,000 items).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub model: Vec<String>,
    /// A number of trials (`40`) or a time (`90s`, `10m`, `1h`); no trial starts after it.
    #[arg(long, default_value = "10m")]
    pub budget: Budget,
    /// One interactions file (or features folder), split as `reco evaluate` splits it with the
    /// same --split, --test-fraction, --leave-out and --seed; only the train part is read on
    /// [default: data/features if ingested, else data/online_retail.csv.gz].
    #[arg(long, conflicts_with = "train")]
    pub input: Option<PathBuf>,
    /// The training file of an explicit split: the tuner uses all of it (give the test file
    /// to `reco evaluate` only).
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// How `reco evaluate` splits --input (its test part is set aside, never read).
    #[command(flatten)]
    pub split: SplitArgs,
    /// Share of each user's training items held out for validation (seeded, per user).
    #[arg(long, default_value_t = 0.2)]
    pub validation_fraction: f64,
    /// List length K of the validation NDCG@K that ranks the trials.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of the splits, the search and every trial's model.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to write the winner.
    #[arg(long, default_value = "tuned.json")]
    pub out: PathBuf,
    /// Worker threads for each trial's training and scoring [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// How to read the input files.
    #[command(flatten)]
    pub read: ReadArgs,
}

/// A budget of trials or of wall time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// At most this many trials.
    Trials(usize),
    /// No trial starts after this much time.
    Time(Duration),
}

impl std::str::FromStr for Budget {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?}: expected a number of trials (40) or a time with a unit (90s, 10m, 1h)");
        if let Ok(n) = s.parse::<usize>() {
            return if n == 0 { Err(bad()) } else { Ok(Budget::Trials(n)) };
        }
        let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?);
        let num: f64 = num.trim().parse().map_err(|_| bad())?;
        let secs = match unit {
            "s" => num,
            "m" | "min" => num * 60.0,
            "h" => num * 3600.0,
            _ => return Err(bad()),
        };
        if !(secs.is_finite() && secs > 0.0 && secs <= 7.0 * 86_400.0) {
            return Err(bad());
        }
        Ok(Budget::Time(Duration::from_secs_f64(secs)))
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Trials(n) => write!(f, "{n} trials"),
            Budget::Time(d) => write!(f, "{}s", d.as_secs_f64()),
        }
    }
}

/// How a hyperparameter is drawn.
#[derive(Debug, Clone, Copy)]
enum Dist {
    /// exp(uniform(ln lo, ln hi)).
    Log(f64, f64),
    /// uniform(lo, hi).
    Lin(f64, f64),
    /// An integer, log-uniform.
    IntLog(u64, u64),
    /// An integer, uniform.
    Int(u64, u64),
    /// One of these values.
    Choice(&'static [&'static str]),
    /// One of these integers.
    IntChoice(&'static [u64]),
    /// true or false.
    Bool,
}

/// One searched hyperparameter: its `ModelArgs` field (the flag without `--`, with `_`).
struct Param {
    name: &'static str,
    dist: Dist,
}

const fn p(name: &'static str, dist: Dist) -> Param {
    Param { name, dist }
}

use Dist::{Bool, Choice, Int, IntChoice, IntLog, Lin, Log};

const ALS: &[Param] = &[
    p("factors", IntChoice(&[16, 32, 64, 128])),
    p("regularization", Log(1e-3, 10.0)),
    p("alpha", Log(0.1, 100.0)),
    p("iterations", Int(5, 30)),
    p("scale_regularization", Bool),
];
const LIGHTFM: &[Param] = &[
    p("factors", IntChoice(&[32, 64, 128])),
    p("learning_rate", Log(0.005, 0.2)),
    p("epochs", Int(5, 60)),
    p("loss", Choice(&["warp", "warp-kos", "bpr"])),
    p("max_sampled", IntLog(3, 50)),
    p("no_item_features", Bool),
];
const KNN: &[Param] = &[p("neighbors", IntLog(5, 1000))];
const ITEM_KNN: &[Param] = &[
    p("neighbors", IntLog(5, 1000)),
    p("knn_weighting", Choice(&["cosine", "tfidf", "bm25"])),
    p("bm25_k1", Log(0.3, 3.0)),
    p("bm25_b", Lin(0.0, 1.0)),
    p("shrink", Lin(0.0, 50.0)),
];
const EASE: &[Param] = &[p("lambda", Log(1.0, 1e4)), p("neighbors", IntLog(5, 2000))];
const RP3BETA: &[Param] = &[
    p("rp3_alpha", Lin(0.1, 2.0)),
    p("rp3_beta", Lin(0.0, 1.0)),
    p("neighbors", IntLog(10, 1000)),
    p("rp3_no_normalize", Bool),
];

/// The search space of `model` (popularity has none).
fn space(model: ModelChoice) -> &'static [Param] {
    match model {
        ModelChoice::Als => ALS,
        ModelChoice::Lightfm => LIGHTFM,
        ModelChoice::Knn => KNN,
        ModelChoice::ItemKnn => ITEM_KNN,
        ModelChoice::Ease => EASE,
        ModelChoice::Rp3beta => RP3BETA,
        ModelChoice::Popularity => &[],
    }
}

/// Rounds to 3 significant digits (readable values; the search does not need more).
fn round3(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.2e}").parse().unwrap_or(x)
}

fn draw(dist: Dist, rng: &mut Rng) -> Value {
    let u = rng.next_f64();
    match dist {
        Dist::Log(lo, hi) => json!(round3((lo.ln() + u * (hi.ln() - lo.ln())).exp())),
        Dist::Lin(lo, hi) => json!(round3(lo + u * (hi - lo))),
        Dist::IntLog(lo, hi) => {
            let (a, b) = ((lo as f64).ln(), (hi as f64 + 1.0).ln());
            json!(((a + u * (b - a)).exp().floor() as u64).clamp(lo, hi))
        }
        Dist::Int(lo, hi) => json!(lo + ((u * (hi - lo + 1) as f64) as u64).min(hi - lo)),
        Dist::Choice(vs) => json!(vs[((u * vs.len() as f64) as usize).min(vs.len() - 1)]),
        Dist::IntChoice(vs) => json!(vs[((u * vs.len() as f64) as usize).min(vs.len() - 1)]),
        Dist::Bool => json!(u < 0.5),
    }
}

/// A step from `v`: 15 % of the range (in the log domain for log scales), clamped.
fn perturb(dist: Dist, v: &Value, rng: &mut Rng) -> Value {
    const STEP: f64 = 0.15;
    if v.is_null() {
        return draw(dist, rng);
    }
    let step = rng.next_normal() as f64 * STEP;
    let x = v.as_f64().unwrap_or(0.0);
    match dist {
        Dist::Log(lo, hi) => {
            let y = x.max(lo).ln() + step * (hi.ln() - lo.ln());
            json!(round3(y.exp().clamp(lo, hi)))
        }
        Dist::Lin(lo, hi) => json!(round3((x + step * (hi - lo)).clamp(lo, hi))),
        Dist::IntLog(lo, hi) => {
            let y = (x.max(lo as f64)).ln() + step * ((hi as f64).ln() - (lo as f64).ln());
            json!((y.exp().round() as u64).clamp(lo, hi))
        }
        Dist::Int(lo, hi) => {
            json!(((x + step * (hi - lo) as f64).round().max(lo as f64) as u64).clamp(lo, hi))
        }
        Dist::Choice(_) | Dist::IntChoice(_) | Dist::Bool => {
            if rng.next_f64() < 0.25 {
                draw(dist, rng)
            } else {
                v.clone()
            }
        }
    }
}

/// Hyperparameter values by `ModelArgs` field name.
pub type Params = BTreeMap<String, Value>;

fn random_params(model: ModelChoice, rng: &mut Rng) -> Params {
    space(model)
        .iter()
        .map(|p| (p.name.to_string(), draw(p.dist, rng)))
        .collect()
}

/// A step from `best` (a parameter it does not set steps from its default).
fn perturbed(model: ModelChoice, best: &Params, rng: &mut Rng) -> Params {
    let defaults = ModelArgs::defaults(0);
    space(model)
        .iter()
        .map(|p| {
            let v = best
                .get(p.name)
                .cloned()
                .unwrap_or_else(|| default_value(&defaults, model, p.name));
            (p.name.to_string(), perturb(p.dist, &v, rng))
        })
        .collect()
}

/// The value `model` trains with for the searched parameter `name` when `a` does not set it.
fn default_value(a: &ModelArgs, model: ModelChoice, name: &str) -> Value {
    let f = |x: f32| json!(round3(x as f64));
    match name {
        "factors" => json!(a.factors),
        "regularization" => f(a.regularization),
        "alpha" => f(a.alpha),
        "iterations" => json!(a.iterations),
        "scale_regularization" => json!(a.scale_regularization),
        "learning_rate" => f(a.learning_rate),
        "epochs" => json!(a.epochs),
        "max_sampled" => json!(a.max_sampled),
        "loss" => name_of(a.loss),
        "no_item_features" => json!(a.no_item_features),
        "neighbors" => json!(a.neighbors_for(model)),
        "knn_weighting" => name_of(a.knn_weighting),
        "bm25_k1" => f(a.bm25_k1),
        "bm25_b" => f(a.bm25_b),
        "shrink" => f(a.shrink),
        "lambda" => f(a.lambda),
        "rp3_alpha" => f(a.rp3_alpha),
        "rp3_beta" => f(a.rp3_beta),
        "rp3_no_normalize" => json!(a.rp3_no_normalize),
        _ => Value::Null,
    }
}

/// The command-line value a tuned string names (`"warp-kos"`, `"bm25"`), if any.
fn choice<T: clap::ValueEnum>(v: &Value) -> Option<T> {
    T::from_str(v.as_str()?, false).ok()
}

/// The command-line name of `x`, as a JSON string.
fn name_of<T: clap::ValueEnum>(x: T) -> Value {
    json!(x.to_possible_value().map(|p| p.get_name().to_string()))
}

/// `base` with `params` applied (names as in [`space`]); fails on an unknown name or a value
/// of the wrong type, naming it.
pub fn apply(base: &ModelArgs, params: &Params) -> Result<ModelArgs> {
    let mut a = base.clone();
    for (name, v) in params {
        let bad = |what: &str| ServerError::Usage(format!("tuned parameter `{name}` = {v}: expected {what}"));
        let num = || {
            v.as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad("a number"))
        };
        let int = || {
            v.as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| bad("an integer >= 0"))
        };
        let flag = || v.as_bool().ok_or_else(|| bad("true or false"));
        match name.as_str() {
            "factors" => a.factors = int()?,
            "regularization" => a.regularization = num()? as f32,
            "alpha" => a.alpha = num()? as f32,
            "iterations" => a.iterations = int()?,
            "scale_regularization" => a.scale_regularization = flag()?,
            "learning_rate" => a.learning_rate = num()? as f32,
            "epochs" => a.epochs = int()?,
            "max_sampled" => a.max_sampled = int()?,
            "loss" => a.loss = choice(v).ok_or_else(|| bad("\"warp\", \"warp-kos\" or \"bpr\""))?,
            "no_item_features" => a.no_item_features = flag()?,
            "neighbors" => a.neighbors = Some(int()?),
            "knn_weighting" => {
                a.knn_weighting = choice(v).ok_or_else(|| bad("\"cosine\", \"tfidf\" or \"bm25\""))?
            }
            "bm25_k1" => a.bm25_k1 = num()? as f32,
            "bm25_b" => a.bm25_b = num()? as f32,
            "shrink" => a.shrink = num()? as f32,
            "lambda" => a.lambda = num()? as f32,
            "rp3_alpha" => a.rp3_alpha = num()? as f32,
            "rp3_beta" => a.rp3_beta = num()? as f32,
            "rp3_no_normalize" => a.rp3_no_normalize = flag()?,
            _ => {
                return Err(ServerError::Usage(format!(
                    "unknown tuned parameter `{name}` (this build knows factors, \
                     regularization, alpha, iterations, scale_regularization, learning_rate, \
                     epochs, max_sampled, loss, no_item_features, neighbors, knn_weighting, bm25_k1, \
                     bm25_b, shrink, lambda, rp3_alpha, rp3_beta, rp3_no_normalize)"
                )))
            }
        }
    }
    Ok(a)
}

/// One trial as recorded in the tuned file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// 0-based trial number.
    pub trial: usize,
    /// Model kind name.
    pub model: String,
    /// Hyperparameters (the rest at their defaults).
    pub params: Params,
    /// Validation NDCG@K (absent when the trial failed).
    pub ndcg: Option<f64>,
    /// Validation precision, recall and MAP @K.
    pub precision: Option<f64>,
    /// See `precision`.
    pub recall: Option<f64>,
    /// See `precision`.
    pub map: Option<f64>,
    /// Wall time of the trial (training + validation).
    pub seconds: f64,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The file `reco tune` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tuned {
    /// Always [`TUNED_FORMAT`].
    pub format: String,
    /// The winning model kind.
    pub model: String,
    /// Its hyperparameters (applied over the defaults by `--params`).
    pub params: Params,
    /// Its validation metrics @K.
    pub validation: Value,
    /// How the search ran: budget, seed, trials, seconds, trials per minute, models.
    pub search: Value,
    /// The data it saw: users, items, fit and validation interactions, the split options.
    pub data: Value,
    /// Every trial, in order.
    pub trials: Vec<Trial>,
}

impl Tuned {
    /// Reads a tuned file, checking its format and model.
    pub fn read(path: &Path) -> Result<(ModelChoice, Params)> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
        let t: Tuned = serde_json::from_str(&text).map_err(|e| {
            ServerError::Usage(format!(
                "{}: not a tuned file written by `reco tune` ({e})",
                path.display()
            ))
        })?;
        if t.format != TUNED_FORMAT {
            return Err(ServerError::Usage(format!(
                "{}: format {:?}, expected {TUNED_FORMAT:?}",
                path.display(),
                t.format
            )));
        }
        let model = model_choice(&t.model)
            .ok_or_else(|| ServerError::Usage(format!("{}: unknown model {:?}", path.display(), t.model)))?;
        Ok((model, t.params))
    }
}

fn model_choice(name: &str) -> Option<ModelChoice> {
    use clap::ValueEnum;
    ModelChoice::value_variants()
        .iter()
        .copied()
        .find(|m| m.kind().as_str() == name)
}

/// The models `--model` names (`all` expands to every model).
fn models(names: &[String], n_items: usize) -> Result<Vec<ModelChoice>> {
    use clap::ValueEnum;
    let mut out = Vec::new();
    for name in names {
        let name = name.trim();
        if name == "all" {
            for &m in ModelChoice::value_variants() {
                if m == ModelChoice::Ease && reco_core::ease::check_catalog(n_items).is_err() {
                    eprintln!(
                        "tune: leaving out ease: {n_items} items are more than its dense solve \
                         allows ({})",
                        reco_core::ease::MAX_ITEMS
                    );
                    continue;
                }
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            continue;
        }
        let m = model_choice(name).ok_or_else(|| {
            let known: Vec<&str> = ModelChoice::value_variants()
                .iter()
                .map(|m| m.kind().as_str())
                .collect();
            ServerError::Usage(format!(
                "--model {name:?}: expected all or a comma-separated list of {}",
                known.join(", ")
            ))
        })?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(ServerError::Usage("--model: no model to tune".into()));
    }
    Ok(out)
}

/// Per-model state of the race.
struct Racer {
    model: ModelChoice,
    best: Option<(f64, Params)>,
    alive: bool,
}

/// Everything a trial needs.
struct Bench<'a> {
    fit_data: &'a Dataset,
    validation: &'a CsrMatrix,
    base: &'a ModelArgs,
    k: usize,
}

impl Bench<'_> {
    fn run(&self, model: ModelChoice, params: &Params) -> Result<Metrics> {
        let hyper = apply(self.base, params)?;
        let d = self.fit_data;
        // The trial's own progress would drown the tuner's: hidden.
        let trained = progress::muted(|| fit(model, &d.interactions, &d.item_names, &d.item_prices, &hyper))?;
        let rec = Recommender::from_model_file(trained.file)?;
        Ok(eval::evaluate(
            rec.scorer(),
            &d.interactions.matrix,
            self.validation,
            self.k,
        )?)
    }
}

/// The schedule: which model and parameters trial `t` (after the defaults) runs.
fn next_trial(racers: &[Racer], round: usize, slot: usize, rng: &mut Rng) -> (ModelChoice, Params) {
    let r = &racers[slot];
    let params = match &r.best {
        Some((_, best)) if round > 2 && rng.next_f64() < 0.5 => perturbed(r.model, best, rng),
        _ => random_params(r.model, rng),
    };
    (r.model, params)
}

/// Drops the worse half of the models still racing (ties keep the earlier model).
fn halve(racers: &mut [Racer]) {
    let mut alive: Vec<usize> = (0..racers.len()).filter(|&i| racers[i].alive).collect();
    if alive.len() <= 1 {
        return;
    }
    alive.sort_by(|&a, &b| {
        let s = |i: usize| racers[i].best.as_ref().map_or(f64::NEG_INFINITY, |b| b.0);
        s(b).total_cmp(&s(a)).then(a.cmp(&b))
    });
    let keep = alive.len().div_ceil(2);
    for &i in &alive[keep..] {
        racers[i].alive = false;
    }
}

fn describe(params: &Params) -> String {
    if params.is_empty() {
        return "defaults".into();
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Validation metrics of one trial.
#[derive(Debug, Clone, Copy)]
pub struct Scores {
    /// NDCG@K, the figure that ranks trials.
    pub ndcg: f64,
    /// Precision@K.
    pub precision: f64,
    /// Recall@K.
    pub recall: f64,
    /// MAP@K.
    pub map: f64,
}

/// Runs the search (see the module docs) with `objective` scoring each trial: every trial in
/// order, and the index of the best (none when every trial failed).
fn search(
    models: &[ModelChoice],
    budget: Budget,
    seed: u64,
    k: usize,
    progress: &Progress,
    mut objective: impl FnMut(ModelChoice, &Params) -> Result<Scores>,
) -> (Vec<Trial>, Option<usize>) {
    let mut racers: Vec<Racer> = models
        .iter()
        .map(|&model| Racer {
            model,
            best: None,
            alive: true,
        })
        .collect();
    let mut rng = Rng::new(seed ^ 0x7475_6e65);
    let start = Instant::now();
    let mut counted_secs = 0u64;
    let mut trials: Vec<Trial> = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    // Round 0: every model at its defaults; then rounds over the models still racing.
    let mut queue: Vec<(ModelChoice, Params)> = models.iter().map(|&m| (m, Params::new())).collect();
    let mut round = 0usize;
    let mut next_halving = 3usize;
    'search: loop {
        for (model, params) in std::mem::take(&mut queue) {
            let over = match budget {
                Budget::Trials(n) => trials.len() >= n,
                Budget::Time(d) => start.elapsed() >= d,
            };
            if over {
                break 'search;
            }
            let t0 = Instant::now();
            let result = objective(model, &params);
            let seconds = t0.elapsed().as_secs_f64();
            let n = trials.len();
            let trial = match result {
                Ok(metrics) => {
                    let racer = racers
                        .iter_mut()
                        .find(|r| r.model == model)
                        .expect("racing model");
                    if racer.best.as_ref().is_none_or(|b| metrics.ndcg > b.0) {
                        racer.best = Some((metrics.ndcg, params.clone()));
                    }
                    if best.is_none_or(|(b, _)| metrics.ndcg > b) {
                        best = Some((metrics.ndcg, n));
                        progress.println(format!(
                            "tune: trial {n} {} {}: NDCG@{} {:.4} (best so far)",
                            model.kind(),
                            describe(&params),
                            k,
                            metrics.ndcg
                        ));
                    }
                    Trial {
                        trial: n,
                        model: model.kind().to_string(),
                        params,
                        ndcg: Some(metrics.ndcg),
                        precision: Some(metrics.precision),
                        recall: Some(metrics.recall),
                        map: Some(metrics.map),
                        seconds,
                        error: None,
                    }
                }
                Err(e) => {
                    progress.println(format!(
                        "tune: trial {n} {} {} failed: {e}",
                        model.kind(),
                        describe(&params)
                    ));
                    Trial {
                        trial: n,
                        model: model.kind().to_string(),
                        params,
                        ndcg: None,
                        precision: None,
                        recall: None,
                        map: None,
                        seconds,
                        error: Some(e.to_string()),
                    }
                }
            };
            trials.push(trial);
            match budget {
                Budget::Trials(_) => progress.inc(1),
                Budget::Time(d) => {
                    let now = start.elapsed().as_secs().min(d.as_secs());
                    progress.inc(now - counted_secs);
                    counted_secs = now;
                }
            }
            if let Some((b, i)) = best {
                progress.set_message(format!(
                    "trial {}: best {} NDCG@{} {b:.4}",
                    trials.len(),
                    trials[i].model,
                    k
                ));
            }
        }
        round += 1;
        if round > next_halving {
            halve(&mut racers);
            next_halving *= 2;
        }
        for slot in 0..racers.len() {
            if racers[slot].alive && !space(racers[slot].model).is_empty() {
                queue.push(next_trial(&racers, round, slot, &mut rng));
            }
        }
        if queue.is_empty() {
            // Only models without hyperparameters: nothing more to try.
            break;
        }
    }
    (trials, best.map(|(_, i)| i))
}

/// Runs `reco tune`.
pub fn run(args: &TuneArgs) -> Result<()> {
    set_threads(args.threads)?;
    if args.k == 0 {
        return Err(ServerError::Usage("--k must be at least 1".into()));
    }
    if !(args.validation_fraction > 0.0 && args.validation_fraction < 1.0) {
        return Err(ServerError::Usage(format!(
            "--validation-fraction {}: expected a share between 0 and 1 (exclusive), e.g. 0.2",
            args.validation_fraction
        )));
    }
    let opts = args.read.to_options(true);
    // The train part of what `reco evaluate` would use; its test part is dropped here.
    let (train, source) = match &args.train {
        Some(path) => (Dataset::read(path, &opts)?.0, json!({ "train": path })),
        None => {
            let data = load_input(args.input.as_deref(), &opts)?;
            let (train, test) = split_dataset(data, &args.split, args.seed)?;
            let held_out = test.nnz();
            drop(test);
            let split = json!({
                "input": args.input.as_ref().map(|p| p.display().to_string()),
                "split": format!("{:?}", args.split.split).to_lowercase(),
                "test_fraction": args.split.test_fraction,
                "leave_out": args.split.leave_out,
                "seed": args.seed,
                "held_out_for_evaluate": held_out,
            });
            (train, split)
        }
    };
    let models = models(&args.model, train.interactions.items.len())?;
    // Validation: a seeded per-user share of the train part (its own seed stream).
    let (fit_matrix, validation) = eval::holdout_split(
        &train.interactions.matrix,
        args.validation_fraction,
        args.seed ^ 0x7661_6c69_6461_7465,
    )?;
    if validation.nnz() == 0 {
        return Err(ServerError::Usage(
            "no user has enough items for a validation item: lower --validation-fraction or use \
             more data"
                .into(),
        ));
    }
    let mut fit_data = train;
    fit_data.interactions.matrix = fit_matrix;
    let base = ModelArgs::defaults(args.seed);
    let bench = Bench {
        fit_data: &fit_data,
        validation: &validation,
        base: &base,
        k: args.k,
    };
    let m = &fit_data.interactions.matrix;
    eprintln!(
        "tune: {} on {} users x {} items: {} interactions to fit, {} to validate; budget {}",
        models
            .iter()
            .map(|m| m.kind().as_str())
            .collect::<Vec<_>>()
            .join(", "),
        m.n_rows(),
        m.n_cols(),
        m.nnz(),
        validation.nnz(),
        args.budget
    );

    let start = Instant::now();
    let progress = match args.budget {
        Budget::Trials(n) => Progress::count("tune", "trial", n as u64),
        Budget::Time(d) => Progress::count("tune", "second", d.as_secs()),
    };
    let (trials, best) = search(
        &models,
        args.budget,
        args.seed,
        args.k,
        &progress,
        |model, params| {
            bench.run(model, params).map(|m| Scores {
                ndcg: m.ndcg,
                precision: m.precision,
                recall: m.recall,
                map: m.map,
            })
        },
    );
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let Some(best_i) = best else {
        return Err(ServerError::Usage(
            "no trial succeeded (see the errors above); nothing written".into(),
        ));
    };
    let winner = trials[best_i].clone();
    let best_ndcg = winner.ndcg.unwrap_or(f64::NAN);
    let per_minute = trials.len() as f64 / (seconds / 60.0).max(1e-9);
    print_table(&trials, args.k, best_i);
    let tuned = Tuned {
        format: TUNED_FORMAT.into(),
        model: winner.model.clone(),
        params: winner.params.clone(),
        validation: json!({
            "k": args.k,
            "ndcg": best_ndcg,
            "precision": winner.precision,
            "recall": winner.recall,
            "map": winner.map,
        }),
        search: json!({
            "method": "defaults, then random search and local steps, successive halving over models",
            "budget": args.budget.to_string(),
            "seed": args.seed,
            "models": models.iter().map(|m| m.kind().as_str()).collect::<Vec<_>>(),
            "trials": trials.len(),
            "seconds": seconds,
            "trials_per_minute": per_minute,
        }),
        data: json!({
            "users": m.n_rows(),
            "items": m.n_cols(),
            "fit_interactions": m.nnz(),
            "validation_interactions": validation.nnz(),
            "validation_fraction": args.validation_fraction,
            "source": source,
        }),
        trials,
    };
    let mut text = serde_json::to_string_pretty(&tuned).expect("tuned file serializes");
    text.push('\n');
    write_atomic(&args.out, text.as_bytes()).map_err(|e| ServerError::io(&args.out, e))?;
    println!(
        "{} trials in {:.0}s ({per_minute:.1} per minute); best: {} {} with validation NDCG@{} \
         {best_ndcg:.4}",
        tuned.trials.len(),
        seconds,
        tuned.model,
        describe(&tuned.params),
        args.k
    );
    println!(
        "wrote {}: use it with `reco train --params {0}` and `reco evaluate --params {0}`",
        args.out.display()
    );
    Ok(())
}

/// The best trial of each model, then the 10 best trials overall.
fn print_table(trials: &[Trial], k: usize, best: usize) {
    let mut out = String::new();
    let row = |out: &mut String, t: &Trial| {
        let _ = writeln!(
            out,
            "{:>5}  {:<10} {:>8}  {:>6.1}  {}{}",
            t.trial,
            t.model,
            t.ndcg.map_or_else(|| "failed".into(), |v| format!("{v:.4}")),
            t.seconds,
            describe(&t.params),
            if t.trial == best { "   <- winner" } else { "" }
        );
    };
    let header = format!(
        "{:>5}  {:<10} {:>8}  {:>6}  params\n",
        "trial",
        "model",
        format!("NDCG@{k}"),
        "sec"
    );
    let mut by_model: BTreeMap<&str, &Trial> = BTreeMap::new();
    for t in trials.iter().filter(|t| t.ndcg.is_some()) {
        let e = by_model.entry(&t.model).or_insert(t);
        if t.ndcg > e.ndcg {
            *e = t;
        }
    }
    let mut bests: Vec<&&Trial> = by_model.values().collect();
    bests.sort_by(|a, b| b.ndcg.partial_cmp(&a.ndcg).unwrap_or(std::cmp::Ordering::Equal));
    out.push_str("best trial of each model (validation):\n");
    out.push_str(&header);
    for t in bests {
        row(&mut out, t);
    }
    let mut top: Vec<&Trial> = trials.iter().filter(|t| t.ndcg.is_some()).collect();
    top.sort_by(|a, b| {
        b.ndcg
            .partial_cmp(&a.ndcg)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.trial.cmp(&b.trial))
    });
    out.push_str(&format!(
        "\n{} best of {} trials:\n",
        top.len().min(10),
        trials.len()
    ));
    out.push_str(&header);
    for t in top.iter().take(10) {
        row(&mut out, t);
    }
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::LossChoice;

    #[test]
    fn budgets_parse() {
        assert_eq!("40".parse::<Budget>(), Ok(Budget::Trials(40)));
        assert_eq!("90s".parse::<Budget>(), Ok(Budget::Time(Duration::from_secs(90))));
        assert_eq!(
            "10m".parse::<Budget>(),
            Ok(Budget::Time(Duration::from_secs(600)))
        );
        assert_eq!(
            "1.5h".parse::<Budget>(),
            Ok(Budget::Time(Duration::from_secs(5400)))
        );
        for bad in ["0", "", "m", "10x", "-5m", "nan s", "10 years"] {
            assert!(bad.parse::<Budget>().is_err(), "{bad}");
        }
    }

    #[test]
    fn draws_stay_in_their_ranges_and_perturbations_too() {
        let mut rng = Rng::new(1);
        for model in [
            ModelChoice::Als,
            ModelChoice::Lightfm,
            ModelChoice::Knn,
            ModelChoice::ItemKnn,
            ModelChoice::Ease,
            ModelChoice::Rp3beta,
        ] {
            for _ in 0..200 {
                let p = random_params(model, &mut rng);
                let q = perturbed(model, &p, &mut rng);
                for params in [&p, &q] {
                    for spec in space(model) {
                        let v = &params[spec.name];
                        let ok = match spec.dist {
                            Dist::Log(lo, hi) | Dist::Lin(lo, hi) => {
                                v.as_f64().is_some_and(|x| x >= lo * 0.995 && x <= hi * 1.005)
                            }
                            Dist::IntLog(lo, hi) | Dist::Int(lo, hi) => {
                                v.as_u64().is_some_and(|x| x >= lo && x <= hi)
                            }
                            Dist::Choice(vs) => vs.contains(&v.as_str().unwrap_or("")),
                            Dist::IntChoice(vs) => vs.contains(&v.as_u64().unwrap_or(0)),
                            Dist::Bool => v.is_boolean(),
                        };
                        assert!(ok, "{model:?} {}: {v}", spec.name);
                    }
                    // Every drawn setting is accepted by the model's checks.
                    apply(&ModelArgs::defaults(1), params).unwrap();
                }
            }
        }
    }

    #[test]
    fn apply_sets_fields_and_names_bad_values() {
        let base = ModelArgs::defaults(7);
        let p: Params = serde_json::from_value(json!({
            "lambda": 250.0, "neighbors": 40, "loss": "bpr", "scale_regularization": true
        }))
        .unwrap();
        let a = apply(&base, &p).unwrap();
        assert_eq!(
            (a.lambda, a.neighbors, a.loss, a.scale_regularization),
            (250.0, Some(40), LossChoice::Bpr, true)
        );
        assert_eq!(a.seed, 7);
        let e = apply(&base, &serde_json::from_value(json!({ "lamda": 1 })).unwrap()).unwrap_err();
        assert!(e.to_string().contains("unknown tuned parameter `lamda`"), "{e}");
        let e = apply(
            &base,
            &serde_json::from_value(json!({ "neighbors": "many" })).unwrap(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("`neighbors` = \"many\": expected an integer"),
            "{e}"
        );
    }

    /// A planted objective: EASE peaks at λ = 300, 100 neighbours; RP3beta is flat and worse.
    fn planted(model: ModelChoice, p: &Params) -> Result<Scores> {
        let score = match model {
            ModelChoice::Ease => {
                let l = p.get("lambda").and_then(Value::as_f64).unwrap_or(500.0);
                let n = p.get("neighbors").and_then(Value::as_f64).unwrap_or(200.0);
                0.5 - (l / 300.0).ln().powi(2) / 20.0 - (n / 100.0).ln().powi(2) / 40.0
            }
            _ => 0.2,
        };
        Ok(Scores {
            ndcg: score,
            precision: 0.0,
            recall: 0.0,
            map: 0.0,
        })
    }

    #[test]
    fn search_finds_a_planted_optimum_and_is_reproducible() {
        let models = [ModelChoice::Rp3beta, ModelChoice::Ease];
        let run = |seed| {
            search(
                &models,
                Budget::Trials(60),
                seed,
                10,
                &Progress::hidden(),
                planted,
            )
        };
        let (trials, best) = run(3);
        assert_eq!(trials.len(), 60);
        let best = &trials[best.unwrap()];
        assert_eq!(best.model, "ease");
        let l = best.params["lambda"].as_f64().unwrap();
        let n = best.params["neighbors"].as_f64().unwrap();
        assert!((200.0..450.0).contains(&l), "lambda {l}");
        assert!((60.0..170.0).contains(&n), "neighbors {n}");
        // The defaults first, then halving leaves EASE alone: most trials go to it.
        assert_eq!(
            (trials[0].model.as_str(), trials[1].model.as_str()),
            ("rp3beta", "ease")
        );
        assert!(trials[0].params.is_empty() && trials[1].params.is_empty());
        let ease = trials.iter().filter(|t| t.model == "ease").count();
        assert!(ease >= 45, "{ease} of 60 trials on ease");
        // Reproducible for a seed.
        let again = run(3).0;
        let key = |t: &[Trial]| {
            t.iter()
                .map(|t| (t.model.clone(), t.params.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&trials), key(&again));
        assert_ne!(key(&trials), key(&run(4).0));
        // Failures are recorded and do not stop the search.
        let (trials, best) = search(&models, Budget::Trials(8), 3, 10, &Progress::hidden(), |m, p| {
            if m == ModelChoice::Rp3beta {
                Err(ServerError::Usage("planted failure".into()))
            } else {
                planted(m, p)
            }
        });
        assert_eq!(trials.len(), 8);
        assert!(trials
            .iter()
            .filter(|t| t.model == "rp3beta")
            .all(|t| t.error.as_deref() == Some("planted failure")));
        assert_eq!(trials[best.unwrap()].model, "ease");
    }

    #[test]
    fn steps_from_the_defaults_start_at_the_default_values() {
        let mut rng = Rng::new(5);
        // EASE's defaults are λ = 500, k = 200: steps of 15 % of the log range stay near them.
        for _ in 0..50 {
            let p = perturbed(ModelChoice::Ease, &Params::new(), &mut rng);
            let (l, k) = (p["lambda"].as_f64().unwrap(), p["neighbors"].as_f64().unwrap());
            assert!((20.0..12_000.0).contains(&l), "lambda {l}");
            assert!((10.0..2000.0).contains(&k), "neighbors {k}");
        }
        let a = ModelArgs::defaults(0);
        for model in [
            ModelChoice::Als,
            ModelChoice::Lightfm,
            ModelChoice::ItemKnn,
            ModelChoice::Rp3beta,
        ] {
            for spec in space(model) {
                assert!(
                    !default_value(&a, model, spec.name).is_null(),
                    "{model:?} {}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn halving_keeps_the_better_half() {
        let r = |model, s: Option<f64>| Racer {
            model,
            best: s.map(|s| (s, Params::new())),
            alive: true,
        };
        let mut racers = vec![
            r(ModelChoice::Als, Some(0.2)),
            r(ModelChoice::Ease, Some(0.3)),
            r(ModelChoice::Knn, Some(0.1)),
            r(ModelChoice::Lightfm, None),
            r(ModelChoice::Rp3beta, Some(0.25)),
        ];
        halve(&mut racers);
        let alive: Vec<ModelChoice> = racers.iter().filter(|r| r.alive).map(|r| r.model).collect();
        assert_eq!(
            alive,
            vec![ModelChoice::Als, ModelChoice::Ease, ModelChoice::Rp3beta]
        );
        halve(&mut racers);
        halve(&mut racers);
        let alive: Vec<ModelChoice> = racers.iter().filter(|r| r.alive).map(|r| r.model).collect();
        assert_eq!(alive, vec![ModelChoice::Ease]);
    }
}
