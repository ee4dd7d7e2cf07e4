//! The options of `reco serve` (command line) and the configuration they build.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, ServerError};

/// Command-line options of `reco serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Folder of model files (`*.safetensors`, as written by `reco train`), or the URL of a
    /// model store to follow as a replica: another `reco serve` (`http://primary:8000`) or an
    /// S3-compatible bucket (`s3://bucket/prefix`; credentials, region and endpoint from the
    /// AWS_* variables), polled every --poll, its files mirrored into --models-cache.
    #[arg(long, default_value = "models")]
    pub models: String,
    /// Where a replica keeps the files of its model store (with --models URL); it starts
    /// from them when the store is down at start-up.
    #[arg(long, default_value = "models-cache")]
    pub models_cache: PathBuf,
    /// How often a replica asks its model store for new versions (ETag requests: an unchanged
    /// file costs a 304), e.g. `30s`, `5m`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub poll: Duration,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// A/B split for `GET /recommend/{user_id}`, e.g. `als=50,lightfm=50` (deterministic per user).
    #[arg(long, value_parser = AbSplit::parse)]
    pub ab: Option<AbSplit>,
    /// Bearer token for the admin routes (`POST /admin/reload`); else env RECO_ADMIN_TOKEN.
    /// With neither, the admin routes are off.
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Allowed CORS origin (repeatable); default: any origin.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Request timeout in seconds (answer: 503).
    #[arg(long, default_value_t = 10.0)]
    pub request_timeout: f64,
    /// Largest request body in bytes (larger: 413, at once when `Content-Length` says so).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_body: usize,
    /// Folder of static files served under /web/ (the browser demo).
    #[arg(long)]
    pub web: Option<PathBuf>,
    /// Memoize each known user's top K list on first request (answers for n <= K come from
    /// it; dropped on reload). 0 = always compute live.
    #[arg(long, default_value_t = 100)]
    pub cache_top: usize,
    /// Seconds a client has to send a request's head (request line and headers), counted from
    /// the connection's opening, or from the first byte of a later request on a kept-alive
    /// connection; the connection is closed otherwise. A real head is a few hundred bytes, so
    /// 10 s covers very slow links while idle or half-sent sockets cannot pile up.
    #[arg(long, default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds a kept-alive connection may wait for its next request, and longest time a
    /// request in progress may go without a byte read or written (a client that stops reading
    /// an answer); then the connection is closed. 75 s outlasts the 60 s idle timeout of common
    /// load balancers, so they close their pooled connections before the server does.
    #[arg(long, default_value_t = 75.0)]
    pub idle_timeout: f64,
    /// Most connections open at once. At the cap the connection idle the longest is closed to
    /// make room; if all are busy, new ones wait in the kernel's listen backlog. Lowered at
    /// start-up to the open-file limit (`ulimit -n`) minus 64 descriptors kept for files.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Accept live events (`POST /events`) and keep them durably in this folder (append-only
    /// segments, replayed at start-up). Needs --events-token.
    #[arg(long, help_heading = "Live events")]
    pub events_dir: Option<PathBuf>,
    /// Bearer token `POST /events` requires; else env RECO_EVENTS_TOKEN.
    #[arg(long, help_heading = "Live events")]
    pub events_token: Option<String>,
    /// The features folder the models were trained on (`reco ingest`'s output): a retrain
    /// trains on it plus every logged event. Needed by --retrain-every and POST /admin/retrain.
    #[arg(long, help_heading = "Live events")]
    pub features: Option<PathBuf>,
    /// Retrain every model (with the hyperparameters recorded in its file) in the background
    /// this often, e.g. `30m`, `6h`, `1d`; then the log's contained segments are archived.
    #[arg(long, value_parser = parse_duration, help_heading = "Live events")]
    pub retrain_every: Option<Duration>,
    /// Threads a background retrain may use (the rest keep serving).
    #[arg(long, default_value_t = 1, help_heading = "Live events")]
    pub retrain_threads: usize,
}

/// Parses `90`, `90s`, `15m`, `6h` or `1d` (a positive whole number of seconds, minutes,
/// hours or days).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 90s, 15m, 6h, 1d)"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use s, m, h or d)")),
    };
    if n == 0 || n > 10_000 * 86_400 / secs {
        return Err(format!("`{s}` must be between 1 second and 10,000 days"));
    }
    Ok(Duration::from_secs(n * secs))
}

/// The model store a replica follows.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Its URL.
    pub url: String,
    /// Poll period.
    pub poll: Duration,
}

/// Live events: where they are kept and the token that writes them.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// The log folder.
    pub dir: PathBuf,
    /// Bearer token of `POST /events`.
    pub token: String,
}

/// Background retraining.
#[derive(Debug, Clone, Default)]
pub struct RetrainConfig {
    /// The features folder of the base training data.
    pub features: Option<PathBuf>,
    /// Retrain period.
    pub every: Option<Duration>,
    /// Threads of a retrain.
    pub threads: usize,
}

/// Everything [`super::serve`] needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Folder of model files (a replica's cache of its store).
    pub models_dir: PathBuf,
    /// The model store this replica follows, if any.
    pub store: Option<StoreConfig>,
    /// Listen address (port 0 = any free port).
    pub addr: SocketAddr,
    /// A/B split for `GET /recommend/{user_id}`.
    pub ab: Option<AbSplit>,
    /// Admin bearer token; `None` turns the admin routes off.
    pub admin_token: Option<String>,
    /// Allowed CORS origins; empty = any.
    pub cors_origins: Vec<String>,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Static files served under /web/.
    pub web_dir: Option<PathBuf>,
    /// Reload the models on SIGHUP.
    pub reload_on_sighup: bool,
    /// Length of the memoized per-user top lists (0 = off).
    pub cache_top: usize,
    /// Time allowed for a request head (`--header-timeout`).
    pub header_timeout: Duration,
    /// Keep-alive idle timeout and longest stall of a request (`--idle-timeout`).
    pub idle_timeout: Duration,
    /// Most connections open at once (`--max-connections`; clamped to the open-file limit).
    pub max_connections: usize,
    /// Live events (`--events-dir`, `--events-token`); `None`: `POST /events` is off.
    pub events: Option<EventsConfig>,
    /// Background retraining.
    pub retrain: RetrainConfig,
}

impl ServeConfig {
    /// Defaults: 127.0.0.1:8000, no A/B, admin off, any CORS origin, 10 s, 64 KiB, SIGHUP
    /// reload, top-100 memo, 10 s header timeout, 75 s idle timeout, 1024 connections.
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            models_dir: models_dir.into(),
            store: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            ab: None,
            admin_token: None,
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
            web_dir: None,
            reload_on_sighup: true,
            cache_top: 100,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
            events: None,
            retrain: RetrainConfig {
                threads: 1,
                ..Default::default()
            },
        }
    }
}

impl ServeArgs {
    /// The configuration these options describe (the token falls back to RECO_ADMIN_TOKEN).
    pub fn to_config(&self) -> Result<ServeConfig> {
        let seconds = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 1e9 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(ServerError::Usage(format!(
                    "{flag} must be a positive number of seconds, got {v}"
                )))
            }
        };
        let request_timeout = seconds("--request-timeout", self.request_timeout)?;
        let header_timeout = seconds("--header-timeout", self.header_timeout)?;
        let idle_timeout = seconds("--idle-timeout", self.idle_timeout)?;
        if self.max_connections == 0 {
            return Err(ServerError::Usage("--max-connections must be at least 1".into()));
        }
        let admin_token = self
            .admin_token
            .clone()
            .or_else(|| std::env::var("RECO_ADMIN_TOKEN").ok())
            .filter(|t| !t.is_empty());
        let events_token = self
            .events_token
            .clone()
            .or_else(|| std::env::var("RECO_EVENTS_TOKEN").ok())
            .filter(|t| !t.is_empty());
        let events = match (&self.events_dir, events_token) {
            (Some(dir), Some(token)) => Some(EventsConfig {
                dir: dir.clone(),
                token,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ServerError::Usage(
                    "--events-dir needs a token for POST /events: add --events-token TOKEN (or set RECO_EVENTS_TOKEN)"
                        .into(),
                ))
            }
            (None, Some(_)) if self.events_token.is_some() => {
                return Err(ServerError::Usage(
                    "--events-token needs --events-dir DIR, the folder that keeps the events".into(),
                ))
            }
            (None, Some(_)) => None,
        };
        if self.retrain_every.is_some() && self.features.is_none() {
            return Err(ServerError::Usage(
                "--retrain-every needs --features DIR, the folder `reco ingest` wrote and the models were trained on"
                    .into(),
            ));
        }
        if self.retrain_threads == 0 {
            return Err(ServerError::Usage("--retrain-threads must be at least 1".into()));
        }
        let (models_dir, store) = if super::store::is_url(&self.models) {
            if self.retrain_every.is_some() || self.events_dir.is_some() {
                return Err(ServerError::Usage(
                    "a replica (--models URL) serves its store's models: events and retraining belong on the primary".into(),
                ));
            }
            let store = StoreConfig {
                url: self.models.clone(),
                poll: self.poll,
            };
            (self.models_cache.clone(), Some(store))
        } else {
            (PathBuf::from(&self.models), None)
        };
        Ok(ServeConfig {
            events,
            retrain: RetrainConfig {
                features: self.features.clone(),
                every: self.retrain_every,
                threads: self.retrain_threads,
            },
            models_dir,
            store,
            addr: SocketAddr::new(self.host, self.port),
            ab: self.ab.clone(),
            admin_token,
            cors_origins: self.cors_origins.clone(),
            request_timeout,
            max_body: self.max_body,
            web_dir: self.web.clone(),
            reload_on_sighup: true,
            cache_top: self.cache_top.min(reco_core::recommender::MAX_N),
            header_timeout,
            idle_timeout,
            max_connections: self.max_connections,
        })
    }
}

/// A weighted split of users between models, deterministic per user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbSplit {
    variants: Vec<(String, u32)>,
    /// Sum of the weights (u64: thousands of variants of weight 10⁶ overflow a u32).
    total: u64,
}

impl AbSplit {
    /// Parses `als=50,lightfm=50` (weights are positive integers, any total).
    pub fn parse(s: &str) -> std::result::Result<AbSplit, String> {
        let mut variants = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("--ab: `{part}` is not MODEL=WEIGHT (e.g. als=50,lightfm=50)"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .ok()
                .filter(|&w| w > 0 && w <= 1_000_000)
                .ok_or_else(|| format!("--ab: weight of `{name}` must be an integer in 1..=1000000"))?;
            let name = name.trim().to_string();
            if variants.iter().any(|(n, _)| *n == name) {
                return Err(format!("--ab: `{name}` appears twice"));
            }
            variants.push((name, weight));
        }
        if variants.is_empty() {
            return Err("--ab: no variants (e.g. --ab als=50,lightfm=50)".into());
        }
        let total = variants.iter().map(|&(_, w)| u64::from(w)).sum();
        Ok(AbSplit { variants, total })
    }

    /// The variant names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.variants.iter().map(|(n, _)| n.as_str())
    }

    /// The variant for `user_id` (FNV-1a hash of the id, so stable across restarts).
    pub fn assign(&self, user_id: &str) -> &str {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in user_id.as_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut slot = h % self.total;
        for (name, w) in &self.variants {
            if slot < u64::from(*w) {
                return name;
            }
            slot -= u64::from(*w);
        }
        &self.variants[0].0
    }
}

impl std::fmt::Display for AbSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, w)) in self.variants.iter().enumerate() {
            write!(f, "{}{name}={w}", if i > 0 { "," } else { "" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ab_split_is_deterministic_and_roughly_weighted() {
        let ab = AbSplit::parse("als=50, lightfm=50").unwrap();
        assert_eq!(ab.assign("17850"), ab.assign("17850"));
        let als = (0..10_000).filter(|u| ab.assign(&u.to_string()) == "als").count();
        assert!((4_000..6_000).contains(&als), "{als}");
        assert!(AbSplit::parse("als").is_err());
        assert!(AbSplit::parse("als=0").is_err());
        assert!(AbSplit::parse("als=x").is_err());
        assert!(AbSplit::parse("als=1,als=2").is_err());
        assert!(AbSplit::parse("").is_err());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("6h").unwrap(), Duration::from_secs(21_600));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        for bad in ["", "0", "m", "5x", "-5s", "1.5h", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
