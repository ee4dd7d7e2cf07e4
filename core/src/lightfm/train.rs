//! Hogwild SGD training: shared parameter cells, the WARP / k-OS / BPR steps, the adaptive
//! schedules and LightFM's lazy L2 regularization.
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use super::params::{LightFmParams, Loss, Schedule};
use crate::kernels::{atomic_rows, dot};
use crate::matrix::CsrMatrix;
use crate::rng::Rng;

/// Gradient clip of WARP's rank weight (LightFM's `MAX_LOSS`).
pub(super) const MAX_LOSS: f32 = 10.0;
/// The lazy-regularization scale at which every parameter is rescaled mid-epoch.
const MAX_REG_SCALE: f64 = 1e6;
/// Examples per chunk: the unit of work stealing, each with its own generator.
const CHUNK: usize = 2048;
/// WARP negatives whose feature rows are prefetched ahead of the one being scored.
const LOOKAHEAD: usize = 3;
/// WARP negatives drawn ahead of the one being scored (a power of two): a draw's feature
/// list (CSR structure) is prefetched when drawn, its rows [`LOOKAHEAD`] draws before use.
const DRAWN_AHEAD: usize = 8;
/// Examples between two merges of the regularization scales (only when regularizing).
const ROUND: usize = 8 * CHUNK;

#[inline]
pub(super) fn sqrt32(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// WARP's loss weight `weight · ln(max(1, floor(candidates / sampled)))`, clipped at
/// [`MAX_LOSS`] (as LightFM, after multiplying by the sample weight).
#[inline]
pub(super) fn warp_loss(weight: f32, candidates: usize, sampled: usize) -> f32 {
    let ratio = (candidates / sampled).max(1);
    (weight as f64 * libm::log(ratio as f64)).min(MAX_LOSS as f64) as f32
}

/// f32 values shared by the Hogwild workers. Relaxed atomics: concurrent updates of one
/// cell may lose each other's writes (as in LightFM's Hogwild training), but every access
/// is defined behaviour, and on x86-64 / wasm a relaxed load or store is a plain `mov`.
/// The values start on a 64-byte boundary, so a row of 16·m values spans m cache lines.
pub(super) struct Cells {
    cells: Vec<AtomicU32>,
    /// Rows are accessed as 64-bit pairs (see [`Cells::pairs`]).
    paired: bool,
    /// Index of the first value in `cells` (the padding before it aligns it).
    start: usize,
    len: usize,
}

impl Cells {
    pub(super) fn new(values: Vec<f32>) -> Self {
        let len = values.len();
        let mut cells: Vec<AtomicU32> = Vec::with_capacity(len + 15);
        let start = (cells.as_ptr() as usize).wrapping_neg() % 64 / 4;
        cells.extend((0..start).map(|_| AtomicU32::new(0)));
        cells.extend(values.into_iter().map(|v| AtomicU32::new(v.to_bits())));
        Cells {
            cells,
            paired: false,
            start,
            len,
        }
    }

    /// Cells of embedding rows `k` long: with even `k`, rows move as 64-bit pairs.
    fn new_rows(values: Vec<f32>, k: usize) -> Self {
        Cells {
            paired: k.is_multiple_of(2),
            ..Cells::new(values)
        }
    }

    fn filled(n: usize, v: f32) -> Self {
        Cells::new(vec![v; n])
    }

    #[inline(always)]
    fn all(&self) -> &[AtomicU32] {
        &self.cells[self.start..self.start + self.len]
    }

    #[inline]
    fn get(&self, i: usize) -> f32 {
        f32::from_bits(self.all()[i].load(Relaxed))
    }

    #[inline]
    fn set(&self, i: usize, v: f32) {
        self.all()[i].store(v.to_bits(), Relaxed)
    }

    #[inline]
    fn load(&self, start: usize, out: &mut [f32]) {
        let n = out.len();
        if let Some(pairs) = self.pairs(start, n) {
            for (o, c) in out.chunks_exact_mut(2).zip(pairs) {
                let [a, b] = split(c.load(Relaxed));
                o[0] = f32::from_bits(a);
                o[1] = f32::from_bits(b);
            }
            return;
        }
        for (o, c) in out.iter_mut().zip(&self.all()[start..start + n]) {
            *o = f32::from_bits(c.load(Relaxed));
        }
    }

    #[inline]
    fn store(&self, start: usize, src: &[f32]) {
        if let Some(pairs) = self.pairs(start, src.len()) {
            for (s, c) in src.chunks_exact(2).zip(pairs) {
                c.store(join(s[0].to_bits(), s[1].to_bits()), Relaxed);
            }
            return;
        }
        for (s, c) in src.iter().zip(&self.all()[start..start + src.len()]) {
            c.store(s.to_bits(), Relaxed);
        }
    }

    /// The `n` cells from `start` as `n / 2` 64-bit cells, when `self` is a pair array (see
    /// [`Cells::new_rows`]) and `start`, `n` are even: one relaxed load or store then moves
    /// two values (half the memory operations of a row copy).
    #[inline(always)]
    fn pairs(&self, start: usize, n: usize) -> Option<&[AtomicU64]> {
        if !self.paired || !start.is_multiple_of(2) || !n.is_multiple_of(2) {
            return None;
        }
        let cells = &self.all()[start..start + n];
        // SAFETY: `paired` cells start on a 64-byte boundary (`Cells::new`) and `start` is even,
        // so `cells` is 8-byte aligned; AtomicU64 has the size of two AtomicU32 and the same
        // bit validity. Every concurrent access to a paired array goes through this view (the
        // 32-bit accessors `get`, `set`, `divide_all` and `into_vec` are only used on it
        // between parallel passes, ordered by their join), so no access races another of a
        // different size.
        Some(unsafe { core::slice::from_raw_parts(cells.as_ptr().cast::<AtomicU64>(), n / 2) })
    }

    /// Every cell as 64-bit pairs, when `self` is a pair array: row `r` of `k` values is then
    /// the `k / 2` pairs from `r · k / 2`.
    #[inline(always)]
    fn rows(&self) -> Option<&[AtomicU64]> {
        self.pairs(0, self.len)
    }

    /// Hints the CPU to start loading `len` cells from `start` into cache (no-op off x86-64).
    #[inline(always)]
    fn prefetch(&self, start: usize, len: usize) {
        prefetch_slice(&self.all()[start..start + len]);
    }

    fn divide_all(&self, by: f64) {
        for c in self.all() {
            let v = f32::from_bits(c.load(Relaxed));
            c.store((((v as f64) / by) as f32).to_bits(), Relaxed);
        }
    }

    pub(super) fn into_vec(self) -> Vec<f32> {
        self.all()
            .iter()
            .map(|c| f32::from_bits(c.load(Relaxed)))
            .collect()
    }
}

/// The two 32-bit values of a 64-bit pair cell, in memory order.
#[inline(always)]
fn split(x: u64) -> [u32; 2] {
    let (lo, hi) = (x as u32, (x >> 32) as u32);
    if cfg!(target_endian = "little") {
        [lo, hi]
    } else {
        [hi, lo]
    }
}

/// The 64-bit pair cell holding `a` then `b` in memory order.
#[inline(always)]
fn join(a: u32, b: u32) -> u64 {
    let (lo, hi) = if cfg!(target_endian = "little") {
        (a, b)
    } else {
        (b, a)
    };
    (hi as u64) << 32 | lo as u64
}

/// One side (users or items): its feature matrix and the parameters of those features.
pub(super) struct Side<'a> {
    /// Rows = users (items), columns = features, values = feature weights.
    features: &'a CsrMatrix,
    /// `features` is the identity (row `r` is feature `r` with weight 1): the hot paths then
    /// index the parameters by row, without the dependent loads of the CSR structure.
    identity: bool,
    /// `[n_features × k]` embeddings.
    pub(super) emb: Cells,
    /// `[n_features]` biases.
    pub(super) bias: Cells,
    /// Adagrad: `1 + Σ g²`; Adadelta: running mean of `g²`.
    g_emb: Cells,
    g_bias: Cells,
    /// Adadelta only: running mean of squared updates (empty for Adagrad).
    m_emb: Cells,
    m_bias: Cells,
    /// L2 penalty.
    alpha: f32,
}

impl<'a> Side<'a> {
    /// LightFM's initialization: embeddings uniform in `[-0.5, 0.5) / k`, biases 0.
    pub(super) fn init(
        features: &'a CsrMatrix,
        k: usize,
        p: &LightFmParams,
        alpha: f32,
        rng: &mut Rng,
    ) -> Self {
        let n = features.n_cols();
        let emb = (0..n * k).map(|_| (rng.next_f32() - 0.5) / k as f32).collect();
        let (g0, m_len) = match p.schedule {
            Schedule::Adagrad => (1.0, 0),
            Schedule::Adadelta => (0.0, n),
        };
        Side {
            features,
            identity: is_identity(features),
            emb: Cells::new_rows(emb, k),
            bias: Cells::filled(n, 0.0),
            g_emb: Cells::new_rows(vec![g0; n * k], k),
            g_bias: Cells::filled(n, g0),
            m_emb: Cells::new_rows(vec![0.0; m_len * k], k),
            m_bias: Cells::filled(m_len, 0.0),
            alpha,
        }
    }

    fn divide_all(&self, by: f64) {
        self.emb.divide_all(by);
        self.bias.divide_all(by);
    }
}

/// True when `m` is square with exactly one stored `1.0` per row, on the diagonal.
fn is_identity(m: &CsrMatrix) -> bool {
    m.n_rows() == m.n_cols()
        && m.indptr().iter().enumerate().all(|(r, &p)| p == r)
        && m.indices().iter().enumerate().all(|(r, &c)| c as usize == r)
        && m.data().iter().all(|&v| v == 1.0)
}

/// Per-worker buffers, allocated once: nothing allocates in the training loop.
pub(super) struct Scratch {
    user: Vec<f32>,
    pos: Vec<f32>,
    neg: Vec<f32>,
    dir: Vec<f32>,
    w: Vec<f32>,
    g: Vec<f32>,
    m: Vec<f32>,
    kos: Vec<(u32, f32)>,
}

impl Scratch {
    fn new(k: usize, kos_n: usize) -> Self {
        Scratch {
            user: vec![0.0; k],
            pos: vec![0.0; k],
            neg: vec![0.0; k],
            dir: vec![0.0; k],
            w: vec![0.0; k],
            g: vec![0.0; k],
            m: vec![0.0; k],
            kos: Vec::with_capacity(kos_n),
        }
    }
}

/// The WARP negatives of one block (chunk): uniform draws over the items from a generator of
/// their own, consumed in order by the block's examples. They are drawn [`DRAWN_AHEAD`] ahead
/// of the one being scored, across example boundaries (the next example's first candidates
/// are already in cache while this one updates), so no prefetched draw is thrown away. The
/// stream is a function of the block's generator alone: with one thread, a seed gives the
/// same draws.
pub(super) struct Negatives {
    rng: Rng,
    n_items: u32,
    /// The next [`DRAWN_AHEAD`] draws, the next one to score at `ring[next]`.
    ring: [u32; DRAWN_AHEAD],
    next: usize,
}

impl Negatives {
    fn new(ctx: &Ctx, mut rng: Rng) -> Self {
        let n_items = ctx.items.features.n_rows() as u32;
        let mut ring = [0; DRAWN_AHEAD];
        for (t, j) in ring.iter_mut().enumerate() {
            *j = rng.below(n_items);
            ctx.prefetch_features(&ctx.items, *j as usize);
            if t < LOOKAHEAD {
                ctx.prefetch_row(&ctx.items, *j as usize, true, false);
            }
        }
        Negatives {
            rng,
            n_items,
            ring,
            next: 0,
        }
    }

    /// The next negative to score; draws its replacement at the end of the ring.
    #[inline]
    fn take(&mut self, ctx: &Ctx) -> u32 {
        const MASK: usize = DRAWN_AHEAD - 1;
        let j = self.ring[self.next];
        let fresh = self.rng.below(self.n_items);
        ctx.prefetch_features(&ctx.items, fresh as usize);
        self.ring[self.next] = fresh;
        self.next = (self.next + 1) & MASK;
        let soon = self.ring[(self.next + LOOKAHEAD - 1) & MASK];
        ctx.prefetch_row(&ctx.items, soon as usize, true, false);
        j
    }
}

/// Everything a training step reads.
pub(super) struct Ctx<'a> {
    pub(super) items: Side<'a>,
    pub(super) users: Side<'a>,
    /// Users × items; the stored pattern is the set of positives that negatives avoid.
    pub(super) interactions: &'a CsrMatrix,
    pub(super) k: usize,
    pub(super) loss: Loss,
    pub(super) adadelta: bool,
    pub(super) lr: f32,
    pub(super) rho: f32,
    pub(super) eps: f32,
    pub(super) max_sampled: usize,
}

/// A positive `(u, i)` about to be contrasted with sampled negatives.
struct WarpPositive {
    u: usize,
    i: usize,
    /// The user's bias and the positive's score.
    ub: f32,
    s_pos: f32,
    /// Sample weight.
    weight: f32,
    /// Number of possible negatives, the numerator of the rank estimate.
    candidates: usize,
}

/// Scales of LightFM's lazy regularization: a stored parameter is `scale ×` its value.
#[derive(Clone, Copy)]
pub(super) struct Scales {
    pub(super) user: f64,
    pub(super) item: f64,
}

/// What one worker did in one block.
pub(super) struct BlockResult {
    pub(super) updates: usize,
    pub(super) scales: Scales,
}

impl Ctx<'_> {
    /// Buffers for one worker.
    pub(super) fn scratch(&self) -> Scratch {
        let kos_n = match self.loss {
            Loss::WarpKos { n, .. } => n,
            _ => 0,
        };
        Scratch::new(self.k, kos_n)
    }

    /// `out = Σ_f w_f · emb[f] / scale`; returns `Σ_f w_f · bias[f] / scale`.
    #[inline]
    fn represent(&self, side: &Side, row: usize, scale: f64, out: &mut [f32], tmp: &mut [f32]) -> f32 {
        let inv = (1.0 / scale) as f32;
        let k = self.k;
        if let Some(rows) = side.emb.rows() {
            // The rows are summed straight from the cells (no copy through `tmp`).
            let own = [row as u32];
            let (idx, wts): (&[u32], &[f32]) = if side.identity {
                (&own, &[1.0])
            } else {
                side.features.row(row)
            };
            atomic_rows::weighted_row_sum(rows, k / 2, idx, wts, inv, out);
            let mut bias = 0.0;
            for (&f, &w) in idx.iter().zip(wts) {
                bias += w * inv * side.bias.get(f as usize);
            }
            return bias;
        }
        if side.identity {
            side.emb.load(row * k, out);
            if inv != 1.0 {
                out.iter_mut().for_each(|v| *v *= inv);
            }
            return inv * side.bias.get(row);
        }
        let (idx, wts) = side.features.row(row);
        if let ([f], [w]) = (idx, wts) {
            let w = *w * inv;
            let f = *f as usize;
            side.emb.load(f * k, out);
            if w != 1.0 {
                out.iter_mut().for_each(|v| *v *= w);
            }
            return w * side.bias.get(f);
        }
        out.fill(0.0);
        let mut bias = 0.0;
        for (&f, &w) in idx.iter().zip(wts) {
            let w = w * inv;
            let f = f as usize;
            side.emb.load(f * k, tmp);
            crate::kernels::axpy(w, tmp, out);
            bias += w * side.bias.get(f);
        }
        bias
    }

    /// One schedule step of every feature of `row`: gradient `coef · dir · w_f` on the
    /// embedding and `gbias · w_f` on the bias. Returns the sum of the per-parameter
    /// learning rates when the side is regularized (else 0).
    #[inline]
    fn update_row(
        &self,
        side: &Side,
        row: usize,
        coef: f32,
        dir: &[f32],
        gbias: f32,
        s: &mut ScratchRows,
    ) -> f64 {
        let own = [row as u32];
        let (idx, wts): (&[u32], &[f32]) = if side.identity {
            (&own, &[1.0])
        } else {
            side.features.row(row)
        };
        let k = self.k;
        let alpha = side.alpha;
        let mut sum_lr = 0f64;
        for (&f, &wt) in idx.iter().zip(wts) {
            let f = f as usize;
            // Bias.
            let gb = gbias * wt;
            let b = side.bias.get(f);
            let (lr_b, b) = if self.adadelta {
                let acc = self.rho * side.g_bias.get(f) + (1.0 - self.rho) * gb * gb;
                let m = side.m_bias.get(f);
                let lr = sqrt32(m + self.eps) / sqrt32(acc + self.eps);
                let upd = lr * gb;
                side.g_bias.set(f, acc);
                side.m_bias.set(f, self.rho * m + (1.0 - self.rho) * upd * upd);
                (lr, b - upd)
            } else {
                let acc = side.g_bias.get(f);
                let lr = self.lr / sqrt32(acc);
                side.g_bias.set(f, acc + gb * gb);
                (lr, b - lr * gb)
            };
            if alpha > 0.0 {
                side.bias.set(f, b * (1.0 + alpha * lr_b));
                sum_lr += lr_b as f64;
            } else {
                side.bias.set(f, b);
            }
            // Embedding.
            let g = coef * wt;
            if !self.adadelta && alpha == 0.0 {
                if let (Some(w), Some(acc)) = (side.emb.pairs(f * k, k), side.g_emb.pairs(f * k, k)) {
                    // Loaded, stepped and stored back without a copy.
                    atomic_rows::adagrad_step(self.lr, g, &dir[..k], w, acc);
                    continue;
                }
            }
            let (w, acc) = (&mut s.w[..k], &mut s.g[..k]);
            side.emb.load(f * k, w);
            side.g_emb.load(f * k, acc);
            if self.adadelta {
                let m = &mut s.m[..k];
                side.m_emb.load(f * k, m);
                let (rho, eps) = (self.rho, self.eps);
                for c in 0..k {
                    let gc = g * dir[c];
                    let a = rho * acc[c] + (1.0 - rho) * gc * gc;
                    let lr = sqrt32(m[c] + eps) / sqrt32(a + eps);
                    let upd = lr * gc;
                    acc[c] = a;
                    m[c] = rho * m[c] + (1.0 - rho) * upd * upd;
                    w[c] -= upd;
                    if alpha > 0.0 {
                        w[c] *= 1.0 + alpha * lr;
                        sum_lr += lr as f64;
                    }
                }
                side.m_emb.store(f * k, m);
            } else if alpha > 0.0 {
                for c in 0..k {
                    let gc = g * dir[c];
                    let lr = self.lr / sqrt32(acc[c]);
                    w[c] = (w[c] - lr * gc) * (1.0 + alpha * lr);
                    acc[c] += gc * gc;
                    sum_lr += lr as f64;
                }
            } else {
                crate::kernels::adagrad_step(self.lr, g, dir, w, acc);
            }
            side.emb.store(f * k, w);
            side.g_emb.store(f * k, acc);
        }
        sum_lr
    }

    /// LightFM's `warp_update` (also used by BPR and k-OS): with `loss = ∂L/∂score_neg`,
    /// the positive item moves by `+loss·user`, the negative by `-loss·user`, the user by
    /// `loss·(pos − neg)`; item biases follow their scores, and (as in LightFM) the user
    /// bias takes a step of `-loss` although it cancels out of every pairwise comparison.
    /// Every gradient is taken at the representations before the step; the negative item is
    /// updated last (after the positive, as LightFM does per component) so that its
    /// accumulators, prefetched here, have time to arrive.
    fn pair_update(&self, s: &mut Scratch, u: usize, i: usize, j: usize, loss: f32, scales: &mut Scales) {
        self.prefetch_row(&self.items, j, false, true);
        if self.plain() {
            return self.plain_pair_update(s, u, i, j, loss);
        }
        let Scratch {
            user,
            pos,
            neg,
            dir,
            w,
            g,
            m,
            ..
        } = s;
        let mut rows = ScratchRows { w, g, m };
        let mut sum_lr = self.update_row(&self.items, i, -loss, user, -loss, &mut rows);
        for ((d, &n), &p) in dir.iter_mut().zip(neg.iter()).zip(pos.iter()) {
            *d = n - p;
        }
        sum_lr += self.update_row(&self.users, u, loss, dir, loss, &mut rows);
        sum_lr += self.update_row(&self.items, j, loss, user, loss, &mut rows);
        if self.users.alpha > 0.0 || self.items.alpha > 0.0 {
            let n = self.users.features.row_nnz(u)
                + self.items.features.row_nnz(i)
                + self.items.features.row_nnz(j);
            let avg = sum_lr / ((self.k + 1) * n.max(1)) as f64;
            scales.item *= 1.0 + self.items.alpha as f64 * avg;
            scales.user *= 1.0 + self.users.alpha as f64 * avg;
        }
    }

    /// True for the common case of identity features, Adagrad and no regularization: a
    /// representation is then its parameter row, as loaded by [`Ctx::represent`].
    #[inline]
    fn plain(&self) -> bool {
        self.users.identity
            && self.items.identity
            && !self.adadelta
            && self.users.alpha == 0.0
            && self.items.alpha == 0.0
    }

    /// [`Ctx::pair_update`] when [`Ctx::plain`]: the rows loaded to score the pair are
    /// updated in place and stored back (in Hogwild, a concurrent update of one of them
    /// since it was loaded is lost, as it would be a moment later anyway; with one thread
    /// the result is the same as reloading).
    fn plain_pair_update(&self, s: &mut Scratch, u: usize, i: usize, j: usize, loss: f32) {
        let Scratch {
            user,
            pos,
            neg,
            dir,
            g,
            ..
        } = s;
        for ((d, &n), &p) in dir.iter_mut().zip(neg.iter()).zip(pos.iter()) {
            *d = n - p;
        }
        self.plain_row_step(&self.items, i, -loss, user, pos, g);
        self.plain_row_step(&self.items, j, loss, user, neg, g);
        self.plain_row_step(&self.users, u, loss, dir, user, g);
    }

    /// One Adagrad step of the identity row `row` (its embedding already in `emb`): gradient
    /// `coef·dir` on the embedding and `coef` on the bias.
    #[inline]
    fn plain_row_step(
        &self,
        side: &Side,
        row: usize,
        coef: f32,
        dir: &[f32],
        emb: &mut [f32],
        acc: &mut [f32],
    ) {
        let acc_b = side.g_bias.get(row);
        side.g_bias.set(row, acc_b + coef * coef);
        side.bias
            .set(row, side.bias.get(row) - self.lr / sqrt32(acc_b) * coef);
        let start = row * self.k;
        side.g_emb.load(start, acc);
        crate::kernels::adagrad_step(self.lr, coef, dir, emb, acc);
        side.emb.store(start, emb);
        side.g_emb.store(start, acc);
    }

    #[inline]
    fn is_positive(&self, u: usize, item: u32) -> bool {
        let (row, _) = self.interactions.row(u);
        row.binary_search(&item).is_ok()
    }

    /// LightFM 1.17's WARP sampling: draws up to `max_sampled` items uniformly; the first
    /// that scores above `s_pos − 1` and is not a positive of `u` takes a step with the
    /// weight of `candidates / sampled`. A drawn positive counts as sampled, and is only
    /// looked up when it violates (as LightFM does). The draws come from the block's
    /// [`Negatives`], prefetched ahead of the scoring.
    fn warp_negatives(
        &self,
        s: &mut Scratch,
        negs: &mut Negatives,
        p: WarpPositive,
        scales: &mut Scales,
    ) -> bool {
        let WarpPositive {
            u,
            i,
            ub,
            s_pos,
            weight,
            candidates,
        } = p;
        for n in 0..self.max_sampled {
            let j = negs.take(self);
            let nb = self.represent(&self.items, j as usize, scales.item, &mut s.neg, &mut s.w);
            let s_neg = dot(&s.user, &s.neg) + ub + nb;
            if s_neg > s_pos - 1.0 && !self.is_positive(u, j) {
                let loss = warp_loss(weight, candidates, n + 1);
                self.pair_update(s, u, i, j as usize, loss, scales);
                return true;
            }
        }
        false
    }

    /// Prefetches the embedding rows (with `emb`) and the accumulator rows (with `grads`) of
    /// `row`'s features.
    #[inline(always)]
    fn prefetch_row(&self, side: &Side, row: usize, emb: bool, grads: bool) {
        let k = self.k;
        if side.identity {
            if emb {
                side.emb.prefetch(row * k, k);
                side.bias.prefetch(row, 1);
            }
            if grads {
                side.g_emb.prefetch(row * k, k);
            }
            return;
        }
        for &f in side.features.row(row).0 {
            if emb {
                side.emb.prefetch(f as usize * k, k);
            }
            if grads {
                side.g_emb.prefetch(f as usize * k, k);
            }
        }
    }

    /// Prefetches the feature list of `row` (its CSR entries), to be read by
    /// [`Ctx::prefetch_row`] a few draws later.
    #[inline(always)]
    fn prefetch_features(&self, side: &Side, row: usize) {
        if !side.identity {
            prefetch_slice(&side.features.indptr()[row..row + 2]);
        }
    }

    /// One example `(user, item, weight)` of the configured loss; true when it updated.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        s: &mut Scratch,
        rng: &mut Rng,
        negs: &mut Negatives,
        u: usize,
        i: usize,
        weight: f32,
        scales: &mut Scales,
    ) -> bool {
        let n_items = self.items.features.n_rows();
        let n_pos = self.interactions.row_nnz(u);
        if n_pos >= n_items {
            return false; // no negative exists
        }
        let ub = self.represent(&self.users, u, scales.user, &mut s.user, &mut s.w);
        match self.loss {
            Loss::Warp => {
                let pb = self.represent(&self.items, i, scales.item, &mut s.pos, &mut s.w);
                let s_pos = dot(&s.user, &s.pos) + ub + pb;
                let candidates = n_items - 1;
                let p = WarpPositive {
                    u,
                    i,
                    ub,
                    s_pos,
                    weight,
                    candidates,
                };
                self.warp_negatives(s, negs, p, scales)
            }
            Loss::WarpKos { k, n } => {
                let (row, _) = self.interactions.row(u);
                s.kos.clear();
                for _ in 0..n.min(row.len()) {
                    let p = row[rng.below(row.len() as u32) as usize];
                    let pb = self.represent(&self.items, p as usize, scales.item, &mut s.pos, &mut s.w);
                    s.kos.push((p, dot(&s.user, &s.pos) + ub + pb));
                }
                // Stable sort, best first: the k-th order statistic of the sample.
                s.kos.sort_by(|a, b| b.1.total_cmp(&a.1));
                let (p, s_pos) = s.kos[k.min(s.kos.len()) - 1];
                self.represent(&self.items, p as usize, scales.item, &mut s.pos, &mut s.w);
                let (i, weight, candidates) = (p as usize, 1.0, n_items - 1);
                let p = WarpPositive {
                    u,
                    i,
                    ub,
                    s_pos,
                    weight,
                    candidates,
                };
                self.warp_negatives(s, negs, p, scales)
            }
            Loss::Bpr => {
                // LightFM draws BPR negatives from the items of random training
                // interactions (popularity-proportional), retrying while positive.
                let all = self.interactions.indices();
                let mut neg = None;
                for _ in 0..all.len() {
                    let j = all[rng.below(all.len() as u32) as usize];
                    if !self.is_positive(u, j) {
                        neg = Some(j as usize);
                        break;
                    }
                }
                let Some(j) = neg else { return false };
                let pb = self.represent(&self.items, i, scales.item, &mut s.pos, &mut s.w);
                let nb = self.represent(&self.items, j, scales.item, &mut s.neg, &mut s.w);
                let x = dot(&s.user, &s.pos) + pb - dot(&s.user, &s.neg) - nb;
                let loss = weight * (1.0 - sigmoid(x));
                self.pair_update(s, u, i, j, loss, scales);
                true
            }
        }
    }

    /// Runs a slice of examples with one worker's generator.
    pub(super) fn run_block(
        &self,
        s: &mut Scratch,
        rng: &mut Rng,
        examples: &[(u32, u32, f32)],
        mut scales: Scales,
    ) -> BlockResult {
        let mut updates = 0;
        let mut negs = Negatives::new(self, Rng::new(rng.next_u64()));
        for (e, &(u, i, w)) in examples.iter().enumerate() {
            if let Some(&(nu, ni, _)) = examples.get(e + 1) {
                prefetch_slice(self.interactions.row(nu as usize).0);
                self.prefetch_row(&self.users, nu as usize, true, true);
                self.prefetch_row(&self.items, ni as usize, true, true);
            }
            updates += self.step(s, rng, &mut negs, u as usize, i as usize, w, &mut scales) as usize;
        }
        BlockResult { updates, scales }
    }

    /// Divides every stored parameter by its side's scale (LightFM's `regularize`).
    pub(super) fn regularize(&self, scales: &mut Scales) {
        if scales.item != 1.0 {
            self.items.divide_all(scales.item);
        }
        if scales.user != 1.0 {
            self.users.divide_all(scales.user);
        }
        *scales = Scales { user: 1.0, item: 1.0 };
    }

    /// True when the scales grew enough to warrant a mid-epoch [`Ctx::regularize`].
    pub(super) fn needs_regularize(scales: &Scales) -> bool {
        scales.item > MAX_REG_SCALE || scales.user > MAX_REG_SCALE
    }
}

/// Hints the CPU to start loading `slice` into cache (a no-op off x86-64).
#[inline(always)]
fn prefetch_slice<T>(slice: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = slice.as_ptr().cast::<i8>();
        let bytes = core::mem::size_of_val(slice);
        // One prefetch per cache line the slice touches.
        let mut offset = 0;
        while offset < bytes + (start as usize % 64) {
            // SAFETY: a prefetch is only a hint: it never faults, reads into registers or
            // writes memory (SSE is baseline on x86-64). The address stays within the cache
            // lines of `slice`.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset).wrapping_sub(start as usize % 64))
            };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slice;
}

/// Mutable row buffers of [`Scratch`] handed to `update_row`.
pub(super) struct ScratchRows<'s> {
    w: &'s mut [f32],
    g: &'s mut [f32],
    m: &'s mut [f32],
}

#[inline]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

/// How the chunks of an epoch are run.
pub(super) enum Runner {
    /// One after the other on the calling thread.
    Sequential(Box<Scratch>),
    /// Hogwild on the current rayon pool.
    #[cfg(feature = "std")]
    CurrentPool,
    /// Hogwild on a pool of its own (when `threads` differs from the current pool's size).
    #[cfg(feature = "std")]
    OwnPool(rayon::ThreadPool),
}

impl Runner {
    /// A runner for `threads` workers (0 = the current rayon pool; always sequential
    /// without `std`).
    pub(super) fn new(ctx: &Ctx, threads: usize) -> crate::error::Result<Self> {
        #[cfg(feature = "std")]
        {
            let current = rayon::current_num_threads();
            let threads = if threads == 0 { current } else { threads };
            if threads > 1 && threads == current {
                return Ok(Runner::CurrentPool);
            }
            if threads > 1 {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|e| crate::error::RecoError::InvalidParameter {
                        name: "threads",
                        reason: alloc::format!("cannot start {threads} threads: {e}"),
                    })?;
                return Ok(Runner::OwnPool(pool));
            }
        }
        let _ = threads;
        Ok(Runner::Sequential(Box::new(ctx.scratch())))
    }
}

/// Runs one epoch's shuffled examples in chunks of [`CHUNK`], each with its own generator
/// (stream `epoch << 32 | chunk`), so a chunk's draws do not depend on which thread runs it.
/// Without regularization the whole epoch is one parallel pass; with it, passes of
/// [`ROUND`] examples, after which the lazy-regularization scales are merged (and applied
/// when they grew large). Returns the number of updates.
pub(super) fn run_epoch(
    ctx: &Ctx,
    runner: &mut Runner,
    seed: u64,
    epoch: usize,
    examples: &[(u32, u32, f32)],
    scales: &mut Scales,
) -> usize {
    let regularized = ctx.users.alpha > 0.0 || ctx.items.alpha > 0.0;
    let round_len = if regularized { ROUND } else { examples.len().max(1) };
    let mut updates = 0;
    for (r, round) in examples.chunks(round_len).enumerate() {
        let first_chunk = r * round_len / CHUNK;
        let start = *scales;
        let run = |s: &mut Scratch, c: usize, part: &[(u32, u32, f32)]| {
            let stream = ((epoch as u64) << 32) | (first_chunk + c) as u64;
            ctx.run_block(s, &mut Rng::for_stream(seed, stream), part, start)
        };
        let results: Vec<BlockResult> = match runner {
            Runner::Sequential(s) => round
                .chunks(CHUNK)
                .enumerate()
                .map(|(c, part)| run(s, c, part))
                .collect(),
            #[cfg(feature = "std")]
            Runner::CurrentPool => par_chunks(ctx, round, &run),
            #[cfg(feature = "std")]
            Runner::OwnPool(pool) => pool.install(|| par_chunks(ctx, round, &run)),
        };
        for b in &results {
            updates += b.updates;
            scales.item *= b.scales.item / start.item;
            scales.user *= b.scales.user / start.user;
        }
        if Ctx::needs_regularize(scales) {
            ctx.regularize(scales);
        }
    }
    updates
}

/// Trains one chunk (scratch, chunk index within the round, examples).
#[cfg(feature = "std")]
type ChunkFn<'a> = dyn Fn(&mut Scratch, usize, &[(u32, u32, f32)]) -> BlockResult + Sync + 'a;

/// Rayon's work stealing over the chunks of a round: a descheduled thread's chunks are
/// taken over by the others.
#[cfg(feature = "std")]
fn par_chunks(ctx: &Ctx, round: &[(u32, u32, f32)], run: &ChunkFn) -> Vec<BlockResult> {
    use rayon::prelude::*;
    round
        .par_chunks(CHUNK)
        .enumerate()
        .map_init(|| ctx.scratch(), |s, (c, part)| run(s, c, part))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_rows_read_and_write_the_values_in_order() {
        let values: Vec<f32> = (0..12).map(|v| v as f32 + 0.5).collect();
        let (paired, single) = (Cells::new_rows(values.clone(), 4), Cells::new(values.clone()));
        assert!(paired.pairs(4, 4).is_some() && paired.pairs(1, 4).is_none());
        assert!(Cells::new_rows(values.clone(), 3).pairs(4, 4).is_none());
        let mut out = [0f32; 4];
        for cells in [&paired, &single] {
            cells.load(4, &mut out);
            assert_eq!(out, [4.5, 5.5, 6.5, 7.5]);
            cells.load(1, &mut out[..3]);
            assert_eq!(out[..3], [1.5, 2.5, 3.5]);
            cells.store(8, &[-1.0, -2.0, -3.0, -4.0]);
            cells.store(3, &[9.0]);
        }
        assert_eq!(paired.into_vec(), single.into_vec());
    }
}
