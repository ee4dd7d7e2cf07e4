//! User-KNN and item-KNN: hand-checked similarities, brute-force equivalence, fallback rules
//! (through the serving facade, as users get them), baskets and model files.
use std::collections::BTreeSet;

use proptest::prelude::*;
use reco_core::eval::recommend_batch;
use reco_core::knn::{ItemKnnModel, ItemKnnParams, KnnScratch, UserKnnModel, UserKnnParams};
use reco_core::model_file::{ModelFile, ModelKind, Precision};
use reco_core::recommender::{
    attach_catalog, Fallback, RecommendOptions, Recommendations, RecommendedItem, Recommender, Scratch,
};
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::topn::{top_n, Filter};
use reco_core::{CsrMatrix, IdMap, Interactions, RecoError};

mod common;
use common::mat;

/// users × items:
/// u0 = [1, 1, 0], u1 = [1, 0, 1], u2 = [0, 2, 0], u3 = [0, 0, 1], u4 = [1, 0, 1] (= u1).
fn small() -> CsrMatrix {
    mat(&[
        vec![1.0, 1.0, 0.0],
        vec![1.0, 0.0, 1.0],
        vec![0.0, 2.0, 0.0],
        vec![0.0, 0.0, 1.0],
        vec![1.0, 0.0, 1.0],
    ])
}

fn user_knn(m: &CsrMatrix, k: usize) -> UserKnnModel {
    UserKnnModel::fit(m, UserKnnParams { k }).unwrap()
}

/// The serving facade over a user-KNN model of `m`, with ids "0", "1", … (= dense indices).
fn served(m: &CsrMatrix, k: usize) -> Recommender {
    let ids = |n: usize| IdMap::from_ids((0..n).map(|i| i.to_string()).collect()).unwrap();
    let data = Interactions {
        users: ids(m.n_rows()),
        items: ids(m.n_cols()),
        matrix: m.clone(),
    };
    let mut file = user_knn(m, k).to_model_file();
    attach_catalog(&mut file, &data, &[]);
    Recommender::from_model_file(file).unwrap()
}

/// The facade's list for user `u`.
fn user_list(r: &Recommender, u: usize, n: usize, opts: &RecommendOptions) -> Recommendations {
    r.recommend_user(&u.to_string(), n, opts, &mut Scratch::default())
        .unwrap()
}

/// The facade's list for a basket of item indices.
fn basket_list(r: &Recommender, basket: &[u32], n: usize) -> Recommendations {
    let ids: Vec<String> = basket.iter().map(u32::to_string).collect();
    r.recommend_items(&ids, n, &RecommendOptions::default(), &mut Scratch::default())
        .unwrap()
}

fn items(list: &Recommendations) -> Vec<u32> {
    list.items.iter().map(|x| x.index).collect()
}

fn strings(ids: &[u32]) -> Vec<String> {
    ids.iter().map(u32::to_string).collect()
}

#[test]
fn user_similarities_by_hand() {
    let m = user_knn(&small(), 50);
    let mut s = KnnScratch::new();
    let nb = m.user_neighbors(0, &mut s).unwrap();
    // u0·u2 = 1·2 = 2, |u0| = √2, |u2| = 2   → cos = 2 / (2√2) = 1/√2 ≈ 0.70711
    // u0·u1 = 1,      |u0| = |u1| = √2       → cos = 1 / 2 = 0.5 (u4 = u1: the same, tie)
    // u0·u3 = 0                              → not a neighbour
    let got: Vec<(u32, f32)> = nb.iter().map(|n| (n.user, n.similarity)).collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [2, 1, 4]);
    assert!((got[0].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert!((got[1].1 - 0.5).abs() < 1e-6 && got[1].1 == got[2].1);

    // k = 2 keeps u2 and, of the tied u1/u4, the lower index u1.
    let m2 = user_knn(&small(), 2);
    let nb = m2.user_neighbors(0, &mut s).unwrap();
    assert_eq!(nb.iter().map(|n| n.user).collect::<Vec<_>>(), [2, 1]);

    // Scores of u0 with k = 2: 0.7071·u2 + 0.5·u1 = [0.5, 1.4142, 0.5].
    let mut out = vec![0f32; 3];
    m2.score_user(0, &mut out, &mut ScoreScratch::default());
    assert!((out[0] - 0.5).abs() < 1e-6);
    assert!((out[1] - std::f32::consts::SQRT_2).abs() < 1e-6);
    assert!((out[2] - 0.5).abs() < 1e-6);
    // Items 0 and 1 are seen: only item 2 is left, from the neighbours.
    let none = RecommendOptions::default();
    let list = user_list(&served(&small(), 2), 0, 3, &none);
    assert_eq!(
        list.items,
        [RecommendedItem {
            index: 2,
            score: 0.5,
            fallback: false
        }]
    );
    // With k = 1 only u2 = [0, 2, 0] is a neighbour: item 2 has no evidence and comes from
    // the fallback, scored by its popularity (3 users have it).
    let list = user_list(&served(&small(), 1), 0, 3, &none);
    assert_eq!(
        list.items,
        [RecommendedItem {
            index: 2,
            score: 3.0,
            fallback: true
        }]
    );
}

#[test]
fn isolated_and_empty_users_get_a_full_popularity_list() {
    // u3 only has item 3, which nobody else has; u4 has nothing.
    let m = mat(&[
        vec![1.0, 1.0, 0.0, 0.0, 0.0],
        vec![0.0, 1.0, 1.0, 0.0, 0.0],
        vec![0.0, 1.0, 0.0, 0.0, 1.0],
        vec![0.0, 0.0, 0.0, 1.0, 0.0],
        vec![0.0, 0.0, 0.0, 0.0, 0.0],
    ]);
    let model = user_knn(&m, 50);
    // Popularity (users per item): [1, 3, 1, 1, 1] → order 1, 0, 2, 3, 4 (ties by index).
    assert_eq!(model.popularity(), &[1.0, 3.0, 1.0, 1.0, 1.0]);
    assert_eq!(model.popularity_order(), &[1, 0, 2, 3, 4]);
    let mut s = KnnScratch::new();
    assert!(model.user_neighbors(3, &mut s).unwrap().is_empty());
    let rec = served(&m, 50);
    let none = RecommendOptions::default();
    let list = user_list(&rec, 3, 4, &none);
    assert_eq!(items(&list), [1, 0, 2, 4]);
    // Fallback items are scored by their popularity.
    let scores: Vec<f32> = list.items.iter().map(|x| x.score).collect();
    assert_eq!(scores, [3.0, 1.0, 1.0, 1.0]);
    assert!(list.items.iter().all(|x| x.fallback));
    assert_eq!(list.fallback, Fallback::Popularity);
    let list = user_list(&rec, 4, 10, &none);
    assert_eq!(items(&list), [1, 0, 2, 3, 4]);
    assert!(list.items.iter().all(|x| x.fallback));
}

#[test]
fn fallback_fills_exactly_the_missing_slots() {
    // u0 = [1,0,0,0,0,0]; its only neighbour u1 = [1,1,0,0,0,0] gives item 1 evidence.
    // Popularity: [2, 1, 3, 2, 0, 1] → order 2, 0, 3, 1, 5, 4.
    let m = mat(&[
        vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        vec![0.0, 0.0, 1.0, 1.0, 0.0, 1.0],
        vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    ]);
    let rec = served(&m, 50);
    let none = RecommendOptions::default();
    let list = user_list(&rec, 0, 4, &none);
    // cos(u0, u1) = 1/√2; score(1) = 1/√2. Then 3 fallback slots: 2, 3, 5 (0 is seen, 1 taken).
    assert_eq!(items(&list), [1, 2, 3, 5]);
    assert_eq!(
        list.items.iter().map(|x| x.fallback).collect::<Vec<_>>(),
        [false, true, true, true]
    );
    assert_eq!(list.fallback, Fallback::Partial);
    assert!((list.items[0].score - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    // n = 1: no fallback needed.
    let list = user_list(&rec, 0, 1, &none);
    assert_eq!(items(&list), [1]);
    assert_eq!(list.fallback, Fallback::None);
    // Exclusions and candidates apply to the fallback too.
    let exclude = RecommendOptions {
        exclude: strings(&[2]),
        ..RecommendOptions::default()
    };
    assert_eq!(items(&user_list(&rec, 0, 3, &exclude)), [1, 3, 5]);
    let candidates = RecommendOptions {
        candidates: Some(strings(&[4, 5, 0, 3, 5])),
        ..RecommendOptions::default()
    };
    let list = user_list(&rec, 0, 10, &candidates);
    assert_eq!(items(&list), [3, 5, 4]);
    assert!(list.items.iter().all(|x| x.fallback));
    let mut s = Scratch::default();
    assert!(matches!(
        rec.recommend_user("0", 0, &none, &mut s),
        Err(RecoError::InvalidN { n: 0, .. })
    ));
    // An unknown user: the model rejects it, the facade answers with popularity.
    assert!(matches!(
        user_knn(&m, 50).user_neighbors(9, &mut KnnScratch::new()),
        Err(RecoError::UnknownUser(_))
    ));
    assert_eq!(user_list(&rec, 9, 3, &none).fallback, Fallback::Popularity);
}

#[test]
fn basket_is_a_pseudo_user() {
    let model = user_knn(&small(), 50);
    let rec = served(&small(), 50);
    // The basket {0, 1} = [1, 1, 0] equals u0, but u0 itself is now a neighbour (cos = 1).
    let list = basket_list(&rec, &[1, 0], 3);
    // Neighbours: u0 (1), u2 (0.7071), u1 = u4 (0.5); only item 2 is not in the basket:
    // score(2) = 0.5·1 (u1) + 0.5·1 (u4) = 1.0.
    assert_eq!(items(&list), [2]);
    assert!((list.items[0].score - 1.0).abs() < 1e-6 && !list.items[0].fallback);
    let basket = [(1, 0.5), (0, 1.0), (1, 0.5)]; // duplicates are summed → [1, 1, 0]
    let mut out = vec![0f32; 3];
    model
        .score_items(&basket, &mut out, &mut ScoreScratch::default())
        .unwrap();
    // item 0: 1·1 (u0) + 0.5 + 0.5 = 2; item 1: 1·1 + 0.7071·2 = 2.4142.
    assert!((out[0] - 2.0).abs() < 1e-5 && (out[1] - (1.0 + std::f32::consts::SQRT_2)).abs() < 1e-5);
    // An empty basket gets the popularity list.
    let list = basket_list(&rec, &[], 2);
    assert_eq!(items(&list), [0, 2]);
    assert!(list.items.iter().all(|x| x.fallback));
    // Unknown items: the model rejects them, the facade reports them.
    let list = basket_list(&rec, &[3], 2);
    assert_eq!(
        (list.unknown_items, list.fallback),
        (strings(&[3]), Fallback::Popularity)
    );
    assert!(matches!(
        model.score_items(&[(3, 1.0)], &mut out, &mut ScoreScratch::default()),
        Err(RecoError::UnknownItem(_))
    ));
    assert!(matches!(
        model.score_items(&[(0, f32::NAN)], &mut out, &mut ScoreScratch::default()),
        Err(RecoError::InvalidData(_))
    ));
}

#[test]
fn item_cosines_by_hand() {
    // Item columns of `small()`: i0 = [1,1,0,0,1], i1 = [1,0,2,0,0], i2 = [0,1,0,1,1].
    // cos(i0, i1) = 1 / (√3·√5) ≈ 0.25820
    // cos(i0, i2) = 2 / (√3·√3) ≈ 0.66667
    // cos(i1, i2) = 0
    let m = ItemKnnModel::fit(
        &small(),
        ItemKnnParams {
            k: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let s = m.neighbors();
    // Each item keeps itself (cos = 1) plus its best other item.
    assert_eq!(s.row(0).0, [0, 2]);
    assert_eq!(s.row(1).0, [0, 1]);
    assert_eq!(s.row(2).0, [0, 2]);
    assert_eq!(s.get(0, 0), 1.0);
    assert!((s.get(0, 2) - 2.0 / 3.0).abs() < 1e-6);
    assert!((s.get(1, 0) - 1.0 / 15f32.sqrt()).abs() < 1e-6);
    // u3 = [0, 0, 1]: score = row 2 of S = [0.6667, 0, 1].
    let mut out = vec![0f32; 3];
    m.score_user(3, &mut out, &mut ScoreScratch::default());
    assert!((out[0] - 2.0 / 3.0).abs() < 1e-6 && out[1] == 0.0 && out[2] == 1.0);
    // The same as a basket, with the item split in two halves (duplicates add up).
    let mut from_basket = vec![0f32; 3];
    m.score_items(
        &[(2, 0.5), (2, 0.5)],
        &mut from_basket,
        &mut ScoreScratch::default(),
    )
    .unwrap();
    assert_eq!(from_basket, out);
    assert!(matches!(
        m.score_items(&[(3, 1.0)], &mut out, &mut ScoreScratch::default()),
        Err(RecoError::UnknownItem(_))
    ));
    assert!(matches!(
        m.score_items(&[(0, f32::INFINITY)], &mut out, &mut ScoreScratch::default()),
        Err(RecoError::InvalidData(_))
    ));
    m.similar_to(1, &mut out, &mut ScoreScratch::default()).unwrap();
    assert_eq!(out[2], 0.0);
    assert!(!m.needs_fallback_below_zero());
    // The user model's similar_to is the full item cosine.
    let u = user_knn(&small(), 50);
    assert!(u.needs_fallback_below_zero());
    u.similar_to(0, &mut out, &mut ScoreScratch::default()).unwrap();
    assert!((out[0] - 1.0).abs() < 1e-6);
    assert!((out[1] - 1.0 / 15f32.sqrt()).abs() < 1e-6);
    assert!((out[2] - 2.0 / 3.0).abs() < 1e-6);
    assert!(matches!(
        u.similar_to(3, &mut out, &mut ScoreScratch::default()),
        Err(RecoError::UnknownItem(_))
    ));
    assert!(matches!(
        m.similar_to(3, &mut out, &mut ScoreScratch::default()),
        Err(RecoError::UnknownItem(_))
    ));
}

#[test]
fn zero_k_is_rejected() {
    assert!(matches!(
        UserKnnModel::fit(&small(), UserKnnParams { k: 0 }),
        Err(RecoError::InvalidParameter { name: "k", .. })
    ));
    assert!(matches!(
        ItemKnnModel::fit(
            &small(),
            ItemKnnParams {
                k: 0,
                ..Default::default()
            }
        ),
        Err(RecoError::InvalidParameter { name: "k", .. })
    ));
    assert_eq!(UserKnnParams::default().k, 50);
    assert_eq!(ItemKnnParams::default().k, 50);
}

fn roundtrip(f: &ModelFile) -> ModelFile {
    ModelFile::from_bytes(&f.to_bytes(Precision::F32).unwrap()).unwrap()
}

#[test]
fn user_knn_model_file_roundtrip_and_errors() {
    let model = user_knn(&small(), 2);
    let file = model.to_model_file();
    assert_eq!(file.kind, ModelKind::UserKnn);
    assert_eq!(file.param_f64("k"), Some(2.0));
    let back = UserKnnModel::from_model_file(&roundtrip(&file)).unwrap();
    assert_eq!(back.k(), 2);
    assert_eq!(back.train(), model.train());
    assert_eq!(back.popularity(), model.popularity());
    let mut s = KnnScratch::new();
    let score = |m: &UserKnnModel, u: u32| {
        let mut out = vec![0f32; 3];
        m.score_user(u, &mut out, &mut ScoreScratch::default());
        out
    };
    for u in 0..5 {
        assert_eq!(
            back.user_neighbors(u, &mut s).unwrap(),
            model.user_neighbors(u, &mut s).unwrap()
        );
        assert_eq!(score(&back, u), score(&model, u));
    }
    // Wrong kind both ways.
    let item_file = ItemKnnModel::fit(&small(), ItemKnnParams::default())
        .unwrap()
        .to_model_file();
    assert!(matches!(
        UserKnnModel::from_model_file(&item_file),
        Err(RecoError::WrongModelKind { .. })
    ));
    // Popularity of the wrong length, a missing `k`, a missing matrix, mismatched ids.
    let mut bad = file.clone();
    bad.put_f32("popularity", &[2], vec![1.0, 2.0]);
    assert!(matches!(
        UserKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
    let mut bad = file.clone();
    bad.params = serde_json::json!({});
    assert!(matches!(
        UserKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
    let mut bad = file.clone();
    bad.tensors.remove("train.indices");
    assert!(matches!(
        UserKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
    let mut bad = file;
    bad.item_ids = vec!["a".into()];
    assert!(matches!(
        UserKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
}

#[test]
fn item_knn_model_file_roundtrip_and_errors() {
    let model = ItemKnnModel::fit(
        &small(),
        ItemKnnParams {
            k: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let file = model.to_model_file();
    assert_eq!(file.kind, ModelKind::ItemKnn);
    let back = ItemKnnModel::from_model_file(&roundtrip(&file)).unwrap();
    assert_eq!(back.k(), 2);
    assert_eq!(back.neighbors(), model.neighbors());
    assert_eq!(back.train(), model.train());
    let user_file = user_knn(&small(), 2).to_model_file();
    assert!(matches!(
        ItemKnnModel::from_model_file(&user_file),
        Err(RecoError::WrongModelKind { .. })
    ));
    // Not square, more than k neighbours in a row, train of another width, broken CSR.
    let mut bad = file.clone();
    bad.put_csr("neighbors", &mat(&vec![vec![1.0, 0.0, 0.0, 0.0]; 3]));
    assert!(matches!(
        ItemKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
    let mut bad = file.clone();
    bad.params = serde_json::json!({ "k": 1 });
    assert!(matches!(
        ItemKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
    let mut bad = file.clone();
    bad.put_csr("train", &mat(&[vec![1.0, 0.0]]));
    assert!(matches!(
        ItemKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
    let mut bad = file;
    bad.put_u32("neighbors.indices", &[1], vec![7]);
    assert!(matches!(
        ItemKnnModel::from_model_file(&bad),
        Err(RecoError::CorruptModel(_))
    ));
}

#[cfg(feature = "std")]
#[test]
fn item_knn_is_the_same_for_any_thread_count_and_batch_equals_single() {
    let mut rng = reco_core::rng::Rng::new(5);
    let triples: Vec<(u32, u32, f32)> = (0..3000)
        .map(|_| (rng.below(300), rng.below(200), 1.0 + rng.below(3) as f32))
        .collect();
    let m = CsrMatrix::from_triples(300, 200, &triples).unwrap();
    let pool = |t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
    let fit = || {
        ItemKnnModel::fit(
            &m,
            ItemKnnParams {
                k: 7,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let one = pool(1).install(fit);
    let two = pool(2).install(fit);
    assert_eq!(one.neighbors(), two.neighbors());
    let model = user_knn(&m, 10);
    let users: Vec<u32> = (0..300).rev().collect();
    let batch = pool(2).install(|| recommend_batch(&model, &m, &users, 5));
    for (&u, list) in users.iter().zip(&batch) {
        assert_eq!(list, &recommend_batch(&model, &m, &[u], 5)[0]);
    }
    assert!(model.user_neighbors(300, &mut KnnScratch::new()).is_err());
}

/// Dense integer-weight matrices (0 = absent) for the brute-force comparisons.
fn dense_matrix() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (1usize..12, 1usize..9).prop_flat_map(|(u, i)| {
        proptest::collection::vec(
            proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => 1u8..4], i),
            u,
        )
    })
}

fn to_csr(d: &[Vec<u8>]) -> CsrMatrix {
    mat(&d
        .iter()
        .map(|r| r.iter().map(|&w| w as f32).collect())
        .collect::<Vec<_>>())
}

fn dot(a: &[i64], b: &[i64]) -> i64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The best `k` of `cands` (index, dot, ‖other‖²) with dot > 0, ordered exactly (integer
/// arithmetic) by cosine desc = dot²/‖other‖² desc, ties by lower index.
fn brute_top(mut cands: Vec<(usize, i64, i64)>, k: usize) -> Vec<usize> {
    cands.retain(|c| c.1 > 0 && c.2 > 0);
    cands.sort_by(|a, b| {
        let (la, lb) = (a.1 * a.1 * b.2, b.1 * b.1 * a.2);
        lb.cmp(&la).then(a.0.cmp(&b.0))
    });
    cands.into_iter().take(k).map(|c| c.0).collect()
}

/// Large, very sparse matrices: queries touch few users/items, so the accumulators list the
/// touched slots instead of scanning (the other code path of the dense accumulators).
fn sparse_matrix() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec((0usize..300, 0usize..150, 1u8..4), 1..500).prop_map(|t| {
        let mut d = vec![vec![0u8; 150]; 300];
        for (u, i, w) in t {
            d[u][i] = w;
        }
        d
    })
}

fn check_user_knn(d: &[Vec<u8>], k: usize, n: usize) -> Result<(), TestCaseError> {
    let m = to_csr(d);
    let model = user_knn(&m, k);
    let rec = served(&m, k);
    let rows: Vec<Vec<i64>> = d.iter().map(|r| r.iter().map(|&w| w as i64).collect()).collect();
    let (n_users, n_items) = (rows.len(), rows[0].len());
    let n2: Vec<i64> = rows.iter().map(|r| dot(r, r)).collect();
    let mut s = KnnScratch::new();
    for u in 0..n_users {
        let cands = (0..n_users)
            .filter(|&v| v != u)
            .map(|v| (v, dot(&rows[u], &rows[v]), n2[v]))
            .collect();
        let expected = brute_top(cands, k);
        let nb = model.user_neighbors(u as u32, &mut s).unwrap();
        prop_assert!(nb.len() <= k);
        prop_assert_eq!(
            nb.iter().map(|x| x.user as usize).collect::<Vec<_>>(),
            expected.clone()
        );
        // Brute-force scores Σ_v cos(u, v)·r_vi in f64.
        let mut brute = vec![0f64; n_items];
        for &v in &expected {
            let cos = dot(&rows[u], &rows[v]) as f64 / ((n2[u] * n2[v]) as f64).sqrt();
            for i in 0..n_items {
                brute[i] += cos * rows[v][i] as f64;
            }
        }
        let mut out = vec![0f32; n_items];
        model.score_user(u as u32, &mut out, &mut ScoreScratch::default());
        for i in 0..n_items {
            prop_assert!((out[i] as f64 - brute[i]).abs() < 1e-4);
        }

        // The served list: positive-score unseen items in top-N order, then popularity.
        let seen: Vec<u32> = m.row(u).0.to_vec();
        let list = user_list(&rec, u, n, &RecommendOptions::default());
        let unseen = n_items - seen.len();
        prop_assert_eq!(list.items.len(), n.min(unseen));
        let set: BTreeSet<u32> = items(&list).into_iter().collect();
        prop_assert_eq!(set.len(), list.items.len());
        prop_assert!(list.items.iter().all(|x| !seen.contains(&x.index)));
        let positive: Vec<f32> = out.iter().map(|&x| if x > 0.0 { x } else { f32::NAN }).collect();
        let top = top_n(
            &positive,
            n,
            &Filter {
                seen: &seen,
                ..Filter::default()
            },
        );
        let n_nb = top.len();
        prop_assert_eq!(
            &items(&list)[..n_nb],
            &top.iter().map(|t| t.item).collect::<Vec<_>>()[..]
        );
        prop_assert!(list.items[..n_nb].iter().all(|x| !x.fallback && x.score > 0.0));
        let fill: Vec<u32> = model
            .popularity_order()
            .iter()
            .copied()
            .filter(|i| !seen.contains(i) && out[*i as usize] <= 0.0)
            .take(list.items.len() - n_nb)
            .collect();
        prop_assert_eq!(&items(&list)[n_nb..], &fill[..]);
        prop_assert!(list.items[n_nb..].iter().all(|x| x.fallback));

        // The same row as a basket: u itself becomes a neighbour, everything else holds.
        let basket: Vec<(u32, f32)> = m
            .row(u)
            .0
            .iter()
            .copied()
            .zip(m.row(u).1.iter().copied())
            .collect();
        let cands = (0..n_users)
            .map(|v| (v, dot(&rows[u], &rows[v]), n2[v]))
            .collect();
        let expected = brute_top(cands, k);
        let mut brute = vec![0f64; n_items];
        for &v in &expected {
            let cos = dot(&rows[u], &rows[v]) as f64 / ((n2[u] * n2[v]) as f64).sqrt();
            for i in 0..n_items {
                brute[i] += cos * rows[v][i] as f64;
            }
        }
        model
            .score_items(&basket, &mut out, &mut ScoreScratch::default())
            .unwrap();
        for i in 0..n_items {
            prop_assert!((out[i] as f64 - brute[i]).abs() < 1e-4);
        }
        let blist = basket_list(&rec, &seen, n);
        prop_assert_eq!(blist.items.len(), n.min(unseen));
        prop_assert!(blist.items.iter().all(|x| !seen.contains(&x.index)));
    }
    Ok(())
}

fn check_item_knn(d: &[Vec<u8>], k: usize) -> Result<(), TestCaseError> {
    let m = to_csr(d);
    let model = ItemKnnModel::fit(
        &m,
        ItemKnnParams {
            k,
            ..Default::default()
        },
    )
    .unwrap();
    let (n_users, n_items) = (d.len(), d[0].len());
    let cols: Vec<Vec<i64>> = (0..n_items)
        .map(|i| (0..n_users).map(|u| d[u][i] as i64).collect())
        .collect();
    let n2: Vec<i64> = cols.iter().map(|c| dot(c, c)).collect();
    let s = model.neighbors();
    let mut dense_s = vec![vec![0f64; n_items]; n_items];
    for i in 0..n_items {
        let cands = (0..n_items)
            .map(|j| (j, dot(&cols[i], &cols[j]), n2[j]))
            .collect();
        let mut expected = brute_top(cands, k);
        expected.sort_unstable();
        prop_assert_eq!(
            s.row(i).0.iter().map(|&j| j as usize).collect::<Vec<_>>(),
            expected.clone()
        );
        for &j in &expected {
            let cos = dot(&cols[i], &cols[j]) as f64 / ((n2[i] * n2[j]) as f64).sqrt();
            prop_assert!((s.get(i, j as u32) as f64 - cos).abs() < 1e-6);
            dense_s[i][j] = cos;
        }
    }
    // score(u, i) = Σ_j r_uj · S[j, i]
    let mut out = vec![0f32; n_items];
    for (u, row) in d.iter().enumerate() {
        model.score_user(u as u32, &mut out, &mut ScoreScratch::default());
        for (i, &got) in out.iter().enumerate() {
            let brute: f64 = (0..n_items).map(|j| row[j] as f64 * dense_s[j][i]).sum();
            prop_assert!((got as f64 - brute).abs() < 1e-4);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn user_knn_equals_brute_force(d in dense_matrix(), k in 1usize..6, n in 1usize..10) {
        check_user_knn(&d, k, n)?;
    }

    #[test]
    fn item_knn_equals_brute_force(d in dense_matrix(), k in 1usize..6) {
        check_item_knn(&d, k)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn sparse_user_knn_equals_brute_force(d in sparse_matrix(), k in 1usize..6) {
        check_user_knn(&d, k, 5)?;
    }

    #[test]
    fn sparse_item_knn_equals_brute_force(d in sparse_matrix(), k in 1usize..6) {
        check_item_knn(&d, k)?;
    }
}

/// implicit's weightings and shrinkage, against a dense brute force of the formulas
/// (`TFIDFRecommender`: cosine of sqrt(r)·idf; `BM25Recommender`: dot of the BM25 weights).
#[test]
fn item_knn_tfidf_bm25_and_shrinkage_match_the_formulas() {
    use reco_core::knn::KnnWeighting;
    // 6 users × 5 items, weights 1–3.
    let r = mat(&[
        vec![1.0, 2.0, 0.0, 0.0, 1.0],
        vec![0.0, 1.0, 1.0, 0.0, 0.0],
        vec![3.0, 0.0, 1.0, 1.0, 0.0],
        vec![1.0, 1.0, 0.0, 2.0, 1.0],
        vec![0.0, 0.0, 1.0, 1.0, 1.0],
        vec![1.0, 0.0, 0.0, 0.0, 2.0],
    ]);
    let (nu, ni) = (r.n_rows(), r.n_cols());
    let x = |u: usize, i: usize| r.get(u, i as u32) as f64;
    let n_items_of = |u: usize| (0..ni).filter(|&i| x(u, i) > 0.0).count() as f64;
    let idf = |u: usize| (ni as f64).ln() - (1.0 + n_items_of(u)).ln();
    let len = |i: usize| (0..nu).map(|u| x(u, i)).sum::<f64>();
    let avg = (0..ni).map(len).sum::<f64>() / ni as f64;
    let (k1, b) = (1.2, 0.75);
    let weighted = |w: KnnWeighting, u: usize, i: usize| {
        let v = x(u, i);
        if v == 0.0 {
            return 0.0;
        }
        match w {
            KnnWeighting::Cosine => v,
            KnnWeighting::TfIdf => v.sqrt() * idf(u),
            KnnWeighting::Bm25 { .. } => v * (k1 + 1.0) / (k1 * ((1.0 - b) + b * len(i) / avg) + v) * idf(u),
        }
    };
    for (weighting, shrink) in [
        (KnnWeighting::TfIdf, 0.0),
        (KnnWeighting::Bm25 { k1: 1.2, b: 0.75 }, 0.0),
        (KnnWeighting::Cosine, 2.0),
        (KnnWeighting::TfIdf, 0.5),
    ] {
        let dot = |a: usize, c: usize| {
            (0..nu)
                .map(|u| weighted(weighting, u, a) * weighted(weighting, u, c))
                .sum::<f64>()
        };
        let sim = |a: usize, c: usize| match weighting {
            KnnWeighting::Bm25 { .. } => dot(a, c),
            _ => dot(a, c) / ((dot(a, a) * dot(c, c)).sqrt() + shrink),
        };
        let params = ItemKnnParams {
            k: 3,
            weighting,
            shrink: shrink as f32,
        };
        let model = ItemKnnModel::fit(&r, params).unwrap();
        for i in 0..ni {
            let mut expected: Vec<(f64, u32)> = (0..ni)
                .map(|j| (sim(i, j), j as u32))
                .filter(|e| e.0 > 0.0)
                .collect();
            expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            expected.truncate(3);
            expected.sort_by_key(|e| e.1);
            let (js, ss) = model.neighbors().row(i);
            let found: Vec<u32> = js.to_vec();
            let want: Vec<u32> = expected.iter().map(|e| e.1).collect();
            assert_eq!(found, want, "{weighting:?} shrink {shrink}: item {i}");
            for (s, e) in ss.iter().zip(&expected) {
                assert!(
                    (*s as f64 - e.0).abs() < 1e-5 * e.0.abs().max(1.0),
                    "{weighting:?}: {s} vs {}",
                    e.0
                );
            }
        }
        // The options reach the model file and come back.
        let file = model.to_model_file();
        assert_eq!(file.params["weighting"], weighting.as_str());
        let back = ItemKnnModel::from_model_file(&file).unwrap();
        assert_eq!(back.to_model_file().params, file.params);
    }
    // Checked parameters.
    for (p, name) in [
        (
            ItemKnnParams {
                shrink: -1.0,
                ..Default::default()
            },
            "shrink",
        ),
        (
            ItemKnnParams {
                weighting: KnnWeighting::Bm25 { k1: f32::NAN, b: 0.5 },
                ..Default::default()
            },
            "bm25_k1",
        ),
        (
            ItemKnnParams {
                weighting: KnnWeighting::Bm25 { k1: 1.0, b: 1.5 },
                ..Default::default()
            },
            "bm25_b",
        ),
    ] {
        let e = ItemKnnModel::fit(&r, p).unwrap_err();
        assert!(
            matches!(e, RecoError::InvalidParameter { name: n, .. } if n == name),
            "{e}"
        );
    }
    // Cosine without shrinkage keeps its file parameters as before.
    let plain = ItemKnnModel::fit(&r, ItemKnnParams::default())
        .unwrap()
        .to_model_file();
    assert_eq!(plain.params, serde_json::json!({ "k": 50 }));
}
