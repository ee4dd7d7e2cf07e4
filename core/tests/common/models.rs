//! Small real model files of every kind, trained on a synthetic dataset: shared by the
//! corruption tests (`core/tests/model_file_corruption.rs`) and the fuzz-seed generator
//! (`core/examples/fuzz_seeds.rs`).
#![allow(dead_code)]
use reco_core::als::{AlsModel, AlsParams};
use reco_core::ease::{self, EaseParams};
use reco_core::knn::{ItemKnnModel, ItemKnnParams, UserKnnModel, UserKnnParams};
use reco_core::lightfm::{self, LightFmParams};
use reco_core::model_file::{ModelFile, ModelKind, Precision};
use reco_core::popularity::PopularityModel;
use reco_core::recommender::attach_catalog;
use reco_core::rng::Rng;
use reco_core::rp3beta::{self, Rp3betaParams};
use reco_core::{CsrMatrix, Interactions, InteractionsBuilder};

/// `users` users in 4 taste groups over `items` items: each buys 3–11 items of its group's
/// block (weights 1–3) and one random item; ids `u0..`, `i0..`.
pub fn synthetic(users: usize, items: usize, seed: u64) -> Interactions {
    let mut rng = Rng::new(seed);
    let mut b = InteractionsBuilder::new();
    // Register ids in order so indices match names.
    let block = (items / 4).max(1);
    for u in 0..users {
        let g = u % 4;
        let n = 3 + rng.below(9) as usize;
        for _ in 0..n {
            let i = (g * block + rng.below(block as u32) as usize).min(items - 1);
            b.push(&format!("u{u}"), &format!("i{i}"), (1 + rng.below(3)) as f32);
        }
        let noise = rng.below(items as u32);
        b.push(&format!("u{u}"), &format!("i{noise}"), 1.0);
    }
    b.build().unwrap()
}

/// Item features for LightFM: each item's block (4 columns) and parity (2 columns).
fn item_features(d: &Interactions) -> CsrMatrix {
    let n = d.items.len();
    let triples: Vec<(u32, u32, f32)> = (0..n)
        .flat_map(|i| {
            let id: usize = d.items.id(i as u32).unwrap()[1..].parse().unwrap();
            [
                (i as u32, (id % 4) as u32, 1.0),
                (i as u32, 4 + (id % 2) as u32, 1.0),
            ]
        })
        .collect();
    let extra = CsrMatrix::from_triples(n, 6, &triples).unwrap();
    lightfm::with_identity(&extra, true)
}

/// The model file (without catalog) of `kind` trained on `d`.
pub fn model_file(kind: ModelKind, d: &Interactions, factors: usize) -> ModelFile {
    let m = &d.matrix;
    match kind {
        ModelKind::Als => {
            let params = AlsParams {
                factors,
                iterations: 4,
                ..AlsParams::default()
            };
            AlsModel::fit(m, &params, &mut |_| {}).unwrap().to_model_file()
        }
        ModelKind::Popularity => PopularityModel::fit(m).unwrap().to_model_file(),
        ModelKind::LightFm => {
            let params = LightFmParams {
                factors,
                epochs: 3,
                threads: 1,
                ..LightFmParams::default()
            };
            let features = item_features(d);
            lightfm::fit(m, Some(&features), None, &params, &mut |_| {})
                .unwrap()
                .to_model_file()
        }
        ModelKind::UserKnn => UserKnnModel::fit(m, UserKnnParams { k: 20 })
            .unwrap()
            .to_model_file(),
        ModelKind::ItemKnn => ItemKnnModel::fit(
            m,
            ItemKnnParams {
                k: 20,
                ..Default::default()
            },
        )
        .unwrap()
        .to_model_file(),
        ModelKind::Ease => ease::fit(m, EaseParams { lambda: 10.0, k: 20 })
            .unwrap()
            .to_model_file(),
        ModelKind::Rp3Beta => rp3beta::fit(
            m,
            Rp3betaParams {
                k: 20,
                ..Rp3betaParams::default()
            },
        )
        .unwrap()
        .to_model_file(),
    }
}

/// A complete model file (model + catalog) as bytes, as `reco train` writes it.
pub fn model_bytes(kind: ModelKind, d: &Interactions, factors: usize, precision: Precision) -> Vec<u8> {
    let mut file = model_file(kind, d, factors);
    let names: Vec<String> = d.items.ids().iter().map(|id| format!("Product {id}")).collect();
    attach_catalog(&mut file, d, &names);
    file.to_bytes(precision).unwrap()
}
