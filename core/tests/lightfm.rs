//! LightFM-style model: learning on planted data, gradients, determinism, fold-in, cold
//! start, parameter checks and model files.
use reco_core::lightfm::{fit, fit_weighted, with_identity, LightFmModel, LightFmParams, Loss, Schedule};
use reco_core::model_file::{ModelFile, ModelKind, Precision, Tensor};
use reco_core::rng::Rng;
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::topn::{top_n, Filter};
use reco_core::{CsrMatrix, RecoError};

const GROUPS: usize = 4;
const USERS_PER_GROUP: usize = 15;
const ITEMS_PER_GROUP: usize = 12;
const LIKED: usize = 6;

/// Users of group `g` like `LIKED` random items of item block `g` (and nothing else).
fn planted() -> CsrMatrix {
    let mut rng = Rng::new(7);
    let mut triples = Vec::new();
    for u in 0..GROUPS * USERS_PER_GROUP {
        let g = u / USERS_PER_GROUP;
        let mut block: Vec<u32> = (0..ITEMS_PER_GROUP as u32)
            .map(|i| (g * ITEMS_PER_GROUP) as u32 + i)
            .collect();
        rng.shuffle(&mut block);
        triples.extend(block[..LIKED].iter().map(|&i| (u as u32, i, 1.0)));
    }
    CsrMatrix::from_triples(GROUPS * USERS_PER_GROUP, GROUPS * ITEMS_PER_GROUP, &triples).unwrap()
}

fn small_params(loss: Loss) -> LightFmParams {
    LightFmParams {
        factors: 8,
        loss,
        epochs: 40,
        threads: 1,
        ..LightFmParams::default()
    }
}

fn train(m: &CsrMatrix, p: &LightFmParams) -> LightFmModel {
    fit(m, None, None, p, &mut |_| {}).unwrap()
}

fn scores(model: &impl ItemScorer, user: u32) -> Vec<f32> {
    let mut out = vec![0f32; model.n_items()];
    model.score_user(user, &mut out, &mut ScoreScratch::default());
    out
}

/// Mean over users of P(score(train positive) > score(non-positive)).
fn train_auc(model: &LightFmModel, m: &CsrMatrix) -> f64 {
    let mut total = 0.0;
    for u in 0..m.n_rows() {
        let s = scores(model, u as u32);
        let (pos, _) = m.row(u);
        let neg: Vec<usize> = (0..m.n_cols())
            .filter(|i| pos.binary_search(&(*i as u32)).is_err())
            .collect();
        let wins: usize = pos
            .iter()
            .map(|&p| neg.iter().filter(|&&n| s[p as usize] > s[n]).count())
            .sum();
        total += wins as f64 / (pos.len() * neg.len()) as f64;
    }
    total / m.n_rows() as f64
}

/// Mean over users of P(score(unseen same-block item) > score(other-block item)).
fn heldout_auc(model: &LightFmModel, m: &CsrMatrix) -> f64 {
    let mut total = 0.0;
    for u in 0..m.n_rows() {
        let g = u / USERS_PER_GROUP;
        let s = scores(model, u as u32);
        let (pos, _) = m.row(u);
        let block = g * ITEMS_PER_GROUP..(g + 1) * ITEMS_PER_GROUP;
        let held: Vec<usize> = block
            .clone()
            .filter(|i| pos.binary_search(&(*i as u32)).is_err())
            .collect();
        let other: Vec<usize> = (0..m.n_cols()).filter(|i| !block.contains(i)).collect();
        let wins: usize = held
            .iter()
            .map(|&h| other.iter().filter(|&&o| s[h] > s[o]).count())
            .sum();
        total += wins as f64 / (held.len() * other.len()) as f64;
    }
    total / m.n_rows() as f64
}

#[test]
fn warp_ranks_train_positives_above_negatives() {
    let m = planted();
    let model = train(&m, &small_params(Loss::Warp));
    let (auc, held) = (train_auc(&model, &m), heldout_auc(&model, &m));
    assert!(auc > 0.9, "train AUC {auc}");
    assert!(held > 0.8, "held-out block AUC {held}");
}

#[test]
fn kos_and_bpr_and_adadelta_also_learn_the_planted_data() {
    let m = planted();
    for (name, p) in [
        ("k-OS", small_params(Loss::WarpKos { k: 2, n: 5 })),
        ("BPR", small_params(Loss::Bpr)),
        (
            "WARP + adadelta",
            LightFmParams {
                schedule: Schedule::Adadelta,
                ..small_params(Loss::Warp)
            },
        ),
        (
            "WARP + L2",
            LightFmParams {
                user_alpha: 1e-4,
                item_alpha: 1e-4,
                ..small_params(Loss::Warp)
            },
        ),
    ] {
        let model = train(&m, &p);
        let auc = train_auc(&model, &m);
        assert!(auc > 0.85, "{name}: train AUC {auc}");
    }
}

#[test]
fn one_thread_is_bit_identical_for_a_seed() {
    let m = planted();
    let p = small_params(Loss::Warp);
    let (a, b) = (train(&m, &p), train(&m, &p));
    let bits = |m: &LightFmModel| -> Vec<u32> {
        m.item_embeddings()
            .iter()
            .chain(m.user_embeddings())
            .chain(m.item_biases())
            .chain(m.user_biases())
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
    let other = train(&m, &LightFmParams { seed: 43, ..p });
    assert_ne!(bits(&a), bits(&other));
}

#[test]
fn several_threads_train_as_well() {
    let m = planted();
    let p = LightFmParams {
        threads: 2,
        ..small_params(Loss::Warp)
    };
    let model = train(&m, &p);
    assert!(train_auc(&model, &m) > 0.9);
}

/// The training step against finite differences of the loss on a tiny case. User 0 likes
/// item 0 (weight 1); user 1 likes item 1 with weight 0, so its steps are no-ops and one
/// epoch is exactly one step from the initialization. Adagrad's first step is `θ −= lr·g`,
/// so two learning rates recover both the initialization and the gradient `g`.
fn gradient_check(loss: Loss, loss_fn: impl Fn(f64, f64) -> f64) {
    let k = 4;
    let m = CsrMatrix::from_triples(2, 4, &[(0, 0, 1.0), (1, 1, 1.0)]).unwrap();
    let weights = [1.0, 0.0];
    let run = |lr: f32| {
        let p = LightFmParams {
            factors: k,
            loss,
            learning_rate: lr,
            epochs: 1,
            threads: 1,
            // A seed whose draws take the step: WARP's first candidate for user 0 is a
            // negative, BPR finds one within its two tries.
            seed: 1,
            ..LightFmParams::default()
        };
        fit_weighted(&m, Some(&weights), None, None, &p, &mut |_| {}).unwrap()
    };
    let (l1, l2) = (0.01f64, 0.02f64);
    let (a, b) = (run(l1 as f32), run(l2 as f32));
    let flat = |m: &LightFmModel| -> Vec<f64> {
        m.user_embeddings()
            .iter()
            .chain(m.item_embeddings())
            .chain(m.item_biases())
            .map(|&v| v as f64)
            .collect()
    };
    let (fa, fb) = (flat(&a), flat(&b));
    let g: Vec<f64> = fa.iter().zip(&fb).map(|(x, y)| (x - y) / (l2 - l1)).collect();
    let theta: Vec<f64> = fa.iter().zip(&g).map(|(x, g)| x + l1 * g).collect();
    // Layout: user embeddings [2×k], item embeddings [4×k], item biases [4].
    let (ie, ib) = (2 * k, 2 * k + 4 * k);
    let moved = |i: usize| (0..k).any(|c| g[ie + i * k + c].abs() > 1e-6);
    let negs: Vec<usize> = (1..4).filter(|&i| moved(i)).collect();
    assert_eq!(negs.len(), 1, "exactly one negative item must move: {g:?}");
    let j = negs[0];
    let total = |t: &[f64]| {
        let dot = |i: usize| (0..k).map(|c| t[c] * t[ie + i * k + c]).sum::<f64>();
        loss_fn(dot(0) + t[ib], dot(j) + t[ib + j])
    };
    let mut checked = 0;
    for x in (0..k)
        .chain((ie..ie + k).chain(ie + j * k..ie + (j + 1) * k))
        .chain([ib, ib + j])
    {
        let h = 1e-4;
        let (mut up, mut down) = (theta.clone(), theta.clone());
        up[x] += h;
        down[x] -= h;
        let numeric = (total(&up) - total(&down)) / (2.0 * h);
        assert!(
            (numeric - g[x]).abs() < 2e-3 * numeric.abs().max(1.0),
            "parameter {x}: numeric {numeric} vs step {}",
            g[x]
        );
        assert!(g[x] != 0.0);
        checked += 1;
    }
    assert_eq!(checked, 3 * k + 2);
    // User 1 and the untouched items did not move.
    assert!(g[k..2 * k].iter().all(|&v| v == 0.0));
    for i in (1..4).filter(|&i| i != j) {
        assert!(!moved(i) && g[ib + i] == 0.0);
    }
}

#[test]
fn warp_step_is_the_gradient_of_the_weighted_hinge() {
    // 3 candidate negatives, the first draw is a negative and violates: rank weight
    // ln(floor(3 / 1)).
    let w = 3f64.ln();
    gradient_check(Loss::Warp, |sp, sn| w * (1.0 - sp + sn));
}

/// LightFM 1.17's WARP sampling: a drawn positive counts as a draw. Every user likes 3 of 4
/// items; with one draw per step, a step happens only when that draw is the negative item
/// (about 1 in 4), never after redrawing the positives.
#[test]
fn warp_counts_drawn_positives_as_draws() {
    let users = 200u32;
    let triples: Vec<(u32, u32, f32)> = (0..users)
        .flat_map(|u| (0..3).map(move |i| (u, (u + i) % 4, 1.0)))
        .collect();
    let m = CsrMatrix::from_triples(users as usize, 4, &triples).unwrap();
    let p = LightFmParams {
        factors: 4,
        max_sampled: 1,
        epochs: 1,
        threads: 1,
        ..LightFmParams::default()
    };
    let mut updates = 0;
    fit(&m, None, None, &p, &mut |r| updates = r.updates).unwrap();
    // 600 examples; initial scores are all close to 0, so every negative draw violates.
    assert!(
        (100..=200).contains(&updates),
        "{updates} updates of 600 examples"
    );
}

#[test]
fn bpr_step_is_the_gradient_of_log_sigmoid() {
    gradient_check(Loss::Bpr, |sp, sn| -(1.0 / (1.0 + (-(sp - sn)).exp())).ln());
}

fn top10(s: &[f32], seen: &[u32]) -> Vec<u32> {
    top_n(
        s,
        10,
        &Filter {
            seen,
            ..Default::default()
        },
    )
    .iter()
    .map(|s| s.item)
    .collect()
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&v| v as f64).sum::<f64>() / n,
        b.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let cov: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb))
        .sum();
    let va: f64 = a.iter().map(|&x| (x as f64 - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|&y| (y as f64 - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn fold_in_of_a_training_user_lands_near_its_trained_ranking() {
    // Bigger blocks so that a top-10 lies inside the user's block.
    let mut rng = Rng::new(3);
    let (groups, users, items, liked) = (4usize, 20usize, 25usize, 8usize);
    let mut triples = Vec::new();
    for u in 0..groups * users {
        let g = u / users;
        let mut block: Vec<u32> = (0..items as u32).map(|i| (g * items) as u32 + i).collect();
        rng.shuffle(&mut block);
        triples.extend(block[..liked].iter().map(|&i| (u as u32, i, 1.0)));
    }
    let m = CsrMatrix::from_triples(groups * users, groups * items, &triples).unwrap();
    let model = train(
        &m,
        &LightFmParams {
            epochs: 30,
            ..small_params(Loss::Warp)
        },
    );
    let (mut overlap, mut corr) = (0.0, 0.0);
    let mut folded = vec![0f32; model.n_items()];
    for u in 0..m.n_rows() {
        let (seen, _) = m.row(u);
        let trained = scores(&model, u as u32);
        let basket: Vec<(u32, f32)> = seen.iter().map(|&i| (i, 1.0)).collect();
        model
            .score_items(&basket, &mut folded, &mut ScoreScratch::default())
            .unwrap();
        let (a, b) = (top10(&trained, seen), top10(&folded, seen));
        overlap += a.iter().filter(|i| b.contains(i)).count() as f64 / 10.0;
        corr += pearson(&trained, &folded);
    }
    let (overlap, corr) = (overlap / m.n_rows() as f64, corr / m.n_rows() as f64);
    assert!(overlap >= 0.8, "mean top-10 overlap {overlap}");
    assert!(corr >= 0.8, "mean score correlation {corr}");
    // Deterministic, and unknown items are errors.
    let basket = [(0u32, 1.0f32), (3, 2.0)];
    assert_eq!(model.fold_in(&basket).unwrap(), model.fold_in(&basket).unwrap());
    assert!(matches!(
        model.fold_in(&[(10_000, 1.0)]),
        Err(RecoError::UnknownItem(_))
    ));
}

#[test]
fn cold_start_item_is_recommended_through_its_features() {
    // Items carry their block as a category; one extra item of block 0 has no interactions.
    let m = planted();
    let n_items = m.n_cols();
    let cold = n_items as u32;
    let mut cats: Vec<(u32, u32, f32)> = (0..n_items as u32)
        .map(|i| (i, i / ITEMS_PER_GROUP as u32, 1.0))
        .collect();
    cats.push((cold, 0, 1.0));
    let categories = CsrMatrix::from_triples(n_items + 1, GROUPS, &cats).unwrap();
    let rank_of_cold = |model: &LightFmModel, u: usize| {
        let s = scores(model, u as u32);
        let (seen, _) = m.row(u);
        let top = top_n(
            &s,
            n_items + 1,
            &Filter {
                seen,
                ..Default::default()
            },
        );
        top.iter().position(|t| t.item == cold).unwrap()
    };
    let in_group = |u: usize| u < USERS_PER_GROUP;
    // Categories only: the cold item is as good as its block's unseen items.
    let model = fit(
        &m,
        Some(&categories),
        None,
        &small_params(Loss::Warp),
        &mut |_| {},
    )
    .unwrap();
    for u in 0..m.n_rows() {
        let top = rank_of_cold(&model, u) <= ITEMS_PER_GROUP - LIKED;
        assert_eq!(top, in_group(u), "user {u}: rank {}", rank_of_cold(&model, u));
    }
    // LightFM Dataset style (identity + category, rows normalized): the never-seen identity
    // half is only ever pushed down as a negative, yet the category half still ranks the cold
    // item above where any other group's user ranks it.
    let features = with_identity(&categories, true);
    assert_eq!(features.get(0, 0), 0.5);
    let model = fit(&m, Some(&features), None, &small_params(Loss::Warp), &mut |_| {}).unwrap();
    assert_eq!(model.n_items(), n_items + 1);
    let ranks: Vec<usize> = (0..m.n_rows()).map(|u| rank_of_cold(&model, u)).collect();
    let worst_in = (0..m.n_rows())
        .filter(|&u| in_group(u))
        .map(|u| ranks[u])
        .max()
        .unwrap();
    let best_out = (0..m.n_rows())
        .filter(|&u| !in_group(u))
        .map(|u| ranks[u])
        .min()
        .unwrap();
    assert!(worst_in < best_out, "ranks of the cold item: {ranks:?}");
    let mean_in = ranks[..USERS_PER_GROUP].iter().sum::<usize>() as f64 / USERS_PER_GROUP as f64;
    assert!(
        mean_in < 12.0,
        "mean rank in its group {mean_in} (of {})",
        n_items + 1 - LIKED
    );
    // Similar items of the cold item are its block's.
    let mut sim = vec![0f32; model.n_items()];
    model
        .similar_to(cold, &mut sim, &mut ScoreScratch::default())
        .unwrap();
    let best = top_n(
        &sim,
        5,
        &Filter {
            exclude: &[cold],
            ..Default::default()
        },
    );
    assert!(
        best.iter().all(|s| (s.item as usize) < ITEMS_PER_GROUP),
        "{best:?}"
    );
}

#[test]
fn user_features_score_like_training_users() {
    let m = planted();
    let groups: Vec<(u32, u32, f32)> = (0..m.n_rows() as u32)
        .map(|u| (u, u / USERS_PER_GROUP as u32, 1.0))
        .collect();
    let uf = with_identity(
        &CsrMatrix::from_triples(m.n_rows(), GROUPS, &groups).unwrap(),
        true,
    );
    let model = fit(&m, None, Some(&uf), &small_params(Loss::Warp), &mut |_| {}).unwrap();
    let (cols, vals) = uf.row(5);
    let row: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
    let mut out = vec![0f32; model.n_items()];
    model.score_user_features(&row, &mut out).unwrap();
    let trained = scores(&model, 5);
    assert!(out.iter().zip(&trained).all(|(a, b)| (a - b).abs() < 1e-4));
    // A new user known only by its group feature prefers its group's block.
    let group_only = [(m.n_rows() as u32 + 2, 1.0)];
    model.score_user_features(&group_only, &mut out).unwrap();
    let top = top_n(&out, 5, &Filter::default());
    assert!(
        top.iter().all(|s| (s.item as usize) / ITEMS_PER_GROUP == 2),
        "{top:?}"
    );
    assert!(model.score_user_features(&[(9999, 1.0)], &mut out).is_err());
}

#[test]
fn invalid_parameters_are_named() {
    let d = LightFmParams::default();
    let cases: Vec<(&str, LightFmParams)> = vec![
        (
            "factors",
            LightFmParams {
                factors: 0,
                ..d.clone()
            },
        ),
        (
            "learning_rate",
            LightFmParams {
                learning_rate: 0.0,
                ..d.clone()
            },
        ),
        (
            "learning_rate",
            LightFmParams {
                learning_rate: f32::NAN,
                ..d.clone()
            },
        ),
        (
            "rho",
            LightFmParams {
                rho: 1.0,
                ..d.clone()
            },
        ),
        (
            "epsilon",
            LightFmParams {
                epsilon: 0.0,
                ..d.clone()
            },
        ),
        (
            "max_sampled",
            LightFmParams {
                max_sampled: 0,
                ..d.clone()
            },
        ),
        (
            "epochs",
            LightFmParams {
                epochs: 0,
                ..d.clone()
            },
        ),
        (
            "user_alpha",
            LightFmParams {
                user_alpha: -1.0,
                ..d.clone()
            },
        ),
        (
            "item_alpha",
            LightFmParams {
                item_alpha: f32::INFINITY,
                ..d.clone()
            },
        ),
        (
            "k",
            LightFmParams {
                loss: Loss::WarpKos { k: 6, n: 5 },
                ..d.clone()
            },
        ),
        (
            "n",
            LightFmParams {
                loss: Loss::WarpKos { k: 1, n: 0 },
                ..d.clone()
            },
        ),
    ];
    let m = planted();
    for (name, p) in cases {
        match fit(&m, None, None, &p, &mut |_| {}) {
            Err(RecoError::InvalidParameter { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(d.check().is_ok());
    assert_eq!(
        (d.factors, d.learning_rate, d.max_sampled, d.epochs, d.seed),
        (64, 0.05, 10, 30, 42)
    );
    // Bad data.
    let empty = CsrMatrix::from_triples(2, 2, &[]).unwrap();
    assert!(matches!(
        fit(&empty, None, None, &d, &mut |_| {}),
        Err(RecoError::InvalidData(_))
    ));
    let few_rows = CsrMatrix::from_triples(3, 3, &[]).unwrap();
    assert!(matches!(
        fit(&m, Some(&few_rows), None, &d, &mut |_| {}),
        Err(RecoError::InvalidData(_))
    ));
    let kos = LightFmParams {
        loss: Loss::WarpKos { k: 1, n: 2 },
        ..d.clone()
    };
    let w = vec![1.0; m.nnz()];
    assert!(matches!(
        fit_weighted(&m, Some(&w), None, None, &kos, &mut |_| {}),
        Err(RecoError::InvalidParameter { name: "loss", .. })
    ));
    assert!(fit_weighted(&m, Some(&w[1..]), None, None, &d, &mut |_| {}).is_err());
}

#[test]
fn epoch_reports_count_examples() {
    let m = planted();
    let mut reports = Vec::new();
    train_with(&m, &mut |r| reports.push(r));
    assert_eq!(reports.len(), 40);
    assert!(reports
        .iter()
        .enumerate()
        .all(|(e, r)| r.epoch == e + 1 && r.examples == m.nnz() && r.updates <= r.examples));
    assert!(reports[39].updates < reports[0].updates);
}

fn train_with(m: &CsrMatrix, on_epoch: &mut dyn FnMut(reco_core::lightfm::EpochReport)) -> LightFmModel {
    fit(m, None, None, &small_params(Loss::Warp), on_epoch).unwrap()
}

#[test]
fn model_file_round_trip_and_bad_files() {
    let m = planted();
    let cats: Vec<(u32, u32, f32)> = (0..m.n_cols() as u32)
        .map(|i| (i, i / ITEMS_PER_GROUP as u32, 1.0))
        .collect();
    let features = with_identity(&CsrMatrix::from_triples(m.n_cols(), GROUPS, &cats).unwrap(), true);
    let names: Vec<String> = (0..features.n_cols()).map(|f| format!("f{f}")).collect();
    let p = LightFmParams {
        loss: Loss::WarpKos { k: 2, n: 4 },
        ..small_params(Loss::Warp)
    };
    let model = fit(&m, Some(&features), None, &p, &mut |_| {})
        .unwrap()
        .with_feature_names(names, Vec::new())
        .unwrap();
    let file = model.to_model_file();
    assert_eq!(file.kind, ModelKind::LightFm);
    let bytes = file.to_bytes(Precision::F32).unwrap();
    let back = LightFmModel::from_model_file(&ModelFile::from_bytes(&bytes).unwrap()).unwrap();
    assert!(back == model, "round trip changed the model");
    assert_eq!(back.params(), &LightFmParams { threads: 0, ..p });
    assert_eq!(back.item_feature_names()[3], "f3");
    assert_eq!(scores(&back, 3), scores(&model, 3));
    // Identity models store no feature matrices.
    let plain = train(&m, &small_params(Loss::Bpr));
    let pf = plain.to_model_file();
    assert!(!pf.tensors.keys().any(|k| k.starts_with("item_features")));
    assert!(LightFmModel::from_model_file(&pf).unwrap() == plain);

    // Wrong kind.
    let mut als = pf.clone();
    als.kind = ModelKind::Als;
    assert!(matches!(
        LightFmModel::from_model_file(&als),
        Err(RecoError::WrongModelKind { .. })
    ));
    // Missing and misshapen tensors.
    let mut missing = pf.clone();
    missing.tensors.remove("item_repr_biases");
    assert!(matches!(
        LightFmModel::from_model_file(&missing),
        Err(RecoError::CorruptModel(_))
    ));
    let mut short = pf.clone();
    short.put_f32("item_biases", &[3], vec![0.0; 3]);
    assert!(matches!(
        LightFmModel::from_model_file(&short),
        Err(RecoError::CorruptModel(_))
    ));
    let mut reshaped = file.clone();
    let narrow = CsrMatrix::from_triples(m.n_cols(), 2, &[]).unwrap();
    reshaped.put_csr("item_features", &narrow);
    assert!(matches!(
        LightFmModel::from_model_file(&reshaped),
        Err(RecoError::CorruptModel(_))
    ));
    let mut nan = pf.clone();
    if let Some(Tensor::F32 { data, .. }) = nan.tensors.get_mut("item_representations") {
        data[0] = f32::NAN;
    }
    assert!(matches!(
        LightFmModel::from_model_file(&nan),
        Err(RecoError::CorruptModel(_))
    ));
    let mut extra_ids = pf.clone();
    extra_ids.user_ids = vec!["u".into(); plain.n_users() + 1];
    assert!(matches!(
        LightFmModel::from_model_file(&extra_ids),
        Err(RecoError::CorruptModel(_))
    ));
    let mut bad_params = pf.clone();
    bad_params.params["factors"] = serde_json::json!(3);
    assert!(matches!(
        LightFmModel::from_model_file(&bad_params),
        Err(RecoError::CorruptModel(_))
    ));
}
