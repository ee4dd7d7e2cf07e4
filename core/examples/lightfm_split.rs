//! Trains LightFM-style WARP on a train/test split and prints training time and NDCG@10.
//!
//! ```text
//! cargo run --release -p reco-core --example lightfm_split -- TRAIN.tsv TEST.tsv \
//!     [--item-features FEATURES.tsv] [--fold-in]
//! ```
//! Files are headerless `user<TAB>item` lines (binary interactions). Users and items are
//! indexed by sorted id (numerically when every id is an integer); items are the union of
//! both files. NDCG@10 excludes train items and averages over users with a test item.
//! `--item-features` trains with the item features of a headerless `item<TAB>feature<TAB>weight`
//! file (feature columns in order of first appearance; every item needs a row; weights are
//! used as given, e.g. normalized rows as `reco train` writes them) instead of identity
//! features, and prints the matrix's checksum (shape, nnz, Σ weight·(1 + row + 3·column)),
//! which `scripts/lightfm_features_study.py` compares with its own.
//! `--fold-in` also scores every test user by folding in their train items. Environment:
//! `THREADS` (default 2), `SEED` (default 42), `VERBOSE` (per-epoch update counts).
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use reco_core::lightfm::{fit, LightFmParams};
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::topn::{top_n, Filter};
use reco_core::CsrMatrix;

type Pairs = Vec<(String, String)>;

fn read(path: &str) -> Pairs {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let u = f.next().unwrap().trim().to_string();
            let i = f
                .next()
                .unwrap_or_else(|| panic!("bad line {l:?}"))
                .trim()
                .to_string();
            (u, i)
        })
        .collect()
}

/// Sorted ids: numerically when all parse as integers.
fn index(ids: BTreeSet<&str>) -> Vec<String> {
    let mut v: Vec<String> = ids.into_iter().map(str::to_string).collect();
    if v.iter().all(|s| s.parse::<i64>().is_ok()) {
        v.sort_by_key(|s| s.parse::<i64>().unwrap());
    }
    v
}

fn matrix(pairs: &Pairs, users: &[String], items: &[String]) -> CsrMatrix {
    let pos = |v: &[String], s: &str| v.binary_search_by(|x| cmp_ids(x, s)).unwrap() as u32;
    let triples: Vec<(u32, u32, f32)> = pairs
        .iter()
        .map(|(u, i)| (pos(users, u), pos(items, i), 1.0))
        .collect();
    CsrMatrix::from_triples(users.len(), items.len(), &triples)
        .unwrap()
        .binarized()
}

fn cmp_ids(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The item features of a `item<TAB>feature<TAB>weight` file, rows in `items` order.
fn item_features(path: &str, items: &[String]) -> CsrMatrix {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut columns: HashMap<&str, u32> = HashMap::new();
    let mut triples = Vec::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split('\t').collect();
        let [item, feature, weight] = f[..] else {
            panic!("{path}: bad line {l:?} (want item<TAB>feature<TAB>weight)")
        };
        let row = items
            .binary_search_by(|x| cmp_ids(x, item))
            .unwrap_or_else(|_| panic!("{path}: item {item:?} is in neither split file"));
        let n = columns.len() as u32;
        let col = *columns.entry(feature).or_insert(n);
        let w: f32 = weight
            .parse()
            .unwrap_or_else(|_| panic!("{path}: bad weight {weight:?}"));
        triples.push((row as u32, col, w));
    }
    let m = CsrMatrix::from_triples(items.len(), columns.len(), &triples).unwrap();
    if let Some(r) = (0..m.n_rows()).find(|&r| m.row_nnz(r) == 0) {
        panic!("{path}: item {} has no feature", items[r]);
    }
    m
}

/// Shape, nnz and `Σ weight·(1 + row + 3·column)` of a feature matrix.
fn checksum(m: &CsrMatrix) -> String {
    let mut sum = 0f64;
    for r in 0..m.n_rows() {
        let (cols, vals) = m.row(r);
        for (&c, &v) in cols.iter().zip(vals) {
            sum += v as f64 * (1.0 + r as f64 + 3.0 * c as f64);
        }
    }
    format!("{}x{} nnz {} sum {sum:.3}", m.n_rows(), m.n_cols(), m.nnz())
}

fn ndcg(ranked: &[u32], test: &[u32]) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .enumerate()
        .filter(|(_, i)| test.binary_search(i).is_ok())
        .map(|(r, _)| 1.0 / ((r + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..test.len().min(10))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    dcg / ideal
}

/// The environment variable `name` parsed, if set and valid.
fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: lightfm_split TRAIN.tsv TEST.tsv [--item-features FEATURES.tsv] [--fold-in]");
        std::process::exit(2);
    }
    let (train, test) = (read(&args[1]), read(&args[2]));
    let all = || train.iter().chain(&test);
    let users = index(all().map(|(u, _)| u.as_str()).collect());
    let items = index(all().map(|(_, i)| i.as_str()).collect());
    let (tr, te) = (matrix(&train, &users, &items), matrix(&test, &users, &items));
    println!(
        "{} users, {} items, {} train, {} test",
        users.len(),
        items.len(),
        tr.nnz(),
        te.nnz()
    );

    let features = args
        .iter()
        .position(|a| a == "--item-features")
        .map(|p| item_features(args.get(p + 1).expect("--item-features FILE"), &items));
    if let Some(f) = &features {
        println!("item features: {}", checksum(f));
    }

    let params = LightFmParams {
        threads: env("THREADS").unwrap_or(2),
        seed: env("SEED").unwrap_or(42),
        ..LightFmParams::default()
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let t0 = Instant::now();
    let model = pool
        .install(|| {
            fit(&tr, features.as_ref(), None, &params, &mut |r| {
                if std::env::var("VERBOSE").is_ok() {
                    eprintln!(
                        "epoch {}: {} updates / {} examples",
                        r.epoch, r.updates, r.examples
                    );
                }
            })
        })
        .unwrap();
    println!(
        "train time: {:.3} s ({} epochs, {} threads, seed {})",
        t0.elapsed().as_secs_f64(),
        params.epochs,
        params.threads,
        params.seed
    );

    let mut scores = vec![0f32; items.len()];
    let (mut total, mut total_fold, mut overlap, mut n) = (0.0, 0.0, 0.0, 0usize);
    let fold = args.iter().any(|a| a == "--fold-in");
    for u in 0..users.len() {
        let (test_items, _) = te.row(u);
        if test_items.is_empty() {
            continue;
        }
        let (seen, _) = tr.row(u);
        let filter = Filter {
            seen,
            ..Default::default()
        };
        model.score_user(u as u32, &mut scores, &mut ScoreScratch::default());
        let top: Vec<u32> = top_n(&scores, 10, &filter).iter().map(|s| s.item).collect();
        total += ndcg(&top, test_items);
        if fold && !seen.is_empty() {
            let basket: Vec<(u32, f32)> = seen.iter().map(|&i| (i, 1.0)).collect();
            model
                .score_items(&basket, &mut scores, &mut ScoreScratch::default())
                .unwrap();
            let ftop: Vec<u32> = top_n(&scores, 10, &filter).iter().map(|s| s.item).collect();
            total_fold += ndcg(&ftop, test_items);
            overlap += ftop.iter().filter(|i| top.contains(i)).count() as f64 / 10.0;
        }
        n += 1;
    }
    println!("NDCG@10: {:.4} over {n} users", total / n as f64);
    if fold {
        println!(
            "fold-in NDCG@10: {:.4}, mean top-10 overlap with trained: {:.3}",
            total_fold / n as f64,
            overlap / n as f64
        );
    }
}
