//! Neighbourhood models: user-based cosine KNN with a popularity fallback ([`UserKnnModel`]) and
//! item-based cosine KNN ([`ItemKnnModel`]).
//!
//! Both work on the training matrix `R` (users × items) with its **stored weights** (not
//! binarized), like the references (scikit-learn `NearestNeighbors(metric="cosine")` on the
//! training matrix, implicit's `CosineRecommender`). On binary data the two are the same.
//!
//! # User-based KNN
//!
//! * `sim(u, v) = (r_u · r_v) / sqrt(‖r_u‖² ‖r_v‖²)` (cosine of the users' item vectors).
//! * `N_k(u)`: the `k` (default [`DEFAULT_K`] = 50) users with the highest `sim(u, v) > 0`,
//!   excluding `u` itself; ties by lower user index. Users sharing no item with `u` have
//!   `sim = 0` and contribute nothing, so they are never neighbours.
//! * `score(u, i) = Σ_{v ∈ N_k(u)} sim(u, v) · r_vi`.
//! * Similarities are computed through the item → users inverted index (the transposed CSR): only
//!   users who share an item with `u` are visited, with a dense per-user accumulator and a
//!   bitmap of the users touched, kept in a reusable [`KnnScratch`] (no per-query allocation;
//!   about 4.1 bytes per training user and thread). The touched users are read back in index
//!   order and offered to a bounded top-`k` (a running threshold, so the candidates are not
//!   all stored and sorted): a query costs one pass over the co-occurring users' entries.
//! * An anonymous basket of `(item, weight)` pairs is scored as a pseudo-user row (neighbours are
//!   taken among all training users).
//! * **Popularity fallback.** A score `<= 0` means no neighbour has the item
//!   ([`ItemScorer::needs_fallback_below_zero`]), so the served lists
//!   ([`crate::recommender::Recommender`]) and the evaluated ones ([`crate::eval`]) hold the
//!   unseen items with `score > 0`, best first (ties by lower item index), and fill the
//!   remaining slots with the most popular unseen items (popularity = number of training users
//!   per item, ties by lower item index), flagged as fallback. A list is therefore shorter than
//!   `n` only when the catalog runs out.

//! # Item-based KNN
//!
//! * `cos(i, j) = (R_{:,i} · R_{:,j}) / sqrt(‖R_{:,i}‖² ‖R_{:,j}‖²)` (cosine of item columns).
//! * Every item keeps its `K` (default 50) most similar items with `cos > 0`, ties by lower
//!   item index, **including itself** (`cos(i, i) = 1`), as implicit's `all_pairs_knn` does.
//!   The lists form the sparse item × item matrix `S` (row `j` = neighbours of `j`).
//! * `score(u, i) = Σ_{j ∈ items(u)} r_uj · S[j, i]` (the user's row times `S`).
//! * Options (implicit's `TFIDFRecommender` / `BM25Recommender`, and shrinkage): the item
//!   columns can be TF-IDF or BM25 weighted first ([`KnnWeighting`]), and the cosine shrunk,
//!   `dot / (‖a‖‖b‖ + s)` ([`ItemKnnParams::shrink`]); scores still use the raw `r_uj`.
//! * The lists are built in parallel under the `std` feature (rayon), sequentially without it;
//!   every row is computed independently, so the result does not depend on the thread count.
//!
//! # Model files
//!
//! * `knn` ([`ModelKind::UserKnn`]): CSR `train` (users × items), f32 `popularity` (`[items]`),
//!   `params.k`.
//! * `item-knn` ([`ModelKind::ItemKnn`]): CSR `neighbors` (items × items, `S`), CSR `train`
//!   (users × items, needed to score known users), `params.k`.
//!
//! Norms, the inverted index and the popularity order are recomputed on load, not per query.
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{RecoError, Result};
use crate::item_item::ItemItemModel;
use crate::matrix::CsrMatrix;
use crate::model_file::{ModelFile, ModelKind};
use crate::neighbors::{
    check_ids, check_k, k_from_file, map_rows, rows_to_csr, training_summary, BestK, SparseAcc,
};
use crate::scorer::{check_basket, merge_repeated, ItemScorer, ScoreScratch};

/// Default number of neighbours (users for user-KNN, items for item-KNN).
pub const DEFAULT_K: usize = 50;

#[inline]
fn sqrt(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrt(x)
    }
}

/// Cosine from a dot product and the two squared norms (0 when either vector is zero).
#[inline]
fn cosine(dot: f32, a2: f64, b2: f64) -> f32 {
    let d = a2 * b2;
    if d > 0.0 {
        (dot as f64 / sqrt(d)) as f32
    } else {
        0.0
    }
}

fn squared_row_norms(m: &CsrMatrix) -> Vec<f64> {
    (0..m.n_rows())
        .map(|r| m.row(r).1.iter().map(|&w| w as f64 * w as f64).sum())
        .collect()
}

/// Checks a basket and merges it into `out`, sorted by item with repeated items summed.
fn merge_basket(basket: &[(u32, f32)], n_items: usize, out: &mut Vec<(u32, f32)>) -> Result<()> {
    check_basket(basket, n_items)?;
    out.clear();
    out.extend_from_slice(basket);
    merge_repeated(out);
    Ok(())
}

/// Reusable per-thread buffers for KNN queries: dense accumulators over users and items (4 bytes
/// per slot plus one bit), the best-`k` candidates, the neighbour lists and a merged basket.
/// Create one per thread and pass it to every query (the facade's
/// [`crate::scorer::ScoreScratch`] holds one); it grows to the model's size on first use and
/// never shrinks.
#[derive(Debug, Clone, Default)]
pub struct KnnScratch {
    users: SparseAcc,
    items: SparseAcc,
    best: BestK,
    neighbors: Vec<(f32, u32)>,
    basket: Vec<(u32, f32)>,
}

impl KnnScratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Accumulates `R_{:,item} · R_{:,j}` for every item `j` into `acc` (through the item's users).
fn item_dots(train: &CsrMatrix, item_users: &CsrMatrix, item: usize, acc: &mut SparseAcc) {
    let (users, ws) = item_users.row(item);
    acc.begin(train.n_cols());
    for (&u, &wu) in users.iter().zip(ws) {
        let (items, xs) = train.row(u as usize);
        acc.add_scaled(items, xs, wu);
    }
}

/// Writes `cos(item, j)` for every item `j` into `out` (0 where the columns share no user).
fn item_cosines(
    train: &CsrMatrix,
    item_users: &CsrMatrix,
    item_n2: &[f64],
    item: u32,
    out: &mut [f32],
    acc: &mut SparseAcc,
) -> Result<()> {
    let n_items = train.n_cols();
    if item as usize >= n_items {
        return Err(RecoError::UnknownItem(format!(
            "{item} (the model has {n_items} items)"
        )));
    }
    assert_eq!(out.len(), n_items, "output length must equal the number of items");
    out.fill(0.0);
    item_dots(train, item_users, item as usize, acc);
    let a2 = item_n2[item as usize];
    acc.drain(|j, dot| out[j as usize] = cosine(dot, a2, item_n2[j as usize]));
    Ok(())
}

/// A user neighbour: a training user and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Dense user index.
    pub user: u32,
    /// Cosine similarity to the query (`> 0`).
    pub similarity: f32,
}

/// Hyperparameters of [`UserKnnModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserKnnParams {
    /// Number of neighbours per query (default [`DEFAULT_K`]).
    pub k: usize,
}

impl Default for UserKnnParams {
    fn default() -> Self {
        UserKnnParams { k: DEFAULT_K }
    }
}

/// User-based cosine KNN with a popularity fallback (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct UserKnnModel {
    k: usize,
    train: CsrMatrix,
    item_users: CsrMatrix,
    user_n2: Vec<f64>,
    item_n2: Vec<f64>,
    popularity: Vec<f32>,
    pop_order: Vec<u32>,
}

/// Where a query's vector and seen items come from.
#[derive(Clone, Copy)]
enum Query<'a> {
    User(u32),
    Basket(&'a [(u32, f32)]),
}

impl UserKnnModel {
    /// Builds the model from the training matrix (users × items). Popularity = number of users
    /// per item. Fails when `k == 0`.
    pub fn fit(train: &CsrMatrix, params: UserKnnParams) -> Result<Self> {
        check_k(params.k)?;
        let mut popularity = vec![0f32; train.n_cols()];
        for &i in train.indices() {
            popularity[i as usize] += 1.0;
        }
        Ok(Self::assemble(params.k, train.clone(), popularity))
    }

    fn assemble(k: usize, train: CsrMatrix, popularity: Vec<f32>) -> Self {
        let item_users = train.transpose();
        let user_n2 = squared_row_norms(&train);
        let item_n2 = squared_row_norms(&item_users);
        let mut pop_order: Vec<u32> = (0..train.n_cols() as u32).collect();
        pop_order.sort_by(|&a, &b| {
            popularity[b as usize]
                .total_cmp(&popularity[a as usize])
                .then(a.cmp(&b))
        });
        UserKnnModel {
            k,
            train,
            item_users,
            user_n2,
            item_n2,
            popularity,
            pop_order,
        }
    }

    /// Number of neighbours per query.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of training users.
    pub fn n_users(&self) -> usize {
        self.train.n_rows()
    }

    /// The training matrix (users × items); row `u` holds the items user `u` has seen.
    pub fn train(&self) -> &CsrMatrix {
        &self.train
    }

    /// Popularity of every item (number of training users).
    pub fn popularity(&self) -> &[f32] {
        &self.popularity
    }

    /// All items, most popular first (ties by lower index): the fallback order.
    pub fn popularity_order(&self) -> &[u32] {
        &self.pop_order
    }

    fn check_user(&self, user: u32) -> Result<()> {
        if user as usize >= self.n_users() {
            return Err(RecoError::UnknownUser(format!(
                "{user} (the model has {} users)",
                self.n_users()
            )));
        }
        Ok(())
    }

    /// Fills `out` with the top-k `(sim, user)` pairs of the query row, best first.
    ///
    /// Users are ranked by `dot² / ‖r_v‖²` (the query norm is common to all), which orders
    /// like the cosine for `dot > 0` and is exact for integer weights, so equal cosines tie
    /// exactly and fall back to the lower user index.
    fn find_neighbors(
        &self,
        row: impl Iterator<Item = (u32, f32)> + Clone,
        exclude: Option<u32>,
        s: &mut KnnScratch,
    ) {
        let (users, best, out) = (&mut s.users, &mut s.best, &mut s.neighbors);
        out.clear();
        let q2: f64 = row.clone().map(|(_, w)| w as f64 * w as f64).sum();
        if q2 <= 0.0 {
            return;
        }
        users.begin(self.n_users());
        for (j, w) in row {
            let (us, xs) = self.item_users.row(j as usize);
            users.add_scaled(us, xs, w);
        }
        let n2 = &self.user_n2;
        best.begin(self.k);
        users.drain(|v, dot| {
            if dot > 0.0 && Some(v) != exclude && n2[v as usize] > 0.0 {
                let dot = dot as f64;
                best.push(dot * dot / n2[v as usize], v);
            }
        });
        out.extend(best.finish().iter().map(|&(key, v)| (sqrt(key / q2) as f32, v)));
    }

    /// Runs the neighbour search for `query` into `s.neighbors`.
    fn query_neighbors(&self, query: Query, s: &mut KnnScratch) {
        match query {
            Query::User(u) => {
                let (cols, vals) = self.train.row(u as usize);
                let row = cols.iter().copied().zip(vals.iter().copied());
                self.find_neighbors(row, Some(u), s);
            }
            Query::Basket(b) => {
                self.find_neighbors(b.iter().copied(), None, s);
            }
        }
    }

    /// The k nearest neighbours of a training user (excluding itself), best first.
    pub fn user_neighbors(&self, user: u32, scratch: &mut KnnScratch) -> Result<Vec<Neighbor>> {
        self.check_user(user)?;
        self.query_neighbors(Query::User(user), scratch);
        Ok(scratch
            .neighbors
            .iter()
            .map(|&(similarity, user)| Neighbor { user, similarity })
            .collect())
    }

    /// Neighbour scores of `query` into `out` (0 where no neighbour has the item).
    fn score_into(&self, query: Query, out: &mut [f32], s: &mut KnnScratch) {
        assert_eq!(
            out.len(),
            self.n_items(),
            "output length must equal the number of items"
        );
        self.query_neighbors(query, s);
        out.fill(0.0);
        for &(sim, v) in &s.neighbors {
            let (is, ws) = self.train.row(v as usize);
            for (&i, &w) in is.iter().zip(ws) {
                out[i as usize] += sim * w;
            }
        }
    }

    /// The model as a `knn` model file (ids and names are left for the caller to fill).
    pub fn to_model_file(&self) -> ModelFile {
        let mut f = ModelFile::new(ModelKind::UserKnn);
        f.params = serde_json::json!({ "k": self.k });
        f.training = training_summary(&self.train);
        f.put_csr("train", &self.train);
        f.put_f32("popularity", &[self.n_items()], self.popularity.clone());
        f
    }

    /// Loads a `knn` model file, checking its kind, shapes and parameters.
    pub fn from_model_file(file: &ModelFile) -> Result<Self> {
        file.expect_kind(ModelKind::UserKnn)?;
        let k = k_from_file(file)?;
        let train = file.csr("train")?;
        let popularity = file.f32("popularity", &[Some(train.n_cols())])?.to_vec();
        if let Some(k) = popularity.iter().position(|p| !p.is_finite()) {
            return Err(RecoError::CorruptModel(format!(
                "knn model file: tensor `popularity` holds the non-finite value {} at position {k}",
                popularity[k]
            )));
        }
        check_ids(file, train.n_rows(), train.n_cols())?;
        Ok(Self::assemble(k, train, popularity))
    }
}

impl ItemScorer for UserKnnModel {
    fn n_items(&self) -> usize {
        self.train.n_cols()
    }

    fn score_user(&self, user: u32, out: &mut [f32], scratch: &mut ScoreScratch) {
        self.score_into(Query::User(user), out, scratch.get::<KnnScratch>());
    }

    fn score_items(&self, items: &[(u32, f32)], out: &mut [f32], scratch: &mut ScoreScratch) -> Result<()> {
        let s = scratch.get::<KnnScratch>();
        let mut merged = core::mem::take(&mut s.basket);
        let result = merge_basket(items, self.n_items(), &mut merged)
            .map(|()| self.score_into(Query::Basket(&merged), out, s));
        s.basket = merged;
        result
    }

    fn similar_to(&self, item: u32, out: &mut [f32], scratch: &mut ScoreScratch) -> Result<()> {
        item_cosines(
            &self.train,
            &self.item_users,
            &self.item_n2,
            item,
            out,
            &mut scratch.get::<KnnScratch>().items,
        )
    }

    fn needs_fallback_below_zero(&self) -> bool {
        true
    }
}

/// How item-KNN weighs the item × user matrix before comparing items (as implicit's
/// `CosineRecommender`, `TFIDFRecommender` and `BM25Recommender`). With `N` items, `n_u` the
/// items of user `u` and `idf_u = ln N − ln(1 + n_u)`:
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum KnnWeighting {
    /// Cosine of the raw item columns (default).
    #[default]
    Cosine,
    /// Cosine of `sqrt(r_ui) · idf_u`.
    TfIdf,
    /// Dot product (no normalization) of
    /// `r_ui (k1 + 1) / (k1 · ((1 − b) + b · len_i / avg len) + r_ui) · idf_u`, with `len_i`
    /// the sum of item `i`'s column.
    Bm25 {
        /// Term-frequency saturation (implicit's default 1.2).
        k1: f32,
        /// Length normalization (implicit's default 0.75).
        b: f32,
    },
}

impl KnnWeighting {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KnnWeighting::Cosine => "cosine",
            KnnWeighting::TfIdf => "tfidf",
            KnnWeighting::Bm25 { .. } => "bm25",
        }
    }
}

/// Hyperparameters of [`ItemKnnModel`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemKnnParams {
    /// Neighbours kept per item, the item itself included (default [`DEFAULT_K`]).
    pub k: usize,
    /// How the item columns are weighted and compared (default cosine).
    pub weighting: KnnWeighting,
    /// Shrinkage `s` of the cosine (cosine and TF-IDF): `dot / (‖a‖·‖b‖ + s)`, which damps
    /// similarities resting on few common users (default 0; ignored by BM25).
    pub shrink: f32,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams {
            k: DEFAULT_K,
            weighting: KnnWeighting::Cosine,
            shrink: 0.0,
        }
    }
}

impl ItemKnnParams {
    /// Checks every hyperparameter's range; fails with [`RecoError::InvalidParameter`].
    pub fn check(&self) -> Result<()> {
        check_k(self.k)?;
        if !(self.shrink.is_finite() && self.shrink >= 0.0) {
            return Err(RecoError::InvalidParameter {
                name: "shrink",
                reason: format!("{} must be finite and >= 0", self.shrink),
            });
        }
        if let KnnWeighting::Bm25 { k1, b } = self.weighting {
            if !(k1.is_finite() && k1 >= 0.0) {
                return Err(RecoError::InvalidParameter {
                    name: "bm25_k1",
                    reason: format!("{k1} must be finite and >= 0"),
                });
            }
            if !(b.is_finite() && (0.0..=1.0).contains(&b)) {
                return Err(RecoError::InvalidParameter {
                    name: "bm25_b",
                    reason: format!("{b} must be between 0 and 1"),
                });
            }
        }
        Ok(())
    }

    fn to_json(self) -> serde_json::Value {
        let mut v = serde_json::json!({ "k": self.k });
        if self.weighting != KnnWeighting::Cosine || self.shrink != 0.0 {
            v["weighting"] = self.weighting.as_str().into();
            v["shrink"] = crate::model_file::f32_to_json(self.shrink);
        }
        if let KnnWeighting::Bm25 { k1, b } = self.weighting {
            v["bm25_k1"] = crate::model_file::f32_to_json(k1);
            v["bm25_b"] = crate::model_file::f32_to_json(b);
        }
        v
    }
}

/// The weighted item × user matrix of `weighting` (see [`KnnWeighting`]).
fn weighted_item_users(item_users: &CsrMatrix, weighting: KnnWeighting) -> Result<CsrMatrix> {
    let n_items = item_users.n_rows();
    let mut user_items = vec![0u32; item_users.n_cols()];
    for &u in item_users.indices() {
        user_items[u as usize] += 1;
    }
    let ln_n = libm::log(n_items as f64);
    let idf = |u: u32| (ln_n - libm::log1p(user_items[u as usize] as f64)) as f32;
    let lens: Vec<f64> = (0..n_items)
        .map(|i| item_users.row(i).1.iter().map(|&x| x as f64).sum())
        .collect();
    let avg = lens.iter().sum::<f64>() / n_items.max(1) as f64;
    let mut data = Vec::with_capacity(item_users.nnz());
    for (i, &len) in lens.iter().enumerate() {
        let (us, xs) = item_users.row(i);
        for (&u, &x) in us.iter().zip(xs) {
            data.push(match weighting {
                KnnWeighting::Cosine => x,
                KnnWeighting::TfIdf => sqrt(x as f64) as f32 * idf(u),
                KnnWeighting::Bm25 { k1, b } => {
                    let norm = (1.0 - b as f64) + b as f64 * len / avg;
                    (x as f64 * (k1 as f64 + 1.0) / (k1 as f64 * norm + x as f64)) as f32 * idf(u)
                }
            });
        }
    }
    CsrMatrix::from_parts(
        n_items,
        item_users.n_cols(),
        item_users.indptr().to_vec(),
        item_users.indices().to_vec(),
        data,
    )
}

/// Item-based cosine KNN over sparse top-K neighbour lists (see the [module docs](self)):
/// an item × item model ([`ItemItemModel`]) whose weights are the kept similarities.
#[derive(Debug, Clone)]
pub struct ItemKnnModel {
    /// The neighbour lists, the training matrix and the parameters (as their file JSON);
    /// scores and loads them.
    lists: ItemItemModel,
}

impl ItemKnnModel {
    /// Computes every item's top-K neighbour list from the training matrix (users × items).
    /// Fails when `k == 0`.
    pub fn fit(train: &CsrMatrix, params: ItemKnnParams) -> Result<Self> {
        params.check()?;
        let k = params.k;
        let item_users = train.transpose();
        if params.weighting == KnnWeighting::Cosine && params.shrink == 0.0 {
            return Self::fit_cosine(train, &item_users, params);
        }
        // The general path: weighted columns, any similarity.
        let w = weighted_item_users(&item_users, params.weighting)?;
        let wt = w.transpose();
        let n2 = squared_row_norms(&w);
        let bm25 = matches!(params.weighting, KnnWeighting::Bm25 { .. });
        let shrink = params.shrink as f64;
        let row = |(acc, best): &mut (SparseAcc, BestK), i: usize| {
            item_dots(&wt, &w, i, acc);
            best.begin(k);
            acc.drain(|j, dot| {
                let sim = if bm25 {
                    dot as f64
                } else {
                    let d = sqrt(n2[i] * n2[j as usize]) + shrink;
                    if d > 0.0 {
                        dot as f64 / d
                    } else {
                        0.0
                    }
                };
                if sim > 0.0 {
                    best.push(sim, j);
                }
            });
            let mut r: Vec<(u32, f32)> = best.finish().iter().map(|&(s, j)| (j, s as f32)).collect();
            r.sort_unstable_by_key(|e| e.0);
            r
        };
        let rows = map_rows(train.n_cols(), row);
        let neighbors = rows_to_csr(train.n_cols(), rows)?;
        Ok(ItemKnnModel::assemble(params, neighbors, train))
    }

    /// Plain cosine, ranked without square roots (the common case).
    fn fit_cosine(train: &CsrMatrix, item_users: &CsrMatrix, params: ItemKnnParams) -> Result<Self> {
        let k = params.k;
        let n2 = squared_row_norms(item_users);
        // Rank by dot² / ‖j‖² (orders like the cosine for dot > 0, exact for integer
        // weights), then turn the kept keys into cosines: cos = sqrt(key / ‖i‖²).
        let row = |(acc, best): &mut (SparseAcc, BestK), i: usize| {
            item_dots(train, item_users, i, acc);
            best.begin(k);
            acc.drain(|j, dot| {
                if dot > 0.0 && n2[j as usize] > 0.0 {
                    let dot = dot as f64;
                    best.push(dot * dot / n2[j as usize], j);
                }
            });
            let mut r: Vec<(u32, f32)> = best
                .finish()
                .iter()
                .map(|&(key, j)| (j, sqrt(key / n2[i]) as f32))
                .collect();
            r.sort_unstable_by_key(|e| e.0);
            r
        };
        let n_items = train.n_cols();
        let rows = map_rows(n_items, row);
        let neighbors = rows_to_csr(n_items, rows)?;
        Ok(ItemKnnModel::assemble(params, neighbors, train))
    }

    fn assemble(params: ItemKnnParams, neighbors: CsrMatrix, train: &CsrMatrix) -> Self {
        let lists = ItemItemModel::new(ModelKind::ItemKnn, params.to_json(), params.k, neighbors, train);
        ItemKnnModel { lists }
    }

    /// Neighbours kept per item.
    pub fn k(&self) -> usize {
        self.lists.k()
    }

    /// The neighbour matrix `S` (items × items): row `j` holds `j`'s top-K items and cosines.
    pub fn neighbors(&self) -> &CsrMatrix {
        self.lists.neighbors()
    }

    /// The training matrix (users × items) used to score known users.
    pub fn train(&self) -> &CsrMatrix {
        self.lists.train()
    }

    /// The model as an `item-knn` model file (ids and names are left for the caller to fill).
    pub fn to_model_file(&self) -> ModelFile {
        self.lists.to_model_file()
    }

    /// Loads an `item-knn` model file, checking its kind, shapes and parameters.
    pub fn from_model_file(file: &ModelFile) -> Result<Self> {
        file.expect_kind(ModelKind::ItemKnn)?;
        Ok(ItemKnnModel {
            lists: ItemItemModel::load(file)?,
        })
    }
}

impl ItemScorer for ItemKnnModel {
    fn n_items(&self) -> usize {
        self.lists.n_items()
    }

    fn score_user(&self, user: u32, out: &mut [f32], scratch: &mut ScoreScratch) {
        self.lists.score_user(user, out, scratch);
    }

    /// Duplicate items simply add up (the score is linear in the basket).
    fn score_items(&self, items: &[(u32, f32)], out: &mut [f32], scratch: &mut ScoreScratch) -> Result<()> {
        self.lists.score_items(items, out, scratch)
    }

    fn similar_to(&self, item: u32, out: &mut [f32], scratch: &mut ScoreScratch) -> Result<()> {
        self.lists.similar_to(item, out, scratch)
    }
}
