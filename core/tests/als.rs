//! Implicit ALS: recovery of planted structure, solver agreement, fold-in, determinism,
//! parameter checks and model files.
use reco_core::als::{update_factors, AlsModel, AlsParams, AlsSolver, IterationReport};
use reco_core::model_file::{ModelFile, ModelKind, Precision};
use reco_core::rng::Rng;
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::topn::{top_n, Filter};
use reco_core::{CsrMatrix, RecoError};

const GROUPS: usize = 3;
const USERS_PER_GROUP: usize = 40;
const ITEMS_PER_BLOCK: usize = 30;

/// Users in 3 groups; a user of group g buys 8 random items of block g and 1 random item
/// from elsewhere (noise). Returns the matrix and each user's group.
fn planted() -> (CsrMatrix, Vec<usize>) {
    let mut rng = Rng::new(7);
    let mut triples = Vec::new();
    let mut groups = Vec::new();
    for u in 0..GROUPS * USERS_PER_GROUP {
        let g = u % GROUPS;
        groups.push(g);
        for _ in 0..8 {
            let i = g * ITEMS_PER_BLOCK + rng.below(ITEMS_PER_BLOCK as u32) as usize;
            triples.push((u as u32, i as u32, 1.0));
        }
        let noise = rng.below((GROUPS * ITEMS_PER_BLOCK) as u32);
        triples.push((u as u32, noise, 1.0));
    }
    let m = CsrMatrix::from_triples(GROUPS * USERS_PER_GROUP, GROUPS * ITEMS_PER_BLOCK, &triples).unwrap();
    (m.binarized(), groups)
}

fn small_params(solver: AlsSolver) -> AlsParams {
    AlsParams {
        factors: 8,
        regularization: 0.1,
        iterations: 12,
        solver,
        ..AlsParams::default()
    }
}

fn fit(m: &CsrMatrix, params: &AlsParams) -> AlsModel {
    AlsModel::fit(m, params, &mut |_| {}).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Top-`n` unseen items of user `u`.
fn recommend(model: &AlsModel, m: &CsrMatrix, u: usize, n: usize) -> Vec<u32> {
    let mut scores = vec![0f32; model.n_items()];
    model.score_user(u as u32, &mut scores, &mut ScoreScratch::default());
    let filter = Filter {
        seen: m.row(u).0,
        ..Filter::default()
    };
    top_n(&scores, n, &filter).iter().map(|s| s.item).collect()
}

#[test]
fn planted_groups_are_recovered_by_both_solvers() {
    let (m, groups) = planted();
    for solver in [AlsSolver::ConjugateGradient { steps: 3 }, AlsSolver::Cholesky] {
        let model = fit(&m, &small_params(solver));
        let (mut in_block, mut total) = (0, 0);
        for (u, &g) in groups.iter().enumerate() {
            for item in recommend(&model, &m, u, 5) {
                total += 1;
                in_block += usize::from(item as usize / ITEMS_PER_BLOCK == g);
            }
        }
        let share = in_block as f64 / total as f64;
        assert!(
            share > 0.95,
            "{solver:?}: only {share} of recommendations in the own block"
        );

        let (mut same, mut n_same, mut cross, mut n_cross) = (0f32, 0, 0f32, 0);
        for u in 0..groups.len() {
            for v in u + 1..groups.len() {
                let c = cosine(model.user_factors(u), model.user_factors(v));
                if groups[u] == groups[v] {
                    same += c;
                    n_same += 1;
                } else {
                    cross += c;
                    n_cross += 1;
                }
            }
        }
        let (same, cross) = (same / n_same as f32, cross / n_cross as f32);
        assert!(
            same > cross + 0.5,
            "{solver:?}: same-group cosine {same}, cross {cross}"
        );
    }
}

#[test]
fn similar_items_come_from_the_same_block() {
    let (m, _) = planted();
    let model = fit(&m, &small_params(AlsSolver::default()));
    let mut scores = vec![0f32; model.n_items()];
    for item in [0u32, 35, 80] {
        model
            .similar_to(item, &mut scores, &mut ScoreScratch::default())
            .unwrap();
        assert!((scores[item as usize] - 1.0).abs() < 1e-5);
        let filter = Filter {
            exclude: &[item],
            ..Filter::default()
        };
        let block = item as usize / ITEMS_PER_BLOCK;
        for s in top_n(&scores, 10, &filter) {
            assert_eq!(s.item as usize / ITEMS_PER_BLOCK, block, "item {item}: {s:?}");
        }
    }
    assert!(matches!(
        model.similar_to(1000, &mut scores, &mut ScoreScratch::default()),
        Err(RecoError::UnknownItem(_))
    ));
}

#[test]
fn items_without_interactions_get_zero_factors_and_minus_infinity_similarity() {
    let m = CsrMatrix::from_triples(3, 4, &[(0, 0, 1.0), (1, 1, 1.0), (2, 0, 2.0), (2, 1, 1.0)]).unwrap();
    let model = fit(&m, &small_params(AlsSolver::default()));
    assert!(model.item_factors(3).iter().all(|&v| v == 0.0));
    let mut scores = vec![0f32; 4];
    model
        .similar_to(0, &mut scores, &mut ScoreScratch::default())
        .unwrap();
    assert_eq!(scores[3], f32::NEG_INFINITY);
    model
        .similar_to(2, &mut scores, &mut ScoreScratch::default())
        .unwrap();
    assert!(scores.iter().all(|&s| s == f32::NEG_INFINITY));
}

#[test]
fn cg_with_many_steps_converges_to_the_cholesky_solution() {
    let (m, _) = planted();
    let dim = 8;
    let mut rng = Rng::new(3);
    let items: Vec<f32> = (0..m.n_cols() * dim).map(|_| rng.next_f32() - 0.5).collect();
    let start: Vec<f32> = (0..m.n_rows() * dim).map(|_| rng.next_f32() * 0.01).collect();
    let mut exact = start.clone();
    let cholesky = small_params(AlsSolver::Cholesky);
    update_factors(&m, &items, &mut exact, &cholesky).unwrap();
    let mut approx = start.clone();
    let cg = small_params(AlsSolver::ConjugateGradient { steps: 3 * dim });
    update_factors(&m, &items, &mut approx, &cg).unwrap();
    let mut three_steps = start;
    update_factors(&m, &items, &mut three_steps, &small_params(AlsSolver::default())).unwrap();
    let err = |x: &[f32]| -> f32 {
        let num: f32 = x.iter().zip(&exact).map(|(a, b)| (a - b) * (a - b)).sum();
        (num / exact.iter().map(|b| b * b).sum::<f32>()).sqrt()
    };
    assert!(err(&approx) < 1e-3, "CG(24) relative error {}", err(&approx));
    assert!(err(&three_steps) > err(&approx), "more CG steps should be closer");
}

#[test]
fn cg_and_cholesky_models_agree_on_top_10() {
    let (m, _) = planted();
    let cg = fit(&m, &small_params(AlsSolver::ConjugateGradient { steps: 3 }));
    let exact = fit(&m, &small_params(AlsSolver::Cholesky));
    let mut overlap = 0;
    for u in 0..m.n_rows() {
        let a = recommend(&cg, &m, u, 10);
        let b = recommend(&exact, &m, u, 10);
        overlap += a.iter().filter(|i| b.contains(i)).count();
    }
    let share = overlap as f64 / (10 * m.n_rows()) as f64;
    assert!(share > 0.7, "top-10 overlap {share}");
}

#[test]
fn fold_in_reproduces_trained_users() {
    let (m, _) = planted();
    for scale_by_count in [false, true] {
        let params = AlsParams {
            scale_regularization_by_count: scale_by_count,
            ..small_params(AlsSolver::Cholesky)
        };
        let model = fit(&m, &params);
        for u in 0..m.n_rows() {
            let (cols, weights) = m.row(u);
            let basket: Vec<(u32, f32)> = cols.iter().copied().zip(weights.iter().copied()).collect();
            // The last half-iteration solved users exactly against the final items.
            assert_eq!(model.fold_in(&basket).unwrap(), model.user_factors(u), "user {u}");
        }
    }
    let model = fit(&m, &small_params(AlsSolver::default()));
    for u in 0..m.n_rows() {
        let (cols, weights) = m.row(u);
        let basket: Vec<(u32, f32)> = cols.iter().copied().zip(weights.iter().copied()).collect();
        let c = cosine(&model.fold_in(&basket).unwrap(), model.user_factors(u));
        assert!(c > 0.99, "CG user {u}: cosine to fold-in {c}");
    }
}

#[test]
fn fold_in_merges_duplicates_and_checks_items() {
    let (m, _) = planted();
    let model = fit(&m, &small_params(AlsSolver::default()));
    let merged = model.fold_in(&[(3, 2.0), (5, 1.0)]).unwrap();
    let split = model.fold_in(&[(5, 1.0), (3, 1.0), (3, 1.0)]).unwrap();
    assert_eq!(merged, split);
    assert_eq!(model.fold_in(&[]).unwrap(), vec![0.0; 8]);
    assert!(matches!(
        model.fold_in(&[(90, 1.0)]),
        Err(RecoError::UnknownItem(_))
    ));
    assert!(matches!(
        model.fold_in(&[(1, f32::NAN)]),
        Err(RecoError::InvalidData(_))
    ));
    let mut by_fold_in = vec![0f32; model.n_items()];
    model
        .score_items(
            &[(3, 2.0), (5, 1.0)],
            &mut by_fold_in,
            &mut ScoreScratch::default(),
        )
        .unwrap();
    let expected: Vec<f32> = (0..model.n_items())
        .map(|i| {
            model
                .item_factors(i)
                .iter()
                .zip(&merged)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect();
    for (a, b) in by_fold_in.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn same_seed_gives_identical_factors_on_1_and_2_threads() {
    let (m, _) = planted();
    let params = AlsParams {
        factors: 16,
        iterations: 4,
        compute_loss: true,
        ..AlsParams::default()
    };
    let fit_on = |threads: usize, params: &AlsParams| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut losses = Vec::new();
        let model = pool.install(|| AlsModel::fit(&m, params, &mut |r| losses.push(r.loss)).unwrap());
        (model, losses)
    };
    for solver in [AlsSolver::default(), AlsSolver::Cholesky] {
        let params = AlsParams {
            solver,
            ..params.clone()
        };
        let (one, losses_one) = fit_on(1, &params);
        let (two, losses_two) = fit_on(2, &params);
        let bits = |m: &AlsModel| -> Vec<u32> {
            (0..m.n_users())
                .flat_map(|u| m.user_factors(u).to_vec())
                .chain((0..m.n_items()).flat_map(|i| m.item_factors(i).to_vec()))
                .map(f32::to_bits)
                .collect()
        };
        assert_eq!(bits(&one), bits(&two), "{solver:?}");
        assert_eq!(losses_one, losses_two);
        let (other_seed, _) = fit_on(
            2,
            &AlsParams {
                seed: 43,
                ..params.clone()
            },
        );
        assert_ne!(bits(&one), bits(&other_seed));
    }
}

#[test]
fn loss_is_reported_every_iteration_and_decreases() {
    let (m, _) = planted();
    let mut reports: Vec<IterationReport> = Vec::new();
    let params = AlsParams {
        compute_loss: true,
        ..small_params(AlsSolver::default())
    };
    AlsModel::fit(&m, &params, &mut |r| reports.push(r)).unwrap();
    assert_eq!(
        reports.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    let losses: Vec<f32> = reports.iter().map(|r| r.loss.unwrap()).collect();
    assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0));
    assert!(losses.windows(2).all(|w| w[1] <= w[0] * 1.0001), "{losses:?}");
    let mut silent = Vec::new();
    AlsModel::fit(&m, &small_params(AlsSolver::default()), &mut |r| {
        silent.push(r.loss)
    })
    .unwrap();
    assert!(silent.iter().all(Option::is_none));
}

#[test]
fn loss_matches_its_definition() {
    // 2 users × 2 items, one factor: compute the objective by hand.
    let m = CsrMatrix::from_triples(2, 2, &[(0, 0, 2.0), (1, 1, 1.0)]).unwrap();
    let params = AlsParams {
        factors: 1,
        iterations: 1,
        alpha: 0.5,
        regularization: 0.1,
        compute_loss: true,
        solver: AlsSolver::Cholesky,
        ..AlsParams::default()
    };
    let mut loss = None;
    let model = AlsModel::fit(&m, &params, &mut |r| loss = r.loss).unwrap();
    let (x, y) = (
        [model.user_factors(0)[0], model.user_factors(1)[0]],
        [model.item_factors(0)[0], model.item_factors(1)[0]],
    );
    let mut total = 0.0;
    let mut confidence_sum = 0.0;
    for (u, xu) in x.iter().enumerate() {
        for (i, yi) in y.iter().enumerate() {
            let w = m.get(u, i as u32);
            let (c, p) = if w > 0.0 { (1.0 + 0.5 * w, 1.0) } else { (1.0, 0.0) };
            total += c * (p - xu * yi) * (p - xu * yi);
            if w > 0.0 {
                confidence_sum += c;
            }
        }
    }
    total += 0.1 * (x[0] * x[0] + x[1] * x[1] + y[0] * y[0] + y[1] * y[1]);
    let expected = total / (confidence_sum + 4.0 - 2.0);
    let loss = loss.unwrap();
    assert!(
        (loss - expected).abs() < 1e-5 * expected.abs().max(1.0),
        "{loss} vs {expected}"
    );
}

#[test]
fn every_invalid_hyperparameter_is_named() {
    let (m, _) = planted();
    let cases: Vec<(&str, AlsParams)> = vec![
        (
            "factors",
            AlsParams {
                factors: 0,
                ..AlsParams::default()
            },
        ),
        (
            "factors",
            AlsParams {
                factors: 5000,
                ..AlsParams::default()
            },
        ),
        (
            "regularization",
            AlsParams {
                regularization: -0.1,
                ..AlsParams::default()
            },
        ),
        (
            "regularization",
            AlsParams {
                regularization: f32::NAN,
                ..AlsParams::default()
            },
        ),
        (
            "regularization",
            AlsParams {
                regularization: f32::INFINITY,
                ..AlsParams::default()
            },
        ),
        (
            "alpha",
            AlsParams {
                alpha: -1.0,
                ..AlsParams::default()
            },
        ),
        (
            "alpha",
            AlsParams {
                alpha: f32::NAN,
                ..AlsParams::default()
            },
        ),
        (
            "iterations",
            AlsParams {
                iterations: 0,
                ..AlsParams::default()
            },
        ),
        (
            "cg_steps",
            AlsParams {
                solver: AlsSolver::ConjugateGradient { steps: 0 },
                ..AlsParams::default()
            },
        ),
    ];
    for (name, params) in cases {
        match AlsModel::fit(&m, &params, &mut |_| panic!("fitting started")) {
            Err(RecoError::InvalidParameter { name: got, reason }) => {
                assert_eq!(got, name);
                assert!(!reason.is_empty());
            }
            other => panic!("{name}: expected InvalidParameter, got {other:?}"),
        }
    }
    assert!(AlsParams::default().check().is_ok());
    let empty = CsrMatrix::from_triples(3, 3, &[]).unwrap();
    assert!(matches!(
        AlsModel::fit(&empty, &AlsParams::default(), &mut |_| {}),
        Err(RecoError::InvalidData(_))
    ));
}

#[test]
fn model_file_roundtrip_and_item_only_files() {
    let (m, _) = planted();
    let params = AlsParams {
        scale_regularization_by_count: true,
        ..small_params(AlsSolver::Cholesky)
    };
    let model = fit(&m, &params);
    let file = model.to_model_file();
    assert_eq!(file.kind, ModelKind::Als);
    assert_eq!(file.params["regularization"], serde_json::json!(0.1));
    let bytes = file.to_bytes(Precision::F32).unwrap();
    let back = AlsModel::from_model_file(&ModelFile::from_bytes(&bytes).unwrap()).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.params(), &params);
    // The loader that moves the factors out of the file gives the same model.
    let mut owned = ModelFile::from_bytes(&bytes).unwrap();
    assert_eq!(AlsModel::take_from_model_file(&mut owned).unwrap(), model);
    assert!(!owned.tensors.contains_key("item_factors") && !owned.tensors.contains_key("user_factors"));

    let mut item_only = file.clone();
    item_only.tensors.remove("user_factors");
    let browser = AlsModel::from_model_file(&item_only).unwrap();
    assert_eq!(browser.n_users(), 0);
    assert_eq!(browser.n_items(), model.n_items());
    let basket = [(1u32, 1.0f32), (4, 1.0)];
    assert_eq!(browser.fold_in(&basket).unwrap(), model.fold_in(&basket).unwrap());
}

#[test]
fn wrong_kind_and_inconsistent_files_are_rejected() {
    let (m, _) = planted();
    let file = fit(&m, &small_params(AlsSolver::default())).to_model_file();
    let mut wrong_kind = file.clone();
    wrong_kind.kind = ModelKind::Popularity;
    assert!(matches!(
        AlsModel::from_model_file(&wrong_kind),
        Err(RecoError::WrongModelKind { .. })
    ));
    // Both loaders (copying and moving the factors) refuse the same files.
    let corrupt = |f: &ModelFile| {
        matches!(AlsModel::from_model_file(f), Err(RecoError::CorruptModel(_)))
            && matches!(
                AlsModel::take_from_model_file(&mut f.clone()),
                Err(RecoError::CorruptModel(_))
            )
    };
    let mut no_items = file.clone();
    no_items.tensors.remove("item_factors");
    assert!(corrupt(&no_items));
    let mut bad_users = file.clone();
    bad_users.put_f32("user_factors", &[2, 3], vec![0.0; 6]);
    assert!(corrupt(&bad_users));
    let mut flat = file.clone();
    flat.put_f32("item_factors", &[90 * 8], vec![0.0; 90 * 8]);
    assert!(corrupt(&flat));
    let mut ids = file.clone();
    ids.item_ids = vec!["a".into()];
    assert!(corrupt(&ids));
    let mut ids_without_users = file.clone();
    ids_without_users.tensors.remove("user_factors");
    ids_without_users.user_ids = vec!["u".into()];
    assert!(corrupt(&ids_without_users));
    let mut factors = file.clone();
    factors.params["factors"] = serde_json::json!(9);
    assert!(corrupt(&factors));
    let mut no_params = file.clone();
    no_params.params = serde_json::json!({});
    assert!(corrupt(&no_params));
}

#[test]
fn into_model_file_is_to_model_file_without_the_copy() {
    let (m, _) = planted();
    let params = AlsParams {
        factors: 4,
        iterations: 2,
        ..AlsParams::default()
    };
    let model = AlsModel::fit(&m, &params, &mut |_| {}).unwrap();
    let copied = model.to_model_file();
    assert!(copied.tensors.contains_key("user_factors"));
    assert_eq!(model.into_model_file(), copied);
}
