//! EASE and RP3beta: EASE against a direct dense solve, RP3beta against a hand-computed graph,
//! pruning rules, planted structure, model files and the serving facade.
mod common;

use common::mat;

use reco_core::ease::{self, EaseParams};
use reco_core::eval::{evaluate, holdout_split};
use reco_core::item_item::ItemItemModel;
use reco_core::model_file::{ModelFile, ModelKind, Precision};
use reco_core::popularity::PopularityModel;
use reco_core::recommender::{attach_catalog, Fallback, RecommendOptions, Recommender, Scratch};
use reco_core::rp3beta::{self, Rp3betaParams};
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::{CsrMatrix, IdMap, Interactions, RecoError};

/// Dense `W` of a model (items × items).
fn dense(m: &ItemItemModel) -> Vec<Vec<f64>> {
    let w = m.neighbors();
    let mut out = vec![vec![0.0; w.n_cols()]; w.n_rows()];
    for (r, row) in out.iter_mut().enumerate() {
        let (is, vs) = w.row(r);
        for (&i, &v) in is.iter().zip(vs) {
            row[i as usize] = v as f64;
        }
    }
    out
}

/// Gauss–Jordan inverse with partial pivoting (the test's own direct solve).
fn inverse(mut a: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| (i == j) as u8 as f64).collect())
        .collect();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
            .unwrap();
        a.swap(c, p);
        inv.swap(c, p);
        let d = a[c][c];
        for j in 0..n {
            a[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = a[r][c];
                for j in 0..n {
                    a[r][j] -= f * a[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    inv
}

/// 12 users × 7 items with overlapping tastes and weights 1–3.
fn ease_data() -> CsrMatrix {
    let mut rows = Vec::new();
    for u in 0..12usize {
        let row: Vec<f32> = (0..7usize)
            .map(|i| {
                if (u * 3 + i * 5) % 7 < 3 || (u + i) % 5 == 0 {
                    1.0 + ((u + 2 * i) % 3) as f32
                } else {
                    0.0
                }
            })
            .collect();
        rows.push(row);
    }
    mat(&rows)
}

#[test]
fn ease_equals_a_direct_dense_solve() {
    let x = ease_data();
    let n = x.n_cols();
    let lambda = 3.0;
    // G = XᵀX + λI, P = G⁻¹, B = −P / diag(P) by column, zero diagonal.
    let mut g = vec![vec![0.0f64; n]; n];
    for u in 0..x.n_rows() {
        let (is, ws) = x.row(u);
        for (&a, &wa) in is.iter().zip(ws) {
            for (&b, &wb) in is.iter().zip(ws) {
                g[a as usize][b as usize] += wa as f64 * wb as f64;
            }
        }
    }
    for (i, row) in g.iter_mut().enumerate() {
        row[i] += lambda;
    }
    let p = inverse(g);
    let model = ease::fit(
        &x,
        EaseParams {
            lambda: lambda as f32,
            k: n,
        },
    )
    .unwrap();
    let b = dense(&model);
    for i in 0..n {
        assert_eq!(b[i][i], 0.0, "diagonal of B");
        for j in 0..n {
            if i != j {
                let expected = -p[i][j] / p[j][j];
                assert!(
                    (b[i][j] - expected).abs() < 1e-6 * expected.abs().max(1e-3),
                    "B[{i}][{j}] = {} but the direct solve gives {expected}",
                    b[i][j]
                );
            }
        }
    }
    // Scores are x_u · B.
    let mut out = vec![0.0; n];
    model.score_user(4, &mut out, &mut ScoreScratch::default());
    let (is, ws) = x.row(4);
    for j in 0..n {
        let expected: f64 = is
            .iter()
            .zip(ws)
            .map(|(&i, &w)| w as f64 * b[i as usize][j])
            .sum();
        assert!((out[j] as f64 - expected).abs() < 1e-5, "score of item {j}");
    }
}

#[test]
fn ease_keeps_the_k_weights_of_largest_magnitude() {
    let x = ease_data();
    let n = x.n_cols();
    let full = dense(&ease::fit(&x, EaseParams { lambda: 3.0, k: n }).unwrap());
    let pruned = ease::fit(&x, EaseParams { lambda: 3.0, k: 2 }).unwrap();
    assert_eq!(pruned.k(), 2);
    for (i, row) in full.iter().enumerate() {
        let mut by_size: Vec<(f64, usize)> = row
            .iter()
            .enumerate()
            .filter(|&(j, &v)| j != i && v != 0.0)
            .map(|(j, &v)| (v, j))
            .collect();
        by_size.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()).then(a.1.cmp(&b.1)));
        let mut expected: Vec<u32> = by_size.iter().take(2).map(|e| e.1 as u32).collect();
        expected.sort_unstable();
        let (kept, vals) = pruned.neighbors().row(i);
        assert_eq!(kept, &expected[..], "row {i}");
        for (&j, &v) in kept.iter().zip(vals) {
            assert!(
                (v as f64 - row[j as usize]).abs() < 1e-6,
                "row {i} keeps its values"
            );
        }
    }
    assert!(
        full.iter().flatten().any(|&v| v < 0.0),
        "the data gives EASE negative weights, so the magnitude rule is exercised"
    );
}

#[test]
fn ease_checks_parameters_and_refuses_a_catalog_too_large() {
    let x = ease_data();
    for lambda in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let e = ease::fit(&x, EaseParams { lambda, k: 5 }).unwrap_err();
        assert!(
            matches!(e, RecoError::InvalidParameter { name: "lambda", .. }),
            "{e}"
        );
    }
    let e = ease::fit(&x, EaseParams { lambda: 1.0, k: 0 }).unwrap_err();
    assert!(matches!(e, RecoError::InvalidParameter { name: "k", .. }), "{e}");
    ease::check_catalog(ease::MAX_ITEMS).unwrap();
    let e = ease::check_catalog(50_000).unwrap_err().to_string();
    assert!(e.contains("50000 items would need about 40.0 GB"), "{e}");
    assert!(e.contains("rp3beta"), "{e}");
    // The check runs before any allocation.
    let huge = CsrMatrix::from_parts(1, 1_000_000, vec![0, 1], vec![3], vec![1.0]).unwrap();
    let e = ease::fit(&huge, EaseParams::default()).unwrap_err().to_string();
    assert!(e.contains("1000000 items would need about 16000.0 GB"), "{e}");
}

/// users × items: u0 = {0, 1}, u1 = {0, 1, 2}, u2 = {2, 3} (binary).
fn walk_data() -> CsrMatrix {
    mat(&[
        vec![1.0, 1.0, 0.0, 0.0],
        vec![1.0, 1.0, 1.0, 0.0],
        vec![0.0, 0.0, 1.0, 1.0],
    ])
}

fn rp3(alpha: f32, beta: f32, k: usize, normalize: bool) -> Vec<Vec<f64>> {
    let p = Rp3betaParams {
        alpha,
        beta,
        k,
        normalize,
    };
    dense(&rp3beta::fit(&walk_data(), p).unwrap())
}

fn assert_rows(found: &[Vec<f64>], expected: &[[f64; 4]]) {
    for (r, (f, e)) in found.iter().zip(expected).enumerate() {
        for c in 0..4 {
            assert!(
                (f[c] - e[c]).abs() < 1e-6,
                "W[{r}][{c}] = {} but by hand {}",
                f[c],
                e[c]
            );
        }
    }
}

#[test]
fn rp3beta_matches_a_hand_computed_walk() {
    // Degrees: 2, 2, 2, 1. P_ui: u0 1/2, u1 1/3, u2 1/2. P_iu = 1/deg(i).
    // W[0,1] = 1/2·(1/2 + 1/3)·2^-β, W[0,2] = 1/2·1/3·2^-β, W[1,·] likewise,
    // W[2,0] = W[2,1] = 1/2·1/3·2^-β, W[2,3] = 1/2·1/2·1^-β, W[3,2] = 1·1/2·2^-β.
    let s = 2f64.powf(-0.5);
    let expected = [
        [0.0, 5.0 / 12.0 * s, 1.0 / 6.0 * s, 0.0],
        [5.0 / 12.0 * s, 0.0, 1.0 / 6.0 * s, 0.0],
        [1.0 / 6.0 * s, 1.0 / 6.0 * s, 0.0, 0.25],
        [0.0, 0.0, 0.5 * s, 0.0],
    ];
    assert_rows(&rp3(1.0, 0.5, 10, false), &expected);
    // Normalized: every row sums to 1.
    let normalized: Vec<[f64; 4]> = expected
        .iter()
        .map(|r| {
            let t: f64 = r.iter().sum();
            [r[0] / t, r[1] / t, r[2] / t, r[3] / t]
        })
        .collect();
    assert_rows(&rp3(1.0, 0.5, 10, true), &normalized);
    // α = 2 squares both transition probabilities; β = 0 removes the discount.
    let expected_a2 = [
        [0.0, 0.25 * (0.25 + 1.0 / 9.0), 0.25 / 9.0, 0.0],
        [0.25 * (0.25 + 1.0 / 9.0), 0.0, 0.25 / 9.0, 0.0],
        [0.25 / 9.0, 0.25 / 9.0, 0.0, 0.25 * 0.25],
        [0.0, 0.0, 0.25, 0.0],
    ];
    assert_rows(&rp3(2.0, 0.0, 10, false), &expected_a2);
    // k = 1 keeps the largest weight; k = 2 on row 2 breaks the tie of items 0 and 1 by index.
    let k1 = rp3(1.0, 0.5, 1, false);
    assert_eq!(k1[2], vec![0.0, 0.0, 0.0, 0.25]);
    let k2 = rp3(1.0, 0.5, 2, false);
    assert!(
        k2[2][0] > 0.0 && k2[2][1] == 0.0 && k2[2][3] == 0.25,
        "{:?}",
        k2[2]
    );
}

#[test]
fn rp3beta_checks_parameters_and_weights() {
    let x = walk_data();
    for (p, name) in [
        (
            Rp3betaParams {
                alpha: -1.0,
                ..Default::default()
            },
            "alpha",
        ),
        (
            Rp3betaParams {
                beta: f32::NAN,
                ..Default::default()
            },
            "beta",
        ),
        (
            Rp3betaParams {
                k: 0,
                ..Default::default()
            },
            "k",
        ),
    ] {
        let e = rp3beta::fit(&x, p).unwrap_err();
        assert!(
            matches!(e, RecoError::InvalidParameter { name: n, .. } if n == name),
            "{e}"
        );
    }
    let neg = mat(&[vec![1.0, -1.0]]);
    let e = rp3beta::fit(&neg, Rp3betaParams::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("finite positive interaction weights, found -1"), "{e}");
}

fn with_catalog(model: &ItemItemModel, x: &CsrMatrix) -> ModelFile {
    let ids = |n: usize| IdMap::from_ids((0..n).map(|i| i.to_string()).collect()).unwrap();
    let data = Interactions {
        users: ids(x.n_rows()),
        items: ids(x.n_cols()),
        matrix: x.clone(),
    };
    let mut file = model.to_model_file();
    attach_catalog(&mut file, &data, &[]);
    file
}

#[test]
fn model_files_round_trip_and_serve() {
    let x = walk_data();
    for model in [
        ease::fit(&x, EaseParams { lambda: 0.5, k: 3 }).unwrap(),
        rp3beta::fit(&x, Rp3betaParams::default()).unwrap(),
    ] {
        let bytes = with_catalog(&model, &x).to_bytes(Precision::F32).unwrap();
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file.kind, model.kind());
        assert_eq!(&file.params, model.params());
        let back = ItemItemModel::from_model_file(&file).unwrap();
        assert_eq!(back.neighbors(), model.neighbors());
        assert_eq!(back.train(), model.train());
        let rec = Recommender::from_bytes(&bytes).unwrap();
        let mut s = Scratch::default();
        // u2 has items 2 and 3; the walk reaches 0 and 1 only through item 2.
        let got = rec
            .recommend_user("2", 2, &RecommendOptions::default(), &mut s)
            .unwrap();
        let mut scores = vec![0.0; 4];
        model.score_user(2, &mut scores, &mut ScoreScratch::default());
        let best = if scores[0] >= scores[1] { 0 } else { 1 };
        assert_eq!(got.items[0].index, best, "{}: {got:?}", model.kind());
        assert!(
            got.items.iter().all(|i| i.index < 2),
            "{}: seen items excluded",
            model.kind()
        );
        // similar_to is row j of W.
        let sim = rec.similar_items("0", 3, &mut s).unwrap();
        assert_eq!(sim.items[0].index, 1, "{}", model.kind());
    }
    // Loading checks the kind and the row lengths.
    let mut file = rp3beta::fit(&x, Rp3betaParams::default())
        .unwrap()
        .to_model_file();
    file.params = serde_json::json!({ "k": 1 });
    let e = ItemItemModel::from_model_file(&file).unwrap_err().to_string();
    assert!(
        e.contains("rp3beta model file: item 0 has 2 weights, more than k = 1"),
        "{e}"
    );
    file.kind = ModelKind::ItemKnn;
    assert!(matches!(
        ItemItemModel::from_model_file(&file),
        Err(RecoError::WrongModelKind { .. })
    ));
}

#[test]
fn rp3beta_falls_back_to_popularity_where_no_walk_reaches() {
    // Items 0–1 and 2–3 form two components; u2 has only item 2.
    let x = mat(&[
        vec![1.0, 1.0, 0.0, 0.0],
        vec![1.0, 1.0, 0.0, 0.0],
        vec![0.0, 0.0, 1.0, 0.0],
        vec![0.0, 0.0, 1.0, 1.0],
    ]);
    let model = rp3beta::fit(&x, Rp3betaParams::default()).unwrap();
    let rec = Recommender::from_model_file(with_catalog(&model, &x)).unwrap();
    let got = rec
        .recommend_user("2", 3, &RecommendOptions::default(), &mut Scratch::default())
        .unwrap();
    assert_eq!(got.items[0].index, 3);
    assert!(!got.items[0].fallback);
    assert!(got.items[1..].iter().all(|i| i.fallback), "{got:?}");
    assert_ne!(got.fallback, Fallback::None);
}

#[test]
fn both_find_planted_taste_groups() {
    let d = common::models::synthetic(400, 80, 7);
    let (train, test) = holdout_split(&d.matrix, 0.2, 1).unwrap();
    let pop = evaluate(&PopularityModel::fit(&train).unwrap(), &train, &test, 10)
        .unwrap()
        .ndcg;
    let ease = evaluate(
        &ease::fit(&train, EaseParams { lambda: 20.0, k: 40 }).unwrap(),
        &train,
        &test,
        10,
    )
    .unwrap()
    .ndcg;
    let rp3 = evaluate(
        &rp3beta::fit(&train, Rp3betaParams::default()).unwrap(),
        &train,
        &test,
        10,
    )
    .unwrap()
    .ndcg;
    assert!(
        ease > 2.0 * pop && rp3 > 2.0 * pop,
        "ease {ease}, rp3beta {rp3beta}, popularity {pop}",
        rp3beta = rp3
    );
}
