//! A model store a replica follows (`reco serve --models http://primary:8000`): another
//! `reco serve` whose `GET /` lists its model files and `GET /models/{file}` serves them with
//! ETags. Each poll asks for every listed file with `If-None-Match`, downloads what changed,
//! checks that it loads, and writes it atomically into the local cache folder (which the
//! replica then reloads, like a local reload); files no longer listed are removed. A store
//! that is down or serves a broken file changes nothing: the last good models keep serving,
//! and the failure shows in `/` and `/metrics`.
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reco_core::model_file::write_atomic;
use reco_core::recommender::Recommender;
use serde_json::Value;

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

/// The store a replica follows.
pub struct Store {
    /// The store's base URL (`http://host:port`), as given.
    pub url: String,
    root: String,
    cache: PathBuf,
    agent: ureq::Agent,
    etags: Mutex<HashMap<String, String>>,
    /// What the polls found.
    pub status: StoreStatus,
}

/// True when `models` names a model store rather than a folder.
pub fn is_url(models: &str) -> bool {
    models.starts_with("http://") || models.starts_with("https://")
}

impl Store {
    /// A store at `url` (`http(s)://host:port`, optionally ending in `/models/`) mirrored
    /// into `cache`.
    pub fn new(url: &str, cache: &Path, timeout: Duration) -> Result<Store, String> {
        if !is_url(url) {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        }
        let root = url.trim_end_matches('/').trim_end_matches("/models").to_string();
        std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Ok(Store {
            url: url.to_string(),
            root,
            cache: cache.to_path_buf(),
            agent,
            etags: Mutex::new(HashMap::new()),
            status: StoreStatus::default(),
        })
    }

    /// The model files the store lists now.
    fn list(&self) -> Result<Vec<String>, String> {
        let mut resp = self
            .agent
            .get(format!("{}/", self.root))
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
        let mut files: Vec<String> = health["models"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|v| v["file"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
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
    pub fn sync(&self) -> Result<bool, String> {
        let result = self.sync_inner();
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

    fn sync_inner(&self) -> Result<bool, String> {
        let files = self.list()?;
        let mut changed = false;
        for file in &files {
            let local = self.cache.join(file);
            let known = self
                .etags
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(file)
                .cloned();
            let mut req = self.agent.get(format!("{}/models/{file}", self.root));
            if let Some(etag) = known.as_ref().filter(|_| local.is_file()) {
                req = req.header("if-none-match", etag);
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
            Recommender::from_bytes(&bytes)
                .map_err(|e| format!("{file} from {} does not load: {e}", self.url))?;
            write_atomic(&local, &bytes).map_err(|e| format!("cannot write {}: {e}", local.display()))?;
            self.status.downloads.fetch_add(1, Relaxed);
            if let Some(etag) = etag {
                self.etags
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(file.clone(), etag);
            }
            changed = true;
        }
        // Files the store no longer lists leave the cache (and so the replica).
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
