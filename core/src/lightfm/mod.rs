//! LightFM-style hybrid matrix factorization (Kula 2015) trained with WARP, k-OS WARP or BPR.
//!
//! # Model
//! Users and items are described by sparse, weighted feature rows (`F_u`, `F_i`; with no side
//! data, the identity: one feature per user / item). Every feature `f` has an embedding `e_f`
//! (`factors` long) and a bias `b_f`. A representation is the weighted sum over its features:
//!
//! ```text
//! p_u = Σ_f F_u[f]·e_f    b_u = Σ_f F_u[f]·b_f      (same for items: q_i, b_i)
//! score(u, i) = p_u · q_i + b_u + b_i
//! ```
//!
//! Feature matrices are used exactly as given, as LightFM's model does. LightFM's `Dataset`
//! helper (identity column per item plus the extra features, each row normalized to sum 1)
//! is [`with_identity`]. An item row beyond the interaction matrix's columns (or a column
//! without interactions) is a cold-start item: its representation comes from its features.
//!
//! # Training (as in LightFM 1.17's `_lightfm_fast.pyx`)
//! Embeddings start uniform in `[-0.5, 0.5) / factors`, biases at 0. Every epoch shuffles the
//! positive interactions (stored values `> 0`; sample weight 1 unless given) and, for each:
//! - **WARP**: draw items `j` uniformly, at most `max_sampled`, until one violates
//!   (`score(u, j) > score(u, i) − 1`) and is not a positive of `u`; a drawn positive counts
//!   as a draw (LightFM 1.17 only looks a violating draw up in the positives). On a violation
//!   at draw `N`, take a step on `L = min(10, w · ln(max(1, ⌊(n_items − 1) / N⌋))) ·
//!   (1 − s_ui + s_uj)` (`w` the sample weight; LightFM clips the weighted rank weight).
//! - **k-OS WARP**: sample `min(n, |P_u|)` positives of `u`, train on the `k`-th best scored
//!   one as WARP does (the same rank weight), with no sample weights.
//! - **BPR**: one negative, the item of a random training interaction that is not a positive
//!   of `u` (popularity-proportional, as LightFM); step on `L = −w · ln σ(s_ui − s_uj)`.
//!
//! Every step updates the positive and negative items' features and the user's features; the
//! user bias takes LightFM's `−∂L/∂s_uj` step though it cancels out of pairwise losses (it
//! never changes a ranking). Learning rates are per parameter:
//! - **Adagrad** (default): `θ −= lr / sqrt(G) · g`, then `G += g²`, `G` starting at 1.
//! - **Adadelta**: `G = ρG + (1−ρ)g²; Δ = sqrt(M + ε) / sqrt(G + ε) · g; M = ρM + (1−ρ)Δ²;
//!   θ −= Δ`.
//!
//! L2 regularization (`user_alpha`, `item_alpha`, default 0) is LightFM's lazy scheme: an
//! updated parameter is multiplied by `1 + α·lr_θ`, the side's global scale by
//! `1 + α·mean(lr)`, and at the end of each epoch (or when a scale passes 10⁶) every
//! parameter of the side is divided by its scale. While training, representations read
//! `stored / scale` (LightFM multiplies; the two agree to first order in `α`, and exactly at
//! the default `α = 0`). Arithmetic is f32 throughout (LightFM computes rates in f64).
//!
//! With `std` and more than one thread, epochs run Hogwild on rayon: the shuffled examples
//! are cut into chunks of 2048 that idle threads steal, all updating shared relaxed-atomic
//! parameter cells (lost updates are possible, as in LightFM; data races are not). Every
//! chunk has its own generator (seed, epoch, chunk), so one thread (`threads = 1`, or a
//! one-thread pool) gives bit-identical parameters for a seed. With regularization, the
//! scales are merged every 8 chunks.
//!
//! # Fold-in of a new user
//! [`LightFmModel::fold_in`] fits a fresh user embedding to a list of positive items with the
//! item side frozen: starting from zero, `epochs` shuffled passes of WARP steps (the same
//! sampling and rank weights as training, Adagrad with the training learning rate, a fixed
//! seed) that update only the user vector. The user bias is not fitted (it cancels out of
//! every comparison, so it cannot change a ranking): fold-in scores are `p·q_i + b_i`.
//! Deterministic and `no_std`.
//!
//! # Model file ([`crate::model_file::ModelKind::LightFm`])
//! | tensor | shape |
//! |---|---|
//! | `item_embeddings`, `item_biases` | `[n_item_features, factors]`, `[n_item_features]` |
//! | `user_embeddings`, `user_biases` | `[n_user_features, factors]`, `[n_user_features]` |
//! | `item_features.*`, `user_features.*` | CSR ([`ModelFile::put_csr`]); absent = identity |
//! | `item_representations`, `item_repr_biases` | `[n_items, factors]`, `[n_items]` |
//!
//! `params` holds [`LightFmParams::to_json`] plus `item_feature_names` / `user_feature_names`
//! when names were attached. A browser scores with the two precomputed item tensors alone.
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use serde_json::Value;

use crate::ann::ItemFactors;
use crate::error::{RecoError, Result};
use crate::kernels::dot;
use crate::matrix::CsrMatrix;
use crate::model_file::{ModelFile, ModelKind};
use crate::rng::Rng;
use crate::scorer::{check_basket, merge_repeated, ItemScorer, ScoreScratch};

mod params;
mod train;

pub use params::{LightFmParams, Loss, Schedule};
use train::{Ctx, Runner, Scales, Side};

/// Progress after one training epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Total number of epochs.
    pub epochs: usize,
    /// Positive interactions processed this epoch.
    pub examples: usize,
    /// Examples that found a violating negative and took a gradient step.
    pub updates: usize,
}

/// The identity features of `n` rows (what LightFM uses when no features are given).
pub fn identity(n: usize) -> CsrMatrix {
    let triples: Vec<(u32, u32, f32)> = (0..n as u32).map(|i| (i, i, 1.0)).collect();
    CsrMatrix::from_triples(n, n, &triples).expect("identity is valid")
}

/// LightFM `Dataset`-style features: column `r` is row `r`'s identity feature, columns
/// `n_rows + c` are `extra`'s columns; with `normalize`, every row is divided by its sum
/// (rows then sum to 1, so a representation is a weighted mean of its feature embeddings).
pub fn with_identity(extra: &CsrMatrix, normalize: bool) -> CsrMatrix {
    let n = extra.n_rows();
    let mut triples = Vec::with_capacity(n + extra.nnz());
    for r in 0..n {
        let (cols, vals) = extra.row(r);
        let total: f32 = 1.0 + vals.iter().sum::<f32>();
        let scale = if normalize && total != 0.0 {
            1.0 / total
        } else {
            1.0
        };
        triples.push((r as u32, r as u32, scale));
        for (&c, &v) in cols.iter().zip(vals) {
            triples.push((r as u32, n as u32 + c, v * scale));
        }
    }
    CsrMatrix::from_triples(n, n + extra.n_cols(), &triples).expect("indices are in range")
}

/// Trains a model with sample weight 1 for every positive interaction. See
/// [`fit_weighted`].
pub fn fit(
    interactions: &CsrMatrix,
    item_features: Option<&CsrMatrix>,
    user_features: Option<&CsrMatrix>,
    params: &LightFmParams,
    on_epoch: &mut dyn FnMut(EpochReport),
) -> Result<LightFmModel> {
    fit_weighted(interactions, None, item_features, user_features, params, on_epoch)
}

/// Trains a model on `interactions` (users × items; stored values `> 0` are positives).
///
/// `sample_weight`, when given, holds one finite weight `>= 0` per stored entry (in the
/// order of `interactions.data()`) scaling that example's loss (not with k-OS). Feature
/// matrices default to the identity; `item_features` may have more rows than
/// `interactions` has columns (cold-start items), `user_features` more rows than users.
pub fn fit_weighted(
    interactions: &CsrMatrix,
    sample_weight: Option<&[f32]>,
    item_features: Option<&CsrMatrix>,
    user_features: Option<&CsrMatrix>,
    params: &LightFmParams,
    on_epoch: &mut dyn FnMut(EpochReport),
) -> Result<LightFmModel> {
    params.check()?;
    let item_id;
    let items_m = match item_features {
        Some(m) => m,
        None => {
            item_id = identity(interactions.n_cols());
            &item_id
        }
    };
    let user_id;
    let users_m = match user_features {
        Some(m) => m,
        None => {
            user_id = identity(interactions.n_rows());
            &user_id
        }
    };
    if items_m.n_rows() < interactions.n_cols() {
        return Err(RecoError::InvalidData(format!(
            "item features have {} rows for {} items",
            items_m.n_rows(),
            interactions.n_cols()
        )));
    }
    if users_m.n_rows() < interactions.n_rows() {
        return Err(RecoError::InvalidData(format!(
            "user features have {} rows for {} users",
            users_m.n_rows(),
            interactions.n_rows()
        )));
    }
    if let Some(w) = sample_weight {
        if matches!(params.loss, Loss::WarpKos { .. }) {
            return Err(RecoError::InvalidParameter {
                name: "loss",
                reason: "warp-kos does not support sample weights (as in LightFM)".into(),
            });
        }
        if w.len() != interactions.nnz() {
            return Err(RecoError::InvalidData(format!(
                "{} sample weights for {} interactions",
                w.len(),
                interactions.nnz()
            )));
        }
        if let Some(bad) = w.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(RecoError::InvalidData(format!(
                "sample weight {bad} is not a finite number >= 0"
            )));
        }
    }
    let mut examples = Vec::with_capacity(interactions.nnz());
    for u in 0..interactions.n_rows() {
        let start = interactions.indptr()[u];
        let (cols, vals) = interactions.row(u);
        for (k, (&i, &v)) in cols.iter().zip(vals).enumerate() {
            if v > 0.0 {
                let w = sample_weight.map_or(1.0, |w| w[start + k]);
                examples.push((u as u32, i, w));
            }
        }
    }
    if examples.is_empty() {
        return Err(RecoError::InvalidData(
            "no positive interactions to train on".into(),
        ));
    }

    let k = params.factors;
    let mut rng = Rng::new(params.seed);
    let items = Side::init(items_m, k, params, params.item_alpha, &mut rng);
    let users = Side::init(users_m, k, params, params.user_alpha, &mut rng);
    let ctx = Ctx {
        items,
        users,
        interactions,
        k,
        loss: params.loss,
        adadelta: params.schedule == Schedule::Adadelta,
        lr: params.learning_rate,
        rho: params.rho,
        eps: params.epsilon,
        max_sampled: params.max_sampled,
    };
    let mut runner = Runner::new(&ctx, params.threads)?;
    let mut scales = Scales { user: 1.0, item: 1.0 };
    for epoch in 0..params.epochs {
        rng.shuffle(&mut examples);
        let updates = train::run_epoch(&ctx, &mut runner, params.seed, epoch, &examples, &mut scales);
        ctx.regularize(&mut scales);
        on_epoch(EpochReport {
            epoch: epoch + 1,
            epochs: params.epochs,
            examples: examples.len(),
            updates,
        });
    }
    let Ctx { items, users, .. } = ctx;
    LightFmModel::new(
        LightFmParams {
            threads: 0,
            ..params.clone()
        },
        interactions.n_rows().max(users_m.n_rows()),
        items_m.n_rows(),
        (items.emb.into_vec(), items.bias.into_vec()),
        (users.emb.into_vec(), users.bias.into_vec()),
        item_features.cloned(),
        user_features.cloned(),
    )
}

/// `out[r] = Σ_f F[r, f]·emb[f]` (rows of `k`) and `bias[r] = Σ_f F[r, f]·b[f]`; identity
/// when `features` is `None`.
fn representations(
    features: Option<&CsrMatrix>,
    n: usize,
    k: usize,
    emb: &[f32],
    b: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let Some(f) = features else {
        return (emb.to_vec(), b.to_vec());
    };
    let mut out = vec![0f32; n * k];
    let mut bias = vec![0f32; n];
    for r in 0..n {
        let (cols, vals) = f.row(r);
        for (&c, &v) in cols.iter().zip(vals) {
            let c = c as usize;
            crate::kernels::axpy(v, &emb[c * k..(c + 1) * k], &mut out[r * k..(r + 1) * k]);
            bias[r] += v * b[c];
        }
    }
    (out, bias)
}

/// A trained LightFM-style model with precomputed user and item representations.
#[derive(Debug, Clone, PartialEq)]
pub struct LightFmModel {
    params: LightFmParams,
    n_users: usize,
    n_items: usize,
    item_embeddings: Vec<f32>,
    item_biases: Vec<f32>,
    user_embeddings: Vec<f32>,
    user_biases: Vec<f32>,
    item_features: Option<CsrMatrix>,
    user_features: Option<CsrMatrix>,
    item_feature_names: Vec<String>,
    user_feature_names: Vec<String>,
    item_repr: Vec<f32>,
    item_repr_bias: Vec<f32>,
    item_norms: Vec<f32>,
    user_repr: Vec<f32>,
    user_repr_bias: Vec<f32>,
}

impl LightFmModel {
    fn new(
        params: LightFmParams,
        n_users: usize,
        n_items: usize,
        (item_embeddings, item_biases): (Vec<f32>, Vec<f32>),
        (user_embeddings, user_biases): (Vec<f32>, Vec<f32>),
        item_features: Option<CsrMatrix>,
        user_features: Option<CsrMatrix>,
    ) -> Result<Self> {
        let k = params.factors;
        let (item_repr, item_repr_bias) =
            representations(item_features.as_ref(), n_items, k, &item_embeddings, &item_biases);
        let (user_repr, user_repr_bias) =
            representations(user_features.as_ref(), n_users, k, &user_embeddings, &user_biases);
        let mut m = LightFmModel {
            params,
            n_users,
            n_items,
            item_embeddings,
            item_biases,
            user_embeddings,
            user_biases,
            item_features,
            user_features,
            item_feature_names: Vec::new(),
            user_feature_names: Vec::new(),
            item_repr,
            item_repr_bias,
            item_norms: Vec::new(),
            user_repr,
            user_repr_bias,
        };
        m.finish()?;
        Ok(m)
    }

    /// Computes item norms; fails when training diverged (non-finite parameters).
    fn finish(&mut self) -> Result<()> {
        let k = self.params.factors;
        if self
            .item_repr
            .iter()
            .chain(&self.item_repr_bias)
            .chain(&self.user_repr)
            .chain(&self.user_repr_bias)
            .any(|v| !v.is_finite())
        {
            return Err(RecoError::InvalidData(
                "training diverged (non-finite parameters); lower learning_rate".into(),
            ));
        }
        self.item_norms = self
            .item_repr
            .chunks_exact(k)
            .map(|q| train::sqrt32(dot(q, q)))
            .collect();
        Ok(())
    }

    /// The hyperparameters the model was trained with (`threads` reads 0: a model does not
    /// remember how it was trained in parallel).
    pub fn params(&self) -> &LightFmParams {
        &self.params
    }

    /// Embedding dimension.
    pub fn factors(&self) -> usize {
        self.params.factors
    }

    /// Number of users (rows of the user feature matrix).
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Number of item features (rows of `item_embeddings`).
    pub fn n_item_features(&self) -> usize {
        self.item_biases.len()
    }

    /// Number of user features (rows of `user_embeddings`).
    pub fn n_user_features(&self) -> usize {
        self.user_biases.len()
    }

    /// Item feature embeddings, `[n_item_features × factors]` row-major.
    pub fn item_embeddings(&self) -> &[f32] {
        &self.item_embeddings
    }

    /// User feature embeddings, `[n_user_features × factors]` row-major.
    pub fn user_embeddings(&self) -> &[f32] {
        &self.user_embeddings
    }

    /// Item feature biases.
    pub fn item_biases(&self) -> &[f32] {
        &self.item_biases
    }

    /// User feature biases.
    pub fn user_biases(&self) -> &[f32] {
        &self.user_biases
    }

    /// Item `i`'s representation `q_i` and bias `b_i` (panics if out of range).
    pub fn item_representation(&self, item: u32) -> (&[f32], f32) {
        let k = self.params.factors;
        let i = item as usize;
        (&self.item_repr[i * k..(i + 1) * k], self.item_repr_bias[i])
    }

    /// User `u`'s representation `p_u` and bias `b_u` (panics if out of range).
    pub fn user_representation(&self, user: u32) -> (&[f32], f32) {
        let k = self.params.factors;
        let u = user as usize;
        (&self.user_repr[u * k..(u + 1) * k], self.user_repr_bias[u])
    }

    /// Names of item features (empty unless attached).
    pub fn item_feature_names(&self) -> &[String] {
        &self.item_feature_names
    }

    /// Names of user features (empty unless attached).
    pub fn user_feature_names(&self) -> &[String] {
        &self.user_feature_names
    }

    /// Attaches feature names (each list empty or one name per feature column).
    pub fn with_feature_names(mut self, item: Vec<String>, user: Vec<String>) -> Result<Self> {
        for (names, n, side) in [
            (&item, self.n_item_features(), "item"),
            (&user, self.n_user_features(), "user"),
        ] {
            if !names.is_empty() && names.len() != n {
                return Err(RecoError::InvalidData(format!(
                    "{} {side} feature names for {n} {side} features",
                    names.len()
                )));
            }
        }
        self.item_feature_names = item;
        self.user_feature_names = user;
        Ok(self)
    }

    /// `out[i] = p · q_i + bias + b_i` for every item.
    fn score_repr(&self, p: &[f32], bias: f32, out: &mut [f32]) {
        let k = self.params.factors;
        for ((o, q), &b) in out
            .iter_mut()
            .zip(self.item_repr.chunks_exact(k))
            .zip(&self.item_repr_bias)
        {
            *o = dot(p, q) + bias + b;
        }
    }

    /// Scores every item for a user described by user-feature weights `(feature, weight)`
    /// (a user unseen in training, when the model was trained with user features).
    pub fn score_user_features(&self, features: &[(u32, f32)], out: &mut [f32]) -> Result<()> {
        let k = self.params.factors;
        let mut p = vec![0f32; k];
        let mut bias = 0.0;
        for &(f, w) in features {
            let f = f as usize;
            if f >= self.n_user_features() || !w.is_finite() {
                return Err(RecoError::InvalidData(format!(
                    "user feature ({f}, {w}) is out of range (0..{}) or not finite",
                    self.n_user_features()
                )));
            }
            crate::kernels::axpy(w, &self.user_embeddings[f * k..(f + 1) * k], &mut p);
            bias += w * self.user_biases[f];
        }
        self.score_repr(&p, bias, out);
        Ok(())
    }

    /// Fits a user embedding to `(item, weight)` positives with the items frozen (see the
    /// module docs); weights `<= 0` are ignored, repeated items summed. Returns the vector.
    pub fn fold_in(&self, items: &[(u32, f32)]) -> Result<Vec<f32>> {
        let k = self.params.factors;
        let n_items = self.n_items;
        check_basket(items, n_items)?;
        let mut pos = items.to_vec();
        merge_repeated(&mut pos);
        let ids: Vec<u32> = pos.iter().map(|p| p.0).collect();
        let mut user = vec![0f32; k];
        let pos: Vec<(u32, f32)> = pos.into_iter().filter(|p| p.1 > 0.0).collect();
        if pos.is_empty() || ids.len() >= n_items {
            return Ok(user);
        }
        let mut acc = vec![1f32; k];
        let mut dir = vec![0f32; k];
        let mut rng = Rng::new(self.params.seed);
        let mut order: Vec<usize> = (0..pos.len()).collect();
        let lr = self.params.learning_rate;
        for _ in 0..self.params.epochs {
            rng.shuffle(&mut order);
            for &o in &order {
                let (i, w) = pos[o];
                let (qi, bi) = self.item_representation(i);
                let s_pos = dot(&user, qi) + bi;
                for sampled in 1..=self.params.max_sampled {
                    let j = rng.below(n_items as u32);
                    let (qj, bj) = self.item_representation(j);
                    if dot(&user, qj) + bj > s_pos - 1.0 && ids.binary_search(&j).is_err() {
                        let loss = train::warp_loss(w, n_items - 1, sampled);
                        for ((d, &a), &b) in dir.iter_mut().zip(qj).zip(qi) {
                            *d = a - b;
                        }
                        crate::kernels::adagrad_step(lr, loss, &dir, &mut user, &mut acc);
                        break;
                    }
                }
            }
        }
        Ok(user)
    }

    /// Stores the model (see the module docs for the tensors). Ids and names are the
    /// caller's to fill in.
    pub fn to_model_file(&self) -> ModelFile {
        let k = self.params.factors;
        let mut file = ModelFile::new(ModelKind::LightFm);
        let mut params = self.params.to_json();
        if let Value::Object(map) = &mut params {
            if !self.item_feature_names.is_empty() {
                map.insert(
                    "item_feature_names".into(),
                    self.item_feature_names.clone().into(),
                );
            }
            if !self.user_feature_names.is_empty() {
                map.insert(
                    "user_feature_names".into(),
                    self.user_feature_names.clone().into(),
                );
            }
        }
        file.params = params;
        file.training = serde_json::json!({
            "users": self.n_users,
            "items": self.n_items,
            "item_features": self.n_item_features(),
            "user_features": self.n_user_features(),
        });
        file.put_f32(
            "item_embeddings",
            &[self.n_item_features(), k],
            self.item_embeddings.clone(),
        );
        file.put_f32("item_biases", &[self.n_item_features()], self.item_biases.clone());
        file.put_f32(
            "user_embeddings",
            &[self.n_user_features(), k],
            self.user_embeddings.clone(),
        );
        file.put_f32("user_biases", &[self.n_user_features()], self.user_biases.clone());
        if let Some(f) = &self.item_features {
            file.put_csr("item_features", f);
        }
        if let Some(f) = &self.user_features {
            file.put_csr("user_features", f);
        }
        file.put_f32("item_representations", &[self.n_items, k], self.item_repr.clone());
        file.put_f32("item_repr_biases", &[self.n_items], self.item_repr_bias.clone());
        file
    }

    /// Loads a model written by [`LightFmModel::to_model_file`]: [`RecoError::WrongModelKind`]
    /// for another kind, [`RecoError::CorruptModel`] for missing or inconsistent tensors.
    pub fn from_model_file(file: &ModelFile) -> Result<Self> {
        file.expect_kind(ModelKind::LightFm)?;
        let corrupt = |m: String| RecoError::CorruptModel(m);
        let params =
            LightFmParams::from_json(&file.params).map_err(|e| corrupt(format!("lightfm params: {e}")))?;
        let k = params.factors;
        let names = |key: &str| -> Result<Vec<String>> {
            match file.params.get(key) {
                None => Ok(Vec::new()),
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| corrupt(format!("params `{key}` is not a list of strings: {e}"))),
            }
        };
        let item_emb = file.f32("item_embeddings", &[None, Some(k)])?;
        let n_if = item_emb.len() / k;
        let item_b = file.f32("item_biases", &[Some(n_if)])?;
        let user_emb = file.f32("user_embeddings", &[None, Some(k)])?;
        let n_uf = user_emb.len() / k;
        let user_b = file.f32("user_biases", &[Some(n_uf)])?;
        let features = |prefix: &str, n_cols: usize| -> Result<Option<CsrMatrix>> {
            if !file.tensors.contains_key(&format!("{prefix}.shape")) {
                return Ok(None);
            }
            let m = file.csr(prefix)?;
            if m.n_cols() != n_cols {
                return Err(corrupt(format!(
                    "`{prefix}` has {} columns for {n_cols} feature embeddings",
                    m.n_cols()
                )));
            }
            Ok(Some(m))
        };
        let item_features = features("item_features", n_if)?;
        let user_features = features("user_features", n_uf)?;
        let n_items = item_features.as_ref().map_or(n_if, CsrMatrix::n_rows);
        let n_users = user_features.as_ref().map_or(n_uf, CsrMatrix::n_rows);
        if !file.user_ids.is_empty() && file.user_ids.len() != n_users {
            return Err(corrupt(format!(
                "{} user ids for {n_users} users",
                file.user_ids.len()
            )));
        }
        let item_repr = file.f32("item_representations", &[Some(n_items), Some(k)])?;
        let item_repr_bias = file.f32("item_repr_biases", &[Some(n_items)])?;
        let (user_repr, user_repr_bias) =
            representations(user_features.as_ref(), n_users, k, user_emb, user_b);
        let mut m = LightFmModel {
            params,
            n_users,
            n_items,
            item_embeddings: item_emb.to_vec(),
            item_biases: item_b.to_vec(),
            user_embeddings: user_emb.to_vec(),
            user_biases: user_b.to_vec(),
            item_features,
            user_features,
            item_feature_names: Vec::new(),
            user_feature_names: Vec::new(),
            item_repr: item_repr.to_vec(),
            item_repr_bias: item_repr_bias.to_vec(),
            item_norms: Vec::new(),
            user_repr,
            user_repr_bias,
        };
        m.finish().map_err(|_| corrupt("non-finite parameters".into()))?;
        m.with_feature_names(names("item_feature_names")?, names("user_feature_names")?)
            .map_err(|e| corrupt(format!("{e}")))
    }
}

impl ItemScorer for LightFmModel {
    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: u32, out: &mut [f32], _scratch: &mut ScoreScratch) {
        let (p, b) = self.user_representation(user);
        self.score_repr(p, b, out);
    }

    /// The fold-in is a short SGD run; its few small buffers are not worth keeping in `scratch`.
    fn score_items(&self, items: &[(u32, f32)], out: &mut [f32], _scratch: &mut ScoreScratch) -> Result<()> {
        let p = self.fold_in(items)?;
        self.score_repr(&p, 0.0, out);
        Ok(())
    }

    fn item_factors(&self) -> Option<ItemFactors<'_>> {
        Some(ItemFactors {
            rows: &self.item_repr,
            dim: self.params.factors,
            bias: Some(&self.item_repr_bias),
        })
    }

    fn user_query(&self, user: u32, x: &mut Vec<f32>, _scratch: &mut ScoreScratch) -> Option<f32> {
        let (p, b) = self.user_representation(user);
        x.clear();
        x.extend_from_slice(p);
        Some(b)
    }

    fn basket_query(
        &self,
        items: &[(u32, f32)],
        x: &mut Vec<f32>,
        _scratch: &mut ScoreScratch,
    ) -> Result<Option<f32>> {
        *x = self.fold_in(items)?;
        Ok(Some(0.0))
    }

    fn similar_to(&self, item: u32, out: &mut [f32], _scratch: &mut ScoreScratch) -> Result<()> {
        if item as usize >= self.n_items {
            return Err(RecoError::UnknownItem(format!(
                "index {item} (model has {} items)",
                self.n_items
            )));
        }
        let (q, _) = self.item_representation(item);
        let nq = self.item_norms[item as usize];
        let k = self.params.factors;
        for ((o, r), &nr) in out
            .iter_mut()
            .zip(self.item_repr.chunks_exact(k))
            .zip(&self.item_norms)
        {
            *o = if nq > 0.0 && nr > 0.0 {
                dot(q, r) / (nq * nr)
            } else {
                0.0
            };
        }
        Ok(())
    }
}
