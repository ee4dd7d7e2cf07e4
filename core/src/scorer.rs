//! The scoring interface every model implements; [`crate::recommender`] builds on it, and the
//! basket checks the models share.
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use core::any::Any;

use crate::ann::ItemFactors;
use crate::error::{RecoError, Result};

/// Buffers the models reuse between scoring calls, so that warm queries do not allocate. Keep
/// one per thread of queries (the facade's [`crate::recommender::Scratch`] holds one). Each
/// model keeps its own buffer type here, looked up by type and created on first use (it then
/// grows to the model's size), so this module depends on no model.
#[derive(Default)]
pub struct ScoreScratch {
    slots: Vec<Box<dyn Any + Send>>,
}

impl ScoreScratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The buffer of type `T`, created (empty) on first use.
    pub(crate) fn get<T: Any + Send + Default>(&mut self) -> &mut T {
        let pos = match self.slots.iter().position(|s| s.is::<T>()) {
            Some(pos) => pos,
            None => {
                self.slots.push(Box::new(T::default()));
                self.slots.len() - 1
            }
        };
        self.slots[pos]
            .downcast_mut::<T>()
            .expect("the slot found for T holds a T")
    }
}

impl core::fmt::Debug for ScoreScratch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScoreScratch")
            .field("buffers", &self.slots.len())
            .finish()
    }
}

/// Dense scoring of the whole catalog, the one thing a model must do to be served.
///
/// Every method writes one score per item into `out` (`out.len() == n_items()`), higher is
/// better. Items a model has no evidence for may get `f32::NEG_INFINITY`; callers filter seen
/// items themselves, so models need not.
pub trait ItemScorer {
    /// Number of items the model scores.
    fn n_items(&self) -> usize;

    /// Scores for a user seen in training (dense user index; the caller checked the range).
    fn score_user(&self, user: u32, out: &mut [f32], scratch: &mut ScoreScratch);

    /// Scores for a user described only by `(item, weight)` interactions (fold-in of an unseen
    /// user or an anonymous basket). Models that read the items fail on an item out of range
    /// or a non-finite weight.
    fn score_items(&self, items: &[(u32, f32)], out: &mut [f32], scratch: &mut ScoreScratch) -> Result<()>;

    /// Similarity of every item to `item` (e.g. cosine of item factors).
    fn similar_to(&self, item: u32, out: &mut [f32], scratch: &mut ScoreScratch) -> Result<()>;

    /// Factor models: the item side of their scores, `score(i) = x·rows[i] + bias[i] + c` for
    /// a query vector `x` and a constant `c` per query (what [`crate::ann`] indexes). `None`
    /// (the default) for other models.
    fn item_factors(&self) -> Option<ItemFactors<'_>> {
        None
    }

    /// Factor models: the query vector `x` of user `user` into `x`, returning the constant
    /// `c` of [`ItemScorer::item_factors`]; `None` (the default) for other models.
    fn user_query(&self, user: u32, x: &mut Vec<f32>, scratch: &mut ScoreScratch) -> Option<f32> {
        let _ = (user, x, scratch);
        None
    }

    /// Factor models: the query vector of a basket (as [`ItemScorer::score_items`]) into `x`,
    /// returning the constant `c`; `Ok(None)` (the default) for other models.
    fn basket_query(
        &self,
        items: &[(u32, f32)],
        x: &mut Vec<f32>,
        scratch: &mut ScoreScratch,
    ) -> Result<Option<f32>> {
        let _ = (items, x, scratch);
        Ok(None)
    }

    /// True when a score `<= 0.0` means "no evidence" and the slot should be filled from
    /// popularity instead (user-KNN's fallback). Factor models return false.
    fn needs_fallback_below_zero(&self) -> bool {
        false
    }
}

/// Fails with [`RecoError::UnknownItem`] for a basket item `>= n_items` and
/// [`RecoError::InvalidData`] for a non-finite weight.
pub(crate) fn check_basket(basket: &[(u32, f32)], n_items: usize) -> Result<()> {
    for &(item, w) in basket {
        if item as usize >= n_items {
            return Err(RecoError::UnknownItem(format!(
                "{item} (the model has {n_items} items)"
            )));
        }
        if !w.is_finite() {
            return Err(RecoError::InvalidData(format!(
                "basket weight {w} of item {item} is not finite"
            )));
        }
    }
    Ok(())
}

/// Sorts a basket by item and sums the weights of repeated items, as repeated interactions
/// are summed in training data.
pub(crate) fn merge_repeated(basket: &mut Vec<(u32, f32)>) {
    basket.sort_unstable_by_key(|&(item, _)| item);
    basket.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baskets_are_checked_and_merged() {
        assert!(
            matches!(check_basket(&[(0, 1.0), (3, 1.0)], 3), Err(RecoError::UnknownItem(m)) if m.contains("3 (the model has 3 items)"))
        );
        assert!(
            matches!(check_basket(&[(1, f32::NAN)], 3), Err(RecoError::InvalidData(m)) if m.contains("not finite"))
        );
        assert!(check_basket(&[(2, -1.0), (0, 0.0)], 3).is_ok());
        let mut basket = vec![(2, 1.0), (0, 0.5), (2, 2.0), (1, 1.0), (0, 0.25)];
        merge_repeated(&mut basket);
        assert_eq!(basket, vec![(0, 0.75), (1, 1.0), (2, 3.0)]);
    }
}
