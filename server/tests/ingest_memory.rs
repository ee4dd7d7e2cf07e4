//! `reco ingest` of a 100 MB file with no line break (`truncate -s 100M x.csv`) stops after
//! the 1 MiB record limit: quickly and with bounded memory. Alone in its test binary, so the
//! peak memory of waited-for children is this one child's.
#![cfg(unix)]
use std::process::Command;
use std::time::{Duration, Instant};

/// Peak resident memory of the terminated children of this process, in bytes.
fn children_max_rss() -> u64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0);
    let kib = u64::try_from(usage.ru_maxrss).unwrap();
    if cfg!(target_os = "macos") {
        kib
    } else {
        kib * 1024
    }
}

#[test]
fn a_100_mb_line_is_refused_quickly_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.csv");
    std::fs::File::create(&p).unwrap().set_len(100 << 20).unwrap();
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_reco"))
        .current_dir(dir.path())
        .args(["ingest", "x.csv"])
        .output()
        .unwrap();
    let took = start.elapsed();
    let rss = children_max_rss();
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!(
        "took {took:?}, peak RSS {} MiB, stderr {} bytes: {err}",
        rss >> 20,
        err.len()
    );
    assert!(!o.status.success());
    assert!(err.contains("line 1 is longer than the 1 MiB limit"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(rss < 48 << 20, "peak RSS {} MiB", rss >> 20);
}
