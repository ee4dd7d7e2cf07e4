//! `reco import spark-als` on a model trained by real Spark (pyspark 4.3, `local[2]`; the
//! fixture is made by `scripts/spark/make-fixture.sh`): for every user reco's top-10 equals
//! Spark's own `recommendForUserSubset` after removing the user's items (same items, same
//! order, scores within 1e-4), and reco's fold-in of each user's events reproduces Spark's
//! user vector. Malformed folders, files and mismatched events fail with a clear message.
mod cli_common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cli_common::{reco, stderr, stdout};
use reco_core::als::AlsModel;
use reco_core::model_file::ModelFile;
use reco_core::recommender::{RecommendOptions, Recommender, Scratch};
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spark-als")
}

/// Copies the fixture into `dir` (so tests can damage it).
fn copy_fixture(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let to = dir.join("fx");
    copy(&fixture(), &to);
    to
}

fn import(dir: &Path, fx: &Path, extra: &[&str]) -> std::process::Output {
    let spark = fx.join("spark");
    let events = fx.join("events.csv");
    let mut args = vec![
        "import",
        "spark-als",
        spark.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "-o",
        "als.safetensors",
    ];
    args.extend_from_slice(extra);
    reco(dir, &[], &args)
}

/// Summed weights per (user, item) of the fixture's events.
fn event_weights(fx: &Path) -> HashMap<String, Vec<(String, f32)>> {
    let mut pairs: HashMap<(String, String), f32> = HashMap::new();
    for line in std::fs::read_to_string(fx.join("events.csv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split(',').collect();
        *pairs.entry((f[0].into(), f[1].into())).or_default() += f[2].parse::<f32>().unwrap();
    }
    let mut by_user: HashMap<String, Vec<(String, f32)>> = HashMap::new();
    for ((u, i), w) in pairs {
        by_user.entry(u).or_default().push((i, w));
    }
    by_user
}

#[test]
fn imported_spark_model_recommends_and_folds_in_as_spark() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture();
    let items = fx.join("items.csv");
    let o = import(dir.path(), &fx, &["--items", items.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("rank 8, regParam 0.1, alpha 2, maxIter 10"), "{out}");
    assert!(out.contains("users 40, items 30"), "{out}");

    let bytes = std::fs::read(dir.path().join("als.safetensors")).unwrap();
    let rec = Recommender::from_bytes(&bytes).unwrap();
    let mut scratch = Scratch::default();
    let (mut users, mut max_score_diff) = (0, 0f32);
    for line in std::fs::read_to_string(fx.join("recommendations.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(line).unwrap();
        let user = v["user"].as_str().unwrap();
        let seen: Vec<&str> = v["seen"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let spark: Vec<(&str, f32)> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .zip(v["scores"].as_array().unwrap())
            .map(|(i, s)| (i.as_str().unwrap(), s.as_f64().unwrap() as f32))
            .filter(|(i, _)| !seen.contains(i))
            .take(10)
            .collect();
        assert!(
            spark.len() >= 10.min(30 - seen.len()),
            "{user}: Spark's list is too short"
        );
        let ours = rec
            .recommend_user(user, 10, &RecommendOptions::default(), &mut scratch)
            .unwrap();
        let ours: Vec<(&str, f32)> = ours
            .items
            .iter()
            .map(|r| (rec.item_id(r.index), r.score))
            .collect();
        let ids = |l: &[(&str, f32)]| l.iter().map(|x| x.0.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ids(&ours),
            ids(&spark),
            "user {user}: reco's top-10 differs from Spark's"
        );
        for ((_, a), (_, b)) in ours.iter().zip(&spark) {
            max_score_diff = max_score_diff.max((a - b).abs());
        }
        users += 1;
    }
    assert_eq!(users, 40);
    assert!(max_score_diff <= 1e-4, "max score difference {max_score_diff}");
    eprintln!("top-10 of {users} users equal to Spark's; max score difference {max_score_diff:e}");

    // Names come from the catalog.
    let i = rec.items().index_of("SKU-07").unwrap();
    assert_eq!(rec.item_name(i), "green lantern 7");

    // Fold-in of each user's events (summed weights) against Spark's user vector.
    let file = ModelFile::from_bytes(&bytes).unwrap();
    let model = AlsModel::from_model_file(&file).unwrap();
    let mut max_diff = 0f32;
    for (user, pairs) in event_weights(&fx) {
        let u = rec.users().index_of(&user).unwrap() as usize;
        let basket: Vec<(u32, f32)> = pairs
            .iter()
            .map(|(i, w)| (rec.items().index_of(i).unwrap(), *w))
            .collect();
        let x = model.fold_in(&basket).unwrap();
        for (a, b) in x.iter().zip(model.user_factors(u)) {
            max_diff = max_diff.max((a - b).abs());
        }
    }
    assert!(
        max_diff <= 1e-5,
        "fold-in differs from Spark's user vectors by {max_diff}"
    );
    eprintln!("fold-in: max |reco - Spark| = {max_diff:e}");
}

/// Runs an import expected to fail and returns its message.
fn failure(dir: &Path, fx: &Path, extra: &[&str]) -> String {
    let o = import(dir, fx, extra);
    assert!(!o.status.success(), "expected a failure: {}", stdout(&o));
    assert!(
        !dir.join("als.safetensors").exists(),
        "a failed import wrote the file"
    );
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_folders_files_and_events_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Wrong regularization: the fold-in check refuses it.
    let fx = copy_fixture(d);
    let err = failure(d, &fx, &["--reg-param", "0.2"]);
    assert!(
        err.contains("away from Spark's") && err.contains("regParam (0.2)"),
        "{err}"
    );

    // Events that are not the training events.
    let events = std::fs::read_to_string(fx.join("events.csv")).unwrap();
    let fewer: String = events
        .lines()
        .filter(|l| !l.starts_with("u005,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(fx.join("events.csv"), &fewer).unwrap();
    let err = failure(d, &fx, &[]);
    assert!(
        err.contains("Spark knows 40 users but the events have 39"),
        "{err}"
    );
    let more = format!("{events}stranger,SKU-01,1\n");
    std::fs::write(fx.join("events.csv"), more).unwrap();
    let err = failure(d, &fx, &[]);
    assert!(
        err.contains("user `stranger` is in the events but Spark has no such user"),
        "{err}"
    );
    std::fs::write(fx.join("events.csv"), &events).unwrap();

    // No als/ (the estimator's hyperparameters): say which flags to pass; they then suffice.
    std::fs::rename(fx.join("spark/als"), d.join("als-away")).unwrap();
    let err = failure(d, &fx, &[]);
    assert!(err.contains("pass --reg-param"), "{err}");
    let o = import(d, &fx, &["--reg-param", "0.1", "--alpha", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(d.join("als.safetensors")).unwrap();
    std::fs::rename(d.join("als-away"), fx.join("spark/als")).unwrap();

    // An NNLS (nonnegative) model cannot be reproduced by reco's fold-in.
    let meta_dir = fx.join("spark/als/metadata");
    let meta_file = std::fs::read_dir(&meta_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let meta = std::fs::read_to_string(&meta_file).unwrap();
    std::fs::write(
        &meta_file,
        meta.replace("\"nonnegative\":false", "\"nonnegative\":true"),
    )
    .unwrap();
    let err = failure(d, &fx, &[]);
    assert!(err.contains("nonnegative = true"), "{err}");
    std::fs::write(&meta_file, &meta).unwrap();

    // Damaged Parquet files: truncated at many lengths, and bytes flipped.
    let factors_dir = fx.join("spark/model/itemFactors");
    let part = std::fs::read_dir(&factors_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let original = std::fs::read(&part).unwrap();
    for len in (0..original.len()).step_by(37) {
        std::fs::write(&part, &original[..len]).unwrap();
        let err = failure(d, &fx, &[]);
        assert!(err.contains("itemFactors"), "{err}");
    }
    for at in (0..original.len()).step_by(53) {
        let mut bytes = original.clone();
        bytes[at] ^= 0x5a;
        std::fs::write(&part, &bytes).unwrap();
        let o = import(d, &fx, &[]);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "flip at {at}: {err}");
        if !o.status.success() {
            assert!(err.starts_with("error: "), "flip at {at}: {err}");
        }
        let _ = std::fs::remove_file(d.join("als.safetensors"));
    }
    std::fs::write(&part, &original).unwrap();

    // Not a Spark folder at all.
    let o = reco(d, &[], &["import", "spark-als", "nowhere", "--events", "e.csv"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nowhere: no such folder"), "{}", stderr(&o));
}

#[test]
fn without_id_tables_spark_integer_ids_are_the_ids() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fx = copy_fixture(d);
    // StringIndexer (alphabetAsc) gave u000… and SKU-00… the indices 0, 1, …: events with
    // those integers as ids are what a job without a mapping would have trained on.
    let events = std::fs::read_to_string(fx.join("events.csv")).unwrap();
    let numeric: String = events
        .lines()
        .enumerate()
        .map(|(n, l)| {
            if n == 0 {
                return format!("{l}\n");
            }
            let f: Vec<&str> = l.split(',').collect();
            let u: u32 = f[0][1..].parse().unwrap();
            let i: u32 = f[1][4..].parse().unwrap();
            format!("{u},{i},{}\n", f[2])
        })
        .collect();
    std::fs::write(fx.join("events.csv"), numeric).unwrap();
    std::fs::remove_dir_all(fx.join("spark/users")).unwrap();
    std::fs::remove_dir_all(fx.join("spark/items")).unwrap();
    let o = import(d, &fx, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("users 40, items 30, interactions 342"),
        "{}",
        stdout(&o)
    );
    let rec = Recommender::from_bytes(&std::fs::read(d.join("als.safetensors")).unwrap()).unwrap();
    assert_eq!(rec.users().ids()[..3], ["0", "1", "2"]);
}
