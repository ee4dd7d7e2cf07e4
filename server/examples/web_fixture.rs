//! Native side of the web benchmarks (scripts/test-web.sh).
//!
//! ```text
//! cargo run --release -p reco-server --example web_fixture -- bench MODEL ITEM,ITEM,... [ROUNDS]
//! cargo run --release -p reco-server --example web_fixture -- f16-ndcg [FEATURES_DIR]
//! ```
//! `bench` prints the time of fold-in + top-10 for the basket (the call the browser demo makes)
//! as JSON `{"native_ms": …}`: the fastest of ROUNDS rounds (default 5), each the median of 20
//! batches of 100 calls, after 100 warm-up calls. `f16-ndcg` prints NDCG@10 of an ALS
//! model (default hyperparameters) on an 80/20 holdout split of the `reco ingest` features,
//! loaded from its f32 and from its f16 model file.
use std::path::Path;
use std::time::Instant;

use reco_core::als::{AlsModel, AlsParams};
use reco_core::eval::{evaluate, holdout_split};
use reco_core::model_file::{ModelFile, Precision};
use reco_core::recommender::{attach_catalog, RecommendOptions, Recommender, Scratch};
use reco_core::Interactions;
use reco_server::Dataset;
use serde_json::json;

/// The timing protocol the browser side of `web/tests/e2e.test.mjs` uses too: rounds of
/// batches of calls; a round's time is its median batch per call; the result is the fastest
/// round (the least disturbed by other work on the machine).
const BATCHES: usize = 20;
const CALLS: usize = 100;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn bench(model: &str, basket: &str, rounds: usize) -> Res<()> {
    let rec = Recommender::from_bytes(&std::fs::read(model)?)?;
    let basket: Vec<String> = basket.split(',').map(String::from).collect();
    let (opts, mut s) = (RecommendOptions::default(), Scratch::default());
    let mut call = || rec.recommend_items(&basket, 10, &opts, &mut s).map(|_| ());
    for _ in 0..CALLS {
        call()?;
    }
    let mut round_ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut batches = Vec::with_capacity(BATCHES);
        for _ in 0..BATCHES {
            let t = Instant::now();
            for _ in 0..CALLS {
                call()?;
            }
            batches.push(t.elapsed().as_secs_f64() * 1e3 / CALLS as f64);
        }
        batches.sort_by(f64::total_cmp);
        round_ms.push(batches[BATCHES / 2]);
    }
    let best = round_ms.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{}",
        json!({"native_ms": best, "rounds_ms": round_ms, "basket": basket})
    );
    Ok(())
}

fn f16_ndcg(features: &str) -> Res<()> {
    let data = Dataset::load_features(Path::new(features))?;
    let (train, test) = holdout_split(&data.interactions.matrix, 0.2, 42)?;
    let als = AlsModel::fit(&train, &AlsParams::default(), &mut |_| {})?;
    let split = Interactions {
        matrix: train.clone(),
        ..data.interactions.clone()
    };
    let mut file = als.to_model_file();
    attach_catalog(&mut file, &split, &data.item_names);
    for precision in [Precision::F32, Precision::F16] {
        let bytes = file.to_bytes(precision)?;
        let model = AlsModel::from_model_file(&ModelFile::from_bytes(&bytes)?)?;
        let m = evaluate(&model, &train, &test, 10)?;
        println!("{precision:?}: NDCG@10 = {:.5} ({} bytes)", m.ndcg, bytes.len());
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    match args.first().map(String::as_str) {
        Some("bench") if args.len() == 3 || args.len() == 4 => {
            let rounds = arg(3, "5").parse().ok().filter(|&r: &usize| r > 0);
            let rounds = rounds.ok_or("ROUNDS must be a positive integer")?;
            bench(&args[1], &args[2], rounds)
        }
        Some("f16-ndcg") => f16_ndcg(&arg(1, "data/features")),
        _ => Err("usage: web_fixture bench MODEL ITEM,ITEM,... [ROUNDS] | f16-ndcg [FEATURES]".into()),
    }
}
