//! Hot-loop benchmarks at Online Retail scale (4,339 users × 3,665 items, ~213k interactions,
//! 64 factors): a dot product, one CG half-iteration over all users, a Cholesky fold-in of a
//! 20-item basket, a top-10 selection, and single-user serving (score a 3,659-item catalog, then
//! pick the top 10 unseen). Runs are kept short (shared 2-core machines).
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use reco_core::als::{update_factors, AlsModel, AlsParams};
use reco_core::model_file::{ModelFile, ModelKind};
use reco_core::rng::Rng;
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::topn::{Filter, TopN};
use reco_core::{kernels, CsrMatrix};

const USERS: usize = 4_339;
const ITEMS: usize = 3_665;
const INTERACTIONS_PER_USER: usize = 49;
const FACTORS: usize = 64;
/// Catalog size of the served Online Retail model (items with at least one interaction).
const CATALOG: usize = 3_659;

fn random_vec(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.next_f32() - 0.5) * scale).collect()
}

/// Users with ~49 items each, skewed toward low item indices (popular items), binary weights.
fn synthetic_matrix(rng: &mut Rng) -> CsrMatrix {
    let mut triples = Vec::with_capacity(USERS * INTERACTIONS_PER_USER);
    for u in 0..USERS as u32 {
        for _ in 0..INTERACTIONS_PER_USER {
            let r = rng.next_f32();
            let item = ((r * r) * ITEMS as f32) as u32;
            triples.push((u, item.min(ITEMS as u32 - 1), 1.0));
        }
    }
    CsrMatrix::from_triples(USERS, ITEMS, &triples)
        .unwrap()
        .binarized()
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    let a = random_vec(&mut rng, FACTORS, 1.0);
    let b = random_vec(&mut rng, FACTORS, 1.0);
    c.bench_function(&format!("dot/64 ({})", kernels::simd_backend()), |bench| {
        bench.iter(|| kernels::dot(black_box(&a), black_box(&b)))
    });

    let matrix = synthetic_matrix(&mut rng);
    let items = random_vec(&mut rng, ITEMS * FACTORS, 0.2);
    let users = random_vec(&mut rng, USERS * FACTORS, 0.2);
    let params = AlsParams::default();
    c.bench_function(
        &format!("als/cg3 user half-iteration ({} nnz)", matrix.nnz()),
        |bench| {
            let mut target = users.clone();
            bench.iter(|| update_factors(&matrix, &items, &mut target, &params).unwrap())
        },
    );

    let mut file = ModelFile::new(ModelKind::Als);
    file.params = serde_json::json!({"regularization": 0.05, "alpha": 1.0});
    file.put_f32("item_factors", &[ITEMS, FACTORS], items.clone());
    let model = AlsModel::from_model_file(&file).unwrap();
    let basket: Vec<(u32, f32)> = (0..20).map(|_| (rng.below(ITEMS as u32), 1.0)).collect();
    c.bench_function("als/fold-in cholesky 20 items", |bench| {
        bench.iter(|| model.fold_in(black_box(&basket)).unwrap())
    });

    let scores = random_vec(&mut rng, ITEMS, 1.0);
    let (mut top, mut out) = (TopN::new(), Vec::new());
    c.bench_function("topn/10 of 3665", |bench| {
        bench.iter(|| top.select(black_box(&scores), 10, &Filter::default(), &mut out))
    });

    let mut file = ModelFile::new(ModelKind::Als);
    file.params = serde_json::json!({"regularization": 0.05, "alpha": 1.0});
    file.put_f32("user_factors", &[1, FACTORS], random_vec(&mut rng, FACTORS, 0.2));
    file.put_f32(
        "item_factors",
        &[CATALOG, FACTORS],
        items[..CATALOG * FACTORS].to_vec(),
    );
    let model = AlsModel::from_model_file(&file).unwrap();
    let user = &model.user_factors(0).to_vec();
    let mut seen: Vec<u32> = matrix
        .row(0)
        .0
        .iter()
        .copied()
        .filter(|&i| (i as usize) < CATALOG)
        .collect();
    seen.dedup();
    let mut scores = vec![0f32; CATALOG];
    c.bench_function(&format!("matvec {CATALOG}x{FACTORS}"), |bench| {
        bench.iter(|| {
            kernels::matvec(
                black_box(&items[..CATALOG * FACTORS]),
                black_box(user),
                &mut scores,
            )
        })
    });
    let filter = Filter {
        seen: &seen,
        ..Default::default()
    };
    c.bench_function(&format!("score {CATALOG}x{FACTORS} + top10"), |bench| {
        bench.iter(|| {
            model.score_user(black_box(0), &mut scores, &mut ScoreScratch::default());
            top.select(&scores, 10, &filter, &mut out);
            out.len()
        })
    });
}

criterion_group! {
    name = kernels_benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = benches
}
criterion_main!(kernels_benches);
