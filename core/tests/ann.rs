//! The approximate top-N index through the serving facade: files with and without an index,
//! answers against the exact scan, filters that never cost slots, corrupt indexes.
use reco_core::als::{AlsModel, AlsParams};
use reco_core::ann::{AnnMode, IvfParams};
use reco_core::lightfm::LightFmParams;
use reco_core::model_file::{ModelFile, Precision};
use reco_core::recommender::{
    attach_catalog, attach_index, Fallback, RecommendOptions, Recommendations, Recommender, Scratch,
};
use reco_core::rng::Rng;
use reco_core::{Interactions, InteractionsBuilder, RecoError};

/// Planted low-rank data: users and items with rank-6 latent vectors; each user takes the 15
/// items with the largest `x_u·v_i + Gumbel noise`.
fn planted(users: usize, items: usize) -> Interactions {
    let rank = 6;
    let mut rng = Rng::new(3);
    let mut vec = |n: usize| -> Vec<f32> { (0..n * rank).map(|_| rng.next_normal()).collect() };
    let (x, v) = (vec(users), vec(items));
    let mut rng = Rng::new(4);
    let mut b = InteractionsBuilder::new();
    for u in 0..users {
        let xu = &x[u * rank..(u + 1) * rank];
        let mut scored: Vec<(f32, usize)> = (0..items)
            .map(|i| {
                let s: f32 = xu
                    .iter()
                    .zip(&v[i * rank..(i + 1) * rank])
                    .map(|(a, b)| a * b)
                    .sum();
                let g = -(-(rng.next_f64().max(1e-12)).ln()).ln() as f32;
                (s + g, i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        for &(_, i) in &scored[..15] {
            b.push(&format!("u{u}"), &format!("i{i}"), 1.0);
        }
    }
    b.build().unwrap()
}

fn als_file(d: &Interactions) -> ModelFile {
    let params = AlsParams {
        factors: 16,
        iterations: 6,
        ..AlsParams::default()
    };
    let mut file = AlsModel::fit(&d.matrix, &params, &mut |_| {})
        .unwrap()
        .to_model_file();
    attach_catalog(&mut file, d, &[]);
    file
}

fn version(bytes: &[u8]) -> String {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    meta.metadata().as_ref().unwrap()["reco.format_version"].clone()
}

/// The same answer up to rounding: the index scores with the dot kernel, the exact scan with
/// the mat-vec kernel, whose sums differ in the last bit, so two items of (almost) equal score
/// may trade places. Same items, the scores position by position within rounding, same
/// fallback and unknown ids.
fn same(got: &Recommendations, want: &Recommendations) {
    let sorted = |r: &Recommendations| {
        let mut v = items(r);
        v.sort_unstable();
        v
    };
    assert_eq!(sorted(got), sorted(want));
    assert_eq!(
        (got.fallback, &got.unknown_items),
        (want.fallback, &want.unknown_items)
    );
    for (g, w) in got.items.iter().zip(&want.items) {
        assert!(
            (g.score - w.score).abs() <= 1e-5 * w.score.abs().max(1.0),
            "{g:?} {w:?}"
        );
    }
}

fn items(recs: &Recommendations) -> Vec<u32> {
    recs.items.iter().map(|i| i.index).collect()
}

/// The files committed before the index existed (format version 1) load and answer exactly.
#[test]
fn committed_version_1_files_still_load() {
    let files: [&[u8]; 4] = [
        include_bytes!("../../fuzz/seeds/model_from_bytes/als-f32.safetensors"),
        include_bytes!("../../fuzz/seeds/model_from_bytes/als-f16.safetensors"),
        include_bytes!("../../fuzz/seeds/model_from_bytes/lightfm-f32.safetensors"),
        include_bytes!("../../fuzz/seeds/model_from_bytes/knn-f32.safetensors"),
    ];
    for bytes in files {
        assert_eq!(version(bytes), "1");
        let r = Recommender::from_bytes(bytes).unwrap();
        assert!(r.ann_index().is_none() && !r.approximate());
        let user = r.users().id(0).unwrap().to_string();
        let recs = r
            .recommend_user(&user, 5, &RecommendOptions::default(), &mut Scratch::default())
            .unwrap();
        assert_eq!(recs.items.len(), 5);
    }
}

/// The committed fuzz seeds of format version 2 (`core/examples/fuzz_seeds.rs`): an index,
/// in f32 and with int8 factors, loads and answers.
#[test]
fn committed_version_2_files_load_with_their_index() {
    let files: [&[u8]; 4] = [
        include_bytes!("../../fuzz/seeds/model_from_bytes/als-ann-f32.safetensors"),
        include_bytes!("../../fuzz/seeds/model_from_bytes/als-ann-int8.safetensors"),
        include_bytes!("../../fuzz/seeds/model_from_bytes/lightfm-ann-f32.safetensors"),
        include_bytes!("../../fuzz/seeds/model_from_bytes/lightfm-ann-int8.safetensors"),
    ];
    for bytes in files {
        assert_eq!(version(bytes), "2");
        let r = Recommender::from_bytes(bytes).unwrap();
        assert!(r.approximate() && r.ann_index().is_some());
        let user = r.users().id(0).unwrap().to_string();
        let recs = r
            .recommend_user(&user, 5, &RecommendOptions::default(), &mut Scratch::default())
            .unwrap();
        assert_eq!(recs.items.len(), 5);
        // Seeded random byte changes: an error or a model, never a panic.
        let mut rng = Rng::new(11);
        for _ in 0..1500 {
            let mut b = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() as u32) as usize;
                b[at] = rng.next_u64() as u8;
            }
            if let Ok(r) = Recommender::from_bytes(&b) {
                let _ = r.recommend_user(&user, 5, &RecommendOptions::default(), &mut Scratch::default());
            }
        }
    }
}

#[test]
fn auto_mode_leaves_small_catalogs_exact_and_version_1() {
    let d = planted(60, 300);
    let mut file = als_file(&d);
    assert!(!attach_index(&mut file, AnnMode::Auto, &IvfParams::default()).unwrap());
    let bytes = file.to_bytes(Precision::F32).unwrap();
    assert_eq!(version(&bytes), "1");
    assert!(Recommender::from_bytes(&bytes).unwrap().ann_index().is_none());
    // Forced on: version 2; then off again: the index is removed, version 1.
    assert!(attach_index(&mut file, AnnMode::On, &IvfParams::default()).unwrap());
    assert_eq!(version(&file.to_bytes(Precision::F32).unwrap()), "2");
    assert!(!attach_index(&mut file, AnnMode::Off, &IvfParams::default()).unwrap());
    assert_eq!(version(&file.to_bytes(Precision::F32).unwrap()), "1");
    // Models without item factors never get an index.
    let mut pop = reco_core::popularity::PopularityModel::fit(&d.matrix)
        .unwrap()
        .to_model_file();
    attach_catalog(&mut pop, &d, &[]);
    assert!(!attach_index(&mut pop, AnnMode::On, &IvfParams::default()).unwrap());
}

#[test]
fn als_index_round_trips_recalls_and_full_probe_is_exact() {
    let d = planted(400, 3000);
    let mut file = als_file(&d);
    assert!(attach_index(&mut file, AnnMode::On, &IvfParams::default()).unwrap());
    let bytes = file.to_bytes(Precision::F32).unwrap();
    assert_eq!(version(&bytes), "2");
    let mut r = Recommender::from_bytes(&bytes).unwrap();
    let index = r.ann_index().unwrap().clone();
    assert_eq!(index.n_items(), r.n_items());
    assert!(r.approximate());
    // The file's index is the one built (f16 files too: the centroids are rounded only).
    let f16 = Recommender::from_bytes(&file.to_bytes(Precision::F16).unwrap()).unwrap();
    assert_eq!(f16.ann_index().unwrap().lists(), index.lists());
    let mut exact = Recommender::from_bytes(&bytes).unwrap();
    exact.set_approximate(false, None);
    assert!(!exact.approximate());
    let mut s = Scratch::default();
    let opts = RecommendOptions::default();
    let (mut hit, mut total) = (0, 0);
    for u in 0..400 {
        let user = format!("u{u}");
        let want = exact.recommend_user(&user, 10, &opts, &mut s).unwrap();
        let got = r.recommend_user(&user, 10, &opts, &mut s).unwrap();
        assert_eq!(got.items.len(), 10);
        assert_eq!(got.fallback, Fallback::None);
        hit += items(&want).iter().filter(|i| items(&got).contains(i)).count();
        total += 10;
    }
    let recall = hit as f64 / total as f64;
    assert!(recall >= 0.9, "recall@10 {recall}");
    // Every list probed: the exact answer, scores included, for users and baskets.
    r.set_approximate(true, Some(index.lists()));
    for u in (0..400).step_by(7) {
        let user = format!("u{u}");
        let want = exact.recommend_user(&user, 10, &opts, &mut s).unwrap();
        same(&r.recommend_user(&user, 10, &opts, &mut s).unwrap(), &want);
        let basket: Vec<String> = (0..3).map(|k| format!("i{}", (u * 7 + k * 13) % 3000)).collect();
        let want = exact.recommend_items(&basket, 10, &opts, &mut s).unwrap();
        same(&r.recommend_items(&basket, 10, &opts, &mut s).unwrap(), &want);
    }
}

#[test]
fn filters_never_leave_fewer_than_n_items() {
    let d = planted(200, 2000);
    let mut file = als_file(&d);
    // One list probed: every filter below removes more than that list can give.
    let params = IvfParams {
        probe: 1,
        ..Default::default()
    };
    assert!(attach_index(&mut file, AnnMode::On, &params).unwrap());
    let r = Recommender::from_model_file(file.clone()).unwrap();
    let mut exact = Recommender::from_model_file(file).unwrap();
    exact.set_approximate(false, None);
    let mut s = Scratch::default();
    for u in (0..200).step_by(9) {
        let user = format!("u{u}");
        // Exclude the exact top 500 items.
        let top = exact
            .recommend_user(&user, 500, &RecommendOptions::default(), &mut s)
            .unwrap();
        let opts = RecommendOptions {
            exclude: top
                .items
                .iter()
                .map(|i| exact.item_id(i.index).to_string())
                .collect(),
            ..Default::default()
        };
        let got = r.recommend_user(&user, 20, &opts, &mut s).unwrap();
        assert_eq!(got.items.len(), 20);
        assert_eq!(got.fallback, Fallback::None);
        assert!(got
            .items
            .iter()
            .all(|i| !opts.exclude.contains(&r.item_id(i.index).to_string())));
        // A candidate list is answered exactly.
        let cands: Vec<String> = (0..2000).step_by(3 + u % 5).map(|i| format!("i{i}")).collect();
        let opts = RecommendOptions {
            candidates: Some(cands),
            ..Default::default()
        };
        let want = exact.recommend_user(&user, 30, &opts, &mut s).unwrap();
        same(&r.recommend_user(&user, 30, &opts, &mut s).unwrap(), &want);
        // Only 4 eligible items: exactly those 4, then the fallback has nothing to add.
        let opts = RecommendOptions {
            candidates: Some(vec!["i1".into(), "i2".into(), "i3".into(), "i4".into()]),
            include_seen: true,
            ..Default::default()
        };
        let got = r.recommend_user(&user, 10, &opts, &mut s).unwrap();
        same(&got, &exact.recommend_user(&user, 10, &opts, &mut s).unwrap());
        assert_eq!(got.items.len(), 4);
    }
}

#[test]
fn lightfm_index_with_biases_answers_like_exact_at_full_probe() {
    let d = planted(200, 1500);
    let params = LightFmParams {
        factors: 8,
        epochs: 3,
        ..LightFmParams::default()
    };
    let model = reco_core::lightfm::fit(&d.matrix, None, None, &params, &mut |_| {}).unwrap();
    let mut file = model.to_model_file();
    attach_catalog(&mut file, &d, &[]);
    let lists = 78;
    let ivf = IvfParams {
        lists,
        probe: lists,
        ..Default::default()
    };
    assert!(attach_index(&mut file, AnnMode::On, &ivf).unwrap());
    let r = Recommender::from_model_file(file.clone()).unwrap();
    assert_eq!(r.ann_index().unwrap().lists(), lists);
    let mut exact = Recommender::from_model_file(file).unwrap();
    exact.set_approximate(false, None);
    let mut s = Scratch::default();
    let opts = RecommendOptions::default();
    for u in (0..200).step_by(11) {
        let user = format!("u{u}");
        let want = exact.recommend_user(&user, 10, &opts, &mut s).unwrap();
        let got = r.recommend_user(&user, 10, &opts, &mut s).unwrap();
        same(&got, &want);
    }
}

#[test]
fn corrupt_indexes_are_named_never_a_panic() {
    let d = planted(100, 800);
    let mut file = als_file(&d);
    assert!(attach_index(&mut file, AnnMode::On, &IvfParams::default()).unwrap());
    let bytes = file.to_bytes(Precision::F32).unwrap();
    // An index in a model kind without factors.
    let mut pop = reco_core::popularity::PopularityModel::fit(&d.matrix)
        .unwrap()
        .to_model_file();
    attach_catalog(&mut pop, &d, &[]);
    for (name, t) in file.tensors.iter().filter(|(k, _)| k.starts_with("ann.")) {
        pop.tensors.insert(name.clone(), t.clone());
    }
    assert!(matches!(
        Recommender::from_model_file(pop),
        Err(RecoError::CorruptModel(m)) if m.contains("ANN index in a popularity model")
    ));
    // Every byte of `ann.items` and `ann.offsets` changed: a clear error or a valid index.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut errors = 0;
    for name in ["ann.items", "ann.offsets", "ann.probe"] {
        let (start, end) = {
            let (_, info) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let t = info.info(name).unwrap();
            (header + t.data_offsets.0, header + t.data_offsets.1)
        };
        let _ = &st;
        for at in (start..end).step_by(((end - start) / 200).max(1)) {
            let mut b = bytes.clone();
            b[at] ^= 0x5a;
            match Recommender::from_bytes(&b) {
                Ok(_) => {}
                Err(RecoError::CorruptModel(m)) => {
                    assert!(m.contains("ANN index"), "{m}");
                    errors += 1;
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
    assert!(errors > 100);
}
