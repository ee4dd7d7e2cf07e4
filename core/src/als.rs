//! Implicit-feedback alternating least squares (Hu, Koren & Volinsky, "Collaborative Filtering
//! for Implicit Feedback Datasets", ICDM 2008), with the conjugate-gradient solver of Takács,
//! Pilászy & Tikk (RecSys 2011) as implemented by the Python `implicit` library.
//!
//! # Model
//! Given interaction weights `w_ui ≥ 0` (e.g. purchase counts), user vectors `x_u` and item
//! vectors `y_i` minimise
//!
//! `Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + λ (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)`
//!
//! over *all* user–item pairs, with
//! * preference `p_ui = 1` if `w_ui > 0`, else 0;
//! * confidence `c_ui = 1 + α·|w_ui|` for stored entries, 1 for the rest.
//!
//! A negative stored weight means "disliked with confidence `1 + α·|w|`" (`p = 0`), as in
//! `implicit`. With [`AlsParams::scale_regularization_by_count`] (Spark's ALS-WR) a row with `n`
//! stored entries uses `λ·n` instead of `λ`.
//!
//! ## Relation to `implicit`'s `alpha`
//! `implicit` (0.7) uses the stored value itself as the confidence, `c = alpha·w`, and treats
//! unstored entries as `c = 1`. Our `c = 1 + α·w` is therefore `implicit`'s confidence on the
//! data `1 + α·w`; on binary data, our `alpha = a` equals `implicit`'s `alpha = 1 + a`
//! (ours `alpha = 1` = implicit `alpha = 2`; implicit's default `alpha = 1` = ours `alpha = 0`).
//!
//! # Training
//! Factors start as uniform `[0, 0.01)` values drawn from a per-row generator
//! ([`Rng::for_stream`]), like `implicit` on the CPU. Each iteration first re-solves every item
//! given the users, then every user given the items, so the final user vectors are exact
//! (Cholesky) or approximate (CG) least-squares solutions for the *final* item factors — which
//! is also what [`AlsModel::fold_in`] computes for a new basket.
//!
//! Per row, with `G = YᵀY` shared by all rows, the normal equations are
//! `(G + λI + Σ_i (c_i − 1) y_i y_iᵀ) x = Σ_i c_i p_i y_i` (sum over the row's stored entries).
//! * [`AlsSolver::ConjugateGradient`]: `steps` CG iterations warm-started from the previous
//!   vector, never forming the f×f matrix (as `implicit`'s `least_squares_cg`).
//! * [`AlsSolver::Cholesky`]: forms the matrix and solves it exactly (factorised in f64).
//!
//! Rows with no stored entry get the zero vector. Rows are solved in parallel with rayon under
//! `std` (in the caller's thread pool) and sequentially without it. Every row's result depends
//! only on its inputs and `G` is reduced over fixed-size chunks in a fixed order, so a seed gives
//! bit-identical factors whatever the number of threads.
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use serde_json::{json, Value};

use crate::ann::ItemFactors;
use crate::error::{RecoError, Result};
use crate::kernels;
use crate::matrix::CsrMatrix;
use crate::model_file::{f32_to_json, ModelFile, ModelKind, Tensor};
use crate::rng::Rng;
use crate::scorer::{check_basket, merge_repeated, ItemScorer, ScoreScratch};

#[cfg(feature = "std")]
use rayon::prelude::*;

/// Largest accepted number of factors.
pub const MAX_FACTORS: usize = 1024;

/// Initial factors are uniform in `[0, INIT_SCALE)` (as `implicit` on the CPU).
const INIT_SCALE: f32 = 0.01;

/// CG stops once the squared residual norm falls below this (as `implicit`).
const CG_RESIDUAL_EPSILON: f32 = 1e-20;

/// Rows per partial sum when computing YᵀY: fixed so the reduction order never depends on
/// the number of threads.
const GRAM_CHUNK_ROWS: usize = 256;

/// Smallest number of rows a rayon task handles (amortises per-task scratch buffers).
#[cfg(feature = "std")]
const MIN_ROWS_PER_TASK: usize = 32;

/// How each row's least-squares problem is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlsSolver {
    /// Conjugate gradient, warm-started from the previous factors (fast; the default).
    ConjugateGradient {
        /// CG iterations per row and half-iteration (`implicit` uses 3).
        steps: usize,
    },
    /// Exact solve of the normal equations by Cholesky factorisation.
    Cholesky,
}

impl Default for AlsSolver {
    fn default() -> Self {
        AlsSolver::ConjugateGradient { steps: 3 }
    }
}

/// ALS hyperparameters; see the module docs for their meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsParams {
    /// Number of latent factors, `1..=1024` (default 64).
    pub factors: usize,
    /// L2 regularization λ, `≥ 0` (default 0.05).
    pub regularization: f32,
    /// Confidence scale α: `c = 1 + α·w`, `≥ 0` (default 1).
    pub alpha: f32,
    /// Number of ALS iterations (each solves items, then users), `> 0` (default 15).
    pub iterations: usize,
    /// Per-row solver (default conjugate gradient with 3 steps).
    pub solver: AlsSolver,
    /// Spark's ALS-WR: use `λ·n` for a row with `n` stored entries (default false).
    pub scale_regularization_by_count: bool,
    /// Seed of the initial factors (default 42).
    pub seed: u64,
    /// Compute the training loss after every iteration (costs about one CG step; default false).
    pub compute_loss: bool,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            regularization: 0.05,
            alpha: 1.0,
            iterations: 15,
            solver: AlsSolver::default(),
            scale_regularization_by_count: false,
            seed: 42,
            compute_loss: false,
        }
    }
}

fn invalid(name: &'static str, reason: impl Into<alloc::string::String>) -> RecoError {
    RecoError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

impl AlsParams {
    /// Checks every hyperparameter's range; run by [`AlsModel::fit`] before any work.
    /// Fails with [`RecoError::InvalidParameter`] naming the first bad parameter.
    pub fn check(&self) -> Result<()> {
        if self.factors == 0 || self.factors > MAX_FACTORS {
            return Err(invalid(
                "factors",
                format!("{} is outside 1..={MAX_FACTORS}", self.factors),
            ));
        }
        if !(self.regularization.is_finite() && self.regularization >= 0.0) {
            return Err(invalid(
                "regularization",
                format!("{} must be finite and >= 0", self.regularization),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(invalid(
                "alpha",
                format!("{} must be finite and >= 0", self.alpha),
            ));
        }
        if self.iterations == 0 {
            return Err(invalid("iterations", "0 must be at least 1"));
        }
        if self.solver == (AlsSolver::ConjugateGradient { steps: 0 }) {
            return Err(invalid("cg_steps", "0 must be at least 1"));
        }
        Ok(())
    }

    /// The regularization of a row with `n` stored entries.
    #[inline]
    fn row_regularization(&self, n: usize) -> f32 {
        if self.scale_regularization_by_count {
            self.regularization * n as f32
        } else {
            self.regularization
        }
    }

    /// The parameters as the JSON object stored in model files.
    fn to_json(&self) -> Value {
        let (solver, cg_steps) = match self.solver {
            AlsSolver::ConjugateGradient { steps } => ("cg", Some(steps)),
            AlsSolver::Cholesky => ("cholesky", None),
        };
        let mut v = json!({
            "factors": self.factors,
            "regularization": f32_to_json(self.regularization),
            "alpha": f32_to_json(self.alpha),
            "iterations": self.iterations,
            "solver": solver,
            "scale_regularization_by_count": self.scale_regularization_by_count,
            "seed": self.seed,
            "compute_loss": self.compute_loss,
        });
        if let (Some(steps), Value::Object(map)) = (cg_steps, &mut v) {
            map.insert("cg_steps".into(), steps.into());
        }
        v
    }

    /// Reads [`AlsParams::to_json`] output. `regularization` and `alpha` (needed for fold-in)
    /// are required; other keys default. Errors are [`RecoError::CorruptModel`].
    fn from_json(v: &Value, factors: usize) -> Result<AlsParams> {
        let corrupt = |m: alloc::string::String| RecoError::CorruptModel(m);
        let number = |key: &str| -> Result<f32> {
            v.get(key)
                .and_then(Value::as_f64)
                .map(|x| x as f32)
                .ok_or_else(|| corrupt(format!("ALS model parameters lack a numeric `{key}`")))
        };
        let count = |key: &str, default: usize| -> usize {
            v.get(key).and_then(Value::as_u64).map_or(default, |n| n as usize)
        };
        let flag = |key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
        let defaults = AlsParams::default();
        if let Some(stored) = v.get("factors").and_then(Value::as_u64) {
            if stored as usize != factors {
                return Err(corrupt(format!(
                    "parameter factors = {stored} but the factor tensors have {factors} columns"
                )));
            }
        }
        let solver = match v.get("solver").and_then(Value::as_str) {
            None | Some("cg") => AlsSolver::ConjugateGradient {
                steps: count("cg_steps", 3),
            },
            Some("cholesky") => AlsSolver::Cholesky,
            Some(other) => {
                return Err(corrupt(format!(
                    "unknown ALS solver `{other}` (known: cg, cholesky)"
                )))
            }
        };
        let params = AlsParams {
            factors,
            regularization: number("regularization")?,
            alpha: number("alpha")?,
            iterations: count("iterations", defaults.iterations),
            solver,
            scale_regularization_by_count: flag("scale_regularization_by_count"),
            seed: v.get("seed").and_then(Value::as_u64).unwrap_or(defaults.seed),
            compute_loss: flag("compute_loss"),
        };
        params
            .check()
            .map_err(|e| corrupt(format!("ALS model parameters: {e}")))?;
        Ok(params)
    }
}

/// Progress after one ALS iteration, passed to the `on_iteration` callback of
/// [`AlsModel::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationReport {
    /// Iterations completed so far, `1..=iterations`.
    pub iteration: usize,
    /// Training loss (as `implicit`'s `calculate_loss`) when
    /// [`AlsParams::compute_loss`] is set.
    pub loss: Option<f32>,
}

/// Confidence `c = 1 + α·|w|` and preference `p = [w > 0]` of a stored weight `w`.
#[derive(Debug, Clone, Copy)]
struct Confidence {
    alpha: f32,
}

impl Confidence {
    /// `c − 1`: the weight of `y yᵀ` added to `YᵀY` for a stored entry.
    #[inline]
    fn excess(self, w: f32) -> f32 {
        self.alpha * w.abs()
    }

    /// `c·p`: the weight of `y` in the right-hand side.
    #[inline]
    fn target(self, w: f32) -> f32 {
        if w > 0.0 {
            1.0 + self.alpha * w
        } else {
            0.0
        }
    }
}

/// Per-thread buffers for one row solve (allocated once per rayon task, never per row).
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// CG residual, search direction and `A·p`; or the right-hand side for Cholesky.
    residual: Vec<f32>,
    direction: Vec<f32>,
    product: Vec<f32>,
    /// Cholesky: the f×f normal matrix (lower triangle) and its f64 factor.
    normal: Vec<f32>,
    factor: Vec<f64>,
    rhs: Vec<f64>,
}

impl Scratch {
    fn new(dim: usize, solver: AlsSolver) -> Scratch {
        let mut s = Scratch::default();
        s.prepare(dim, solver);
        s
    }

    /// Sizes the buffers for `dim` factors and `solver` (contents are overwritten by a solve).
    fn prepare(&mut self, dim: usize, solver: AlsSolver) {
        let (vec_len, mat_len) = match solver {
            AlsSolver::ConjugateGradient { .. } => (dim, 0),
            AlsSolver::Cholesky => (dim, dim * dim),
        };
        self.residual.resize(vec_len, 0.0);
        self.direction.resize(vec_len, 0.0);
        self.product.resize(vec_len, 0.0);
        self.normal.resize(mat_len, 0.0);
        self.factor.resize(mat_len, 0.0);
        self.rhs.resize(if mat_len > 0 { dim } else { 0 }, 0.0);
    }
}

/// Buffers of [`AlsModel::fold_in_with`], reused between calls so that a warm fold-in does not
/// allocate.
#[derive(Debug, Clone, Default)]
pub struct FoldInScratch {
    basket: Vec<(u32, f32)>,
    items: Vec<u32>,
    weights: Vec<f32>,
    user: Vec<f32>,
    solve: Scratch,
}

/// The shared data of one half-iteration: the fixed side's factors and their Gram matrix.
struct RowSolver<'a> {
    /// Factors of the other side (rows of length `dim`).
    fixed: &'a [f32],
    /// `fixed`ᵀ·`fixed`, f×f.
    gram: &'a [f32],
    dim: usize,
    params: &'a AlsParams,
    confidence: Confidence,
}

impl RowSolver<'_> {
    /// Solves one row with `items`/`weights` (sorted, unique) into `x` (holding the previous
    /// value, the CG warm start).
    fn solve(
        &self,
        solver: AlsSolver,
        items: &[u32],
        weights: &[f32],
        x: &mut [f32],
        s: &mut Scratch,
    ) -> Result<()> {
        if items.is_empty() {
            x.fill(0.0);
            return Ok(());
        }
        let lambda = self.params.row_regularization(items.len());
        match solver {
            AlsSolver::ConjugateGradient { steps } => {
                self.conjugate_gradient(steps, lambda, items, weights, x, s);
                Ok(())
            }
            AlsSolver::Cholesky => self.cholesky(lambda, items, weights, x, s),
        }
    }

    /// `out = (G + λI + Σ (c−1) y yᵀ)·v` without forming the matrix.
    #[inline]
    fn apply_normal_matrix(&self, lambda: f32, items: &[u32], weights: &[f32], v: &[f32], out: &mut [f32]) {
        kernels::symmetric_matvec(self.gram, v, out);
        kernels::axpy(lambda, v, out);
        let conf = self.confidence;
        kernels::accumulate_projections(self.fixed, self.dim, items, v, out, |k, d| {
            conf.excess(weights[k]) * d
        });
    }

    /// `steps` CG iterations from the current `x` (as `implicit`'s `least_squares_cg`).
    fn conjugate_gradient(
        &self,
        steps: usize,
        lambda: f32,
        items: &[u32],
        weights: &[f32],
        x: &mut [f32],
        s: &mut Scratch,
    ) {
        let Scratch {
            residual: r,
            direction: p,
            product: ap,
            ..
        } = s;
        // r = b − A·x, with b = Σ c·p·y.
        kernels::symmetric_matvec(self.gram, x, r);
        kernels::scale(-1.0, r);
        kernels::axpy(-lambda, x, r);
        let conf = self.confidence;
        kernels::accumulate_projections(self.fixed, self.dim, items, x, r, |k, d| {
            let w = weights[k];
            conf.target(w) - conf.excess(w) * d
        });
        p.copy_from_slice(r);
        let mut rs_old = kernels::squared_norm(r);
        if rs_old < CG_RESIDUAL_EPSILON {
            return;
        }
        for _ in 0..steps {
            self.apply_normal_matrix(lambda, items, weights, p, ap);
            let step = rs_old / kernels::dot(p, ap);
            kernels::axpy(step, p, x);
            kernels::axpy(-step, ap, r);
            let rs_new = kernels::squared_norm(r);
            if rs_new < CG_RESIDUAL_EPSILON {
                break;
            }
            kernels::scale(rs_new / rs_old, p);
            kernels::axpy(1.0, r, p);
            rs_old = rs_new;
        }
    }

    /// Exact solve: forms `A = G + λI + Σ (c−1) y yᵀ` and `b = Σ c·p·y`, Cholesky in f64.
    fn cholesky(
        &self,
        lambda: f32,
        items: &[u32],
        weights: &[f32],
        x: &mut [f32],
        s: &mut Scratch,
    ) -> Result<()> {
        let n = self.dim;
        let a = &mut s.normal;
        a.copy_from_slice(self.gram);
        for j in 0..n {
            a[j * n + j] += lambda;
        }
        let b = &mut s.residual;
        b.fill(0.0);
        for (&item, &w) in items.iter().zip(weights) {
            let y = &self.fixed[item as usize * n..(item as usize + 1) * n];
            kernels::add_outer_product_lower(self.confidence.excess(w), y, a);
            kernels::axpy(self.confidence.target(w), y, b);
        }
        if !cholesky_factor(a, &mut s.factor, n) {
            return Err(invalid(
                "regularization",
                format!(
                    "the normal equations of a row are not positive definite with \
                     regularization {lambda}; use a regularization > 0"
                ),
            ));
        }
        for (r, &bk) in s.rhs.iter_mut().zip(b.iter()) {
            *r = bk as f64;
        }
        cholesky_solve(&s.factor, &mut s.rhs, n);
        for (xk, &v) in x.iter_mut().zip(&s.rhs) {
            *xk = v as f32;
        }
        Ok(())
    }
}

/// Cholesky factor `L` (lower, row-major f64) of the symmetric matrix whose lower triangle is
/// in `a`. Returns false if the matrix is not (numerically) positive definite.
fn cholesky_factor(a: &[f32], l: &mut [f64], n: usize) -> bool {
    for i in 0..n {
        for j in 0..=i {
            let (row_i, row_j) = (&l[i * n..i * n + j], &l[j * n..j * n + j]);
            let sum: f64 = row_i.iter().zip(row_j).map(|(p, q)| p * q).sum();
            let v = a[i * n + j] as f64 - sum;
            if i == j {
                if v <= 0.0 || v.is_nan() {
                    return false;
                }
                l[i * n + i] = libm::sqrt(v);
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    true
}

/// Solves `L·Lᵀ·x = b` in place (`b` becomes `x`).
fn cholesky_solve(l: &[f64], b: &mut [f64], n: usize) {
    for i in 0..n {
        let sum: f64 = l[i * n..i * n + i].iter().zip(&b[..i]).map(|(p, q)| p * q).sum();
        b[i] = (b[i] - sum) / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut sum = 0.0;
        for k in i + 1..n {
            sum += l[k * n + i] * b[k];
        }
        b[i] = (b[i] - sum) / l[i * n + i];
    }
}

/// `YᵀY` (full symmetric f×f) of the row-major factors `y`, reduced over fixed chunks of
/// rows in chunk order (f64 accumulation), independent of the thread count.
fn gram_matrix(y: &[f32], dim: usize) -> Vec<f32> {
    let chunk_partial = |chunk: &[f32]| -> Vec<f32> {
        let mut partial = vec![0f32; dim * dim];
        kernels::add_gram_lower(chunk, dim, &mut partial);
        partial
    };
    let chunk_len = GRAM_CHUNK_ROWS * dim;
    #[cfg(feature = "std")]
    let partials: Vec<Vec<f32>> = y.par_chunks(chunk_len).map(chunk_partial).collect();
    #[cfg(not(feature = "std"))]
    let partials = y.chunks(chunk_len).map(chunk_partial);
    let mut total = vec![0f64; dim * dim];
    for partial in partials {
        for (t, &v) in total.iter_mut().zip(&partial) {
            *t += v as f64;
        }
    }
    let mut gram = vec![0f32; dim * dim];
    for j in 0..dim {
        for k in 0..=j {
            let v = total[j * dim + k] as f32;
            gram[j * dim + k] = v;
            gram[k * dim + j] = v;
        }
    }
    gram
}

/// One ALS half-iteration: re-solves the factors of every row of `rows` (e.g. users × items)
/// given the other side's `fixed` factors (e.g. items), in place in `target` (row-major,
/// `rows.n_rows() × params.factors`; the current values are the CG warm start).
///
/// Fails on mismatched sizes, invalid parameters or (Cholesky with λ = 0) a singular system.
pub fn update_factors(rows: &CsrMatrix, fixed: &[f32], target: &mut [f32], params: &AlsParams) -> Result<()> {
    params.check()?;
    let dim = params.factors;
    if fixed.len() != rows.n_cols() * dim || target.len() != rows.n_rows() * dim {
        return Err(RecoError::InvalidData(format!(
            "factor sizes {} and {} do not fit a {} x {} matrix with {dim} factors",
            target.len(),
            fixed.len(),
            rows.n_rows(),
            rows.n_cols()
        )));
    }
    let gram = gram_matrix(fixed, dim);
    let solver = RowSolver {
        fixed,
        gram: &gram,
        dim,
        params,
        confidence: Confidence { alpha: params.alpha },
    };
    let solve_row = |s: &mut Scratch, (r, x): (usize, &mut [f32])| {
        let (items, weights) = rows.row(r);
        solver.solve(params.solver, items, weights, x, s)
    };
    #[cfg(feature = "std")]
    {
        target
            .par_chunks_mut(dim)
            .enumerate()
            .with_min_len(MIN_ROWS_PER_TASK)
            .try_for_each_init(|| Scratch::new(dim, params.solver), solve_row)
    }
    #[cfg(not(feature = "std"))]
    {
        let mut scratch = Scratch::new(dim, params.solver);
        target
            .chunks_mut(dim)
            .enumerate()
            .try_for_each(|row| solve_row(&mut scratch, row))
    }
}

/// Row-major `n × dim` factors, uniform in `[0, INIT_SCALE)`, row `r` drawn from stream
/// `2r + parity` of `seed` (users even, items odd).
fn initial_factors(n: usize, dim: usize, seed: u64, parity: u64) -> Vec<f32> {
    let mut factors = vec![0f32; n * dim];
    for (r, row) in factors.chunks_mut(dim).enumerate() {
        let mut rng = Rng::for_stream(seed, 2 * r as u64 + parity);
        for v in row {
            *v = rng.next_f32() * INIT_SCALE;
        }
    }
    factors
}

/// `implicit`'s training loss: the objective of the module docs divided by
/// `Σ_stored c + n_users·n_items − nnz`.
fn training_loss(
    user_items: &CsrMatrix,
    item_users: &CsrMatrix,
    users: &[f32],
    items: &[f32],
    params: &AlsParams,
) -> f32 {
    let dim = params.factors;
    let gram = gram_matrix(items, dim);
    let conf = Confidence { alpha: params.alpha };
    // Per user: xᵀGx + Σ [(c−1)(y·x)² − 2cp(y·x) + cp²] + λ_u‖x‖², and Σ c.
    let user_terms = |buf: &mut Vec<f32>, (u, x): (usize, &[f32])| -> (f64, f64) {
        let (cols, weights) = user_items.row(u);
        kernels::symmetric_matvec(&gram, x, buf);
        kernels::accumulate_projections(items, dim, cols, x, buf, |k, d| {
            let w = weights[k];
            conf.excess(w) * d - 2.0 * conf.target(w)
        });
        let mut loss = kernels::dot(buf, x) as f64;
        let mut confidence = 0f64;
        for &w in weights {
            loss += conf.target(w) as f64;
            confidence += 1.0 + conf.excess(w) as f64;
        }
        let lambda = params.row_regularization(cols.len());
        loss += (lambda * kernels::squared_norm(x)) as f64;
        (loss, confidence)
    };
    #[cfg(feature = "std")]
    let per_user: Vec<(f64, f64)> = users
        .par_chunks(dim)
        .enumerate()
        .with_min_len(MIN_ROWS_PER_TASK)
        .map_init(|| vec![0f32; dim], user_terms)
        .collect();
    #[cfg(not(feature = "std"))]
    let per_user: Vec<(f64, f64)> = {
        let mut buf = vec![0f32; dim];
        users
            .chunks(dim)
            .enumerate()
            .map(|row| user_terms(&mut buf, row))
            .collect()
    };
    let (mut loss, mut confidence) = (0f64, 0f64);
    for (l, c) in per_user {
        loss += l;
        confidence += c;
    }
    for (i, y) in items.chunks(dim).enumerate() {
        let lambda = params.row_regularization(item_users.row_nnz(i));
        loss += (lambda * kernels::squared_norm(y)) as f64;
    }
    let n_pairs = user_items.n_rows() as f64 * user_items.n_cols() as f64;
    (loss / (confidence + n_pairs - user_items.nnz() as f64)) as f32
}

/// A trained (or loaded) implicit ALS model: user and item factors, plus the item Gram matrix
/// and item norms cached for fold-in and similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsModel {
    params: AlsParams,
    n_users: usize,
    n_items: usize,
    /// Row-major `n_users × factors` (empty for item-only models).
    user_factors: Vec<f32>,
    /// Row-major `n_items × factors`.
    item_factors: Vec<f32>,
    /// `YᵀY` of the item factors, f×f.
    item_gram: Vec<f32>,
    /// `‖y_i‖` per item.
    item_norms: Vec<f32>,
    /// The item factors as this target's matvec kernel reads them fastest.
    item_layout: kernels::MatvecLayout,
}

impl AlsModel {
    /// Trains on a users × items weight matrix. Calls `on_iteration` after every iteration.
    ///
    /// Fails with [`RecoError::InvalidParameter`] for bad `params` (before any work) and
    /// [`RecoError::InvalidData`] for a matrix without users, items or interactions.
    pub fn fit(
        matrix: &CsrMatrix,
        params: &AlsParams,
        on_iteration: &mut dyn FnMut(IterationReport),
    ) -> Result<AlsModel> {
        params.check()?;
        let (n_users, n_items) = (matrix.n_rows(), matrix.n_cols());
        if n_users == 0 || n_items == 0 || matrix.nnz() == 0 {
            return Err(RecoError::InvalidData(format!(
                "cannot fit ALS on an empty matrix ({n_users} users, {n_items} items, {} interactions)",
                matrix.nnz()
            )));
        }
        let dim = params.factors;
        let item_users = matrix.transpose();
        let mut users = initial_factors(n_users, dim, params.seed, 0);
        let mut items = initial_factors(n_items, dim, params.seed, 1);
        for iteration in 1..=params.iterations {
            update_factors(&item_users, &users, &mut items, params)?;
            update_factors(matrix, &items, &mut users, params)?;
            let loss = params
                .compute_loss
                .then(|| training_loss(matrix, &item_users, &users, &items, params));
            on_iteration(IterationReport { iteration, loss });
        }
        Ok(AlsModel::from_factors(params.clone(), users, items))
    }

    /// A model from factors trained elsewhere (e.g. Spark MLlib's ALS, `reco import`):
    /// `users` is row-major `[n_users, params.factors]`, `items` `[n_items, params.factors]`.
    /// `params` must describe how the factors were trained, since fold-in solves with them.
    ///
    /// Fails with [`RecoError::InvalidParameter`] for bad `params` and
    /// [`RecoError::InvalidData`] for factors of the wrong length, non-finite or unservable
    /// (the load-time checks of [`AlsModel::from_model_file`]).
    pub fn from_trained_factors(params: AlsParams, users: Vec<f32>, items: Vec<f32>) -> Result<AlsModel> {
        params.check()?;
        let dim = params.factors;
        if items.is_empty() || !items.len().is_multiple_of(dim) || !users.len().is_multiple_of(dim) {
            return Err(RecoError::InvalidData(format!(
                "{} user and {} item factor values are not whole rows of {dim} factors (or there are no items)",
                users.len(),
                items.len()
            )));
        }
        if users.iter().chain(&items).any(|v| !v.is_finite()) {
            return Err(RecoError::InvalidData(
                "the factors hold non-finite values".into(),
            ));
        }
        let model = AlsModel::from_factors(params, users, items);
        model.check_servable().map_err(|e| match e {
            RecoError::CorruptModel(m) => RecoError::InvalidData(m),
            other => other,
        })?;
        Ok(model)
    }

    /// Builds the model and its caches; `users` may be empty (item-only model).
    fn from_factors(params: AlsParams, users: Vec<f32>, items: Vec<f32>) -> AlsModel {
        let dim = params.factors;
        let item_gram = gram_matrix(&items, dim);
        let item_norms = items
            .chunks(dim)
            .map(|y| libm::sqrtf(kernels::squared_norm(y)))
            .collect();
        let item_layout = kernels::MatvecLayout::new(&items, dim);
        AlsModel {
            item_layout,
            n_users: users.len() / dim,
            n_items: items.len() / dim,
            params,
            user_factors: users,
            item_factors: items,
            item_gram,
            item_norms,
        }
    }

    /// Number of latent factors.
    pub fn factors(&self) -> usize {
        self.params.factors
    }

    /// Number of users with factors (0 for an item-only model loaded from a file).
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The factors of user `u` (panics if `u >= n_users()`).
    pub fn user_factors(&self, u: usize) -> &[f32] {
        let f = self.factors();
        &self.user_factors[u * f..(u + 1) * f]
    }

    /// The factors of item `i` (panics if `i >= n_items()`).
    pub fn item_factors(&self, i: usize) -> &[f32] {
        let f = self.factors();
        &self.item_factors[i * f..(i + 1) * f]
    }

    /// The hyperparameters the model was trained with.
    pub fn params(&self) -> &AlsParams {
        &self.params
    }

    /// The exact least-squares user vector for a basket of `(item, weight)` interactions given
    /// the item factors (the Cholesky solve of the module docs, whatever solver trained the
    /// model). Repeated items are summed, as in training data. An empty basket gives the zero
    /// vector (every item then scores 0).
    ///
    /// Fails with [`RecoError::UnknownItem`] for an item index `>= n_items()` and
    /// [`RecoError::InvalidData`] for a non-finite weight.
    pub fn fold_in(&self, items: &[(u32, f32)]) -> Result<Vec<f32>> {
        self.fold_in_with(items, &mut FoldInScratch::default())
            .map(<[f32]>::to_vec)
    }

    /// [`AlsModel::fold_in`] into reusable buffers: returns the user vector, held in `scratch`.
    pub fn fold_in_with<'s>(
        &self,
        items: &[(u32, f32)],
        scratch: &'s mut FoldInScratch,
    ) -> Result<&'s [f32]> {
        check_basket(items, self.n_items)?;
        let FoldInScratch {
            basket,
            items: indices,
            weights,
            user,
            solve,
        } = scratch;
        basket.clear();
        basket.extend_from_slice(items);
        merge_repeated(basket);
        indices.clear();
        indices.extend(basket.iter().map(|&(item, _)| item));
        weights.clear();
        weights.extend(basket.iter().map(|&(_, w)| w));
        let dim = self.factors();
        let solver = RowSolver {
            fixed: &self.item_factors,
            gram: &self.item_gram,
            dim,
            params: &self.params,
            confidence: Confidence {
                alpha: self.params.alpha,
            },
        };
        user.clear();
        user.resize(dim, 0.0);
        solve.prepare(dim, AlsSolver::Cholesky);
        solver.solve(AlsSolver::Cholesky, indices, weights, user, solve)?;
        Ok(user)
    }

    /// The model as a file of kind [`ModelKind::Als`]: tensors `user_factors`
    /// `[n_users, factors]` (omitted for item-only models) and `item_factors`
    /// `[n_items, factors]` (f32), hyperparameters in `params`. Ids, names and training
    /// summary are left for the caller to fill.
    pub fn to_model_file(&self) -> ModelFile {
        self.file_with(self.user_factors.clone(), self.item_factors.clone())
    }

    /// [`AlsModel::to_model_file`] that moves the factors into the file instead of copying
    /// them (after training, the model and its file need not both be held).
    pub fn into_model_file(mut self) -> ModelFile {
        let (users, items) = (
            core::mem::take(&mut self.user_factors),
            core::mem::take(&mut self.item_factors),
        );
        self.file_with(users, items)
    }

    fn file_with(&self, users: Vec<f32>, items: Vec<f32>) -> ModelFile {
        let mut file = ModelFile::new(ModelKind::Als);
        file.params = self.params.to_json();
        let f = self.factors();
        if self.n_users > 0 {
            file.put_f32("user_factors", &[self.n_users, f], users);
        }
        file.put_f32("item_factors", &[self.n_items, f], items);
        file
    }

    /// Loads a model written by [`AlsModel::to_model_file`]. `user_factors` may be absent (a
    /// browser export): users are then scored only through fold-in.
    ///
    /// Fails with [`RecoError::WrongModelKind`] for another kind and
    /// [`RecoError::CorruptModel`] for missing or inconsistent tensors or parameters.
    pub fn from_model_file(file: &ModelFile) -> Result<AlsModel> {
        let (params, has_users) = Self::check_file(file)?;
        let copy = |name: &str| factor_tensor(file, name).map(|t| t.map(|(_, _, d)| d.to_vec()));
        let users = if has_users { copy("user_factors")? } else { None };
        let items = copy("item_factors")?.unwrap_or_default();
        Self::checked(params, users.unwrap_or_default(), items)
    }

    fn checked(params: AlsParams, users: Vec<f32>, items: Vec<f32>) -> Result<AlsModel> {
        let model = AlsModel::from_factors(params, users, items);
        model.check_servable()?;
        Ok(model)
    }

    /// [`AlsModel::from_model_file`] that moves the factor tensors out of `file` instead of
    /// copying them (a large model needs its factors in memory once, not twice). `file` keeps
    /// every other tensor; after an error it may have lost its factors.
    pub fn take_from_model_file(file: &mut ModelFile) -> Result<AlsModel> {
        let (params, has_users) = Self::check_file(file)?;
        let users = if has_users {
            file.take_f32("user_factors")
        } else {
            None
        };
        let items = file.take_f32("item_factors").unwrap_or_default();
        Self::checked(params, users.unwrap_or_default(), items)
    }

    /// The checks of [`AlsModel::from_model_file`] that need only the file: its
    /// hyperparameters and whether it holds user factors.
    fn check_file(file: &ModelFile) -> Result<(AlsParams, bool)> {
        file.expect_kind(ModelKind::Als)?;
        let (n_items, dim, _) = factor_tensor(file, "item_factors")?
            .ok_or_else(|| RecoError::CorruptModel("ALS model file has no `item_factors`".into()))?;
        if n_items == 0 || dim == 0 {
            return Err(RecoError::CorruptModel(format!(
                "`item_factors` has shape [{n_items}, {dim}]; both must be positive"
            )));
        }
        if !file.item_ids.is_empty() && file.item_ids.len() != n_items {
            return Err(RecoError::CorruptModel(format!(
                "{} item ids for {n_items} item factor rows",
                file.item_ids.len()
            )));
        }
        let users = match factor_tensor(file, "user_factors")? {
            // User ids without factors would let a caller score a user the model cannot.
            None if !file.user_ids.is_empty() => {
                return Err(RecoError::CorruptModel(format!(
                    "{} user ids but no `user_factors`",
                    file.user_ids.len()
                )))
            }
            None => false,
            Some((n_users, user_dim, _)) => {
                if user_dim != dim {
                    return Err(RecoError::CorruptModel(format!(
                        "`user_factors` has {user_dim} columns but `item_factors` has {dim}"
                    )));
                }
                if !file.user_ids.is_empty() && file.user_ids.len() != n_users {
                    return Err(RecoError::CorruptModel(format!(
                        "{} user ids for {n_users} user factor rows",
                        file.user_ids.len()
                    )));
                }
                true
            }
        };
        Ok((AlsParams::from_json(&file.params, dim)?, users))
    }

    /// Load-time checks that every query can be answered, so that a broken file fails when
    /// loaded and not at its first basket: `YᵀY` is finite, user · item scores cannot
    /// overflow, and the fold-in of a one-item basket (its item the one with the largest
    /// factors) solves to a finite vector, i.e. `YᵀY + λI + (c−1)·y yᵀ` is positive definite.
    fn check_servable(&self) -> Result<()> {
        let corrupt = |m: alloc::string::String| Err(RecoError::CorruptModel(m));
        if self.item_gram.iter().any(|v| !v.is_finite()) {
            return corrupt(
                "`item_factors` are too large: their Gram matrix YᵀY (used to fold in baskets) \
                 overflows f32; the file is corrupt or training diverged"
                    .to_string(),
            );
        }
        let max_norm = |v: &[f32]| {
            v.chunks(self.factors())
                .map(|r| libm::sqrt(r.iter().map(|&x| x as f64 * x as f64).sum::<f64>()))
                .fold(0f64, f64::max)
        };
        let (user_max, item_max) = (max_norm(&self.user_factors), max_norm(&self.item_factors));
        if user_max * item_max > f32::MAX as f64 {
            return corrupt(format!(
                "`user_factors` (largest norm {user_max:e}) times `item_factors` (largest norm \
                 {item_max:e}) overflow f32 scores; the file is corrupt or training diverged"
            ));
        }
        let probe = (0..self.n_items)
            .max_by(|&a, &b| self.item_norms[a].total_cmp(&self.item_norms[b]))
            .unwrap_or(0) as u32;
        match self.fold_in(&[(probe, 1.0)]) {
            Ok(x) if x.iter().all(|v| v.is_finite()) => Ok(()),
            Ok(_) => corrupt(format!(
                "folding in a basket (item {probe}) gives non-finite factors with \
                 regularization {} and alpha {}; the file is corrupt or training diverged",
                self.params.regularization, self.params.alpha
            )),
            Err(_) => corrupt(format!(
                "baskets cannot be folded in: YᵀY + regularization·I is not positive definite \
                 (regularization {}, alpha {}); the item factors are degenerate or corrupt",
                self.params.regularization, self.params.alpha
            )),
        }
    }
}

/// The f32 matrix tensor `name` as `(rows, cols, data)`, `None` if absent; checks it is a
/// finite 2-d f32 tensor of consistent size.
fn factor_tensor<'a>(file: &'a ModelFile, name: &str) -> Result<Option<(usize, usize, &'a [f32])>> {
    let corrupt = |m: alloc::string::String| Err(RecoError::CorruptModel(m));
    match file.tensors.get(name) {
        None => Ok(None),
        Some(Tensor::F32 { shape, data }) => {
            let &[rows, cols] = shape.as_slice() else {
                return corrupt(format!("`{name}` has shape {shape:?}, expected [rows, factors]"));
            };
            if rows.checked_mul(cols) != Some(data.len()) {
                return corrupt(format!("`{name}` has {} values for shape {shape:?}", data.len()));
            }
            if data.iter().any(|v| !v.is_finite()) {
                return corrupt(format!("`{name}` holds non-finite values"));
            }
            Ok(Some((rows, cols, data)))
        }
        Some(_) => corrupt(format!("`{name}` is not an f32 tensor")),
    }
}

impl ItemScorer for AlsModel {
    fn n_items(&self) -> usize {
        self.n_items
    }

    /// `out[i] = y_i · x_u`.
    fn score_user(&self, user: u32, out: &mut [f32], _scratch: &mut ScoreScratch) {
        self.item_layout
            .matvec(&self.item_factors, self.user_factors(user as usize), out);
    }

    /// `out[i] = y_i · fold_in(items)`.
    fn score_items(&self, items: &[(u32, f32)], out: &mut [f32], scratch: &mut ScoreScratch) -> Result<()> {
        let x = self.fold_in_with(items, scratch.get::<FoldInScratch>())?;
        self.item_layout.matvec(&self.item_factors, x, out);
        Ok(())
    }

    fn item_factors(&self) -> Option<ItemFactors<'_>> {
        Some(ItemFactors {
            rows: &self.item_factors,
            dim: self.factors(),
            bias: None,
        })
    }

    fn user_query(&self, user: u32, x: &mut Vec<f32>, _scratch: &mut ScoreScratch) -> Option<f32> {
        x.clear();
        x.extend_from_slice(self.user_factors(user as usize));
        Some(0.0)
    }

    fn basket_query(
        &self,
        items: &[(u32, f32)],
        x: &mut Vec<f32>,
        scratch: &mut ScoreScratch,
    ) -> Result<Option<f32>> {
        let user = self.fold_in_with(items, scratch.get::<FoldInScratch>())?;
        x.clear();
        x.extend_from_slice(user);
        Ok(Some(0.0))
    }

    /// Cosine similarity of item factors. Items whose factors are all zero (no training
    /// interactions) score `-inf`, and so does every item when `item` itself is such an item.
    fn similar_to(&self, item: u32, out: &mut [f32], _scratch: &mut ScoreScratch) -> Result<()> {
        let i = item as usize;
        if i >= self.n_items {
            return Err(RecoError::UnknownItem(format!(
                "{item} (the model has {} items)",
                self.n_items
            )));
        }
        let query_norm = self.item_norms[i];
        if query_norm == 0.0 {
            out.fill(f32::NEG_INFINITY);
            return Ok(());
        }
        self.item_layout
            .matvec(&self.item_factors, self.item_factors(i), out);
        for (score, &norm) in out.iter_mut().zip(&self.item_norms) {
            *score = if norm == 0.0 {
                f32::NEG_INFINITY
            } else {
                *score / (norm * query_norm)
            };
        }
        Ok(())
    }
}
