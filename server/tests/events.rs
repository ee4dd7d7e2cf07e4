//! Live events end to end: `POST /events` on a real server over models trained by the real
//! `reco train` on a generated shop, read-your-writes for every model kind, the log across
//! restarts, group commit, retrain and compaction under load, and `kill -9` crash safety.
mod cli_common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cli_common::{ingest_shop, reco, stderr};
use reco_server::events::{read_all, segments, ARCHIVE};
use reco_server::serve::{serve, EventsConfig, ServeConfig, Server};
use serde_json::{json, Value};

const EVENTS_TOKEN: &str = "ev-token";
const ADMIN_TOKEN: &str = "adm-token";
const KINDS: [&str; 7] = [
    "als",
    "lightfm",
    "knn",
    "item-knn",
    "ease",
    "rp3beta",
    "popularity",
];

/// A shop of 120 customers ingested in `dir/features`, and one model of each kind in
/// `dir/models`, trained by the real binary (so each file records its arguments).
fn shop_with_models(dir: &Path) {
    ingest_shop(dir, 120);
    for model in KINDS {
        let out = format!("models/{model}.safetensors");
        let mut args = vec![
            "train",
            "--model",
            model,
            "--features",
            "features",
            "--out",
            &out,
            "--threads",
            "1",
        ];
        if model == "lightfm" {
            args.extend(["--epochs", "5"]);
        }
        if model == "als" {
            args.extend(["--iterations", "5"]);
        }
        let o = reco(dir, &[], &args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

fn config(dir: &Path) -> ServeConfig {
    let mut c = ServeConfig::new(dir.join("models"));
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.reload_on_sighup = false;
    c.admin_token = Some(ADMIN_TOKEN.into());
    c.events = Some(EventsConfig {
        dir: dir.join("events"),
        token: EVENTS_TOKEN.into(),
    });
    c.retrain.features = Some(dir.join("features"));
    c
}

struct Running {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    agent: ureq::Agent,
    base: String,
}

struct Reply {
    status: u16,
    fallback: Option<String>,
    body: Value,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn reply(mut resp: ureq::http::Response<ureq::Body>) -> Reply {
    let fallback = resp
        .headers()
        .get("x-reco-fallback")
        .map(|v| v.to_str().unwrap().to_string());
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        fallback,
        body,
    }
}

fn start(config: ServeConfig) -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(serve(config)).unwrap();
    let base = format!("http://{}", server.addr());
    Running {
        rt,
        server: Some(server),
        agent: agent(),
        base,
    }
}

impl Running {
    fn get(&self, path: &str) -> Reply {
        reply(self.agent.get(format!("{}{path}", self.base)).call().unwrap())
    }

    fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Reply {
        post(&self.agent, &self.base, path, body, token)
    }

    fn events(&self, body: Value) -> Reply {
        self.post("/events", &body, Some(EVENTS_TOKEN))
    }

    fn ids(&self, path: &str) -> Vec<String> {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        ids(&r.body)
    }

    fn metric(&self, name: &str) -> f64 {
        metric(&self.get("/metrics").body, name)
    }

    fn stop(mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown()).unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.shutdown());
        }
    }
}

fn post(agent: &ureq::Agent, base: &str, path: &str, body: &Value, token: Option<&str>) -> Reply {
    let mut req = agent
        .post(format!("{base}{path}"))
        .content_type("application/json");
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    reply(req.send(body.to_string()).unwrap())
}

fn metric(text: &Value, name: &str) -> f64 {
    let text = text.as_str().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no metric {name}"))
        .parse()
        .unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

/// The items of customer `user` in the generated shop (`dir/shop.csv`).
fn bought(dir: &Path, user: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("shop.csv")).unwrap();
    let mut items: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            (f.next() == Some(user)).then(|| f.next().unwrap().to_string())
        })
        .collect();
    items.sort();
    items.dedup();
    items
}

#[test]
fn every_kind_reads_its_writes_for_known_and_new_users() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let s = start(config(dir.path()));
    for kind in KINDS {
        // A known customer: the item it would be shown first, once bought, is excluded, and
        // the rest of the list is computed from the grown history.
        let user = "c7";
        let before = s.ids(&format!("/recommend/{kind}/{user}?n=20"));
        let top = before[0].clone();
        let r = s.events(json!({"user": user, "item": top}));
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
        let after = s.ids(&format!("/recommend/{kind}/{user}?n=20"));
        assert!(
            !after.contains(&top),
            "{kind}: {top} bought, still recommended: {after:?}"
        );
        assert_eq!(after.len(), 20, "{kind}");

        // A new customer: popularity before, personalized after the first events (except the
        // popularity model, which excludes what was bought). With no training history the
        // live answer is the basket answer for the same items: two code paths, one result.
        let new = format!("new-{kind}");
        let r = s.get(&format!("/recommend/{kind}/{new}?n=10"));
        assert_eq!(r.fallback.as_deref(), Some("popularity"), "{kind}");
        let basket = ["p3", "p40", "p41"];
        let r = s.events(json!(basket.map(|i| json!({"user": new, "item": i}))));
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
        let live = s.get(&format!("/recommend/{kind}/{new}?n=10"));
        assert_eq!(live.status, 200, "{kind}: {}", live.body);
        if kind != "popularity" {
            assert_ne!(
                live.fallback.as_deref(),
                Some("popularity"),
                "{kind}: still the fallback"
            );
        }
        // (The popularity model's live counts include the events; its basket answer does not.)
        if kind != "popularity" {
            let as_basket = s.post(
                &format!("/recommend/{kind}"),
                &json!({"items": basket, "n": 10}),
                None,
            );
            assert_eq!(
                live.body, as_basket.body,
                "{kind}: live user ≠ basket of the same items"
            );
        }
        assert!(
            ids(&live.body).iter().all(|i| !basket.contains(&i.as_str())),
            "{kind}"
        );
    }
    // Binary models fold the whole history in: a known user's live answer equals the basket of
    // their training items plus the event.
    let user = "c11";
    let mut history = bought(dir.path(), user);
    for kind in ["item-knn", "ease", "rp3beta", "knn"] {
        // An item of the catalog the user does not have.
        let extra = s.ids(&format!("/recommend/popularity/{user}?n=1"))[0].clone();
        assert!(!history.contains(&extra));
        s.events(json!({"user": user, "item": extra}));
        history.push(extra);
        let live = s.get(&format!("/recommend/{kind}/{user}?n=10"));
        let as_basket = s.post(
            &format!("/recommend/{kind}"),
            &json!({"items": history, "n": 10}),
            None,
        );
        assert_eq!(live.body, as_basket.body, "{kind}");
        // Memoized (top 100) until the next event: the same answer again, and a longer list
        // than the memo is computed afresh.
        assert_eq!(
            s.get(&format!("/recommend/{kind}/{user}?n=10")).body,
            live.body,
            "{kind}"
        );
        let long = s.get(&format!("/recommend/{kind}/{user}?n=101")).body;
        let long_basket = s.post(
            &format!("/recommend/{kind}"),
            &json!({"items": history, "n": 101}),
            None,
        );
        assert_eq!(long, long_basket.body, "{kind}");
    }
    // ALS: the new user's first event personalizes by fold-in, so a different first item
    // gives a different list.
    s.events(json!({"user": "solo-a", "item": "p3"}));
    s.events(json!({"user": "solo-b", "item": "p120"}));
    assert_ne!(s.ids("/recommend/als/solo-a"), s.ids("/recommend/als/solo-b"));
}

#[test]
fn popularity_counts_include_the_events() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let s = start(config(dir.path()));
    let before = s.get("/recommend/popularity/nobody?n=150");
    let order = ids(&before.body);
    let last = order.last().unwrap().clone();
    let first_score = before.body[0]["score"].as_f64().unwrap();
    // Enough new buyers to pass the leader; repeated events of one buyer count once.
    let buyers = first_score as usize + 1;
    let events: Vec<Value> = (0..buyers)
        .flat_map(|u| {
            [
                json!({"user": format!("b{u}"), "item": last}),
                json!({"user": format!("b{u}"), "item": last}),
            ]
        })
        .collect();
    for chunk in events.chunks(1000) {
        assert_eq!(s.events(Value::Array(chunk.to_vec())).status, 200);
    }
    let after = s.get("/recommend/popularity/nobody?n=3");
    assert_eq!(ids(&after.body)[0], last);
    let old_score = before.body.as_array().unwrap().last().unwrap()["score"]
        .as_f64()
        .unwrap();
    assert_eq!(
        after.body[0]["score"].as_f64().unwrap(),
        old_score + buyers as f64
    );
    // A buyer does not get the item they bought.
    assert!(!s.ids("/recommend/popularity/b0?n=3").contains(&last));
}

#[test]
fn the_log_is_replayed_after_a_restart_and_a_torn_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let s = start(config(dir.path()));
    s.events(json!([{"user": "z1", "item": "p5"}, {"user": "z1", "item": "p9", "weight": 3}]));
    s.events(json!({"user": "z2", "item": "p77", "ts": 1_700_000_000}));
    let answers: Vec<Value> = ["z1", "z2"]
        .iter()
        .map(|u| s.get(&format!("/recommend/als/{u}")).body)
        .collect();
    s.stop();
    // A crash mid-write leaves half a record at the end of the segment.
    let (_, last) = segments(&dir.path().join("events")).unwrap().pop().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&last).unwrap();
    std::io::Write::write_all(&mut f, &[40, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(f);
    let s = start(config(dir.path()));
    assert_eq!(s.metric("reco_events_replayed_total"), 3.0);
    for (u, before) in ["z1", "z2"].iter().zip(&answers) {
        assert_eq!(&s.get(&format!("/recommend/als/{u}")).body, before, "{u}");
    }
    // The sequence continues after the last valid record.
    let r = s.events(json!({"user": "z3", "item": "p1"}));
    assert_eq!(r.body["first_seq"], 4);
    let (records, _) = read_all(&dir.path().join("events"), u64::MAX).unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(records[1].event.weight, 3.0);
    assert_eq!(records[2].event.ts, 1_700_000_000);
}

#[test]
fn tokens_and_bad_events_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let s = start(config(dir.path()));
    let one = json!({"user": "u", "item": "p1"});
    assert_eq!(s.post("/events", &one, None).status, 401);
    assert_eq!(s.post("/events", &one, Some("wrong")).status, 401);
    assert_eq!(s.post("/events", &one, Some(ADMIN_TOKEN)).status, 401);
    let bad = [
        (
            json!([{"user": "a", "item": "p1"}, {"user": "", "item": "p2"}]),
            "events[1].user is empty",
        ),
        (
            json!([{"user": "a", "item": "p1", "weight": 0}]),
            "events[0].weight must be a number",
        ),
        (
            json!([{"user": "a", "item": "p1", "weight": "1"}]),
            "events[0]: invalid type",
        ),
        (
            json!({"user": "a", "item": "p1", "ts": -5}),
            "event.ts must be Unix seconds",
        ),
        (json!({"user": "a"}), "missing field `item`"),
        (
            json!({"user": "a", "item": "p1", "extra": 1}),
            "unknown field `extra`",
        ),
        (
            json!({"user": "a", "item": "x".repeat(300)}),
            "event.item is 300 bytes",
        ),
        (json!([]), "no events"),
        (json!({"events": 5}), "`events` must be an array"),
        (json!(7), "must be an event object"),
    ];
    for (body, expect) in bad {
        let r = s.events(body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let msg = r.body["error"].as_str().unwrap();
        assert!(msg.contains(expect), "{body}: {msg}");
    }
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"user": "a", "item": format!("p{}", i % 150)}))
        .collect();
    let mut cfg = config(dir.path());
    cfg.max_body = 1 << 20;
    drop(s);
    let s = start(cfg);
    assert_eq!(s.events(Value::Array(too_many)).status, 413);
    // Nothing of the refused requests was stored: the first accepted event is seq 1.
    let r = s.events(json!({"events": [{"user": "a", "item": "NEW-ITEM"}]}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["first_seq"], 1);
    assert_eq!(r.body["unknown_items"], json!(["NEW-ITEM"]));
    assert!(s.metric("reco_events_total{result=\"rejected\"}") >= 1001.0);
    // Without a token configured the route is off and says how to turn it on.
    let mut off = config(dir.path());
    off.events = None;
    let s = start(off);
    let r = s.events(one);
    assert_eq!(r.status, 404);
    assert!(r.body["error"].as_str().unwrap().contains("--events-dir"));
}

#[test]
fn concurrent_requests_share_fsyncs_and_every_event_gets_one_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let s = start(config(dir.path()));
    let seqs = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for t in 0..32 {
            let (base, seqs) = (s.base.clone(), seqs.clone());
            scope.spawn(move || {
                let agent = agent();
                for k in 0..25 {
                    let body = json!({"user": format!("t{t}"), "item": format!("p{}", k % 150)});
                    let r = post(&agent, &base, "/events", &body, Some(EVENTS_TOKEN));
                    assert_eq!(r.status, 200, "{}", r.body);
                    seqs.lock().unwrap().push(r.body["first_seq"].as_u64().unwrap());
                }
            });
        }
    });
    let mut seqs = seqs.lock().unwrap().clone();
    seqs.sort();
    assert_eq!(seqs, (1..=800).collect::<Vec<u64>>());
    let commits = s.metric("reco_event_commits_total");
    assert_eq!(s.metric("reco_events_total{result=\"accepted\"}"), 800.0);
    assert!(
        commits < 800.0,
        "{commits} fsyncs for 800 concurrent events: no group commit"
    );
    println!("800 concurrent events in {commits} group commits");
}

#[test]
fn retrain_swaps_under_load_and_compaction_keeps_every_event_not_in_a_model() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let s = start(config(dir.path()));
    // An item no model knows: stored, not recommendable until the retrain.
    let r = s.events(json!([
        {"user": "r1", "item": "BRAND-NEW"}, {"user": "r2", "item": "BRAND-NEW"},
        {"user": "r3", "item": "BRAND-NEW"}, {"user": "r1", "item": "p2"}
    ]));
    assert_eq!(r.body["unknown_items"], json!(["BRAND-NEW"]));
    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let items_before = s.get("/").body["models"]["als"]["items"].as_u64().unwrap();
    let report = std::thread::scope(|scope| {
        for t in 0..4 {
            let (base, stop, ok, failed) = (s.base.clone(), &stop, &ok, &failed);
            scope.spawn(move || {
                let agent = agent();
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let kind = KINDS[k % KINDS.len()];
                    let r = reply(agent.get(format!("{base}/recommend/{kind}/c{t}")).call().unwrap());
                    if r.status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed)
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed)
                    };
                    // Events keep arriving during training; they must stay live afterwards.
                    if k % 10 == 0 {
                        let body = json!({"user": format!("during{t}"), "item": "p4"});
                        assert_eq!(
                            post(&agent, &base, "/events", &body, Some(EVENTS_TOKEN)).status,
                            200
                        );
                    }
                    k += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(200));
        let r = s.post("/admin/retrain", &json!({}), Some(ADMIN_TOKEN));
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        r
    });
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 50);
    let through = report.body["events_through"].as_u64().unwrap();
    assert!(through >= 4);
    assert_eq!(report.body["retrained"].as_array().unwrap().len(), KINDS.len());
    // The new item is in the retrained models: recommendable (here to a buyer of p2 like r1).
    let health = s.get("/").body;
    assert_eq!(health["models"]["als"]["items"], items_before + 1);
    let all_items = format!("/recommend/popularity/someone?n={}", items_before + 1);
    assert!(s.ids(&all_items).contains(&"BRAND-NEW".to_string()));
    // Compaction: the segments the models contain are archived; every event is still read
    // for training, and the events after the cut are live after a restart.
    let ev = dir.path().join("events");
    assert!(!segments(&ev.join(ARCHIVE)).unwrap().is_empty());
    let (all, _) = read_all(&ev, u64::MAX).unwrap();
    let total = all.len() as u64;
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    s.stop();
    let s = start(config(dir.path()));
    assert_eq!(s.metric("reco_events_replayed_total"), (total - through) as f64);
    // A second retrain archives the rest; a failed one changes nothing.
    let r = s.post("/admin/retrain", &json!({}), Some(ADMIN_TOKEN));
    assert_eq!(r.status, 200, "{}", r.body);
    let files_before: Vec<Vec<u8>> = KINDS
        .iter()
        .map(|k| std::fs::read(dir.path().join(format!("models/{k}.safetensors"))).unwrap())
        .collect();
    s.events(json!({"user": "after", "item": "p1"}));
    std::fs::rename(dir.path().join("features"), dir.path().join("features-gone")).unwrap();
    let r = s.post("/admin/retrain", &json!({}), Some(ADMIN_TOKEN));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .contains("previous models keep serving"));
    for (k, before) in KINDS.iter().zip(&files_before) {
        assert_eq!(
            &std::fs::read(dir.path().join(format!("models/{k}.safetensors"))).unwrap(),
            before
        );
    }
    assert_eq!(s.metric("reco_retrains_total{result=\"error\"}"), 1.0);
    assert_eq!(s.metric("reco_live_users"), 1.0);
    let (after_fail, _) = read_all(&ev, u64::MAX).unwrap();
    assert_eq!(after_fail.len() as u64, total + 1);
}

/// `reco serve` as a child process; its address read from the log line.
fn spawn_server(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reco"))
        .current_dir(dir)
        .args([
            "serve",
            "--models",
            "models",
            "--port",
            "0",
            "--events-dir",
            "events",
        ])
        .env("RECO_EVENTS_TOKEN", EVENTS_TOKEN)
        .env("RECO_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The log goes to stdout.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

#[test]
fn kill_9_at_random_moments_loses_no_acknowledged_event_and_duplicates_none() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..10 {
        let (mut child, base) = spawn_server(dir.path());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let (base, stop, acked) = (base.clone(), stop.clone(), acked.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(5)))
                        .build()
                        .into();
                    let mut k = 0;
                    while !stop.load(Ordering::Relaxed) {
                        // Unique (user, item) per event: each can be found in the log.
                        let key = format!("r{round}t{t}k{k}");
                        let batch = 1 + k % 3;
                        let body: Vec<Value> = (0..batch)
                            .map(|b| json!({"user": key, "item": format!("p{b}")}))
                            .collect();
                        let sent = agent
                            .post(format!("{base}/events"))
                            .header("authorization", &format!("Bearer {EVENTS_TOKEN}"))
                            .content_type("application/json")
                            .send(Value::Array(body).to_string());
                        match sent {
                            Ok(r) if r.status() == 200 => {
                                acked.lock().unwrap().insert(key, batch as u64);
                            }
                            Ok(r) => panic!("status {}", r.status()),
                            Err(_) => break, // killed mid-request: not acknowledged
                        }
                        k += 1;
                    }
                })
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(50 + rng % 300));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        // Every acknowledged event is in the log exactly once.
        let (records, _) = read_all(&dir.path().join("events"), u64::MAX).unwrap();
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for r in &records {
            *seen
                .entry((r.event.user.clone(), r.event.item.clone()))
                .or_default() += 1;
        }
        assert!(
            seen.values().all(|&c| c == 1),
            "round {round}: a duplicated event"
        );
        let acked = acked.lock().unwrap();
        for (key, &batch) in acked.iter() {
            for b in 0..batch {
                assert!(
                    seen.contains_key(&(key.clone(), format!("p{b}"))),
                    "round {round}: lost {key} p{b}"
                );
            }
        }
        let users: HashSet<&String> = records.iter().map(|r| &r.event.user).collect();
        println!(
            "round {round}: {} acknowledged requests, {} events and {} users in the log",
            acked.len(),
            records.len(),
            users.len()
        );
    }
    // The server starts on what the kills left and answers.
    let (mut child, base) = spawn_server(dir.path());
    let r = reply(
        agent()
            .get(format!("{base}/recommend/als/r0t0k0"))
            .call()
            .unwrap(),
    );
    assert_eq!(r.status, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn reco_train_merges_the_log_and_records_how_far() {
    let dir = tempfile::tempdir().unwrap();
    shop_with_models(dir.path());
    let s = start(config(dir.path()));
    s.events(json!([{"user": "fresh", "item": "p3"}, {"user": "fresh", "item": "UNSEEN"}]));
    s.stop();
    let o = reco(
        dir.path(),
        &[],
        &[
            "train",
            "--model",
            "item-knn",
            "--features",
            "features",
            "--events",
            "events",
            "--out",
            "m.safetensors",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(dir.path().join("m.safetensors")).unwrap();
    let rec = reco_core::recommender::Recommender::from_bytes(&bytes).unwrap();
    assert_eq!(rec.training()["events_through"], 2);
    assert_eq!(rec.training()["args"]["model"], "item-knn");
    let fresh = rec
        .users()
        .index_of("fresh")
        .expect("the event's user is trained on");
    let unseen = rec
        .items()
        .index_of("UNSEEN")
        .expect("the unknown item is trained on");
    assert!(rec.seen_items(fresh).contains(&unseen));
    // A folder that is not an event log is named.
    let o = reco(
        dir.path(),
        &[],
        &["train", "--features", "features", "--events", "nope"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

/// Customers buy product pairs (a_k, then b_k a week later); the fillers are what everyone
/// buys. After the cut-off new customers buy a_k, then b_k: only a model that sees the a_k
/// event can put b_k in their top 10; the frozen model answers them with the fillers.
#[test]
fn replay_shows_live_events_finding_what_the_frozen_model_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("user,item,time\n");
    let day = 86_400;
    let t0 = 1_600_000_000i64;
    for u in 0..300 {
        let k = u % 20;
        let t = t0 + (u as i64 % 30) * day;
        csv.push_str(&format!("old{u},a{k},{t}\nold{u},b{k},{}\n", t + 7 * day));
        for f in 0..12 {
            csv.push_str(&format!("old{u},filler{f},{t}\n"));
        }
    }
    for u in 0..100 {
        let k = u % 20;
        let t = t0 + 60 * day + (u as i64) * 3600;
        csv.push_str(&format!("new{u},a{k},{t}\nnew{u},b{k},{}\n", t + day));
    }
    std::fs::write(dir.path().join("pairs.csv"), csv).unwrap();
    let o = reco(
        dir.path(),
        &[],
        &[
            "ingest",
            "pairs.csv",
            "--user-col",
            "user",
            "--item-col",
            "item",
            "--time-col",
            "time",
            "--features",
            "features",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cutoff = "2020-11-01"; // t0 + 48 days: every old pair before, every new one after
    let o = reco(
        dir.path(),
        &[],
        &[
            "replay",
            "--features",
            "features",
            "--model",
            "item-knn,popularity",
            "--cutoff",
            cutoff,
            "--retrain-every",
            "30d",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = cli_common::stdout(&o);
    let row = |model: &str| -> Vec<f64> {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("| {model} |")))
            .unwrap_or_else(|| panic!("{out}"));
        line.split('|')
            .filter_map(|c| c.split_whitespace().next()?.parse::<f64>().ok())
            .collect()
    };
    let knn = row("item-knn");
    // 200 replayed purchases, the 100 b_k of them findable after the a_k event.
    assert!(knn[0] < 0.05, "frozen item-knn found the pairs: {out}");
    assert!(knn[1] >= 0.45, "live item-knn missed the pairs: {out}");
    assert!(
        stderr(&o).contains("200 first purchases to replay"),
        "{}",
        stderr(&o)
    );
    // A cut-off outside the data says where the data is.
    let o = reco(
        dir.path(),
        &[],
        &["replay", "--features", "features", "--cutoff", "1999-01-01"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("choose a date inside the data"),
        "{}",
        stderr(&o)
    );
}
