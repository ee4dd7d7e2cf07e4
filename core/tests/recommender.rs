//! The serving facade: id lookups, exclusions, candidates, fallbacks and bad input.
use reco_core::als::{AlsModel, AlsParams};
use reco_core::model_file::Precision;
use reco_core::popularity::PopularityModel;
use reco_core::recommender::{attach_catalog, Fallback, RecommendOptions, Recommender, Scratch, MAX_N};
use reco_core::{Interactions, InteractionsBuilder, RecoError};

/// Users u0..u5 buy within two blocks of items (a0..a3, b0..b3); a0 is the most popular.
fn data() -> Interactions {
    let mut b = InteractionsBuilder::new();
    for u in 0..6 {
        let block = if u < 3 { "a" } else { "b" };
        for i in 0..4 {
            if (u + i) % 4 != 0 {
                b.push(&format!("u{u}"), &format!("{block}{i}"), 1.0);
            }
        }
        b.push(&format!("u{u}"), "a0", 1.0);
    }
    b.build().unwrap()
}

fn names(d: &Interactions) -> Vec<String> {
    d.items.ids().iter().map(|id| format!("Product {id}")).collect()
}

fn popularity() -> Recommender {
    let d = data();
    let mut file = PopularityModel::fit(&d.matrix).unwrap().to_model_file();
    attach_catalog(&mut file, &d, &names(&d));
    Recommender::from_bytes(&file.to_bytes(Precision::F32).unwrap()).unwrap()
}

fn als() -> Recommender {
    let d = data();
    let params = AlsParams {
        factors: 4,
        iterations: 10,
        ..AlsParams::default()
    };
    let model = AlsModel::fit(&d.matrix, &params, &mut |_| {}).unwrap();
    let mut file = model.to_model_file();
    attach_catalog(&mut file, &d, &names(&d));
    Recommender::from_bytes(&file.to_bytes(Precision::F32).unwrap()).unwrap()
}

fn ids(r: &Recommender, recs: &reco_core::recommender::Recommendations) -> Vec<String> {
    recs.items
        .iter()
        .map(|i| r.item_id(i.index).to_string())
        .collect()
}

#[test]
fn known_user_never_gets_seen_items_and_names_resolve() {
    let r = als();
    let mut s = Scratch::default();
    // u1 has a0, a1, a2: its best unseen item is a3, from its own block.
    let recs = r
        .recommend_user("u1", 10, &RecommendOptions::default(), &mut s)
        .unwrap();
    let u1 = r.users().index_of("u1").unwrap();
    let seen: Vec<&str> = r.seen_items(u1).iter().map(|&i| r.item_id(i)).collect();
    assert_eq!(recs.fallback, Fallback::None);
    assert_eq!(recs.items.len(), r.n_items() - seen.len());
    for id in ids(&r, &recs) {
        assert!(!seen.contains(&id.as_str()), "{id} was seen");
    }
    assert_eq!(
        r.item_name(recs.items[0].index),
        format!("Product {}", r.item_id(recs.items[0].index))
    );
    // Scores are non-increasing.
    assert!(recs.items.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(ids(&r, &recs)[0], "a3");
}

#[test]
fn unknown_user_gets_popularity_flagged() {
    let r = als();
    let mut s = Scratch::default();
    let recs = r
        .recommend_user("nobody", 3, &RecommendOptions::default(), &mut s)
        .unwrap();
    assert_eq!(recs.fallback, Fallback::Popularity);
    assert_eq!(ids(&r, &recs)[0], "a0");
    // Each fallback item is scored by its popularity (training users who have it).
    assert!(recs
        .items
        .iter()
        .all(|i| i.fallback && i.score > 0.0 && i.score == r.popularity()[i.index as usize]));
    assert_eq!(recs.items.len(), 3);
}

#[test]
fn exclude_and_candidates_are_respected_and_unknown_ids_reported() {
    let r = popularity();
    let mut s = Scratch::default();
    let opts = RecommendOptions {
        exclude: vec!["a1".into(), "zz".into()],
        candidates: Some(vec!["a1".into(), "a2".into(), "b2".into(), "yy".into()]),
        ..Default::default()
    };
    let recs = r
        .recommend_items(&["b1".into(), "nope".into()], 10, &opts, &mut s)
        .unwrap();
    let got = ids(&r, &recs);
    assert!(got.iter().all(|id| id == "a2" || id == "b2"), "{got:?}");
    assert_eq!(got.len(), 2);
    assert_eq!(
        recs.unknown_items,
        vec!["nope".to_string(), "zz".into(), "yy".into()]
    );
}

#[test]
fn basket_fold_in_excludes_basket_and_follows_its_block() {
    let r = als();
    let mut s = Scratch::default();
    let basket: Vec<String> = vec!["b1".into(), "b2".into()];
    let recs = r
        .recommend_items(&basket, 2, &RecommendOptions::default(), &mut s)
        .unwrap();
    let got = ids(&r, &recs);
    assert!(!got.contains(&"b1".to_string()) && !got.contains(&"b2".to_string()));
    assert!(got.iter().any(|id| id.starts_with('b')), "{got:?}");
    let include = RecommendOptions {
        include_seen: true,
        ..Default::default()
    };
    let recs = r.recommend_items(&basket, 20, &include, &mut s).unwrap();
    assert_eq!(recs.items.len(), r.n_items());
    // A basket of only unknown ids falls back to popularity.
    let recs = r
        .recommend_items(&["x".into()], 2, &RecommendOptions::default(), &mut s)
        .unwrap();
    assert_eq!(recs.fallback, Fallback::Popularity);
    assert_eq!(recs.unknown_items, vec!["x".to_string()]);
}

#[test]
fn similar_items_excludes_the_item_and_rejects_unknown_ids() {
    let r = als();
    let mut s = Scratch::default();
    let recs = r.similar_items("b1", 3, &mut s).unwrap();
    assert_eq!(recs.items.len(), 3);
    assert!(!ids(&r, &recs).contains(&"b1".to_string()));
    assert!(matches!(
        r.similar_items("zzz", 3, &mut s),
        Err(RecoError::UnknownItem(_))
    ));
    assert!(matches!(
        popularity().similar_items("a1", 3, &mut s),
        Err(RecoError::Unsupported(_))
    ));
}

#[test]
fn n_out_of_range_is_an_error() {
    let r = popularity();
    let mut s = Scratch::default();
    let o = RecommendOptions::default();
    assert_eq!(
        r.recommend_user("u0", 0, &o, &mut s).unwrap_err(),
        RecoError::InvalidN { n: 0, max: MAX_N }
    );
    assert!(r.recommend_user("u0", 1_000_000_000, &o, &mut s).is_err());
    assert!(r.recommend_items(&[], 0, &o, &mut s).is_err());
    // n larger than the catalog returns every allowed item once.
    let recs = r.recommend_user("u0", MAX_N, &o, &mut s).unwrap();
    let mut got = ids(&r, &recs);
    got.sort();
    got.dedup();
    assert_eq!(got.len(), recs.items.len());
}

#[test]
fn corrupt_bytes_are_errors() {
    assert!(Recommender::from_bytes(b"").is_err());
    assert!(Recommender::from_bytes(&[0u8; 64]).is_err());
}

#[test]
fn user_knn_partial_fallback_is_flagged_per_item() {
    let mut b = InteractionsBuilder::new();
    for u in 0..4 {
        b.push(&format!("u{u}"), "a0", 1.0);
        b.push(&format!("u{u}"), "a1", 1.0);
    }
    // p2's only neighbour is p1, whose one other item is x2.
    b.push("p1", "x1", 1.0);
    b.push("p1", "x2", 1.0);
    b.push("p2", "x1", 1.0);
    let d = b.build().unwrap();
    let model =
        reco_core::knn::UserKnnModel::fit(&d.matrix, reco_core::knn::UserKnnParams { k: 50 }).unwrap();
    let mut file = model.to_model_file();
    attach_catalog(&mut file, &d, &names(&d));
    let r = Recommender::from_bytes(&file.to_bytes(Precision::F32).unwrap()).unwrap();
    let mut s = Scratch::default();
    let recs = r
        .recommend_user("p2", 3, &RecommendOptions::default(), &mut s)
        .unwrap();
    assert_eq!(recs.fallback, Fallback::Partial);
    assert_eq!(ids(&r, &recs), ["x2", "a0", "a1"]);
    let flags: Vec<bool> = recs.items.iter().map(|i| i.fallback).collect();
    assert_eq!(flags, [false, true, true]);
    // The filled items carry their popularity (4 users each), not a model score.
    assert!(recs.items[0].score > 0.0);
    assert_eq!((recs.items[1].score, recs.items[2].score), (4.0, 4.0));
}

#[test]
fn popularity_fill_honours_exclude_and_duplicate_candidates() {
    let r = als();
    let mut s = Scratch::default();
    // Unknown user → the whole list comes from the popularity fill.
    let opts = RecommendOptions {
        exclude: vec!["a0".into()],
        candidates: Some(vec![
            "b3".into(),
            "a0".into(),
            "b3".into(),
            "a2".into(),
            "b3".into(),
        ]),
        ..Default::default()
    };
    let recs = r.recommend_user("nobody", 3, &opts, &mut s).unwrap();
    assert_eq!(recs.fallback, Fallback::Popularity);
    let mut got = ids(&r, &recs);
    got.sort();
    assert_eq!(got, ["a2", "b3"]);
    // A basket's own items are blocked in the fill too.
    let recs = r
        .recommend_items(&["zz".into()], 50, &RecommendOptions::default(), &mut s)
        .unwrap();
    assert_eq!(recs.items.len(), r.n_items());
}
