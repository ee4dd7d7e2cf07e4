//! `reco export`: turn a trained model file into the file a browser downloads.
//!
//! A web model file is a model file (same safetensors container, same format version, loads
//! with the same `Recommender::from_bytes`): item factors (or whatever the kind scores with),
//! item ids, product names, popularity and the catalog. The ALS fold-in solver needs `YᵀY`,
//! which the loader recomputes from the stored item factors (f×f, about a millisecond), so it
//! always matches them, also at f16. Options:
//! - `--precision f16` halves every float tensor (converted back to f32 when loaded);
//! - `--no-users` leaves out user ids, user factors and seen items: the browser then answers
//!   baskets only (`recommend(userId)` falls back to popularity). Kinds that score through
//!   their users (user-KNN) refuse it.
//!
//! The output folder also gets `index.json`, the list of web models in it (the same shape as
//! `reco serve`'s `GET /` `models` map), which the demo page reads to offer a model switch.
use std::io::Write;
use std::path::{Path, PathBuf};

use reco_core::model_file::{write_atomic, ModelFile, Precision};
use reco_core::recommender::Recommender;
use serde_json::{json, Value};

use crate::error::{Result, ServerError};
use crate::progress::Progress;
use crate::train::AnnChoice;

/// Command-line options of `reco export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The trained model file to export.
    #[arg(long, default_value = "models/als.safetensors")]
    pub model: PathBuf,
    /// Where to write the web model file [default: web/models/<model file name>].
    /// Its folder also gets (or updates) `index.json`, the list of web models in it, which the
    /// demo page reads to offer a model switch.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Storage precision of float tensors: f16 halves the file, scores change slightly.
    #[arg(long, value_enum, default_value_t = WebPrecision::F32)]
    pub precision: WebPrecision,
    /// Leave out users (ids, factors, seen items): baskets only, smaller file.
    #[arg(long)]
    pub no_users: bool,
    /// Approximate top-N index in the exported file (ALS, LightFM; built before users are
    /// dropped, so its probe count is calibrated on them): `auto` for catalogs of at least
    /// 50,000 items.
    #[arg(long, value_enum, default_value_t = AnnChoice::Auto)]
    pub ann: AnnChoice,
}

/// `--precision` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WebPrecision {
    /// 4 bytes per float, exact (native and browser answers agree).
    F32,
    /// 2 bytes per float (IEEE half).
    F16,
    /// Factor matrices as 1 byte per value with one f32 scale per row, other floats as f16.
    Int8,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The file written.
    pub out: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
    /// Its size gzip-compressed (what a server with compression sends).
    pub gzip_bytes: usize,
}

/// The web model bytes for `file`: users dropped when `no_users`, floats at `precision`.
/// The result is loaded once to check it serves.
pub fn web_model_bytes(mut file: ModelFile, precision: Precision, no_users: bool) -> Result<Vec<u8>> {
    if no_users {
        file.user_ids.clear();
        file.tensors
            .retain(|name, _| name != "user_factors" && !name.starts_with("catalog.seen."));
    }
    let bytes = file.to_bytes(precision)?;
    Recommender::from_bytes(&bytes).map_err(|e| {
        ServerError::Usage(format!(
            "the exported {} model does not load ({e}){}",
            file.kind,
            if no_users {
                "; this kind needs its users: drop --no-users"
            } else {
                ""
            }
        ))
    })?;
    Ok(bytes)
}

/// Seed of the index `reco export` builds.
const ANN_SEED: u64 = 42;

/// The `reco.format_version` of model bytes written by this build (1, or 2 with an index).
fn format_version(bytes: &[u8]) -> u32 {
    safetensors::SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().as_ref()?.get("reco.format_version")?.parse().ok())
        .unwrap_or(1)
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().map(|v| v.len()).unwrap_or(0)
}

/// Reads `args.model`, writes the web model file atomically and updates `index.json` beside it.
pub fn export(args: &ExportArgs) -> Result<ExportReport> {
    let input = std::fs::read(&args.model).map_err(|e| ServerError::model_file(&args.model, e))?;
    let mut file = ModelFile::from_bytes(&input)?;
    crate::train::attach_ann(&mut file, args.ann, ANN_SEED)?;
    let kind = file.kind;
    let precision = match args.precision {
        WebPrecision::F32 => Precision::F32,
        WebPrecision::F16 => Precision::F16,
        WebPrecision::Int8 => Precision::Int8,
    };
    let out = match &args.out {
        Some(p) => p.clone(),
        None => Path::new("web/models").join(args.model.file_name().unwrap_or("model.safetensors".as_ref())),
    };
    let bytes = web_model_bytes(file, precision, args.no_users)?;
    let rec = Recommender::from_bytes(&bytes)?;
    write_atomic(&out, &bytes).map_err(|e| ServerError::io(&out, e))?;
    let gzip_bytes = gzip_len(&bytes);
    let entry = json!({
        "kind": kind.as_str(),
        "file": out.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
        "format_version": format_version(&bytes),
        "precision": match precision {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        },
        "users": rec.n_users(),
        "items": rec.n_items(),
        "bytes": bytes.len(),
        "gzip_bytes": gzip_bytes,
    });
    update_index(&out, entry)?;
    Ok(ExportReport {
        out,
        bytes: bytes.len(),
        gzip_bytes,
    })
}

/// Adds (or replaces) the entry of `out` in `index.json` of its folder.
fn update_index(out: &Path, entry: Value) -> Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let index = dir.join("index.json");
    let mut doc: Value = std::fs::read(&index)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|v: &Value| v.get("models").is_some_and(Value::is_object))
        .unwrap_or_else(|| json!({ "models": {} }));
    let name = out
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("model")
        .to_string();
    doc["models"][name] = entry;
    let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    write_atomic(&index, &text).map_err(|e| ServerError::io(&index, e))
}

/// The `reco export` command: exports and prints the sizes.
pub fn run(args: &ExportArgs) -> Result<()> {
    let progress = Progress::spinner(format!("export {}", args.model.display()));
    let r = export(args);
    progress.finish_and_clear();
    let r = r?;
    println!(
        "wrote {} ({:.1} KiB, {:.1} KiB gzipped)",
        r.out.display(),
        r.bytes as f64 / 1024.0,
        r.gzip_bytes as f64 / 1024.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_core::als::{AlsModel, AlsParams};
    use reco_core::recommender::{attach_catalog, RecommendOptions, Scratch};
    use reco_core::InteractionsBuilder;

    fn model_bytes() -> Vec<u8> {
        let mut b = InteractionsBuilder::new();
        for u in 0..30 {
            for k in 0..5 {
                b.push(&format!("u{u}"), &format!("i{}", (u * 3 + k * 7) % 40), 1.0);
            }
        }
        let train = b.build().unwrap();
        let params = AlsParams {
            factors: 8,
            iterations: 5,
            ..AlsParams::default()
        };
        let model = AlsModel::fit(&train.matrix, &params, &mut |_| {}).unwrap();
        let mut file = model.to_model_file();
        let names: Vec<String> = train.items.ids().iter().map(|i| format!("Product {i}")).collect();
        attach_catalog(&mut file, &train, &names);
        file.to_bytes(Precision::F32).unwrap()
    }

    #[test]
    fn f32_export_answers_exactly_like_the_model_and_f16_is_smaller() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("als.safetensors");
        std::fs::write(&model, model_bytes()).unwrap();
        let out = dir.path().join("web/als.safetensors");
        let args = ExportArgs {
            model: model.clone(),
            out: Some(out.clone()),
            precision: WebPrecision::F32,
            no_users: false,
            ann: AnnChoice::Auto,
        };
        let r = export(&args).unwrap();
        assert!(r.gzip_bytes > 0 && r.gzip_bytes < r.bytes);
        let (a, b) = (
            Recommender::from_bytes(&std::fs::read(&model).unwrap()).unwrap(),
            Recommender::from_bytes(&std::fs::read(&out).unwrap()).unwrap(),
        );
        let basket = vec!["i3".to_string(), "i10".to_string()];
        let opts = RecommendOptions::default();
        let mut s = Scratch::default();
        assert_eq!(
            a.recommend_items(&basket, 5, &opts, &mut s).unwrap(),
            b.recommend_items(&basket, 5, &opts, &mut s).unwrap()
        );
        assert_eq!(
            a.recommend_user("u1", 5, &opts, &mut s).unwrap(),
            b.recommend_user("u1", 5, &opts, &mut s).unwrap()
        );

        let half = dir.path().join("web/als-f16.safetensors");
        let args = ExportArgs {
            out: Some(half.clone()),
            precision: WebPrecision::F16,
            no_users: true,
            ann: AnnChoice::Auto,
            ..args
        };
        let h = export(&args).unwrap();
        assert!(h.bytes < r.bytes / 2, "{} vs {}", h.bytes, r.bytes);
        let c = Recommender::from_bytes(&std::fs::read(&half).unwrap()).unwrap();
        assert_eq!(c.n_users(), 0);
        assert_eq!(c.item_name(0), a.item_name(0));
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("web/index.json")).unwrap()).unwrap();
        assert_eq!(index["models"]["als"]["precision"], "f32");
        assert_eq!(index["models"]["als-f16"]["users"], 0);
    }

    #[test]
    fn a_corrupt_model_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("bad.safetensors");
        std::fs::write(&model, &model_bytes()[..100]).unwrap();
        let args = ExportArgs {
            model,
            out: Some(dir.path().join("o.safetensors")),
            precision: WebPrecision::F32,
            no_users: false,
            ann: AnnChoice::Auto,
        };
        assert!(export(&args).unwrap_err().to_string().contains("truncated"));
    }
}
