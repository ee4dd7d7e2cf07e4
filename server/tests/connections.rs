//! The connection layer of `reco serve` under hostile clients: silent, half-sent and idle
//! sockets, a low open-file limit, the connection cap, and the answers the HTTP parser gives
//! to requests it cannot parse.
mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reco_core::model_file::Precision;
use reco_core::popularity::PopularityModel;
use reco_core::InteractionsBuilder;
use reco_server::serve::{serve, ServeConfig, Server};
use support::sockets::{self, Kind};

fn models_dir() -> tempfile::TempDir {
    let mut b = InteractionsBuilder::new();
    for u in 0..20 {
        for i in 0..(u % 7 + 1) {
            b.push(&format!("u{u}"), &format!("I{i}"), 1.0);
        }
    }
    let d = b.build().unwrap();
    let mut file = PopularityModel::fit(&d.matrix).unwrap().to_model_file();
    let names: Vec<String> = d.items.ids().iter().map(|id| format!("Product {id}")).collect();
    reco_core::recommender::attach_catalog(&mut file, &d, &names);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("popularity.safetensors"),
        file.to_bytes(Precision::F32).unwrap(),
    )
    .unwrap();
    dir
}

/// A GET on a fresh connection: status and how long it took (`None` on a client timeout or
/// a refused connection).
fn timed_get(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, Duration)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let start = Instant::now();
    let resp = agent.get(format!("http://{addr}{path}")).call().ok()?;
    Some((resp.status().as_u16(), start.elapsed()))
}

struct InProcess {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    fn start(tune: impl FnOnce(&mut ServeConfig)) -> InProcess {
        let dir = models_dir();
        let mut c = ServeConfig::new(dir.path());
        c.addr = "127.0.0.1:0".parse().unwrap();
        c.reload_on_sighup = false;
        tune(&mut c);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(serve(c)).unwrap();
        InProcess {
            rt,
            server: Some(server),
            _dir: dir,
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    fn addr(&self) -> SocketAddr {
        self.server().addr()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

/// The reproduction: `reco serve` under `ulimit -n 256`, 300 silent, half-sent and
/// idle sockets; real requests must keep answering well within their timeout. (Before the
/// fix, accept failed with EMFILE and every real request timed out.)
#[cfg(unix)]
#[test]
fn three_hundred_hostile_sockets_under_ulimit_256_do_not_lock_real_clients_out() {
    let dir = models_dir();
    let bin = env!("CARGO_BIN_EXE_reco");
    let mut child: Child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{bin}' serve --models '{}' --port 0",
            dir.path().display()
        ))
        .env("RECO_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let child = Kill(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("server exited: {log:?}"))
            .unwrap();
        log.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // The start-up warns that --max-connections was lowered to fit the file limit.
    assert!(
        log.iter().any(|l| l.contains("--max-connections lowered")),
        "{log:?}"
    );
    std::thread::spawn(move || lines.for_each(drop));

    let (held, failed) = sockets::open_many(addr, &[Kind::Silent, Kind::PartialHead, Kind::KeptAlive], 300);
    assert_eq!(
        failed, 0,
        "{failed} of 300 hostile sockets could not connect or got no answer to their one request: the server is locked out"
    );
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let answer = timed_get(addr, "/recommend/popularity/u1?n=3", Duration::from_secs(5));
        let (status, took) = answer.unwrap_or_else(|| {
            panic!("real request {i} got no answer within 5 s while 300 hostile sockets are open")
        });
        assert_eq!(status, 200);
        worst = worst.max(took);
    }
    assert!(
        worst < Duration::from_secs(2),
        "slowest real request took {worst:?}"
    );
    drop(held);
    drop(child);
}

/// A half-sent head and a silent socket are closed after `--header-timeout`; a kept-alive
/// socket after `--idle-timeout` (and not at the header timeout).
#[test]
fn half_sent_silent_and_idle_sockets_are_closed_by_their_timeouts() {
    let s = InProcess::start(|c| {
        c.header_timeout = Duration::from_millis(1000);
        c.idle_timeout = Duration::from_millis(3000);
        c.request_timeout = Duration::from_millis(500);
    });
    let addr = s.addr();
    let mut partial = sockets::open(addr, Kind::PartialHead).unwrap();
    let mut silent = sockets::open(addr, Kind::Silent).unwrap();
    let mut idle = sockets::open(addr, Kind::KeptAlive).unwrap();
    let wait = Duration::from_secs(6);
    let t = sockets::closed_within(&mut partial, wait).expect("half-sent head still open after 6 s");
    assert!(t < Duration::from_millis(2500), "closed after {t:?}");
    let t = sockets::closed_within(&mut silent, wait).expect("silent socket still open after 6 s");
    assert!(t < Duration::from_millis(2500), "closed after {t:?}");
    // The idle socket outlives the header timeout, then closes at the idle timeout.
    let t = sockets::closed_within(&mut idle, wait).expect("idle socket still open after 6 s");
    assert!(
        t > Duration::from_millis(1500),
        "idle socket closed too early: {t:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    let stats = s.server().conn_stats();
    assert_eq!(
        stats.header_timeouts.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "{stats:?}"
    );
    assert_eq!(
        stats.idle_timeouts.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "{stats:?}"
    );
}

/// At `--max-connections`, the socket idle the longest makes room for the new one, so 300
/// hostile sockets against a cap of 20 still let real requests through at once.
#[test]
fn the_connection_cap_closes_idle_sockets_to_make_room() {
    let s = InProcess::start(|c| {
        c.max_connections = 20;
        c.header_timeout = Duration::from_secs(60);
    });
    let addr = s.addr();
    let (mut held, failed) =
        sockets::open_many(addr, &[Kind::Silent, Kind::PartialHead, Kind::KeptAlive], 300);
    assert_eq!(failed, 0);
    for _ in 0..10 {
        let (status, took) = timed_get(addr, "/", Duration::from_secs(5)).expect("no answer");
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    // Never more than the cap open: most hostile sockets were closed by the server.
    let open = held
        .iter_mut()
        .map(|h| sockets::closed_within(h, Duration::from_millis(2)))
        .filter(Option::is_none)
        .count();
    assert!(open <= 20, "{open} hostile sockets still open");
    let evicted = s
        .server()
        .conn_stats()
        .evicted
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(evicted >= 250, "evicted {evicted}");
}

fn split_answer(raw: &[u8]) -> (u16, String, serde_json::Value) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer head: {text:?}"));
    let status = head[9..12].parse().unwrap();
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("body not JSON ({e}): {text:?}"));
    (status, head.to_ascii_lowercase(), json)
}

/// Requests the HTTP parser rejects before the router sees them get the documented JSON body.
#[test]
fn requests_the_parser_rejects_get_json_errors() {
    let s = InProcess::start(|_| {});
    let addr = s.addr();
    let wait = Duration::from_secs(3);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"GARBAGE\x01 / HTTP/1.1\r\n\r\n".to_vec(), 400, "malformed"),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
            "URL too long",
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..150).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
            431,
            "headers",
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
                "b".repeat(100_000)
            )
            .into_bytes(),
            431,
            "headers",
        ),
    ];
    for (request, status, words) in cases {
        let raw = sockets::raw_exchange(addr, &request, wait).unwrap();
        let (got, head, json) = split_answer(&raw);
        assert_eq!(got, status, "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert_eq!(json["status"], status);
        assert!(json["error"].as_str().unwrap().contains(words), "{json}");
    }
    // The server still answers.
    assert_eq!(timed_get(addr, "/", wait).unwrap().0, 200);
}

/// A declared body over `--max-body` is refused at once, without waiting for the body.
#[test]
fn an_oversized_content_length_is_refused_at_once() {
    let s = InProcess::start(|c| c.max_body = 1024);
    let start = Instant::now();
    let raw = sockets::raw_exchange(
        s.addr(),
        b"POST /recommend/popularity HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"items\": []}",
        Duration::from_secs(3),
    )
    .unwrap();
    let took = start.elapsed();
    let (status, _, json) = split_answer(&raw);
    assert_eq!(status, 413, "{json}");
    assert!(json["error"].as_str().unwrap().contains("--max-body"), "{json}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}
