//! `reco serve`: the REST server (axum + tokio) over the trained model files.
//!
//! [`serve`] is the library entry point: it loads the models folder, binds (port 0 picks a
//! free port, see [`Server::addr`]) and serves until [`Server::shutdown`]. [`run`] is the CLI
//! command: logging, runtime, SIGTERM / Ctrl-C graceful shutdown.
//!
//! The request path takes no lock: the model set is an `ArcSwap` (a reload swaps it whole;
//! requests in flight finish on the old set), score buffers are per thread, metrics are
//! atomics, and answers are serialized straight into the response body.
//!
//! Live events (`--events-dir`): `POST /events` hands each batch to one writer thread that
//! appends it to the log with one fsync per group of concurrent batches, applies it to the
//! per-user event lists, then acknowledges; recommendation routes fold those events in.
//!
//! Modules depend one way: `config`, `errors`, `items`, `metrics`, `live` ← `state` ←
//! `retrain` ← `routes`; `conn` (connections, timeouts, the cap) needs only `errors`; this
//! file wires them.
mod config;
mod conn;
mod errors;
mod items;
mod live;
mod metrics;
mod retrain;
mod routes;
mod state;
mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use config::{parse_duration, AbSplit, EventsConfig, RetrainConfig, ServeArgs, ServeConfig, StoreConfig};
pub use conn::{ConnLimits, ConnStats};
pub use errors::ApiError;
pub use live::MAX_BATCH;
pub use metrics::Route;
pub use retrain::RetrainReport;
pub use routes::{ApiDoc, FALLBACK_HEADER, MODEL_HEADER, UNKNOWN_ITEMS_HEADER, VARIANT_HEADER};
pub use state::{AppState, ReloadReport};

use crate::error::{Result, ServerError};
use crate::events;
use routes::ModelTag;

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    limits: ConnLimits,
    conn_stats: Arc<ConnStats>,
}

impl Server {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connection limits in force (`max_connections` after clamping to the file limit).
    pub fn limits(&self) -> ConnLimits {
        self.limits
    }

    /// Counters of the connection layer: accepted, timed out, evicted, accept errors.
    pub fn conn_stats(&self) -> &ConnStats {
        &self.conn_stats
    }

    /// Reloads the models (as `POST /admin/reload` and SIGHUP do).
    pub async fn reload(&self) -> Result<ReloadReport> {
        self.state.reload().await
    }

    /// Stops accepting connections, lets requests in flight finish, and returns.
    pub async fn shutdown(self) -> Result<()> {
        let Server { shutdown, task, .. } = self;
        let _ = shutdown.send(());
        task.await
            .map_err(|e| ServerError::Usage(format!("server task failed: {e}")))
    }
}

/// Loads the models of `config.models_dir` (every file must load), binds `config.addr` and
/// starts serving in the background.
pub async fn serve(config: ServeConfig) -> Result<Server> {
    let metrics = metrics::Metrics::default();
    let store = match &config.store {
        Some(sc) => Some(Arc::new(first_sync(sc, &config.models_dir).await?)),
        None => None,
    };
    let (dir, cache_top) = (config.models_dir.clone(), config.cache_top);
    let (models, metrics) = tokio::task::spawn_blocking(move || {
        state::load_initial(&dir, &metrics, cache_top).map(|m| (m, metrics))
    })
    .await
    .map_err(|e| ServerError::Usage(format!("model loading failed: {e}")))??;
    if let Some(ab) = &config.ab {
        for name in ab.names() {
            if models.get(name).is_none() {
                return Err(ServerError::Usage(format!(
                    "--ab names `{name}`, which is not a loaded model (loaded: {})",
                    models.names().join(", ")
                )));
            }
        }
    }
    let addr = config.addr;
    let mut state = AppState::new(config, models, metrics);
    state.store = store;
    let state = Arc::new(state);
    if let Some(events) = &state.config.events {
        start_events(&state, events.dir.clone()).await?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::io(addr.to_string(), e))?;
    let app = router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    if state.config.reload_on_sighup {
        spawn_sighup_reloader(state.clone());
    }
    if let Some(every) = state.config.retrain.every {
        spawn_retrainer(state.clone(), every);
    }
    if let (Some(store), Some(sc)) = (&state.store, &state.config.store) {
        spawn_store_poller(state.clone(), store.clone(), sc.poll);
    }
    let c = &state.config;
    let (max_connections, fd_limit) = conn::clamp_to_fd_limit(c.max_connections);
    if let Some(limit) = fd_limit {
        tracing::warn!(
            requested = c.max_connections,
            max_connections,
            open_file_limit = limit,
            "--max-connections lowered to fit the open-file limit (raise it with `ulimit -n`)"
        );
    }
    let limits = ConnLimits {
        header_timeout: c.header_timeout,
        idle_timeout: c.idle_timeout.max(c.request_timeout),
        max_connections,
    };
    // In-flight requests get their timeout; half-sent heads their header timeout.
    let grace = c.request_timeout.max(c.header_timeout) + Duration::from_secs(1);
    let conn_stats = Arc::new(ConnStats::default());
    let stats = conn_stats.clone();
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.await;
        };
        conn::serve(listener, app, limits, stats, stop, grace).await
    });
    Ok(Server {
        addr,
        state,
        shutdown: tx,
        task,
        limits,
        conn_stats,
    })
}

/// Opens the event log, replays it into the live state (reporting a torn tail or bad
/// records), and starts the writer thread.
async fn start_events(state: &Arc<AppState>, dir: std::path::PathBuf) -> Result<()> {
    let Some(live) = state.live.clone() else {
        return Ok(());
    };
    let (log, records, report) = tokio::task::spawn_blocking(move || events::EventLog::open(&dir))
        .await
        .map_err(|e| ServerError::Usage(format!("opening the event log failed: {e}")))??;
    if let Some((path, offset, bytes, reason)) = &report.torn_tail {
        tracing::warn!(file = %path.display(), offset, bytes, reason = %reason,
            "event log: dropped a torn last record (a crash mid-write; it was never acknowledged)");
    }
    for (path, offset, reason) in &report.corrupt {
        tracing::error!(file = %path.display(), offset, reason = %reason,
            "event log: a bad record before the end; the rest of that segment is not replayed");
    }
    {
        let _guard = live.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
        let set = state.models.load();
        live.apply(&records, set.by_name.values().map(|e| e.live_view()));
        live.rebase(set.by_name.values().map(|e| e.live_view()));
    }
    live.metrics
        .replayed
        .store(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(
        segments = report.segments,
        events = records.len(),
        live_users = live.users(),
        next_seq = log.next_seq(),
        "event log replayed"
    );
    let weak = Arc::downgrade(state);
    live.start_writer(log, move |records| {
        let Some(state) = weak.upgrade() else { return };
        if let Some(live) = &state.live {
            let _guard = live.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
            let set = state.models.load();
            live.apply(records, set.by_name.values().map(|e| e.live_view()));
        }
    })
    .map_err(|e| ServerError::Usage(format!("cannot start the event writer thread: {e}")))
}

/// The first poll of a replica's store: must succeed, unless the cache holds models from an
/// earlier run (then the replica starts on them and says so).
async fn first_sync(sc: &StoreConfig, cache: &std::path::Path) -> Result<store::Store> {
    let store = Arc::new(store::Store::new(&sc.url, cache).map_err(ServerError::Usage)?);
    match store.sync().await {
        Ok(_) => {}
        Err(e) if state::model_files(cache).is_ok() => {
            tracing::warn!(error = %e, cache = %cache.display(),
                "the model store is unreachable: starting on the cached models, polling on");
        }
        Err(e) => {
            return Err(ServerError::Usage(format!(
                "{e}; and {} holds no cached models to start from",
                cache.display()
            )))
        }
    }
    Arc::try_unwrap(store).map_err(|_| ServerError::Usage("the model store is still in use".into()))
}

/// Polls the store every `poll`; reloads when a file changed. A failed poll is logged (once
/// per outage, then at each recovery) and counted; the models being served stay.
fn spawn_store_poller(state: Arc<AppState>, store: Arc<store::Store>, poll: Duration) {
    let weak = Arc::downgrade(&state);
    drop(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { break };
            let was_failing = store.status.consecutive_failures.load(Ordering::Relaxed) > 0;
            match store.sync().await {
                Ok(changed) => {
                    if was_failing {
                        tracing::info!(url = %store.url, "the model store is reachable again");
                    }
                    if changed {
                        let _ = state.reload().await;
                    }
                }
                Err(e) if !was_failing => {
                    tracing::warn!(error = %e, "model store poll failed; the current models keep serving")
                }
                Err(_) => {}
            }
        }
    });
}

/// Retrains every `every` in the background (a failure is logged and counted; the next
/// period tries again).
fn spawn_retrainer(state: Arc<AppState>, every: Duration) {
    let weak = Arc::downgrade(&state);
    drop(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { break };
            let _ = retrain::retrain(&state).await;
        }
    });
}

#[cfg(unix)]
fn spawn_sighup_reloader(state: Arc<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload");
        return;
    };
    let weak = Arc::downgrade(&state);
    drop(state);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(state) = weak.upgrade() else { break };
            tracing::info!("SIGHUP: reloading models");
            let _ = state.reload().await;
        }
    });
}

#[cfg(not(unix))]
fn spawn_sighup_reloader(_state: Arc<AppState>) {}

/// The application: routes plus middleware (request ids, metrics and JSON errors, CORS,
/// timeout, panic catching, body limit).
pub fn router(state: Arc<AppState>) -> Router {
    let files = Router::new()
        .route("/models/{file}", get(routes::model_file))
        .route(
            "/web",
            get(|| async { axum::response::Redirect::permanent("/web/") }),
        )
        .route("/web/", get(routes::web_file))
        .route("/web/{*path}", get(routes::web_file))
        .layer(CompressionLayer::new());
    let app = Router::new()
        .route("/", get(routes::health))
        .route("/recommend/{model}/{user_id}", get(routes::recommend_user))
        .route(
            "/recommend/{key}",
            get(routes::recommend_ab).post(routes::recommend_basket),
        )
        .route("/similar/{model}/{item_id}", get(routes::similar))
        .route("/metrics", get(routes::metrics))
        .merge(files)
        // Always routed: without a token it answers 404 saying how to turn it on.
        .route("/admin/reload", post(routes::admin_reload))
        .route("/admin/retrain", post(routes::admin_retrain))
        .route("/events", post(routes::post_events))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()));
    with_layers(app, state)
}

/// Adds the fallbacks, the state and the middleware stack to `app`.
fn with_layers(app: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    let timeout = state.config.request_timeout;
    let max_body = state.config.max_body;
    let cors = cors_layer(&state.config.cors_origins);
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Inside CORS, so a browser can read the 413 too.
        .layer(middleware::from_fn_with_state(max_body, refuse_declared_oversize))
        .layer(cors)
        .layer(middleware::from_fn_with_state(state, observe))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.is_empty() || origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::IF_NONE_MATCH])
        .expose_headers([
            header::ETAG,
            FALLBACK_HEADER,
            MODEL_HEADER,
            VARIANT_HEADER,
            UNKNOWN_ITEMS_HEADER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(3600))
}

/// Request ids: `<start time in hex>-<counter>`, unless the client sent `x-request-id`.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        RequestIds {
            prefix: format!("{start:x}").into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// A declared body over the limit is refused before any of it is read (else the handler would
/// wait for bytes the client may never send).
async fn refuse_declared_oversize(State(max_body): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max_body as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body of {len} bytes is larger than the {max_body} allowed (--max-body)"),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}

/// Records metrics and logs for every request, and turns any error answer that is not JSON
/// yet (timeouts, 405, body-limit rejections from layers) into a JSON error.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = Route::from_template(
        req.extensions().get::<MatchedPath>().map(|m| m.as_str()),
        req.method() == Method::POST,
    );
    let method = req.method().clone();
    let uri = req.uri().clone();
    let request_id = req.headers().get("x-request-id").cloned();
    let mut resp = next.run(req).await;
    let status = resp.status();
    if (status.is_client_error() || status.is_server_error())
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|v| v.as_bytes() != b"application/json")
    {
        let message = status.canonical_reason().unwrap_or("error");
        let mut json = ApiError::new(status, message).into_response();
        for (k, v) in resp.headers() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                json.headers_mut().insert(k.clone(), v.clone());
            }
        }
        resp = json;
    }
    let elapsed = start.elapsed();
    match resp.extensions().get::<ModelTag>() {
        Some(tag) => tag.0.observe(route, elapsed, status.as_u16()),
        None => state.metrics.global().observe(route, elapsed, status.as_u16()),
    }
    let rid = request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
    let micros = elapsed.as_micros() as u64;
    if status.is_server_error() {
        tracing::error!(request_id = rid, %method, %uri, status = status.as_u16(), micros, "request failed");
    } else {
        tracing::debug!(request_id = rid, %method, %uri, status = status.as_u16(), micros, "request");
    }
    resp
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// `reco serve`: starts the server and serves until SIGTERM or Ctrl-C.
pub fn run(args: &ServeArgs) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(crate::progress::ansi_logs())
        .try_init();
    let config = args.to_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let start = Instant::now();
        let server = serve(config).await?;
        let names = server.state.models.load().names().join(", ");
        let limits = server.limits();
        tracing::info!(models = %names, startup_ms = start.elapsed().as_millis() as u64,
            max_connections = limits.max_connections,
            header_timeout_s = limits.header_timeout.as_secs_f64(),
            idle_timeout_s = limits.idle_timeout.as_secs_f64(),
            "listening on http://{} (docs: http://{}/docs)", server.addr(), server.addr());
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        server.shutdown().await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn app_with(route: &str, handler: axum::routing::MethodRouter<Arc<AppState>>) -> Router {
        let mut config = ServeConfig::new("unused");
        config.request_timeout = Duration::from_millis(50);
        let state = Arc::new(AppState::new(
            config,
            state::ModelSet::default(),
            metrics::Metrics::default(),
        ));
        with_layers(Router::new().route(route, handler), state)
    }

    async fn call(app: Router, path: &str) -> (StatusCode, serde_json::Value, Option<HeaderValue>) {
        let resp = app
            .oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let rid = resp.headers().get("x-request-id").cloned();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), rid)
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json_and_the_app_keeps_serving() {
        let app = app_with("/boom", get(|| async { panic!("boom") as () }));
        let (status, body, rid) = call(app.clone(), "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal error");
        assert!(rid.is_some());
        let (status, body, _) = call(app, "/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "no route for GET /nothing");
    }

    #[tokio::test]
    async fn a_slow_request_times_out_with_503_json() {
        let app = app_with(
            "/slow",
            get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }),
        );
        let (status, body, _) = call(app, "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], 503);
    }
}
