//! A small Prometheus registry of atomics, owned by one server (no global recorder, so any
//! number of servers can run in one process, as tests do).
//!
//! The request path only touches atomics: per-model series live in an `Arc` held by the
//! loaded model, and the registry map is locked only when models are (re)loaded and on scrape.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Status-class labels, by `status / 100 - 1`.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The routes, as metric labels (their path templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`
    Health,
    /// `GET /recommend/{model}/{user_id}`
    RecommendUser,
    /// `POST /recommend/{model}`
    RecommendBasket,
    /// `GET /recommend/{user_id}` (A/B)
    RecommendAb,
    /// `GET /similar/{model}/{item_id}`
    Similar,
    /// `GET /models/{file}`
    ModelFile,
    /// `GET /web/...`
    Web,
    /// `POST /admin/reload`
    AdminReload,
    /// `POST /events`
    Events,
    /// `POST /admin/retrain`
    AdminRetrain,
    /// `GET /metrics`
    Metrics,
    /// `GET /docs`, `GET /openapi.json`
    Docs,
    /// Anything else (unknown paths).
    Other,
}

impl Route {
    const COUNT: usize = 13;
    const ALL: [Route; Route::COUNT] = [
        Route::Health,
        Route::RecommendUser,
        Route::RecommendBasket,
        Route::RecommendAb,
        Route::Similar,
        Route::ModelFile,
        Route::Web,
        Route::AdminReload,
        Route::Events,
        Route::AdminRetrain,
        Route::Metrics,
        Route::Docs,
        Route::Other,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Route::Health => "/",
            Route::RecommendUser => "/recommend/{model}/{user_id}",
            Route::RecommendBasket => "/recommend/{model}",
            Route::RecommendAb => "/recommend/{user_id}",
            Route::Similar => "/similar/{model}/{item_id}",
            Route::ModelFile => "/models/{file}",
            Route::Web => "/web/{path}",
            Route::AdminReload => "/admin/reload",
            Route::Events => "/events",
            Route::AdminRetrain => "/admin/retrain",
            Route::Metrics => "/metrics",
            Route::Docs => "/docs",
            Route::Other => "other",
        }
    }

    /// The route of a matched path template and method (`None` when unmatched).
    pub fn from_template(template: Option<&str>, is_post: bool) -> Route {
        match template {
            Some("/") => Route::Health,
            Some("/recommend/{model}/{user_id}") => Route::RecommendUser,
            Some("/recommend/{key}") if is_post => Route::RecommendBasket,
            Some("/recommend/{key}") => Route::RecommendAb,
            Some("/similar/{model}/{item_id}") => Route::Similar,
            Some("/models/{file}") => Route::ModelFile,
            Some(t) if t.starts_with("/web") => Route::Web,
            Some("/admin/reload") => Route::AdminReload,
            Some("/events") => Route::Events,
            Some("/admin/retrain") => Route::AdminRetrain,
            Some("/metrics") => Route::Metrics,
            Some(t) if t.starts_with("/docs") || t == "/openapi.json" => Route::Docs,
            _ => Route::Other,
        }
    }
}

/// A latency histogram plus response counts by status class.
#[derive(Default)]
pub struct Series {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    status: [AtomicU64; 5],
}

impl Series {
    /// Records one request.
    pub fn observe(&self, elapsed: Duration, status: u16) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(elapsed.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.status[class].fetch_add(1, Relaxed);
    }
}

/// Counters of the retrains, for `/metrics`.
#[derive(Default)]
pub struct RetrainMetrics {
    /// Retrains that swapped in new models.
    pub ok: AtomicU64,
    /// Retrains that failed (the old models kept serving).
    pub failed: AtomicU64,
    /// Unix seconds when the last successful retrain finished.
    pub last_unix: AtomicU64,
    /// Duration of the last successful retrain, in milliseconds.
    pub last_millis: AtomicU64,
}

/// Counters of one served model (kept across reloads, by model name).
#[derive(Default)]
pub struct ModelMetrics {
    routes: [Series; Route::COUNT],
    fallback_popularity: AtomicU64,
    fallback_partial: AtomicU64,
    ab_assignments: AtomicU64,
}

impl ModelMetrics {
    /// Records one request answered by this model.
    pub fn observe(&self, route: Route, elapsed: Duration, status: u16) {
        self.routes[route as usize].observe(elapsed, status);
    }

    /// Counts a fallback answer (`partial` or `popularity`).
    pub fn count_fallback(&self, fallback: reco_core::recommender::Fallback) {
        use reco_core::recommender::Fallback;
        match fallback {
            Fallback::None => {}
            Fallback::Partial => {
                self.fallback_partial.fetch_add(1, Relaxed);
            }
            Fallback::Popularity => {
                self.fallback_popularity.fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts one A/B assignment to this model.
    pub fn count_ab(&self) {
        self.ab_assignments.fetch_add(1, Relaxed);
    }
}

/// The registry of one server.
#[derive(Default)]
pub struct Metrics {
    global: ModelMetrics,
    models: Mutex<BTreeMap<String, Arc<ModelMetrics>>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    models_loaded: AtomicU64,
}

impl Metrics {
    /// The series of requests not tied to a model.
    pub fn global(&self) -> &ModelMetrics {
        &self.global
    }

    /// The (shared, persistent) counters of the model named `name`.
    pub fn model(&self, name: &str) -> Arc<ModelMetrics> {
        let mut map = self.models.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string()).or_default().clone()
    }

    /// Counts a reload (`ok` = every file loaded) and sets the number of loaded models.
    pub fn count_reload(&self, ok: bool, models_loaded: usize) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .fetch_add(1, Relaxed);
        self.models_loaded.store(models_loaded as u64, Relaxed);
    }

    /// Sets the number of loaded models (at start-up).
    pub fn set_models_loaded(&self, n: usize) {
        self.models_loaded.store(n as u64, Relaxed);
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let models: Vec<(String, Arc<ModelMetrics>)> = {
            let map = self.models.lock().unwrap_or_else(|e| e.into_inner());
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let all: Vec<(&str, &ModelMetrics)> = std::iter::once(("", &self.global))
            .chain(models.iter().map(|(k, v)| (k.as_str(), v.as_ref())))
            .collect();
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP reco_http_requests_total HTTP requests by route, model and status class.\n");
        out.push_str("# TYPE reco_http_requests_total counter\n");
        for &(model, m) in &all {
            for route in Route::ALL {
                let s = &m.routes[route as usize];
                for (class, label) in STATUS_CLASSES.iter().enumerate() {
                    let v = s.status[class].load(Relaxed);
                    if v > 0 {
                        let _ = writeln!(
                            out,
                            "reco_http_requests_total{{route=\"{}\",model=\"{}\",status=\"{label}\"}} {v}",
                            route.label(),
                            escape(model)
                        );
                    }
                }
            }
        }
        out.push_str("# HELP reco_http_request_duration_seconds Request latency by route and model.\n");
        out.push_str("# TYPE reco_http_request_duration_seconds histogram\n");
        for &(model, m) in &all {
            for route in Route::ALL {
                let s = &m.routes[route as usize];
                let count = s.count.load(Relaxed);
                if count == 0 {
                    continue;
                }
                let labels = format!("route=\"{}\",model=\"{}\"", route.label(), escape(model));
                let mut cumulative = 0;
                for (i, b) in BUCKETS.iter().enumerate() {
                    cumulative += s.buckets[i].load(Relaxed);
                    let _ = writeln!(
                        out,
                        "reco_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "reco_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
                );
                let sum = s.sum_nanos.load(Relaxed) as f64 / 1e9;
                let _ = writeln!(out, "reco_http_request_duration_seconds_sum{{{labels}}} {sum}");
                let _ = writeln!(
                    out,
                    "reco_http_request_duration_seconds_count{{{labels}}} {count}"
                );
            }
        }
        out.push_str(
            "# HELP reco_fallbacks_total Answers that used the popularity fallback, by model and kind.\n",
        );
        out.push_str("# TYPE reco_fallbacks_total counter\n");
        for (model, m) in &models {
            let model = escape(model);
            let pop = m.fallback_popularity.load(Relaxed);
            let partial = m.fallback_partial.load(Relaxed);
            let _ = writeln!(
                out,
                "reco_fallbacks_total{{model=\"{model}\",kind=\"popularity\"}} {pop}"
            );
            let _ = writeln!(
                out,
                "reco_fallbacks_total{{model=\"{model}\",kind=\"partial\"}} {partial}"
            );
        }
        out.push_str("# HELP reco_ab_assignments_total A/B assignments by variant.\n");
        out.push_str("# TYPE reco_ab_assignments_total counter\n");
        for (model, m) in &models {
            let _ = writeln!(
                out,
                "reco_ab_assignments_total{{variant=\"{}\"}} {}",
                escape(model),
                m.ab_assignments.load(Relaxed)
            );
        }
        out.push_str("# HELP reco_model_reloads_total Model reloads by result.\n");
        out.push_str("# TYPE reco_model_reloads_total counter\n");
        let _ = writeln!(
            out,
            "reco_model_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "reco_model_reloads_total{{result=\"error\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        out.push_str("# HELP reco_models_loaded Models currently served.\n");
        out.push_str("# TYPE reco_models_loaded gauge\n");
        let _ = writeln!(out, "reco_models_loaded {}", self.models_loaded.load(Relaxed));
        out
    }
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_status_classes() {
        let m = Metrics::default();
        let als = m.model("als");
        als.observe(Route::RecommendUser, Duration::from_micros(50), 200);
        als.observe(Route::RecommendUser, Duration::from_millis(3), 404);
        m.global().observe(Route::Health, Duration::from_micros(10), 200);
        m.global().observe(Route::Health, Duration::from_micros(10), 307);
        m.global().observe(Route::Web, Duration::from_micros(10), 304);
        let text = m.render();
        assert!(text.contains("reco_http_requests_total{route=\"/\",model=\"\",status=\"3xx\"} 1"));
        assert!(text.contains("reco_http_requests_total{route=\"/web/{path}\",model=\"\",status=\"3xx\"} 1"));
        assert!(text.contains(
            "reco_http_requests_total{route=\"/recommend/{model}/{user_id}\",model=\"als\",status=\"4xx\"} 1"
        ));
        assert!(text.contains(
            "reco_http_request_duration_seconds_bucket{route=\"/recommend/{model}/{user_id}\",model=\"als\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains(
            "reco_http_request_duration_seconds_bucket{route=\"/recommend/{model}/{user_id}\",model=\"als\",le=\"0.005\"} 2"
        ));
        assert!(text.contains("reco_http_requests_total{route=\"/\",model=\"\",status=\"2xx\"} 1"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
