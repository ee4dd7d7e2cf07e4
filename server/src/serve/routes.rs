//! The HTTP handlers and the OpenAPI document generated from them.
use std::cell::RefCell;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reco_core::model_file::ModelKind;
use reco_core::recommender::{
    Fallback, LiveHistory, RecommendOptions, Recommendations, RecommendedItem, Scratch, MAX_N,
};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{OpenApi, ToSchema};

use super::errors::{ApiError, ErrorBody};
use super::items::ItemOut;
use super::live::{Live, Lookup, MAX_BATCH};
use super::metrics::ModelMetrics;
use super::retrain::{retrain, RetrainError};
use super::state::{fallback_of, AppState, ModelEntry};

/// Default list length.
pub const DEFAULT_N: usize = 10;

/// Response header: `popularity` (the whole list) or `partial` (some items) when the popularity
/// fallback was used.
pub const FALLBACK_HEADER: HeaderName = HeaderName::from_static("x-reco-fallback");
/// Response header: the model that answered.
pub const MODEL_HEADER: HeaderName = HeaderName::from_static("x-reco-model");
/// Response header: the A/B variant a user was routed to.
pub const VARIANT_HEADER: HeaderName = HeaderName::from_static("x-reco-variant");
/// Response header: how many basket ids the model does not know.
pub const UNKNOWN_ITEMS_HEADER: HeaderName = HeaderName::from_static("x-reco-unknown-items");

thread_local! {
    /// Per-thread buffers, so the request path does not allocate score vectors.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Tags a response with the model that answered, for the metrics middleware.
#[derive(Clone)]
pub struct ModelTag(pub Arc<ModelMetrics>);

/// A basket to recommend for.
#[derive(Deserialize, ToSchema)]
pub struct BasketRequest {
    /// Item ids in the basket (unknown ids are ignored and counted in `x-reco-unknown-items`).
    #[schema(example = json!(["85123A", "71053"]))]
    pub items: Vec<String>,
    /// List length, 1..=10000 (default 10).
    #[serde(default)]
    pub n: Option<i64>,
    /// Item ids never to return.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The query string of the list routes (`?n=10`); other parameters are ignored.
#[derive(Deserialize)]
pub struct ListQuery {
    /// List length, as sent (percent-decoded).
    n: Option<String>,
}

/// The list length of a query string: default 10, else an integer in `1..=MAX_N`.
pub fn parse_n(query: Result<Query<ListQuery>, QueryRejection>) -> Result<usize, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))?;
    match query.n {
        None => Ok(DEFAULT_N),
        Some(v) => check_n(v.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "n must be an integer between 1 and {MAX_N}, got `{}`",
                shorten(&v)
            ))
        })?),
    }
}

/// `s` cut to 64 characters, control characters escaped, for echoing input in messages.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

/// Checks an id (or a model name) from a path or a body: 400 naming the problem.
fn checked_id(what: &str, id: &str) -> Result<(), ApiError> {
    crate::limits::check_id(id).map_err(|problem| {
        ApiError::bad_request(format!(
            "{what} {problem} (ids are 1 to {} bytes without control characters)",
            crate::limits::MAX_ID_BYTES
        ))
    })
}

/// An error answer counted under the model `name` (when loaded) in the metrics.
fn model_error(state: &AppState, name: &str, err: ApiError) -> Response {
    let mut resp = err.into_response();
    if let Some(entry) = state.models.load().get(name) {
        resp.extensions_mut().insert(ModelTag(entry.metrics.clone()));
    }
    resp
}

fn check_n(n: i64) -> Result<usize, ApiError> {
    if (1..=MAX_N as i64).contains(&n) {
        Ok(n as usize)
    } else {
        Err(ApiError::bad_request(format!(
            "n must be between 1 and {MAX_N}, got {n}"
        )))
    }
}

fn unknown_model(state: &AppState, name: &str) -> ApiError {
    let models = state.models.load();
    ApiError::not_found(format!("unknown model `{name}`")).with(json!({ "models": models.names() }))
}

fn json_response(body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Serializes `recs` straight into the response body, with the model and fallback headers.
fn list_response(entry: &ModelEntry, recs: &Recommendations) -> Response {
    items_response(entry, &recs.items, recs.fallback, recs.unknown_items.len())
}

/// Serializes `items` straight into the response body, with the model and fallback headers.
fn items_response(
    entry: &ModelEntry,
    items: &[RecommendedItem],
    fallback: Fallback,
    unknown: usize,
) -> Response {
    let mut buf = Vec::with_capacity(2 + items.len() * 96);
    buf.push(b'[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(entry.item_json.get(it.index));
        if serde_json::to_writer(&mut buf, &it.score).is_err() {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot serialize the answer")
                .into_response();
        }
        if it.fallback {
            buf.extend_from_slice(b",\"fallback\":true");
        }
        buf.push(b'}');
    }
    buf.push(b']');
    let mut resp = json_response(buf);
    let headers = resp.headers_mut();
    if let Some(v) = &entry.name_header {
        headers.insert(MODEL_HEADER, v.clone());
    }
    if fallback != Fallback::None {
        headers.insert(FALLBACK_HEADER, HeaderValue::from_static(fallback.as_str()));
    }
    if unknown > 0 {
        headers.insert(UNKNOWN_ITEMS_HEADER, HeaderValue::from(unknown));
    }
    entry.metrics.count_fallback(fallback);
    resp.extensions_mut().insert(ModelTag(entry.metrics.clone()));
    resp
}

/// Runs `f` on the model named `name`, turning errors into JSON answers tagged with the model.
fn answer(
    state: &AppState,
    name: &str,
    f: impl FnOnce(&ModelEntry, &mut Scratch) -> Result<Recommendations, ApiError>,
) -> Response {
    let models = state.models.load();
    let Some(entry) = models.get(name) else {
        return unknown_model(state, name).into_response();
    };
    match with_scratch(|s| f(entry, s)) {
        Ok(recs) => list_response(entry, &recs),
        Err(e) => {
            let mut resp = e.into_response();
            resp.extensions_mut().insert(ModelTag(entry.metrics.clone()));
            resp
        }
    }
}

/// Health: status and the loaded models.
#[utoipa::path(get, path = "/", tag = "health",
    responses((status = 200, description = "Status and, for each model, kind, file, format version, users, items and training time", body = Object,
        example = json!({"status": "online", "version": "0.1.0", "models": {"als": {"kind": "als", "file": "als.safetensors", "format_version": 1, "users": 4339, "items": 3665, "trained_at": "2025-01-01T00:00:00Z"}}}))))]
pub async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    // A browser asking for a page (not a script asking for JSON) goes to the demo page.
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_page && state.config.web_dir.is_some() {
        return axum::response::Redirect::temporary("/web/").into_response();
    }
    let models = state.models.load();
    let list: serde_json::Map<String, Value> = models
        .by_name
        .values()
        .map(|e| {
            let info = json!({
                "kind": e.rec.kind().as_str(),
                "file": e.file,
                "format_version": e.format_version,
                "users": e.rec.n_users(),
                "items": e.rec.n_items(),
                "trained_at": e.trained_at,
            });
            (e.name.clone(), info)
        })
        .collect();
    let ab = state.config.ab.as_ref().map(|ab| ab.to_string());
    let mut body = json!({
        "status": "online",
        "version": env!("CARGO_PKG_VERSION"),
        "models": list,
        "ab": ab,
        "admin": state.config.admin_token.is_some(),
    });
    // Only a replica has a store (and the edge worker's answer, which has none, stays equal).
    if let (Some(store), Some(obj)) = (&state.store, body.as_object_mut()) {
        obj.insert("store".into(), store.health());
    }
    json_response(serde_json::to_vec(&body).unwrap_or_default())
}

/// Top-`n` items for a user; items the user already has are excluded. A user the model never
/// saw gets the most popular items (`x-reco-fallback: popularity`).
#[utoipa::path(get, path = "/recommend/{model}/{user_id}", tag = "recommend",
    params(
        ("model" = String, Path, description = "Model name: als, knn, lightfm, item-knn, ease, rp3beta, popularity (see GET /)"),
        ("user_id" = String, Path, description = "User id (CustomerID)"),
        ("n" = Option<u32>, Query, description = "List length, 1..=10000", minimum = 1, maximum = 10000, example = 10),
    ),
    responses(
        (status = 200, description = "Recommendations, best first", body = [ItemOut],
            headers(("x-reco-fallback" = String, description = "`popularity` or `partial` when the fallback was used"),
                    ("x-reco-model" = String, description = "The model that answered"))),
        (status = 400, description = "Bad `n`, or an id over 256 bytes or with control characters", body = ErrorBody),
        (status = 404, description = "Unknown model", body = ErrorBody),
    ))]
pub async fn recommend_user(
    State(state): State<Arc<AppState>>,
    Path((model, user_id)): Path<(String, String)>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = checked_id("model name", &model) {
        return e.into_response();
    }
    let n = checked_id("user id", &user_id).and_then(|()| parse_n(query));
    match n {
        Ok(n) => user_answer(&state, &model, &user_id, n),
        Err(e) => model_error(&state, &model, e),
    }
}

/// A user's top `n` from `model`: from the memoized list when possible, else computed.
fn user_answer(state: &AppState, model: &str, user_id: &str, n: usize) -> Response {
    let models = state.models.load();
    let Some(entry) = models.get(model) else {
        return unknown_model(state, model).into_response();
    };
    if let Some(live) = &state.live {
        if let Some(resp) = live_answer(state, live, entry, user_id, n) {
            return resp;
        }
    }
    let result = with_scratch(|s| match entry.top_cache.get(&entry.rec, user_id, n, s) {
        Some(Ok((items, fallback))) => Ok(items_response(entry, items, fallback, 0)),
        Some(Err(e)) => Err(ApiError::from(e)),
        None => entry
            .rec
            .recommend_user(user_id, n, &RecommendOptions::default(), s)
            .map(|recs| list_response(entry, &recs))
            .map_err(ApiError::from),
    });
    result.unwrap_or_else(|e| {
        let mut resp = e.into_response();
        resp.extensions_mut().insert(ModelTag(entry.metrics.clone()));
        resp
    })
}

/// The answer for a user with live events the model does not contain (or from the popularity
/// model once its counts moved); `None` when live events change nothing for this user.
/// Lists are memoized per user like `--cache-top`'s, until the user's next event.
fn live_answer(
    state: &AppState,
    live: &Live,
    entry: &ModelEntry,
    user_id: &str,
    n: usize,
) -> Option<Response> {
    let is_popularity = entry.rec.kind() == ModelKind::Popularity;
    let live_popularity = is_popularity && !entry.popularity_delta.is_empty();
    let memo_n = state.config.cache_top.max(n);
    // The popularity model's counts move with everyone's events: its lists are not memoized.
    let memoize = !is_popularity && state.config.cache_top > 0;
    let (items, version) = match live.lookup(user_id, &entry.live_view(), entry.generation, n) {
        Lookup::Memo(items) => return Some(items_response(entry, &items, fallback_of(&items), 0)),
        Lookup::Compute { items, version } => (items, Some(version)),
        Lookup::Nothing if live_popularity => (Vec::new(), None),
        Lookup::Nothing => return None,
    };
    let k = if memoize && version.is_some() { memo_n } else { n };
    let result = with_scratch(|s| {
        entry.popularity_delta.with(|popularity| {
            let history = LiveHistory {
                items: &items,
                popularity,
            };
            entry
                .rec
                .recommend_user_live(user_id, history, k, &RecommendOptions::default(), s)
        })
    });
    Some(match result {
        Ok(recs) => {
            if let (true, Some(version)) = (memoize, version) {
                live.memoize(user_id, entry.generation, version, &recs.items);
            }
            let shown = &recs.items[..n.min(recs.items.len())];
            let fallback = match (recs.fallback, shown.iter().any(|i| i.fallback)) {
                (Fallback::Popularity, _) => Fallback::Popularity,
                (_, true) => Fallback::Partial,
                _ => Fallback::None,
            };
            items_response(entry, shown, fallback, 0)
        }
        Err(e) => {
            let mut resp = ApiError::from(e).into_response();
            resp.extensions_mut().insert(ModelTag(entry.metrics.clone()));
            resp
        }
    })
}

/// Recommendations for an anonymous basket (fold-in), the server-side twin of the browser.
#[utoipa::path(post, path = "/recommend/{model}", tag = "recommend",
    params(("model" = String, Path, description = "Model name")),
    request_body = BasketRequest,
    responses(
        (status = 200, description = "Recommendations, best first (basket items excluded)", body = [ItemOut],
            headers(("x-reco-fallback" = String, description = "`popularity` when no basket item is known"),
                    ("x-reco-unknown-items" = u32, description = "How many basket ids the model does not know"))),
        (status = 400, description = "Malformed JSON, bad `n`, or an id over 256 bytes or with control characters", body = ErrorBody),
        (status = 404, description = "Unknown model", body = ErrorBody),
        (status = 413, description = "Body (or its declared Content-Length) larger than --max-body", body = ErrorBody),
    ))]
pub async fn recommend_basket(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return ApiError::new(e.status(), e.body_text()).into_response(),
    };
    let req: BasketRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return ApiError::bad_request(format!("invalid JSON body: {e}")).into_response(),
    };
    if let Err(e) = checked_id("model name", &model) {
        return e.into_response();
    }
    let ids = req.items.iter().map(|id| ("items", id));
    let checked = ids
        .enumerate()
        .chain(req.exclude.iter().map(|id| ("exclude", id)).enumerate())
        .try_for_each(|(i, (field, id))| checked_id(&format!("{field}[{i}]"), id))
        .and_then(|()| check_n(req.n.unwrap_or(DEFAULT_N as i64)));
    let n = match checked {
        Ok(n) => n,
        Err(e) => return model_error(&state, &model, e),
    };
    let opts = RecommendOptions {
        exclude: req.exclude,
        ..Default::default()
    };
    answer(&state, &model, |entry, s| {
        Ok(entry.rec.recommend_items(&req.items, n, &opts, s)?)
    })
}

/// The `n` items most similar to an item.
#[utoipa::path(get, path = "/similar/{model}/{item_id}", tag = "similar",
    params(
        ("model" = String, Path, description = "Model name"),
        ("item_id" = String, Path, description = "Item id (StockCode)"),
        ("n" = Option<u32>, Query, description = "List length, 1..=10000", minimum = 1, maximum = 10000),
    ),
    responses(
        (status = 200, description = "Similar items, most similar first", body = [ItemOut]),
        (status = 400, description = "Bad `n`, or an id over 256 bytes or with control characters", body = ErrorBody),
        (status = 404, description = "Unknown model or item", body = ErrorBody),
        (status = 422, description = "The model has no item similarity (popularity)", body = ErrorBody),
    ))]
pub async fn similar(
    State(state): State<Arc<AppState>>,
    Path((model, item_id)): Path<(String, String)>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = checked_id("model name", &model) {
        return e.into_response();
    }
    let n = match checked_id("item id", &item_id).and_then(|()| parse_n(query)) {
        Ok(n) => n,
        Err(e) => return model_error(&state, &model, e),
    };
    answer(&state, &model, |entry, s| {
        Ok(entry.rec.similar_items(&item_id, n, s)?)
    })
}

/// A/B routing: the user is assigned a model by the configured split (hash of the id).
#[utoipa::path(get, path = "/recommend/{user_id}", tag = "recommend",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("n" = Option<u32>, Query, description = "List length, 1..=10000", minimum = 1, maximum = 10000),
    ),
    responses(
        (status = 200, description = "Recommendations from the user's variant", body = [ItemOut],
            headers(("x-reco-variant" = String, description = "The A/B variant (model name)"),
                    ("x-reco-fallback" = String, description = "`popularity` or `partial` when the fallback was used"))),
        (status = 400, description = "Bad `n`", body = ErrorBody),
        (status = 404, description = "No A/B split configured (--ab)", body = ErrorBody),
        (status = 503, description = "The variant's model is not loaded", body = ErrorBody),
    ))]
pub async fn recommend_ab(
    State(state): State<Arc<AppState>>,
    Path(user_id): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Some(ab) = state.config.ab.as_ref() else {
        return ApiError::not_found("no A/B split configured: start the server with --ab als=50,lightfm=50")
            .into_response();
    };
    if let Err(e) = checked_id("user id", &user_id) {
        return e.into_response();
    }
    let variant = ab.assign(&user_id);
    let n = match parse_n(query) {
        Ok(n) => n,
        Err(e) => return model_error(&state, variant, e),
    };
    match state.models.load().get(variant) {
        Some(entry) => entry.metrics.count_ab(),
        None => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("A/B variant `{variant}` is not loaded"),
            )
            .into_response()
        }
    }
    let mut resp = user_answer(&state, variant, &user_id, n);
    if let Ok(v) = HeaderValue::from_str(variant) {
        resp.headers_mut().insert(VARIANT_HEADER, v);
    }
    resp
}

/// A model file, for browsers (ETag / If-None-Match, gzip, CORS).
#[utoipa::path(get, path = "/models/{file}", tag = "models",
    params(("file" = String, Path, description = "Model file name, e.g. als.safetensors (see GET /)")),
    responses(
        (status = 200, description = "The safetensors model file", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("etag" = String, description = "Entity tag for conditional requests"))),
        (status = 304, description = "Not modified (If-None-Match matched)"),
        (status = 404, description = "No such model file", body = ErrorBody),
    ))]
pub async fn model_file(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let entry = {
        let models = state.models.load();
        match models.by_file(&file) {
            Some(entry) => entry.clone(),
            None => return ApiError::not_found(format!("no model file `{file}`")).into_response(),
        }
    };
    let mut resp = conditional(&headers, &entry.etag, || StatusCode::OK.into_response());
    if resp.status() == StatusCode::OK {
        // Streamed from the loaded file (nothing of it is held in memory); a file rewritten in
        // place since is not this model's any more, and a reload serves it.
        if !entry.served.unchanged() {
            return ApiError::new(
                StatusCode::CONFLICT,
                format!("{file} changed on disk since it was loaded; POST /admin/reload serves the new file"),
            )
            .into_response();
        }
        const CHUNK: u64 = 256 << 10;
        let (served, len) = (entry.served.clone(), entry.served.len);
        let chunks = futures_util::stream::unfold(0u64, move |at| {
            let served = served.clone();
            async move {
                if at >= len {
                    return None;
                }
                let n = (len - at).min(CHUNK) as usize;
                let read = tokio::task::spawn_blocking(move || served.read_at(at, n))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                // After an error the stream ends (the client sees a short body).
                let next = if read.is_ok() { at + n as u64 } else { len };
                Some((read.map(Bytes::from), next))
            }
        });
        // Fused: the body may be polled again after its end.
        *resp.body_mut() = Body::from_stream(futures_util::StreamExt::fuse(chunks));
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp.extensions_mut().insert(ModelTag(entry.metrics.clone()));
    resp
}

/// 304 when `If-None-Match` matches `etag`, else `full()`; both carry the ETag.
pub fn conditional(headers: &HeaderMap, etag: &str, full: impl FnOnce() -> Response) -> Response {
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag.trim_start_matches("W/"));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        full()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// A static file of the `--web` folder (the browser demo), with ETag and a content type by
/// extension (`.wasm` as `application/wasm`).
pub async fn web_file(
    State(state): State<Arc<AppState>>,
    path: Option<Path<String>>,
    headers: HeaderMap,
) -> Response {
    let Some(root) = state.config.web_dir.as_ref() else {
        return ApiError::not_found("no web folder configured (--web)").into_response();
    };
    let rel = path.map(|Path(p)| p).unwrap_or_default();
    let rel = if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel
    };
    let safe = std::path::Path::new(&rel)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !safe {
        return ApiError::bad_request("invalid path").into_response();
    }
    let full = root.join(&rel);
    let missing = || ApiError::not_found(format!("no file `{}`", shorten(&rel))).into_response();
    // A symlink may point anywhere: serve only files whose real path is inside the real root.
    let (Ok(real_root), Ok(real)) = (
        tokio::fs::canonicalize(root).await,
        tokio::fs::canonicalize(&full).await,
    ) else {
        return missing();
    };
    if !real.starts_with(&real_root) {
        tracing::warn!(path = %full.display(), target = %real.display(), "web: refused a link out of the web folder");
        return missing();
    }
    let bytes = match tokio::fs::read(&real).await {
        Ok(b) => b,
        Err(_) => return missing(),
    };
    let etag = super::state::etag(&bytes);
    let mut resp = conditional(&headers, &etag, || Response::new(Body::from(bytes)));
    let ext = full.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mime = match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    resp
}

/// Reloads the model files atomically (requests in flight finish on the old models).
#[utoipa::path(post, path = "/admin/reload", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reloaded; the models now served", body = Object,
            example = json!({"status": "reloaded", "models": ["als", "popularity"], "failed": []})),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "Admin routes are off (no token configured); the message says how to turn them on", body = ErrorBody),
        (status = 500, description = "Some files failed to load (their previous models keep serving; `failed` lists each file with a short reason) or the folder is unusable", body = ErrorBody),
    ))]
pub async fn admin_reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(resp) = admin_refusal(&state, &headers) {
        return resp;
    }
    match state.reload().await {
        Ok(report) if report.failed.is_empty() => json_response(
            serde_json::to_vec(&json!({"status": "reloaded", "models": report.models, "failed": []}))
                .unwrap_or_default(),
        ),
        Ok(report) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "{} model file(s) failed to load; their previous models keep serving",
                report.failed.len()
            ),
        )
        .with(json!({ "models": report.models, "failed": report.failed }))
        .into_response(),
        // The details (paths, OS errors) are in the server log, not in the answer.
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "{}; the previous models keep serving (details in the server log)",
                match e {
                    crate::error::ServerError::ModelsNotFound { .. } => "the models folder does not exist",
                    crate::error::ServerError::NoModels { .. } =>
                        "the models folder has no *.safetensors file",
                    _ => "the models folder cannot be read",
                }
            ),
        )
        .into_response(),
    }
}

const ADMIN_OFF: &str = "admin routes are off: start the server with --admin-token TOKEN (or set \
    RECO_ADMIN_TOKEN) and send `Authorization: Bearer TOKEN`";

fn admin_refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    refusal(state.config.admin_token.as_deref(), ADMIN_OFF, headers)
}

/// Checks `Authorization: Bearer TOKEN` against `token`: the refusal, 404 saying `off` when
/// no token is configured or 401 when it is missing or wrong; `None` when authorized.
fn refusal(token: Option<&str>, off: &str, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = token else {
        return Some(ApiError::not_found(off).into_response());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        let mut resp =
            ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Some(resp);
    }
    None
}

/// Retrains every served model in the background on the training data plus the logged
/// events, swaps the new models in, and archives the log segments they contain.
#[utoipa::path(post, path = "/admin/retrain", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Retrained and swapped in", body = Object,
            example = json!({"status": "retrained", "events_through": 1234, "retrained": ["als.safetensors"], "skipped": [], "archived": 2, "seconds": 3.1})),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "Admin routes are off (no token configured)", body = ErrorBody),
        (status = 409, description = "A retrain is running, or the server has no --features to train on", body = ErrorBody),
        (status = 500, description = "Training, writing or loading failed; the previous models keep serving and the log is intact", body = ErrorBody),
    ))]
pub async fn admin_retrain(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(resp) = admin_refusal(&state, &headers) {
        return resp;
    }
    match retrain(&state).await {
        Ok(report) => {
            let mut body = serde_json::to_value(&report).unwrap_or_default();
            body["status"] = json!("retrained");
            json_response(serde_json::to_vec(&body).unwrap_or_default())
        }
        Err(e @ (RetrainError::Busy | RetrainError::NotConfigured)) => {
            ApiError::new(StatusCode::CONFLICT, e.to_string()).into_response()
        }
        // Details (paths, OS errors) are in the server log.
        Err(RetrainError::Failed(_)) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "retrain failed; the previous models keep serving and the event log is intact (details in the server log)",
        )
        .into_response(),
    }
}

/// One event of `POST /events`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// User id.
    #[schema(example = "17850")]
    pub user: String,
    /// Item id; an id no model knows is stored and becomes recommendable after a retrain.
    #[schema(example = "85123A")]
    pub item: String,
    /// Weight like an ingested interaction's, in (0, 1000000]; default 1 (one purchase).
    #[serde(default)]
    pub weight: Option<f64>,
    /// Unix seconds; default: when the server received it.
    #[serde(default)]
    pub ts: Option<i64>,
}

/// Largest `ts` accepted (9999-12-31T23:59:59Z).
const MAX_TS: i64 = 253_402_300_799;
/// Largest event weight.
const MAX_WEIGHT: f64 = 1e6;
/// Unknown item ids listed in an answer.
const MAX_LISTED_UNKNOWN: usize = 100;

/// The events of a body: an array of events, `{"events": [...]}`, or one event.
fn parse_events(body: &[u8]) -> Result<Vec<crate::events::Event>, (ApiError, usize)> {
    let mut n = 1;
    parse_event_list(body, &mut n).map_err(|e| (e, n))
}

/// [`parse_events`]; `n` is set to the number of events in the body once known.
fn parse_event_list(body: &[u8], n: &mut usize) -> Result<Vec<crate::events::Event>, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let (list, prefix) = match value {
        Value::Array(list) => (list, "events"),
        Value::Object(mut o) if o.contains_key("events") => match o.remove("events") {
            Some(Value::Array(list)) if o.is_empty() => (list, "events"),
            Some(Value::Array(_)) => {
                return Err(ApiError::bad_request(
                    "a body with `events` must have no other field",
                ))
            }
            _ => return Err(ApiError::bad_request("`events` must be an array of events")),
        },
        one @ Value::Object(_) => (vec![one], "event"),
        _ => {
            return Err(ApiError::bad_request(
                "the body must be an event object, an array of them, or {\"events\": [...]}",
            ))
        }
    };
    if list.is_empty() {
        return Err(ApiError::bad_request("no events in the body"));
    }
    *n = list.len();
    if list.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} events in one request; at most {MAX_BATCH} (send several requests)",
                list.len()
            ),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut events = Vec::with_capacity(list.len());
    let mut problems = Vec::new();
    for (i, v) in list.into_iter().enumerate() {
        let name = if prefix == "event" {
            "event".to_string()
        } else {
            format!("events[{i}]")
        };
        let e: EventIn = match serde_json::from_value(v) {
            Ok(e) => e,
            Err(err) => {
                problems.push(json!({"index": i, "error": format!("{name}: {err}")}));
                continue;
            }
        };
        let check = checked_id(&format!("{name}.user"), &e.user)
            .and_then(|()| checked_id(&format!("{name}.item"), &e.item))
            .and_then(|()| match e.weight {
                Some(w) if !(w.is_finite() && w > 0.0 && w <= MAX_WEIGHT) => Err(ApiError::bad_request(
                    format!("{name}.weight must be a number in (0, {MAX_WEIGHT}], got {w}"),
                )),
                _ => Ok(()),
            })
            .and_then(|()| match e.ts {
                Some(ts) if !(0..=MAX_TS).contains(&ts) => Err(ApiError::bad_request(format!(
                    "{name}.ts must be Unix seconds in 0..={MAX_TS}, got {ts}"
                ))),
                _ => Ok(()),
            });
        match check {
            Ok(()) => events.push(crate::events::Event {
                user: e.user,
                item: e.item,
                weight: e.weight.unwrap_or(1.0) as f32,
                ts: e.ts.unwrap_or(now),
            }),
            Err(err) => problems.push(json!({"index": i, "error": err.message})),
        }
    }
    if let Some(first) = problems.first() {
        let message = format!(
            "{} of {} events are invalid, so none was stored; the first: {}",
            problems.len(),
            problems.len() + events.len(),
            first["error"].as_str().unwrap_or("")
        );
        problems.truncate(MAX_LISTED_UNKNOWN);
        return Err(ApiError::bad_request(message).with(json!({ "rejected": problems })));
    }
    Ok(events)
}

/// Records interactions as they happen: each event is durable (fsynced to the event log)
/// before the answer, and the next recommendation for its user reflects it.
#[utoipa::path(post, path = "/events", tag = "events",
    security(("bearer" = [])),
    request_body(content = [EventIn], description = "An array of up to 1000 events, `{\"events\": [...]}`, or one event object"),
    responses(
        (status = 200, description = "Stored durably and applied; sequence numbers of the first and last event, and the ids no served model knows", body = Object,
            example = json!({"accepted": 2, "first_seq": 41, "last_seq": 42, "unknown_items": []})),
        (status = 400, description = "Malformed JSON or an invalid event; `rejected` lists each bad event with its index and reason. Nothing of the request was stored", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "Events are off (no --events-dir and --events-token)", body = ErrorBody),
        (status = 413, description = "More than 1000 events, or a body over --max-body", body = ErrorBody),
        (status = 503, description = "The event log cannot be written; nothing was stored", body = ErrorBody),
    ))]
pub async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (Some(live), Some(events_config)) = (&state.live, &state.config.events) else {
        return ApiError::not_found(
            "events are off: start the server with --events-dir DIR --events-token TOKEN (or set RECO_EVENTS_TOKEN)",
        )
        .into_response();
    };
    if let Some(resp) = refusal(Some(&events_config.token), "", &headers) {
        return resp;
    }
    let rejected = |n: usize| {
        live.metrics
            .rejected
            .fetch_add(n.max(1) as u64, std::sync::atomic::Ordering::Relaxed)
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            rejected(1);
            return ApiError::new(e.status(), e.body_text()).into_response();
        }
    };
    let events = match parse_events(&body) {
        Ok(events) => events,
        Err((e, n)) => {
            rejected(n);
            return e.into_response();
        }
    };
    let mut unknown: Vec<String> = Vec::new();
    {
        let models = state.models.load();
        for e in &events {
            let known = models
                .by_name
                .values()
                .any(|m| m.rec.items().index_of(&e.item).is_some());
            if !known && unknown.len() < MAX_LISTED_UNKNOWN && !unknown.contains(&e.item) {
                unknown.push(e.item.clone());
            }
        }
    }
    let n = events.len();
    match live.append(events).await {
        Ok((first, last)) => {
            let mut body =
                json!({"accepted": n, "first_seq": first, "last_seq": last, "unknown_items": unknown});
            if !unknown.is_empty() {
                body["note"] = json!(
                    "unknown items are stored; they can be recommended once a retrain adds them to the models"
                );
            }
            json_response(serde_json::to_vec(&body).unwrap_or_default())
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the event log cannot be written, so nothing was stored; retry later (details in the server log)",
        )
        .into_response(),
    }
}

/// The token of an `Authorization: Bearer TOKEN` header; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition: requests, latency histograms per route and model, fallbacks, A/B assignments, reloads", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.render();
    live_metrics(&state, &mut text);
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Appends the events and retrain series to `out`.
fn live_metrics(state: &AppState, out: &mut String) {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let r = &state.retrain_metrics;
    let mut series = vec![
        (
            "reco_retrains_total{result=\"ok\"}",
            "counter",
            "Background retrains by result.",
            r.ok.load(Relaxed) as f64,
        ),
        (
            "reco_retrains_total{result=\"error\"}",
            "",
            "",
            r.failed.load(Relaxed) as f64,
        ),
        (
            "reco_last_retrain_timestamp_seconds",
            "gauge",
            "When the last successful retrain finished (Unix seconds; 0: never).",
            r.last_unix.load(Relaxed) as f64,
        ),
        (
            "reco_last_retrain_duration_seconds",
            "gauge",
            "Wall time of the last successful retrain.",
            r.last_millis.load(Relaxed) as f64 / 1000.0,
        ),
    ];
    if let Some(store) = &state.store {
        let s = &store.status;
        let up = s.consecutive_failures.load(Relaxed) == 0 && s.last_success_unix.load(Relaxed) > 0;
        series.extend([
            (
                "reco_model_store_up",
                "gauge",
                "1 when the last poll of the model store (--models URL) succeeded.",
                f64::from(u8::from(up)),
            ),
            (
                "reco_model_store_polls_total{result=\"ok\"}",
                "counter",
                "Polls of the model store by result.",
                s.polls_ok.load(Relaxed) as f64,
            ),
            (
                "reco_model_store_polls_total{result=\"error\"}",
                "",
                "",
                s.polls_failed.load(Relaxed) as f64,
            ),
            (
                "reco_model_store_last_success_timestamp_seconds",
                "gauge",
                "When the model store last answered (Unix seconds).",
                s.last_success_unix.load(Relaxed) as f64,
            ),
            (
                "reco_model_store_downloads_total",
                "counter",
                "Model files downloaded from the store.",
                s.downloads.load(Relaxed) as f64,
            ),
        ]);
    }
    if let Some(live) = &state.live {
        let m = &live.metrics;
        series.extend([
            (
                "reco_events_total{result=\"accepted\"}",
                "counter",
                "Events by result (rejected: in refused requests).",
                m.accepted.load(Relaxed) as f64,
            ),
            (
                "reco_events_total{result=\"rejected\"}",
                "",
                "",
                m.rejected.load(Relaxed) as f64,
            ),
            (
                "reco_event_commits_total",
                "counter",
                "Group commits of the event log (one fsync each).",
                m.commits.load(Relaxed) as f64,
            ),
            (
                "reco_events_replayed_total",
                "counter",
                "Events replayed from the log at start-up.",
                m.replayed.load(Relaxed) as f64,
            ),
            (
                "reco_event_log_bytes",
                "gauge",
                "Bytes in the event log's live (not archived) segments.",
                m.log_bytes.load(Relaxed) as f64,
            ),
            (
                "reco_live_users",
                "gauge",
                "Users with events the served models do not contain yet.",
                live.users() as f64,
            ),
        ]);
    }
    for (name, kind, help, value) in series {
        let base = name.split('{').next().unwrap_or(name);
        if !kind.is_empty() {
            let _ = writeln!(out, "# HELP {base} {help}\n# TYPE {base} {kind}");
        }
        let _ = writeln!(out, "{name} {value}");
    }
}

/// The OpenAPI document of this server.
#[derive(OpenApi)]
#[openapi(
    info(title = "reco", description = "reco recommender REST API: recommendations per user, per basket, similar items, A/B routing, model files for browsers."),
    paths(health, recommend_user, recommend_basket, similar, recommend_ab, model_file, post_events, admin_reload, admin_retrain, metrics),
    components(schemas(ItemOut, ErrorBody, BasketRequest, EventIn)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_is_parsed_and_checked() {
        let parse_n = |q: Option<&str>| {
            let uri: axum::http::Uri = match q {
                Some(q) => format!("/x?{q}").parse().unwrap(),
                None => "/x".parse().unwrap(),
            };
            super::parse_n(Query::try_from_uri(&uri))
        };
        assert_eq!(parse_n(None).unwrap(), 10);
        assert_eq!(parse_n(Some("x=1&n=5")).unwrap(), 5);
        assert_eq!(parse_n(Some("n=10000")).unwrap(), 10_000);
        // Percent-encoded (`%35` is `5`), as any URL-encoding client may send it.
        assert_eq!(parse_n(Some("n=%35")).unwrap(), 5);
        for bad in [
            "n=0",
            "n=-3",
            "n=abc",
            "n=",
            "n",
            "n=10001",
            "n=99999999999999999999",
            "n=1&n=2",
            "n=%FF",
        ] {
            assert_eq!(
                parse_n(Some(bad)).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
