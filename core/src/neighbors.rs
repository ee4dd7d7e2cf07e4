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

/// A dense accumulator with a bitmap of the slots it touched. All values are zero between
/// queries; [`SparseAcc::drain`] hands out the non-zero ones in ascending slot order and
/// zeroes them again, so starting a query costs nothing.
///
/// The bitmap (one bit per slot: 128 KiB for a million users) replaced a list of touched
/// slots: the list grew with the number of additions (a user-KNN query over popular items
/// makes millions, so each thread kept a buffer of tens of MB), and it drained in the order
/// of first touch, so every slot's value (and the caller's per-slot data, e.g. user norms)
/// was a cache miss; in ascending order the reads are sequential and prefetched. A drain
/// scans `n / 64` words, negligible next to the additions of the queries that use it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseAcc {
    vals: Vec<f32>,
    touched: Vec<u64>,
    words: usize,
}

impl SparseAcc {
    /// Starts a query over `n` slots.
    pub(crate) fn begin(&mut self, n: usize) {
        if self.vals.len() < n {
            self.vals.resize(n, 0.0);
        }
        self.words = n.div_ceil(64);
        if self.touched.len() < self.words {
            self.touched.resize(self.words, 0);
        }
    }

    /// Adds `scale · xs[t]` to slot `idx[t]` for every `t` (a scaled sparse row).
    #[inline]
    pub(crate) fn add_scaled(&mut self, idx: &[u32], xs: &[f32], scale: f32) {
        let (vals, touched) = (&mut self.vals[..], &mut self.touched[..self.words]);
        for (&i, &x) in idx.iter().zip(xs) {
            vals[i as usize] += scale * x;
            touched[(i >> 6) as usize] |= 1u64 << (i & 63);
        }
    }

    /// Calls `f(index, value)` once for every non-zero slot, in ascending index order, and
    /// zeroes it.
    #[inline]
    pub(crate) fn drain(&mut self, mut f: impl FnMut(u32, f32)) {
        for (w, bits) in self.touched[..self.words].iter_mut().enumerate() {
            let mut b = core::mem::take(bits);
            while b != 0 {
                let i = (w << 6) | b.trailing_zeros() as usize;
                b &= b - 1;
                let v = core::mem::replace(&mut self.vals[i], 0.0);
                if v != 0.0 {
                    f(i as u32, v);
                }
            }
        }
    }
}

/// The best `k` of a stream of `(key, index)` pairs in [`best_first`] order, without keeping
/// the whole stream: a pair below the running threshold (the `k`-th best key of a full cut)
/// is skipped, and when the buffer reaches `4k` pairs (at least 256) it is cut to its best `k`.
/// The result is [`keep_best`] of the whole stream: a skipped or cut pair has at least `k`
/// pairs with a strictly higher key, or an equal key and a lower index, before it.
#[derive(Debug, Clone, Default)]
pub(crate) struct BestK {
    k: usize,
    threshold: f64,
    buf: Vec<(f64, u32)>,
}

impl BestK {
    /// Starts a new stream keeping `k` pairs.
    pub(crate) fn begin(&mut self, k: usize) {
        self.k = k;
        self.threshold = f64::NEG_INFINITY;
        self.buf.clear();
    }

    /// Offers one pair.
    #[inline]
    pub(crate) fn push(&mut self, key: f64, index: u32) {
        if key >= self.threshold {
            self.buf.push((key, index));
            if self.buf.len() >= (4 * self.k).max(256) {
                self.cut();
            }
        }
    }

    #[cold]
    fn cut(&mut self) {
        let k = self.k;
        if k == 0 {
            self.buf.clear();
            self.threshold = f64::INFINITY;
            return;
        }
        self.buf.select_nth_unstable_by(k - 1, best_first);
        self.buf.truncate(k);
        self.threshold = self.buf[k - 1].0;
    }

    /// The best `k` pairs, best first.
    pub(crate) fn finish(&mut self) -> &[(f64, u32)] {
        keep_best(&mut self.buf, self.k, best_first);
        &self.buf
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The accumulator's sums and its drain (each non-zero slot once, ascending, then zero)
    /// against a plain dense sum, over queries of every density and reused buffers.
    #[test]
    fn sparse_acc_matches_a_dense_sum() {
        let mut rng = Rng::new(7);
        let mut acc = SparseAcc::default();
        for q in 0..200 {
            let n = 1 + rng.below(300) as usize;
            acc.begin(n);
            let mut dense = vec![0f32; n];
            for _ in 0..rng.below(12) {
                let len = rng.below(2 * n as u32) as usize;
                let idx: Vec<u32> = (0..len).map(|_| rng.below(n as u32)).collect();
                // Small integers, so that sums are exact in any order; some cancel to zero.
                let xs: Vec<f32> = (0..len).map(|_| rng.below(5) as f32 - 2.0).collect();
                let scale = if q % 2 == 0 { 1.0 } else { 0.5 };
                acc.add_scaled(&idx, &xs, scale);
                for (&i, &x) in idx.iter().zip(&xs) {
                    dense[i as usize] += scale * x;
                }
            }
            let mut got = Vec::new();
            acc.drain(|i, v| got.push((i, v)));
            let want: Vec<(u32, f32)> = (0..n as u32)
                .map(|i| (i, dense[i as usize]))
                .filter(|e| e.1 != 0.0)
                .collect();
            assert_eq!(got, want, "query {q}");
            let mut again = Vec::new();
            acc.drain(|i, v| again.push((i, v)));
            assert!(again.is_empty(), "drain leaves every slot zero");
        }
    }

    /// `BestK` over a stream equals `keep_best` of the whole stream, ties (many equal keys)
    /// included, for k below, near and above the buffer's cut size.
    #[test]
    fn best_k_equals_keep_best_of_the_whole_stream() {
        let mut rng = Rng::new(11);
        let mut best = BestK::default();
        for case in 0..300 {
            let len = rng.below(3000) as usize;
            let k = 1 + rng.below(if case % 3 == 0 { 5 } else { 400 }) as usize;
            let distinct = 1 + rng.below(if case % 2 == 0 { 4 } else { 10_000 });
            let mut order: Vec<u32> = (0..len as u32).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u32 + 1) as usize);
            }
            let stream: Vec<(f64, u32)> = order
                .iter()
                .map(|&j| (rng.below(distinct) as f64 * 0.25, j))
                .collect();
            best.begin(k);
            for &(key, j) in &stream {
                best.push(key, j);
            }
            let mut want = stream.clone();
            keep_best(&mut want, k, best_first);
            assert_eq!(best.finish(), &want[..], "case {case}: k {k}, {len} pairs");
        }
    }
}
