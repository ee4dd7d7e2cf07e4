//! Background retraining (`POST /admin/retrain`, `--retrain-every`): every served model is
//! trained again, with the arguments recorded in its file, on the features folder plus every
//! logged event up to a cut (the log's segment is closed there), on a bounded thread pool so
//! serving keeps its latency. The new files replace the old ones atomically and are swapped
//! in like a reload; events after the cut stay live on top of them. Only then are the log's
//! segments the new models contain moved to the archive. Any failure leaves the old models
//! serving and the log untouched.
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use reco_core::model_file::{write_atomic, Precision};

use super::state::AppState;
use crate::train::{AnnChoice, ModelArgs, ModelChoice, PrecisionChoice};

/// What a retrain did.
#[derive(Debug, serde::Serialize)]
pub struct RetrainReport {
    /// Events up to this sequence number are in the new models.
    pub events_through: u64,
    /// Files retrained.
    pub retrained: Vec<String>,
    /// Files left as they were, with the reason (no recorded arguments).
    pub skipped: Vec<(String, String)>,
    /// Log segments moved to the archive.
    pub archived: usize,
    /// Wall time.
    pub seconds: f64,
}

/// Why a retrain did not happen.
#[derive(Debug)]
pub enum RetrainError {
    /// Another retrain is running.
    Busy,
    /// The server was started without `--features`.
    NotConfigured,
    /// Training, writing or loading failed (details logged); the old models keep serving.
    Failed(String),
}

impl std::fmt::Display for RetrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetrainError::Busy => write!(f, "a retrain is already running"),
            RetrainError::NotConfigured => write!(
                f,
                "retraining is off: start the server with --features DIR (the folder `reco ingest` wrote)"
            ),
            RetrainError::Failed(why) => write!(f, "retrain failed: {why}; the previous models keep serving"),
        }
    }
}

/// Retrains every served model that records its arguments; see the module documentation.
pub async fn retrain(state: &Arc<AppState>) -> Result<RetrainReport, RetrainError> {
    let Ok(_guard) = state.retrain_lock.try_lock() else {
        return Err(RetrainError::Busy);
    };
    let features = state
        .config
        .retrain
        .features
        .clone()
        .ok_or(RetrainError::NotConfigured)?;
    let start = Instant::now();
    let result = run(state, features).await;
    let m = &state.retrain_metrics;
    match result {
        Ok(mut report) => {
            report.seconds = start.elapsed().as_secs_f64();
            m.ok.fetch_add(1, Relaxed);
            m.last_millis.store((report.seconds * 1000.0) as u64, Relaxed);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            m.last_unix.store(now, Relaxed);
            tracing::info!(retrained = ?report.retrained, events_through = report.events_through,
                archived = report.archived, seconds = report.seconds, "retrained");
            Ok(report)
        }
        Err(why) => {
            m.failed.fetch_add(1, Relaxed);
            tracing::error!(error = %why, "retrain failed; the previous models keep serving");
            Err(RetrainError::Failed(why))
        }
    }
}

async fn run(state: &Arc<AppState>, features: std::path::PathBuf) -> Result<RetrainReport, String> {
    // The cut: every event up to here is durable and goes into training.
    let through = match &state.live {
        Some(live) => live.rotate().await?,
        None => 0,
    };
    let events_dir = state.config.events.as_ref().map(|e| e.dir.clone());
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for entry in state.models.load().by_name.values() {
        let args = entry.rec.training().get("args");
        let parsed = args.and_then(|a| {
            let model: ModelChoice = serde_json::from_value(a.get("model")?.clone()).ok()?;
            let hyper: ModelArgs = serde_json::from_value(a.get("hyper")?.clone()).ok()?;
            let precision: Option<PrecisionChoice> = a
                .get("precision")
                .and_then(|p| serde_json::from_value(p.clone()).ok());
            let ann: Option<AnnChoice> = a.get("ann").and_then(|p| serde_json::from_value(p.clone()).ok());
            Some((
                model,
                hyper,
                precision.unwrap_or(PrecisionChoice::F32),
                ann.unwrap_or(AnnChoice::Auto),
            ))
        });
        match parsed {
            Some(job) => jobs.push((entry.file.clone(), job)),
            None => skipped.push((
                entry.file.clone(),
                "the file does not record its training arguments (train it with this reco version)".into(),
            )),
        }
    }
    if jobs.is_empty() {
        return Err("no served model records its training arguments".into());
    }
    let threads = state.config.retrain.threads;
    let models_dir = state.config.models_dir.clone();
    let retrained = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("reco-retrain-{i}"))
            .build()
            .map_err(|e| format!("cannot start the retrain threads: {e}"))?;
        pool.install(|| {
            let mut data = crate::Dataset::load_features(&features).map_err(|e| e.to_string())?;
            if let Some(dir) = &events_dir {
                crate::train::merge_events(&mut data, dir, through).map_err(|e| e.to_string())?;
            }
            // Train everything first: a failure writes nothing.
            let mut out = Vec::new();
            for (file, (model, hyper, precision, ann)) in jobs {
                let mut trained = crate::progress::muted(|| {
                    crate::train::fit(
                        model,
                        &data.interactions,
                        &data.item_names,
                        &data.item_prices,
                        &hyper,
                    )
                })
                .map_err(|e| format!("{file}: {e}"))?;
                let training = &mut trained.file.training;
                training["events_through"] = serde_json::json!(through);
                training["args"]["precision"] = serde_json::json!(precision);
                training["args"]["ann"] = serde_json::json!(ann);
                crate::progress::muted(|| crate::train::attach_ann(&mut trained.file, ann, hyper.seed))
                    .map_err(|e| format!("{file}: {e}"))?;
                let bytes = trained
                    .file
                    .to_bytes(Precision::from(precision))
                    .map_err(|e| format!("{file}: {e}"))?;
                out.push((file, bytes));
            }
            for (file, bytes) in &out {
                let path = models_dir.join(file);
                write_atomic(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Ok(out.into_iter().map(|(f, _)| f).collect())
        })
    })
    .await
    .map_err(|e| format!("the retrain task failed: {e}"))??;
    let report = state.reload().await.map_err(|e| e.to_string())?;
    if let Some(f) = report.failed.first() {
        return Err(format!("{} does not load after retraining: {}", f.file, f.detail));
    }
    // Archive only what every served model contains (a skipped file may be older).
    let contained = state
        .models
        .load()
        .by_name
        .values()
        .map(|e| e.events_through)
        .min()
        .unwrap_or(0);
    let archived = match &state.live {
        Some(live) if contained > 0 => live.archive_through(contained).await.unwrap_or_else(|e| {
            // The models are swapped already; the segments stay live and are archived next time.
            tracing::warn!(error = %e, "cannot archive the event log's contained segments");
            0
        }),
        _ => 0,
    };
    Ok(RetrainReport {
        events_through: through,
        retrained,
        skipped,
        archived,
        seconds: 0.0,
    })
}
