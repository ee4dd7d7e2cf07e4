//! Datasets: interactions plus the item catalog, read from raw files or from the features
//! folder that `reco ingest` writes.
//!
//! ## Index order
//! User and item indices follow sorted id order — numeric if every id parses as an integer
//! (ties between spellings such as `7`/`07` broken by the string), else byte-wise
//! lexicographic — like pandas `factorize(sort=True)` / `np.unique`, so that index-based
//! tie-breaking matches other tools.
//!
//! ## Features folder (`data/features/`)
//! - `matrix.safetensors`: the CSR user × item weight matrix. Tensors `indptr` (U64,
//!   `[n_users + 1]`), `indices` (U32, `[nnz]`), `data` (F32, `[nnz]`) and, when every stored
//!   pair has a known time, `timestamps` (I64, `[nnz]`, unix seconds of the pair's first
//!   interaction). Metadata: `reco.format` = `reco-features`, `reco.format_version` = `1`,
//!   `reco.n_users`, `reco.n_items`, `reco.source` (the raw input path).
//! - `users.tsv`: header `index, user_id` (tab-separated), one line per user in index order.
//! - `items.tsv`: header `index, item_id, name, unit_price, n_users, n_purchases` — name is the
//!   most common one (empty if unknown), unit_price the median (empty if unknown), n_users
//!   the number of users with the item, n_purchases the number of input rows kept for it.
//!
//! - `interactions.tsv`: the interactions file below, of the same ingest.
//!
//! ## Interactions file (`data/processed/interactions.tsv`)
//! Tab-separated, header `user_id, item_id, weight, first_timestamp, last_timestamp`, one row per (user, item)
//! pair in (user index, item index) order; timestamps are unix seconds, empty if unknown.
//! It is a symbolic link to `interactions.tsv` in the features folder, so that both always
//! come from the same ingest (see [`crate::ingest::output`]).
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use reco_core::{CsrMatrix, IdMap, Interactions};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Result, ServerError};
use crate::ingest::reader::{collect, collect_bytes, Collected, Pair};
pub use crate::ingest::reader::{Delimiter, IngestReport, Preset, ReadOptions, RejectReason, Rejections};

/// Value of the `reco.format` metadata key of `matrix.safetensors`.
pub const FEATURES_MARKER: &str = "reco-features";
/// The features format version this build writes and reads.
pub const FEATURES_VERSION: u32 = 1;
/// File names inside the features folder.
pub const MATRIX_FILE: &str = "matrix.safetensors";
/// See [`MATRIX_FILE`].
pub const USERS_FILE: &str = "users.tsv";
/// See [`MATRIX_FILE`].
pub const ITEMS_FILE: &str = "items.tsv";

/// Interactions plus item catalog information, indexed in sorted id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Users × items weights with their id maps.
    pub interactions: Interactions,
    /// Item names by item index, "" if unknown.
    pub item_names: Vec<String>,
    /// Median unit price by item index, if known.
    pub item_prices: Vec<Option<f32>>,
    /// Unix seconds of each stored pair's first interaction, aligned with
    /// `interactions.matrix.indices()`; `None` unless every pair has a known time.
    pub timestamps: Option<Vec<i64>>,
}

/// First and last interaction time (unix seconds) of one (user, item) pair, if known.
pub type PairTimes = (Option<i64>, Option<i64>);

/// A dataset with everything `reco ingest` writes besides it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// The dataset.
    pub dataset: Dataset,
    /// First and last interaction time of each stored pair (aligned with the matrix entries).
    pub times: Vec<PairTimes>,
    /// Input rows kept per item.
    pub item_rows: Vec<u64>,
}

/// A train dataset and a test matrix over one shared id space (the union of both files' ids).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainTest {
    /// The train interactions and the catalog of both files.
    pub train: Dataset,
    /// Test weights, same shape and indices as `train.interactions.matrix`.
    pub test: CsrMatrix,
    /// What reading the train file did.
    pub train_report: IngestReport,
    /// What reading the test file did.
    pub test_report: IngestReport,
}

/// Ids in sorted order and, for each id in first-appearance order, its sorted index.
struct SortedIds {
    ids: Vec<String>,
    rank: Vec<u32>,
}

/// Sorts ids numerically if all are integers, else lexicographically.
fn sort_ids(ids: &[String]) -> SortedIds {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    let nums: Option<Vec<i64>> = ids.iter().map(|s| s.parse().ok()).collect();
    match nums {
        Some(v) => order.sort_unstable_by(|&a, &b| v[a].cmp(&v[b]).then_with(|| ids[a].cmp(&ids[b]))),
        None => order.sort_unstable_by(|&a, &b| ids[a].cmp(&ids[b])),
    }
    let mut rank = vec![0u32; ids.len()];
    for (new, &old) in order.iter().enumerate() {
        rank[old] = new as u32;
    }
    SortedIds {
        ids: order.iter().map(|&i| ids[i].clone()).collect(),
        rank,
    }
}

/// Builds the CSR matrix and per-entry times from pairs in first-appearance indices.
fn build_matrix(
    pairs: HashMap<(u32, u32), Pair>,
    users: &SortedIds,
    items: &SortedIds,
) -> Result<(CsrMatrix, Vec<PairTimes>)> {
    let mut entries: Vec<(u32, u32, Pair)> = pairs
        .into_iter()
        .map(|((u, i), p)| (users.rank[u as usize], items.rank[i as usize], p))
        .collect();
    entries.sort_unstable_by_key(|&(u, i, _)| (u, i));
    let mut indptr = vec![0usize; users.ids.len() + 1];
    for &(u, _, _) in &entries {
        indptr[u as usize + 1] += 1;
    }
    for r in 0..users.ids.len() {
        indptr[r + 1] += indptr[r];
    }
    let indices = entries.iter().map(|e| e.1).collect();
    let data = entries.iter().map(|e| e.2.weight as f32).collect();
    let times = entries.iter().map(|e| (e.2.first, e.2.last)).collect();
    let matrix = CsrMatrix::from_parts(users.ids.len(), items.ids.len(), indptr, indices, data)?;
    Ok((matrix, times))
}

/// Turns collected rows into a dataset over the given (possibly larger) sorted id spaces.
fn build(
    pairs: HashMap<(u32, u32), Pair>,
    collected: &Collected,
    users: &SortedIds,
    items: &SortedIds,
) -> Result<Ingested> {
    let (matrix, times) = build_matrix(pairs, users, items)?;
    let n_items = items.ids.len();
    let (mut item_names, mut item_prices, mut item_rows) = (
        vec![String::new(); n_items],
        vec![None; n_items],
        vec![0u64; n_items],
    );
    for (old, meta) in collected.item_meta.iter().enumerate() {
        let new = items.rank[old] as usize;
        item_names[new] = meta.name();
        item_prices[new] = meta.median_price();
        item_rows[new] = meta.rows;
    }
    let timestamps = times.iter().map(|t| t.0).collect::<Option<Vec<i64>>>();
    Ok(Ingested {
        dataset: Dataset {
            interactions: Interactions {
                users: IdMap::from_ids(users.ids.clone())?,
                items: IdMap::from_ids(items.ids.clone())?,
                matrix,
            },
            item_names,
            item_prices,
            timestamps,
        },
        times,
        item_rows,
    })
}

/// Writes a new file (created, or truncated if it exists) through a buffered writer and
/// fsyncs it. Used inside the temporary folder of an ingest, which is renamed into place as a
/// whole (see [`crate::ingest::output`]).
pub(crate) fn write_synced(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<()> {
    (|| {
        let mut w = BufWriter::new(File::create(path)?);
        write(&mut w)?;
        w.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
    })()
    .map_err(|e| ServerError::io(path, e))
}

/// Which folder `dir` is (device and inode on Unix), to notice it being replaced.
fn folder_identity(dir: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> ServerError {
    ServerError::BadFeatures {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn invalid(msg: String) -> ServerError {
    ServerError::Core(reco_core::RecoError::InvalidData(msg))
}

fn view(dtype: Dtype, len: usize, bytes: &[u8]) -> Result<TensorView<'_>> {
    TensorView::new(dtype, vec![len], bytes).map_err(|e| invalid(format!("cannot build tensor: {e}")))
}

fn le_bytes<const N: usize, T>(data: &[T], to: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
    data.iter().flat_map(to).collect()
}

/// Reads a tensor of `dtype` with `len` elements as little-endian `N`-byte values.
fn tensor<const N: usize, T>(
    st: &SafeTensors<'_>,
    path: &Path,
    name: &str,
    dtype: Dtype,
    len: usize,
    from: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>> {
    let view = st
        .tensor(name)
        .map_err(|_| bad(path, format!("no `{name}` tensor")))?;
    if view.dtype() != dtype || view.shape() != [len] {
        return Err(bad(
            path,
            format!(
                "tensor `{name}` is {:?} {:?}, expected {dtype:?} [{len}]",
                view.dtype(),
                view.shape()
            ),
        ));
    }
    Ok(view
        .data()
        .chunks_exact(N)
        .map(|c| from(c.try_into().unwrap_or([0; N])))
        .collect())
}

/// Reads a TSV written by [`Dataset::write_features`]: checks the header and the index column.
fn read_tsv(path: &Path, header: &str) -> Result<Vec<Vec<String>>> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ServerError::FeaturesNotFound {
            path: path.to_path_buf(),
        },
        _ => ServerError::io(path, e),
    })?;
    let n_cols = header.split('\t').count();
    let mut rows = Vec::new();
    for (k, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| bad(path, format!("line {}: {e}", k + 1)))?;
        if k == 0 {
            if line != header {
                return Err(bad(path, format!("header is {line:?}, expected {header:?}")));
            }
            continue;
        }
        let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
        if fields.len() != n_cols || fields[0] != (k - 1).to_string() {
            return Err(bad(path, format!("line {} is malformed: {line:?}", k + 1)));
        }
        rows.push(fields);
    }
    Ok(rows)
}

const USERS_HEADER: &str = "index\tuser_id";
const ITEMS_HEADER: &str = "index\titem_id\tname\tunit_price\tn_users\tn_purchases";
/// Header of `interactions.tsv`.
pub const INTERACTIONS_HEADER: &str = "user_id\titem_id\tweight\tfirst_timestamp\tlast_timestamp";

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Dataset {
    /// Reads a raw interactions file (see [`ReadOptions`]). Indices follow sorted id order.
    pub fn read(path: &Path, opts: &ReadOptions) -> Result<(Dataset, IngestReport)> {
        let (ingested, report) = Ingested::read(path, opts)?;
        Ok((ingested.dataset, report))
    }

    /// Reads raw file bytes held in memory like [`Dataset::read`] reads a file (gzip or
    /// plain); `name` stands for the file in messages and its extension chooses the
    /// delimiter. Never panics, whatever the bytes (fuzzed).
    pub fn read_bytes(name: &Path, bytes: &[u8], opts: &ReadOptions) -> Result<(Dataset, IngestReport)> {
        let (mut collected, report) = collect_bytes(name, bytes, opts)?;
        let users = sort_ids(&collected.users.ids);
        let items = sort_ids(&collected.items.ids);
        let pairs = std::mem::take(&mut collected.pairs);
        Ok((build(pairs, &collected, &users, &items)?.dataset, report))
    }

    /// Reads a train and a test file over one id space: users and items are the union of
    /// both files' ids (in sorted order), so the train and test matrices have the same shape.
    /// Item names and prices come from both files.
    pub fn read_pair(train: &Path, test: &Path, opts: &ReadOptions) -> Result<TrainTest> {
        let (mut a, train_report) = collect(train, opts)?;
        let (b, test_report) = collect(test, opts)?;
        let test_pairs = a.absorb(b);
        let users = sort_ids(&a.users.ids);
        let items = sort_ids(&a.items.ids);
        let (test_matrix, _) = build_matrix(test_pairs, &users, &items)?;
        let train_pairs = std::mem::take(&mut a.pairs);
        let train_set = build(train_pairs, &a, &users, &items)?;
        Ok(TrainTest {
            train: train_set.dataset,
            test: test_matrix,
            train_report,
            test_report,
        })
    }

    /// Loads the features folder written by `reco ingest` (default `data/features`).
    ///
    /// `reco ingest` replaces the folder as a whole; if that happens while the files are read
    /// (the folder at `dir` is another one afterwards), they are read again, so the result
    /// is always one ingest's set.
    pub fn load_features(dir: &Path) -> Result<Dataset> {
        let mut attempt = 0;
        loop {
            let before = folder_identity(dir);
            let result = Self::load_features_once(dir);
            attempt += 1;
            if attempt >= 5 || before.is_none() || folder_identity(dir) == before {
                return result;
            }
        }
    }

    fn load_features_once(dir: &Path) -> Result<Dataset> {
        if !dir.is_dir() {
            return Err(ServerError::FeaturesNotFound {
                path: dir.to_path_buf(),
            });
        }
        let users: Vec<String> = read_tsv(&dir.join(USERS_FILE), USERS_HEADER)?
            .into_iter()
            .map(|mut r| r.swap_remove(1))
            .collect();
        let items_path = dir.join(ITEMS_FILE);
        let mut item_ids = Vec::new();
        let mut item_names = Vec::new();
        let mut item_prices = Vec::new();
        for r in read_tsv(&items_path, ITEMS_HEADER)? {
            item_ids.push(r[1].clone());
            item_names.push(r[2].clone());
            item_prices.push(match r[3].as_str() {
                "" => None,
                p => Some(
                    p.parse::<f32>()
                        .map_err(|_| bad(&items_path, format!("unit price {p:?} of item {}", r[1])))?,
                ),
            });
        }
        let path = dir.join(MATRIX_FILE);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ServerError::FeaturesNotFound { path: path.clone() },
            _ => ServerError::io(&path, e),
        })?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(&path, format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(&path, e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("reco.format").map(String::as_str) != Some(FEATURES_MARKER) {
            return Err(bad(
                &path,
                format!("not a reco features file (no `reco.format: {FEATURES_MARKER}`)"),
            ));
        }
        match meta
            .get("reco.format_version")
            .and_then(|v| v.parse::<u32>().ok())
        {
            Some(v) if (1..=FEATURES_VERSION).contains(&v) => {}
            v => {
                return Err(bad(
                    &path,
                    format!("features format version {v:?}, this build reads 1..={FEATURES_VERSION}"),
                ))
            }
        }
        let dims = (meta.get("reco.n_users"), meta.get("reco.n_items"));
        if dims != (Some(&users.len().to_string()), Some(&item_ids.len().to_string())) {
            return Err(bad(
                &path,
                format!(
                    "matrix is {dims:?} users x items but {USERS_FILE} has {} and {ITEMS_FILE} {}",
                    users.len(),
                    item_ids.len()
                ),
            ));
        }
        let indptr: Vec<u64> = tensor(
            &st,
            &path,
            "indptr",
            Dtype::U64,
            users.len() + 1,
            u64::from_le_bytes,
        )?;
        let nnz = usize::try_from(indptr.last().copied().unwrap_or(0))
            .map_err(|_| bad(&path, "indptr overflows"))?;
        let indices = tensor(&st, &path, "indices", Dtype::U32, nnz, u32::from_le_bytes)?;
        let data = tensor(&st, &path, "data", Dtype::F32, nnz, f32::from_le_bytes)?;
        let timestamps = match st.names().contains(&"timestamps") {
            true => Some(tensor(
                &st,
                &path,
                "timestamps",
                Dtype::I64,
                nnz,
                i64::from_le_bytes,
            )?),
            false => None,
        };
        let indptr = indptr
            .into_iter()
            .map(usize::try_from)
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| bad(&path, "indptr overflows"))?;
        let matrix = CsrMatrix::from_parts(users.len(), item_ids.len(), indptr, indices, data)
            .map_err(|e| bad(&path, e.to_string()))?;
        let users = IdMap::from_ids(users).map_err(|e| bad(&dir.join(USERS_FILE), e.to_string()))?;
        let items = IdMap::from_ids(item_ids).map_err(|e| bad(&items_path, e.to_string()))?;
        Ok(Dataset {
            interactions: Interactions { users, items, matrix },
            item_names,
            item_prices,
            timestamps,
        })
    }

    /// Writes `matrix.safetensors`, `users.tsv` and `items.tsv` into the (new, temporary)
    /// folder `dir`, each fsynced. `item_rows` (input rows per item) fills the `n_purchases`
    /// column; `source` is recorded in the metadata.
    pub(crate) fn write_features_files(&self, dir: &Path, item_rows: &[u64], source: &Path) -> Result<()> {
        let it = &self.interactions;
        let m = &it.matrix;
        let users_path = dir.join(USERS_FILE);
        write_synced(&users_path, |w| {
            writeln!(w, "{USERS_HEADER}")?;
            for (k, id) in it.users.ids().iter().enumerate() {
                writeln!(w, "{k}\t{id}")?;
            }
            Ok(())
        })?;
        let mut n_users = vec![0u64; m.n_cols()];
        for &c in m.indices() {
            n_users[c as usize] += 1;
        }
        let items_path = dir.join(ITEMS_FILE);
        write_synced(&items_path, |w| {
            writeln!(w, "{ITEMS_HEADER}")?;
            for (k, id) in it.items.ids().iter().enumerate() {
                let name = self.item_names.get(k).map_or("", String::as_str);
                let price = opt(self.item_prices.get(k).copied().flatten());
                let rows = item_rows.get(k).copied().unwrap_or(0);
                writeln!(w, "{k}\t{id}\t{name}\t{price}\t{}\t{rows}", n_users[k])?;
            }
            Ok(())
        })?;
        let indptr = le_bytes(m.indptr(), |&v| (v as u64).to_le_bytes());
        let indices = le_bytes(m.indices(), |v| v.to_le_bytes());
        let data = le_bytes(m.data(), |v| v.to_le_bytes());
        let times = self.timestamps.as_ref().map(|t| le_bytes(t, |v| v.to_le_bytes()));
        let mut tensors = vec![
            ("indptr", view(Dtype::U64, m.n_rows() + 1, &indptr)?),
            ("indices", view(Dtype::U32, m.nnz(), &indices)?),
            ("data", view(Dtype::F32, m.nnz(), &data)?),
        ];
        if let Some(t) = &times {
            tensors.push(("timestamps", view(Dtype::I64, m.nnz(), t)?));
        }
        let metadata = HashMap::from([
            ("reco.format".to_string(), FEATURES_MARKER.to_string()),
            ("reco.format_version".to_string(), FEATURES_VERSION.to_string()),
            ("reco.n_users".to_string(), m.n_rows().to_string()),
            ("reco.n_items".to_string(), m.n_cols().to_string()),
            ("reco.source".to_string(), source.display().to_string()),
        ]);
        let bytes = safetensors::serialize(tensors, Some(metadata))
            .map_err(|e| invalid(format!("cannot serialize the features matrix: {e}")))?;
        write_synced(&dir.join(MATRIX_FILE), |w| w.write_all(&bytes))
    }
}

impl Ingested {
    /// Reads a raw file like [`Dataset::read`], keeping first/last times and rows per item.
    pub fn read(path: &Path, opts: &ReadOptions) -> Result<(Ingested, IngestReport)> {
        let (mut collected, report) = collect(path, opts)?;
        let users = sort_ids(&collected.users.ids);
        let items = sort_ids(&collected.items.ids);
        let pairs = std::mem::take(&mut collected.pairs);
        Ok((build(pairs, &collected, &users, &items)?, report))
    }

    /// Writes `interactions.tsv` (see the module docs) to a new file, fsynced.
    pub(crate) fn write_interactions_file(&self, path: &Path) -> Result<()> {
        let it = &self.dataset.interactions;
        write_synced(path, |w| {
            writeln!(w, "{INTERACTIONS_HEADER}")?;
            let mut k = 0;
            for (r, user) in it.users.ids().iter().enumerate() {
                let (cols, vals) = it.matrix.row(r);
                for (&c, &v) in cols.iter().zip(vals) {
                    let item = it.items.id(c).unwrap_or_default();
                    let (first, last) = self.times.get(k).copied().unwrap_or_default();
                    writeln!(w, "{user}\t{item}\t{v}\t{}\t{}", opt(first), opt(last))?;
                    k += 1;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_then_lexicographic_sort() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let s = sort_ids(&ids(&["10", "9", "100", "07", "7"]));
        assert_eq!(s.ids, ids(&["07", "7", "9", "10", "100"]));
        assert_eq!(s.rank, vec![3, 2, 4, 0, 1]);
        let s = sort_ids(&ids(&["10", "9", "85123A"]));
        assert_eq!(s.ids, ids(&["10", "85123A", "9"]));
    }
}
