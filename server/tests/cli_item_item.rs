//! `reco train / evaluate / recommend` with the item-item models (EASE, RP3beta): flags reach the
//! model file, per-model defaults, the catalog-size refusal of EASE.
mod cli_common;

use std::path::Path;

use cli_common::{ingest_shop, reco, stderr, stdout};

/// The `reco.params` JSON of a model file.
fn params(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    serde_json::from_str(header["__metadata__"]["reco.params"].as_str().unwrap()).unwrap()
}

fn train(dir: &Path, args: &[&str]) {
    let mut all = vec!["train", "--features", "features"];
    all.extend_from_slice(args);
    let o = reco(dir, &[], &all);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn ease_and_rp3beta_train_with_their_flags_and_defaults_and_recommend() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ingest_shop(d, 300);
    train(d, &["--model", "ease", "--out", "ease.safetensors"]);
    assert_eq!(
        params(&d.join("ease.safetensors")),
        serde_json::json!({ "lambda": 500.0, "k": 200 })
    );
    train(
        d,
        &[
            "--model",
            "ease",
            "--lambda",
            "20",
            "--neighbors",
            "7",
            "--out",
            "ease7.safetensors",
        ],
    );
    assert_eq!(
        params(&d.join("ease7.safetensors")),
        serde_json::json!({ "lambda": 20.0, "k": 7 })
    );
    train(d, &["--model", "rp3beta", "--out", "rp3.safetensors"]);
    assert_eq!(
        params(&d.join("rp3.safetensors")),
        serde_json::json!({ "alpha": 1.0, "beta": 0.6, "k": 100, "normalize": true })
    );
    train(
        d,
        &[
            "--model",
            "rp3beta",
            "--rp3-alpha",
            "0.5",
            "--rp3-beta",
            "0.25",
            "--rp3-no-normalize",
            "--neighbors",
            "30",
            "--out",
            "rp3b.safetensors",
        ],
    );
    assert_eq!(
        params(&d.join("rp3b.safetensors")),
        serde_json::json!({ "alpha": 0.5, "beta": 0.25, "k": 30, "normalize": false })
    );
    for model in ["ease.safetensors", "rp3.safetensors"] {
        let o = reco(
            d,
            &[],
            &["recommend", "--model", model, "--user", "c3", "-n", "5"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let ranked = out
            .lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count();
        assert_eq!(ranked, 5, "{model}:\n{out}");
    }
    // Bad hyperparameters are refused before any work, naming the flag's parameter.
    let o = reco(
        d,
        &[],
        &[
            "train",
            "--features",
            "features",
            "--model",
            "ease",
            "--lambda",
            "0",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("invalid hyperparameter `lambda`: 0 must be finite and > 0"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn evaluate_reports_ease_and_rp3beta() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ingest_shop(d, 300);
    let o = reco(
        d,
        &[],
        &[
            "evaluate",
            "--input",
            "features",
            "--model",
            "ease,rp3beta,popularity",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // One JSON object per model and line.
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ndcg = |m: &str| {
        rows.iter()
            .find(|r| r["model"] == m)
            .unwrap_or_else(|| panic!("{m} missing from {rows:?}"))["ndcg"]
            .as_f64()
            .unwrap()
    };
    // (The shop's purchases are random apart from popularity: quality is tested in reco-core.)
    for m in ["ease", "rp3beta", "popularity"] {
        assert!((0.0..=1.0).contains(&ndcg(m)), "{rows:?}");
    }
}

#[test]
fn ease_refuses_a_catalog_above_its_limit_naming_the_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 20,001 items, one user each (and one test pair).
    let train: String = (0..20_001).map(|i| format!("u{}\ti{i}\n", i % 500)).collect();
    std::fs::write(d.join("train.tsv"), train).unwrap();
    std::fs::write(d.join("test.tsv"), "u1\ti5\n").unwrap();
    let o = reco(
        d,
        &[],
        &[
            "evaluate",
            "--train",
            "train.tsv",
            "--test",
            "test.tsv",
            "--model",
            "ease",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("20001 items would need about 6.4 GB") && err.contains("at most 20000 items"),
        "{err}"
    );
    assert!(err.contains("Use rp3beta or item-knn"), "{err}");
}
