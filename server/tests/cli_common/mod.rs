//! Shared by the `cli_*` tests: the real `reco` binary run in a temporary folder on a
//! generated shop dataset.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `reco args…` in `dir` with `env` set (and `NO_COLOR`, `RECO_PROGRESS_INTERVAL` cleared
/// unless given), stdout and stderr captured (so neither is a terminal).
pub fn reco(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reco"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("RECO_PROGRESS_INTERVAL")
        .env_remove("RECO_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run reco")
}

/// Bytes as (lossy) text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A shop log `shop.csv` in `dir`: `users` customers with 12 purchases each among 150 products
/// whose names share words (so LightFM gets item features) and have prices.
pub fn shop_csv(dir: &Path, users: u32) -> PathBuf {
    let words = [
        "red", "blue", "heart", "lantern", "mug", "bag", "candle", "set", "tin", "card",
    ];
    let mut text = String::from("user_id,item_id,name,price\n");
    let mut x: u64 = 42;
    for u in 0..users {
        for _ in 0..12 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Skewed towards low item numbers, as real sales are.
            let r = (x >> 33) % 150;
            let item = (r * r) / 150;
            let name = format!(
                "{} {} {}",
                words[(item % 10) as usize],
                words[(item / 10 % 10) as usize],
                item
            );
            text.push_str(&format!("c{u},p{item},{name},{}.5\n", 1 + item % 13));
        }
    }
    let path = dir.join("shop.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Ingests [`shop_csv`] into `dir/features` (and `dir/interactions.tsv`).
pub fn ingest_shop(dir: &Path, users: u32) {
    shop_csv(dir, users);
    let o = reco(
        dir,
        &[],
        &[
            "ingest",
            "shop.csv",
            "--name-col",
            "name",
            "--price-col",
            "price",
            "--interactions",
            "interactions.tsv",
            "--features",
            "features",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}
