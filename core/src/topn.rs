//! Top-N selection over a dense score vector: partial selection (a bounded min-heap, no full
//! sort), with exclusions and an optional candidate list.
//!
//! Order: higher score first; equal scores by lower item index (deterministic, and the same
//! order as a stable descending sort). NaN scores are never selected.
use alloc::collections::BinaryHeap;
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

/// Heap entry ordered so that the *worst* candidate is at the top of the max-heap.
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
#[derive(Default)]
pub struct TopN {
    heap: BinaryHeap<Worst>,
}

impl TopN {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The best `n` allowed items of `scores` (indexed by item) into `out`, best first.
    pub fn select(&mut self, scores: &[f32], n: usize, filter: &Filter, out: &mut Vec<Scored>) {
        out.clear();
        self.heap.clear();
        if n == 0 {
            return;
        }
        match filter.candidates {
            Some(cands) => {
                for &item in cands {
                    if let Some(&score) = scores.get(item as usize) {
                        self.offer(Scored { item, score }, n, filter);
                    }
                }
            }
            None => {
                for (item, &score) in scores.iter().enumerate() {
                    self.offer(
                        Scored {
                            item: item as u32,
                            score,
                        },
                        n,
                        filter,
                    );
                }
            }
        }
        out.extend(self.heap.drain().map(|w| w.0));
        out.sort_by_key(|s| Worst(*s));
        out.dedup_by_key(|s| s.item);
    }

    #[inline]
    fn offer(&mut self, cand: Scored, n: usize, filter: &Filter) {
        if cand.score.is_nan() {
            return;
        }
        if self.heap.len() == n {
            // Cheap rejection before the (more expensive) filter check.
            if Worst(cand) >= *self.heap.peek().unwrap() {
                return;
            }
            if !filter.allows(cand.item) {
                return;
            }
            self.heap.pop();
        } else if !filter.allows(cand.item) {
            return;
        }
        self.heap.push(Worst(cand));
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
    }
}
