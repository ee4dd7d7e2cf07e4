//! Offline evaluation: train/test splits, ranking metrics @K, and batch top-N.
//!
//! # Splits
//! Every split takes a user × item [`CsrMatrix`] and returns `(train, test)` of the same shape;
//! each stored entry (with its weight) lands in exactly one of them. With `n_u` the number of
//! items of user `u`, the fraction-based splits send `n_test = floor(fraction · n_u + 0.5)` of
//! them to test (the anchors' rule; a user with `n_test = 0` stays in train only):
//! - [`holdout_split`]: a seeded random `n_test` items per user;
//! - [`leave_k_out`]: a seeded random `k` items per user (users with `≤ k` items: train only);
//! - [`time_split`]: the latest `n_test` items per user by timestamp.
//!
//! Random splits draw from [`Rng::for_stream`]`(seed, user)`, so they are deterministic.
//!
//! # Metrics @K
//! For every user with at least one test item: `R` = the user's top-K list after removing
//! train items (see [`evaluate`]), `T` = the user's test items, hits at 1-based ranks `r`:
//!
//! ```text
//! precision = hits / K
//! recall    = hits / |T|
//! ndcg      = Σ_hits 1/log2(r+1)  /  Σ_{r=1..min(K,|T|)} 1/log2(r+1)
//! map       = Σ_hits (hits within top r) / r  /  min(K, |T|)
//! auc       = P(score(test item) > score(negative)), ties count 1/2; negatives = items in
//!             neither the user's train nor test row (users without negatives are skipped)
//! coverage  = |distinct items in any top-K list| / n_items
//! ```
//!
//! precision, recall, ndcg and map are averaged over evaluated users — exactly the anchors'
//! definitions (`bench_anchors.py`). AUC uses the raw model scores (NaN counts as −∞).
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{RecoError, Result};
use crate::matrix::CsrMatrix;
use crate::popularity::{item_user_counts, ranking};
use crate::rng::Rng;
use crate::scorer::{ItemScorer, ScoreScratch};
use crate::topn::{Filter, Scored, TopN};

// ----------------------------------------------------------------------------- splits

fn check_fraction(test_fraction: f64) -> Result<()> {
    if test_fraction > 0.0 && test_fraction < 1.0 {
        Ok(())
    } else {
        Err(RecoError::InvalidParameter {
            name: "test_fraction",
            reason: format!("{test_fraction} is not strictly between 0 and 1"),
        })
    }
}

/// `floor(fraction · n + 0.5)` (the anchors' rounding; the operand is never negative).
fn n_test(fraction: f64, n: usize) -> usize {
    (fraction * n as f64 + 0.5) as usize
}

/// Marks `k` of the `n` entries starting at `start` as test, chosen uniformly by a partial
/// Fisher–Yates shuffle of `pos`.
fn mark_random(rng: &mut Rng, start: usize, n: usize, k: usize, pos: &mut Vec<usize>, is_test: &mut [bool]) {
    pos.clear();
    pos.extend(0..n);
    for i in 0..k {
        let j = i + rng.below((n - i) as u32) as usize;
        pos.swap(i, j);
        is_test[start + pos[i]] = true;
    }
}

/// Splits `m` into (entries with `is_test == false`, entries with `is_test == true`).
fn partition(m: &CsrMatrix, is_test: &[bool]) -> Result<(CsrMatrix, CsrMatrix)> {
    let mut parts = [
        (vec![0usize], Vec::new(), Vec::new()),
        (vec![0usize], Vec::new(), Vec::new()),
    ];
    for r in 0..m.n_rows() {
        let start = m.indptr()[r];
        let (cols, vals) = m.row(r);
        for (k, (&c, &v)) in cols.iter().zip(vals).enumerate() {
            let part = &mut parts[is_test[start + k] as usize];
            part.1.push(c);
            part.2.push(v);
        }
        for part in &mut parts {
            part.0.push(part.1.len());
        }
    }
    let [train, test] = parts;
    Ok((
        CsrMatrix::from_parts(m.n_rows(), m.n_cols(), train.0, train.1, train.2)?,
        CsrMatrix::from_parts(m.n_rows(), m.n_cols(), test.0, test.1, test.2)?,
    ))
}

/// Per user, a seeded random `floor(test_fraction · n_u + 0.5)` of the user's items go to
/// test, the rest to train. `test_fraction` must be in `(0, 1)`.
pub fn holdout_split(m: &CsrMatrix, test_fraction: f64, seed: u64) -> Result<(CsrMatrix, CsrMatrix)> {
    check_fraction(test_fraction)?;
    let mut is_test = vec![false; m.nnz()];
    let mut pos = Vec::new();
    for u in 0..m.n_rows() {
        let n = m.row_nnz(u);
        let mut rng = Rng::for_stream(seed, u as u64);
        mark_random(
            &mut rng,
            m.indptr()[u],
            n,
            n_test(test_fraction, n),
            &mut pos,
            &mut is_test,
        );
    }
    partition(m, &is_test)
}

/// Per user, `k` seeded random items go to test. Users with `k` or fewer items stay in train
/// only (they would have nothing left to learn from). `k` must be at least 1.
pub fn leave_k_out(m: &CsrMatrix, k: usize, seed: u64) -> Result<(CsrMatrix, CsrMatrix)> {
    if k == 0 {
        return Err(RecoError::InvalidParameter {
            name: "k",
            reason: "leave-k-out needs k >= 1".into(),
        });
    }
    let mut is_test = vec![false; m.nnz()];
    let mut pos = Vec::new();
    for u in 0..m.n_rows() {
        let n = m.row_nnz(u);
        if n > k {
            let mut rng = Rng::for_stream(seed, u as u64);
            mark_random(&mut rng, m.indptr()[u], n, k, &mut pos, &mut is_test);
        }
    }
    partition(m, &is_test)
}

/// Per user, the latest `floor(test_fraction · n_u + 0.5)` items go to test. `timestamps` has
/// one entry per stored entry of `m`, aligned with [`CsrMatrix::indices`]. Entries are ordered
/// by (timestamp, item index), so among equal timestamps the higher item index counts as later.
pub fn time_split(m: &CsrMatrix, timestamps: &[i64], test_fraction: f64) -> Result<(CsrMatrix, CsrMatrix)> {
    check_fraction(test_fraction)?;
    if timestamps.len() != m.nnz() {
        return Err(RecoError::InvalidData(format!(
            "{} timestamps for {} stored interactions",
            timestamps.len(),
            m.nnz()
        )));
    }
    let mut is_test = vec![false; m.nnz()];
    let mut order = Vec::new();
    for u in 0..m.n_rows() {
        let (start, end) = (m.indptr()[u], m.indptr()[u + 1]);
        order.clear();
        order.extend(start..end);
        // Stable sort: the row's entries are already in item order, which breaks ties.
        order.sort_by_key(|&e| timestamps[e]);
        let n = end - start;
        for &e in &order[n - n_test(test_fraction, n)..] {
            is_test[e] = true;
        }
    }
    partition(m, &is_test)
}

// ----------------------------------------------------------------------------- metrics

/// Ranking metrics of one user's list (see the module docs for the formulas).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ListMetrics {
    /// Number of test items among the first K entries.
    pub hits: usize,
    /// hits / K.
    pub precision: f64,
    /// hits / |T|.
    pub recall: f64,
    /// Discounted gain of the hits over the ideal gain of min(K, |T|) hits.
    pub ndcg: f64,
    /// Average precision, normalised by min(K, |T|).
    pub map: f64,
}

/// `1 / log2(rank + 1)` for a 1-based rank.
fn discount(rank: usize) -> f64 {
    1.0 / libm::log2(rank as f64 + 1.0)
}

/// Metrics @`k` of one ranked list (best first, train items already removed, no duplicates)
/// against the user's test items `test` (sorted ascending, e.g. a CSR row). Only the first `k`
/// entries count; a shorter list simply has fewer hits. All zero when `k == 0` or `test` is
/// empty.
pub fn list_metrics(ranked: &[u32], test: &[u32], k: usize) -> ListMetrics {
    if k == 0 || test.is_empty() {
        return ListMetrics::default();
    }
    let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
    for (i, item) in ranked.iter().take(k).enumerate() {
        if test.binary_search(item).is_ok() {
            hits += 1;
            dcg += discount(i + 1);
            ap += hits as f64 / (i + 1) as f64;
        }
    }
    let ideal = k.min(test.len());
    let idcg: f64 = (1..=ideal).map(discount).sum();
    ListMetrics {
        hits,
        precision: hits as f64 / k as f64,
        recall: hits as f64 / test.len() as f64,
        ndcg: dcg / idcg,
        map: ap / ideal as f64,
    }
}

/// AUC of one user: the fraction of (test item, negative item) pairs where the test item has
/// the higher score, ties counting 1/2. Negatives are items in neither `train` nor `test`
/// (both sorted ascending); NaN scores count as −∞. `None` when there is no test item or no
/// negative.
pub fn user_auc(scores: &[f32], train: &[u32], test: &[u32]) -> Option<f64> {
    auc_with(scores, train, test, &mut Vec::new())
}

fn auc_with(scores: &[f32], train: &[u32], test: &[u32], negatives: &mut Vec<f32>) -> Option<f64> {
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    negatives.clear();
    negatives.extend(
        (0..scores.len() as u32)
            .filter(|i| train.binary_search(i).is_err() && test.binary_search(i).is_err())
            .map(|i| key(scores[i as usize])),
    );
    if test.is_empty() || negatives.is_empty() {
        return None;
    }
    negatives.sort_unstable_by(f32::total_cmp);
    let mut wins = 0.0;
    for &t in test {
        let s = key(scores[t as usize]);
        let below = negatives.partition_point(|&x| x < s);
        let tied = negatives.partition_point(|&x| x <= s) - below;
        wins += below as f64 + 0.5 * tied as f64;
    }
    Some(wins / (test.len() as f64 * negatives.len() as f64))
}

/// Averages of the metrics @K over the evaluated users (serializes to a JSON object).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// List length K.
    pub k: usize,
    /// Users with at least one test item (the denominator of the averages).
    pub users_evaluated: usize,
    /// Mean precision@K.
    pub precision: f64,
    /// Mean recall@K.
    pub recall: f64,
    /// Mean NDCG@K.
    pub ndcg: f64,
    /// Mean (normalised) average precision@K.
    pub map: f64,
    /// Mean AUC over evaluated users that have at least one negative item (NaN if none has).
    pub auc: f64,
    /// Distinct items in any evaluated user's top-K list, over the number of items.
    pub coverage: f64,
}

// ----------------------------------------------------------------------------- top-N

/// Replaces the entries of `list` with score `<= 0` (no neighbour evidence) by the most
/// popular items that are neither in `seen` (sorted ascending) nor already in the list, until
/// it holds `n` entries or `popularity_order` runs out — the anchors' user-KNN popularity fill.
/// Filled entries carry their model score from `scores`.
pub fn fill_from_popularity(
    list: &mut Vec<Scored>,
    n: usize,
    seen: &[u32],
    popularity_order: &[u32],
    scores: &[f32],
) {
    list.retain(|s| s.score > 0.0);
    for &item in popularity_order {
        if list.len() >= n {
            break;
        }
        if seen.binary_search(&item).is_err() && !list.iter().any(|s| s.item == item) {
            list.push(Scored {
                item,
                score: scores[item as usize],
            });
        }
    }
}

/// Per-thread buffers for scoring and selecting one user's list.
struct Scratch {
    scores: Vec<f32>,
    scorer: ScoreScratch,
    topn: TopN,
    list: Vec<Scored>,
    negatives: Vec<f32>,
}

impl Scratch {
    fn new(n_items: usize) -> Self {
        Scratch {
            scores: vec![0.0; n_items],
            scorer: ScoreScratch::default(),
            topn: TopN::new(),
            list: Vec::new(),
            negatives: Vec::new(),
        }
    }

    /// Scores `user` and leaves the top `n` unseen items in `self.list`, with the popularity
    /// fill when `popularity_order` is given.
    fn recommend<S: ItemScorer + ?Sized>(
        &mut self,
        scorer: &S,
        seen: &[u32],
        user: u32,
        n: usize,
        popularity_order: Option<&[u32]>,
    ) {
        scorer.score_user(user, &mut self.scores, &mut self.scorer);
        let filter = Filter {
            seen,
            ..Default::default()
        };
        self.topn.select(&self.scores, n, &filter, &mut self.list);
        if let Some(order) = popularity_order {
            fill_from_popularity(&mut self.list, n, seen, order, &self.scores);
        }
    }
}

/// The popularity order (distinct users per item in `train`) if `scorer` needs the fill.
fn fallback_order<S: ItemScorer + ?Sized>(scorer: &S, train: &CsrMatrix) -> Option<Vec<u32>> {
    scorer
        .needs_fallback_below_zero()
        .then(|| ranking(&item_user_counts(train)))
}

/// `f(scratch, user)` for every user, in user order; in parallel (one scratch per rayon
/// worker) under `std`, sequentially otherwise.
fn map_users<T: Send>(
    users: &[u32],
    n_items: usize,
    f: impl Fn(&mut Scratch, u32) -> T + Sync + Send,
) -> Vec<T> {
    #[cfg(feature = "std")]
    {
        use rayon::prelude::*;
        users
            .par_iter()
            .map_init(|| Scratch::new(n_items), |s, &u| f(s, u))
            .collect()
    }
    #[cfg(not(feature = "std"))]
    {
        let mut s = Scratch::new(n_items);
        users.iter().map(|&u| f(&mut s, u)).collect()
    }
}

/// Top-`n` lists for `users` (dense indices), best first, excluding each user's row of
/// `seen`; with the popularity fill of [`fill_from_popularity`] (popularity = distinct users
/// per item in `seen`) when `scorer.needs_fallback_below_zero()`. These are exactly the lists
/// [`evaluate`] scores. Parallel over users under `std`.
///
/// # Panics
/// When a user index is `>= seen.n_rows()` or `scorer.n_items() != seen.n_cols()`.
pub fn recommend_batch<S: ItemScorer + Sync + ?Sized>(
    scorer: &S,
    seen: &CsrMatrix,
    users: &[u32],
    n: usize,
) -> Vec<Vec<Scored>> {
    assert_eq!(
        scorer.n_items(),
        seen.n_cols(),
        "the scorer has {} items but the seen matrix has {} columns",
        scorer.n_items(),
        seen.n_cols()
    );
    let order = fallback_order(scorer, seen);
    map_users(users, seen.n_cols(), |s, u| {
        s.recommend(scorer, seen.row(u as usize).0, u, n, order.as_deref());
        s.list.clone()
    })
}

/// Evaluates `scorer` @`k` on every user with at least one item in `test`: the user's top-`k`
/// list excludes the `train` row (with the popularity fill when the scorer asks for it, as in
/// [`recommend_batch`]); see the module docs for the metrics. Deterministic: per-user values are
/// summed in user order whatever the thread count.
///
/// Fails when `k == 0`, `train` and `test` differ in shape, the scorer's item count differs
/// from the matrices', or no user has a test item.
pub fn evaluate<S: ItemScorer + Sync + ?Sized>(
    scorer: &S,
    train: &CsrMatrix,
    test: &CsrMatrix,
    k: usize,
) -> Result<Metrics> {
    evaluate_with_progress(scorer, train, test, k, &|| {})
}

/// [`evaluate`], calling `on_user` (from any worker thread) after each evaluated user, for a
/// progress display.
pub fn evaluate_with_progress<S: ItemScorer + Sync + ?Sized>(
    scorer: &S,
    train: &CsrMatrix,
    test: &CsrMatrix,
    k: usize,
    on_user: &(dyn Fn() + Sync),
) -> Result<Metrics> {
    if k == 0 {
        return Err(RecoError::InvalidParameter {
            name: "k",
            reason: "metrics @K need K >= 1".into(),
        });
    }
    if (train.n_rows(), train.n_cols()) != (test.n_rows(), test.n_cols()) {
        return Err(RecoError::InvalidData(format!(
            "train is {} x {} but test is {} x {}",
            train.n_rows(),
            train.n_cols(),
            test.n_rows(),
            test.n_cols()
        )));
    }
    if scorer.n_items() != train.n_cols() {
        return Err(RecoError::InvalidData(format!(
            "the model scores {} items but the matrices have {}",
            scorer.n_items(),
            train.n_cols()
        )));
    }
    let users: Vec<u32> = (0..test.n_rows())
        .filter(|&u| test.row_nnz(u) > 0)
        .map(|u| u as u32)
        .collect();
    if users.is_empty() {
        return Err(RecoError::InvalidData("no user has a test item".into()));
    }
    let order = fallback_order(scorer, train);
    let per_user = map_users(&users, train.n_cols(), |s, u| {
        let (seen, truth) = (train.row(u as usize).0, test.row(u as usize).0);
        s.recommend(scorer, seen, u, k, order.as_deref());
        let items: Vec<u32> = s.list.iter().map(|x| x.item).collect();
        let metrics = list_metrics(&items, truth, k);
        let auc = auc_with(&s.scores, seen, truth, &mut s.negatives);
        on_user();
        (metrics, auc, items)
    });

    let n = users.len() as f64;
    let (mut sum, mut auc_sum, mut auc_users) = (ListMetrics::default(), 0.0, 0usize);
    let mut recommended = vec![false; train.n_cols()];
    for (m, auc, items) in &per_user {
        sum.precision += m.precision;
        sum.recall += m.recall;
        sum.ndcg += m.ndcg;
        sum.map += m.map;
        if let Some(a) = auc {
            auc_sum += a;
            auc_users += 1;
        }
        for &i in items {
            recommended[i as usize] = true;
        }
    }
    let covered = recommended.iter().filter(|&&r| r).count();
    Ok(Metrics {
        k,
        users_evaluated: users.len(),
        precision: sum.precision / n,
        recall: sum.recall / n,
        ndcg: sum.ndcg / n,
        map: sum.map / n,
        auc: if auc_users == 0 {
            f64::NAN
        } else {
            auc_sum / auc_users as f64
        },
        coverage: covered as f64 / train.n_cols() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_test_rounds_half_up() {
        // floor(0.2 n + 0.5): n = 2 → 0, 3 → 1 (0.6 + 0.5), 7 → 1 (1.9), 8 → 2 (2.1).
        let got: Vec<usize> = [1, 2, 3, 7, 8, 10].iter().map(|&n| n_test(0.2, n)).collect();
        assert_eq!(got, [0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn list_metrics_of_short_and_empty_lists() {
        // An empty list has no hits; a missing test set gives zeros, not NaN.
        assert_eq!(list_metrics(&[], &[1], 3), ListMetrics::default());
        assert_eq!(list_metrics(&[1], &[], 3), ListMetrics::default());
        assert_eq!(list_metrics(&[1], &[1], 0), ListMetrics::default());
        // Only the first K entries count: K = 1, the hit at rank 2 is ignored.
        assert_eq!(list_metrics(&[5, 1], &[1], 1).hits, 0);
    }

    #[test]
    fn auc_treats_nan_as_lowest_and_needs_negatives() {
        // Items 0 (test, NaN → −∞) and 1 (negative, 0.0): the test item loses.
        assert_eq!(user_auc(&[f32::NAN, 0.0], &[], &[0]), Some(0.0));
        // Both NaN: a tie.
        assert_eq!(user_auc(&[f32::NAN, f32::NAN], &[], &[0]), Some(0.5));
        // Every other item is in train: no negative.
        assert_eq!(user_auc(&[1.0, 0.0], &[1], &[0]), None);
    }
}
