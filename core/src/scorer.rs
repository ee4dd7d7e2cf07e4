//! The scoring interface every model implements; [`crate::recommender`] builds on it.
use crate::error::Result;

/// Dense scoring of the whole catalog, the one thing a model must do to be served.
///
/// Every method writes one score per item into `out` (`out.len() == n_items()`), higher is
/// better. Items a model has no evidence for may get `f32::NEG_INFINITY`; callers filter seen
/// items themselves, so models need not.
pub trait ItemScorer {
    /// Number of items the model scores.
    fn n_items(&self) -> usize;

    /// Scores for a user seen in training (dense user index; the caller checked the range).
    fn score_user(&self, user: u32, out: &mut [f32]);

    /// Scores for a user described only by `(item, weight)` interactions (fold-in of an unseen
    /// user or an anonymous basket). Item indices are in range (the caller checked).
    fn score_items(&self, items: &[(u32, f32)], out: &mut [f32]) -> Result<()>;

    /// Similarity of every item to `item` (e.g. cosine of item factors).
    fn similar_to(&self, item: u32, out: &mut [f32]) -> Result<()>;

    /// True when a score `<= 0.0` means "no evidence" and the slot should be filled from
    /// popularity instead (user-KNN's fallback). Factor models return false.
    fn needs_fallback_below_zero(&self) -> bool {
        false
    }
}
