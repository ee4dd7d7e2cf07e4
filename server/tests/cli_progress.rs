//! Long steps show progress also when stderr is not a terminal: periodic plain lines with the
//! step, i/N, elapsed and remaining time, and a closing line (`RECO_PROGRESS_INTERVAL`).
mod cli_common;

use cli_common::{ingest_shop, reco, shop_csv, stderr};

/// The lines of `err` that start with `prefix`.
fn lines_of<'a>(err: &'a str, prefix: &str) -> Vec<&'a str> {
    err.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn lightfm_training_with_item_features_prints_periodic_lines_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    ingest_shop(dir.path(), 200);
    let train = [
        "train",
        "--model",
        "lightfm",
        "--epochs",
        "8",
        "--factors",
        "16",
        "--features",
        "features",
        "--out",
        "lightfm.safetensors",
    ];
    let o = reco(dir.path(), &[("RECO_PROGRESS_INTERVAL", "0.02")], &train);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let lines = lines_of(&err, "train lightfm: ");
    // While it runs: `train lightfm: epoch 3/8, 0.6s elapsed, ~1.0s left`.
    let periodic: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(" elapsed") && l.contains("/8, "))
        .collect();
    assert!(
        periodic.len() >= 2,
        "expected periodic progress lines, got:\n{err}"
    );
    assert!(
        periodic.iter().any(|l| l.contains(" left")),
        "no remaining time in:\n{err}"
    );
    assert!(
        periodic.iter().all(|l| l.starts_with("train lightfm: epoch ")),
        "{err}"
    );
    // And when it ends.
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("train lightfm: epoch 8/8, done in ")),
        "no closing line in:\n{err}"
    );
    // (The data has product names and prices, so this is the item-feature model, the slow case.)
    assert!(err.contains("trained lightfm"), "{err}");

    // --quiet: no progress, the result line stays.
    let mut quiet = train.to_vec();
    quiet.insert(0, "--quiet");
    quiet[5] = "1"; // --epochs 1
    let o = reco(dir.path(), &[("RECO_PROGRESS_INTERVAL", "0.01")], &quiet);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(lines_of(&err, "train lightfm: ").is_empty(), "{err}");
    assert!(err.contains("trained lightfm"), "{err}");
}

#[test]
fn a_bad_progress_interval_is_an_error_that_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["abc", "0", "-1"] {
        let o = reco(dir.path(), &[("RECO_PROGRESS_INTERVAL", bad)], &["train"]);
        let err = stderr(&o);
        assert!(!o.status.success());
        assert!(
            err.starts_with("error: RECO_PROGRESS_INTERVAL=")
                && err.contains("seconds between progress lines"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn evaluate_and_ingest_show_each_step_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    shop_csv(dir.path(), 300);
    let env = [("RECO_PROGRESS_INTERVAL", "0.01")];
    let o = reco(
        dir.path(),
        &env,
        &[
            "evaluate",
            "--input",
            "shop.csv",
            "--model",
            "als,item-knn",
            "--iterations",
            "4",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    for closing in [
        "train als: iteration 4/4, done in ",
        "evaluate als: scoring users ",
        "train item-knn: done in ",
        "evaluate item-knn: scoring users ",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(closing) && l.contains("done in")),
            "no `{closing}… done in` line in:\n{err}"
        );
    }
    // Scoring counts every evaluated user: `scoring users 298/298, done in 0.1s`.
    let scoring = lines_of(&err, "evaluate als: scoring users ")
        .pop()
        .unwrap_or_default();
    let counts = scoring
        .trim_start_matches("evaluate als: scoring users ")
        .split(',')
        .next()
        .unwrap_or_default();
    let (done, total) = counts.split_once('/').expect("i/N");
    assert_eq!(done, total, "{scoring}");
    assert!(total.parse::<u32>().unwrap() > 250, "{scoring}");

    // Reading a file: bytes. (A read shorter than one interval prints nothing; this one
    // takes several.)
    let dir = tempfile::tempdir().unwrap();
    shop_csv(dir.path(), 4000);
    let o = reco(
        dir.path(),
        &env,
        &["ingest", "shop.csv", "--features", "f", "--interactions", "i.tsv"],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let reading = lines_of(&err, "reading shop.csv: ");
    assert!(reading.len() >= 2, "no periodic bytes lines in:\n{err}");
    assert!(reading[0].contains(" elapsed"), "{err}");
    assert!(
        reading
            .last()
            .is_some_and(|l| l.contains(" MiB (100%), done in ")),
        "no closing bytes line in:\n{err}"
    );
}
