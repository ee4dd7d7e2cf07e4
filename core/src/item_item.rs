//! Models that score through a sparse item × item weight matrix `W`: [EASE](crate::ease),
//! [RP3beta](crate::rp3beta), and item-KNN ([`crate::knn::ItemKnnModel`] wraps one).
//!
//! * Row `j` of `W` holds the items that item `j` points to, with their weights (at most `k`
//!   per row, the rest pruned at training time).
//! * `score(u, i) = Σ_{j ∈ items(u)} r_uj · W[j, i]` (the user's training row times `W`); an
//!   anonymous basket is scored the same way, repeated items adding up.
//! * `similar_to(j)` is row `j` of `W` (0 for items not in it).
//!
//! # Model files
//!
//! Kinds `ease`, `rp3beta` (and `item-knn`): CSR `neighbors` (items × items, `W`), CSR `train` (users × items,
//! to score known users), and the hyperparameters in `params` (each model documents its own;
//! both have `k`).
use alloc::format;

use serde_json::Value;

use crate::error::{RecoError, Result};
use crate::matrix::CsrMatrix;
use crate::model_file::{ModelFile, ModelKind};
use crate::neighbors::{check_ids, k_from_file, training_summary};
use crate::scorer::{check_basket, ItemScorer, ScoreScratch};

/// A trained item × item model (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct ItemItemModel {
    kind: ModelKind,
    params: Value,
    k: usize,
    neighbors: CsrMatrix,
    train: CsrMatrix,
}

impl ItemItemModel {
    /// Wraps a weight matrix built by a model's `fit`.
    pub(crate) fn new(
        kind: ModelKind,
        params: Value,
        k: usize,
        neighbors: CsrMatrix,
        train: &CsrMatrix,
    ) -> Self {
        ItemItemModel {
            kind,
            params,
            k,
            neighbors,
            train: train.clone(),
        }
    }

    /// Which model trained this matrix ([`ModelKind::Ease`], [`ModelKind::Rp3Beta`] or
    /// [`ModelKind::ItemKnn`]).
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The hyperparameters it was trained with (a JSON object, as stored in the model file).
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// The most weights kept per item.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The weight matrix `W` (items × items).
    pub fn neighbors(&self) -> &CsrMatrix {
        &self.neighbors
    }

    /// The training matrix (users × items) used to score known users.
    pub fn train(&self) -> &CsrMatrix {
        &self.train
    }

    /// `out = Σ_j w_j · W[j, :]` over the `(j, w_j)` pairs of `row`.
    fn score_row(&self, row: impl Iterator<Item = (u32, f32)>, out: &mut [f32]) {
        assert_eq!(
            out.len(),
            self.n_items(),
            "output length must equal the number of items"
        );
        out.fill(0.0);
        for (j, w) in row {
            let (is, ws) = self.neighbors.row(j as usize);
            for (&i, &s) in is.iter().zip(ws) {
                out[i as usize] += w * s;
            }
        }
    }

    /// The model as a model file of its kind (ids and names are left for the caller to fill).
    pub fn to_model_file(&self) -> ModelFile {
        let mut f = ModelFile::new(self.kind);
        f.params = self.params.clone();
        f.training = training_summary(&self.train);
        f.put_csr("neighbors", &self.neighbors);
        f.put_csr("train", &self.train);
        f
    }

    /// Loads an `ease` or `rp3beta` model file, checking its shapes and parameters.
    pub fn from_model_file(file: &ModelFile) -> Result<Self> {
        if !matches!(file.kind, ModelKind::Ease | ModelKind::Rp3Beta) {
            return Err(RecoError::WrongModelKind {
                expected: "ease or rp3beta".into(),
                found: file.kind.as_str().into(),
            });
        }
        Self::load(file)
    }

    /// Loads the `neighbors` and `train` matrices of a file of any item × item kind (item-KNN
    /// too), checking their shapes, the row lengths against `k` and the weights.
    pub(crate) fn load(file: &ModelFile) -> Result<Self> {
        let k = k_from_file(file)?;
        let neighbors = file.csr("neighbors")?;
        let train = file.csr("train")?;
        let n = neighbors.n_rows();
        if neighbors.n_cols() != n || train.n_cols() != n {
            return Err(RecoError::CorruptModel(format!(
                "{} model file: `neighbors` is {n} x {}, `train` is {} x {}; expected items x \
                 items and users x items",
                file.kind,
                neighbors.n_cols(),
                train.n_rows(),
                train.n_cols()
            )));
        }
        if let Some(r) = (0..n).find(|&r| neighbors.row_nnz(r) > k) {
            return Err(RecoError::CorruptModel(format!(
                "{} model file: item {r} has {} weights, more than k = {k}",
                file.kind,
                neighbors.row_nnz(r)
            )));
        }
        if let Some(v) = neighbors.data().iter().find(|v| !v.is_finite()) {
            return Err(RecoError::CorruptModel(format!(
                "{} model file: `neighbors` holds the non-finite weight {v}",
                file.kind
            )));
        }
        check_ids(file, train.n_rows(), n)?;
        Ok(ItemItemModel {
            kind: file.kind,
            params: file.params.clone(),
            k,
            neighbors,
            train,
        })
    }
}

impl ItemScorer for ItemItemModel {
    fn n_items(&self) -> usize {
        self.neighbors.n_rows()
    }

    fn score_user(&self, user: u32, out: &mut [f32], _scratch: &mut ScoreScratch) {
        let (cols, vals) = self.train.row(user as usize);
        self.score_row(cols.iter().copied().zip(vals.iter().copied()), out);
    }

    fn score_items(&self, items: &[(u32, f32)], out: &mut [f32], _scratch: &mut ScoreScratch) -> Result<()> {
        check_basket(items, self.n_items())?;
        self.score_row(items.iter().copied(), out);
        Ok(())
    }

    fn similar_to(&self, item: u32, out: &mut [f32], _scratch: &mut ScoreScratch) -> Result<()> {
        let n = self.n_items();
        if item as usize >= n {
            return Err(RecoError::UnknownItem(format!(
                "{item} (the model has {n} items)"
            )));
        }
        assert_eq!(out.len(), n, "output length must equal the number of items");
        out.fill(0.0);
        let (is, ws) = self.neighbors.row(item as usize);
        for (&i, &w) in is.iter().zip(ws) {
            out[i as usize] = w;
        }
        Ok(())
    }

    /// RP3beta's weights are positive: a score of 0 means no walk reaches the item, and the
    /// slot is filled from popularity. EASE's weights have both signs, so it never falls back.
    fn needs_fallback_below_zero(&self) -> bool {
        self.kind == ModelKind::Rp3Beta
    }
}
