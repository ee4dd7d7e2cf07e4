//! `reco tune`: never reads the evaluation's test part, reproducible for a seed, within its
//! budget, finds a planted best setting, and its file drives `reco train/evaluate --params`.
mod cli_common;

use std::path::Path;

use cli_common::{reco, stderr, stdout};
use serde_json::Value;

/// 60 users in 3 taste groups, 10 purchases each at times 1..=10: 8 early items from the
/// group's block of 10 (of items 0..29) and 2 late ones from items 30..39 (`late(u, t)`, t = 9,
/// 10); plus 30 users who buy 5 items of their group's block and the 5 late items of their
/// group (30 + 3g ..), so that the late items are learnable, the same in every variant.
fn shop(late: impl Fn(usize, usize) -> usize) -> String {
    let mut s = String::from("user_id,item_id,timestamp\n");
    for u in 0..60 {
        let g = u % 3;
        for t in 1..=8 {
            s.push_str(&format!("u{u},i{},{t}\n", g * 10 + (u / 3 + t * 3) % 10));
        }
        for t in 9..=10 {
            s.push_str(&format!("u{u},i{},{t}\n", late(u, t)));
        }
    }
    for v in 0..30 {
        let g = v % 3;
        for t in 1..=5 {
            s.push_str(&format!("v{v},i{},{t}\n", g * 10 + (v + t) % 10));
            s.push_str(&format!("v{v},i{},{}\n", 30 + (3 * g + t + v / 3) % 10, t + 5));
        }
    }
    s
}

/// The late items of user `u`: two of its group's (30 + 3g ..).
fn late_a(u: usize, t: usize) -> usize {
    30 + (3 * (u % 3) + t + u / 3) % 10
}

/// The late items of A, moved to users of another group (the same items, the same counts).
fn late_b(u: usize, t: usize) -> usize {
    late_a(u + 1, t)
}

fn tune(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "tune",
        "--input",
        "shop.csv",
        "--split",
        "time",
        "--time-col",
        "timestamp",
        "--model",
        "item-knn,ease,rp3beta",
        "--budget",
        "9",
    ];
    args.extend_from_slice(extra);
    let o = reco(dir, &[], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    tuned_json(dir)
}

/// `dir/tuned.json`, parsed.
fn tuned_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("tuned.json")).unwrap()).unwrap()
}

/// The tuned file without wall times.
fn without_times(mut v: Value) -> Value {
    v["search"]["seconds"] = Value::Null;
    v["search"]["trials_per_minute"] = Value::Null;
    for t in v["trials"].as_array_mut().unwrap() {
        t["seconds"] = Value::Null;
    }
    v
}

fn run_in(name: &str, csv: &str, extra: &[&str]) -> (tempfile::TempDir, Value) {
    let dir = tempfile::Builder::new().prefix(name).tempdir().unwrap();
    std::fs::write(dir.path().join("shop.csv"), csv).unwrap();
    let v = tune(dir.path(), extra);
    (dir, v)
}

#[test]
fn the_test_part_is_never_read_and_runs_are_reproducible() {
    let (a_dir, a) = run_in("a", &shop(late_a), &[]);
    let (_b_dir, b) = run_in("b", &shop(late_b), &[]);
    // Same early (train) rows, other late (test) rows: the same search, trial by trial.
    assert_eq!(without_times(a.clone()), without_times(b.clone()));
    assert_eq!(a["search"]["trials"], 9);
    assert_eq!(a["data"]["source"]["held_out_for_evaluate"], 180);
    // The test parts do differ, as `reco evaluate --params` shows.
    let eval = |csv: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shop.csv"), csv).unwrap();
        std::fs::copy(a_dir.path().join("tuned.json"), dir.path().join("tuned.json")).unwrap();
        let o = reco(
            dir.path(),
            &[],
            &[
                "evaluate",
                "--input",
                "shop.csv",
                "--split",
                "time",
                "--time-col",
                "timestamp",
                "--params",
                "tuned.json",
                "--json",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["model"], a["model"]);
        v["ndcg"].as_f64().unwrap()
    };
    let (fit_a, fit_b) = (eval(&shop(late_a)), eval(&shop(late_b)));
    assert!(
        fit_a > fit_b,
        "A's late items follow the groups, B's do not: {fit_a} vs {fit_b}"
    );
    // And a change in the train part does change the search (this test can fail).
    let mut c = shop(late_a);
    c = c.replacen("u0,i", "u0,i2", 1);
    let (_c_dir, c) = run_in("c", &c, &[]);
    assert_ne!(without_times(a.clone()), without_times(c));
    // Same seed, same file: the same result; another seed: another search.
    let (_d_dir, d) = run_in("d", &shop(late_a), &[]);
    assert_eq!(without_times(a.clone()), without_times(d));
    let (_e_dir, e) = run_in("e", &shop(late_a), &["--seed", "7"]);
    assert_ne!(without_times(a)["trials"], without_times(e)["trials"]);
}

#[test]
fn there_is_no_test_option_and_a_time_budget_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.tsv"), "").unwrap();
    let o = reco(
        dir.path(),
        &[],
        &["tune", "--train", "train.tsv", "--test", "test.tsv"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unexpected argument '--test'"),
        "{}",
        stderr(&o)
    );

    std::fs::write(dir.path().join("shop.csv"), shop(late_a)).unwrap();
    let start = std::time::Instant::now();
    let o = reco(
        dir.path(),
        &[],
        &["tune", "--input", "shop.csv", "--model", "all", "--budget", "3s"],
    );
    let took = start.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", stderr(&o));
    let v = tuned_json(dir.path());
    // No trial starts after 3 s; the last one (at most a LightFM fit of this tiny data) ends soon after.
    let trials = v["trials"].as_array().unwrap();
    let started_late =
        v["search"]["seconds"].as_f64().unwrap() - trials.last().unwrap()["seconds"].as_f64().unwrap();
    assert!(
        started_late <= 3.0 + 0.05,
        "the last trial started at {started_late:.2}s"
    );
    assert!(took < 30.0, "{took:.1}s");
    // Every model ran at least its defaults first (--model all).
    let first: Vec<&str> = trials
        .iter()
        .take(7)
        .map(|t| t["model"].as_str().unwrap())
        .collect();
    for m in [
        "als",
        "popularity",
        "lightfm",
        "knn",
        "item-knn",
        "ease",
        "rp3beta",
    ] {
        assert!(first.contains(&m), "{m} not among the first trials: {first:?}");
    }
    assert!(stdout(&o).contains("per minute"), "{}", stdout(&o));
}

#[test]
fn the_winner_beats_the_defaults_and_drives_train_and_evaluate() {
    // (The search itself finds planted optima in the unit tests of `reco_server::tune`.)
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shop.csv"), shop(late_a)).unwrap();
    let o = reco(
        dir.path(),
        &[],
        &["tune", "--input", "shop.csv", "--model", "ease", "--budget", "12"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = tuned_json(dir.path());
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 12);
    let ndcg = |t: &Value| t["ndcg"].as_f64().unwrap();
    let best = trials.iter().map(ndcg).fold(f64::MIN, f64::max);
    assert_eq!(v["validation"]["ndcg"].as_f64().unwrap(), best);
    // The defaults ran first (so the winner is never worse than them).
    assert_eq!(trials[0]["params"], serde_json::json!({}), "{:?}", trials[0]);
    assert!(best >= ndcg(&trials[0]), "the defaults ran first");
    assert_eq!(v["model"], "ease");

    // --params: train writes the tuned model, evaluate evaluates it.
    let o = reco(
        dir.path(),
        &[],
        &[
            "ingest",
            "shop.csv",
            "--features",
            "features",
            "--interactions",
            "i.tsv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = reco(
        dir.path(),
        &[],
        &[
            "train",
            "--features",
            "features",
            "--params",
            "tuned.json",
            "--out",
            "m.safetensors",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("trained ease"), "{}", stderr(&o));
    let o = reco(
        dir.path(),
        &[],
        &["evaluate", "--input", "shop.csv", "--params", "tuned.json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("\nease "), "{}", stdout(&o));
    let o = reco(
        dir.path(),
        &[],
        &["train", "--params", "tuned.json", "--model", "als"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    std::fs::write(dir.path().join("bad.json"), r#"{"format":"reco-tuned","model":"ease","params":{"lamda":3},"validation":{},"search":{},"data":{},"trials":[]}"#).unwrap();
    let o = reco(
        dir.path(),
        &[],
        &["train", "--features", "features", "--params", "bad.json"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown tuned parameter `lamda`"),
        "{}",
        stderr(&o)
    );
}
