//! A model store a replica follows:
//! - `--models http://primary:8000`: another `reco serve`, whose `GET /` lists its model files
//!   and `GET /models/{file}` serves them with ETags (each poll asks with `If-None-Match`);
//! - `--models s3://bucket/prefix`: an S3-compatible object store through `object_store`
//!   (credentials, region and endpoint from the usual `AWS_*` variables, e.g. `AWS_ENDPOINT`
//!   and `AWS_ALLOW_HTTP=true` for MinIO or moto); the `*.safetensors` objects directly under
//!   the prefix, compared by ETag.
//!
//! A poll downloads what changed, checks that it loads, and writes it atomically into the local
//! cache folder (which the replica then reloads, like a local reload); files no longer listed
//! are removed. A store that is down or serves a broken file changes nothing: the last good
//! models keep serving, and the failure shows in `/` and `/metrics`.
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reco_core::model_file::write_atomic;
use reco_core::recommender::Recommender;
use serde_json::Value;

/// Time to connect to an HTTP store.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for an HTTP store to start answering (the body may then take as long as it needs).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest an S3 request is retried before the poll fails.
#[cfg(feature = "s3")]
const RETRY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest model file a replica downloads.
const MAX_FILE_BYTES: u64 = 16 << 30;

/// Counters and the last error of the polls.
#[derive(Default)]
pub struct StoreStatus {
    /// Polls that reached the store (whether or not anything changed).
    pub polls_ok: AtomicU64,
    /// Polls that failed.
    pub polls_failed: AtomicU64,
    /// Failures since the last success.
    pub consecutive_failures: AtomicU64,
    /// Unix seconds of the last successful poll (0: none yet).
    pub last_success_unix: AtomicU64,
    /// Model files downloaded.
    pub downloads: AtomicU64,
    /// The last failure, for the health answer.
    pub last_error: Mutex<Option<String>>,
}

/// Where the files come from.
enum Source {
    /// Another `reco serve` at this root URL.
    Http { root: String, agent: ureq::Agent },
    /// An S3-compatible bucket and the prefix of the files.
    #[cfg(feature = "s3")]
    S3 {
        store: Box<dyn object_store::ObjectStore>,
        prefix: object_store::path::Path,
    },
}

/// The store a replica follows.
pub struct Store {
    /// The store's URL, as given.
    pub url: String,
    source: Source,
    cache: PathBuf,
    etags: Mutex<HashMap<String, String>>,
    /// What the polls found.
    pub status: StoreStatus,
}

/// True when `models` names a model store rather than a folder.
pub fn is_url(models: &str) -> bool {
    ["http://", "https://", "s3://"]
        .iter()
        .any(|p| models.starts_with(p))
}

impl Store {
    /// A store at `url` (`http(s)://host:port`, optionally ending in `/models/`, or
    /// `s3://bucket/prefix`) mirrored into `cache`.
    pub fn new(url: &str, cache: &Path) -> Result<Store, String> {
        #[cfg(not(feature = "s3"))]
        if url.starts_with("s3://") {
            return Err(format!(
                "cannot use the S3 store {url}: this reco was built without the `s3` feature \
                 (rebuild with default features, or serve the files over http:// from another reco serve)"
            ));
        }
        #[cfg(feature = "s3")]
        let source = if let Some(rest) = url.strip_prefix("s3://") {
            let prefix = rest.split_once('/').map_or("", |(_, p)| p).trim_matches('/');
            // A store that is down must fail the poll soon (the default retries for minutes).
            let retry = object_store::RetryConfig {
                max_retries: 2,
                retry_timeout: RETRY_TIMEOUT,
                ..Default::default()
            };
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(|e| format!("cannot use the S3 store {url}: {e}"))?;
            Source::S3 {
                store: Box::new(store),
                prefix: object_store::path::Path::from(prefix),
            }
        } else {
            Self::http_source(url)?
        };
        #[cfg(not(feature = "s3"))]
        let source = Self::http_source(url)?;
        std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
        Ok(Store {
            url: url.to_string(),
            source,
            cache: cache.to_path_buf(),
            etags: Mutex::new(HashMap::new()),
            status: StoreStatus::default(),
        })
    }

    /// The source for another `reco serve` at `url`.
    fn http_source(url: &str) -> Result<Source, String> {
        if is_url(url) && !url.starts_with("s3://") {
            let agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_recv_response(Some(RESPONSE_TIMEOUT))
                .build()
                .into();
            Ok(Source::Http {
                root: url.trim_end_matches('/').trim_end_matches("/models").to_string(),
                agent,
            })
        } else {
            Err(format!("`{url}` is not an http://, https:// or s3:// URL"))
        }
    }

    /// The model files another `reco serve` lists now.
    fn list_http(&self, root: &str, agent: &ureq::Agent) -> Result<Vec<String>, String> {
        let mut resp = agent
            .get(format!("{root}/"))
            .header("accept", "application/json")
            .call()
            .map_err(|e| format!("cannot reach the model store {}: {e}", self.url))?;
        if resp.status() != 200 {
            return Err(format!(
                "the model store {} answered {} to GET /",
                self.url,
                resp.status()
            ));
        }
        let health: Value = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_json()
            .map_err(|e| format!("the model store {} sent no model list: {e}", self.url))?;
        let files: Vec<String> = health["models"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|v| v["file"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.checked(files)
    }

    /// `files` sorted, checked to be plain model file names, and not empty.
    fn checked(&self, mut files: Vec<String>) -> Result<Vec<String>, String> {
        files.sort();
        files.dedup();
        if let Some(bad) = files.iter().find(|f| !safe_file_name(f)) {
            return Err(format!(
                "the model store lists an unsafe file name `{}`",
                bad.escape_debug()
            ));
        }
        if files.is_empty() {
            return Err(format!("the model store {} lists no model file", self.url));
        }
        Ok(files)
    }

    /// One poll: mirrors the store into the cache folder; returns whether a file changed.
    /// On error nothing that was checked is lost and nothing broken is written.
    pub async fn sync(self: &std::sync::Arc<Self>) -> Result<bool, String> {
        let result = match &self.source {
            Source::Http { .. } => {
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.sync_http())
                    .await
                    .unwrap_or_else(|e| Err(format!("the poll task failed: {e}")))
            }
            #[cfg(feature = "s3")]
            Source::S3 { store, prefix } => self.sync_s3(store.as_ref(), prefix).await,
        };
        let s = &self.status;
        match &result {
            Ok(_) => {
                s.polls_ok.fetch_add(1, Relaxed);
                s.consecutive_failures.store(0, Relaxed);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                s.last_success_unix.store(now, Relaxed);
                *s.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Err(e) => {
                s.polls_failed.fetch_add(1, Relaxed);
                s.consecutive_failures.fetch_add(1, Relaxed);
                *s.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
            }
        }
        result
    }

    fn etag_of(&self, file: &str) -> Option<String> {
        self.etags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(file)
            .cloned()
    }

    /// Checks that `bytes` load, writes them as `file` in the cache, remembers `etag`.
    fn keep(&self, file: &str, bytes: &[u8], etag: Option<String>) -> Result<(), String> {
        Recommender::from_bytes(bytes).map_err(|e| format!("{file} from {} does not load: {e}", self.url))?;
        let local = self.cache.join(file);
        write_atomic(&local, bytes).map_err(|e| format!("cannot write {}: {e}", local.display()))?;
        self.status.downloads.fetch_add(1, Relaxed);
        let mut etags = self.etags.lock().unwrap_or_else(|p| p.into_inner());
        match etag {
            Some(etag) => etags.insert(file.to_string(), etag),
            None => etags.remove(file),
        };
        Ok(())
    }

    // Without the `s3` feature `Http` is the only source.
    #[cfg_attr(not(feature = "s3"), allow(irrefutable_let_patterns))]
    fn sync_http(&self) -> Result<bool, String> {
        let Source::Http { root, agent } = &self.source else {
            return Ok(false);
        };
        let files = self.list_http(root, agent)?;
        let mut changed = false;
        for file in &files {
            let local = self.cache.join(file);
            let mut req = agent.get(format!("{root}/models/{file}"));
            if let Some(etag) = self.etag_of(file).filter(|_| local.is_file()) {
                req = req.header("if-none-match", &etag);
            }
            let mut resp = req
                .call()
                .map_err(|e| format!("cannot download {file} from {}: {e}", self.url))?;
            match resp.status().as_u16() {
                304 => continue,
                200 => {}
                other => return Err(format!("the model store answered {other} for {file}")),
            }
            let etag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut bytes = Vec::new();
            resp.body_mut()
                .with_config()
                .limit(MAX_FILE_BYTES)
                .reader()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("downloading {file} from {} failed: {e}", self.url))?;
            self.keep(file, &bytes, etag)?;
            changed = true;
        }
        Ok(self.prune(&files)? || changed)
    }

    #[cfg(feature = "s3")]
    async fn sync_s3(
        &self,
        store: &dyn object_store::ObjectStore,
        prefix: &object_store::path::Path,
    ) -> Result<bool, String> {
        use futures_util::TryStreamExt;
        let listed: Vec<object_store::ObjectMeta> = store
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(|e| format!("cannot list {}: {e}", self.url))?
            .objects;
        let metas: Vec<(String, object_store::ObjectMeta)> = listed
            .into_iter()
            .filter_map(|m| Some((m.location.filename()?.to_string(), m)))
            .filter(|(name, _)| name.ends_with(".safetensors"))
            .collect();
        let files = self.checked(metas.iter().map(|(n, _)| n.clone()).collect())?;
        let mut changed = false;
        for (file, meta) in &metas {
            if meta.size > MAX_FILE_BYTES {
                return Err(format!(
                    "{file} is {} bytes, over the {MAX_FILE_BYTES} a replica takes",
                    meta.size
                ));
            }
            let unchanged =
                meta.e_tag.is_some() && self.etag_of(file) == meta.e_tag && self.cache.join(file).is_file();
            if unchanged {
                continue;
            }
            let got = store
                .get(&meta.location)
                .await
                .map_err(|e| format!("cannot download {file} from {}: {e}", self.url))?;
            let etag = got.meta.e_tag.clone();
            let bytes: Vec<u8> = got
                .into_stream()
                .try_fold(Vec::new(), |mut acc, chunk| async move {
                    acc.extend_from_slice(&chunk);
                    Ok(acc)
                })
                .await
                .map_err(|e| format!("downloading {file} from {} failed: {e}", self.url))?;
            self.keep(file, &bytes, etag)?;
            changed = true;
        }
        Ok(self.prune(&files)? || changed)
    }

    /// Removes the cached files the store no longer lists; true if any was.
    fn prune(&self, files: &[String]) -> Result<bool, String> {
        let mut changed = false;
        let entries = std::fs::read_dir(&self.cache)
            .map_err(|e| format!("cannot read {}: {e}", self.cache.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".safetensors") && !files.contains(&name) {
                std::fs::remove_file(entry.path()).map_err(|e| format!("cannot remove {name}: {e}"))?;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// The store's state for the health answer.
    pub fn health(&self) -> Value {
        let s = &self.status;
        serde_json::json!({
            "url": self.url,
            "ok": s.consecutive_failures.load(Relaxed) == 0 && s.last_success_unix.load(Relaxed) > 0,
            "last_success": s.last_success_unix.load(Relaxed),
            "consecutive_failures": s.consecutive_failures.load(Relaxed),
            "last_error": *s.last_error.lock().unwrap_or_else(|p| p.into_inner()),
        })
    }
}

/// A plain `NAME.safetensors` (no path separators, no leading dot, no control characters).
fn safe_file_name(f: &str) -> bool {
    f.ends_with(".safetensors")
        && !f.starts_with('.')
        && !f.contains(['/', '\\'])
        && f.len() <= 255
        && !f.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_model_file_names_are_accepted() {
        assert!(safe_file_name("als.safetensors"));
        for bad in [
            "../x.safetensors",
            "a/b.safetensors",
            ".hidden.safetensors",
            "x.bin",
            "a\nb.safetensors",
        ] {
            assert!(!safe_file_name(bad), "{bad}");
        }
        assert!(is_url("http://h:1") && is_url("https://h") && !is_url("models"));
    }
}
