//! User-KNN and item-KNN on a fixed train/test split: NDCG@10, single-user latency, batch time.
//!
//! Usage: `cargo run --release -p reco-core --example knn_split [TRAIN.tsv TEST.tsv]`
//! (defaults: `/tmp/anchor-splits/onlineretail-{train,test}.tsv`, headerless `user<TAB>item`).
//!
//! Users and items are indexed by their sorted ids (numerically when every id is an integer);
//! items are the union of both files. Metrics follow the anchor benchmark: train items are
//! excluded, NDCG@10 is averaged over users with at least one test item,
//! `ndcg = Σ_hits 1/log2(r+1) / Σ_{r=1..min(10,|T|)} 1/log2(r+1)`. User-KNN lists are filled
//! from popularity; item-KNN lists keep only items with a positive score (as implicit does).
#[cfg(feature = "std")]
fn main() {
    run::main();
}

#[cfg(not(feature = "std"))]
fn main() {
    eprintln!("knn_split needs the default `std` feature");
}

#[cfg(feature = "std")]
mod run {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use reco_core::eval::{fill_from_popularity, recommend_batch};
    use reco_core::knn::{ItemKnnModel, ItemKnnParams, UserKnnModel, UserKnnParams};
    use reco_core::rng::Rng;
    use reco_core::scorer::{ItemScorer, ScoreScratch};
    use reco_core::topn::{Filter, Scored, TopN};
    use reco_core::CsrMatrix;

    const N: usize = 10;
    const RUNS: usize = 3;

    fn read_pairs(path: &str) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut f = l.split('\t');
                let u = f.next().unwrap_or_default().trim().to_string();
                let i = f.next().unwrap_or_default().trim().to_string();
                (u, i)
            })
            .collect()
    }

    /// Dense indices by sorted id (numeric order when all ids parse as integers).
    fn index<'a>(ids: impl Iterator<Item = &'a String>) -> BTreeMap<&'a String, u32> {
        let mut v: Vec<&String> = ids.collect();
        v.sort();
        v.dedup();
        if v.iter().all(|s| s.parse::<i64>().is_ok()) {
            v.sort_by_key(|s| s.parse::<i64>().unwrap());
        }
        v.into_iter().enumerate().map(|(k, s)| (s, k as u32)).collect()
    }

    fn ndcg(list: &[u32], test: &[u32]) -> f64 {
        let disc = |r: usize| 1.0 / ((r + 1) as f64).log2();
        let dcg: f64 = list
            .iter()
            .enumerate()
            .filter(|(_, i)| test.contains(i))
            .map(|(r, _)| disc(r + 1))
            .sum();
        let idcg: f64 = (1..=N.min(test.len())).map(disc).sum();
        dcg / idcg
    }

    fn median_ms(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1e3
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().collect();
        let train_path = args
            .get(1)
            .map_or("/tmp/anchor-splits/onlineretail-train.tsv", String::as_str);
        let test_path = args
            .get(2)
            .map_or("/tmp/anchor-splits/onlineretail-test.tsv", String::as_str);
        let (train_pairs, test_pairs) = (read_pairs(train_path), read_pairs(test_path));
        let all = || train_pairs.iter().chain(&test_pairs);
        let users = index(all().map(|p| &p.0));
        let items = index(all().map(|p| &p.1));
        let triples: Vec<(u32, u32, f32)> = train_pairs
            .iter()
            .map(|(u, i)| (users[u], items[i], 1.0))
            .collect();
        let train = CsrMatrix::from_triples(users.len(), items.len(), &triples).unwrap();
        let train = train.binarized();
        let mut test: Vec<Vec<u32>> = vec![Vec::new(); users.len()];
        for (u, i) in &test_pairs {
            test[users[u] as usize].push(items[i]);
        }
        let eval_users: Vec<u32> = (0..users.len() as u32)
            .filter(|&u| !test[u as usize].is_empty())
            .collect();
        println!(
            "data: {} users, {} items, {} train, {} test, {} evaluated users",
            users.len(),
            items.len(),
            train.nnz(),
            test_pairs.len(),
            eval_users.len()
        );
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();

        // ---------------------------------------------------------------- user-KNN
        // Lists as `reco evaluate` builds them (eval::recommend_batch: positive scores, then
        // the popularity fill); fill items keep their model score (<= 0).
        let model = UserKnnModel::fit(&train, UserKnnParams::default()).unwrap();
        let mut batch_s = f64::INFINITY;
        let mut lists = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            lists = pool.install(|| recommend_batch(&model, &train, &eval_users, N));
            batch_s = batch_s.min(t.elapsed().as_secs_f64());
        }
        let user_ndcg: f64 = eval_users
            .iter()
            .zip(&lists)
            .map(|(&u, l)| {
                let ids: Vec<u32> = l.iter().map(|x| x.item).collect();
                ndcg(&ids, &test[u as usize])
            })
            .sum::<f64>()
            / eval_users.len() as f64;
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let t = Instant::now();
        one_thread.install(|| recommend_batch(&model, &train, &eval_users, N));
        let seq_s = t.elapsed().as_secs_f64();
        let fallback_items = lists.iter().flatten().filter(|x| x.score <= 0.0).count();
        // One user's list, the same steps with buffers kept between calls.
        let (mut scores, mut scratch) = (vec![0f32; model.n_items()], ScoreScratch::default());
        let (mut top, mut list) = (TopN::new(), Vec::<Scored>::new());
        let mut one_list = |u: u32| {
            let seen = train.row(u as usize).0;
            model.score_user(u, &mut scores, &mut scratch);
            let f = Filter {
                seen,
                ..Filter::default()
            };
            top.select(&scores, N, &f, &mut list);
            fill_from_popularity(&mut list, N, seen, model.popularity_order(), &scores);
            list.len()
        };
        let mut rng = Rng::new(42);
        let mut sample = eval_users.clone();
        rng.shuffle(&mut sample);
        sample.truncate(200);
        let mut latency = f64::INFINITY;
        for _ in 0..RUNS {
            let mut times = Vec::with_capacity(sample.len());
            for &u in &sample {
                let t = Instant::now();
                let len = one_list(u);
                times.push(t.elapsed().as_secs_f64());
                assert_eq!(len, N);
            }
            latency = latency.min(median_ms(times));
        }
        println!(
            "user-knn k=50: ndcg@10 {user_ndcg:.4} ({fallback_items} fallback items), single-user top-10 \
             median {latency:.4} ms (200 users), batch {} users {batch_s:.4} s (2 threads), {seq_s:.4} s (1 thread)",
            eval_users.len()
        );

        // ---------------------------------------------------------------- item-KNN
        let mut build_s = f64::INFINITY;
        let mut item_model = None;
        for _ in 0..RUNS {
            let t = Instant::now();
            let m = pool.install(|| ItemKnnModel::fit(&train, ItemKnnParams::default()).unwrap());
            build_s = build_s.min(t.elapsed().as_secs_f64());
            item_model = Some(m);
        }
        let item_model = item_model.unwrap();
        let mut scores = vec![0f32; item_model.n_items()];
        let (mut top, mut out) = (TopN::new(), Vec::<Scored>::new());
        let t = Instant::now();
        let mut item_ndcg = 0.0;
        for &u in &eval_users {
            item_model.score_user(u, &mut scores, &mut ScoreScratch::default());
            let f = Filter {
                seen: train.row(u as usize).0,
                ..Filter::default()
            };
            top.select(&scores, N, &f, &mut out);
            let ids: Vec<u32> = out.iter().filter(|s| s.score > 0.0).map(|s| s.item).collect();
            item_ndcg += ndcg(&ids, &test[u as usize]);
        }
        let item_eval_s = t.elapsed().as_secs_f64();
        item_ndcg /= eval_users.len() as f64;
        println!(
            "item-knn K=50: build {build_s:.4} s (2 threads), ndcg@10 {item_ndcg:.4}, \
             sequential scoring of {} users {item_eval_s:.4} s",
            eval_users.len()
        );
    }
}
