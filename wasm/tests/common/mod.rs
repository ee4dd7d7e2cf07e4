//! Checks shared by the Node and the headless-Chromium test binaries: they run the package's
//! Rust API compiled to wasm (simd128) against a small ALS model built here with reco-core.
use js_sys::{Array, Float32Array, Reflect, Uint32Array};
use reco_core::als::{AlsModel, AlsParams};
use reco_core::model_file::{ModelFile, Precision};
use reco_core::recommender::{self as core_rec, attach_catalog, RecommendOptions, Scratch};
use reco_core::InteractionsBuilder;
use reco_wasm::{simd_backend, Recommender};
use wasm_bindgen::{JsCast, JsError, JsValue};

/// 60 users in 3 taste groups over 45 items, as a model file with product names.
pub fn model_bytes() -> Vec<u8> {
    let mut b = InteractionsBuilder::new();
    for u in 0..60u32 {
        let g = u % 3;
        for k in 0..6 {
            b.push(
                &format!("c{u}"),
                &format!("{}", 100 + g * 15 + (u * 7 + k * 4) % 15),
                1.0,
            );
        }
    }
    let train = b.build().unwrap();
    let params = AlsParams {
        factors: 8,
        iterations: 6,
        ..AlsParams::default()
    };
    let model = AlsModel::fit(&train.matrix, &params, &mut |_| {}).unwrap();
    let mut file = model.to_model_file();
    let names: Vec<String> = train.items.ids().iter().map(|i| format!("Product {i}")).collect();
    attach_catalog(&mut file, &train, &names);
    file.to_bytes(Precision::F32).unwrap()
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

fn message(e: JsError) -> String {
    let v: JsValue = e.into();
    assert!(v.is_instance_of::<js_sys::Error>(), "not an Error");
    v.unchecked_into::<js_sys::Error>().message().into()
}

fn options(json: &str) -> Option<reco_wasm::JsRecommendOptions> {
    Some(js_sys::JSON::parse(json).unwrap().unchecked_into())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The kernels compiled into the package are the simd128 ones.
pub fn uses_simd128() {
    assert_eq!(simd_backend(), "simd128");
}

/// The simd128 int8 kernel the index scans with gives the scalar reference's integers, and a
/// search probing every list (int8 scan + proven re-ranking) is the exact answer.
pub fn int8_kernel_and_index_search_are_exact() {
    use reco_core::ann::{AnnScratch, ItemFactors, IvfIndex, IvfParams};
    use reco_core::kernels;
    use reco_core::topn::{top_n, Filter};
    let mut x = 12345u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for d in [1usize, 7, 16, 17, 33, 64, 70] {
        let codes: Vec<i8> = (0..4 * d).map(|_| ((next() % 255) as i32 - 127) as i8).collect();
        let q: Vec<i16> = (0..d)
            .map(|_| (next() % 65535) as i32 - 32767)
            .map(|v| v as i16)
            .collect();
        let (mut got, mut want) = ([0i32; 4], [0i32; 4]);
        kernels::dot_i8_rows(&codes, &q, &mut got);
        kernels::scalar::dot_i8_rows(&codes, &q, &mut want);
        assert_eq!(got, want, "d {d}");
    }
    let (n, dim) = (3000, 16);
    let rows: Vec<f32> = (0..n * dim)
        .map(|k| {
            let v = (next() % 2001) as f32 / 1000.0 - 1.0;
            if k % (37 * dim) == 0 {
                30.0
            } else {
                v
            }
        })
        .collect();
    let f = ItemFactors {
        rows: &rows,
        dim,
        bias: None,
    };
    let mut index = IvfIndex::build(f, &[], &IvfParams::default()).unwrap();
    index.set_probe(index.lists());
    let (mut s, mut out) = (AnnScratch::default(), Vec::new());
    for k in 0..20 {
        let q = &rows[k * 7 * dim..(k * 7 + 1) * dim];
        index.search(f, q, 10, &Filter::default(), &mut s, &mut out);
        let scores: Vec<f32> = (0..n).map(|i| f.score(q, i)).collect();
        assert_eq!(out, top_n(&scores, 10, &Filter::default()), "query {k}");
    }
}

/// Basket fold-in gives the facade's items, in order, as `{product, itemId, score}` objects,
/// and the typed-array path gives the same.
pub fn basket_matches_the_facade() {
    let bytes = model_bytes();
    let mut rec = Recommender::from_bytes(&bytes).map_err(message).unwrap();
    let native = core_rec::Recommender::from_bytes(&bytes).unwrap();
    let basket = strings(&["100", "103", "107"]);
    let want = native
        .recommend_items(&basket, 5, &RecommendOptions::default(), &mut Scratch::default())
        .unwrap();
    let got: JsValue = rec
        .recommend_for_items(basket.clone(), 5.0, None)
        .map_err(message)
        .unwrap()
        .into();
    let items: Array = get(&got, "items").unchecked_into();
    assert_eq!(items.length(), 5);
    assert_eq!(get(&got, "fallback"), "none");
    for (i, w) in want.items.iter().enumerate() {
        let it = items.get(i as u32);
        assert_eq!(get(&it, "itemId").as_string().unwrap(), native.item_id(w.index));
        assert_eq!(
            get(&it, "product").as_string().unwrap(),
            format!("Product {}", native.item_id(w.index))
        );
        assert_eq!(get(&it, "score").as_f64().unwrap() as f32, w.score);
        assert!(!basket.contains(&native.item_id(w.index).to_string()));
    }
    let typed: JsValue = rec
        .recommend_for_items_typed(basket, 5.0, None)
        .map_err(message)
        .unwrap()
        .into();
    let idx = get(&typed, "indices").unchecked_into::<Uint32Array>().to_vec();
    let scores = get(&typed, "scores").unchecked_into::<Float32Array>().to_vec();
    assert_eq!(idx, want.items.iter().map(|r| r.index).collect::<Vec<_>>());
    assert_eq!(scores, want.items.iter().map(|r| r.score).collect::<Vec<_>>());
}

/// Every score of a known user is the dot product of its factors with the item's, read straight
/// from the file (45 items × 8 factors: 5 full 8-row panels of the wasm matvec, then 5 rows).
pub fn user_scores_are_factor_dot_products() {
    let bytes = model_bytes();
    let file = ModelFile::from_bytes(&bytes).unwrap();
    let items = file.f32("item_factors", &[None, Some(8)]).unwrap();
    let users = file.f32("user_factors", &[None, Some(8)]).unwrap();
    let mut rec = Recommender::from_bytes(&bytes).map_err(message).unwrap();
    let n_items = rec.item_count();
    assert_eq!(n_items, 45);
    for (row, user) in rec.user_ids().iter().enumerate().step_by(7) {
        let got: JsValue = rec
            .recommend_typed(user, n_items as f64, options(r#"{"includeSeen": true}"#))
            .map_err(message)
            .unwrap()
            .into();
        let idx = get(&got, "indices").unchecked_into::<Uint32Array>().to_vec();
        let scores = get(&got, "scores").unchecked_into::<Float32Array>().to_vec();
        assert_eq!(idx.len(), n_items);
        let x = &users[row * 8..row * 8 + 8];
        for (&i, &score) in idx.iter().zip(&scores) {
            let y = &items[i as usize * 8..i as usize * 8 + 8];
            let want: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
            assert!(
                (score as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "user {user} item {i}: {score} vs {want}"
            );
        }
    }
}

/// Known users get personal lists without their own items; unknown ones get popularity.
pub fn users_and_fallback() {
    let mut rec = Recommender::from_bytes(&model_bytes()).map_err(message).unwrap();
    assert!(rec.has_user("c4"));
    let seen = rec.user_items("c4");
    assert!(!seen.is_empty());
    let got: JsValue = rec.recommend("c4", 10.0, None).map_err(message).unwrap().into();
    assert_eq!(get(&got, "fallback"), "none");
    let items: Array = get(&got, "items").unchecked_into();
    for it in items.iter() {
        assert!(!seen.contains(&get(&it, "itemId").as_string().unwrap()));
    }
    let unknown: JsValue = rec
        .recommend("nobody", 3.0, None)
        .map_err(message)
        .unwrap()
        .into();
    assert_eq!(get(&unknown, "fallback"), "popularity");
}

/// Unknown ids are reported; exclude and candidates restrict the list.
pub fn options_and_unknown_ids() {
    let mut rec = Recommender::from_bytes(&model_bytes()).map_err(message).unwrap();
    let got: JsValue = rec
        .recommend_for_items(
            strings(&["100", "nope"]),
            3.0,
            options(r#"{"exclude": ["101", "gone"]}"#),
        )
        .map_err(message)
        .unwrap()
        .into();
    let unknown: Vec<String> = get(&got, "unknownItems")
        .unchecked_into::<Array>()
        .iter()
        .filter_map(|v| v.as_string())
        .collect();
    assert_eq!(unknown, ["nope", "gone"]);
    let ids = |v: &JsValue| -> Vec<String> {
        get(v, "items")
            .unchecked_into::<Array>()
            .iter()
            .map(|it| get(&it, "itemId").as_string().unwrap())
            .collect()
    };
    assert!(!ids(&got).contains(&"101".to_string()));
    let only: JsValue = rec
        .recommend_for_items(
            strings(&["100"]),
            10.0,
            options(r#"{"candidates": ["130", "131"]}"#),
        )
        .map_err(message)
        .unwrap()
        .into();
    let mut got_ids = ids(&only);
    got_ids.sort();
    assert_eq!(got_ids, ["130", "131"]);
    let typo = rec.recommend_for_items(strings(&["100"]), 3.0, options(r#"{"exlude": []}"#));
    assert!(message(typo.err().unwrap()).contains("exlude"));
    assert!(message(
        rec.recommend_for_items(strings(&["100"]), 0.0, None)
            .err()
            .unwrap()
    )
    .contains("invalid n"));
    assert!(message(rec.similar_items("missing", 3.0).err().unwrap()).contains("unknown item missing"));
    let similar: JsValue = rec.similar_items("100", 3.0).map_err(message).unwrap().into();
    assert_eq!(get(&similar, "items").unchecked_into::<Array>().length(), 3);
}

/// Catalog access.
pub fn catalog() {
    let rec = Recommender::from_bytes(&model_bytes()).map_err(message).unwrap();
    assert_eq!(rec.kind(), "als");
    assert_eq!(rec.item_count(), 45);
    assert_eq!(rec.user_count(), 60);
    let i = rec.item_index("100").unwrap();
    assert_eq!(rec.item_id(i).as_deref(), Some("100"));
    assert_eq!(rec.item_name(i), "Product 100");
    assert_eq!(rec.item_ids().len(), 45);
    assert_eq!(rec.item_names()[i as usize], "Product 100");
    assert_eq!(rec.user_ids().len(), 60);
    assert_eq!(rec.popularity().length(), 45);
    assert_eq!(rec.item_index("nope"), None);
}

/// Corrupt, truncated and newer-version files throw an `Error` saying which.
pub fn bad_files_are_errors() {
    let bytes = model_bytes();
    let err = |b: &[u8]| message(Recommender::from_bytes(b).err().expect("should fail"));
    assert!(
        err(&bytes[..bytes.len() / 2]).contains("truncated"),
        "{}",
        err(&bytes[..bytes.len() / 2])
    );
    assert!(err(&bytes[..3]).contains("truncated"));
    assert!(err(b"0123456789abcdef").contains("corrupt model file"));
    let key = b"\"reco.format_version\":\"1\"";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    let mut future = bytes.clone();
    future[at + key.len() - 2] = b'7';
    assert!(err(&future).contains("format version 7"), "{}", err(&future));
}

/// Declares one `#[wasm_bindgen_test]` per shared check, so the Node and the browser binaries
/// run the same list.
macro_rules! package_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[wasm_bindgen_test::wasm_bindgen_test]
            fn $check() {
                common::$check();
            }
        )*
    };
}
