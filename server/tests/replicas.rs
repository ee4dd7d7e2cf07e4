//! Replicas following a model store: two `reco serve --models http://primary` replicas poll
//! a primary `reco serve`; a new model version on the primary reaches both within the poll
//! interval with no failed request, and a primary that goes down leaves them serving.
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reco_core::als::{AlsModel, AlsParams};
use reco_core::model_file::Precision;
use reco_core::popularity::PopularityModel;
use reco_core::recommender::attach_catalog;
use reco_core::InteractionsBuilder;
use reco_server::serve::{serve, ServeConfig, Server, StoreConfig};
use serde_json::Value;

const TOKEN: &str = "adm";
const POLL: Duration = Duration::from_millis(300);

fn data() -> reco_core::Interactions {
    let mut b = InteractionsBuilder::new();
    for u in 0..40 {
        for k in 0..8 {
            if (u + k) % 3 != 0 {
                b.push(&format!("u{u}"), &format!("I{:02}", (u % 2) * 10 + k), 1.0);
            }
        }
    }
    b.build().unwrap()
}

fn write_models(dir: &Path, seed: u64) {
    let d = data();
    let params = AlsParams {
        factors: 8,
        iterations: 4,
        seed,
        ..AlsParams::default()
    };
    let mut file = AlsModel::fit(&d.matrix, &params, &mut |_| {})
        .unwrap()
        .to_model_file();
    attach_catalog(&mut file, &d, &[]);
    reco_core::model_file::write_atomic(
        &dir.join("als.safetensors"),
        &file.to_bytes(Precision::F32).unwrap(),
    )
    .unwrap();
    let mut file = PopularityModel::fit(&d.matrix).unwrap().to_model_file();
    attach_catalog(&mut file, &d, &[]);
    reco_core::model_file::write_atomic(
        &dir.join("popularity.safetensors"),
        &file.to_bytes(Precision::F32).unwrap(),
    )
    .unwrap();
}

struct Running {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    base: String,
}

impl Running {
    fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown()).unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start(config: ServeConfig) -> Result<Running, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(serve(config)).map_err(|e| e.to_string())?;
    let base = format!("http://{}", server.addr());
    Ok(Running {
        rt,
        server: Some(server),
        base,
    })
}

fn primary_config(dir: &Path) -> ServeConfig {
    let mut c = ServeConfig::new(dir);
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.reload_on_sighup = false;
    c.admin_token = Some(TOKEN.into());
    c
}

fn replica_config(cache: &Path, url: &str) -> ServeConfig {
    let mut c = ServeConfig::new(cache);
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.reload_on_sighup = false;
    c.store = Some(StoreConfig {
        url: url.to_string(),
        poll: POLL,
    });
    c
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn etag(agent: &ureq::Agent, base: &str) -> String {
    let r = agent
        .get(format!("{base}/models/als.safetensors"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["etag"].to_str().unwrap().to_string()
}

fn json(agent: &ureq::Agent, url: &str) -> Value {
    agent
        .get(url)
        .header("accept", "application/json")
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

fn metric(agent: &ureq::Agent, base: &str, name: &str) -> f64 {
    let text = agent
        .get(format!("{base}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .unwrap()
}

#[test]
fn two_replicas_follow_a_new_version_within_the_poll_with_no_failed_request() {
    let (src, c1, c2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_models(src.path(), 1);
    let mut primary = start(primary_config(src.path())).unwrap();
    let replicas = [
        start(replica_config(c1.path(), &primary.base)).unwrap(),
        // The /models/ endpoint URL works as well as the server's.
        start(replica_config(c2.path(), &format!("{}/models/", primary.base))).unwrap(),
    ];
    let a = agent();
    let v1 = etag(&a, &primary.base);
    for r in &replicas {
        assert_eq!(etag(&a, &r.base), v1, "a replica starts on the primary's files");
        assert_eq!(json(&a, &format!("{}/", r.base))["store"]["ok"], true);
    }
    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let switch = std::thread::scope(|scope| {
        for r in &replicas {
            for t in 0..2 {
                let (base, stop, ok, failed) = (r.base.clone(), &stop, &ok, &failed);
                scope.spawn(move || {
                    let a = agent();
                    let mut k = t;
                    while !stop.load(Ordering::Relaxed) {
                        let r = a.get(format!("{base}/recommend/als/u{}", k % 40)).call();
                        match r {
                            Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        k += 1;
                    }
                });
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        // A new version on the primary (as `reco train` then a reload would make it).
        write_models(src.path(), 2);
        let r = a
            .post(format!("{}/admin/reload", primary.base))
            .header("authorization", &format!("Bearer {TOKEN}"))
            .send_empty()
            .unwrap();
        assert_eq!(r.status(), 200);
        let published = Instant::now();
        let v2 = etag(&a, &primary.base);
        assert_ne!(v1, v2);
        let mut switched = Vec::new();
        for r in &replicas {
            while etag(&a, &r.base) != v2 {
                assert!(published.elapsed() < POLL * 10, "a replica did not follow");
                std::thread::sleep(Duration::from_millis(10));
            }
            switched.push(published.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        switched
    });
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 100);
    for (k, took) in switch.iter().enumerate() {
        // Within one poll interval plus the download, check and swap.
        assert!(
            *took < POLL + Duration::from_millis(700),
            "replica {k} took {took:?}"
        );
        println!("replica {k} served the new version {took:?} after the primary");
    }
    // The same bytes give the same answers on primary and replicas.
    let want = json(&a, &format!("{}/recommend/als/u3", primary.base));
    for r in &replicas {
        assert_eq!(json(&a, &format!("{}/recommend/als/u3", r.base)), want);
    }

    // The primary goes down: the replicas keep serving their last good models and say so.
    primary.stop();
    std::thread::sleep(POLL * 3);
    for r in &replicas {
        assert_eq!(json(&a, &format!("{}/recommend/als/u3", r.base)), want);
        let health = json(&a, &format!("{}/", r.base));
        assert_eq!(health["store"]["ok"], false, "{health}");
        assert!(health["store"]["consecutive_failures"].as_u64().unwrap() >= 1);
        assert!(health["store"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot reach"));
        assert_eq!(metric(&a, &r.base, "reco_model_store_up"), 0.0);
        assert!(metric(&a, &r.base, "reco_model_store_polls_total{result=\"error\"}") >= 1.0);
    }
    drop(replicas);
    // A replica restarted while the store is down starts on its cached files...
    let dead = primary.base.clone();
    let again = start(replica_config(c1.path(), &dead)).unwrap();
    assert_eq!(json(&a, &format!("{}/recommend/als/u3", again.base)), want);
    // ... and one with nothing cached refuses to start, naming the store.
    let empty = tempfile::tempdir().unwrap();
    let err = start(replica_config(empty.path(), &dead)).err().unwrap();
    assert!(
        err.contains("cannot reach the model store") && err.contains("no cached models"),
        "{err}"
    );
}

/// The moto S3 server to test against: `RECO_MOTO_SERVER` or `moto_server` on the PATH
/// (scripts/test-s3.sh installs it and runs this test).
fn moto_server() -> std::process::Child {
    let bin = std::env::var("RECO_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): run scripts/test-s3.sh, which installs it"));
    let endpoint = format!("http://127.0.0.1:{port}");
    let a = agent();
    let start = Instant::now();
    while a.get(format!("{endpoint}/")).call().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The replicas and the uploader read these, as any AWS client would.
    for (k, v) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ] {
        std::env::set_var(k, v);
    }
    assert_eq!(
        a.put(format!("{endpoint}/models-bucket"))
            .send_empty()
            .unwrap()
            .status(),
        200
    );
    child
}

/// Uploads the model files of `dir` under `s3://models-bucket/prod/`.
fn upload(rt: &tokio::runtime::Runtime, dir: &Path) {
    use object_store::ObjectStore;
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name("models-bucket")
        .build()
        .unwrap();
    for f in ["als.safetensors", "popularity.safetensors"] {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        rt.block_on(store.put(&object_store::path::Path::from(format!("prod/{f}")), bytes.into()))
            .unwrap();
    }
}

#[test]
#[ignore = "needs moto_server: scripts/test-s3.sh installs it and runs this"]
fn replicas_follow_an_s3_store_and_survive_its_outage() {
    let mut moto = moto_server();
    let (src, c1, c2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    write_models(src.path(), 1);
    upload(&rt, src.path());
    let url = "s3://models-bucket/prod";
    let replicas = [
        start(replica_config(c1.path(), url)).unwrap(),
        start(replica_config(c2.path(), url)).unwrap(),
    ];
    let a = agent();
    let v1 = etag(&a, &replicas[0].base);
    assert_eq!(etag(&a, &replicas[1].base), v1);
    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let switch = std::thread::scope(|scope| {
        for r in &replicas {
            let (base, stop, ok, failed) = (r.base.clone(), &stop, &ok, &failed);
            scope.spawn(move || {
                let a = agent();
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    match a.get(format!("{base}/recommend/als/u{}", k % 40)).call() {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    k += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(200));
        write_models(src.path(), 2);
        upload(&rt, src.path());
        let published = Instant::now();
        let mut switched = Vec::new();
        for r in &replicas {
            while etag(&a, &r.base) == v1 {
                assert!(
                    published.elapsed() < POLL * 10,
                    "a replica did not follow the store"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            switched.push(published.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        switched
    });
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 50);
    assert_eq!(etag(&a, &replicas[0].base), etag(&a, &replicas[1].base));
    for (k, took) in switch.iter().enumerate() {
        assert!(
            *took < POLL + Duration::from_millis(1500),
            "replica {k} took {took:?}"
        );
        println!("replica {k} served the new S3 version {took:?} after the upload");
    }
    // The store goes down: the replicas keep serving and report it.
    let want = json(&a, &format!("{}/recommend/als/u3", replicas[0].base));
    moto.kill().unwrap();
    moto.wait().unwrap();
    std::thread::sleep(POLL * 4);
    for r in &replicas {
        assert_eq!(json(&a, &format!("{}/recommend/als/u3", r.base)), want);
        let health = json(&a, &format!("{}/", r.base));
        assert_eq!(health["store"]["ok"], false, "{health}");
        assert_eq!(metric(&a, &r.base, "reco_model_store_up"), 0.0);
    }
}
