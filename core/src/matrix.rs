//! Sparse interaction matrices (CSR) and the maps between external string ids and dense indices.
use alloc::format;
use core::hash::BuildHasher;

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::error::{RecoError, Result};

/// A bijection between external string ids (e.g. `"85123A"`) and dense indices `0..len`,
/// in order of first insertion.
///
/// The lookup table holds only indices into the id list (hashed by their id with foldhash), so
/// each id is stored once: 1M ids cost their bytes plus about 9 bytes each, and a lookup is one
/// hash and (almost always) one comparison.
#[derive(Clone, Default)]
pub struct IdMap {
    ids: Vec<String>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl core::fmt::Debug for IdMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IdMap").field("ids", &self.ids).finish()
    }
}

/// Two maps are equal when they hold the same ids in the same order.
impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
    }
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A map whose index `i` is `ids[i]`; fails on a duplicate id.
    pub fn from_ids(ids: Vec<String>) -> Result<Self> {
        let mut map = IdMap {
            index: HashTable::with_capacity(ids.len()),
            ids,
            hasher: DefaultHashBuilder::default(),
        };
        for i in 0..map.ids.len() {
            let id = &map.ids[i];
            let hash = map.hasher.hash_one(id.as_str());
            if map.index.find(hash, |&j| map.ids[j as usize] == *id).is_some() {
                return Err(RecoError::InvalidData(format!("duplicate id {id:?} in id list")));
            }
            let (ids, hasher) = (&map.ids, &map.hasher);
            map.index
                .insert_unique(hash, i as u32, |&j| hasher.hash_one(ids[j as usize].as_str()));
        }
        Ok(map)
    }

    /// The index of `id`, inserting it at the end if new.
    pub fn get_or_insert(&mut self, id: &str) -> u32 {
        let hash = self.hasher.hash_one(id);
        if let Some(&i) = self.index.find(hash, |&j| self.ids[j as usize] == id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_string());
        let (ids, hasher) = (&self.ids, &self.hasher);
        self.index
            .insert_unique(hash, i, |&j| hasher.hash_one(ids[j as usize].as_str()));
        i
    }

    /// The index of `id`, if known.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.index.find(hash, |&j| self.ids[j as usize] == id).copied()
    }

    /// The id at `index`, if in range.
    pub fn id(&self, index: u32) -> Option<&str> {
        self.ids.get(index as usize).map(String::as_str)
    }

    /// All ids, in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the map holds no id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A compressed-sparse-row matrix of `f32` weights with sorted, unique column indices per row.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl CsrMatrix {
    /// Builds a `n_rows × n_cols` matrix from `(row, col, weight)` triples in any order.
    /// Duplicate `(row, col)` pairs are summed. Fails on an index out of range or a
    /// non-finite weight.
    pub fn from_triples(n_rows: usize, n_cols: usize, triples: &[(u32, u32, f32)]) -> Result<Self> {
        let mut counts = vec![0usize; n_rows + 1];
        for (k, &(r, c, w)) in triples.iter().enumerate() {
            if r as usize >= n_rows || c as usize >= n_cols {
                return Err(RecoError::InvalidData(format!(
                    "triple {k}: ({r}, {c}) is outside a {n_rows} x {n_cols} matrix"
                )));
            }
            if !w.is_finite() {
                return Err(RecoError::InvalidData(format!(
                    "triple {k}: weight {w} is not finite"
                )));
            }
            counts[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            counts[r + 1] += counts[r];
        }
        // Counting sort by row, then sort + merge duplicates within each row.
        let mut next = counts.clone();
        let mut cols = vec![0u32; triples.len()];
        let mut vals = vec![0f32; triples.len()];
        for &(r, c, w) in triples {
            let slot = &mut next[r as usize];
            cols[*slot] = c;
            vals[*slot] = w;
            *slot += 1;
        }
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::with_capacity(triples.len());
        let mut data = Vec::with_capacity(triples.len());
        indptr.push(0);
        let mut order: Vec<usize> = Vec::new();
        for r in 0..n_rows {
            let (start, end) = (counts[r], counts[r + 1]);
            order.clear();
            order.extend(start..end);
            order.sort_by_key(|&k| cols[k]);
            for &k in &order {
                if indices.len() > indptr[r] && *indices.last().unwrap() == cols[k] {
                    *data.last_mut().unwrap() += vals[k];
                } else {
                    indices.push(cols[k]);
                    data.push(vals[k]);
                }
            }
            indptr.push(indices.len());
        }
        Ok(CsrMatrix {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// Builds a matrix from raw CSR arrays (e.g. read from a file), checking every invariant
    /// before any slicing: `indptr` has `n_rows + 1` entries, starts at 0, never decreases and
    /// ends at the number of indices; `indices` and `data` have the same length; every row's
    /// columns are sorted, unique and `< n_cols`; every value is finite; both dimensions fit
    /// in `u32`. Fails with [`RecoError::InvalidData`] naming the first broken invariant.
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<Self> {
        let bad = |m: String| Err(RecoError::InvalidData(m));
        let max_dim = u32::MAX as usize;
        if n_rows > max_dim || n_cols > max_dim {
            return bad(format!(
                "shape {n_rows} x {n_cols} is too large (at most {max_dim} rows and columns)"
            ));
        }
        if indptr.len() != n_rows + 1 {
            return bad(format!(
                "indptr has {} entries for {n_rows} rows (expected {})",
                indptr.len(),
                n_rows + 1
            ));
        }
        if indptr[0] != 0 {
            return bad(format!("indptr starts at {}, expected 0", indptr[0]));
        }
        if indices.len() != data.len() {
            return bad(format!(
                "{} column indices but {} values",
                indices.len(),
                data.len()
            ));
        }
        if indptr[n_rows] != indices.len() {
            return bad(format!(
                "indptr ends at {} but there are {} indices",
                indptr[n_rows],
                indices.len()
            ));
        }
        // Monotone from 0 to nnz: every row range below is inside `indices`.
        if let Some(r) = (0..n_rows).find(|&r| indptr[r] > indptr[r + 1]) {
            return bad(format!(
                "indptr decreases at row {r} ({} then {})",
                indptr[r],
                indptr[r + 1]
            ));
        }
        for r in 0..n_rows {
            let row = &indices[indptr[r]..indptr[r + 1]];
            if row.windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!("row {r}: column indices are not sorted and unique"));
            }
            if let Some(&c) = row.last().filter(|&&c| c as usize >= n_cols) {
                return bad(format!(
                    "row {r}: column index {c} out of range (n_cols = {n_cols})"
                ));
            }
        }
        if let Some(k) = data.iter().position(|w| !w.is_finite()) {
            return bad(format!("value {} at position {k} is not finite", data[k]));
        }
        Ok(CsrMatrix {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row offsets (`n_rows + 1` entries).
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column index of every stored entry, row by row.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Value of every stored entry, row by row.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The column indices and values of row `r` (panics if `r >= n_rows`).
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[s..e], &self.data[s..e])
    }

    /// Number of stored entries in row `r`.
    #[inline]
    pub fn row_nnz(&self, r: usize) -> usize {
        self.indptr[r + 1] - self.indptr[r]
    }

    /// The value at `(r, c)`, zero when not stored.
    pub fn get(&self, r: usize, c: u32) -> f32 {
        let (cols, vals) = self.row(r);
        cols.binary_search(&c).map(|k| vals[k]).unwrap_or(0.0)
    }

    /// The transpose, also in CSR form (i.e. this matrix in CSC form).
    pub fn transpose(&self) -> CsrMatrix {
        let mut counts = vec![0usize; self.n_cols + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for c in 0..self.n_cols {
            counts[c + 1] += counts[c];
        }
        let mut next = counts.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut data = vec![0f32; self.nnz()];
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                data[*slot] = v;
                *slot += 1;
            }
        }
        CsrMatrix {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr: counts,
            indices,
            data,
        }
    }

    /// The same sparsity pattern with every stored value set to 1.
    pub fn binarized(&self) -> CsrMatrix {
        CsrMatrix {
            data: vec![1.0; self.nnz()],
            ..self.clone()
        }
    }

    /// Sum of each column's values.
    pub fn column_sums(&self) -> Vec<f32> {
        let mut sums = vec![0f32; self.n_cols];
        for (&c, &v) in self.indices.iter().zip(&self.data) {
            sums[c as usize] += v;
        }
        sums
    }
}

/// A user × item interaction matrix with the id maps of its rows and columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    /// User ids ↔ row indices.
    pub users: IdMap,
    /// Item ids ↔ column indices.
    pub items: IdMap,
    /// Weights (e.g. purchase counts), users × items.
    pub matrix: CsrMatrix,
}

/// Collects `(user id, item id, weight)` events and builds [`Interactions`].
#[derive(Debug, Clone, Default)]
pub struct InteractionsBuilder {
    users: IdMap,
    items: IdMap,
    triples: Vec<(u32, u32, f32)>,
}

impl InteractionsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder whose user and item indices follow the given maps (new ids are appended).
    pub fn with_maps(users: IdMap, items: IdMap) -> Self {
        InteractionsBuilder {
            users,
            items,
            triples: Vec::new(),
        }
    }

    /// Records one event; repeated (user, item) pairs are summed when built.
    pub fn push(&mut self, user: &str, item: &str, weight: f32) {
        let u = self.users.get_or_insert(user);
        let i = self.items.get_or_insert(item);
        self.triples.push((u, i, weight));
    }

    /// Number of events pushed so far.
    pub fn len(&self) -> usize {
        self.triples.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.triples.is_empty()
    }

    /// Builds the CSR matrix (fails on non-finite weights).
    pub fn build(self) -> Result<Interactions> {
        let matrix = CsrMatrix::from_triples(self.users.len(), self.items.len(), &self.triples)?;
        Ok(Interactions {
            users: self.users,
            items: self.items,
            matrix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicates_are_summed_and_rows_sorted() {
        let m = CsrMatrix::from_triples(2, 3, &[(1, 2, 1.0), (0, 1, 2.0), (1, 0, 1.0), (1, 2, 3.0)]).unwrap();
        assert_eq!(m.indptr(), &[0, 1, 3]);
        assert_eq!(m.indices(), &[1, 0, 2]);
        assert_eq!(m.data(), &[2.0, 1.0, 4.0]);
        assert_eq!(m.get(1, 2), 4.0);
        assert_eq!(m.get(0, 0), 0.0);
    }

    #[test]
    fn out_of_range_and_nan_are_errors() {
        assert!(CsrMatrix::from_triples(1, 1, &[(0, 1, 1.0)]).is_err());
        assert!(CsrMatrix::from_triples(1, 1, &[(0, 0, f32::NAN)]).is_err());
        assert!(CsrMatrix::from_parts(1, 2, vec![0, 2], vec![1, 0], vec![1.0, 1.0]).is_err());
    }

    /// Every broken invariant is an error naming it, never a panic: in particular an `indptr`
    /// entry past the number of indices in a middle row (the old code sliced with it first).
    #[test]
    fn from_parts_checks_every_invariant_before_slicing() {
        let err = |rows, cols, indptr: Vec<usize>, indices: Vec<u32>| {
            let data = vec![1.0; indices.len()];
            CsrMatrix::from_parts(rows, cols, indptr, indices, data)
                .unwrap_err()
                .to_string()
        };
        // Row 0 claims 0..9 of 3 indices; row 1 goes back to 3 = nnz.
        assert!(err(2, 4, vec![0, 9, 3], vec![0, 1, 2]).contains("indptr decreases at row 1"));
        assert!(err(2, 4, vec![0, 1], vec![0]).contains("indptr has 2 entries for 2 rows"));
        assert!(err(2, 4, vec![], vec![]).contains("indptr has 0 entries"));
        assert!(err(1, 4, vec![1, 1], vec![0]).contains("starts at 1"));
        assert!(err(1, 4, vec![0, 2], vec![0]).contains("ends at 2 but there are 1 indices"));
        assert!(err(1, 4, vec![0, 2], vec![2, 2]).contains("not sorted and unique"));
        assert!(err(1, 4, vec![0, 1], vec![4]).contains("column index 4 out of range"));
        assert!(err(usize::MAX, 1, vec![0], vec![]).contains("too large"));
        let lens = CsrMatrix::from_parts(1, 4, vec![0, 1], vec![0], vec![]).unwrap_err();
        assert!(lens.to_string().contains("1 column indices but 0 values"));
        let nan = CsrMatrix::from_parts(1, 4, vec![0, 1], vec![0], vec![f32::INFINITY]);
        assert!(nan.unwrap_err().to_string().contains("not finite"));
    }

    #[test]
    fn builder_maps_ids() {
        let mut b = InteractionsBuilder::new();
        b.push("alice", "x", 1.0);
        b.push("bob", "y", 2.0);
        b.push("alice", "x", 1.0);
        let it = b.build().unwrap();
        assert_eq!(it.users.index_of("bob"), Some(1));
        assert_eq!(it.items.id(1), Some("y"));
        assert_eq!(it.matrix.get(0, 0), 2.0);
        assert!(IdMap::from_ids(vec!["a".into(), "a".into()]).is_err());
    }

    #[test]
    fn id_map_finds_every_id_of_a_large_map_and_nothing_else() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("u{i:07}")).collect();
        let map = IdMap::from_ids(ids.clone()).unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.index_of(id), Some(i as u32), "{id}");
            assert_eq!(map.id(i as u32), Some(id.as_str()));
        }
        for unknown in ["", "u", "u0020000", "U0000001", "u0000001 "] {
            assert_eq!(map.index_of(unknown), None, "{unknown:?}");
        }
        // Built one id at a time: the same indices, the same map; repeated ids keep theirs.
        let mut grown = IdMap::new();
        for id in &ids {
            grown.get_or_insert(id);
        }
        assert_eq!(grown.get_or_insert("u0000007"), 7);
        assert_eq!(grown.get_or_insert("new"), 20_000);
        assert_eq!(grown.index_of("new"), Some(20_000));
        assert_eq!(grown.len(), 20_001);
        let mut with_new = ids.clone();
        with_new.push("new".into());
        assert_eq!(grown, IdMap::from_ids(with_new).unwrap());
        assert_ne!(grown, map);
        // A duplicate anywhere is refused, naming it.
        let mut dup = ids;
        dup.push("u0012345".into());
        let err = IdMap::from_ids(dup).unwrap_err().to_string();
        assert!(err.contains("u0012345"), "{err}");
    }

    proptest! {
        #[test]
        fn csr_matches_dense_sum_and_transpose_roundtrips(
            triples in proptest::collection::vec((0u32..7, 0u32..5, 0.0f32..10.0), 0..60)
        ) {
            let m = CsrMatrix::from_triples(7, 5, &triples).unwrap();
            let mut dense = [[0f32; 5]; 7];
            for &(r, c, w) in &triples { dense[r as usize][c as usize] += w; }
            for (r, row) in dense.iter().enumerate() {
                for (c, &want) in row.iter().enumerate() {
                    prop_assert!((m.get(r, c as u32) - want).abs() < 1e-4);
                }
            }
            let t = m.transpose();
            prop_assert_eq!(t.n_rows(), 5);
            prop_assert_eq!(&t.transpose(), &m);
            let rebuilt = CsrMatrix::from_parts(7, 5, m.indptr().to_vec(), m.indices().to_vec(), m.data().to_vec());
            prop_assert_eq!(rebuilt.unwrap(), m);
        }
    }
}
