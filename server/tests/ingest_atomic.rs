//! The outputs of `reco ingest` are one set (issue 10, defect 6): a failed, or killed, ingest
//! leaves the old set as it was; a reader sees the old set or the new one, never a mix; temp
//! folders of killed ingests are removed by the next one.
#![cfg(unix)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reco_server::dataset::Dataset;

mod cli_common;
use cli_common::text;

/// `reco args…` in `dir` (see [`cli_common::reco`]).
fn reco(dir: &Path, args: &[&str]) -> Output {
    cli_common::reco(dir, &[], args)
}

const BIN: &str = env!("CARGO_BIN_EXE_reco");

/// A CSV of `rows` rows over users `{prefix}0..` and items `i0..`, with item names of
/// `name_len` bytes.
fn input(
    dir: &Path,
    name: &str,
    prefix: &str,
    rows: usize,
    users: usize,
    items: usize,
    name_len: usize,
) -> PathBuf {
    let mut s = String::from("user_id,item_id,name\n");
    for r in 0..rows {
        let item = (r * 7 + r / users) % items;
        s.push_str(&format!(
            "{prefix}{},i{item},{}{item}\n",
            r % users,
            "n".repeat(name_len)
        ));
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p
}

#[derive(Debug, PartialEq)]
enum Entry {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every path under `dir` with its content (files), target (links) or `Dir`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let entry = if m.is_symlink() {
                Entry::Link(std::fs::read_link(&p).unwrap())
            } else if m.is_dir() {
                stack.push(p.clone());
                Entry::Dir
            } else {
                Entry::File(std::fs::read(&p).unwrap())
            };
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), entry);
        }
    }
    out
}

/// The features folder and the interactions file (read through its link) are one complete
/// set; returns the users' id prefix (which input they came from).
fn consistent_set(dir: &Path) -> char {
    let d = Dataset::load_features(&dir.join("data/features")).expect("a complete features folder");
    let tsv = std::fs::read_to_string(dir.join("data/processed/interactions.tsv")).unwrap();
    assert_eq!(tsv.lines().count(), d.interactions.matrix.nnz() + 1);
    let users = d.interactions.users.ids();
    let prefix = users[0].chars().next().unwrap();
    assert!(users.iter().all(|u| u.starts_with(prefix)));
    let first_user = tsv.lines().nth(1).unwrap().split('\t').next().unwrap();
    assert!(
        first_user.starts_with(prefix),
        "interactions.tsv from another ingest than the features"
    );
    prefix
}

fn temp_entries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in ["data", "data/processed"] {
        for e in std::fs::read_dir(dir.join(d)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                out.push(format!("{d}/{name}"));
            }
        }
    }
    out
}

#[test]
fn features_pointing_at_a_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), "a.csv", "a", 50, 10, 5, 3);
    input(dir.path(), "b.csv", "b", 50, 10, 5, 3);
    assert!(reco(dir.path(), &["ingest", "a.csv"]).status.success());
    std::fs::write(dir.path().join("plain"), b"a file").unwrap();
    let before = snapshot(dir.path());
    let o = reco(dir.path(), &["ingest", "b.csv", "--features", "plain"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("--features plain is a file, not a folder"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(snapshot(dir.path()), before, "a failed ingest changed files");
    assert_eq!(consistent_set(dir.path()), 'a');
}

#[test]
fn a_write_failure_midway_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), "a.csv", "a", 50, 10, 5, 3);
    // 300 items with 400-byte names: items.tsv (~120 KB) exceeds the 64 KiB file size limit
    // below, interactions.tsv and users.tsv do not.
    input(dir.path(), "b.csv", "b", 300, 10, 300, 400);
    assert!(reco(dir.path(), &["ingest", "a.csv"]).status.success());
    let before = snapshot(dir.path());
    // Like a full disk: writes past 64 KiB fail with EFBIG (SIGXFSZ ignored).
    let o = Command::new("bash")
        .current_dir(dir.path())
        .args([
            "-c",
            r#"trap "" XFSZ; ulimit -f 64; exec "$0" "$@""#,
            BIN,
            "ingest",
            "b.csv",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains("large"), "{}", text(&o.stderr));
    assert_eq!(snapshot(dir.path()), before, "a failed ingest changed files");
    assert_eq!(consistent_set(dir.path()), 'a');
}

#[test]
fn kill_9_at_any_point_leaves_a_complete_set_and_the_next_ingest_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), "a.csv", "a", 50, 10, 5, 3);
    input(dir.path(), "c.csv", "c", 30_000, 6_000, 1_000, 3);
    assert!(reco(dir.path(), &["ingest", "a.csv"]).status.success());
    let data = dir.path().join("data");
    // How long a whole ingest of c.csv takes here (into other paths).
    let start = Instant::now();
    let o = reco(
        dir.path(),
        &[
            "ingest",
            "c.csv",
            "--features",
            "t/f",
            "--interactions",
            "t/i.tsv",
        ],
    );
    assert!(o.status.success());
    let full = start.elapsed().as_millis() as u64;
    let mut seen = Vec::new();
    // Kill while the temp folder is being written, then at points spread over a whole run.
    let points = [0, 30, 60, 90, 97, 100, 104, 110];
    let delays = std::iter::once(None).chain(points.iter().map(|p| Some(full * p / 100)));
    for delay_ms in delays {
        let mut child = Command::new(BIN)
            .current_dir(dir.path())
            .args(["ingest", "c.csv"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        match delay_ms {
            Some(ms) => std::thread::sleep(Duration::from_millis(ms)),
            None => {
                let tmp = format!(".features.{}.tmp", child.id());
                let start = Instant::now();
                while !data.join(&tmp).exists() && start.elapsed() < Duration::from_secs(60) {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        seen.push(consistent_set(dir.path()));
    }
    eprintln!("a whole ingest took {full} ms; sets seen after each kill: {seen:?}");
    assert_eq!(
        seen[0], 'a',
        "killed while writing its temp folder: the old set stays"
    );
    // The next ingest completes and removes the temp folders the killed ones left.
    assert!(reco(dir.path(), &["ingest", "c.csv"]).status.success());
    assert_eq!(consistent_set(dir.path()), 'c');
    assert_eq!(temp_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn stale_temp_files_of_dead_processes_are_removed_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), "a.csv", "a", 50, 10, 5, 3);
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let live_pid = std::process::id();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("processed")).unwrap();
    for stale in [
        format!(".features.{dead_pid}.tmp"),
        format!(".features-old.{dead_pid}.tmp"),
        format!(".features.{live_pid}.tmp"),
    ] {
        std::fs::create_dir(data.join(&stale)).unwrap();
        std::fs::write(data.join(&stale).join("users.tsv"), b"x").unwrap();
    }
    std::fs::write(
        data.join(format!("processed/.interactions.tsv.{dead_pid}.tmp")),
        b"x",
    )
    .unwrap();
    assert!(reco(dir.path(), &["ingest", "a.csv"]).status.success());
    assert_eq!(
        temp_entries(dir.path()),
        [format!("data/.features.{live_pid}.tmp")]
    );
}

#[test]
fn interactions_file_is_a_link_into_the_features_set() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), "a.csv", "a", 50, 10, 5, 3);
    input(dir.path(), "b.csv", "b", 60, 10, 5, 3);
    // An older layout: a regular interactions file and a folder without it.
    assert!(reco(dir.path(), &["ingest", "a.csv"]).status.success());
    let link = dir.path().join("data/processed/interactions.tsv");
    let content = std::fs::read(&link).unwrap();
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(dir.path().join("data/features/interactions.tsv")).unwrap();
    std::fs::write(&link, &content).unwrap();
    assert!(reco(dir.path(), &["ingest", "b.csv"]).status.success());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../features/interactions.tsv")
    );
    assert_eq!(consistent_set(dir.path()), 'b');
    // Inside the folder it is the folder's own file; any other name there is refused.
    let o = reco(
        dir.path(),
        &[
            "ingest",
            "b.csv",
            "--features",
            "f",
            "--interactions",
            "f/interactions.tsv",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(std::fs::symlink_metadata(dir.path().join("f/interactions.tsv"))
        .unwrap()
        .is_file());
    let o = reco(
        dir.path(),
        &["ingest", "b.csv", "--features", "f", "--interactions", "f/x.tsv"],
    );
    assert!(
        text(&o.stderr).contains("is inside the features folder"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_reader_never_sees_a_mix_while_ingests_swap_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path(), "a.csv", "a", 3000, 300, 100, 3);
    input(dir.path(), "b.csv", "b", 4000, 500, 150, 3);
    assert!(reco(dir.path(), &["ingest", "a.csv"]).status.success());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, f) = (stop.clone(), dir.path().join("data/features"));
        std::thread::spawn(move || {
            let mut loads = 0;
            while !stop.load(Ordering::Relaxed) {
                let d = Dataset::load_features(&f).expect("a complete set");
                let n = d.interactions.users.ids().len();
                assert!(n == 300 || n == 500, "{n} users: a mix");
                let p = d.interactions.users.ids()[0].chars().next().unwrap();
                assert_eq!((n == 300, n == 500), (p == 'a', p == 'b'), "a mix");
                loads += 1;
            }
            loads
        })
    };
    for k in 0..8 {
        let name = if k % 2 == 0 { "b.csv" } else { "a.csv" };
        assert!(reco(dir.path(), &["ingest", name]).status.success());
    }
    stop.store(true, Ordering::Relaxed);
    let loads = reader.join().unwrap();
    eprintln!("{loads} loads during 8 swaps");
    assert!(loads > 0);
}
