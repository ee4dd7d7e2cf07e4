//! EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a closed-form
//! item-item model.
//!
//! With `X` the training matrix (users × items) and `λ` the L2 penalty:
//!
//! * `G = XᵀX + λI`, `P = G⁻¹` (a dense items × items solve, in f64, through the Cholesky
//!   factor of `G`, with [faer](https://docs.rs/faer));
//! * `B[i, j] = −P[i, j] / P[j, j]` for `i ≠ j`, `B[i, i] = 0` (the minimizer of
//!   `‖X − XB‖² + λ‖B‖²` subject to a zero diagonal);
//! * every row `i` of `B` keeps its `k` weights of largest magnitude (ties by lower item
//!   index); both signs matter: a negative weight pushes an item down;
//! * scores are `x_u · B` ([`crate::item_item`]).
//!
//! The solve needs two dense `n × n` f64 matrices (`16·n²` bytes, 214 MB for 3,659 items) and
//! about `n³` floating-point operations; [`fit`] refuses catalogs above [`MAX_ITEMS`] items
//! (6.4 GB) with an error naming the memory it would need. Training needs `std` (faer and
//! rayon); a trained model is scored anywhere, `no_std` included.
use alloc::format;
#[cfg(feature = "std")]
use alloc::vec::Vec;

use crate::error::{RecoError, Result};
#[cfg(feature = "std")]
use crate::item_item::ItemItemModel;
#[cfg(feature = "std")]
use crate::matrix::CsrMatrix;
use crate::neighbors::check_k;

/// The largest catalog [`fit`] accepts (its dense solve needs `16·n²` bytes: 6.4 GB here).
pub const MAX_ITEMS: usize = 20_000;

/// Hyperparameters of EASE (see the [module docs](self) for the formula).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EaseParams {
    /// L2 penalty `λ` added to the diagonal of `XᵀX` (default 500.0; finite, > 0).
    pub lambda: f32,
    /// Weights kept per item, by magnitude (default 200; >= 1).
    pub k: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            lambda: 500.0,
            k: 200,
        }
    }
}

impl EaseParams {
    /// Checks every hyperparameter's range; fails with [`RecoError::InvalidParameter`].
    pub fn check(&self) -> Result<()> {
        if !(self.lambda.is_finite() && self.lambda > 0.0) {
            return Err(RecoError::InvalidParameter {
                name: "lambda",
                reason: format!("{} must be finite and > 0", self.lambda),
            });
        }
        check_k(self.k)
    }
}

/// Bytes the dense solve of an `n_items` catalog needs (two `n × n` f64 matrices).
pub fn solve_bytes(n_items: usize) -> u64 {
    16 * (n_items as u64) * (n_items as u64)
}

/// Fails with [`RecoError::InvalidData`] when the catalog is too large for EASE's dense solve.
pub fn check_catalog(n_items: usize) -> Result<()> {
    if n_items > MAX_ITEMS {
        return Err(RecoError::InvalidData(format!(
            "EASE solves a dense items x items system: {n_items} items would need about {:.1} GB \
             (16 bytes x items²); reco trains EASE on at most {MAX_ITEMS} items. Use rp3beta or \
             item-knn for this catalog",
            solve_bytes(n_items) as f64 / 1e9
        )));
    }
    Ok(())
}

/// Trains EASE on the training matrix (users × items, weights as given). Fails on invalid
/// hyperparameters, a catalog above [`MAX_ITEMS`], or an empty catalog.
#[cfg(feature = "std")]
pub fn fit(train: &CsrMatrix, params: EaseParams) -> Result<ItemItemModel> {
    use faer::{Mat, Side};

    params.check()?;
    let n = train.n_cols();
    check_catalog(n)?;
    if n == 0 {
        return Err(RecoError::InvalidData("EASE needs at least one item".into()));
    }
    // The lower triangle of G = XᵀX + λI (column-major: column b holds rows a >= b).
    let mut g = Mat::<f64>::zeros(n, n);
    for u in 0..train.n_rows() {
        let (is, ws) = train.row(u);
        for (t, (&b, &wb)) in is.iter().zip(ws).enumerate() {
            let col = g.col_as_slice_mut(b as usize);
            let wb = wb as f64;
            for (&a, &wa) in is[t..].iter().zip(&ws[t..]) {
                col[a as usize] += wa as f64 * wb;
            }
        }
    }
    for i in 0..n {
        g.col_as_slice_mut(i)[i] += params.lambda as f64;
    }
    let llt = g.llt(Side::Lower).map_err(|e| {
        RecoError::InvalidData(format!(
            "EASE: XᵀX + λI is not positive definite ({e:?}); increase lambda"
        ))
    })?;
    drop(g);
    let p = {
        use faer::linalg::solvers::DenseSolveCore;
        llt.inverse()
    };
    drop(llt);
    let diag: Vec<f64> = (0..n).map(|i| p.col_as_slice(i)[i]).collect();
    let k = params.k;
    // Row i of B from column i of the symmetric P: B[i, j] = −P[j, i] / P[j, j].
    let row = |buf: &mut Vec<(f64, u32)>, i: usize| {
        buf.clear();
        let col = p.col_as_slice(i);
        for (j, (&pji, &pjj)) in col.iter().zip(&diag).enumerate() {
            let b = -pji / pjj;
            if j != i && b != 0.0 {
                buf.push((b, j as u32));
            }
        }
        crate::neighbors::keep_best(buf, k, |x, y| y.0.abs().total_cmp(&x.0.abs()).then(x.1.cmp(&y.1)));
        let mut r: Vec<(u32, f32)> = buf.iter().map(|&(b, j)| (j, b as f32)).collect();
        r.sort_unstable_by_key(|e| e.0);
        r
    };
    let rows = crate::neighbors::map_rows(n, row);
    let neighbors = crate::neighbors::rows_to_csr(n, rows)?;
    Ok(ItemItemModel::new(
        crate::model_file::ModelKind::Ease,
        serde_json::json!({ "lambda": crate::model_file::f32_to_json(params.lambda), "k": k }),
        k,
        neighbors,
        train,
    ))
}
