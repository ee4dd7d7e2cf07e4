//! Shared by the core integration tests.
#![allow(dead_code)]
use reco_core::CsrMatrix;

pub mod models;

/// A CSR matrix from dense rows (zeros are not stored).
pub fn mat(rows: &[Vec<f32>]) -> CsrMatrix {
    let n_cols = rows.first().map_or(0, Vec::len);
    let triples: Vec<(u32, u32, f32)> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, &w)| w != 0.0)
                .map(move |(c, &w)| (r as u32, c as u32, w))
        })
        .collect();
    CsrMatrix::from_triples(rows.len(), n_cols, &triples).unwrap()
}
