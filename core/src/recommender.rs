//! The serving facade: one trained model plus its catalog (item ids and names, the users it
//! knows and what they already have), answering by external string ids.
//!
//! This is the API the CLI, the REST server, the wasm package and the edge worker share, so
//! they give the same answers for the same model file.
//!
//! Fallback rules (the same everywhere):
//! - a user id the model never saw gets the most popular items (`Fallback::Popularity`);
//! - a basket whose items are all unknown (or empty) gets the same;
//! - for models whose scores mean "no evidence" at `<= 0` (user-KNN), slots left empty by the
//!   neighbours are filled with the most popular remaining items, each flagged
//!   (`Fallback::Partial`).
//!
//! Popularity = number of training users per item; ties by lower item index.
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde_json::Value;

use crate::ann::{file_has_index, AnnMode, AnnScratch, ItemFactors, IvfIndex, IvfParams};
use crate::error::{RecoError, Result};
use crate::matrix::{CsrMatrix, IdMap, Interactions};
use crate::model_file::{ModelFile, ModelKind};
use crate::scorer::{merge_repeated, ItemScorer, ScoreScratch};
use crate::topn::{Filter, Scored, TopN};

/// The largest `n` a caller may ask for.
pub const MAX_N: usize = 10_000;

const SEEN: &str = "catalog.seen";
const POPULARITY: &str = "catalog.popularity";

/// A scorer that can be shared between threads.
pub type SharedScorer = Box<dyn ItemScorer + Send + Sync>;

/// Which part of an answer came from the popularity fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Every item came from the model.
    #[default]
    None,
    /// Some slots were filled from popularity (each such item is flagged).
    Partial,
    /// The whole list is popularity (unknown user, or no usable basket item).
    Popularity,
}

impl Fallback {
    /// `none`, `partial` or `popularity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::None => "none",
            Fallback::Partial => "partial",
            Fallback::Popularity => "popularity",
        }
    }
}

/// One recommended item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecommendedItem {
    /// Dense item index (see [`Recommender::item_id`], [`Recommender::item_name`]).
    pub index: u32,
    /// Model score; for a fallback item its popularity instead (the number of training users
    /// who have it), so compare scores only among items with the same `fallback` flag.
    pub score: f32,
    /// True when this item came from the popularity fallback.
    pub fallback: bool,
}

/// An answer: items best first, which fallback applied, and the ids that were not found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recommendations {
    /// Recommended items, best first.
    pub items: Vec<RecommendedItem>,
    /// Which fallback applied.
    pub fallback: Fallback,
    /// Ids in the request (basket, exclude or candidate list) that the model does not know.
    pub unknown_items: Vec<String>,
}

/// Optional constraints on a list.
#[derive(Debug, Clone, Default)]
pub struct RecommendOptions {
    /// Also return items the user (or basket) already has. Default false.
    pub include_seen: bool,
    /// Item ids never to return.
    pub exclude: Vec<String>,
    /// When set, only these item ids may be returned.
    pub candidates: Option<Vec<String>>,
}

/// What is known of a user beyond the model file: interactions that arrived after training
/// (a server's live events). See [`Recommender::recommend_user_live`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveHistory<'a> {
    /// The user's new interactions as (item index, weight); items may repeat (weights add).
    pub items: &'a [(u32, f32)],
    /// Added to the popularity model's counts as (item index, new users): the popularity model
    /// ranks by `catalog.popularity + this`. Ignored by the other kinds (their fallback keeps
    /// the file's counts).
    pub popularity: &'a [(u32, f32)],
}

/// Reusable buffers so repeated queries do not allocate (one per thread).
#[derive(Default)]
pub struct Scratch {
    scores: Vec<f32>,
    top: TopN,
    selected: Vec<Scored>,
    basket: Vec<(u32, f32)>,
    exclude: Vec<u32>,
    candidates: Vec<u32>,
    seen: Vec<u32>,
    blocked: Vec<bool>,
    scorer: ScoreScratch,
    query: Vec<f32>,
    ann: AnnScratch,
}

/// A trained model with its catalog, ready to answer by external ids.
pub struct Recommender {
    kind: ModelKind,
    scorer: SharedScorer,
    items: IdMap,
    item_names: Vec<String>,
    users: IdMap,
    seen: CsrMatrix,
    popularity: Vec<f32>,
    popularity_order: Vec<u32>,
    params: Value,
    training: Value,
    /// The model trained on binarized interactions (`training.binary`).
    binary: bool,
    /// The approximate top-N index stored in the file, if any.
    index: Option<IvfIndex>,
    /// Whether queries go through `index` (on when the file has one).
    approximate: bool,
}

/// Adds the catalog every model file carries to `file`: item and user ids, product names,
/// the training interactions (`catalog.seen.*`, so served users' items are excluded) and the
/// item popularity (`catalog.popularity`, for the fallback).
pub fn attach_catalog(file: &mut ModelFile, train: &Interactions, item_names: &[String]) {
    file.item_ids = train.items.ids().to_vec();
    file.item_names = if item_names.len() == train.items.len() {
        item_names.to_vec()
    } else {
        Vec::new()
    };
    file.user_ids = train.users.ids().to_vec();
    file.put_csr(SEEN, &train.matrix);
    let popularity = train.matrix.binarized().column_sums();
    file.put_f32(POPULARITY, &[popularity.len()], popularity);
}

/// Builds (or, with [`AnnMode::Off`], removes) the approximate top-N index of `file` (see
/// [`crate::ann`]): for factor models (ALS, LightFM) when `mode` wants one for the catalog
/// size; other kinds never get one. The default probe count is calibrated on up to
/// [`crate::ann::CALIBRATION_QUERIES`] of the file's users (sampled items without users).
/// Returns whether the file now holds an index.
pub fn attach_index(file: &mut ModelFile, mode: AnnMode, params: &IvfParams) -> Result<bool> {
    IvfIndex::remove(file);
    if !mode.wants_index(file.item_ids.len()) {
        return Ok(false);
    }
    let scorer = load_scorer(file)?;
    let Some(factors) = scorer.item_factors() else {
        return Ok(false);
    };
    // Calibration queries: evenly spaced users' vectors (none in an item-only file).
    let users = file.user_ids.len();
    let mut queries = Vec::new();
    let mut x = Vec::new();
    let mut scratch = ScoreScratch::new();
    for k in 0..crate::ann::CALIBRATION_QUERIES.min(users) {
        let u = (k * users / crate::ann::CALIBRATION_QUERIES.min(users)) as u32;
        if scorer.user_query(u, &mut x, &mut scratch).is_some() {
            queries.extend_from_slice(&x);
        }
    }
    IvfIndex::build(factors, &queries, params)?.put(file);
    Ok(true)
}

/// Builds the scorer for the model kind recorded in `file`.
pub fn load_scorer(file: &ModelFile) -> Result<SharedScorer> {
    match file.kind {
        ModelKind::Als => Ok(Box::new(crate::als::AlsModel::from_model_file(file)?)),
        _ => load_other_scorer(file),
    }
}

/// [`load_scorer`] that moves the large tensors (ALS factors) out of `file` instead of
/// copying them, so a loaded model holds them once.
fn take_scorer(file: &mut ModelFile) -> Result<SharedScorer> {
    match file.kind {
        ModelKind::Als => Ok(Box::new(crate::als::AlsModel::take_from_model_file(file)?)),
        // (Not through `load_scorer`: a wasm binary then holds one ALS loader, not two.)
        _ => load_other_scorer(file),
    }
}

/// The scorers of the kinds other than ALS.
fn load_other_scorer(file: &ModelFile) -> Result<SharedScorer> {
    Ok(match file.kind {
        // Handled by the callers (never reached).
        ModelKind::Als => {
            return Err(RecoError::WrongModelKind {
                expected: "not als".into(),
                found: "als".into(),
            })
        }
        ModelKind::Popularity => Box::new(crate::popularity::PopularityModel::from_model_file(file)?),
        ModelKind::LightFm => Box::new(crate::lightfm::LightFmModel::from_model_file(file)?),
        ModelKind::UserKnn => Box::new(crate::knn::UserKnnModel::from_model_file(file)?),
        ModelKind::ItemKnn => Box::new(crate::knn::ItemKnnModel::from_model_file(file)?),
        ModelKind::Ease | ModelKind::Rp3Beta => {
            Box::new(crate::item_item::ItemItemModel::from_model_file(file)?)
        }
    })
}

impl Recommender {
    /// Loads a model file from bytes (see [`ModelFile::from_bytes`] for the errors).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_model_file(ModelFile::from_bytes(bytes)?)
    }

    /// Builds the recommender from a parsed model file, validating the catalog.
    pub fn from_model_file(mut file: ModelFile) -> Result<Self> {
        // The catalog first (cheap), then the model.
        let corrupt = |m: String| RecoError::CorruptModel(m);
        let n_items = file.item_ids.len();
        let items = IdMap::from_ids(file.item_ids.clone()).map_err(|e| corrupt(e.to_string()))?;
        let users = IdMap::from_ids(file.user_ids.clone()).map_err(|e| corrupt(e.to_string()))?;
        let seen = if file.tensors.contains_key(&format!("{SEEN}.shape")) {
            file.take_csr(SEEN)?
        } else {
            CsrMatrix::from_parts(0, n_items, vec![0], Vec::new(), Vec::new())?
        };
        if seen.n_cols() != n_items || (seen.n_rows() != users.len() && seen.n_rows() != 0) {
            return Err(corrupt(format!(
                "catalog.seen is {} x {}, expected {} users x {n_items} items",
                seen.n_rows(),
                seen.n_cols(),
                users.len()
            )));
        }
        let popularity = file.f32(POPULARITY, &[Some(n_items)])?.to_vec();
        // Files from bytes are checked already; this covers files built in memory.
        if let Some(k) = popularity.iter().position(|p| !p.is_finite()) {
            return Err(corrupt(format!(
                "tensor `{POPULARITY}` holds the non-finite value {} at position {k}",
                popularity[k]
            )));
        }
        let scorer = take_scorer(&mut file)?;
        if scorer.n_items() != n_items {
            return Err(corrupt(format!(
                "{n_items} item ids for a model of {} items",
                scorer.n_items()
            )));
        }
        let index = match scorer.item_factors() {
            Some(factors) => IvfIndex::from_model_file(&file, factors)?,
            None if file_has_index(&file) => {
                return Err(corrupt(format!(
                    "ANN index in a {} model, which has no item factors to index",
                    file.kind
                )))
            }
            None => None,
        };
        let mut popularity_order: Vec<u32> = (0..n_items as u32).collect();
        popularity_order.sort_by(|&a, &b| popularity[b as usize].total_cmp(&popularity[a as usize]));
        let item_names = if file.item_names.is_empty() {
            vec![String::new(); n_items]
        } else {
            file.item_names
        };
        let binary = file.training.get("binary") == Some(&Value::Bool(true));
        Ok(Recommender {
            binary,
            kind: file.kind,
            scorer,
            items,
            item_names,
            users,
            seen,
            popularity,
            popularity_order,
            params: file.params,
            training: file.training,
            approximate: index.is_some(),
            index,
        })
    }

    /// The approximate top-N index the file carried, if any.
    pub fn ann_index(&self) -> Option<&IvfIndex> {
        self.index.as_ref()
    }

    /// Whether user and basket queries go through the index (true when the file has one);
    /// similar-item queries are always exact.
    pub fn approximate(&self) -> bool {
        self.approximate && self.index.is_some()
    }

    /// Switches the index on or off for later queries (no effect without one), and sets the
    /// lists it probes per query (`probe`: `None` keeps the file's value; see
    /// [`IvfIndex::set_probe`]).
    pub fn set_approximate(&mut self, on: bool, probe: Option<usize>) {
        self.approximate = on;
        if let (Some(index), Some(p)) = (self.index.as_mut(), probe) {
            index.set_probe(p);
        }
    }

    /// The index and the factors it covers, when queries go through it.
    fn ann(&self) -> Option<(&IvfIndex, ItemFactors<'_>)> {
        if !self.approximate {
            return None;
        }
        Some((self.index.as_ref()?, self.scorer.item_factors()?))
    }

    /// The model family.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The underlying scorer (for evaluation and batch work).
    pub fn scorer(&self) -> &(dyn ItemScorer + Send + Sync) {
        self.scorer.as_ref()
    }

    /// Number of items in the catalog.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Number of users the model knows by id.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// The item id ↔ index map.
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// The user id ↔ index map.
    pub fn users(&self) -> &IdMap {
        &self.users
    }

    /// External id of item `index` ("" when out of range).
    pub fn item_id(&self, index: u32) -> &str {
        self.items.id(index).unwrap_or("")
    }

    /// Product name of item `index` ("" when unknown).
    pub fn item_name(&self, index: u32) -> &str {
        self.item_names
            .get(index as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Popularity (training users) per item.
    pub fn popularity(&self) -> &[f32] {
        &self.popularity
    }

    /// Hyperparameters recorded in the file.
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// Training data summary recorded in the file.
    pub fn training(&self) -> &Value {
        &self.training
    }

    /// The items user `index` had in training (sorted), empty when unknown.
    pub fn seen_items(&self, user: u32) -> &[u32] {
        if (user as usize) < self.seen.n_rows() {
            self.seen.row(user as usize).0
        } else {
            &[]
        }
    }

    fn check_n(n: usize) -> Result<()> {
        if n == 0 || n > MAX_N {
            Err(RecoError::InvalidN { n, max: MAX_N })
        } else {
            Ok(())
        }
    }

    /// Resolves exclude and candidate ids into the scratch buffers; unknown ids are reported.
    fn resolve_options(&self, opts: &RecommendOptions, s: &mut Scratch, unknown: &mut Vec<String>) {
        s.exclude.clear();
        s.candidates.clear();
        for id in &opts.exclude {
            match self.items.index_of(id) {
                Some(i) => s.exclude.push(i),
                None => unknown.push(id.clone()),
            }
        }
        for id in opts.candidates.iter().flatten() {
            match self.items.index_of(id) {
                Some(i) => s.candidates.push(i),
                None => unknown.push(id.clone()),
            }
        }
        s.candidates.sort_unstable();
        s.candidates.dedup();
    }

    /// Top-`n` for a known user id; an unknown id gets the popularity fallback.
    pub fn recommend_user(
        &self,
        user_id: &str,
        n: usize,
        opts: &RecommendOptions,
        s: &mut Scratch,
    ) -> Result<Recommendations> {
        Self::check_n(n)?;
        let mut out = Recommendations::default();
        self.resolve_options(opts, s, &mut out.unknown_items);
        s.seen.clear();
        match self.users.index_of(user_id) {
            Some(u) if (u as usize) < self.seen.n_rows() || self.seen.n_rows() == 0 => {
                if !opts.include_seen {
                    s.seen.extend_from_slice(self.seen_items(u));
                }
                let offset = match self.ann() {
                    Some(_) => self.scorer.user_query(u, &mut s.query, &mut s.scorer),
                    None => None,
                };
                if offset.is_none() {
                    s.scores.resize(self.n_items(), 0.0);
                    self.scorer.score_user(u, &mut s.scores, &mut s.scorer);
                }
                self.select(n, opts, s, &mut out, offset);
            }
            _ => self.popularity_only(n, opts, s, &mut out),
        }
        Ok(out)
    }

    /// Top-`n` for a user whose history grew after training: the training row of `user_id`
    /// (if the model knows the user) plus `live.items` is folded in with the model's own
    /// [`ItemScorer::score_items`] (ALS and LightFM refit the user's vector, KNN and the
    /// item-item models score the whole row), and every item of that history is excluded
    /// unless `include_seen`. Weights are those of training: summed per item, or 1 when the
    /// model trained on binarized data (`training.binary`). A user the model never saw is
    /// personalized from their first known item on. With no live items this is exactly
    /// [`Self::recommend_user`] (plus `live.popularity` for the popularity model).
    pub fn recommend_user_live(
        &self,
        user_id: &str,
        live: LiveHistory<'_>,
        n: usize,
        opts: &RecommendOptions,
        s: &mut Scratch,
    ) -> Result<Recommendations> {
        let live_popularity = self.kind == ModelKind::Popularity && !live.popularity.is_empty();
        if live.items.is_empty() && !live_popularity {
            return self.recommend_user(user_id, n, opts, s);
        }
        Self::check_n(n)?;
        let mut out = Recommendations::default();
        self.resolve_options(opts, s, &mut out.unknown_items);
        let known = self
            .users
            .index_of(user_id)
            .filter(|&u| (u as usize) < self.seen.n_rows());
        s.basket.clear();
        if let Some(u) = known {
            let (items, weights) = self.seen.row(u as usize);
            s.basket
                .extend(items.iter().copied().zip(weights.iter().copied()));
        }
        for &(item, w) in live.items {
            if (item as usize) >= self.n_items() || !w.is_finite() {
                return Err(RecoError::InvalidData(format!(
                    "live item {item} with weight {w} (the model has {} items)",
                    self.n_items()
                )));
            }
            s.basket.push((item, w));
        }
        merge_repeated(&mut s.basket);
        if self.binary {
            s.basket.iter_mut().for_each(|(_, w)| *w = 1.0);
        }
        s.seen.clear();
        if !opts.include_seen {
            s.seen.extend(s.basket.iter().map(|&(i, _)| i));
        }
        if s.basket.is_empty() && !live_popularity {
            self.popularity_only(n, opts, s, &mut out);
            return Ok(out);
        }
        // Through the index when the file has one (factor models), as the other paths do.
        let offset = match (self.ann(), known) {
            (Some(_), Some(u)) if live.items.is_empty() => {
                self.scorer.user_query(u, &mut s.query, &mut s.scorer)
            }
            (Some(_), _) => self.scorer.basket_query(&s.basket, &mut s.query, &mut s.scorer)?,
            (None, _) => None,
        };
        if offset.is_none() {
            s.scores.resize(self.n_items(), 0.0);
            match known {
                Some(u) if live.items.is_empty() => self.scorer.score_user(u, &mut s.scores, &mut s.scorer),
                _ => self.scorer.score_items(&s.basket, &mut s.scores, &mut s.scorer)?,
            }
            if live_popularity {
                for &(item, count) in live.popularity {
                    if let Some(score) = s.scores.get_mut(item as usize) {
                        *score += count;
                    }
                }
            }
        }
        self.select(n, opts, s, &mut out, offset);
        if s.basket.is_empty() {
            // Nothing known of the user: the (live) popularity list, flagged as for a stranger.
            out.fallback = Fallback::Popularity;
        }
        Ok(out)
    }

    /// Top-`n` for an anonymous basket of item ids (fold-in): the user's history is only
    /// used for this call. Unknown ids are reported in `unknown_items`; a basket with no known
    /// item gets the popularity fallback.
    pub fn recommend_items(
        &self,
        item_ids: &[String],
        n: usize,
        opts: &RecommendOptions,
        s: &mut Scratch,
    ) -> Result<Recommendations> {
        Self::check_n(n)?;
        let mut out = Recommendations::default();
        s.basket.clear();
        for id in item_ids {
            match self.items.index_of(id) {
                Some(i) => s.basket.push((i, 1.0)),
                None => out.unknown_items.push(id.clone()),
            }
        }
        merge_repeated(&mut s.basket);
        self.resolve_options(opts, s, &mut out.unknown_items);
        s.seen.clear();
        if !opts.include_seen {
            s.seen.extend(s.basket.iter().map(|&(i, _)| i));
        }
        if s.basket.is_empty() {
            self.popularity_only(n, opts, s, &mut out);
            return Ok(out);
        }
        let offset = match self.ann() {
            Some(_) => self.scorer.basket_query(&s.basket, &mut s.query, &mut s.scorer)?,
            None => None,
        };
        if offset.is_none() {
            s.scores.resize(self.n_items(), 0.0);
            self.scorer.score_items(&s.basket, &mut s.scores, &mut s.scorer)?;
        }
        self.select(n, opts, s, &mut out, offset);
        Ok(out)
    }

    /// The `n` items most similar to `item_id` (the item itself excluded).
    pub fn similar_items(&self, item_id: &str, n: usize, s: &mut Scratch) -> Result<Recommendations> {
        Self::check_n(n)?;
        let item = self
            .items
            .index_of(item_id)
            .ok_or_else(|| RecoError::UnknownItem(item_id.to_string()))?;
        s.scores.resize(self.n_items(), 0.0);
        self.scorer.similar_to(item, &mut s.scores, &mut s.scorer)?;
        let filter = Filter {
            seen: &[],
            exclude: &[item],
            candidates: None,
        };
        s.top.select(&s.scores, n, &filter, &mut s.selected);
        let mut items = Vec::with_capacity(s.selected.len());
        items.extend(
            s.selected
                .iter()
                .filter(|c| c.score.is_finite())
                .map(|c| RecommendedItem {
                    index: c.item,
                    score: c.score,
                    fallback: false,
                }),
        );
        Ok(Recommendations {
            items,
            ..Default::default()
        })
    }

    fn candidates<'a>(opts: &RecommendOptions, resolved: &'a [u32]) -> Option<&'a [u32]> {
        opts.candidates.as_ref().map(|_| resolved)
    }

    /// Selects under the filters, then applies the partial fallback: from `s.scores`, or,
    /// when `offset` is set, through the index for the query vector in `s.query` (scores
    /// `s.query·y_i + b_i + offset`).
    fn select(
        &self,
        n: usize,
        opts: &RecommendOptions,
        s: &mut Scratch,
        out: &mut Recommendations,
        offset: Option<f32>,
    ) {
        let filter = Filter {
            seen: &s.seen,
            exclude: &s.exclude,
            candidates: Self::candidates(opts, &s.candidates),
        };
        match (offset, self.ann()) {
            (Some(c), Some((index, factors))) => {
                index.search(factors, &s.query, n, &filter, &mut s.ann, &mut s.selected);
                if c != 0.0 {
                    for x in s.selected.iter_mut() {
                        x.score += c;
                    }
                    // Adding the constant may round two scores into a tie.
                    s.selected.sort_unstable_by(crate::topn::best_first);
                }
            }
            _ => s.top.select(&s.scores, n, &filter, &mut s.selected),
        }
        // One allocation for the returned list, fallback included.
        out.items.reserve_exact(n.min(self.n_items()));
        let evidence_floor = if self.scorer.needs_fallback_below_zero() {
            0.0
        } else {
            f32::NEG_INFINITY
        };
        out.items.extend(
            s.selected
                .iter()
                .filter(|c| c.score > evidence_floor)
                .map(|c| RecommendedItem {
                    index: c.item,
                    score: c.score,
                    fallback: false,
                }),
        );
        if out.items.len() < n {
            let before = out.items.len();
            self.fill_from_popularity(n, &filter, &mut s.blocked, out);
            if out.items.len() > before {
                out.fallback = if before == 0 {
                    Fallback::Popularity
                } else {
                    Fallback::Partial
                };
            }
        }
    }

    fn popularity_only(&self, n: usize, opts: &RecommendOptions, s: &mut Scratch, out: &mut Recommendations) {
        let filter = Filter {
            seen: &s.seen,
            exclude: &s.exclude,
            candidates: Self::candidates(opts, &s.candidates),
        };
        self.fill_from_popularity(n, &filter, &mut s.blocked, out);
        out.fallback = Fallback::Popularity;
    }

    /// Appends the most popular allowed items not yet in `out` until it holds `n`.
    /// `blocked` is a reusable per-item mask (seen, excluded and already listed items), so the
    /// fill costs O(items) whatever `n` and the list lengths; `filter.candidates` is sorted.
    fn fill_from_popularity(
        &self,
        n: usize,
        filter: &Filter,
        blocked: &mut Vec<bool>,
        out: &mut Recommendations,
    ) {
        blocked.clear();
        blocked.resize(self.n_items(), false);
        let listed = out.items.iter().map(|r| r.index);
        for item in filter.seen.iter().chain(filter.exclude).copied().chain(listed) {
            if let Some(b) = blocked.get_mut(item as usize) {
                *b = true;
            }
        }
        let is_popularity_model = self.kind == ModelKind::Popularity;
        for &item in &self.popularity_order {
            if out.items.len() >= n {
                break;
            }
            let allowed =
                !blocked[item as usize] && filter.candidates.is_none_or(|c| c.binary_search(&item).is_ok());
            if allowed {
                out.items.push(RecommendedItem {
                    index: item,
                    score: self.popularity[item as usize],
                    fallback: !is_popularity_model,
                });
            }
        }
    }
}
