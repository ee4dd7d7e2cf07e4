//! Corrupt model files of real size: every flipped bit of the sparse-matrix index tensors,
//! every byte of the header with a few bit patterns, and thousands of seeded random mutations
//! of a real ALS file. Each load (and, when a file still loads, a few queries) must give
//! `Ok` or `Err`, never a panic.
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::models::{model_bytes, synthetic};
use reco_core::model_file::{ModelFile, ModelKind, Precision, Tensor};
use reco_core::recommender::{RecommendOptions, Recommender, Scratch};
use reco_core::rng::Rng;

/// Loads `bytes`; if that works, runs the queries a server would (a known user, an unknown
/// one, a basket, similar items). Returns whether the file loaded; panics propagate.
fn load_and_query(bytes: &[u8]) -> bool {
    let Ok(r) = Recommender::from_bytes(bytes) else {
        return false;
    };
    query(&r);
    true
}

fn query(r: &Recommender) {
    let mut s = Scratch::default();
    let opts = RecommendOptions::default();
    let first = r.items().ids().first().cloned().unwrap_or_default();
    let user = r.users().ids().first().cloned().unwrap_or_default();
    let _ = r.recommend_user(&user, 10, &opts, &mut s);
    let _ = r.recommend_user("nobody", 10, &opts, &mut s);
    let basket = vec![first.clone(), "i1".to_string(), "i2".to_string(), first.clone()];
    let _ = r.recommend_items(&basket, 10, &opts, &mut s);
    let _ = r.similar_items(&first, 10, &mut s);
}

/// Counts the mutants of `bytes` whose load or queries panic (and how many loaded).
struct Tally {
    tried: usize,
    loaded: usize,
    panics: Vec<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            tried: 0,
            loaded: 0,
            panics: Vec::new(),
        }
    }

    fn run(&mut self, what: impl FnOnce() -> String, bytes: &[u8]) {
        self.tried += 1;
        match catch_unwind(AssertUnwindSafe(|| load_and_query(bytes))) {
            Ok(loaded) => self.loaded += loaded as usize,
            Err(_) => self.panics.push(what()),
        }
    }

    fn run_file(&mut self, what: impl FnOnce() -> String, file: ModelFile) {
        self.tried += 1;
        match catch_unwind(AssertUnwindSafe(|| match Recommender::from_model_file(file) {
            Ok(r) => {
                query(&r);
                true
            }
            Err(_) => false,
        })) {
            Ok(loaded) => self.loaded += loaded as usize,
            Err(_) => self.panics.push(what()),
        }
    }

    fn assert_no_panic(&self, label: &str) {
        eprintln!(
            "{label}: {} mutants, {} still loaded, {} panicked",
            self.tried,
            self.loaded,
            self.panics.len()
        );
        assert!(
            self.panics.is_empty(),
            "{label}: {} of {} mutants panicked, e.g. {:?}",
            self.panics.len(),
            self.tried,
            &self.panics[..self.panics.len().min(5)]
        );
    }
}

/// Byte range (absolute, in the file) of every tensor whose name ends with one of `suffixes`.
fn tensor_ranges(bytes: &[u8], suffixes: &[&str]) -> Vec<(String, std::ops::Range<usize>)> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut out = Vec::new();
    for (name, info) in header.as_object().unwrap() {
        if name == "__metadata__" || !suffixes.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let off = &info["data_offsets"];
        let (a, b) = (
            off[0].as_u64().unwrap() as usize,
            off[1].as_u64().unwrap() as usize,
        );
        out.push((name.clone(), 8 + n + a..8 + n + b));
    }
    out.sort_by_key(|(_, r)| r.start);
    out
}

fn header_len(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

/// 300 users × 200 items: `catalog.seen` has hundreds of rows, so a flipped `indptr` bit in
/// a middle row points past the indices (the panic a one-row matrix cannot show).
fn real_sized() -> reco_core::Interactions {
    synthetic(300, 200, 11)
}

/// Every bit of every `*.indptr` and `*.shape` element, and every byte of every fifth
/// `*.indices` element with three bit patterns, of the sparse matrices of four real models.
/// A tensor's file bytes are its little-endian values, so flipping bit `b` of element `e` in
/// memory is flipping that bit of the file; the file is parsed once, and a mutant is loaded
/// in full (and queried) only when its matrix passes `ModelFile::csr`, so the test stays fast.
#[test]
fn every_bit_of_every_sparse_index_tensor_of_real_models() {
    let d = real_sized();
    for kind in [
        ModelKind::Als,
        ModelKind::UserKnn,
        ModelKind::ItemKnn,
        ModelKind::LightFm,
        ModelKind::Ease,
        ModelKind::Rp3Beta,
    ] {
        let bytes = model_bytes(kind, &d, 8, Precision::F32);
        assert!(load_and_query(&bytes), "{kind}: the unmutated file must load");
        let mut file = ModelFile::from_bytes(&bytes).unwrap();
        let mut tally = Tally::new();
        let names: Vec<String> = file.tensors.keys().cloned().collect();
        for name in names {
            let Some((prefix, part)) = name.rsplit_once('.') else {
                continue;
            };
            let flips: Vec<(usize, u64)> = match (&file.tensors[&name], part) {
                (Tensor::U64 { data, .. }, "indptr" | "shape") => (0..data.len())
                    .flat_map(|e| (0..64).map(move |bit| (e, 1u64 << bit)))
                    .collect(),
                (Tensor::U32 { data, .. }, "indices") => (0..data.len())
                    .step_by(5)
                    .flat_map(|e| {
                        (0..4).flat_map(move |byte| [0x01u64, 0x80, 0xff].map(|p| (e, p << (8 * byte))))
                    })
                    .collect(),
                _ => continue,
            };
            let flip = |file: &mut ModelFile, e: usize, mask: u64| match file.tensors.get_mut(&name) {
                Some(Tensor::U64 { data, .. }) => data[e] ^= mask,
                Some(Tensor::U32 { data, .. }) => data[e] ^= mask as u32,
                _ => unreachable!(),
            };
            for (e, mask) in flips {
                flip(&mut file, e, mask);
                let what = || format!("{name}[{e}] ^ {mask:#x}");
                match catch_unwind(AssertUnwindSafe(|| file.csr(prefix).is_ok())) {
                    Ok(true) => tally.run_file(what, file.clone()),
                    Ok(false) => tally.tried += 1,
                    Err(_) => {
                        tally.tried += 1;
                        tally.panics.push(what());
                    }
                }
                flip(&mut file, e, mask);
            }
        }
        tally.assert_no_panic(&format!("{kind} index tensors"));
    }
}

/// The same on the bytes of a real file, for the low byte of every `catalog.seen.indptr`
/// entry (every bit) and of every fortieth `catalog.seen.indices` entry.
#[test]
fn flipped_bits_of_sparse_index_bytes_of_a_real_file() {
    let d = real_sized();
    let bytes = model_bytes(ModelKind::Als, &d, 8, Precision::F32);
    let mut tally = Tally::new();
    for (name, range) in tensor_ranges(&bytes, &[".indptr", ".indices"]) {
        let stride = if name.ends_with(".indptr") { 8 } else { 160 };
        for pos in range.clone().step_by(stride) {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[pos] ^= 1 << bit;
                tally.run(|| format!("{name} byte {} bit {bit}", pos - range.start), &b);
            }
        }
    }
    tally.assert_no_panic("ALS index tensor bytes");
}

/// Every byte of the header length and of the tensor table (names, dtypes, shapes, offsets)
/// with three bit patterns, and every eighth byte of the metadata (ids, parameters).
#[test]
fn header_bytes_of_real_models_with_a_few_patterns() {
    let d = real_sized();
    for (kind, precision) in [
        (ModelKind::Als, Precision::F32),
        (ModelKind::ItemKnn, Precision::F16),
    ] {
        let bytes = model_bytes(kind, &d, 8, precision);
        let end = header_len(&bytes);
        let header = std::str::from_utf8(&bytes[8..end]).unwrap();
        // Tensor table entries `"name":{"dtype":…,"shape":[…],"data_offsets":[…]}`.
        let mut table = vec![false; end];
        table[..8].fill(true);
        let names: Vec<String> = serde_json::from_str::<serde_json::Value>(header)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect();
        for name in names {
            let start = header.find(&format!("\"{name}\":{{")).unwrap();
            let stop = start + header[start..].find('}').unwrap();
            table[8 + start..=8 + stop].fill(true);
        }
        let mut tally = Tally::new();
        for pos in 0..end {
            if !table[pos] && pos % 8 != 0 {
                continue;
            }
            for pattern in [0x01u8, 0x20, 0xff] {
                let mut b = bytes.clone();
                b[pos] ^= pattern;
                tally.run(|| format!("header byte {pos} ^ {pattern:#x}"), &b);
            }
        }
        tally.assert_no_panic(&format!("{kind} header"));
    }
}

/// The experiment: thousands of seeded random mutations of a real ALS file (bit
/// flips, overwritten ranges, header numbers, special tensor values, truncations).
#[test]
fn random_mutations_of_a_real_als_file() {
    let d = real_sized();
    let bytes = model_bytes(ModelKind::Als, &d, 8, Precision::F32);
    let data_start = header_len(&bytes);
    let mut rng = Rng::new(2024);
    let below = |rng: &mut Rng, n: usize| rng.below(n as u32) as usize;
    let mut tally = Tally::new();
    // RECO_MUTATIONS=100000 for a longer run; the default keeps the test under a minute.
    let rounds: usize = std::env::var("RECO_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6_000);
    for round in 0..rounds {
        let mut b = bytes.clone();
        let kind = round % 6;
        match kind {
            // One bit anywhere.
            0 => {
                let pos = below(&mut rng, b.len());
                b[pos] ^= 1 << below(&mut rng, 8);
            }
            // A range overwritten with random bytes.
            1 => {
                let pos = below(&mut rng, b.len());
                let len = (1 + below(&mut rng, 32)).min(b.len() - pos);
                for x in &mut b[pos..pos + len] {
                    *x = rng.below(256) as u8;
                }
            }
            // A decimal digit of the header (offsets, shapes, params, counts) changed.
            2 => {
                let digits: Vec<usize> = (8..data_start).filter(|&p| b[p].is_ascii_digit()).collect();
                let pos = digits[below(&mut rng, digits.len())];
                b[pos] = b'0' + rng.below(10) as u8;
            }
            // A tensor value (aligned 4 or 8 bytes) set to an extreme pattern.
            3 => {
                let pos = data_start + below(&mut rng, (b.len() - data_start) / 4) * 4;
                let special: [u8; 4] = match rng.below(6) {
                    0 => f32::NAN.to_le_bytes(),
                    1 => f32::INFINITY.to_le_bytes(),
                    2 => 1e30f32.to_le_bytes(),
                    3 => u32::MAX.to_le_bytes(),
                    4 => 0x8000_0000u32.to_le_bytes(),
                    _ => 0u32.to_le_bytes(),
                };
                let end = (pos + 4).min(b.len());
                b[pos..end].copy_from_slice(&special[..end - pos]);
            }
            // The header length itself.
            4 => {
                let pos = below(&mut rng, 8);
                b[pos] = rng.below(256) as u8;
            }
            // Truncated.
            _ => {
                let len = below(&mut rng, b.len());
                b.truncate(len);
            }
        }
        tally.run(|| format!("round {round} (mutation kind {kind})"), &b);
    }
    tally.assert_no_panic("random ALS mutations");
}

/// Overwrites value `k` of the f32 tensor `name` in the file bytes.
fn set_f32(bytes: &mut [u8], name: &str, k: usize, v: f32) {
    let (_, range) = tensor_ranges(bytes, &[name])
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap();
    let at = range.start + 4 * k;
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn load_error(bytes: &[u8]) -> String {
    match Recommender::from_bytes(bytes) {
        Ok(_) => panic!("the file loaded"),
        Err(e) => e.to_string(),
    }
}

/// NaN or ±inf in any score input (popularity, factors, biases, embeddings, similarities)
/// is refused when the file is loaded, naming the tensor; the old code served NaN items
/// first to unknown users.
#[test]
fn non_finite_score_inputs_are_refused_at_load() {
    let d = synthetic(60, 40, 3);
    let cases = [
        (ModelKind::Popularity, "catalog.popularity"),
        (ModelKind::Popularity, "popularity"),
        (ModelKind::Als, "item_factors"),
        (ModelKind::Als, "user_factors"),
        (ModelKind::LightFm, "item_biases"),
        (ModelKind::LightFm, "user_biases"),
        (ModelKind::LightFm, "user_embeddings"),
        (ModelKind::LightFm, "item_repr_biases"),
        (ModelKind::UserKnn, "popularity"),
        (ModelKind::ItemKnn, "neighbors.data"),
        (ModelKind::Ease, "neighbors.data"),
        (ModelKind::Rp3Beta, "neighbors.data"),
    ];
    for (kind, tensor) in cases {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut bytes = model_bytes(kind, &d, 4, Precision::F32);
            set_f32(&mut bytes, tensor, 1, bad);
            let m = load_error(&bytes);
            assert!(
                m.contains(&format!("`{tensor}`")) && m.contains("non-finite"),
                "{kind} {tensor}: {m}"
            );
        }
    }
}

/// Rewrites the ALS factors of a real file through `edit` (the catalog is kept).
fn als_with(edit: impl Fn(&mut ModelFile)) -> Vec<u8> {
    let d = synthetic(60, 40, 3);
    let mut file = ModelFile::from_bytes(&model_bytes(ModelKind::Als, &d, 4, Precision::F32)).unwrap();
    edit(&mut file);
    file.to_bytes(Precision::F32).unwrap()
}

fn scale(file: &mut ModelFile, name: &str, by: f32) {
    if let Some(Tensor::F32 { data, .. }) = file.tensors.get_mut(name) {
        data.iter_mut().for_each(|v| *v *= by);
    }
}

/// Large but finite factors: the fold-in's YᵀY overflows. The old code loaded the file and
/// answered every basket with 400 "invalid hyperparameter `regularization`".
#[test]
fn als_files_whose_baskets_cannot_be_folded_in_are_refused_at_load() {
    let m = load_error(&als_with(|f| scale(f, "item_factors", 1e20)));
    assert!(m.contains("YᵀY") && m.contains("overflows"), "{m}");

    // Scores user · item overflow f32.
    let m = load_error(&als_with(|f| {
        scale(f, "user_factors", 1e30);
        scale(f, "item_factors", 1e9);
    }));
    assert!(m.contains("overflow f32 scores"), "{m}");

    // Regularization 0 and a factor column that is zero for every item: YᵀY is singular.
    let m = load_error(&als_with(|f| {
        f.params["regularization"] = serde_json::json!(0.0);
        if let Some(Tensor::F32 { data, .. }) = f.tensors.get_mut("item_factors") {
            data.chunks_mut(4).for_each(|y| y[2] = 0.0);
        }
    }));
    assert!(m.contains("not positive definite"), "{m}");

    // An alpha so large that a one-item basket's normal equations overflow.
    let m = load_error(&als_with(|f| f.params["alpha"] = serde_json::json!(3e38)));
    assert!(m.contains("basket"), "{m}");

    // The unmodified file loads and folds in a basket.
    let r = Recommender::from_bytes(&als_with(|_| {})).unwrap();
    let basket = vec!["i1".to_string(), "i2".to_string()];
    let recs = r
        .recommend_items(&basket, 5, &RecommendOptions::default(), &mut Scratch::default())
        .unwrap();
    assert_eq!(recs.items.len(), 5);
}
