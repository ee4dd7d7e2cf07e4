//! Warm queries through the facade do not allocate, apart from the list they return: the
//! scores, the selection, the basket and the models' solver buffers live in a reused `Scratch`.
//! A counting global allocator (per thread, so other test threads do not interfere) checks it.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use reco_core::als::{AlsModel, AlsParams};
use reco_core::knn::{ItemKnnModel, ItemKnnParams, UserKnnModel, UserKnnParams};
use reco_core::model_file::{ModelFile, Precision};
use reco_core::recommender::{attach_catalog, RecommendOptions, Recommender, Scratch};
use reco_core::{Interactions, InteractionsBuilder};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// 40 users over 30 items in two taste blocks.
fn data() -> Interactions {
    let mut b = InteractionsBuilder::new();
    for u in 0..40u32 {
        let block = (u % 2) * 15;
        for k in 0..5 {
            b.push(
                &format!("u{u}"),
                &format!("i{}", block + (u * 3 + k * 4) % 15),
                1.0,
            );
        }
    }
    b.build().unwrap()
}

fn recommender(data: &Interactions, mut file: ModelFile) -> Recommender {
    let names: Vec<String> = data
        .items
        .ids()
        .iter()
        .map(|id| format!("Product {id}"))
        .collect();
    attach_catalog(&mut file, data, &names);
    Recommender::from_bytes(&file.to_bytes(Precision::F32).unwrap()).unwrap()
}

#[test]
fn warm_queries_allocate_only_the_returned_list() {
    let d = data();
    let params = AlsParams {
        factors: 8,
        ..AlsParams::default()
    };
    let models = [
        (
            "als",
            AlsModel::fit(&d.matrix, &params, &mut |_| {})
                .unwrap()
                .to_model_file(),
        ),
        (
            "knn",
            UserKnnModel::fit(&d.matrix, UserKnnParams { k: 10 })
                .unwrap()
                .to_model_file(),
        ),
        (
            "item-knn",
            ItemKnnModel::fit(
                &d.matrix,
                ItemKnnParams {
                    k: 10,
                    ..Default::default()
                },
            )
            .unwrap()
            .to_model_file(),
        ),
    ];
    let basket: Vec<String> = ["i1", "i4", "i7"].map(String::from).to_vec();
    let opts = RecommendOptions::default();
    for (kind, file) in models {
        let rec = recommender(&d, file);
        let mut s = Scratch::default();
        let queries = |s: &mut Scratch| {
            let by_basket = rec.recommend_items(&basket, 5, &opts, s).unwrap();
            let by_user = rec.recommend_user("u3", 5, &opts, s).unwrap();
            let similar = rec.similar_items("i2", 5, s).unwrap();
            assert_eq!(
                (by_basket.items.len(), by_user.items.len(), similar.items.len()),
                (5, 5, 5)
            );
        };
        queries(&mut s); // warm-up: the buffers grow to the model's size
        let n = allocations_in(|| queries(&mut s));
        assert_eq!(
            n, 3,
            "{kind}: 3 warm queries made {n} allocations (want one list each)"
        );
    }
}
