//! The package's checks on wasm in headless Chromium (chromedriver).
#![cfg(target_arch = "wasm32")]
#[macro_use]
mod common;
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
package_tests!(
    uses_simd128,
    int8_kernel_and_index_search_are_exact,
    basket_matches_the_facade,
    user_scores_are_factor_dot_products,
    users_and_fallback,
    options_and_unknown_ids,
    catalog,
    bad_files_are_errors,
);
