//! `reco import spark-als`: turns an ALS model trained by Spark MLlib into an ordinary reco ALS
//! model file.
//!
//! ## What is read
//! The folder written by `scripts/spark/train_als.py` (or any job that saves the same things):
//! - `model/`: `ALSModel.save()` — `metadata/part-*` (one JSON line: class, rank, Spark
//!   version) and `userFactors/`, `itemFactors/` (Parquet, snappy: `id: int`,
//!   `features: array<float>`);
//! - `users/`, `items/`: Parquet tables of one string id column and one integer column (the
//!   index Spark's ALS saw), e.g. `StringIndexer` output; without them Spark's integer ids
//!   are the ids (events whose ids were integers already);
//! - `als/`: `ALS.save()`, the estimator's metadata (`regParam`, `alpha`, `implicitPrefs`,
//!   `nonnegative`, `maxIter`, `seed`). Without it, `--reg-param` and `--alpha` are required.
//!
//! The events Spark trained on are read with the ingest reader (same column options and
//! presets as `reco ingest`): they give the seen items, the popularity order and the weights
//! that fold-in needs.
//!
//! ## Why the result matches Spark
//! Spark's implicit ALS (`ALS.computeFactors`) solves each user's normal equations
//! `(YᵀY + Σ c1·y yᵀ + λ·n·I) x = Σ (1 + c1)·y` with `c1 = alpha·|r|`, `n` the number of the
//! user's positive ratings (ALS-WR scaling), by Cholesky (`nonnegative = false`). That is reco's
//! ALS with `solver = cholesky` and `scale_regularization_by_count = true` (reco ingest keeps
//! only positive weights, so reco's count equals Spark's). The imported file records exactly
//! that, so reco's fold-in of a user's events reproduces Spark's user vector; the import checks
//! it for every user and refuses the file if any differs by more than `--tolerance`.
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rayon::prelude::*;
use reco_core::als::{AlsModel, AlsParams, AlsSolver};
use reco_core::model_file::{write_atomic, ModelFile};
use reco_core::recommender::attach_catalog;
use serde_json::{json, Value};

use crate::dataset::Dataset;
use crate::error::{Result, ServerError};
use crate::ingest::ReadArgs;
use crate::train::PrecisionChoice;

/// `reco import` options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub source: ImportSource,
}

/// The model formats `reco import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// A Spark MLlib implicit ALS model (`ALSModel.save`) → a reco ALS model file.
    ///
    /// DIR is the folder written by scripts/spark/train_als.py: model/ (ALSModel.save),
    /// users/ and items/ (Parquet id ↔ index tables), als/ (ALS.save, the hyperparameters).
    /// --events is the file Spark trained on, read like `reco ingest` reads it (same column
    /// options and presets): it gives the seen items, popularity and fold-in weights.
    ///
    /// Every user's events are folded in with the imported file and compared with Spark's
    /// own user vector; any difference above --tolerance refuses the import (wrong events,
    /// regParam or alpha). The output is then served, exported and used like any reco ALS
    /// model.
    SparkAls(SparkAlsArgs),
}

/// `reco import spark-als` options.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  spark-submit scripts/spark/train_als.py events.csv out --rank 64\n  \
                        reco import spark-als out --events events.csv --items data/features/items.tsv -o models/als.safetensors"
)]
pub struct SparkAlsArgs {
    /// The Spark output folder (holding model/, users/, items/ and als/; without users/ or
    /// items/, Spark's integer ids are the ids).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The events Spark trained on (CSV/TSV, gzip or plain, or Parquet — a file or Spark's
    /// folder —, as `reco ingest` reads them).
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// How to read the events.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Item catalog for names: CSV/TSV with a header naming an id column (item_id, id,
    /// StockCode, …) and a name column (name, title, description), e.g. the items.tsv that
    /// `reco ingest` writes [default: names from the events, if they have a name column].
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// The reco model file to write.
    #[arg(long, short, value_name = "FILE", default_value = "models/als.safetensors")]
    pub out: PathBuf,
    /// Spark's regParam, when DIR has no als/ folder (or to override it).
    #[arg(long, value_name = "λ")]
    pub reg_param: Option<f64>,
    /// Spark's alpha, when DIR has no als/ folder (or to override it).
    #[arg(long, value_name = "A")]
    pub alpha: Option<f64>,
    /// Largest accepted difference between reco's fold-in of a user's events and Spark's
    /// user vector (absolute, per factor).
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f64,
    /// Tensor precision in the file (f16 halves the size).
    #[arg(long, value_enum, default_value_t = PrecisionChoice::F32)]
    pub precision: PrecisionChoice,
}

/// Spark's ALS hyperparameters as saved in its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SparkParams {
    /// Latent factors.
    pub rank: usize,
    /// regParam (Spark multiplies it by each row's number of positive ratings).
    pub reg_param: f64,
    /// Confidence slope: c = 1 + alpha·|r|.
    pub alpha: f64,
    /// maxIter.
    pub max_iter: usize,
    /// seed.
    pub seed: u64,
    /// The Spark version that wrote the model.
    pub spark_version: String,
}

/// What an import produced.
pub struct Imported {
    /// The reco model file (catalog attached), ready to write.
    pub file: ModelFile,
    /// Spark's hyperparameters.
    pub spark: SparkParams,
    /// Largest |reco fold-in − Spark user vector| over every user and factor.
    pub max_fold_in_diff: f64,
    /// The user whose fold-in differs most.
    pub worst_user: String,
    /// Largest |factor| of Spark's user vectors (scale for the difference).
    pub max_user_factor: f64,
    /// Users, items and (user, item) pairs.
    pub users: usize,
    /// See [`Imported::users`].
    pub items: usize,
    /// See [`Imported::users`].
    pub interactions: usize,
}

fn bad(path: &Path, reason: impl Into<String>) -> ServerError {
    ServerError::BadImport {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The data files of a Spark output folder (`part-*`, sorted; `_SUCCESS`, `.crc` skipped).
fn part_files(dir: &Path, what: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        bad(
            dir,
            format!("cannot read the folder ({e}); expected {what} as Spark writes it"),
        )
    })?;
    let mut parts = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ServerError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("part-") && !name.ends_with(".crc") {
            parts.push(entry.path());
        }
    }
    parts.sort();
    if parts.is_empty() {
        return Err(bad(
            dir,
            format!("no part-* files; expected {what} as Spark writes it"),
        ));
    }
    Ok(parts)
}

/// Reads the one-line JSON metadata Spark's `DefaultParamsWriter` writes in `dir/metadata/`.
fn read_metadata(dir: &Path) -> Result<Value> {
    let meta_dir = dir.join("metadata");
    let parts = part_files(&meta_dir, "Spark ML metadata (a JSON line)")?;
    let path = &parts[0];
    let meta = std::fs::metadata(path).map_err(|e| ServerError::io(path, e))?;
    if meta.len() > 1 << 20 {
        return Err(bad(
            path,
            "metadata file larger than 1 MiB: not Spark ML metadata",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str(line).map_err(|e| bad(path, format!("not Spark ML metadata JSON: {e}")))
}

/// A parameter from Spark metadata: `paramMap`, else `defaultParamMap`.
fn spark_param<'a>(meta: &'a Value, name: &str) -> Option<&'a Value> {
    meta.get("paramMap")
        .and_then(|m| m.get(name))
        .or_else(|| meta.get("defaultParamMap").and_then(|m| m.get(name)))
}

/// Reads the hyperparameters: rank from `model/metadata`, the rest from `als/metadata`
/// (the estimator's), overridden by the command line.
fn read_params(dir: &Path, reg_param: Option<f64>, alpha: Option<f64>) -> Result<SparkParams> {
    let model_dir = dir.join("model");
    let meta = read_metadata(&model_dir)?;
    let meta_path = model_dir.join("metadata");
    let class = meta.get("class").and_then(Value::as_str).unwrap_or("");
    if !class.ends_with("recommendation.ALSModel") {
        return Err(bad(
            &meta_path,
            format!("class is `{class}`, not org.apache.spark.ml.recommendation.ALSModel"),
        ));
    }
    let rank = meta
        .get("rank")
        .and_then(Value::as_u64)
        .filter(|&r| r >= 1 && r as usize <= reco_core::als::MAX_FACTORS)
        .ok_or_else(|| bad(&meta_path, "no usable `rank` (1..=1024) in the ALSModel metadata"))?
        as usize;
    let spark_version = meta
        .get("sparkVersion")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let als_dir = dir.join("als");
    let est = if als_dir.join("metadata").is_dir() {
        Some(read_metadata(&als_dir)?)
    } else {
        None
    };
    let est_path = als_dir.join("metadata");
    let number = |name: &str, given: Option<f64>, flag: &str| -> Result<f64> {
        if let Some(v) = given {
            return Ok(v);
        }
        match &est {
            Some(m) => spark_param(m, name).and_then(Value::as_f64).ok_or_else(|| {
                bad(
                    &est_path,
                    format!("no numeric `{name}` in the ALS metadata; pass --{flag}"),
                )
            }),
            None => Err(bad(
                dir,
                format!(
                    "no als/ folder (the ALS estimator saved with `als.save(DIR/als)`), so \
                     Spark's `{name}` is unknown; pass --{flag}"
                ),
            )),
        }
    };
    let reg_param = number("regParam", reg_param, "reg-param")?;
    let alpha = number("alpha", alpha, "alpha")?;
    for (name, v) in [("regParam", reg_param), ("alpha", alpha)] {
        if !(v.is_finite() && v >= 0.0 && v <= f32::MAX as f64) {
            return Err(bad(dir, format!("{name} = {v} must be finite and >= 0")));
        }
    }
    let (mut max_iter, mut seed) = (0, 0);
    if let Some(m) = &est {
        if spark_param(m, "implicitPrefs").and_then(Value::as_bool) != Some(true) {
            return Err(bad(
                &est_path,
                "the model was trained with implicitPrefs = false (explicit ALS); reco imports \
                 implicit-feedback ALS only (train with ALS(implicitPrefs=True))",
            ));
        }
        if spark_param(m, "nonnegative").and_then(Value::as_bool) == Some(true) {
            return Err(bad(
                &est_path,
                "the model was trained with nonnegative = true (Spark's NNLS solver); reco's \
                 fold-in solves without the constraint and would not reproduce it: train with \
                 nonnegative = false",
            ));
        }
        if let Some(r) = spark_param(m, "rank").and_then(Value::as_u64) {
            if r as usize != rank {
                return Err(bad(
                    &est_path,
                    format!("rank {r} but the ALSModel metadata says {rank}: als/ and model/ are from different runs"),
                ));
            }
        }
        max_iter = spark_param(m, "maxIter").and_then(Value::as_u64).unwrap_or(0) as usize;
        seed = spark_param(m, "seed")
            .and_then(|v| v.as_i64().map(|s| s as u64).or_else(|| v.as_u64()))
            .unwrap_or(0);
    }
    Ok(SparkParams {
        rank,
        reg_param,
        alpha,
        max_iter,
        seed,
        spark_version,
    })
}

/// Calls `on_row` with the columns of every row of every Parquet part file in `dir`.
fn for_each_row(
    dir: &Path,
    what: &str,
    mut on_row: impl FnMut(&Path, &[(&String, &Field)]) -> Result<()>,
) -> Result<()> {
    for path in part_files(dir, what)? {
        let file = File::open(&path).map_err(|e| ServerError::io(&path, e))?;
        // The Parquet reader returns errors for the malformed files we know of; a panic on
        // one it does not anticipate still becomes this file's error, not a crash.
        let read = catch_unwind(AssertUnwindSafe(|| -> Result<()> {
            let reader = SerializedFileReader::new(file)
                .map_err(|e| bad(&path, format!("not a readable Parquet file: {e}")))?;
            let rows = reader
                .get_row_iter(None)
                .map_err(|e| bad(&path, format!("cannot read the Parquet rows: {e}")))?;
            for row in rows {
                let row = row.map_err(|e| bad(&path, format!("cannot read a Parquet row: {e}")))?;
                let columns: Vec<(&String, &Field)> = row.get_column_iter().collect();
                on_row(&path, &columns)?;
            }
            Ok(())
        }));
        match read {
            Ok(result) => result?,
            Err(panic) => {
                return Err(bad(
                    &path,
                    format!(
                        "the Parquet reader failed on this file ({}); the file is corrupt",
                        crate::ingest::parquet::panic_text(&*panic)
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// Reads a factor table (`id: int`, `features: array<float>` of `rank` values).
fn read_factors(dir: &Path, rank: usize) -> Result<HashMap<i64, Vec<f32>>> {
    let mut factors = HashMap::new();
    let what = "a Spark ALS factor table (Parquet: id int, features array<float>)";
    for_each_row(dir, what, |path, columns| {
        let field = |name: &str| columns.iter().find(|(n, _)| n.as_str() == name).map(|(_, f)| *f);
        let id = match field("id") {
            Some(Field::Int(i)) => *i as i64,
            Some(Field::Long(i)) => *i,
            _ => return Err(bad(path, format!("a row has no integer `id`; expected {what}"))),
        };
        let Some(Field::ListInternal(list)) = field("features") else {
            return Err(bad(
                path,
                format!("row id {id} has no `features` list; expected {what}"),
            ));
        };
        let mut values = Vec::with_capacity(rank);
        for v in list.elements() {
            match v {
                Field::Float(x) if x.is_finite() => values.push(*x),
                Field::Double(x) if x.is_finite() && x.abs() <= f32::MAX as f64 => values.push(*x as f32),
                other => {
                    return Err(bad(
                        path,
                        format!("row id {id}: feature {other:?} is not a finite float"),
                    ))
                }
            }
        }
        if values.len() != rank {
            return Err(bad(
                path,
                format!(
                    "row id {id} has {} features but the model's rank is {rank}",
                    values.len()
                ),
            ));
        }
        if factors.insert(id, values).is_some() {
            return Err(bad(path, format!("id {id} appears twice")));
        }
        Ok(())
    })?;
    Ok(factors)
}

/// Reads an id mapping table: one string column (the original id) and one integer column
/// (Spark's index), as `index → id`.
fn read_mapping(dir: &Path, what: &str) -> Result<HashMap<String, i64>> {
    let mut map = HashMap::new();
    let mut indices = HashSet::new();
    let desc = format!("the {what} id table (Parquet: a string id column and an integer index column)");
    for_each_row(dir, &desc, |path, columns| {
        let id = columns.iter().find_map(|(_, f)| match f {
            Field::Str(s) => Some(s.clone()),
            _ => None,
        });
        let index = columns.iter().find_map(|(_, f)| match f {
            Field::Int(i) => Some(*i as i64),
            Field::Long(i) => Some(*i),
            Field::Double(d) if d.fract() == 0.0 && d.abs() < 9e15 => Some(*d as i64),
            _ => None,
        });
        let (Some(id), Some(index)) = (id, index) else {
            return Err(bad(
                path,
                format!("a row lacks a string id or an integer index; expected {desc}"),
            ));
        };
        if !indices.insert(index) {
            return Err(bad(path, format!("index {index} is given to two {what}s")));
        }
        if map.insert(id.clone(), index).is_some() {
            return Err(bad(path, format!("{what} `{id}` appears twice")));
        }
        Ok(())
    })?;
    Ok(map)
}

/// The id table in `dir`; without one, Spark's integer ids are the ids (a job whose ids
/// were integers already needs no mapping).
fn mapping_or_identity(
    dir: &Path,
    what: &str,
    factors: &HashMap<i64, Vec<f32>>,
) -> Result<HashMap<String, i64>> {
    if dir.exists() {
        read_mapping(dir, what)
    } else {
        Ok(factors.keys().map(|&i| (i.to_string(), i)).collect())
    }
}

/// Reads item names from a CSV/TSV catalog with a header.
fn read_catalog(path: &Path) -> Result<HashMap<String, String>> {
    let tab = matches!(path.extension().and_then(|e| e.to_str()), Some("tsv" | "tab"));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if tab { b'\t' } else { b',' })
        .flexible(true)
        .from_path(path)
        .map_err(|e| bad(path, format!("cannot open the item catalog: {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| bad(path, format!("cannot read the catalog header: {e}")))?
        .clone();
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace(['_', ' '], "");
    let find = |names: &[&str]| header.iter().position(|h| names.contains(&norm(h).as_str()));
    let id_col = find(&["itemid", "id", "item", "stockcode", "productid", "sku", "movieid"]);
    let name_col = find(&["name", "title", "description", "itemname", "productname"]);
    let (Some(id_col), Some(name_col)) = (id_col, name_col) else {
        return Err(bad(
            path,
            format!(
                "the catalog header ({}) needs an item id column (item_id, id, StockCode, …) and a \
                 name column (name, title, description)",
                header.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let mut names = HashMap::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(path, format!("line {}: {e}", line + 2)))?;
        if let (Some(id), Some(name)) = (record.get(id_col), record.get(name_col)) {
            names.insert(id.to_string(), name.to_string());
        }
    }
    Ok(names)
}

/// Looks up the Spark factors of each id of `ids` (reco's index order).
fn align(
    ids: &[String],
    mapping: &HashMap<String, i64>,
    factors: &HashMap<i64, Vec<f32>>,
    what: &str,
    dir: &Path,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(ids.len() * factors.values().next().map_or(0, Vec::len));
    for id in ids {
        let Some(index) = mapping.get(id) else {
            return Err(bad(
                dir,
                format!(
                    "{what} `{id}` is in the events but Spark has no such {what} (ids are mapped \
                     by {what}s/): the events are not the ones Spark trained on (pass the same \
                     file, with the same column options)"
                ),
            ));
        };
        let Some(f) = factors.get(index) else {
            return Err(bad(
                dir,
                format!("{what} `{id}` has index {index} in {what}s/ but no row in model/{what}Factors"),
            ));
        };
        out.extend_from_slice(f);
    }
    if mapping.len() != ids.len() {
        let known: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let extra = mapping
            .keys()
            .find(|k| !known.contains(k.as_str()))
            .cloned()
            .unwrap_or_default();
        return Err(bad(
            dir,
            format!(
                "Spark knows {} {what}s but the events have {} (e.g. `{extra}` is missing): the \
                 events are not the ones Spark trained on",
                mapping.len(),
                ids.len()
            ),
        ));
    }
    Ok(out)
}

/// Imports a Spark ALS folder (see the module docs); does not write anything.
pub fn import_spark_als(args: &SparkAlsArgs) -> Result<Imported> {
    if !args.tolerance.is_finite() || args.tolerance < 0.0 {
        return Err(ServerError::Usage(format!(
            "--tolerance {} must be >= 0",
            args.tolerance
        )));
    }
    let dir = &args.dir;
    if !dir.is_dir() {
        return Err(bad(
            dir,
            "no such folder (pass the output folder of scripts/spark/train_als.py)",
        ));
    }
    let spark = read_params(dir, args.reg_param, args.alpha)?;
    let user_factors = read_factors(&dir.join("model/userFactors"), spark.rank)?;
    let item_factors = read_factors(&dir.join("model/itemFactors"), spark.rank)?;
    let user_map = mapping_or_identity(&dir.join("users"), "user", &user_factors)?;
    let item_map = mapping_or_identity(&dir.join("items"), "item", &item_factors)?;

    let (data, _report) = Dataset::read(&args.events, &args.read.to_options(false))?;
    let train = &data.interactions;
    let users = align(train.users.ids(), &user_map, &user_factors, "user", dir)?;
    let items = align(train.items.ids(), &item_map, &item_factors, "item", dir)?;
    drop((user_factors, item_factors));

    let params = AlsParams {
        factors: spark.rank,
        regularization: spark.reg_param as f32,
        alpha: spark.alpha as f32,
        iterations: spark.max_iter.max(1),
        solver: AlsSolver::Cholesky,
        scale_regularization_by_count: true,
        seed: spark.seed,
        compute_loss: false,
    };
    let model = AlsModel::from_trained_factors(params, users, items)?;

    // Every user's events, folded in, against Spark's own vector (in parallel): per user the
    // largest difference and the largest Spark factor.
    let per_user: Vec<(f64, f64)> = (0..train.users.len())
        .into_par_iter()
        .map_init(Vec::new, |basket, u| -> reco_core::Result<(f64, f64)> {
            let (cols, weights) = train.matrix.row(u);
            basket.clear();
            basket.extend(cols.iter().copied().zip(weights.iter().copied()));
            let x = model.fold_in(basket)?;
            Ok(x.iter()
                .zip(model.user_factors(u))
                .fold((0f64, 0f64), |(d, m), (a, b)| {
                    (d.max((*a as f64 - *b as f64).abs()), m.max((*b as f64).abs()))
                }))
        })
        .collect::<reco_core::Result<_>>()?;
    let (mut max_diff, mut worst, mut max_factor) = (0f64, 0usize, 0f64);
    for (u, &(d, m)) in per_user.iter().enumerate() {
        if d > max_diff {
            (max_diff, worst) = (d, u);
        }
        max_factor = max_factor.max(m);
    }
    let worst_user = train.users.ids().get(worst).cloned().unwrap_or_default();
    if max_diff > args.tolerance {
        return Err(bad(
            dir,
            format!(
                "folding in user `{worst_user}`'s events gives a vector {max_diff:.3e} away from \
                 Spark's (tolerance {:e}): the events, regParam ({}) or alpha ({}) are not the \
                 ones Spark trained with",
                args.tolerance, spark.reg_param, spark.alpha
            ),
        ));
    }

    let names = match &args.items {
        Some(path) => {
            let catalog = read_catalog(path)?;
            train
                .items
                .ids()
                .iter()
                .map(|id| catalog.get(id).cloned().unwrap_or_default())
                .collect()
        }
        None => data.item_names.clone(),
    };
    let mut file = model.to_model_file();
    file.training = json!({
        "source": "spark-als",
        "spark_version": spark.spark_version,
        "spark_params": {
            "rank": spark.rank,
            "regParam": spark.reg_param,
            "alpha": spark.alpha,
            "maxIter": spark.max_iter,
            "seed": spark.seed,
            "implicitPrefs": true,
        },
        "users": train.users.len(),
        "items": train.items.len(),
        "interactions": train.matrix.nnz(),
        "fold_in_max_abs_diff": max_diff,
        "trained_at": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "reco_version": env!("CARGO_PKG_VERSION"),
    });
    attach_catalog(&mut file, train, &names);
    Ok(Imported {
        file,
        spark,
        max_fold_in_diff: max_diff,
        worst_user,
        max_user_factor: max_factor,
        users: train.users.len(),
        items: train.items.len(),
        interactions: train.matrix.nnz(),
    })
}

/// Runs `reco import`.
pub fn run(args: &ImportArgs) -> Result<()> {
    match &args.source {
        ImportSource::SparkAls(args) => {
            let imported = import_spark_als(args)?;
            let bytes = imported.file.to_bytes(args.precision.into())?;
            write_atomic(&args.out, &bytes).map_err(|e| ServerError::io(&args.out, e))?;
            let s = &imported.spark;
            println!(
                "imported Spark {} ALS: rank {}, regParam {}, alpha {}, maxIter {}",
                s.spark_version, s.rank, s.reg_param, s.alpha, s.max_iter
            );
            println!(
                "users {}, items {}, interactions {}",
                imported.users, imported.items, imported.interactions
            );
            println!(
                "fold-in check: max |reco - Spark| = {:.3e} over all users and factors (user `{}`; largest Spark factor {:.3})",
                imported.max_fold_in_diff, imported.worst_user, imported.max_user_factor
            );
            println!(
                "wrote {} ({:.1} KiB)",
                args.out.display(),
                bytes.len() as f64 / 1024.0
            );
            Ok(())
        }
    }
}
