//! `reco serve` end to end: the real server on 127.0.0.1 with an ephemeral port, every
//! endpoint, header and error status, hot reload under load, OpenAPI and metrics.
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reco_core::als::{AlsModel, AlsParams};
use reco_core::model_file::Precision;
use reco_core::popularity::PopularityModel;
use reco_core::recommender::attach_catalog;
use reco_core::{Interactions, InteractionsBuilder};
use reco_server::serve::{serve, AbSplit, ServeConfig, Server};
use serde_json::{json, Value};

const TOKEN: &str = "s3cret";

/// 30 users in two taste groups over 20 items (I00..I09 and I10..I19); I00 is the most popular.
fn data() -> Interactions {
    let mut b = InteractionsBuilder::new();
    for u in 0..30 {
        let base = if u % 2 == 0 { 0 } else { 10 };
        for k in 0..10 {
            if (u + k) % 3 != 0 {
                b.push(&format!("u{u}"), &format!("I{:02}", base + k), 1.0);
            }
        }
        b.push(&format!("u{u}"), "I00", 1.0);
    }
    b.build().unwrap()
}

fn names(d: &Interactions) -> Vec<String> {
    d.items.ids().iter().map(|id| format!("Product {id}")).collect()
}

fn als_bytes(seed: u64) -> Vec<u8> {
    let d = data();
    let params = AlsParams {
        factors: 8,
        iterations: 5,
        seed,
        ..AlsParams::default()
    };
    let mut file = AlsModel::fit(&d.matrix, &params, &mut |_| {})
        .unwrap()
        .to_model_file();
    attach_catalog(&mut file, &d, &names(&d));
    file.to_bytes(Precision::F32).unwrap()
}

fn popularity_bytes() -> Vec<u8> {
    let d = data();
    let mut file = PopularityModel::fit(&d.matrix).unwrap().to_model_file();
    attach_catalog(&mut file, &d, &names(&d));
    file.to_bytes(Precision::F32).unwrap()
}

fn models_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("als.safetensors"), als_bytes(42)).unwrap();
    std::fs::write(dir.path().join("popularity.safetensors"), popularity_bytes()).unwrap();
    dir
}

/// A started server with its runtime and an HTTP client.
struct Running {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    agent: ureq::Agent,
    base: String,
}

impl Running {
    fn get(&self, path: &str) -> Reply {
        self.send(self.agent.get(format!("{}{path}", self.base)))
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req)
    }

    fn send(&self, req: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> Reply {
        Reply::from(req.call().unwrap())
    }

    fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .content_type("application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send(body).unwrap())
    }

    fn metrics(&self) -> String {
        self.get("/metrics").text()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown()).unwrap();
        }
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn from(mut resp: ureq::http::Response<ureq::Body>) -> Reply {
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap();
        Reply {
            status: resp.status().as_u16(),
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status and a JSON `{"error": …}` body; returns the message.
    fn expect_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["status"], status);
        body["error"].as_str().unwrap().to_string()
    }
}

fn config(dir: &Path) -> ServeConfig {
    let mut c = ServeConfig::new(dir);
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.reload_on_sighup = false;
    c.admin_token = Some(TOKEN.into());
    c.ab = Some(AbSplit::parse("als=50,popularity=50").unwrap());
    c
}

fn start(config: ServeConfig) -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(serve(config)).unwrap();
    let base = format!("http://{}", server.addr());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    Running {
        rt,
        server: Some(server),
        agent,
        base,
    }
}

fn item_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

fn seen(user: &str) -> BTreeSet<String> {
    let d = data();
    let u = d.users.index_of(user).unwrap();
    d.matrix
        .row(u as usize)
        .0
        .iter()
        .map(|&i| d.items.id(i).unwrap().to_string())
        .collect()
}

#[test]
fn health_lists_every_loaded_model() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let r = s.get("/");
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "online");
    let als = &body["models"]["als"];
    assert_eq!(als["kind"], "als");
    assert_eq!(als["file"], "als.safetensors");
    assert_eq!(als["format_version"], 1);
    assert_eq!(als["users"], 30);
    assert_eq!(als["items"], 20);
    assert!(als["trained_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["models"]["popularity"]["kind"], "popularity");
    assert_eq!(body["ab"], "als=50,popularity=50");
}

#[test]
fn recommendations_exclude_seen_items_and_keep_the_python_shape() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    for model in ["als", "popularity"] {
        let r = s.get(&format!("/recommend/{model}/u1?n=5"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-reco-model"), Some(model));
        assert_eq!(r.header("x-reco-fallback"), None);
        assert!(r.header("x-request-id").is_some());
        let list = r.json();
        assert_eq!(list.as_array().unwrap().len(), 5);
        let first = &list[0];
        let id = first["item_id"].as_str().unwrap();
        assert_eq!(first["product"], format!("Product {id}"));
        assert!(first["score"].is_number());
        assert!(first.get("fallback").is_none());
        let seen = seen("u1");
        for id in item_ids(&list) {
            assert!(!seen.contains(&id), "{model}: {id} already seen");
        }
        let scores: Vec<f64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }
    // Default n is 10; u1 (odd: items I10..I19 plus I00) has at least 10 unseen items.
    assert_eq!(s.get("/recommend/als/u1").json().as_array().unwrap().len(), 10);
}

#[test]
fn unknown_user_gets_the_popularity_fallback_flagged_in_a_header() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    for model in ["als", "popularity"] {
        let r = s.get(&format!("/recommend/{model}/nobody?n=3"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-reco-fallback"), Some("popularity"));
        assert_eq!(item_ids(&r.json())[0], "I00");
    }
    let list = s.get("/recommend/als/nobody?n=3").json();
    assert_eq!(list[0]["fallback"], true);
    // A fallback item's score is its popularity: the popularity model's score, > 0.
    let popular = s.get("/recommend/popularity/nobody?n=3").json();
    assert!(list[0]["score"].as_f64().unwrap() >= 1.0, "{list}");
    assert_eq!(list[0]["score"], popular[0]["score"]);
}

#[test]
fn basket_fold_in_recommends_from_the_basket_group() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let r = s.post(
        "/recommend/als",
        r#"{"items": ["I11", "I12", "I13", "nope"], "n": 4}"#,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-reco-unknown-items"), Some("1"));
    let ids = item_ids(&r.json());
    assert_eq!(ids.len(), 4);
    for id in &ids {
        assert!(
            !["I11", "I12", "I13"].contains(&id.as_str()),
            "basket item {id} returned"
        );
    }
    assert!(
        ids.iter().filter(|id| id.as_str() >= "I10").count() >= 3,
        "{ids:?}"
    );
    // An empty or all-unknown basket gets the popularity fallback; n defaults to 10.
    let r = s.post("/recommend/als", r#"{"items": ["zzz"]}"#, &[]);
    assert_eq!(r.header("x-reco-fallback"), Some("popularity"));
    assert_eq!(r.json().as_array().unwrap().len(), 10);
    // Exclusions.
    let r = s.post(
        "/recommend/popularity",
        r#"{"items": [], "n": 2, "exclude": ["I00"]}"#,
        &[],
    );
    assert!(!item_ids(&r.json()).contains(&"I00".to_string()));
}

#[test]
fn similar_items_and_their_errors() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let r = s.get("/similar/als/I12?n=3");
    assert_eq!(r.status, 200, "{}", r.text());
    let ids = item_ids(&r.json());
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&"I12".to_string()));
    assert!(s.get("/similar/als/NOPE").expect_error(404).contains("NOPE"));
    assert!(s
        .get("/similar/nomodel/I12")
        .expect_error(404)
        .contains("nomodel"));
    s.get("/similar/popularity/I12").expect_error(422);
    s.get("/similar/als/I12?n=0").expect_error(400);
}

#[test]
fn ab_routing_is_deterministic_per_user_and_counted() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let mut variants = BTreeSet::new();
    for u in 0..30 {
        let path = format!("/recommend/u{u}?n=3");
        let a = s.get(&path);
        let b = s.get(&path);
        assert_eq!(a.status, 200, "{}", a.text());
        let v = a.header("x-reco-variant").unwrap().to_string();
        assert_eq!(b.header("x-reco-variant"), Some(v.as_str()));
        assert_eq!(a.header("x-reco-model"), Some(v.as_str()));
        assert_eq!(a.body, b.body);
        variants.insert(v);
    }
    assert_eq!(variants.into_iter().collect::<Vec<_>>(), ["als", "popularity"]);
    let m = s.metrics();
    let count = |variant: &str| -> u64 {
        let key = format!("reco_ab_assignments_total{{variant=\"{variant}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(count("als") + count("popularity"), 60);
    // Without --ab the route answers 404.
    let mut c = config(dir.path());
    c.ab = None;
    let plain = start(c);
    assert!(plain.get("/recommend/u1").expect_error(404).contains("--ab"));
}

#[test]
fn bad_input_gets_json_errors_with_the_right_status() {
    let dir = models_dir();
    let mut c = config(dir.path());
    c.max_body = 1024;
    let s = start(c);
    for n in ["0", "-1", "abc", "10001", "1.5", ""] {
        let msg = s.get(&format!("/recommend/als/u1?n={n}")).expect_error(400);
        assert!(msg.contains("n must be"), "{msg}");
    }
    s.get("/recommend/als/u1?n=10000").json();
    let msg = s.get("/recommend/nomodel/u1").expect_error(404);
    assert!(msg.contains("unknown model `nomodel`"), "{msg}");
    assert_eq!(
        s.get("/recommend/nomodel/u1").json()["models"],
        json!(["als", "popularity"])
    );
    s.get("/no/such/route").expect_error(404);
    s.post("/recommend/als", "{not json", &[]).expect_error(400);
    s.post("/recommend/als", r#"{"items": "I00"}"#, &[])
        .expect_error(400);
    s.post("/recommend/als", r#"{"items": [], "n": 0}"#, &[])
        .expect_error(400);
    s.post("/recommend/als", r#"{"items": [], "n": -5}"#, &[])
        .expect_error(400);
    s.post("/recommend/nomodel", r#"{"items": []}"#, &[])
        .expect_error(404);
    let big = format!(r#"{{"items": [{}]}}"#, vec!["\"I00\""; 500].join(","));
    s.post("/recommend/als", &big, &[]).expect_error(413);
    s.post("/admin/reload", "", &[("authorization", "Bearer wrong")])
        .expect_error(401);
    s.post("/admin/reload", "", &[]).expect_error(401);
    s.post("/", "", &[]).expect_error(405);
    // The server is still up.
    assert_eq!(s.get("/").status, 200);
}

#[test]
fn admin_routes_are_off_without_a_token() {
    let dir = models_dir();
    let mut c = config(dir.path());
    c.admin_token = None;
    let s = start(c);
    s.post(
        "/admin/reload",
        "",
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .expect_error(404);
    // It says how to turn the route on, instead of "no route".
    let msg = s.post("/admin/reload", "", &[]).expect_error(404);
    assert!(
        msg.contains("--admin-token") && msg.contains("RECO_ADMIN_TOKEN"),
        "{msg}"
    );
    assert_eq!(s.get("/").json()["admin"], false);
}

#[test]
fn model_files_have_etag_conditional_requests_gzip_and_cors() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let r = s.get_with("/models/als.safetensors", &[("origin", "http://example.com")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, std::fs::read(dir.path().join("als.safetensors")).unwrap());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let etag = r.header("etag").unwrap().to_string();
    let r = s.get_with("/models/als.safetensors", &[("if-none-match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = s.get_with("/models/als.safetensors", &[("if-none-match", "W/\"other\"")]);
    assert_eq!(r.status, 200);
    let r = s.get_with("/models/als.safetensors", &[("accept-encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body.len() < std::fs::read(dir.path().join("als.safetensors")).unwrap().len());
    s.get("/models/nope.safetensors").expect_error(404);
    s.get("/models/..%2Fetc%2Fpasswd").expect_error(404);
    // Rewritten in place and shorter (as `cp` over it does): the body is streamed from the
    // file, so it is never served torn and never faults a mapping — 409 until a reload, while
    // the loaded model keeps answering.
    let path = dir.path().join("als.safetensors");
    let original = std::fs::read(&path).unwrap();
    std::fs::write(&path, &original[..original.len() / 3]).unwrap();
    let msg = s.get("/models/als.safetensors").expect_error(409);
    assert!(
        msg.contains("changed on disk") && msg.contains("/admin/reload"),
        "{msg}"
    );
    assert_eq!(s.get("/recommend/als/u1?n=3").status, 200);
    // Put back by rename and reloaded: served again, byte for byte, with its length.
    std::fs::write(dir.path().join("als.tmp"), &original).unwrap();
    std::fs::rename(dir.path().join("als.tmp"), &path).unwrap();
    let r = s.post(
        "/admin/reload",
        "",
        &[("authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.get("/models/als.safetensors");
    assert_eq!((r.status, r.body == original), (200, true));
    assert_eq!(
        r.header("content-length"),
        Some(original.len().to_string().as_str())
    );
    assert_eq!(r.header("etag"), Some(etag.as_str()), "same bytes, same ETag");
    // Restricted CORS.
    let mut c = config(dir.path());
    c.cors_origins = vec!["http://good.example".into()];
    let s = start(c);
    let ok = s.get_with("/", &[("origin", "http://good.example")]);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://good.example")
    );
    let bad = s.get_with("/", &[("origin", "http://evil.example")]);
    assert_eq!(bad.header("access-control-allow-origin"), None);
}

#[test]
fn web_folder_is_served_with_content_types() {
    let dir = models_dir();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>reco</title>",
    )
    .unwrap();
    std::fs::write(web.path().join("app.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let mut c = config(dir.path());
    c.web_dir = Some(web.path().to_path_buf());
    let s = start(c);
    let r = s.get("/web/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        s.get("/web/app.wasm").header("content-type"),
        Some("application/wasm")
    );
    // A browser opening the root is sent to the page; scripts still get the JSON health.
    let page = s.get_with("/", &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(s.get("/").header("content-type"), Some("application/json"));
    s.get("/web/missing.js").expect_error(404);
    s.get("/web/../Cargo.toml").expect_error(400);
}

#[test]
fn hot_reload_under_load_fails_no_request() {
    let dir = models_dir();
    let s = Arc::new(start(config(dir.path())));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|t| {
            let (s, stop, ok) = (s.clone(), stop.clone(), ok.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let model = if (i + t) % 2 == 0 { "als" } else { "popularity" };
                    let r = s.get(&format!("/recommend/{model}/u{}?n=5", i % 30));
                    if r.status == 200 && r.json().as_array().map(Vec::len) == Some(5) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.push(format!("{}: {}", r.status, r.text()));
                    }
                    i += 1;
                }
                failures
            })
        })
        .collect();
    let auth = format!("Bearer {TOKEN}");
    let etag0 = s
        .get("/models/als.safetensors")
        .header("etag")
        .unwrap()
        .to_string();
    for seed in 1..=6u64 {
        // Write next to the folder, then rename into place (what `reco train` should do).
        let tmp = dir.path().join("als.tmp");
        std::fs::write(&tmp, als_bytes(seed)).unwrap();
        std::fs::rename(&tmp, dir.path().join("als.safetensors")).unwrap();
        let r = s.post("/admin/reload", "", &[("authorization", &auth)]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["models"], json!(["als", "popularity"]));
        std::thread::sleep(Duration::from_millis(30));
    }
    let etag6 = s
        .get("/models/als.safetensors")
        .header("etag")
        .unwrap()
        .to_string();
    assert_ne!(etag6, etag0);
    // A broken file (renamed in): the error is returned, and the old ALS keeps serving.
    std::fs::write(dir.path().join("als.tmp"), b"not a model").unwrap();
    std::fs::rename(dir.path().join("als.tmp"), dir.path().join("als.safetensors")).unwrap();
    let r = s.post("/admin/reload", "", &[("authorization", &auth)]);
    let msg = r.expect_error(500);
    assert!(msg.contains("failed to load"), "{msg}");
    assert_eq!(r.json()["failed"][0]["file"], "als.safetensors");
    assert_eq!(r.json()["models"], json!(["als", "popularity"]));
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "only {} requests",
        ok.load(Ordering::Relaxed)
    );
    let m = s.metrics();
    assert!(m.contains("reco_model_reloads_total{result=\"ok\"} 6"), "{m}");
    assert!(m.contains("reco_model_reloads_total{result=\"error\"} 1"), "{m}");
    // The old file is still served to browsers too (from the loaded file, still open).
    assert_eq!(
        s.get("/models/als.safetensors").header("etag"),
        Some(etag6.as_str())
    );
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_models() {
    let dir = models_dir();
    let mut c = config(dir.path());
    c.reload_on_sighup = true;
    let s = start(c);
    std::fs::remove_file(dir.path().join("popularity.safetensors")).unwrap();
    let pid = std::process::id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let mut models = Value::Null;
    for _ in 0..100 {
        models = s.get("/").json()["models"].clone();
        if models.get("popularity").is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(models.get("popularity").is_none(), "{models}");
    assert!(models.get("als").is_some());
}

#[test]
fn openapi_document_is_valid_and_lists_every_route() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let doc = s.get("/openapi.json").json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/", "get"),
        ("/recommend/{model}/{user_id}", "get"),
        ("/recommend/{model}", "post"),
        ("/recommend/{user_id}", "get"),
        ("/similar/{model}/{item_id}", "get"),
        ("/models/{file}", "get"),
        ("/admin/reload", "post"),
        ("/metrics", "get"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    // Structural validation: unique operation ids, every template parameter declared as a
    // path parameter, every response has a description, every $ref resolves.
    let mut op_ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(op_ids.insert(id.to_string()), "duplicate operationId {id}");
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, in_template, "{method} {path}");
            for (code, resp) in op["responses"].as_object().unwrap() {
                assert!(resp["description"].is_string(), "{method} {path} {code}");
            }
        }
    }
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let target = &r[..r.find('"').unwrap()];
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {target}"
        );
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let docs = s.get("/docs/");
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("swagger"), "{}", docs.text());
}

#[test]
fn metrics_counters_move() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let key = "reco_http_requests_total{route=\"/recommend/{model}/{user_id}\",model=\"als\",status=\"2xx\"}";
    let count = |m: &str, key: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0)
    };
    let before = count(&s.metrics(), key);
    for _ in 0..3 {
        s.get("/recommend/als/u2");
    }
    s.get("/recommend/als/stranger");
    s.get("/recommend/als/u2?n=0");
    let m = s.metrics();
    assert_eq!(
        s.get("/metrics").header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(count(&m, key), before + 4);
    // A bad `n` is counted under the model of the path, not under model="".
    assert_eq!(
        count(
            &m,
            "reco_http_requests_total{route=\"/recommend/{model}/{user_id}\",model=\"als\",status=\"4xx\"}"
        ),
        1
    );
    assert_eq!(
        count(
            &m,
            "reco_http_requests_total{route=\"/recommend/{model}/{user_id}\",model=\"\",status=\"4xx\"}"
        ),
        0
    );
    assert_eq!(
        count(&m, "reco_fallbacks_total{model=\"als\",kind=\"popularity\"}"),
        1
    );
    assert!(m.contains("reco_http_request_duration_seconds_bucket{route=\"/recommend/{model}/{user_id}\",model=\"als\",le=\"+Inf\"} 5"));
    assert!(m.contains("reco_models_loaded 2"));
    assert!(m.contains("# TYPE reco_http_request_duration_seconds histogram"));
}

#[test]
fn startup_fails_fast_and_names_what_is_wrong() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = |c: ServeConfig| {
        rt.block_on(serve(c))
            .err()
            .expect("start-up should fail")
            .to_string()
    };
    let missing = tempfile::tempdir().unwrap().path().join("models");
    assert!(err(config(&missing)).contains("not found"));
    let empty = tempfile::tempdir().unwrap();
    assert!(err(config(empty.path())).contains("no *.safetensors"));
    let dir = models_dir();
    std::fs::write(dir.path().join("broken.safetensors"), b"garbage").unwrap();
    std::fs::write(dir.path().join("short.safetensors"), b"").unwrap();
    let msg = err(config(dir.path()));
    assert!(
        msg.contains("broken.safetensors") && msg.contains("short.safetensors"),
        "{msg}"
    );
    let ok = models_dir();
    let mut c = config(ok.path());
    c.ab = Some(AbSplit::parse("als=50,lightfm=50").unwrap());
    assert!(err(c).contains("lightfm"));
}

#[test]
fn two_files_of_one_kind_are_named_by_file_stem() {
    let dir = models_dir();
    std::fs::write(dir.path().join("als-v2.safetensors"), als_bytes(7)).unwrap();
    let mut c = config(dir.path());
    c.ab = None;
    let s = start(c);
    let models = s.get("/").json()["models"].clone();
    let names: Vec<&String> = models.as_object().unwrap().keys().collect();
    assert_eq!(names, ["als", "als-v2", "popularity"]);
    assert_eq!(s.get("/recommend/als-v2/u1").status, 200);
}

#[test]
fn memoized_top_lists_give_exactly_the_live_answers() {
    let dir = models_dir();
    let cached = start(config(dir.path()));
    let mut c = config(dir.path());
    c.cache_top = 0;
    let live = start(c);
    for model in ["als", "popularity"] {
        for u in 0..30 {
            for n in [1, 3, 10, 20, 150] {
                let path = format!("/recommend/{model}/u{u}?n={n}");
                // Twice: the first request fills the memo, the second reads it.
                for _ in 0..2 {
                    let (a, b) = (cached.get(&path), live.get(&path));
                    assert_eq!(a.body, b.body, "{path}");
                    assert_eq!(a.header("x-reco-fallback"), b.header("x-reco-fallback"), "{path}");
                }
            }
        }
    }
}

#[test]
fn redirects_are_counted_as_3xx() {
    let dir = models_dir();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<title>x</title>").unwrap();
    let mut c = config(dir.path());
    c.web_dir = Some(web.path().to_path_buf());
    let s = start(c);
    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let r = no_redirects
        .get(format!("{}/", s.base))
        .header("accept", "text/html")
        .call()
        .unwrap();
    assert_eq!(r.status(), 307);
    let r = no_redirects.get(format!("{}/web", s.base)).call().unwrap();
    assert_eq!(r.status(), 308);
    let m = s.metrics();
    assert!(
        m.contains("reco_http_requests_total{route=\"/\",model=\"\",status=\"3xx\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("reco_http_requests_total{route=\"/web/{path}\",model=\"\",status=\"3xx\"} 1"),
        "{m}"
    );
    assert!(!m.contains("status=\"2xx\"} 2"), "{m}");
}

#[test]
fn percent_encoded_n_and_lower_case_bearer_are_accepted() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let r = s.get("/recommend/als/u1?n=%35");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), 5);
    let r = s.get("/similar/als/I12?n=%33");
    assert_eq!(r.json().as_array().unwrap().len(), 3);
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = s.post(
            "/admin/reload",
            "",
            &[("authorization", &format!("{scheme} {TOKEN}"))],
        );
        assert_eq!(r.status, 200, "{scheme}: {}", r.text());
    }
    s.post(
        "/admin/reload",
        "",
        &[("authorization", &format!("Basic {TOKEN}"))],
    )
    .expect_error(401);
}

#[test]
fn ids_with_control_characters_or_over_the_cap_are_refused() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let long = "x".repeat(reco_server::limits::MAX_ID_BYTES + 1);
    let max = "x".repeat(reco_server::limits::MAX_ID_BYTES);
    // At the cap: an unknown user, answered with the fallback.
    assert_eq!(s.get(&format!("/recommend/als/{max}")).status, 200);
    let msg = s.get(&format!("/recommend/als/{long}")).expect_error(400);
    assert!(msg.contains("user id is 257 bytes long"), "{msg}");
    assert!(!msg.contains(&long), "the id is echoed: {msg}");
    let msg = s.get("/recommend/als/u%001").expect_error(400);
    assert!(msg.contains("user id contains a control character"), "{msg}");
    let msg = s.get("/similar/als/I%1B%5B31m").expect_error(400);
    assert!(msg.contains("item id contains a control character"), "{msg}");
    let msg = s.get(&format!("/recommend/{long}")).expect_error(400);
    assert!(msg.contains("user id"), "{msg}");
    let msg = s
        .post("/recommend/als", r#"{"items": ["I00", "I\u0000"]}"#, &[])
        .expect_error(400);
    assert!(msg.contains("items[1] contains a control character"), "{msg}");
    let body = format!(r#"{{"items": ["I00"], "exclude": ["{long}"]}}"#);
    let msg = s.post("/recommend/als", &body, &[]).expect_error(400);
    assert!(msg.contains("exclude[0] is 257 bytes long"), "{msg}");
}

#[test]
fn reload_errors_name_the_file_and_a_short_reason_only() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let auth = format!("Bearer {TOKEN}");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, dir.path().join("passwd.safetensors")).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&secret, dir.path().join("passwd.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("garbage.safetensors"),
        b"\xff\xff\xff\xff\xff\xff\xff\x7fxyz",
    )
    .unwrap();
    let r = s.post("/admin/reload", "", &[("authorization", &auth)]);
    r.expect_error(500);
    let text = r.text();
    let body = r.json();
    let failed = body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{text}");
    for f in failed {
        assert!(
            ["garbage.safetensors", "passwd.safetensors"].contains(&f["file"].as_str().unwrap()),
            "{text}"
        );
        assert_eq!(f["error"], "not a valid reco model file", "{text}");
    }
    let folder = dir.path().to_string_lossy().into_owned();
    assert!(!text.contains(&folder), "absolute path leaked: {text}");
    // No number read from the file (the old answer had its first 8 bytes as an integer).
    let longest_number = text
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest_number <= 3, "{text}");
    // The folder gone: a short reason, no path.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let r = s.post("/admin/reload", "", &[("authorization", &auth)]);
    let msg = r.expect_error(500);
    assert!(msg.contains("the models folder does not exist"), "{msg}");
    assert!(!msg.contains(&folder), "{msg}");
    // The old models keep serving.
    assert_eq!(s.get("/recommend/als/u1").status, 200);
}

#[cfg(unix)]
#[test]
fn web_symlinks_out_of_the_web_folder_are_refused() {
    let dir = models_dir();
    let web = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::fs::write(web.path().join("inside.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), web.path().join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), web.path().join("dir")).unwrap();
    std::os::unix::fs::symlink(web.path().join("inside.txt"), web.path().join("alias.txt")).unwrap();
    let mut c = config(dir.path());
    c.web_dir = Some(web.path().to_path_buf());
    let s = start(c);
    assert_eq!(s.get("/web/inside.txt").text(), "inside");
    // A link that stays inside the folder is fine.
    assert_eq!(s.get("/web/alias.txt").text(), "inside");
    let msg = s.get("/web/leak.txt").expect_error(404);
    assert!(!msg.contains("secret"), "{msg}");
    s.get("/web/dir/secret.txt").expect_error(404);
}

/// `bytes` with element 1 of tensor `name` set to a huge value (a corrupt sparse-matrix row
/// pointer: the loader used to slice with it before checking, and panicked).
fn with_huge_element(bytes: &[u8], name: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let info = &header[name];
    let width = match info["dtype"].as_str().unwrap() {
        "I64" | "U64" => 8,
        "I32" | "U32" => 4,
        other => panic!("unexpected dtype {other}"),
    };
    let start = 8 + n + info["data_offsets"][0].as_u64().unwrap() as usize;
    let mut out = bytes.to_vec();
    let at = start + width;
    out[at..at + width].fill(0x11);
    out
}

#[test]
fn a_loader_panic_on_reload_is_a_short_reason_and_the_old_model_keeps_serving() {
    let dir = models_dir();
    let s = start(config(dir.path()));
    let auth = format!("Bearer {TOKEN}");
    let corrupt = with_huge_element(&als_bytes(42), "catalog.seen.indptr");
    std::fs::write(dir.path().join("als.safetensors"), corrupt).unwrap();
    let r = s.post("/admin/reload", "", &[("authorization", &auth)]);
    r.expect_error(500);
    let text = r.text();
    let failed = &r.json()["failed"];
    assert_eq!(failed[0]["file"], "als.safetensors", "{text}");
    // "the loader failed unexpectedly" while the core panics on this file, "not a valid reco
    // model file" once it checks first; never the panic text.
    let reason = failed[0]["error"].as_str().unwrap();
    assert!(
        ["the loader failed unexpectedly", "not a valid reco model file"].contains(&reason),
        "{text}"
    );
    for leak in ["panic", "index", "range", "slice", ".rs"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    assert_eq!(s.get("/recommend/als/u1?n=3").status, 200);
}
