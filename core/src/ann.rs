//! Approximate maximum-inner-product top-N for factor models (ALS, LightFM): an inverted-file
//! (IVF) index over the item factors, built with seeded k-means.
//!
//! # Index
//! A factor model scores item `i` for a query vector `x` as `x·y_i + b_i` (+ a constant per
//! query): `y_i` the item's factor row, `b_i` its bias (LightFM; none for ALS). The index
//! clusters the item points `p_i = [y_i, b_i]` with k-means (Lloyd's algorithm, squared
//! Euclidean distance) into `lists` lists and stores, per list, its centroid `c_l` (the mean of
//! its items' points), its radius `r_l = max ‖p_i − c_l‖` and its item ids (ascending, so a
//! probe reads the factor rows in memory order). The file holds no copy of the factors:
//! `4·(items + 2·lists + 1)` bytes of ids, radii and offsets plus `4·lists·(f + 1)` bytes of
//! centroids, about 2 % of 64 f32 factors (plus the int8 codes below, derived at load).
//!
//! Build ([`IvfIndex::build`]): `lists = ⌈LISTS_PER_SQRT·√items⌉` by default; k-means is
//! trained on a seeded sample of `SAMPLE_PER_LIST · lists` items (all items when fewer) for
//! `iterations` rounds, starting from `lists` distinct sample points; a list left empty by a
//! round restarts at a random sample point. Then every item is assigned to its nearest
//! centroid and each centroid becomes the mean of its list. Deterministic for a seed (the
//! assignment runs in parallel with `std`, the sums in item order).
//!
//! # Query
//! [`IvfIndex::search`] probes lists in decreasing order of the upper bound of their items'
//! scores for the augmented query `x' = [x, 1]`: `x'·p_i = x'·c_l + x'·(p_i − c_l) ≤ x'·c_l +
//! ‖x'‖·r_l` (Cauchy–Schwarz), and scores every allowed item of a probed list exactly. It
//! stops after `probe` lists once at least `n` allowed items were scored, else probes more
//! lists: filters never cost slots, and when every list has been probed the answer is the
//! exact one. A candidate list is scored exactly item by item (no index needed). The best `n`
//! are selected by [`crate::topn`]'s order (score, then lower item index).
//!
//! A probed list is scanned from a copy of its items' rows in list order, quantized to int8
//! with a scale per row (`ŷ = s·code`, `s = max|y_k|/127`), against the query quantized to
//! int16 (`x̂`): one integer dot product per item over a quarter of the f32 rows' bytes,
//! read in memory order. The best [`rerank_count`]`(n)` = `2n + 16` allowed items by that
//! approximate score are scored exactly, and the answer is proven: every other item's exact
//! score is at most its approximate score plus the bound
//! `‖x̂‖·max‖y − ŷ‖ + ‖x − x̂‖·max‖y‖` (maxima over the probed lists; plus rounding), so
//! when the worst kept approximate score plus the bound is below the `n`-th exact score, no
//! dropped item can enter the answer. Otherwise the probed lists are scanned again and every
//! item that could is scored exactly. Either way the answer is the exact top `n` of the
//! probed lists' allowed items, as if every one of them were scored in f32: quantization
//! changes the cost, never the answer. The codes are derived from the factors when an index
//! is built or loaded (not stored in the file): `items·(dim + 4)` bytes, about 0.27× the
//! f32 factors at 64 factors.
//!
//! Inner product is not a metric: a list's centroid score `x'·c_l` is the mean of its items'
//! scores, not their maximum. Ranking by it (as Faiss's inner-product IVF does) fails on
//! trained ALS factors, whose norms spread with popularity: on 885,703 ALS items
//! (`bench/ann-1m.md`) the calibration then asked for 1,867 of 1,883 lists for a recall@10 of
//! 0.97 (a wide list of low mean holds many users' best items). Ranking by the bound needs 15
//! lists for 0.976. The bound is loose in 64 dimensions, so it only orders the lists: the
//! search does not stop when it is met, it stops after the calibrated number of lists.
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{RecoError, Result};
use crate::kernels;
use crate::model_file::{ModelFile, INDEX_TENSOR_PREFIX};
use crate::rng::Rng;
use crate::topn::{best_first, Filter, Scored, Selection, TopN};

/// Lists per `√items` when [`IvfParams::lists`] is 0.
pub const LISTS_PER_SQRT: f64 = 2.0;
/// k-means training points per list.
pub const SAMPLE_PER_LIST: usize = 32;
/// Queries the default probe count is calibrated on.
pub const CALIBRATION_QUERIES: usize = 200;
/// Length of the lists the calibration measures recall on.
pub const CALIBRATION_N: usize = 10;
/// The radius weights of the probe order the calibration chooses from (see the module docs).
pub const ALPHAS: [f32; 5] = [0.0, 0.125, 0.25, 0.5, 1.0];
/// Approximate candidates re-ranked exactly per item asked for (see [`rerank_count`]).
pub const RERANK_FACTOR: usize = 2;
/// Approximate candidates re-ranked exactly beyond [`RERANK_FACTOR`] per item asked for.
pub const RERANK_EXTRA: usize = 16;
/// Catalog size from which `reco train` / `reco export` build an index by default
/// (`--ann auto`); smaller catalogs are scanned exactly.
pub const AUTO_MIN_ITEMS: usize = 50_000;

const CENTROIDS: &str = "ann.centroids";
const OFFSETS: &str = "ann.offsets";
const ITEMS: &str = "ann.items";
const PROBE: &str = "ann.probe";
const RADII: &str = "ann.radii";
const ALPHA: &str = "ann.alpha";

/// True when `file` carries an index (a tensor name starts with `ann.`).
pub fn file_has_index(file: &ModelFile) -> bool {
    file.format_version() >= 2
}

/// When `reco train` / `reco export` build an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnnMode {
    /// For factor models with at least [`AUTO_MIN_ITEMS`] items.
    #[default]
    Auto,
    /// For every factor model.
    On,
    /// Never (an index already in the file is removed).
    Off,
}

impl AnnMode {
    /// True when a factor model of `n_items` items gets an index.
    pub fn wants_index(self, n_items: usize) -> bool {
        match self {
            AnnMode::Auto => n_items >= AUTO_MIN_ITEMS,
            AnnMode::On => true,
            AnnMode::Off => false,
        }
    }
}

/// The item side of a factor model: `score(i) = x·rows[i] + bias[i]` for a query vector `x`
/// (plus a constant per query, which does not change the order).
#[derive(Debug, Clone, Copy)]
pub struct ItemFactors<'a> {
    /// Row-major `items × dim` factors.
    pub rows: &'a [f32],
    /// Factors per item.
    pub dim: usize,
    /// Per-item bias (`items` values), if the model has one.
    pub bias: Option<&'a [f32]>,
}

impl ItemFactors<'_> {
    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.rows.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Width of an item point: `dim`, plus one for the bias.
    fn point_dim(&self) -> usize {
        self.dim + usize::from(self.bias.is_some())
    }

    /// `x·rows[i] + bias[i]` (`i < n_items()`).
    #[inline]
    pub fn score(&self, x: &[f32], i: usize) -> f32 {
        let d = self.dim;
        let s = kernels::dot(x, &self.rows[i * d..(i + 1) * d]);
        match self.bias {
            Some(b) => s + b[i],
            None => s,
        }
    }

    /// The point `[rows[i], bias[i]]` into `out` (`point_dim()` long).
    fn point(&self, i: usize, out: &mut [f32]) {
        let d = self.dim;
        out[..d].copy_from_slice(&self.rows[i * d..(i + 1) * d]);
        if let Some(b) = self.bias {
            out[d] = b[i];
        }
    }
}

/// Build and search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct IvfParams {
    /// Number of lists; 0 = `⌈LISTS_PER_SQRT·√items⌉`. At most the number of items.
    pub lists: usize,
    /// Lists probed per query by default; 0 = calibrated: the fewest lists that give a mean
    /// recall@[`CALIBRATION_N`] of at least `target_recall` against the exact answer on the
    /// calibration queries.
    pub probe: usize,
    /// Recall the calibrated probe count aims at.
    pub target_recall: f64,
    /// k-means rounds on the sample.
    pub iterations: usize,
    /// Seed of the sample and of the initial centroids.
    pub seed: u64,
}

impl Default for IvfParams {
    fn default() -> Self {
        IvfParams {
            lists: 0,
            probe: 0,
            target_recall: 0.97,
            iterations: 10,
            seed: 42,
        }
    }
}

/// An inverted-file index over a model's item factors (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct IvfIndex {
    /// Width of a point (factors, plus one for a bias).
    point_dim: usize,
    /// Row-major `lists × point_dim`.
    centroids: Vec<f32>,
    /// Per list, the largest distance of an item point to its centroid.
    radii: Vec<f32>,
    /// Weight of the radii in the probe order.
    alpha: f32,
    /// `lists + 1` offsets into `items`.
    offsets: Vec<usize>,
    /// Item ids, list by list, ascending within a list; every item exactly once.
    items: Vec<u32>,
    /// Lists probed per query before the search may stop.
    probe: usize,
    /// The quantized rows (derived from the factors when the index is built or loaded; not
    /// stored in the file).
    codes: Codes,
}

/// The item factor rows in list order as int8 values with a scale per row (`y ≈ scale·code`,
/// `scale = max|y_k| / 127`), and per list the largest row norm `‖y_i‖` and quantization
/// error `‖y_i − scale·code_i‖`: what the search needs to score a probed list from 1/4 of the
/// bytes, in memory order, and to bound the error it makes (see [`IvfIndex::search`]).
#[derive(Debug, Clone, PartialEq, Default)]
struct Codes {
    /// Factors per item.
    dim: usize,
    /// `items × dim`, position `p` holding the row of `items[p]`.
    rows: Vec<i8>,
    /// Per position.
    scale: Vec<f32>,
    /// Per list.
    norm_max: Vec<f32>,
    /// Per list (infinite when a row holds a non-finite value).
    err_max: Vec<f32>,
    /// Largest `|b_i|` (0 without biases; infinite when one is not finite).
    bias_max: f32,
}

/// What the last [`IvfIndex::search`] did (for benchmarks and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Lists probed.
    pub lists: usize,
    /// Items of the probed lists (scored approximately).
    pub scanned: usize,
    /// Items scored exactly.
    pub rescored: usize,
    /// Whether the first exact re-ranking could not be proven to hold the answer, so the
    /// probed lists were scanned again for every item that might.
    pub extended: bool,
}

/// Reusable query buffers (one per thread of queries).
#[derive(Default)]
pub struct AnnScratch {
    query: Vec<f32>,
    keys: Vec<f32>,
    order: Vec<Scored>,
    found: Vec<Scored>,
    cands: Vec<u32>,
    q16: Vec<i16>,
    dots: Vec<i32>,
    approx: Vec<f32>,
    sel: Selection,
    top: TopN,
    stats: SearchStats,
}

impl AnnScratch {
    /// What the last search with these buffers did.
    pub fn stats(&self) -> SearchStats {
        self.stats
    }
}

/// Approximate candidates kept for exact re-ranking when `n` items are asked for.
pub fn rerank_count(n: usize) -> usize {
    n.saturating_mul(RERANK_FACTOR).saturating_add(RERANK_EXTRA)
}

/// The `k` best lists by key into `out`, best first (the order of [`best_first`] over
/// (list, key)): a bounded insertion, cheaper than ordering every list.
fn best_lists(keys: &[f32], k: usize, out: &mut Vec<Scored>) {
    out.clear();
    if k == 0 {
        return;
    }
    for (l, &key) in keys.iter().enumerate() {
        let c = Scored {
            item: l as u32,
            score: key,
        };
        if out.len() == k {
            if best_first(&c, &out[k - 1]) != core::cmp::Ordering::Less {
                continue;
            }
            out.pop();
        }
        let pos = out.partition_point(|o| best_first(o, &c) == core::cmp::Ordering::Less);
        out.insert(pos, c);
    }
}

impl Codes {
    fn new(f: ItemFactors, items: &[u32], offsets: &[usize]) -> Codes {
        let d = f.dim;
        let lists = offsets.len() - 1;
        let mut c = Codes {
            dim: d,
            rows: vec![0i8; items.len() * d],
            scale: vec![0f32; items.len()],
            norm_max: vec![0f32; lists],
            err_max: vec![0f32; lists],
            bias_max: 0.0,
        };
        for l in 0..lists {
            for (p, &i) in items.iter().enumerate().take(offsets[l + 1]).skip(offsets[l]) {
                let i = i as usize;
                let row = &f.rows[i * d..(i + 1) * d];
                let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                let scale = max / 127.0;
                let (mut norm2, mut err2) = (0f32, 0f32);
                for (q, &v) in c.rows[p * d..(p + 1) * d].iter_mut().zip(row) {
                    let code = if scale > 0.0 {
                        libm::roundf(v / scale).clamp(-127.0, 127.0)
                    } else {
                        0.0
                    };
                    *q = code as i8;
                    norm2 += v * v;
                    err2 += (v - code * scale) * (v - code * scale);
                }
                c.scale[p] = scale;
                c.norm_max[l] = c.norm_max[l].max(libm::sqrtf(norm2));
                let err = if row.iter().all(|v| v.is_finite()) {
                    libm::sqrtf(err2)
                } else {
                    f32::INFINITY
                };
                c.err_max[l] = c.err_max[l].max(err);
            }
        }
        if let Some(b) = f.bias {
            c.bias_max = b.iter().fold(0f32, |m, v| {
                if v.is_finite() {
                    m.max(v.abs())
                } else {
                    f32::INFINITY
                }
            });
        }
        c
    }

    fn memory_bytes(&self) -> usize {
        self.rows.len() + 4 * (self.scale.len() + self.norm_max.len() + self.err_max.len())
    }
}

/// A query quantized to int16 (`x ≈ step·q`), with the norms the error bound needs.
struct QuantizedQuery {
    step: f32,
    /// `‖step·q‖`, `‖x − step·q‖`, `‖x‖`.
    norm: f32,
    residual: f32,
    exact_norm: f32,
}

/// Quantizes `x` into `q` with the largest step whose int8·int16 dot products of `x.len()`
/// terms cannot overflow an i32 (at most 32767 steps per side). `None` when `x` holds a
/// non-finite value (or is absurdly long).
fn quantize_query(x: &[f32], q: &mut Vec<i16>) -> Option<QuantizedQuery> {
    let levels = (i32::MAX as usize / (127 * x.len().max(1))).min(32767);
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if levels < 127 || !x.iter().all(|v| v.is_finite()) {
        return None;
    }
    let step = max / levels as f32;
    q.clear();
    let (mut norm2, mut res2, mut exact2) = (0f32, 0f32, 0f32);
    for &v in x {
        let k = if step > 0.0 {
            libm::roundf(v / step).clamp(-(levels as f32), levels as f32)
        } else {
            0.0
        };
        q.push(k as i16);
        norm2 += (k * step) * (k * step);
        res2 += (v - k * step) * (v - k * step);
        exact2 += v * v;
    }
    Some(QuantizedQuery {
        step,
        norm: libm::sqrtf(norm2),
        residual: libm::sqrtf(res2),
        exact_norm: libm::sqrtf(exact2),
    })
}

/// Index of the nearest centroid to `x` (squared distance `‖c‖² − 2x·c`, ties to the lower
/// index); `dots` is a buffer of `norms.len()` values.
fn nearest(centroids: &[f32], norms: &[f32], x: &[f32], dots: &mut [f32]) -> u32 {
    kernels::matvec(centroids, x, dots);
    let mut best = (f32::INFINITY, 0u32);
    for (c, (&n, &d)) in norms.iter().zip(dots.iter()).enumerate() {
        let dist = n - 2.0 * d;
        if dist < best.0 {
            best = (dist, c as u32);
        }
    }
    best.1
}

/// Scores the items of `ids` that `filter` allows into `found`.
fn push_allowed(f: ItemFactors, query: &[f32], ids: &[u32], filter: &Filter, found: &mut Vec<Scored>) {
    for &i in ids {
        if filter.allows(i) {
            found.push(Scored {
                item: i,
                score: f.score(query, i as usize),
            });
        }
    }
}

/// Nearest centroid of every item of `f` into `labels` (`f.n_items()` long), in parallel
/// with `std`.
fn assign(f: ItemFactors, centroids: &[f32], labels: &mut [u32]) {
    let pd = f.point_dim();
    let lists = centroids.len() / pd;
    let norms: Vec<f32> = centroids.chunks_exact(pd).map(kernels::squared_norm).collect();
    let run = |start: usize, chunk: &mut [u32]| {
        let mut point = vec![0f32; pd];
        let mut dots = vec![0f32; lists];
        for (k, label) in chunk.iter_mut().enumerate() {
            f.point(start + k, &mut point);
            *label = nearest(centroids, &norms, &point, &mut dots);
        }
    };
    const CHUNK: usize = 1024;
    #[cfg(feature = "std")]
    {
        use rayon::prelude::*;
        labels
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| run(c * CHUNK, chunk));
    }
    #[cfg(not(feature = "std"))]
    for (c, chunk) in labels.chunks_mut(CHUNK).enumerate() {
        run(c * CHUNK, chunk);
    }
}

/// The mean point of each list (in item order, f64 sums); `None` for an empty list.
fn means(f: ItemFactors, labels: &[u32], lists: usize) -> Vec<Option<Vec<f32>>> {
    let pd = f.point_dim();
    let mut sums = vec![0f64; lists * pd];
    let mut counts = vec![0usize; lists];
    let mut point = vec![0f32; pd];
    for (i, &l) in labels.iter().enumerate() {
        f.point(i, &mut point);
        let l = l as usize;
        counts[l] += 1;
        for (s, &v) in sums[l * pd..(l + 1) * pd].iter_mut().zip(&point) {
            *s += v as f64;
        }
    }
    sums.chunks_exact(pd)
        .zip(&counts)
        .map(|(s, &c)| (c > 0).then(|| s.iter().map(|&v| (v / c as f64) as f32).collect()))
        .collect()
}

impl IvfIndex {
    /// Builds the index over `f` (see the module docs), calibrating the probe count on
    /// `queries` (row-major query vectors of width `f.dim`, e.g. user factors; empty = sampled
    /// item rows) unless `params.probe` is set. Fails with [`RecoError::InvalidData`] for an
    /// empty catalog or factor rows of width 0.
    pub fn build(f: ItemFactors, queries: &[f32], params: &IvfParams) -> Result<IvfIndex> {
        let n = f.n_items();
        if n == 0 || f.dim == 0 || f.rows.len() != n * f.dim || f.bias.is_some_and(|b| b.len() != n) {
            return Err(RecoError::InvalidData(format!(
                "cannot index {} factor values of width {} ({} items)",
                f.rows.len(),
                f.dim,
                n
            )));
        }
        if u32::try_from(n).is_err() {
            return Err(RecoError::InvalidData(format!("cannot index {n} items")));
        }
        let lists = match params.lists {
            0 => libm::ceil(LISTS_PER_SQRT * libm::sqrt(n as f64)) as usize,
            l => l,
        }
        .clamp(1, n);
        let pd = f.point_dim();
        let mut rng = Rng::new(params.seed);
        // The training sample: a seeded partial shuffle, kept in item order.
        let sample_n = lists.saturating_mul(SAMPLE_PER_LIST).min(n);
        let mut ids: Vec<u32> = (0..n as u32).collect();
        for k in 0..sample_n {
            let j = k + rng.below((n - k) as u32) as usize;
            ids.swap(k, j);
        }
        // Initial centroids: the first `lists` sampled points (distinct items).
        let mut centroids = vec![0f32; lists * pd];
        for (c, &i) in centroids.chunks_exact_mut(pd).zip(&ids[..lists]) {
            f.point(i as usize, c);
        }
        ids.truncate(sample_n);
        ids.sort_unstable();
        let mut sample = vec![0f32; sample_n * pd];
        for (p, &i) in sample.chunks_exact_mut(pd).zip(&ids) {
            f.point(i as usize, p);
        }
        drop(ids);
        let sample_f = ItemFactors {
            rows: &sample,
            dim: pd,
            bias: None,
        };
        let mut labels = vec![0u32; sample_n];
        for _ in 0..params.iterations {
            assign(sample_f, &centroids, &mut labels);
            for (l, mean) in means(sample_f, &labels, lists).into_iter().enumerate() {
                let c = &mut centroids[l * pd..(l + 1) * pd];
                match mean {
                    Some(m) => c.copy_from_slice(&m),
                    None => {
                        let k = rng.below(sample_n as u32) as usize;
                        c.copy_from_slice(&sample[k * pd..(k + 1) * pd]);
                    }
                }
            }
        }
        drop(sample);
        // Every item to its nearest centroid; centroids become the means of the full lists.
        let mut labels = vec![0u32; n];
        assign(f, &centroids, &mut labels);
        for (l, mean) in means(f, &labels, lists).into_iter().enumerate() {
            if let Some(m) = mean {
                centroids[l * pd..(l + 1) * pd].copy_from_slice(&m);
            }
        }
        // Counting sort of the items by list (ascending ids within a list).
        let mut offsets = vec![0usize; lists + 1];
        for &l in &labels {
            offsets[l as usize + 1] += 1;
        }
        for l in 0..lists {
            offsets[l + 1] += offsets[l];
        }
        let mut next = offsets.clone();
        let mut items = vec![0u32; n];
        for (i, &l) in labels.iter().enumerate() {
            items[next[l as usize]] = i as u32;
            next[l as usize] += 1;
        }
        let mut radii = vec![0f32; lists];
        let mut point = vec![0f32; pd];
        for (i, &l) in labels.iter().enumerate() {
            f.point(i, &mut point);
            let l = l as usize;
            let c = &centroids[l * pd..(l + 1) * pd];
            let d2: f32 = point.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
            radii[l] = radii[l].max(libm::sqrtf(d2));
        }
        let codes = Codes::new(f, &items, &offsets);
        let mut index = IvfIndex {
            point_dim: pd,
            centroids,
            radii,
            alpha: 1.0,
            offsets,
            items,
            probe: params.probe.clamp(1, lists),
            codes,
        };
        if params.probe == 0 {
            index.calibrate(f, &labels, queries, params, &mut rng);
        }
        Ok(index)
    }

    /// Chooses the probe order's radius weight `alpha` (among [`ALPHAS`]) and the probe count:
    /// for each weight, the fewest lists that give a mean recall@[`CALIBRATION_N`] of
    /// `params.target_recall` on `queries` (rows of `f.dim` values; when empty,
    /// [`CALIBRATION_QUERIES`] sampled item rows), i.e. that hold that share of the queries'
    /// exact top items (`labels`: each item's list); then the weight whose probe count scans
    /// the fewest items on average.
    fn calibrate(
        &mut self,
        f: ItemFactors,
        labels: &[u32],
        queries: &[f32],
        params: &IvfParams,
        rng: &mut Rng,
    ) {
        let n = f.n_items();
        let sampled: Vec<f32>;
        let queries = if queries.len() >= f.dim {
            queries
        } else {
            sampled = (0..CALIBRATION_QUERIES.min(n))
                .flat_map(|_| {
                    let i = rng.below(n as u32) as usize;
                    f.rows[i * f.dim..(i + 1) * f.dim].iter().copied()
                })
                .collect();
            &sampled
        };
        // Each query's exact top items, as their lists.
        let top_lists = |q: &[f32]| -> Vec<u32> {
            let mut scores = vec![0f32; n];
            kernels::matvec(f.rows, q, &mut scores);
            if let Some(b) = f.bias {
                for (s, &b) in scores.iter_mut().zip(b) {
                    *s += b;
                }
            }
            let top = crate::topn::top_n(&scores, CALIBRATION_N, &Filter::default());
            top.iter().map(|s| labels[s.item as usize]).collect()
        };
        #[cfg(feature = "std")]
        let tops: Vec<Vec<u32>> = {
            use rayon::prelude::*;
            queries.par_chunks(f.dim).map(top_lists).collect()
        };
        #[cfg(not(feature = "std"))]
        let tops: Vec<Vec<u32>> = queries.chunks(f.dim).map(top_lists).collect();
        let lists = self.lists();
        let total: usize = tops.iter().map(Vec::len).sum();
        let want = libm::ceil(params.target_recall.clamp(0.0, 1.0) * total as f64) as usize;
        let (mut keys, mut order, mut pos) = (vec![0f32; lists], Vec::new(), vec![0usize; lists]);
        let mut x = Vec::new();
        let mut best = (f64::INFINITY, 0f32, lists);
        for alpha in ALPHAS {
            self.alpha = alpha;
            // Per query, the probe order; the positions of its top items' lists.
            let mut orders = Vec::with_capacity(tops.len());
            let mut histogram = vec![0usize; lists];
            for (q, top) in queries.chunks_exact(f.dim).zip(&tops) {
                x.clear();
                x.extend_from_slice(q);
                x.resize(self.point_dim, 1.0);
                self.list_keys(&x, &mut keys);
                order.clear();
                order.extend(0..lists as u32);
                order.sort_unstable_by(|a: &u32, b: &u32| {
                    keys[*b as usize].total_cmp(&keys[*a as usize]).then(a.cmp(b))
                });
                for (k, &l) in order.iter().enumerate() {
                    pos[l as usize] = k;
                }
                for &l in top {
                    histogram[pos[l as usize]] += 1;
                }
                orders.push(order.clone());
            }
            let mut covered = 0;
            let probe = histogram
                .iter()
                .position(|&h| {
                    covered += h;
                    covered >= want
                })
                .map_or(lists, |k| k + 1);
            let scanned: usize = orders
                .iter()
                .flat_map(|o| &o[..probe])
                .map(|&l| self.offsets[l as usize + 1] - self.offsets[l as usize])
                .sum();
            let cost = scanned as f64 / orders.len().max(1) as f64;
            if cost < best.0 {
                best = (cost, alpha, probe);
            }
        }
        self.alpha = best.1;
        self.probe = best.2;
    }

    /// The probe-order key of every list for the augmented query `x = [q, 1]`:
    /// `x·c_l + alpha·‖x‖·r_l` (`alpha = 1`: the upper bound of its items' scores).
    fn list_keys(&self, x: &[f32], keys: &mut [f32]) {
        kernels::matvec(&self.centroids, x, keys);
        let norm = self.alpha * libm::sqrtf(kernels::squared_norm(x));
        for (k, &r) in keys.iter_mut().zip(&self.radii) {
            *k += norm * r;
        }
    }

    /// Number of lists.
    pub fn lists(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of indexed items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Lists probed per query before a search may stop.
    pub fn probe(&self) -> usize {
        self.probe
    }

    /// Sets the lists probed per query (clamped to `1..=lists()`).
    pub fn set_probe(&mut self, probe: usize) {
        self.probe = probe.clamp(1, self.lists());
    }

    /// Bytes the index holds in memory: centroids, radii, offsets as u32 and ids (what the
    /// model file stores, but for the offsets' width), plus the int8 rows, their scales and
    /// the per-list error bounds derived at load.
    pub fn memory_bytes(&self) -> usize {
        4 * (self.centroids.len() + self.radii.len() + self.offsets.len() + self.items.len())
            + self.codes.memory_bytes()
    }

    /// The best `n` allowed items for query vector `query` into `out`, best first, with their
    /// exact scores `query·y_i + b_i` (see the module docs). `f` must be the factors the index
    /// was built or loaded for ([`IvfIndex::from_model_file`] checks their shape).
    pub fn search(
        &self,
        f: ItemFactors,
        query: &[f32],
        n: usize,
        filter: &Filter,
        s: &mut AnnScratch,
        out: &mut Vec<Scored>,
    ) {
        out.clear();
        s.found.clear();
        s.stats = SearchStats::default();
        if n == 0 {
            return;
        }
        let n_items = f.n_items();
        if let Some(cands) = filter.candidates {
            s.cands.clear();
            s.cands
                .extend(cands.iter().copied().filter(|&i| (i as usize) < n_items));
            s.cands.sort_unstable();
            s.cands.dedup();
            push_allowed(f, query, &s.cands, filter, &mut s.found);
            s.stats.rescored = s.found.len();
            s.top.select_scored(&s.found, n, out);
            return;
        }
        s.query.clear();
        s.query.extend_from_slice(query);
        s.query.resize(self.point_dim, 1.0);
        let lists = self.lists();
        s.keys.resize(lists, 0.0);
        self.list_keys(&s.query, &mut s.keys);
        // The first `probe` lists in order; the rest are ordered only if needed.
        let probe = self.probe.min(lists);
        best_lists(&s.keys, probe, &mut s.order);
        // Without a usable quantized query (or with factors the codes were not made from),
        // every approximate score is 0 and the error bound infinite: the answer is then the
        // exact one over the probed lists, as it is otherwise.
        let d = self.codes.dim;
        let same = f.dim == d && n_items == self.n_items();
        let qq = if same {
            quantize_query(query, &mut s.q16)
        } else {
            None
        };
        if qq.is_none() {
            s.q16.clear();
            s.q16.resize(d, 0);
        }
        let step = qq.as_ref().map_or(0.0, |q| q.step);
        s.sel.reset(rerank_count(n));
        let (mut norm_max, mut err_max) = (0f32, 0f32);
        let mut k = 0;
        while k < lists {
            if k >= probe && s.sel.len() >= n {
                break;
            }
            if k == s.order.len() {
                s.order.clear();
                s.order.extend(s.keys.iter().enumerate().map(|(l, &key)| Scored {
                    item: l as u32,
                    score: key,
                }));
                s.order.sort_unstable_by(best_first);
            }
            let l = s.order[k].item as usize;
            let (a, b) = (self.offsets[l], self.offsets[l + 1]);
            self.approximate(f, a..b, step, &s.q16, &mut s.dots, &mut s.approx);
            for (p, &approx) in (a..b).zip(&s.approx) {
                s.sel.offer(
                    Scored {
                        item: self.items[p],
                        score: approx,
                    },
                    filter,
                );
            }
            norm_max = norm_max.max(self.codes.norm_max[l]);
            err_max = err_max.max(self.codes.err_max[l]);
            s.stats.scanned += b - a;
            k += 1;
        }
        s.stats.lists = k;
        // Exact scores of the best approximate candidates (all allowed).
        let (kept, bar) = s.sel.finish();
        s.found.extend(kept.iter().map(|c| Scored {
            item: c.item,
            score: f.score(query, c.item as usize),
        }));
        s.stats.rescored = s.found.len();
        s.top.select_scored(&s.found, n, out);
        let Some(bar) = bar else {
            // Every allowed item of the probed lists was scored exactly.
            return;
        };
        // An item's approximate score is within `bound` of its exact one:
        // |x·y − x̂·ŷ| ≤ ‖x̂‖·‖y − ŷ‖ + ‖x − x̂‖·‖y‖, plus the rounding of both computations.
        let bound = match &qq {
            Some(q) => {
                let eps = 4.0 * (d as f32 + 4.0) * f32::EPSILON;
                (q.norm * err_max + q.residual * norm_max) * 1.01
                    + eps * (q.exact_norm * norm_max + self.codes.bias_max)
            }
            None => f32::INFINITY,
        };
        let t = if out.len() == n {
            out[n - 1].score
        } else {
            f32::NEG_INFINITY
        };
        // Every dropped candidate's exact score is below the n-th exact score found: the
        // answer is exact over the probed lists.
        if bar.score + bound < t {
            return;
        }
        // Else score exactly every allowed item that could beat it (with a NaN bound, every
        // item could).
        s.stats.extended = true;
        s.found.clear();
        for &Scored { item: l, .. } in &s.order[..k] {
            let (a, b) = (self.offsets[l as usize], self.offsets[l as usize + 1]);
            self.approximate(f, a..b, step, &s.q16, &mut s.dots, &mut s.approx);
            for (p, &approx) in (a..b).zip(&s.approx) {
                let i = self.items[p];
                let could_win = (approx + bound).partial_cmp(&t) != Some(core::cmp::Ordering::Less);
                if could_win && filter.allows(i) {
                    s.found.push(Scored {
                        item: i,
                        score: f.score(query, i as usize),
                    });
                }
            }
        }
        s.stats.rescored += s.found.len();
        s.top.select_scored(&s.found, n, out);
    }

    /// The approximate scores `step·(q·code_p)·scale_p + b_{items[p]}` of the positions in
    /// `range` into `approx`.
    fn approximate(
        &self,
        f: ItemFactors,
        range: core::ops::Range<usize>,
        step: f32,
        q: &[i16],
        dots: &mut Vec<i32>,
        approx: &mut Vec<f32>,
    ) {
        let d = self.codes.dim;
        dots.resize(range.len(), 0);
        kernels::dot_i8_rows(&self.codes.rows[range.start * d..range.end * d], q, dots);
        approx.clear();
        approx.extend(range.zip(dots.iter()).map(|(p, &dot)| {
            let v = dot as f32 * (step * self.codes.scale[p]);
            match f.bias {
                Some(b) => v + b[self.items[p] as usize],
                None => v,
            }
        }));
    }

    /// Stores the index in `file` as tensors `ann.centroids` (f32 `[lists, point_dim]`),
    /// `ann.radii` (f32 `[lists]`), `ann.offsets` (u64 `[lists + 1]`), `ann.items` (u32
    /// `[items]`) and `ann.probe` (u32 `[1]`).
    pub fn put(&self, file: &mut ModelFile) {
        file.put_f32(CENTROIDS, &[self.lists(), self.point_dim], self.centroids.clone());
        file.put_f32(RADII, &[self.lists()], self.radii.clone());
        file.put_f32(ALPHA, &[1], vec![self.alpha]);
        let offsets = self.offsets.iter().map(|&o| o as u64).collect();
        file.put_u64(OFFSETS, &[self.offsets.len()], offsets);
        file.put_u32(ITEMS, &[self.items.len()], self.items.clone());
        file.put_u32(PROBE, &[1], vec![self.probe as u32]);
    }

    /// Removes an index from `file` (no-op without one).
    pub fn remove(file: &mut ModelFile) {
        file.tensors.retain(|k, _| !k.starts_with(INDEX_TENSOR_PREFIX));
    }

    /// The index stored in `file` by [`IvfIndex::put`], `None` if there is none, checked
    /// whole against the factors `f`: shapes, offsets (start 0, monotone, end = items), every
    /// item id in range and listed exactly once, probe in `1..=lists`. Any violation is a
    /// [`RecoError::CorruptModel`] naming the tensor.
    pub fn from_model_file(file: &ModelFile, f: ItemFactors) -> Result<Option<IvfIndex>> {
        if !file_has_index(file) {
            return Ok(None);
        }
        let corrupt = |m: alloc::string::String| RecoError::CorruptModel(format!("ANN index: {m}"));
        fn named(e: RecoError) -> RecoError {
            RecoError::CorruptModel(format!("ANN index: {e}"))
        }
        let n = f.n_items();
        let pd = f.point_dim();
        let centroids = file.f32(CENTROIDS, &[None, Some(pd)]).map_err(named)?;
        let lists = centroids.len() / pd;
        if lists == 0 || lists > n {
            return Err(corrupt(format!("`{CENTROIDS}` has {lists} lists for {n} items")));
        }
        let radii = file.f32(RADII, &[Some(lists)]).map_err(named)?;
        if let Some(r) = radii.iter().find(|r| r.is_nan() || **r < 0.0) {
            return Err(corrupt(format!("`{RADII}` holds the radius {r}")));
        }
        let alpha = file.f32(ALPHA, &[Some(1)]).map_err(named)?[0];
        if alpha.is_nan() || alpha < 0.0 {
            return Err(corrupt(format!("`{ALPHA}` is {alpha}, expected at least 0")));
        }
        let offsets = file.u64(OFFSETS, &[Some(lists + 1)]).map_err(named)?;
        let items = file.u32(ITEMS, &[Some(n)]).map_err(named)?;
        let probe = file.u32(PROBE, &[Some(1)]).map_err(named)?[0] as usize;
        if offsets[0] != 0 || offsets[lists] != n as u64 || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(corrupt(format!(
                "`{OFFSETS}` must rise from 0 to {n} (the item count)"
            )));
        }
        let mut listed = vec![false; n];
        for &i in items {
            match listed.get_mut(i as usize) {
                None => return Err(corrupt(format!("`{ITEMS}` holds item {i} of {n}"))),
                Some(true) => return Err(corrupt(format!("`{ITEMS}` lists item {i} twice"))),
                Some(seen) => *seen = true,
            }
        }
        if probe == 0 || probe > lists {
            return Err(corrupt(format!("`{PROBE}` is {probe}, expected 1..={lists}")));
        }
        let offsets: Vec<usize> = offsets.iter().map(|&o| o as usize).collect();
        let codes = Codes::new(f, items, &offsets);
        Ok(Some(IvfIndex {
            point_dim: pd,
            centroids: centroids.to_vec(),
            radii: radii.to_vec(),
            alpha,
            offsets,
            items: items.to_vec(),
            probe,
            codes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topn::top_n;

    /// Planted item factors: `clusters` directions, items around them with log-normal norms.
    fn planted(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let centers: Vec<f32> = (0..clusters * dim).map(|_| rng.next_normal()).collect();
        let mut rows = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let c = rng.below(clusters as u32) as usize;
            let scale = libm::expf(0.5 * rng.next_normal()) / libm::sqrtf(dim as f32);
            for k in 0..dim {
                rows.push(scale * (centers[c * dim + k] + 0.5 * rng.next_normal()));
            }
        }
        rows
    }

    fn exact(f: ItemFactors, q: &[f32], n: usize, filter: &Filter) -> Vec<Scored> {
        let scores: Vec<f32> = (0..f.n_items()).map(|i| f.score(q, i)).collect();
        top_n(&scores, n, filter)
    }

    fn recall(f: ItemFactors, index: &IvfIndex, queries: &[f32], n: usize) -> f64 {
        let mut s = AnnScratch::default();
        let mut out = Vec::new();
        let (mut hit, mut total) = (0usize, 0usize);
        for q in queries.chunks_exact(f.dim) {
            index.search(f, q, n, &Filter::default(), &mut s, &mut out);
            let want = exact(f, q, n, &Filter::default());
            hit += want
                .iter()
                .filter(|w| out.iter().any(|o| o.item == w.item))
                .count();
            total += want.len();
        }
        hit as f64 / total as f64
    }

    #[test]
    fn recall_on_planted_factors_and_garbage_is_caught() {
        let (n, dim) = (20_000, 16);
        let rows = planted(n, dim, 50, 1);
        let bias: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.01).collect();
        let queries = planted(200, dim, 50, 2);
        let calibration = planted(200, dim, 50, 9);
        for bias in [None, Some(bias.as_slice())] {
            let f = ItemFactors {
                rows: &rows,
                dim,
                bias,
            };
            let index = IvfIndex::build(f, &calibration, &IvfParams::default()).unwrap();
            assert_eq!(index.lists(), 283);
            let r = recall(f, &index, &queries, 10);
            assert!(r >= 0.95, "recall@10 {r}");
            // Probing one list cannot give the same recall: the test sees a bad index.
            let mut one = index.clone();
            one.set_probe(1);
            assert!(recall(f, &one, &queries, 10) < r);
            // Probing every list is exact.
            let mut all = index.clone();
            all.set_probe(all.lists());
            assert_eq!(recall(f, &all, &queries, 10), 1.0);
        }
    }

    /// The answer the search must give: every allowed item of the probed lists (the first
    /// `probe`, then more until `n` allowed were seen) scored exactly, best `n`.
    fn exact_over_probed(
        index: &IvfIndex,
        f: ItemFactors,
        q: &[f32],
        n: usize,
        filter: &Filter,
    ) -> Vec<Scored> {
        let mut x = q.to_vec();
        x.resize(index.point_dim, 1.0);
        let mut keys = vec![0f32; index.lists()];
        index.list_keys(&x, &mut keys);
        let mut order: Vec<Scored> = keys
            .iter()
            .enumerate()
            .map(|(l, &score)| Scored {
                item: l as u32,
                score,
            })
            .collect();
        order.sort_by(best_first);
        let mut found = Vec::new();
        for (k, o) in order.iter().enumerate() {
            if k >= index.probe() && found.len() >= n {
                break;
            }
            let l = o.item as usize;
            for &i in &index.items[index.offsets[l]..index.offsets[l + 1]] {
                if filter.allows(i) {
                    found.push(Scored {
                        item: i,
                        score: f.score(q, i as usize),
                    });
                }
            }
        }
        let mut out = Vec::new();
        TopN::new().select_scored(&found, n, &mut out);
        out
    }

    fn bits(v: &[Scored]) -> Vec<(u32, u32)> {
        v.iter().map(|s| (s.item, s.score.to_bits())).collect()
    }

    #[test]
    fn int8_scan_gives_the_exact_answer_over_the_probed_lists() {
        let (n, dim) = (6000, 24);
        let mut rows = planted(n, dim, 30, 11);
        // Rows whose int8 codes are poor (one large value crushes the others' resolution),
        // and a block of identical rows (ties at the re-ranking's edge).
        for i in (0..n).step_by(37) {
            rows[i * dim] = 40.0;
        }
        let twin = rows[5 * dim..6 * dim].to_vec();
        for i in 100..160 {
            rows[i * dim..(i + 1) * dim].copy_from_slice(&twin);
        }
        let bias: Vec<f32> = (0..n).map(|i| ((i * 7919) % 13) as f32 * 0.05 - 0.3).collect();
        let queries = planted(60, dim, 30, 12);
        let (mut extended, mut certified) = (0, 0);
        for bias in [None, Some(bias.as_slice())] {
            let f = ItemFactors {
                rows: &rows,
                dim,
                bias,
            };
            let mut index = IvfIndex::build(f, &[], &IvfParams::default()).unwrap();
            let mut s = AnnScratch::default();
            let mut out = Vec::new();
            for probe in [1, 3, index.lists()] {
                index.set_probe(probe);
                for (k, q) in queries.chunks_exact(dim).enumerate() {
                    let seen: Vec<u32> = (0..n as u32)
                        .filter(|i| (i + k as u32).is_multiple_of(9))
                        .collect();
                    let exclude = [5, 100, 101, (k * 13) as u32];
                    for filter in [
                        Filter::default(),
                        Filter {
                            seen: &seen,
                            exclude: &exclude,
                            candidates: None,
                        },
                    ] {
                        for want_n in [1, 10, 50] {
                            index.search(f, q, want_n, &filter, &mut s, &mut out);
                            let want = exact_over_probed(&index, f, q, want_n, &filter);
                            assert_eq!(bits(&out), bits(&want), "probe {probe} query {k} n {want_n}");
                            let st = s.stats();
                            assert!(st.lists >= probe.min(index.lists()) && st.scanned >= st.lists);
                            if st.extended {
                                extended += 1;
                            } else if st.rescored < st.scanned {
                                certified += 1;
                            }
                        }
                    }
                }
            }
        }
        // Both ways to the answer were taken: proven from the first re-ranking, and rescanned.
        assert!(
            extended > 0 && certified > extended,
            "{extended} extended, {certified} certified"
        );
        // A query with a non-finite value is still answered exactly over the probed lists.
        let f = ItemFactors {
            rows: &rows,
            dim,
            bias: None,
        };
        let index = IvfIndex::build(f, &[], &IvfParams::default()).unwrap();
        let mut q = queries[..dim].to_vec();
        q[3] = f32::INFINITY;
        let mut s = AnnScratch::default();
        let mut out = Vec::new();
        index.search(f, &q, 10, &Filter::default(), &mut s, &mut out);
        assert_eq!(
            bits(&out),
            bits(&exact_over_probed(&index, f, &q, 10, &Filter::default()))
        );
    }

    #[test]
    fn build_is_deterministic_and_covers_every_item_once() {
        let rows = planted(3000, 8, 10, 3);
        let f = ItemFactors {
            rows: &rows,
            dim: 8,
            bias: None,
        };
        let a = IvfIndex::build(f, &[], &IvfParams::default()).unwrap();
        assert_eq!(a, IvfIndex::build(f, &[], &IvfParams::default()).unwrap());
        let other = IvfParams {
            seed: 7,
            ..Default::default()
        };
        assert_ne!(a, IvfIndex::build(f, &[], &other).unwrap());
        let mut ids = a.items.clone();
        ids.sort_unstable();
        assert_eq!(ids, (0..3000).collect::<Vec<u32>>());
        // More lists than items, one item.
        let one = ItemFactors {
            rows: &rows[..8],
            dim: 8,
            bias: None,
        };
        let idx = IvfIndex::build(
            one,
            &[],
            &IvfParams {
                lists: 5,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((idx.lists(), idx.probe()), (1, 1));
        assert!(IvfIndex::build(
            ItemFactors {
                rows: &[],
                dim: 8,
                bias: None
            },
            &[],
            &IvfParams::default()
        )
        .is_err());
    }

    #[test]
    fn filters_never_cost_slots() {
        let (n, dim) = (5000, 8);
        let rows = planted(n, dim, 20, 4);
        let f = ItemFactors {
            rows: &rows,
            dim,
            bias: None,
        };
        let index = IvfIndex::build(
            f,
            &[],
            &IvfParams {
                probe: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let q = &planted(1, dim, 20, 5)[..];
        let mut s = AnnScratch::default();
        let mut out = Vec::new();
        // Exclude the exact top 2,000 (far more than the probed list holds): n still survive.
        let top: Vec<u32> = exact(f, q, 2000, &Filter::default())
            .iter()
            .map(|s| s.item)
            .collect();
        let mut seen = top[..1500].to_vec();
        seen.sort_unstable();
        let filter = Filter {
            seen: &seen,
            exclude: &top[1500..],
            candidates: None,
        };
        index.search(f, q, 10, &filter, &mut s, &mut out);
        assert_eq!(out.len(), 10);
        assert!(out.iter().all(|o| filter.allows(o.item)));
        // All but 3 items filtered: exactly those 3 come back, best first (the exact answer).
        let mut seen: Vec<u32> = (3..n as u32).collect();
        seen.sort_unstable();
        let filter = Filter {
            seen: &seen,
            ..Default::default()
        };
        index.search(f, q, 10, &filter, &mut s, &mut out);
        assert_eq!(out, exact(f, q, 10, &filter));
        // A candidate list is answered exactly (repeats and out-of-range ids ignored).
        let cands: Vec<u32> = (0..n as u32).step_by(5).chain([7, 7, 99_999]).collect();
        let filter = Filter {
            seen: &[0, 5],
            exclude: &[10],
            candidates: Some(&cands),
        };
        index.search(f, q, 20, &filter, &mut s, &mut out);
        assert_eq!(out, exact(f, q, 20, &filter));
    }

    #[test]
    fn model_file_round_trip_and_corrupt_indexes_are_named() {
        let rows = planted(2000, 8, 10, 6);
        let f = ItemFactors {
            rows: &rows,
            dim: 8,
            bias: None,
        };
        let index = IvfIndex::build(f, &[], &IvfParams::default()).unwrap();
        let mut file = ModelFile::new(crate::model_file::ModelKind::Als);
        assert_eq!(IvfIndex::from_model_file(&file, f).unwrap(), None);
        index.put(&mut file);
        assert!(file_has_index(&file));
        assert_eq!(
            IvfIndex::from_model_file(&file, f).unwrap().as_ref(),
            Some(&index)
        );
        let broken = |edit: &dyn Fn(&mut ModelFile)| {
            let mut g = file.clone();
            edit(&mut g);
            match IvfIndex::from_model_file(&g, f) {
                Err(RecoError::CorruptModel(m)) => m,
                other => panic!("expected a corrupt-model error, got {other:?}"),
            }
        };
        let lists = index.lists();
        let mut items = index.items.clone();
        items[1] = items[0];
        assert!(broken(&|g| g.put_u32(ITEMS, &[2000], items.clone())).contains("twice"));
        let mut items = index.items.clone();
        items[3] = 2000;
        assert!(broken(&|g| g.put_u32(ITEMS, &[2000], items.clone())).contains("item 2000 of 2000"));
        let mut offsets: Vec<u64> = index.offsets.iter().map(|&o| o as u64).collect();
        offsets[1] = 5000;
        assert!(broken(&|g| g.put_u64(OFFSETS, &[lists + 1], offsets.clone())).contains("ann.offsets"));
        assert!(broken(&|g| g.put_u32(PROBE, &[1], vec![0])).contains("ann.probe"));
        assert!(broken(&|g| g.put_f32(RADII, &[lists], vec![-1.0; lists])).contains("ann.radii"));
        assert!(broken(&|g| g.put_f32(ALPHA, &[1], vec![-1.0])).contains("ann.alpha"));
        assert!(broken(&|g| {
            g.tensors.remove(ITEMS);
        })
        .contains("ann.items"));
        let wide = ItemFactors {
            rows: &rows[..1995 * 8],
            dim: 8,
            bias: None,
        };
        assert!(IvfIndex::from_model_file(&file, wide).is_err());
        IvfIndex::remove(&mut file);
        assert!(!file_has_index(&file));
    }
}
