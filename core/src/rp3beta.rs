//! RP3beta (Paudel, Christoffel, Newell, Bernstein, "Updatable, accurate, diverse, and scalable
//! recommendations for interactive applications", ACM TiiS 2017): item-item weights from a
//! three-step random walk user → item → user → item, with the popularity of the target item
//! discounted.
//!
//! With `R` the training matrix (users × items, weights as given), `d_j` the number of users of
//! item `j`, and `α`, `β` the hyperparameters:
//!
//! * `P_ui = (r_ui / Σ_j r_uj)^α` (user → item: the user's row, L1-normalized);
//! * `P_iu = (1 / d_i)^α` for every user `u` of `i` (item → user: uniform over its users);
//! * `W[i, j] = d_j^(−β) · Σ_u P_iu · P_uj` for `j ≠ i`, `W[i, i] = 0`;
//! * every row keeps its `k` largest positive weights (ties by lower item index) and, with
//!   `normalize` (the default), is then divided by its sum (L1);
//! * scores are `r_u · W` ([`crate::item_item`]); a score of 0 (no walk reaches the item) falls
//!   back to popularity.
//!
//! This is the formulation of the reference implementation used in Dacrema, Cremonesi, Jannach
//! (RecSys 2019), `RP3betaRecommender` (`normalize_similarity=True`). Rows are computed through
//! the item → users index with a sparse accumulator (cost `Σ_u |items(u)|²`), in parallel under
//! `std`; the result does not depend on the thread count.
use alloc::format;
use alloc::vec::Vec;

use crate::error::{RecoError, Result};
use crate::item_item::ItemItemModel;
use crate::matrix::CsrMatrix;
use crate::model_file::f32_to_json;
use crate::model_file::ModelKind;
use crate::neighbors::{best_first, check_k, keep_best, map_rows, rows_to_csr, SparseAcc};

/// Hyperparameters of RP3beta (see the [module docs](self) for the formula).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rp3betaParams {
    /// Exponent of the transition probabilities (default 1.0; finite, >= 0).
    pub alpha: f32,
    /// Popularity discount of the target item (default 0.6; finite, >= 0).
    pub beta: f32,
    /// Weights kept per item (default 100; >= 1).
    pub k: usize,
    /// Divide every row by its sum after pruning (default true).
    pub normalize: bool,
}

impl Default for Rp3betaParams {
    fn default() -> Self {
        Rp3betaParams {
            alpha: 1.0,
            beta: 0.6,
            k: 100,
            normalize: true,
        }
    }
}

impl Rp3betaParams {
    /// Checks every hyperparameter's range; fails with [`RecoError::InvalidParameter`].
    pub fn check(&self) -> Result<()> {
        for (name, v) in [("alpha", self.alpha), ("beta", self.beta)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(RecoError::InvalidParameter {
                    name,
                    reason: format!("{v} must be finite and >= 0"),
                });
            }
        }
        check_k(self.k)
    }

    fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "alpha": f32_to_json(self.alpha),
            "beta": f32_to_json(self.beta),
            "k": self.k,
            "normalize": self.normalize,
        })
    }
}

/// Trains RP3beta on the training matrix (users × items). Fails on invalid hyperparameters or
/// a weight that is not finite and positive.
pub fn fit(train: &CsrMatrix, params: Rp3betaParams) -> Result<ItemItemModel> {
    params.check()?;
    if let Some(w) = train.data().iter().find(|w| !(w.is_finite() && **w > 0.0)) {
        return Err(RecoError::InvalidData(format!(
            "rp3beta needs finite positive interaction weights, found {w}"
        )));
    }
    let alpha = params.alpha as f64;
    let pow = |x: f64| if alpha == 1.0 { x } else { libm::pow(x, alpha) };
    // P_ui, with the pattern of `train`.
    let mut pui = Vec::with_capacity(train.nnz());
    for u in 0..train.n_rows() {
        let ws = train.row(u).1;
        let sum: f64 = ws.iter().map(|&w| w as f64).sum();
        pui.extend(ws.iter().map(|&w| pow(w as f64 / sum) as f32));
    }
    let pui = CsrMatrix::from_parts(
        train.n_rows(),
        train.n_cols(),
        train.indptr().to_vec(),
        train.indices().to_vec(),
        pui,
    )?;
    let item_users = train.transpose();
    let n_items = train.n_cols();
    let penalty: Vec<f64> = (0..n_items)
        .map(|j| match item_users.row_nnz(j) {
            0 => 0.0,
            d => libm::pow(d as f64, -(params.beta as f64)),
        })
        .collect();
    let k = params.k;
    let row = |(acc, buf): &mut (SparseAcc, Vec<(f64, u32)>), i: usize| {
        let users = item_users.row(i).0;
        if users.is_empty() {
            return Vec::new();
        }
        let piu = pow(1.0 / users.len() as f64) as f32;
        acc.begin(n_items);
        for &u in users {
            let (js, ps) = pui.row(u as usize);
            acc.add_scaled(js, ps, piu);
        }
        buf.clear();
        acc.drain(|j, v| {
            let w = v as f64 * penalty[j as usize];
            if j as usize != i && w > 0.0 {
                buf.push((w, j));
            }
        });
        keep_best(buf, k, best_first);
        let norm = if params.normalize {
            buf.iter().map(|e| e.0).sum::<f64>()
        } else {
            1.0
        };
        let mut r: Vec<(u32, f32)> = buf.iter().map(|&(w, j)| (j, (w / norm) as f32)).collect();
        r.sort_unstable_by_key(|e| e.0);
        r
    };
    let rows = map_rows(n_items, row);
    let neighbors = rows_to_csr(n_items, rows)?;
    Ok(ItemItemModel::new(
        ModelKind::Rp3Beta,
        params.to_json(),
        k,
        neighbors,
        train,
    ))
}
