//! What a person reads: a missing model file says which and how to train it, logs in a pipe
//! carry no colour codes, popularity-fallback items show their popularity instead of `0.0`.
mod cli_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_common::{ingest_shop, reco, stderr, stdout};

#[test]
fn a_missing_model_file_names_the_file_and_the_train_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = reco(dir.path(), &[], args);
        assert!(!o.status.success());
        stderr(&o)
    };
    let err = run(&[
        "recommend",
        "--model",
        "models/als.safetensors",
        "--user",
        "17850",
    ]);
    assert_eq!(
        err.trim(),
        "error: model file models/als.safetensors not found: train it with `reco train --model als`"
    );
    let elsewhere = dir.path().join("old/lightfm.safetensors");
    let err = run(&[
        "recommend",
        "--model",
        elsewhere.to_str().unwrap(),
        "--items",
        "1",
    ]);
    assert!(
        err.contains(&format!(
            "model file {0} not found: train it with `reco train --model lightfm --out {0}`",
            elsewhere.display()
        )),
        "{err}"
    );
    let err = run(&["recommend", "--model", "best.safetensors", "--user", "1"]);
    assert!(
        err.contains("model file best.safetensors not found: train a model with `reco train --model <kind>` (kinds: als, popularity, lightfm, knn, item-knn, ease, rp3beta;"),
        "{err}"
    );
    let err = run(&["export", "--model", "models/item-knn.safetensors"]);
    assert!(
        err.contains(
            "model file models/item-knn.safetensors not found: train it with `reco train --model item-knn`"
        ),
        "{err}"
    );
    let err = run(&["export"]);
    assert!(err.contains("train it with `reco train --model als`"), "{err}");
    let err = run(&["serve", "--port", "0"]);
    assert!(
        err.contains("models folder models not found: train a model first with `reco train --model als`"),
        "{err}"
    );
    std::fs::create_dir(dir.path().join("models")).unwrap();
    let err = run(&["serve", "--port", "0"]);
    assert!(
        err.contains("models folder models holds no *.safetensors model files: train a model first with `reco train --model als`"),
        "{err}"
    );
    let err = run(&["serve", "--port", "0", "--models", "elsewhere"]);
    assert!(
        err.contains("train a model into it with `reco train --model als --out elsewhere/als.safetensors`"),
        "{err}"
    );
}

#[test]
fn serve_logs_into_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    ingest_shop(dir.path(), 50);
    let o = reco(
        dir.path(),
        &[],
        &["train", "--model", "popularity", "--features", "features"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut child = Command::new(env!("CARGO_BIN_EXE_reco"))
        .current_dir(dir.path())
        .args(["serve", "--port", "0"])
        .env_remove("NO_COLOR")
        .env("RECO_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut logged = String::new();
    while !logged.contains("listening on") && start.elapsed() < Duration::from_secs(60) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            logged.push_str(&line);
            logged.push('\n');
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    assert!(
        logged.contains("listening on"),
        "no start-up log line in {logged:?} {err:?}"
    );
    assert!(
        !logged.contains('\u{1b}') && !err.contains('\u{1b}'),
        "ANSI escape codes in piped logs: {logged:?} {err:?}"
    );
}

#[test]
fn popularity_fallback_items_show_their_popularity_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    ingest_shop(dir.path(), 60);
    let o = reco(
        dir.path(),
        &[],
        &[
            "train",
            "--model",
            "als",
            "--features",
            "features",
            "--iterations",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let model = "models/als.safetensors";
    // An unknown customer: the whole list is the popularity fallback.
    let o = reco(
        dir.path(),
        &[],
        &["recommend", "--model", model, "--user", "nobody", "-n", "3"],
    );
    let table = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    for row in &rows {
        let cell = row.split("popular (").nth(1).unwrap_or_else(|| panic!("{table}"));
        let users: u32 = cell
            .trim_end_matches(" users)")
            .parse()
            .unwrap_or_else(|_| panic!("{table}"));
        assert!(users > 0, "{table}");
    }
    assert!(!table.contains("0.0000"), "{table}");

    let o = reco(
        dir.path(),
        &[],
        &[
            "recommend",
            "--model",
            model,
            "--user",
            "nobody",
            "-n",
            "3",
            "--json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["fallback"], "popularity");
    let scores: Vec<f64> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["fallback"], true);
            i["score"].as_f64().unwrap()
        })
        .collect();
    // The popularity counts, most popular first: the numbers the table shows.
    assert!(
        scores[0] >= 1.0 && scores.windows(2).all(|w| w[0] >= w[1]),
        "{scores:?}"
    );
    for (row, score) in rows.iter().zip(&scores) {
        assert!(
            row.ends_with(&format!("popular ({score} users)")),
            "{row} vs {score}"
        );
    }
}
