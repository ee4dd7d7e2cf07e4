//! Building blocks shared by the neighbourhood models (user-KNN, item-KNN, EASE, RP3beta):
//! a sparse accumulator, top-k selection, per-item row construction (parallel under `std`)
//! and the model-file checks they have in common. Depends on no model module.
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::error::{RecoError, Result};
use crate::matrix::CsrMatrix;
use crate::model_file::ModelFile;

/// Higher key first, then lower index.
#[inline]
pub(crate) fn best_first(a: &(f64, u32), b: &(f64, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Keeps the best `k` entries of `v` (the smallest by `order`), sorted best first: a linear
/// selection, then a sort of the `k` kept.
pub(crate) fn keep_best<T>(v: &mut Vec<T>, k: usize, order: impl Fn(&T, &T) -> Ordering) {
    if v.len() > k {
        if k == 0 {
            v.clear();
            return;
        }
        v.select_nth_unstable_by(k - 1, &order);
        v.truncate(k);
    }
    v.sort_unstable_by(order);
}

pub(crate) fn check_k(k: usize) -> Result<()> {
    if k == 0 {
        return Err(RecoError::InvalidParameter {
            name: "k",
            reason: "must be at least 1 (got 0)".to_string(),
        });
    }
    Ok(())
}

pub(crate) fn k_from_file(file: &ModelFile) -> Result<usize> {
    let k = file.params.get("k");
    match k.and_then(serde_json::Value::as_u64) {
        Some(k) if (1..=u32::MAX as u64).contains(&k) => Ok(k as usize),
        _ => Err(RecoError::CorruptModel(format!(
            "{} model file: parameter `k` is {k:?}, expected an integer >= 1",
            file.kind
        ))),
    }
}

pub(crate) fn check_ids(file: &ModelFile, n_users: usize, n_items: usize) -> Result<()> {
    let bad = |what: &str, found: usize, expected: usize| {
        Err(RecoError::CorruptModel(format!(
            "{} model file has {found} {what} ids for {expected} {what}s",
            file.kind
        )))
    };
    if !file.item_ids.is_empty() && file.item_ids.len() != n_items {
        return bad("item", file.item_ids.len(), n_items);
    }
    if !file.user_ids.is_empty() && file.user_ids.len() != n_users {
        return bad("user", file.user_ids.len(), n_users);
    }
    Ok(())
}

pub(crate) fn training_summary(train: &CsrMatrix) -> serde_json::Value {
    serde_json::json!({
        "users": train.n_rows(),
        "items": train.n_cols(),
        "interactions": train.nnz(),
    })
}

/// A dense accumulator that lists the slots it touched. All values are zero between queries;
/// [`SparseAcc::drain`] hands out the non-zero ones and zeroes them again, so starting a query
/// costs nothing. The touched list is written without branches (a slot is listed when it is
/// zero before an addition; a slot listed twice is drained once), which measured faster than
/// both generation stamps and a scan of all slots.
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseAcc {
    vals: Vec<f32>,
    touched: Vec<u32>,
    len: usize,
}

impl SparseAcc {
    /// Starts a query over `n` slots that will make at most `adds` additions.
    pub(crate) fn begin(&mut self, n: usize, adds: usize) {
        if self.vals.len() < n {
            self.vals.resize(n, 0.0);
        }
        if self.touched.len() < adds {
            self.touched.resize(adds, 0);
        }
        self.len = 0;
    }

    /// Adds `scale · xs[t]` to slot `idx[t]` for every `t` (a scaled sparse row).
    #[inline]
    pub(crate) fn add_scaled(&mut self, idx: &[u32], xs: &[f32], scale: f32) {
        // Locals, so that the touched count stays in a register.
        let (vals, touched) = (&mut self.vals[..], &mut self.touched[..]);
        let mut len = self.len;
        for (&i, &x) in idx.iter().zip(xs) {
            let slot = &mut vals[i as usize];
            touched[len] = i;
            len += (*slot == 0.0) as usize;
            *slot += scale * x;
        }
        self.len = len;
    }

    /// Calls `f(index, value)` once for every non-zero slot and zeroes it.
    #[inline]
    pub(crate) fn drain(&mut self, mut f: impl FnMut(u32, f32)) {
        for &i in &self.touched[..self.len] {
            let v = core::mem::replace(&mut self.vals[i as usize], 0.0);
            if v != 0.0 {
                f(i, v);
            }
        }
        self.len = 0;
    }
}

/// Builds the CSR matrix of per-item rows `(item, weight)` sorted by item.
pub(crate) fn rows_to_csr(n_items: usize, rows: Vec<Vec<(u32, f32)>>) -> Result<CsrMatrix> {
    let mut indptr = Vec::with_capacity(n_items + 1);
    indptr.push(0);
    let nnz = rows.iter().map(Vec::len).sum();
    let (mut indices, mut data) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
    for r in &rows {
        indices.extend(r.iter().map(|e| e.0));
        data.extend(r.iter().map(|e| e.1));
        indptr.push(indices.len());
    }
    CsrMatrix::from_parts(n_items, n_items, indptr, indices, data)
}

/// Runs `row(scratch, i)` for every item `i`, in parallel under `std` (rayon), sequentially
/// without it; rows are independent, so the result does not depend on the thread count.
pub(crate) fn map_rows<S: Default + Send, F>(n_items: usize, row: F) -> Vec<Vec<(u32, f32)>>
where
    F: Fn(&mut S, usize) -> Vec<(u32, f32)> + Sync + Send,
{
    #[cfg(feature = "std")]
    {
        use rayon::prelude::*;
        (0..n_items).into_par_iter().map_init(S::default, row).collect()
    }
    #[cfg(not(feature = "std"))]
    {
        let mut scratch = S::default();
        (0..n_items).map(|i| row(&mut scratch, i)).collect()
    }
}
