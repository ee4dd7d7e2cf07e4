//! Writes the fuzz seeds of `fuzz/seeds/model_from_bytes/`: a small real model file of every
//! kind (als, popularity, lightfm with item features, knn, item-knn) in f32 and f16, and ALS
//! and LightFM with an approximate top-N index in f32 and int8 (format version 2), trained on
//! a synthetic dataset of 60 users × 40 items (each file a few KB).
//!
//! `cargo run -p reco-core --example fuzz_seeds [OUT_DIR]` (default
//! `fuzz/seeds/model_from_bytes`); deterministic, so the committed seeds are reproducible.
#[path = "../tests/common/models.rs"]
mod models;

use reco_core::model_file::{ModelKind, Precision};

fn main() -> std::io::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds/model_from_bytes".to_string());
    let out = std::path::Path::new(&out);
    std::fs::create_dir_all(out)?;
    let d = models::synthetic(60, 40, 5);
    for kind in ModelKind::ALL {
        for (precision, tag) in [(Precision::F32, "f32"), (Precision::F16, "f16")] {
            let bytes = models::model_bytes(kind, &d, 4, precision);
            let path = out.join(format!("{kind}-{tag}.safetensors"));
            reco_core::model_file::write_atomic(&path, &bytes)?;
            println!("{} ({} bytes)", path.display(), bytes.len());
        }
    }
    // Format version 2: factor models with an approximate top-N index, and int8 factors.
    for kind in [ModelKind::Als, ModelKind::LightFm] {
        let mut file = models::model_file(kind, &d, 4);
        let names: Vec<String> = d.items.ids().iter().map(|id| format!("Product {id}")).collect();
        reco_core::recommender::attach_catalog(&mut file, &d, &names);
        let params = reco_core::ann::IvfParams::default();
        reco_core::recommender::attach_index(&mut file, reco_core::ann::AnnMode::On, &params).expect("index");
        for (precision, tag) in [(Precision::F32, "ann-f32"), (Precision::Int8, "ann-int8")] {
            let bytes = file.to_bytes(precision).expect("model bytes");
            let path = out.join(format!("{kind}-{tag}.safetensors"));
            reco_core::model_file::write_atomic(&path, &bytes)?;
            println!("{} ({} bytes)", path.display(), bytes.len());
        }
    }
    Ok(())
}
