//! Query latency of a model file as `reco serve` answers (the `Recommender` facade, one thread,
//! one reused `Scratch`, top 10 with the user's training items excluded): the figures of
//! `bench/knn-scale.md` (`scripts/bench-knn-scale.sh`). Any model kind works.
//!
//! `cargo run --release -p reco-core --example knn_bench -- FILE.safetensors [QUERIES] [SEED]`
//!
//! Loads the file (`Recommender::from_bytes`, timed, after reading it into memory), then asks
//! for `QUERIES` (default 2,000) users drawn uniformly with a seeded stream (default seed 42),
//! after 50 warm-up queries. Prints `key value` lines: load seconds, mean / median / p95 / p99 /
//! max milliseconds per query, and the mean training-history length of the queried users.
#[cfg(feature = "std")]
fn main() {
    use std::time::Instant;

    use reco_core::recommender::{RecommendOptions, Recommender, Scratch};
    use reco_core::rng::Rng;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: knn_bench FILE.safetensors [QUERIES] [SEED]");
        std::process::exit(2);
    };
    let queries: usize = args.get(1).map_or(2000, |a| a.parse().expect("QUERIES"));
    let seed: u64 = args.get(2).map_or(42, |a| a.parse().expect("SEED"));
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let t = Instant::now();
    let rec = Recommender::from_bytes(&bytes).expect("model file");
    println!("load_s {:.2}", t.elapsed().as_secs_f64());
    drop(bytes);
    let n_users = rec.n_users();
    assert!(n_users > 0, "the model file has no users");
    let mut rng = Rng::new(seed);
    let users: Vec<u32> = (0..queries + 50).map(|_| rng.below(n_users as u32)).collect();
    let ids: Vec<String> = users
        .iter()
        .map(|&u| rec.users().id(u).unwrap().to_string())
        .collect();
    let opts = RecommendOptions::default();
    let mut s = Scratch::default();
    let mut lat = Vec::with_capacity(queries);
    let mut returned = 0usize;
    for (k, id) in ids.iter().enumerate() {
        let t = Instant::now();
        let r = rec.recommend_user(id, 10, &opts, &mut s).expect("recommend");
        let dt = t.elapsed().as_secs_f64() * 1e3;
        if k >= 50 {
            lat.push(dt);
            returned += r.items.len();
        }
    }
    let history: usize = users[50..].iter().map(|&u| rec.seen_items(u).len()).sum();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!("queries {}", lat.len());
    println!("mean_history {:.1}", history as f64 / lat.len() as f64);
    println!("mean_returned {:.2}", returned as f64 / lat.len() as f64);
    println!("query_mean_ms {:.3}", lat.iter().sum::<f64>() / lat.len() as f64);
    println!("query_median_ms {:.3}", q(0.5));
    println!("query_p95_ms {:.3}", q(0.95));
    println!("query_p99_ms {:.3}", q(0.99));
    println!("query_max_ms {:.3}", q(1.0));
}

#[cfg(not(feature = "std"))]
fn main() {
    eprintln!("knn_bench needs the default `std` feature");
}
