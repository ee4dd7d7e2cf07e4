//! The approximate top-N benchmark of `bench/ann-1m.md`: recall@10 against the exact scan,
//! time per query (one thread) against the exact scan, index build time (all threads) and
//! index memory against the factors, with and without filters.
//!
//! `cargo run --release -p reco-core --example ann_bench -- ITEMS [FACTORS] [QUERIES] [PROBE...]`
//! `cargo run --release -p reco-core --example ann_bench -- --model FILE.safetensors [QUERIES] [PROBE...]`
//!
//! Synthetic factors (see `planted`): 1,000 cluster directions, items near one of them with
//! log-normal norms (power-law-like popularity in norm), queries drawn the same way. With
//! `--model`, an ALS file's own item factors and the factors of its first users as queries.
use std::time::Instant;

use reco_core::ann::{AnnScratch, ItemFactors, IvfIndex, IvfParams};
use reco_core::kernels;
use reco_core::model_file::ModelFile;
use reco_core::rng::Rng;
use reco_core::topn::{Filter, Scored, TopN};

/// `n` rows of width `dim`: `clusters` seeded directions, each row `s·(center + 0.5·noise)/√dim`
/// with `s ~ LogNormal(0, 0.5)`.
fn planted(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut centers_rng = Rng::new(1);
    let centers: Vec<f32> = (0..clusters * dim).map(|_| centers_rng.next_normal()).collect();
    let mut rng = Rng::new(seed);
    let mut rows = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.below(clusters as u32) as usize;
        let scale = (0.5 * rng.next_normal()).exp() / (dim as f32).sqrt();
        for k in 0..dim {
            rows.push(scale * (centers[c * dim + k] + 0.5 * rng.next_normal()));
        }
    }
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    type Setup<'a> = (Vec<f32>, Vec<f32>, Vec<f32>, usize, String, &'a [String]);
    let (rows, queries, calib, dim, what, rest): Setup = if args[0] == "--model" {
        let bytes = std::fs::read(&args[1]).expect("model file");
        let file = ModelFile::from_bytes(&bytes).expect("model");
        let items = file.f32("item_factors", &[None, None]).unwrap().to_vec();
        let users = file.f32("user_factors", &[None, None]).unwrap();
        let dim = match &file.tensors["item_factors"] {
            reco_core::model_file::Tensor::F32 { shape, .. } => shape[1],
            _ => unreachable!(),
        };
        let nq: usize = args.get(2).map_or(200, |a| a.parse().unwrap());
        // Every (users / nq)-th user.
        let n_users = users.len() / dim;
        let step = (n_users / nq).max(1);
        let pick = |shift: usize| -> Vec<f32> {
            (0..nq.min(n_users))
                .flat_map(|k| {
                    let u = (k * step + shift) % n_users;
                    users[u * dim..(u + 1) * dim].to_vec()
                })
                .collect()
        };
        // Calibration on other users than the measured ones.
        let (q, calib) = (pick(0), pick(step / 2));
        (
            items,
            q,
            calib,
            dim,
            format!("ALS file {}", args[1]),
            &args[3.min(args.len())..],
        )
    } else {
        let n: usize = args[0].parse().unwrap();
        let dim: usize = args.get(1).map_or(64, |a| a.parse().unwrap());
        let nq: usize = args.get(2).map_or(200, |a| a.parse().unwrap());
        (
            planted(n, dim, 1000, 7),
            planted(nq, dim, 1000, 8),
            planted(200, dim, 1000, 11),
            dim,
            "planted clusters".into(),
            &args[3.min(args.len())..],
        )
    };
    let f = ItemFactors {
        rows: &rows,
        dim,
        bias: None,
    };
    let n = f.n_items();
    let nq = queries.len() / dim;
    println!(
        "### {what}: {n} items × {dim} factors\n\n{nq} queries, top 10, {} kernels.\n",
        kernels::simd_backend()
    );
    let t = Instant::now();
    let mut index = IvfIndex::build(f, &calib, &IvfParams::default()).unwrap();
    let build = t.elapsed().as_secs_f64();
    println!(
        "Build: {build:.2} s on {} threads (probe calibrated on 200 other queries); {} lists, default probe {}; index {:.1} MB = {:.3}× the factors ({:.1} MB)",
        rayon::current_num_threads(),
        index.lists(),
        index.probe(),
        index.memory_bytes() as f64 / 1e6,
        index.memory_bytes() as f64 / (rows.len() * 4) as f64,
        (rows.len() * 4) as f64 / 1e6
    );
    // Exact answers: full matvec + top-N, as the recommender scans.
    let mut scores = vec![0f32; n];
    let mut top = TopN::new();
    let mut sel = Vec::new();
    let mut rng = Rng::new(9);
    // Per query: 50 "seen" items drawn from the exact top 200 (a user who has many of the
    // items the model likes) and a random candidate list of 1,000 items.
    let mut cases = Vec::new();
    let t = Instant::now();
    for q in queries.chunks_exact(dim) {
        kernels::matvec(&rows, q, &mut scores);
        top.select(&scores, 10, &Filter::default(), &mut sel);
        cases.push(sel.clone());
    }
    let exact_s = t.elapsed().as_secs_f64() / nq as f64;
    let mut seen_lists = Vec::new();
    let mut seen_truth = Vec::new();
    let mut cand_lists = Vec::new();
    let mut cand_truth = Vec::new();
    let mut seen_time = 0.0;
    for q in queries.chunks_exact(dim) {
        kernels::matvec(&rows, q, &mut scores);
        let mut top200 = Vec::new();
        top.select(&scores, 200, &Filter::default(), &mut top200);
        let mut seen: Vec<u32> = (0..50).map(|_| top200[rng.below(200) as usize].item).collect();
        seen.sort_unstable();
        seen.dedup();
        let t = Instant::now();
        kernels::matvec(&rows, q, &mut scores);
        top.select(
            &scores,
            10,
            &Filter {
                seen: &seen,
                ..Default::default()
            },
            &mut sel,
        );
        seen_time += t.elapsed().as_secs_f64();
        seen_truth.push(sel.clone());
        seen_lists.push(seen);
        let cands: Vec<u32> = (0..1000).map(|_| rng.below(n as u32)).collect();
        top.select(
            &scores,
            10,
            &Filter {
                candidates: Some(&cands),
                ..Default::default()
            },
            &mut sel,
        );
        cand_truth.push(sel.clone());
        cand_lists.push(cands);
    }
    let exact_seen_s = seen_time / nq as f64;
    println!(
        "\nExact scan: {:.3} ms per query ({:.3} ms with seen items excluded)",
        exact_s * 1e3,
        exact_seen_s * 1e3
    );
    let recall = |got: &[Scored], want: &[Scored]| {
        want.iter()
            .filter(|w| got.iter().any(|g| g.item == w.item))
            .count() as f64
            / want.len().max(1) as f64
    };
    let mut probes: Vec<usize> = rest.iter().map(|a| a.parse().unwrap()).collect();
    if probes.is_empty() {
        probes.push(index.probe());
    }
    println!(
        "\n| probe | filter | recall@10 | ms / query | × exact | scanned / query | rescored / query | rescanned |\n|---:|---|---:|---:|---:|---:|---:|---:|"
    );
    let mut s = AnnScratch::default();
    let mut out = Vec::new();
    for &p in &probes {
        index.set_probe(p);
        // Warm-up: one untimed pass.
        for q in queries.chunks_exact(dim) {
            index.search(f, q, 10, &Filter::default(), &mut s, &mut out);
        }
        for (name, filters) in [("none", 0), ("50 seen", 1), ("1,000 candidates", 2)] {
            let mut r = 0.0;
            let (mut scanned, mut rescored, mut rescans) = (0usize, 0usize, 0usize);
            let t = Instant::now();
            for (k, q) in queries.chunks_exact(dim).enumerate() {
                let filter = match filters {
                    0 => Filter::default(),
                    1 => Filter {
                        seen: &seen_lists[k],
                        ..Default::default()
                    },
                    _ => Filter {
                        candidates: Some(&cand_lists[k]),
                        ..Default::default()
                    },
                };
                index.search(f, q, 10, &filter, &mut s, &mut out);
                let st = s.stats();
                scanned += st.scanned;
                rescored += st.rescored;
                rescans += usize::from(st.extended);
                let truth = [&cases, &seen_truth, &cand_truth][filters];
                r += recall(&out, &truth[k]);
            }
            let per = t.elapsed().as_secs_f64() / nq as f64;
            let base = if filters == 1 { exact_seen_s } else { exact_s };
            println!(
                "| {p} | {name} | {:.4} | {:.3} | {:.3} | {:.0} | {:.1} | {:.1} % |",
                r / nq as f64,
                per * 1e3,
                per / base,
                scanned as f64 / nq as f64,
                rescored as f64 / nq as f64,
                100.0 * rescans as f64 / nq as f64
            );
        }
    }
}
