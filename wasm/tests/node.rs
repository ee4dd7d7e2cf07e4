//! The package's checks on wasm in Node.
#![cfg(target_arch = "wasm32")]
mod common;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
fn uses_simd128() {
    common::uses_simd128();
}

#[wasm_bindgen_test]
fn basket_matches_the_facade() {
    common::basket_matches_the_facade();
}

#[wasm_bindgen_test]
fn users_and_fallback() {
    common::users_and_fallback();
}

#[wasm_bindgen_test]
fn options_and_unknown_ids() {
    common::options_and_unknown_ids();
}

#[wasm_bindgen_test]
fn catalog() {
    common::catalog();
}

#[wasm_bindgen_test]
fn bad_files_are_errors() {
    common::bad_files_are_errors();
}
