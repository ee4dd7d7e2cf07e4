//! The loaded models (swapped atomically on reload), the A/B split and the shared server state.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use reco_core::recommender::{Fallback, RecommendOptions, RecommendedItem, Recommender, Scratch};
use serde_json::Value;

use super::config::ServeConfig;
use super::live::{events_through, Live, LiveModel, PopularityDelta};
use super::metrics::{Metrics, ModelMetrics, RetrainMetrics};
use super::store::Store;
use crate::error::{Result, ServerError};
use crate::model_bytes::ModelBytes;

/// One served model: the recommender, where it came from, and its metrics.
pub struct ModelEntry {
    /// URL name (`als`, `popularity`, …, or the file stem when two files share a kind).
    pub name: String,
    /// File name inside the models folder.
    pub file: String,
    /// Model-file format version.
    pub format_version: u32,
    /// Training time (from the file's training summary, else the file's modification time).
    pub trained_at: Option<String>,
    /// The file on disk, streamed to browsers and replicas by `GET /models/{file}` while it
    /// is still the file that was loaded.
    pub served: ServedFile,
    /// ETag of the file's bytes as loaded.
    pub etag: String,
    /// The serving facade.
    pub rec: Recommender,
    /// This model's counters.
    pub metrics: Arc<ModelMetrics>,
    /// Memoized top lists of known users.
    pub top_cache: TopCache,
    /// Pre-serialized item JSON.
    pub item_json: super::items::ItemJson,
    /// `x-reco-model` value (`None` if the name is not a valid header value).
    pub name_header: Option<axum::http::HeaderValue>,
    /// Live events up to this sequence number are in the model (`training.events_through`).
    pub events_through: u64,
    /// Unique per loaded model (memoized live answers are keyed by it, so a reload's new
    /// entry never reads the old one's).
    pub generation: u64,
    /// The popularity model's live count deltas.
    pub popularity_delta: PopularityDelta,
}

impl ModelEntry {
    /// This model as the live layer sees it.
    pub fn live_view(&self) -> LiveModel<'_> {
        LiveModel {
            rec: &self.rec,
            through: self.events_through,
            popularity: &self.popularity_delta,
        }
    }
}

/// Memoized top-`k` lists of known users, filled on a user's first request and dropped with
/// the model on reload. A model is immutable while served and the top-N order is total (score,
/// then item index), so the first `n <= k` items of the cached list are exactly what
/// [`Recommender::recommend_user`] answers for `n`. Reads are one atomic load (`OnceLock`).
pub struct TopCache {
    k: usize,
    lists: Box<[OnceLock<Box<[RecommendedItem]>>]>,
}

impl TopCache {
    /// A cache of the top `k` items for each of `n_users` users (`k = 0`: off).
    pub fn new(k: usize, n_users: usize) -> Self {
        let n_users = if k == 0 { 0 } else { n_users };
        TopCache {
            k,
            lists: (0..n_users).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The top `n` of a known user with default options, and which fallback applies; `None`
    /// when the user is unknown, `n > k` or the cache is off (then compute live).
    pub fn get<'a>(
        &'a self,
        rec: &Recommender,
        user_id: &str,
        n: usize,
        s: &mut Scratch,
    ) -> Option<reco_core::Result<(&'a [RecommendedItem], Fallback)>> {
        if n > self.k {
            return None;
        }
        let slot = self.lists.get(rec.users().index_of(user_id)? as usize)?;
        let list = match slot.get() {
            Some(list) => list,
            None => match rec.recommend_user(user_id, self.k, &RecommendOptions::default(), s) {
                Ok(full) => slot.get_or_init(|| full.items.into_boxed_slice()),
                Err(e) => return Some(Err(e)),
            },
        };
        let items = &list[..n.min(list.len())];
        Some(Ok((items, fallback_of(items))))
    }
}

/// The fallback a prefix of a memoized list shows: its items carry their own flags.
pub fn fallback_of(items: &[RecommendedItem]) -> Fallback {
    match items.first() {
        Some(first) if first.fallback => Fallback::Popularity,
        _ if items.iter().any(|i| i.fallback) => Fallback::Partial,
        _ => Fallback::None,
    }
}

/// The set of models served at one moment; replaced as a whole on reload.
#[derive(Default)]
pub struct ModelSet {
    /// Models by URL name.
    pub by_name: BTreeMap<String, Arc<ModelEntry>>,
    /// Model URL names by file name.
    pub by_file: HashMap<String, String>,
}

impl ModelSet {
    /// The model named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<ModelEntry>> {
        self.by_name.get(name)
    }

    /// The model loaded from file `file`.
    pub fn by_file(&self, file: &str) -> Option<&Arc<ModelEntry>> {
        self.by_file.get(file).and_then(|name| self.by_name.get(name))
    }

    /// The loaded model names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

/// A model file that loaded, before it is named.
struct Loaded {
    file: String,
    format_version: u32,
    trained_at: Option<String>,
    served: ServedFile,
    etag: String,
    rec: Recommender,
}

/// A loaded model file, kept open: `GET /models/{file}` streams the loaded version from this
/// handle (a file replaced by rename stays readable through it until the model is dropped).
/// Nothing of the file is kept in memory (the decoded model is the only copy) and nothing
/// keeps it mapped, so a file rewritten in place cannot fault a reader; it is detected (size or
/// modification time changed) and refused with 409 until a reload.
#[derive(Debug, Clone)]
pub struct ServedFile {
    file: Arc<std::fs::File>,
    /// Its size in bytes when loaded.
    pub len: u64,
    identity: FileIdentity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileIdentity {
    fn of(file: &std::fs::File) -> std::io::Result<Self> {
        let meta = file.metadata()?;
        Ok(FileIdentity {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

impl ServedFile {
    /// True while the open file still holds the bytes that were loaded.
    pub fn unchanged(&self) -> bool {
        FileIdentity::of(&self.file).is_ok_and(|now| now == self.identity)
    }

    /// Reads `len` bytes at `offset` (blocking).
    pub fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        #[cfg(unix)]
        std::os::unix::fs::FileExt::read_exact_at(&*self.file, &mut buf, offset)?;
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < len {
                let n = std::os::windows::fs::FileExt::seek_read(
                    &*self.file,
                    &mut buf[done..],
                    offset + done as u64,
                )?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
            }
        }
        Ok(buf)
    }
}

/// A model file that failed to load. Serialized (for `/admin/reload` answers) as the file
/// name and a short reason only: the details may hold paths, OS errors or bytes of the file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadFailure {
    /// The file name.
    pub file: String,
    /// Why it failed, in a few words.
    #[serde(rename = "error")]
    pub reason: &'static str,
    /// The full error (logged; shown at start-up on the command line).
    #[serde(skip)]
    pub detail: String,
}

/// Short reasons of [`LoadFailure`].
const CANNOT_READ: &str = "cannot read the file";
const NOT_A_MODEL: &str = "not a valid reco model file";
const LOADER_FAILED: &str = "the loader failed unexpectedly";

/// The `*.safetensors` files of `dir`, sorted; fails when the folder is missing or has none.
pub fn model_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ServerError::ModelsNotFound {
            path: dir.to_path_buf(),
        },
        _ => ServerError::io(dir, e),
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| ServerError::io(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "safetensors") && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(ServerError::NoModels {
            path: dir.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

fn load_file(path: &Path) -> std::result::Result<Loaded, (&'static str, String)> {
    let file = std::fs::File::open(path).map_err(|e| (CANNOT_READ, e.to_string()))?;
    let identity = |file: &std::fs::File| FileIdentity::of(file).map_err(|e| (CANNOT_READ, e.to_string()));
    let before = identity(&file)?;
    // Mapped, not read: the decoded model is the only copy in memory (crate::model_bytes).
    // The mapping lives only while the file is decoded.
    // The same open file that is later served (a rename in between cannot mix versions).
    let bytes = ModelBytes::map(&file).map_err(|e| (CANNOT_READ, e.to_string()))?;
    let invalid = |e: &dyn std::fmt::Display| (NOT_A_MODEL, e.to_string());
    let rec = Recommender::from_bytes(&bytes).map_err(|e| invalid(&e))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| invalid(&e))?;
    let format_version = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("reco.format_version"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(reco_core::model_file::FORMAT_VERSION);
    let etag = etag(&bytes);
    drop(bytes);
    // A file rewritten while it was read may have decoded from a mix of versions.
    if identity(&file)? != before {
        return Err((
            CANNOT_READ,
            "the file changed while it was loaded (write model files beside the folder and rename them in)"
                .into(),
        ));
    }
    let trained_at = match rec.training().get("trained_at") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .map(rfc3339),
    };
    Ok(Loaded {
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        format_version,
        trained_at,
        served: ServedFile {
            file: Arc::new(file),
            len: before.len,
            identity: before,
        },
        etag,
        rec,
    })
}

/// Loads every model file of `dir`: the loaded ones and the failures (by file).
fn load_dir(dir: &Path) -> Result<(Vec<Loaded>, Vec<LoadFailure>)> {
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for path in model_files(dir)? {
        // A loader bug on a hostile file must not take the reload (or the server) down.
        let result = std::panic::catch_unwind(|| load_file(&path)).unwrap_or_else(|panic| {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err((LOADER_FAILED, format!("panic: {text}")))
        });
        match result {
            Ok(l) => loaded.push(l),
            Err((reason, detail)) => {
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                tracing::error!(file = %path.display(), reason, error = %detail, "cannot load model file");
                failed.push(LoadFailure { file, reason, detail });
            }
        }
    }
    Ok((loaded, failed))
}

/// URL names: the kind name, or the file stem for kinds held by more than one file; a name
/// already in `taken` (kept models) falls back to the stem, then the whole file name.
fn assign_names(kinds_and_files: &[(&'static str, &str)], taken: &[String]) -> Vec<String> {
    let mut per_kind: HashMap<&str, usize> = HashMap::new();
    for (kind, _) in kinds_and_files {
        *per_kind.entry(kind).or_default() += 1;
    }
    let mut taken: std::collections::HashSet<String> = taken.iter().cloned().collect();
    kinds_and_files
        .iter()
        .map(|&(kind, file)| {
            let stem = file.strip_suffix(".safetensors").unwrap_or(file);
            let preferred = if per_kind[kind] == 1 { kind } else { stem };
            let name = [preferred, stem, file]
                .into_iter()
                .find(|n| !taken.contains(*n))
                .unwrap_or(file);
            taken.insert(name.to_string());
            name.to_string()
        })
        .collect()
}

/// Weak ETag of `bytes` (weak, since responses may be gzip-encoded).
pub fn etag(bytes: &[u8]) -> String {
    // FNV-1a 64: stable across runs, so browsers keep their cache over restarts.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("W/\"{h:016x}-{:x}\"", bytes.len())
}

static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Builds a model set from freshly loaded files plus `kept` entries (old models whose file
/// failed to reload; they keep their names).
fn build_set(
    loaded: Vec<Loaded>,
    kept: Vec<Arc<ModelEntry>>,
    metrics: &Metrics,
    cache_top: usize,
) -> ModelSet {
    let keys: Vec<(&'static str, &str)> = loaded
        .iter()
        .map(|l| (l.rec.kind().as_str(), l.file.as_str()))
        .collect();
    let kept_names: Vec<String> = kept.iter().map(|e| e.name.clone()).collect();
    let names = assign_names(&keys, &kept_names);
    let mut set = ModelSet::default();
    let entries = loaded.into_iter().zip(names).map(|(l, name)| {
        Arc::new(ModelEntry {
            metrics: metrics.model(&name),
            top_cache: TopCache::new(cache_top, l.rec.n_users()),
            item_json: super::items::ItemJson::new(&l.rec),
            name_header: axum::http::HeaderValue::from_str(&name).ok(),
            events_through: events_through(&l.rec),
            generation: NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            popularity_delta: PopularityDelta::default(),
            etag: l.etag,
            name,
            file: l.file,
            format_version: l.format_version,
            trained_at: l.trained_at,
            served: l.served,
            rec: l.rec,
        })
    });
    for entry in entries.chain(kept) {
        set.by_file.insert(entry.file.clone(), entry.name.clone());
        set.by_name.insert(entry.name.clone(), entry);
    }
    set
}

/// Loads the models folder at start-up: every file must load.
pub fn load_initial(dir: &Path, metrics: &Metrics, cache_top: usize) -> Result<ModelSet> {
    let (loaded, failed) = load_dir(dir)?;
    if !failed.is_empty() {
        return Err(ServerError::ModelLoad {
            dir: dir.to_path_buf(),
            failures: failed
                .iter()
                .map(|f| format!("{}: {}", f.file, f.detail))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let set = build_set(loaded, Vec::new(), metrics, cache_top);
    metrics.set_models_loaded(set.by_name.len());
    Ok(set)
}

/// The outcome of a reload.
#[derive(Debug, serde::Serialize)]
pub struct ReloadReport {
    /// Names of the models served after the reload.
    pub models: Vec<String>,
    /// Files that failed; their previous model (if any) keeps serving.
    pub failed: Vec<LoadFailure>,
}

/// The state every handler shares.
pub struct AppState {
    /// The models, swapped atomically on reload.
    pub models: ArcSwap<ModelSet>,
    /// Live events (`--events-dir`), else `None`.
    pub live: Option<Arc<Live>>,
    /// Held by a retrain in progress.
    pub retrain_lock: tokio::sync::Mutex<()>,
    /// Retrain counters.
    pub retrain_metrics: RetrainMetrics,
    /// The model store this replica follows (`--models URL`).
    pub store: Option<Arc<Store>>,
    /// The configuration the server was started with.
    pub config: ServeConfig,
    /// This server's metrics.
    pub metrics: Metrics,
    reload_lock: tokio::sync::Mutex<()>,
}

impl AppState {
    /// State serving `models`.
    pub fn new(config: ServeConfig, models: ModelSet, metrics: Metrics) -> Self {
        let live = config.events.is_some().then(|| Arc::new(Live::default()));
        AppState {
            live,
            retrain_lock: Default::default(),
            retrain_metrics: RetrainMetrics::default(),
            store: None,
            models: ArcSwap::from_pointee(models),
            config,
            metrics,
            reload_lock: Default::default(),
        }
    }

    /// Re-reads the models folder and swaps in the new set. Requests in flight finish on the
    /// old models. A file that fails to load keeps its previous model serving; the failures
    /// are returned (and logged). Fails only when the folder itself cannot be used.
    pub async fn reload(self: &Arc<Self>) -> Result<ReloadReport> {
        let _guard = self.reload_lock.lock().await;
        let dir = self.config.models_dir.clone();
        let loaded = tokio::task::spawn_blocking(move || load_dir(&dir))
            .await
            .map_err(|e| ServerError::Usage(format!("reload task failed: {e}")));
        let (loaded, failed) = match loaded.and_then(|r| r) {
            Ok(x) => x,
            Err(e) => {
                self.metrics.count_reload(false, self.models.load().by_name.len());
                tracing::error!(error = %e, "reload failed; the previous models keep serving");
                return Err(e);
            }
        };
        let current = self.models.load_full();
        let kept: Vec<Arc<ModelEntry>> = failed
            .iter()
            .filter_map(|f| current.by_file(&f.file).cloned())
            .collect();
        let set = build_set(loaded, kept, &self.metrics, self.config.cache_top);
        let report = ReloadReport {
            models: set.by_name.keys().cloned().collect(),
            failed,
        };
        self.metrics
            .count_reload(report.failed.is_empty(), set.by_name.len());
        self.store(set);
        tracing::info!(models = ?report.models, failed = report.failed.len(), "models reloaded");
        Ok(report)
    }
}

impl AppState {
    /// Serves `set` from now on; with live events, first drops the events every model of the
    /// set contains and recounts the popularity deltas (under the apply lock, so no event is
    /// counted twice or lost between the two sets).
    pub fn store(&self, set: ModelSet) {
        match &self.live {
            Some(live) => {
                let _guard = live.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
                live.rebase(set.by_name.values().map(|e| e.live_view()));
                self.models.store(Arc::new(set));
            }
            None => self.models.store(Arc::new(set)),
        }
    }
}

/// RFC 3339 UTC time (seconds precision).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::ingest::time::format_utc(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kinds_unless_a_kind_repeats() {
        let names = assign_names(&[("als", "a.safetensors"), ("popularity", "p.safetensors")], &[]);
        assert_eq!(names, ["als", "popularity"]);
        let names = assign_names(&[("als", "als.safetensors"), ("als", "als-v2.safetensors")], &[]);
        assert_eq!(names, ["als", "als-v2"]);
        let names = assign_names(&[("als", "b.safetensors")], &["als".to_string()]);
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn rfc3339_formats_utc() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
