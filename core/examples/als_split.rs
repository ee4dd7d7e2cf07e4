//! Trains ALS on the Online Retail anchor split and reports training time and NDCG@10.
//!
//! ```text
//! cargo run --release -p reco-core --example als_split -- [TRAIN.tsv TEST.tsv] [--runs N]
//!     [--threads N] [--alpha A] [--seed S]
//! ```
//! Files are headerless `user<TAB>item` lines (binary interactions). Users and items get
//! indices in sorted id order (numeric when every id is an integer, else lexicographic);
//! items are the union of train and test. Training uses 64 factors, λ 0.05, α 1,
//! 15 iterations, CG with 3 steps (the defaults; `--alpha`/`--seed` override), in a
//! `--threads` (default 2) rayon pool; the best of `--runs` timings (default 3) is reported.
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use reco_core::als::{AlsModel, AlsParams};
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::topn::{Filter, TopN};
use reco_core::{kernels, CsrMatrix};

const K: usize = 10;

fn read_pairs(path: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (u, i) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("{path}: line without a tab: {l:?}"));
            (u.trim().to_string(), i.trim().to_string())
        })
        .collect()
}

/// Index of every id, in sorted order (numeric if all ids are integers).
fn index_ids<'a>(ids: impl Iterator<Item = &'a String>) -> HashMap<String, u32> {
    let unique: BTreeSet<&String> = ids.collect();
    let mut sorted: Vec<&String> = unique.into_iter().collect();
    if sorted.iter().all(|id| id.parse::<i64>().is_ok()) {
        sorted.sort_by_key(|id| id.parse::<i64>().unwrap());
    }
    sorted
        .into_iter()
        .enumerate()
        .map(|(k, id)| (id.clone(), k as u32))
        .collect()
}

fn ndcg_at_k(model: &AlsModel, train: &CsrMatrix, test: &CsrMatrix) -> f64 {
    let discount = |rank: usize| 1.0 / ((rank + 1) as f64).log2();
    let mut scores = vec![0f32; model.n_items()];
    let (mut top, mut picked) = (TopN::new(), Vec::new());
    let (mut total, mut users) = (0.0, 0);
    for u in 0..test.n_rows() {
        let relevant = test.row(u).0;
        if relevant.is_empty() {
            continue;
        }
        users += 1;
        model.score_user(u as u32, &mut scores, &mut ScoreScratch::default());
        let filter = Filter {
            seen: train.row(u).0,
            ..Filter::default()
        };
        top.select(&scores, K, &filter, &mut picked);
        let dcg: f64 = picked
            .iter()
            .enumerate()
            .filter(|(_, s)| relevant.binary_search(&s.item).is_ok())
            .map(|(r, _)| discount(r + 1))
            .sum();
        let ideal: f64 = (1..=relevant.len().min(K)).map(discount).sum();
        total += dcg / ideal;
    }
    total / users as f64
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut option = |name: &str| -> Option<String> {
        let at = args.iter().position(|a| a == name)?;
        let value = args
            .get(at + 1)
            .cloned()
            .unwrap_or_else(|| panic!("{name} needs a value"));
        args.drain(at..at + 2);
        Some(value)
    };
    let number = |v: String| v.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {v}"));
    let runs = option("--runs").map_or(3, |v| number(v) as usize);
    let threads = option("--threads").map_or(2, |v| number(v) as usize);
    let mut params = AlsParams::default();
    if let Some(alpha) = option("--alpha") {
        params.alpha = number(alpha) as f32;
    }
    if let Some(seed) = option("--seed") {
        params.seed = number(seed) as u64;
    }
    let (train_path, test_path) = match args.as_slice() {
        [train, test] => (train.clone(), test.clone()),
        [] => (
            "/tmp/anchor-splits/onlineretail-train.tsv".to_string(),
            "/tmp/anchor-splits/onlineretail-test.tsv".to_string(),
        ),
        _ => panic!("usage: als_split [TRAIN.tsv TEST.tsv] [--runs N] [--threads N] [--alpha A] [--seed S]"),
    };
    let (train_pairs, test_pairs) = (read_pairs(&train_path), read_pairs(&test_path));
    let all = || train_pairs.iter().chain(&test_pairs);
    let users = index_ids(all().map(|(u, _)| u));
    let items = index_ids(all().map(|(_, i)| i));
    let matrix = |pairs: &[(String, String)]| {
        let triples: Vec<(u32, u32, f32)> = pairs.iter().map(|(u, i)| (users[u], items[i], 1.0)).collect();
        CsrMatrix::from_triples(users.len(), items.len(), &triples)
            .unwrap()
            .binarized()
    };
    let (train, test) = (matrix(&train_pairs), matrix(&test_pairs));
    println!(
        "{} users, {} items, {} train / {} test interactions; kernels: {}",
        users.len(),
        items.len(),
        train.nnz(),
        test.nnz(),
        kernels::simd_backend()
    );

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut best = f64::INFINITY;
    let mut model = None;
    for run in 1..=runs {
        let start = Instant::now();
        let fitted = pool.install(|| AlsModel::fit(&train, &params, &mut |_| {}).unwrap());
        let secs = start.elapsed().as_secs_f64();
        best = best.min(secs);
        println!("run {run}: trained in {secs:.3} s");
        model = Some(fitted);
    }
    let model = model.expect("at least one run");
    println!("best training time: {best:.3} s ({threads} threads, {params:?})");
    println!("NDCG@{K}: {:.4}", ndcg_at_k(&model, &train, &test));
}
