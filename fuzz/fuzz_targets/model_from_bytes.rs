//! `Recommender::from_bytes` on arbitrary bytes (seeds: real model files of every kind, f32
//! and f16), then, for a file that loads, the queries a server answers: a known user, an
//! unknown one, a basket, similar items, with exclusions and candidates. Any panic is a crash.
//! The wasm package's `fromBytes` and the edge worker call this same function.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reco_core::recommender::{RecommendOptions, Recommender, Scratch};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Recommender::from_bytes(data) else {
        return;
    };
    let mut s = Scratch::default();
    let items = r.items().ids();
    let users = r.users().ids();
    let pick = |ids: &[String], k: usize| ids.get(k % ids.len().max(1)).cloned().unwrap_or_default();
    let plain = RecommendOptions::default();
    let filtered = RecommendOptions {
        include_seen: true,
        exclude: vec![pick(items, 1), "no-such-item".into()],
        candidates: Some(vec![pick(items, 0), pick(items, 2), pick(items, 2), "?".into()]),
    };
    for opts in [&plain, &filtered] {
        let _ = r.recommend_user(&pick(users, 0), 10, opts, &mut s);
        let _ = r.recommend_user(
            &pick(users, data.len()),
            r.n_items().clamp(1, 10_000),
            opts,
            &mut s,
        );
        let _ = r.recommend_user("unknown-user", 5, opts, &mut s);
        let basket = vec![pick(items, 0), pick(items, 3), pick(items, 0), "unknown".into()];
        let _ = r.recommend_items(&basket, 10, opts, &mut s);
        let _ = r.recommend_items(&[], 3, opts, &mut s);
    }
    let _ = r.similar_items(&pick(items, 0), 10, &mut s);
    let _ = r.similar_items(&pick(items, data.len()), 1, &mut s);
});
