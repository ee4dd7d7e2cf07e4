//! Accept errors (EMFILE) must not stall the server. This test binary runs alone in its own
//! process because it lowers the process's open-file limit; the hostile sockets and the real
//! request come from child processes (this binary again, in a helper mode), which raise their
//! own limit back.
#![cfg(unix)]
mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use reco_core::model_file::Precision;
use reco_core::popularity::PopularityModel;
use reco_core::InteractionsBuilder;
use reco_server::serve::{serve, ServeConfig};
use support::sockets::{self, Kind};

const MODE: &str = "RECO_TEST_CHILD_MODE";
const ADDR: &str = "RECO_TEST_CHILD_ADDR";
const DELAY: &str = "RECO_TEST_CHILD_DELAY_MS";

#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
fn set_open_file_limit(soft: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        rl.rlim_cur = soft.min(rl.rlim_max as u64) as libc::rlim_t;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
    }
}

/// The helper modes of this binary (each after a delay): `hold` opens 200 silent sockets and
/// sleeps; `request` makes one real request and prints `RESULT STATUS MILLIS`.
#[test]
fn child_process_helper() {
    let (Ok(mode), Ok(addr)) = (std::env::var(MODE), std::env::var(ADDR)) else {
        return;
    };
    set_open_file_limit(4096);
    let addr: SocketAddr = addr.parse().unwrap();
    let delay: u64 = std::env::var(DELAY).unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(delay));
    match mode.as_str() {
        "hold" => {
            let (held, failed) = sockets::open_many(addr, &[Kind::Silent], 200);
            println!("held {} failed {failed}", held.len());
            std::thread::sleep(Duration::from_secs(30));
        }
        "request" => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let start = Instant::now();
            match agent.get(format!("http://{addr}/")).call() {
                Ok(r) => println!("RESULT {} {}", r.status().as_u16(), start.elapsed().as_millis()),
                Err(e) => println!("RESULT error {e}"),
            }
        }
        other => panic!("unknown mode {other}"),
    }
}

fn child(mode: &str, addr: SocketAddr, delay_ms: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE, mode)
        .env(ADDR, addr.to_string())
        .env(DELAY, delay_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn running_out_of_file_descriptors_does_not_stall_the_accept_loop() {
    if std::env::var(MODE).is_ok() {
        return;
    }
    let mut b = InteractionsBuilder::new();
    b.push("u1", "I1", 1.0);
    b.push("u2", "I2", 1.0);
    let d = b.build().unwrap();
    let mut file = PopularityModel::fit(&d.matrix).unwrap().to_model_file();
    reco_core::recommender::attach_catalog(&mut file, &d, &["a".into(), "b".into()]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("popularity.safetensors"),
        file.to_bytes(Precision::F32).unwrap(),
    )
    .unwrap();
    let mut c = ServeConfig::new(dir.path());
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.reload_on_sighup = false;
    c.header_timeout = Duration::from_secs(60);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(serve(c)).unwrap();
    let addr = server.addr();
    // Children first (spawning needs descriptors): the holder connects after 0.5 s, the real
    // request comes 2 s later. Then leave the server 40 descriptors: accept fails with EMFILE
    // long before the holder's 200 sockets are in.
    let mut holder = child("hold", addr, 500);
    let request = child("request", addr, 2500);
    let open_now = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(64) as u64;
    set_open_file_limit(open_now + 40);
    let started = Instant::now();
    let out = request.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let result = out
        .split("RESULT ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or_else(|| panic!("no result: {out}"))
        .to_string();
    let _ = holder.kill();
    let _ = holder.wait();
    let stats = server.conn_stats();
    let errors = stats.accept_errors.load(SeqCst);
    let evicted = stats.evicted.load(SeqCst);
    set_open_file_limit(u64::MAX);
    rt.block_on(server.shutdown()).unwrap();
    assert!(
        result.starts_with("200 "),
        "real request: {result} (after {:?})",
        started.elapsed()
    );
    let ms: u64 = result[4..].trim().parse().unwrap();
    assert!(ms < 2000, "real request took {ms} ms");
    assert!(errors > 0, "the test did not exhaust descriptors");
    assert!(evicted > 0, "no idle connection was closed to free a descriptor");
}
