//! The popularity baseline: every user gets the same ranking, most-interacted items first.
//!
//! `popularity[i]` = number of distinct users who interacted with item `i` in training, i.e.
//! the column sums of the binarized user × item matrix (weights and repeat purchases do not
//! count). The ranking sorts items by popularity, descending; ties go to the lower item index
//! (a stable descending sort). With items indexed in sorted-id order this reproduces the
//! anchors' popularity model (`numpy.argsort(-pop, kind="stable")`) exactly.
//!
//! Model file ([`ModelKind::Popularity`]): one tensor `popularity`, f32, shape `[n_items]`.
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use crate::error::{RecoError, Result};
use crate::matrix::CsrMatrix;
use crate::model_file::{ModelFile, ModelKind};
use crate::scorer::{ItemScorer, ScoreScratch};

/// Name of the popularity tensor in a model file.
const TENSOR: &str = "popularity";

/// Items ranked by the number of distinct training users who interacted with them.
#[derive(Debug, Clone, PartialEq)]
pub struct PopularityModel {
    scores: Vec<f32>,
    order: Vec<u32>,
}

/// Number of distinct users per item: the column sums of `matrix.binarized()`.
pub(crate) fn item_user_counts(matrix: &CsrMatrix) -> Vec<f32> {
    matrix.binarized().column_sums()
}

/// Item indices sorted by `scores` descending, ties by lower index (a stable sort).
pub(crate) fn ranking(scores: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
    order
}

impl PopularityModel {
    /// Counts distinct users per item in the user × item `matrix`. Fails when the matrix has
    /// no items or no interactions.
    pub fn fit(matrix: &CsrMatrix) -> Result<Self> {
        if matrix.n_cols() == 0 || matrix.nnz() == 0 {
            return Err(RecoError::InvalidData(format!(
                "cannot fit popularity on an empty {} x {} matrix with {} interactions",
                matrix.n_rows(),
                matrix.n_cols(),
                matrix.nnz()
            )));
        }
        Ok(Self::from_scores(item_user_counts(matrix)))
    }

    fn from_scores(scores: Vec<f32>) -> Self {
        let order = ranking(&scores);
        PopularityModel { scores, order }
    }

    /// Popularity of every item (distinct training users), by item index.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// All item indices, most popular first (ties by lower index).
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// A model file holding the `popularity` tensor. Ids, names and metadata are left empty
    /// for the caller to fill.
    pub fn to_model_file(&self) -> ModelFile {
        let mut file = ModelFile::new(ModelKind::Popularity);
        file.put_f32(TENSOR, &[self.scores.len()], self.scores.clone());
        file
    }

    /// Loads a model written by [`PopularityModel::to_model_file`]. Fails on another model
    /// kind, a missing or mis-shaped tensor (it must have one entry per item id, when ids are
    /// present), or negative / non-finite values.
    pub fn from_model_file(file: &ModelFile) -> Result<Self> {
        file.expect_kind(ModelKind::Popularity)?;
        let n = (!file.item_ids.is_empty()).then_some(file.item_ids.len());
        let scores = file.f32(TENSOR, &[n])?;
        if scores.is_empty() {
            return Err(RecoError::CorruptModel(
                "popularity model has no items".to_string(),
            ));
        }
        if let Some(v) = scores.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(RecoError::CorruptModel(format!(
                "popularity value {v} is not a finite non-negative count"
            )));
        }
        Ok(Self::from_scores(scores.to_vec()))
    }
}

impl ItemScorer for PopularityModel {
    fn n_items(&self) -> usize {
        self.scores.len()
    }

    /// Every user gets the popularity scores.
    fn score_user(&self, _user: u32, out: &mut [f32], _scratch: &mut ScoreScratch) {
        out.copy_from_slice(&self.scores);
    }

    /// Every basket gets the popularity scores.
    fn score_items(&self, _items: &[(u32, f32)], out: &mut [f32], _scratch: &mut ScoreScratch) -> Result<()> {
        out.copy_from_slice(&self.scores);
        Ok(())
    }

    /// Always [`RecoError::Unsupported`]: popularity has no notion of item similarity.
    fn similar_to(&self, _item: u32, _out: &mut [f32], _scratch: &mut ScoreScratch) -> Result<()> {
        Err(RecoError::Unsupported(
            "the popularity model has no item similarity; use als, lightfm or item-knn".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_file::Precision;
    use crate::topn::{top_n, Filter};

    /// 3 users × 4 items. Distinct users per item: [2, 1, 2, 0]; the weight 5.0 counts once.
    fn matrix() -> CsrMatrix {
        CsrMatrix::from_triples(
            3,
            4,
            &[(0, 0, 5.0), (0, 2, 1.0), (1, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0)],
        )
        .unwrap()
    }

    #[test]
    fn counts_distinct_users_and_breaks_ties_by_index() {
        let m = PopularityModel::fit(&matrix()).unwrap();
        assert_eq!(m.scores(), &[2.0, 1.0, 2.0, 0.0]);
        assert_eq!(m.order(), &[0, 2, 1, 3]);
        // Top-N over the scores gives the same order, minus the user's items.
        let got: Vec<u32> = top_n(
            m.scores(),
            4,
            &Filter {
                seen: &[0],
                ..Default::default()
            },
        )
        .iter()
        .map(|s| s.item)
        .collect();
        assert_eq!(got, [2, 1, 3]);
    }

    #[test]
    fn empty_matrix_is_an_error() {
        let empty = CsrMatrix::from_triples(2, 3, &[]).unwrap();
        assert!(matches!(
            PopularityModel::fit(&empty),
            Err(RecoError::InvalidData(_))
        ));
    }

    #[test]
    fn scorer_gives_popularity_to_everyone_and_no_similarity() {
        let m = PopularityModel::fit(&matrix()).unwrap();
        let mut out = [0f32; 4];
        let s = &mut ScoreScratch::default();
        m.score_user(7, &mut out, s);
        assert_eq!(out, [2.0, 1.0, 2.0, 0.0]);
        out = [0.0; 4];
        m.score_items(&[(3, 1.0)], &mut out, s).unwrap();
        assert_eq!(out, [2.0, 1.0, 2.0, 0.0]);
        assert!(matches!(
            m.similar_to(0, &mut out, s),
            Err(RecoError::Unsupported(_))
        ));
        assert!(!m.needs_fallback_below_zero());
    }

    #[test]
    fn model_file_roundtrip_and_checks() {
        let m = PopularityModel::fit(&matrix()).unwrap();
        let bytes = m.to_model_file().to_bytes(Precision::F32).unwrap();
        let back = PopularityModel::from_model_file(&ModelFile::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(back, m);

        let mut als = m.to_model_file();
        als.kind = ModelKind::Als;
        assert!(matches!(
            PopularityModel::from_model_file(&als),
            Err(RecoError::WrongModelKind { .. })
        ));
        let mut wrong_len = m.to_model_file();
        wrong_len.item_ids = alloc::vec!["a".into(), "b".into()];
        assert!(matches!(
            PopularityModel::from_model_file(&wrong_len),
            Err(RecoError::CorruptModel(_))
        ));
        let mut negative = ModelFile::new(ModelKind::Popularity);
        negative.put_f32(TENSOR, &[2], alloc::vec![1.0, -1.0]);
        assert!(PopularityModel::from_model_file(&negative).is_err());
    }
}
