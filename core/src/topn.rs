//! Top-N selection over a dense score vector: partial selection (a bounded buffer cut by linear
//! selection, no full sort), with exclusions and an optional candidate list.
//!
//! Order: higher score first; equal scores by lower item index (deterministic, and the same
//! order as a stable descending sort). NaN scores are never selected.
use alloc::vec::Vec;
use core::cmp::Ordering;

/// One recommended item with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Dense item index.
    pub item: u32,
    /// Model score (higher is better).
    pub score: f32,
}

/// Selection key: "greater" is worse (lower score, or equal score and higher index).
#[derive(Clone, Copy)]
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // "Greater" = worse: lower score, or equal score and higher index.
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.item.cmp(&other.0.item))
    }
}

/// Which items may appear in a list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Items the user already has (sorted ascending, e.g. a CSR row); never returned.
    pub seen: &'a [u32],
    /// Further items to leave out (any order).
    pub exclude: &'a [u32],
    /// When set, only these items are considered.
    pub candidates: Option<&'a [u32]>,
}

impl Filter<'_> {
    /// True when `item` may be returned.
    #[inline]
    pub fn allows(&self, item: u32) -> bool {
        self.seen.binary_search(&item).is_err() && !self.exclude.contains(&item)
    }
}

/// Reusable selection buffer, so repeated queries do not allocate.
///
/// Selection keeps up to `2n` accepted candidates; when the buffer fills, it is cut to the best
/// `n` (a linear-time partial selection) and the worst of those becomes the bar every later
/// candidate must beat. Most scores fail that bar with one float comparison, before the filter
/// is consulted; on a full score vector the bar is checked 16 scores at a time.
#[derive(Default)]
pub struct TopN {
    sel: Selection,
    /// The candidate list, sorted and deduplicated.
    cands: Vec<u32>,
}

/// Scores checked per step of the branch-free pre-scan of a full score vector.
const SCAN_CHUNK: usize = 16;

/// The selection order: best first (higher score, then lower item).
#[inline]
pub(crate) fn best_first(a: &Scored, b: &Scored) -> Ordering {
    Worst(*a).cmp(&Worst(*b))
}

/// A streaming selection of the best `n` allowed candidates offered one at a time (the
/// engine of [`TopN`], also used by [`crate::ann`] to keep the best approximate scores).
#[derive(Default)]
pub(crate) struct Selection {
    buf: Vec<Scored>,
    n: usize,
    /// Scores below this (or NaN) cannot be selected: the bar's score, `-inf` before the
    /// first cut.
    floor: f32,
    /// The worst of the `n` best after the last cut: later candidates must be better.
    bar: Option<Scored>,
}

impl Selection {
    /// Starts a selection of the best `n` (at least 1).
    pub(crate) fn reset(&mut self, n: usize) {
        self.buf.clear();
        self.n = n.max(1);
        self.floor = f32::NEG_INFINITY;
        self.bar = None;
    }

    /// Offers a candidate: kept if it is allowed and, once the buffer was first cut, better
    /// than the bar.
    #[inline]
    pub(crate) fn offer(&mut self, cand: Scored, filter: &Filter) {
        // Also rejects NaN (unordered).
        if cand.score < self.floor || cand.score.is_nan() {
            return;
        }
        if let Some(bar) = self.bar {
            if Worst(cand) >= Worst(bar) {
                return;
            }
        }
        if !filter.allows(cand.item) {
            return;
        }
        self.buf.push(cand);
        if self.buf.len() >= self.n.saturating_mul(2) {
            self.cut();
        }
    }

    /// Candidates held: every allowed candidate offered so far while fewer than `2n` were;
    /// never fewer than `n` once `n` were offered.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Keeps the best `n` of the buffer (unordered); the worst of them becomes the bar.
    fn cut(&mut self) {
        let (_, &mut bar, _) = self.buf.select_nth_unstable_by(self.n - 1, best_first);
        self.buf.truncate(self.n);
        self.floor = bar.score;
        self.bar = Some(bar);
    }

    /// The best `n` offered (unordered), and the bar: `None` when every allowed candidate
    /// offered is among them (a NaN score is never held, nor counted), else the worst of them
    /// (every dropped candidate scores at most its score).
    pub(crate) fn finish(&mut self) -> (&mut [Scored], Option<Scored>) {
        if self.buf.len() > self.n {
            self.cut();
        }
        (&mut self.buf, self.bar)
    }
}

impl TopN {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The best `n` allowed items of `scores` (indexed by item) into `out`, best first.
    ///
    /// Candidate items out of range of `scores` are skipped; an item listed twice among the
    /// candidates is returned at most once.
    pub fn select(&mut self, scores: &[f32], n: usize, filter: &Filter, out: &mut Vec<Scored>) {
        out.clear();
        if n == 0 {
            return;
        }
        let sel = &mut self.sel;
        sel.reset(n);
        match filter.candidates {
            Some(cands) => {
                // Deduplicate first: a repeated item would otherwise take several of the `n`
                // slots of a cut and crowd out other candidates.
                self.cands.clear();
                self.cands.extend_from_slice(cands);
                self.cands.sort_unstable();
                self.cands.dedup();
                for &item in &self.cands {
                    if let Some(&score) = scores.get(item as usize) {
                        sel.offer(Scored { item, score }, filter);
                    }
                }
            }
            None => {
                for (c, chunk) in scores.chunks(SCAN_CHUNK).enumerate() {
                    let floor = sel.floor;
                    // No short-circuit, so this vectorizes.
                    if !chunk.iter().fold(false, |any, &s| any | (s >= floor)) {
                        continue;
                    }
                    for (k, &score) in chunk.iter().enumerate() {
                        let item = (c * SCAN_CHUNK + k) as u32;
                        sel.offer(Scored { item, score }, filter);
                    }
                }
            }
        }
        Self::sorted_into(sel, out);
    }

    /// The best `n` of already scored `items` into `out`, best first (the order of
    /// [`TopN::select`]; NaN scores are never selected). Each item must appear at most once.
    pub fn select_scored(&mut self, items: &[Scored], n: usize, out: &mut Vec<Scored>) {
        out.clear();
        if n == 0 {
            return;
        }
        self.sel.reset(n);
        for &cand in items {
            self.sel.offer(cand, &Filter::default());
        }
        Self::sorted_into(&mut self.sel, out);
    }

    fn sorted_into(sel: &mut Selection, out: &mut Vec<Scored>) {
        let (best, _) = sel.finish();
        best.sort_unstable_by(best_first);
        out.extend_from_slice(best);
    }
}

/// Convenience wrapper around [`TopN::select`] that allocates.
pub fn top_n(scores: &[f32], n: usize, filter: &Filter) -> Vec<Scored> {
    let mut out = Vec::new();
    TopN::new().select(scores, n, filter, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn picks_best_in_order_with_ties_by_index() {
        let scores = [0.5, 0.9, 0.1, 0.9, 0.7];
        let got: Vec<u32> = top_n(&scores, 3, &Filter::default())
            .iter()
            .map(|s| s.item)
            .collect();
        assert_eq!(got, [1, 3, 4]);
    }

    #[test]
    fn filters_seen_exclude_and_candidates() {
        let scores = [0.5, 0.9, 0.1, 0.8, 0.7];
        let f = Filter {
            seen: &[1],
            exclude: &[3],
            candidates: None,
        };
        let got: Vec<u32> = top_n(&scores, 2, &f).iter().map(|s| s.item).collect();
        assert_eq!(got, [4, 0]);
        let f = Filter {
            seen: &[1],
            exclude: &[],
            candidates: Some(&[1, 2, 0, 9]),
        };
        let got: Vec<u32> = top_n(&scores, 5, &f).iter().map(|s| s.item).collect();
        assert_eq!(got, [0, 2]);
        // A repeated candidate takes one slot, not two.
        let f = Filter {
            candidates: Some(&[1, 1, 1, 3, 4]),
            ..Default::default()
        };
        let got: Vec<u32> = top_n(&scores, 2, &f).iter().map(|s| s.item).collect();
        assert_eq!(got, [1, 3]);
        assert!(top_n(&scores, 0, &Filter::default()).is_empty());
        assert!(top_n(&[f32::NAN], 1, &Filter::default()).is_empty());
    }

    proptest! {
        #[test]
        fn equals_full_stable_sort(
            scores in proptest::collection::vec(-3i32..3, 0..80),
            n in 0usize..20,
            seen in proptest::collection::btree_set(0u32..80, 0..20),
        ) {
            let scores: Vec<f32> = scores.into_iter().map(|s| s as f32).collect();
            let seen: Vec<u32> = seen.into_iter().collect();
            let f = Filter { seen: &seen, ..Default::default() };
            let got = top_n(&scores, n, &f);
            let mut all: Vec<u32> = (0..scores.len() as u32).filter(|i| !seen.contains(i)).collect();
            all.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
            all.truncate(n);
            prop_assert_eq!(got.iter().map(|s| s.item).collect::<Vec<_>>(), all);
        }

        #[test]
        fn equals_sorted_reference_with_special_values_and_all_filters(
            codes in proptest::collection::vec(0u8..12, 0..300),
            n in 0usize..40,
            seen in proptest::collection::btree_set(0u32..300, 0..30),
            exclude in proptest::collection::vec(0u32..300, 0..10),
            candidates in proptest::option::of(proptest::collection::vec(0u32..320, 0..200)),
        ) {
            // Ties, signed zeros, infinities and NaN of both signs.
            let special = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0];
            let scores: Vec<f32> = codes
                .iter()
                .map(|&c| special.get(c as usize).copied().unwrap_or(c as f32 - 8.0))
                .collect();
            let seen: Vec<u32> = seen.into_iter().collect();
            let f = Filter { seen: &seen, exclude: &exclude, candidates: candidates.as_deref() };
            let got = top_n(&scores, n, &f);
            let pool: Vec<u32> = match &candidates {
                Some(c) => c.clone(),
                None => (0..scores.len() as u32).collect(),
            };
            let mut want: Vec<Scored> = pool
                .into_iter()
                .filter(|&i| (i as usize) < scores.len() && f.allows(i))
                .map(|item| Scored { item, score: scores[item as usize] })
                .filter(|s| !s.score.is_nan())
                .collect();
            want.sort_by_key(|s| Worst(*s));
            // A repeated candidate is one item: deduplicate before cutting to n.
            want.dedup_by_key(|s| s.item);
            want.truncate(n);
            let bits = |v: &[Scored]| v.iter().map(|s| (s.item, s.score.to_bits())).collect::<Vec<_>>();
            prop_assert_eq!(bits(&got), bits(&want));
        }
    }
}
