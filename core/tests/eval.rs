//! Splits, metrics @K, the popularity fill and batch top-N, on small hand-made data.
use reco_core::eval::{
    evaluate, fill_from_popularity, holdout_split, leave_k_out, list_metrics, recommend_batch, time_split,
    user_auc,
};
use reco_core::model_file::{ModelFile, ModelKind, Precision};
use reco_core::popularity::PopularityModel;
use reco_core::scorer::{ItemScorer, ScoreScratch};
use reco_core::topn::Scored;
use reco_core::{CsrMatrix, RecoError, Result};

/// A scorer that returns a fixed score row per user (`rows[u]`), or `rows[0]` for every user
/// when only one row is given.
struct Table {
    rows: Vec<Vec<f32>>,
    fallback: bool,
}

impl Table {
    fn same_for_all(scores: &[f32]) -> Self {
        Table {
            rows: vec![scores.to_vec()],
            fallback: false,
        }
    }
}

impl ItemScorer for Table {
    fn n_items(&self) -> usize {
        self.rows[0].len()
    }
    fn score_user(&self, user: u32, out: &mut [f32], _: &mut ScoreScratch) {
        let row = if self.rows.len() == 1 { 0 } else { user as usize };
        out.copy_from_slice(&self.rows[row]);
    }
    fn score_items(&self, _items: &[(u32, f32)], out: &mut [f32], _: &mut ScoreScratch) -> Result<()> {
        out.copy_from_slice(&self.rows[0]);
        Ok(())
    }
    fn similar_to(&self, _item: u32, _out: &mut [f32], _: &mut ScoreScratch) -> Result<()> {
        Err(RecoError::Unsupported("mock".into()))
    }
    fn needs_fallback_below_zero(&self) -> bool {
        self.fallback
    }
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

fn lg(x: f64) -> f64 {
    x.log2()
}

fn matrix(n_rows: usize, n_cols: usize, rows: &[&[u32]]) -> CsrMatrix {
    let triples: Vec<(u32, u32, f32)> = rows
        .iter()
        .enumerate()
        .flat_map(|(u, items)| items.iter().map(move |&i| (u as u32, i, 1.0)))
        .collect();
    CsrMatrix::from_triples(n_rows, n_cols, &triples).unwrap()
}

/// 30 users × 40 items; user u has u % 12 + 1 distinct items with weights 1..=3.
fn varied() -> CsrMatrix {
    let mut triples = Vec::new();
    for u in 0..30u32 {
        for j in 0..(u % 12 + 1) {
            triples.push((u, (u * 7 + j * 3) % 40, (1 + (u + j) % 3) as f32));
        }
    }
    CsrMatrix::from_triples(30, 40, &triples).unwrap()
}

fn triples(m: &CsrMatrix) -> Vec<(u32, u32, f32)> {
    (0..m.n_rows())
        .flat_map(|u| {
            let (c, v) = m.row(u);
            c.iter()
                .zip(v)
                .map(move |(&c, &v)| (u as u32, c, v))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Train and test share no entry and together are exactly `m` (weights included).
fn assert_partition(m: &CsrMatrix, train: &CsrMatrix, test: &CsrMatrix) {
    assert_eq!((train.n_rows(), train.n_cols()), (m.n_rows(), m.n_cols()));
    assert_eq!((test.n_rows(), test.n_cols()), (m.n_rows(), m.n_cols()));
    for u in 0..m.n_rows() {
        for i in test.row(u).0 {
            assert!(
                train.row(u).0.binary_search(i).is_err(),
                "user {u} item {i} in both"
            );
        }
    }
    let mut all = triples(train);
    all.extend(triples(test));
    assert_eq!(&CsrMatrix::from_triples(m.n_rows(), m.n_cols(), &all).unwrap(), m);
}

// ----------------------------------------------------------------------------- metrics

#[test]
fn list_metrics_hits_at_ranks_1_and_3() {
    // K = 5, T = {10, 12, 20, 21} (|T| = 4), hits at ranks 1 and 3.
    let m = list_metrics(&[10, 11, 12, 13, 14], &[10, 12, 20, 21], 5);
    assert_eq!(m.hits, 2);
    close(m.precision, 2.0 / 5.0);
    close(m.recall, 2.0 / 4.0);
    // dcg = 1/log2 2 + 1/log2 4 = 1 + 1/2; ideal = min(5, 4) = 4 hits at ranks 1..4.
    close(m.ndcg, (1.0 + 0.5) / (1.0 + 1.0 / lg(3.0) + 0.5 + 1.0 / lg(5.0)));
    // ap = 1/1 (1 hit in top 1) + 2/3 (2 hits in top 3), over min(5, 4) = 4.
    close(m.map, (1.0 + 2.0 / 3.0) / 4.0);
}

#[test]
fn list_metrics_more_test_items_than_k() {
    // K = 2, T = {1, 2, 3}: both slots hit, which is the best possible → ndcg = map = 1.
    let m = list_metrics(&[3, 1], &[1, 2, 3], 2);
    close(m.precision, 1.0);
    close(m.recall, 2.0 / 3.0);
    close(m.ndcg, 1.0);
    close(m.map, (1.0 + 1.0) / 2.0);
    // K = 3, T = {7}, hit at rank 2 only: ndcg = (1/log2 3) / 1, map = (1/2) / 1.
    let m = list_metrics(&[4, 7, 9], &[7], 3);
    close(m.precision, 1.0 / 3.0);
    close(m.recall, 1.0);
    close(m.ndcg, 1.0 / lg(3.0));
    close(m.map, 0.5);
}

#[test]
fn evaluate_by_hand() {
    // 2 users × 5 items; same scores for everyone: [5, 4, 3, 2, 1]; K = 2.
    let train = matrix(2, 5, &[&[0], &[1]]);
    let test = matrix(2, 5, &[&[2, 4], &[0]]);
    let m = evaluate(&Table::same_for_all(&[5.0, 4.0, 3.0, 2.0, 1.0]), &train, &test, 2).unwrap();
    // user 0: list [1, 2], T = {2, 4}: hit at rank 2 → p 1/2, r 1/2,
    //         ndcg (1/log2 3) / (1 + 1/log2 3), map (1/2) / 2.
    // user 1: list [0, 2], T = {0}: hit at rank 1 → p 1/2, r 1, ndcg 1, map 1.
    assert_eq!((m.k, m.users_evaluated), (2, 2));
    close(m.precision, 0.5);
    close(m.recall, (0.5 + 1.0) / 2.0);
    close(m.ndcg, ((1.0 / lg(3.0)) / (1.0 + 1.0 / lg(3.0)) + 1.0) / 2.0);
    close(m.map, (0.25 + 1.0) / 2.0);
    // AUC user 0: negatives {1, 3} (scores 4, 2); test 2 (score 3) beats one of two,
    // test 4 (score 1) beats none → 1/4. User 1: negatives {2, 3, 4}, test 0 (5) beats all → 1.
    close(m.auc, (0.25 + 1.0) / 2.0);
    // Items recommended: {0, 1, 2} of 5.
    close(m.coverage, 3.0 / 5.0);
    let json = serde_json::to_value(m).unwrap();
    assert_eq!(json["users_evaluated"], 2);
    assert_eq!(json["map"], 0.625);
}

#[test]
fn auc_is_one_for_a_perfect_ranking_and_zero_for_the_reversed_one() {
    let (train, test) = holdout_split(&varied(), 0.3, 1).unwrap();
    let perfect: Vec<Vec<f32>> = (0..30)
        .map(|u| {
            (0..40)
                .map(|i| test.get(u, i))
                .map(|w| if w > 0.0 { 1.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let reversed: Vec<Vec<f32>> = perfect.iter().map(|r| r.iter().map(|s| -s).collect()).collect();
    let good = Table {
        rows: perfect,
        fallback: false,
    };
    let bad = Table {
        rows: reversed,
        fallback: false,
    };
    assert_eq!(evaluate(&good, &train, &test, 5).unwrap().auc, 1.0);
    assert_eq!(evaluate(&bad, &train, &test, 5).unwrap().auc, 0.0);
    // Constant scores: every pair is a tie.
    assert_eq!(user_auc(&[0.0; 4], &[0], &[1]), Some(0.5));
}

#[test]
fn coverage_counts_distinct_recommended_items() {
    // Same scores for everyone, different train rows → top-1 lists [1], [0], [2]; item 3 never.
    let train = matrix(3, 4, &[&[0], &[], &[0, 1]]);
    let test = matrix(3, 4, &[&[3], &[3], &[3]]);
    let m = evaluate(&Table::same_for_all(&[3.0, 2.0, 1.0, 0.0]), &train, &test, 1).unwrap();
    close(m.coverage, 3.0 / 4.0);
    close(m.precision, 0.0);
}

#[test]
fn evaluate_rejects_bad_arguments() {
    let train = matrix(2, 3, &[&[0], &[1]]);
    let test = matrix(2, 3, &[&[1], &[]]);
    let t = Table::same_for_all(&[1.0, 2.0, 3.0]);
    assert!(matches!(
        evaluate(&t, &train, &test, 0),
        Err(RecoError::InvalidParameter { .. })
    ));
    assert!(evaluate(&t, &train, &matrix(2, 4, &[&[1], &[]]), 1).is_err());
    assert!(evaluate(&Table::same_for_all(&[1.0]), &train, &test, 1).is_err());
    assert!(evaluate(&t, &train, &matrix(2, 3, &[&[], &[]]), 1).is_err());
}

// ----------------------------------------------------------------------------- fallback

/// Train: u0 {0, 1}, u1 {1, 2}, u2 {1, 3} → distinct users per item [1, 3, 1, 1, 0, 0],
/// popularity order [1, 0, 2, 3, 4, 5].
fn fallback_case(fallback: bool) -> (Table, CsrMatrix) {
    let train = matrix(3, 6, &[&[0, 1], &[1, 2], &[1, 3]]);
    let t = Table {
        rows: vec![
            vec![9.0, 9.0, 0.0, -1.0, 2.0, 0.0],
            vec![1.0, 9.0, 9.0, -1.0, 0.0, 0.5],
            vec![0.0; 6],
        ],
        fallback,
    };
    (t, train)
}

#[test]
fn popularity_fill_replaces_scores_at_or_below_zero() {
    let items = |lists: Vec<Vec<Scored>>| -> Vec<Vec<u32>> {
        lists
            .into_iter()
            .map(|l| l.into_iter().map(|s| s.item).collect())
            .collect()
    };
    // Without fill: plain top-3 of unseen items (ties by lower index).
    let (t, train) = fallback_case(false);
    let plain = items(recommend_batch(&t, &train, &[0, 1, 2], 3));
    assert_eq!(plain, [vec![4, 2, 5], vec![0, 5, 4], vec![0, 2, 4]]);
    // With fill: keep items with score > 0, then unseen popular items not already listed.
    // user 0: keep [4]; popularity 1 (seen), 0 (seen), 2, 3 → [4, 2, 3].
    // user 1: keep [0, 5]; popularity 1 (seen), 0 (listed), 2 (seen), 3 → [0, 5, 3].
    // user 2: keep []; popularity 1 (seen), 0, 2, 3 (seen), 4 → [0, 2, 4].
    let (t, train) = fallback_case(true);
    let lists = recommend_batch(&t, &train, &[0, 1, 2], 3);
    assert_eq!(
        items(lists.clone()),
        [vec![4, 2, 3], vec![0, 5, 3], vec![0, 2, 4]]
    );
    // Filled entries keep their model score.
    assert_eq!(lists[0][2], Scored { item: 3, score: -1.0 });
    // The fill stops when the popularity order runs out.
    let mut list = vec![Scored { item: 0, score: -2.0 }];
    fill_from_popularity(&mut list, 5, &[1], &[1, 2], &[0.0; 3]);
    assert_eq!(list, [Scored { item: 2, score: 0.0 }]);
}

#[test]
fn evaluate_scores_the_recommend_batch_lists() {
    // User 0's test item 3 is found only through the popularity fill (rank 3).
    let (t, train) = fallback_case(true);
    let test = matrix(3, 6, &[&[3], &[], &[]]);
    let m = evaluate(&t, &train, &test, 3).unwrap();
    assert_eq!(m.users_evaluated, 1);
    close(m.precision, 1.0 / 3.0);
    close(m.ndcg, 1.0 / lg(4.0));
    // Lists [4, 2, 3]: 3 distinct of 6 items.
    close(m.coverage, 0.5);
    let (t, _) = fallback_case(false);
    close(evaluate(&t, &train, &test, 3).unwrap().precision, 0.0);
}

#[test]
fn evaluate_is_the_mean_of_list_metrics_over_recommend_batch() {
    // Pseudo-random scores per user; the averages must equal the per-list metrics of the
    // batch lists, and repeated (parallel) runs must agree exactly.
    let (train, test) = holdout_split(&varied(), 0.3, 5).unwrap();
    let rows: Vec<Vec<f32>> = (0..30u32)
        .map(|u| {
            (0..40u32)
                .map(|i| ((u * 31 + i * 17) % 23) as f32 - 5.0)
                .collect()
        })
        .collect();
    for fallback in [false, true] {
        let t = Table {
            rows: rows.clone(),
            fallback,
        };
        let m = evaluate(&t, &train, &test, 4).unwrap();
        let users: Vec<u32> = (0..30).filter(|&u| test.row_nnz(u as usize) > 0).collect();
        let lists = recommend_batch(&t, &train, &users, 4);
        let (mut ndcg, mut map) = (0.0, 0.0);
        for (&u, list) in users.iter().zip(&lists) {
            let items: Vec<u32> = list.iter().map(|s| s.item).collect();
            let lm = list_metrics(&items, test.row(u as usize).0, 4);
            ndcg += lm.ndcg;
            map += lm.map;
        }
        assert_eq!(m.users_evaluated, users.len());
        close(m.ndcg, ndcg / users.len() as f64);
        close(m.map, map / users.len() as f64);
        assert_eq!(evaluate(&t, &train, &test, 4).unwrap(), m);
    }
}

// ----------------------------------------------------------------------------- popularity

#[test]
fn popularity_ranks_by_distinct_users_with_ties_by_index() {
    // Distinct users per item: [1, 3, 1, 1, 0] (item 1's weight 5 counts once).
    let m = CsrMatrix::from_triples(
        3,
        5,
        &[
            (0, 0, 1.0),
            (0, 1, 5.0),
            (1, 1, 1.0),
            (1, 2, 1.0),
            (2, 1, 1.0),
            (2, 3, 1.0),
        ],
    )
    .unwrap();
    let pop = PopularityModel::fit(&m).unwrap();
    assert_eq!(pop.scores(), &[1.0, 3.0, 1.0, 1.0, 0.0]);
    assert_eq!(pop.order(), &[1, 0, 2, 3, 4]);
    // Lists: the order minus the user's own items.
    let lists = recommend_batch(&pop, &m, &[0, 1], 2);
    let got: Vec<Vec<u32>> = lists.iter().map(|l| l.iter().map(|s| s.item).collect()).collect();
    assert_eq!(got, [vec![2, 3], vec![0, 3]]);
}

#[test]
fn popularity_model_file_roundtrip_and_wrong_kind() {
    let m = matrix(2, 3, &[&[0, 2], &[2]]);
    let pop = PopularityModel::fit(&m).unwrap();
    let mut file = pop.to_model_file();
    assert_eq!(file.kind, ModelKind::Popularity);
    file.item_ids = vec!["a".into(), "b".into(), "c".into()];
    let back = ModelFile::from_bytes(&file.to_bytes(Precision::F32).unwrap()).unwrap();
    assert_eq!(PopularityModel::from_model_file(&back).unwrap(), pop);
    file.kind = ModelKind::ItemKnn;
    assert!(matches!(
        PopularityModel::from_model_file(&file),
        Err(RecoError::WrongModelKind { .. })
    ));
}

// ----------------------------------------------------------------------------- splits

#[test]
fn holdout_split_partitions_with_the_rounding_rule() {
    let m = varied();
    let (train, test) = holdout_split(&m, 0.2, 42).unwrap();
    assert_partition(&m, &train, &test);
    for u in 0..m.n_rows() {
        let n = m.row_nnz(u) as f64;
        assert_eq!(test.row_nnz(u), (0.2 * n + 0.5).floor() as usize, "user {u}");
    }
    assert_eq!(holdout_split(&m, 0.2, 42).unwrap(), (train.clone(), test.clone()));
    assert_ne!(holdout_split(&m, 0.2, 43).unwrap().1, test);
}

#[test]
fn leave_k_out_keeps_small_users_in_train() {
    let m = varied();
    let (train, test) = leave_k_out(&m, 2, 7).unwrap();
    assert_partition(&m, &train, &test);
    for u in 0..m.n_rows() {
        let expected = if m.row_nnz(u) > 2 { 2 } else { 0 };
        assert_eq!(test.row_nnz(u), expected, "user {u}");
    }
    assert_eq!(leave_k_out(&m, 2, 7).unwrap().1, test);
    assert_ne!(leave_k_out(&m, 2, 8).unwrap().1, test);
}

#[test]
fn time_split_puts_the_latest_items_in_test() {
    // User 0: items 0..6 at times [50, 10, 40, 30, 40, 20]; n_test = floor(0.4·6 + 0.5) = 2.
    // Order by (time, item): 1, 5, 3, 2, 4, 0 → the last two, items 4 and 0, are test
    // (item 4 beats item 2 at the tied time 40). User 1: one item, n_test = floor(0.9) = 0.
    let m = matrix(2, 6, &[&[0, 1, 2, 3, 4, 5], &[3]]);
    let (train, test) = time_split(&m, &[50, 10, 40, 30, 40, 20, 7], 0.4).unwrap();
    assert_partition(&m, &train, &test);
    assert_eq!(test.row(0).0, &[0, 4]);
    assert_eq!(train.row(0).0, &[1, 2, 3, 5]);
    assert_eq!(test.row_nnz(1), 0);
}

#[test]
fn splits_reject_bad_arguments() {
    let m = varied();
    for f in [0.0, 1.0, -0.1, f64::NAN] {
        assert!(matches!(
            holdout_split(&m, f, 1),
            Err(RecoError::InvalidParameter {
                name: "test_fraction",
                ..
            })
        ));
        assert!(time_split(&m, &vec![0; m.nnz()], f).is_err());
    }
    assert!(matches!(
        time_split(&m, &[0, 1], 0.2),
        Err(RecoError::InvalidData(_))
    ));
    assert!(matches!(
        leave_k_out(&m, 0, 1),
        Err(RecoError::InvalidParameter { name: "k", .. })
    ));
}
