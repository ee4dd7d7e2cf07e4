//! Dense f32 kernels used by the hot loops: dot products, axpy, scaling, matrix–vector
//! products and the sparse "project and accumulate" step of ALS.
//!
//! Every kernel has a portable [`scalar`] version and SIMD versions chosen per target:
//!
//! * x86_64: AVX2 + FMA. With `std` the CPU is probed once at run time
//!   (`is_x86_feature_detected!`, cached in an atomic), so one binary runs everywhere and is fast
//!   on modern CPUs. Without `std` the AVX2 path is used only when the crate is compiled with
//!   `target_feature = "avx2"` and `"fma"` enabled; otherwise the scalar path.
//! * wasm32 with `simd128` enabled at compile time: explicit `f32x4` intrinsics.
//! * Everything else: the scalar path.
//!
//! SIMD and scalar results agree up to floating-point reassociation (the lanes sum in a
//! different order), i.e. within a few ulps of the magnitude of the summed terms.
//!
//! Slices may have any length and alignment. Matrices are dense, row-major `f32` slices.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd128 as portable;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use scalar as portable;

/// True when the AVX2 + FMA kernels may run: known at compile time.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
#[inline(always)]
fn avx2_fma_available() -> bool {
    true
}

/// True when the AVX2 + FMA kernels may run: probed once, then cached.
#[cfg(all(
    target_arch = "x86_64",
    feature = "std",
    not(all(target_feature = "avx2", target_feature = "fma"))
))]
#[inline]
fn avx2_fma_available() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    const UNKNOWN: u8 = 0;
    const ABSENT: u8 = 1;
    const PRESENT: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Ordering::Relaxed) {
        PRESENT => true,
        ABSENT => false,
        _ => {
            let found = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            STATE.store(if found { PRESENT } else { ABSENT }, Ordering::Relaxed);
            found
        }
    }
}

/// Calls the AVX2 version of a kernel when the CPU has it, else the portable one.
macro_rules! dispatch {
    ($kernel:ident($($arg:expr),*)) => {{
        #[cfg(all(
            target_arch = "x86_64",
            any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
        ))]
        {
            if avx2_fma_available() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                return unsafe { avx2::$kernel($($arg),*) };
            }
        }
        portable::$kernel($($arg),*)
    }};
}

/// The kernel family in use on this machine: `"avx2+fma"`, `"simd128"` or `"scalar"`.
pub fn simd_backend() -> &'static str {
    #[cfg(all(
        target_arch = "x86_64",
        any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
    ))]
    {
        if avx2_fma_available() {
            return "avx2+fma";
        }
    }
    if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "simd128"
    } else {
        "scalar"
    }
}

/// `Σ a[k]·b[k]` over the common length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dispatch!(dot(a, b))
}

/// `Σ x[k]²`.
#[inline]
pub fn squared_norm(x: &[f32]) -> f32 {
    dispatch!(dot(x, x))
}

/// `y += alpha·x` over the common length.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    dispatch!(axpy(alpha, x, y))
}

/// `out[r] = Σ_k codes[r·d + k]·q[k]` with `d = q.len()`: integer dot products of int8 rows
/// (e.g. quantized item factors) with an int16 query, for `out.len()` rows. Exact (wrapping
/// i32 sums; no overflow while `127·32767·d < 2³¹`), so every backend gives the same values.
/// Panics if `codes` holds fewer than `out.len()·d` values.
#[inline]
pub fn dot_i8_rows(codes: &[i8], q: &[i16], out: &mut [i32]) {
    assert!(codes.len() >= out.len() * q.len(), "dot_i8_rows: codes too short");
    if q.is_empty() {
        out.fill(0);
        return;
    }
    dispatch!(dot_i8_rows(codes, q, out))
}

/// `x *= alpha`.
#[inline]
pub fn scale(alpha: f32, x: &mut [f32]) {
    dispatch!(scale(alpha, x))
}

/// `out[i] = a[i, ..] · x` for a row-major `out.len() × x.len()` matrix `a` (e.g. scoring
/// every item: rows are item factors, `x` a user vector). Panics if `a` is too short.
#[inline]
pub fn matvec(a: &[f32], x: &[f32], out: &mut [f32]) {
    assert!(a.len() >= out.len() * x.len(), "matvec: matrix too small");
    dispatch!(matvec(a, x, out))
}

/// A cache for many [`matvec`] calls against one matrix (item factors at serving time), in the
/// layout this target's kernel reads fastest.
///
/// On wasm32 with simd128 it holds a copy of the rows in panels of 8: for every 4-column chunk,
/// the 8 rows' chunks side by side, so the kernel loads at constant offsets from one pointer.
/// V8 compiles the row-major kernel's per-row address arithmetic into extra instructions; the
/// panels make 3,659 × 64 scoring ~25% faster in Chromium (22 → 16 µs), at the cost of a
/// second copy of the matrix. Elsewhere it is empty and [`MatvecLayout::matvec`] is [`matvec`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatvecLayout {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    panels: alloc::vec::Vec<f32>,
    /// Columns of the matrix the panels were built from.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    cols: usize,
}

impl MatvecLayout {
    /// The cache for the row-major matrix `a` with `cols` columns.
    pub fn new(a: &[f32], cols: usize) -> MatvecLayout {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            MatvecLayout {
                panels: simd128::pack_panels(a, cols),
                cols,
            }
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        {
            let _ = (a, cols);
            MatvecLayout {}
        }
    }

    /// [`matvec`]`(a, x, out)`, where `a` is the matrix this cache was built from.
    #[inline]
    pub fn matvec(&self, a: &[f32], x: &[f32], out: &mut [f32]) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            assert!(a.len() >= out.len() * x.len(), "matvec: matrix too small");
            if x.len() == self.cols {
                simd128::matvec_panels(&self.panels, a, x, out)
            } else {
                matvec(a, x, out)
            }
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        matvec(a, x, out)
    }
}

/// `y = A·x` for a symmetric `n × n` matrix `A` (row-major, `n = x.len() = y.len()`), such as
/// a Gram matrix YᵀY. Panics if `a` holds fewer than `n²` values or `y.len() != n`.
#[inline]
pub fn symmetric_matvec(a: &[f32], x: &[f32], y: &mut [f32]) {
    assert!(
        a.len() >= x.len() * x.len() && y.len() == x.len(),
        "symmetric_matvec: bad sizes"
    );
    dispatch!(symmetric_matvec(a, x, y))
}

/// For each `k`, with `row = rows[indices[k]]` (rows of length `dim` in a row-major matrix):
/// `out += coeff(k, row · x) · row`.
///
/// This is the sparse part of the ALS normal equations, `Σ_i c_i (y_i·x) y_i`, with one load of
/// each `y_i` for both the dot product and the update. Panics if an index is out of range.
#[inline]
pub fn accumulate_projections<F: FnMut(usize, f32) -> f32>(
    rows: &[f32],
    dim: usize,
    indices: &[u32],
    x: &[f32],
    out: &mut [f32],
    coeff: F,
) {
    assert!(
        x.len() == dim && out.len() == dim,
        "accumulate_projections: bad sizes"
    );
    dispatch!(accumulate_projections(rows, dim, indices, x, out, coeff))
}

/// `A += alpha·x·xᵀ` on the lower triangle (including the diagonal) of the row-major
/// `n × n` matrix `a`, `n = x.len()`; the strict upper triangle is left untouched.
#[inline]
pub fn add_outer_product_lower(alpha: f32, x: &[f32], a: &mut [f32]) {
    assert!(
        a.len() >= x.len() * x.len(),
        "add_outer_product_lower: matrix too small"
    );
    dispatch!(add_outer_product_lower(alpha, x, a))
}

/// `A += Σ_r r·rᵀ` over the rows `r` of the row-major matrix `rows` (`dim` wide): the Gram
/// matrix `RᵀR` of a block of factors. Only the lower triangle (including the diagonal) of
/// the `dim × dim` `a` is defined afterwards; entries above it may or may not be updated.
#[inline]
pub fn add_gram_lower(rows: &[f32], dim: usize, a: &mut [f32]) {
    assert!(
        a.len() >= dim * dim && rows.len().is_multiple_of(dim.max(1)),
        "add_gram_lower: bad sizes"
    );
    dispatch!(add_gram_lower(rows, dim, a))
}

/// One Adagrad step of a parameter row with gradient `g·dir`: for every `c`,
/// `gc = g·dir[c]; param[c] −= lr / sqrt(accum[c]) · gc; accum[c] += gc²` over the common
/// length. No fused multiply-add, so every backend gives the same bits as [`scalar`].
#[inline]
pub fn adagrad_step(lr: f32, g: f32, dir: &[f32], param: &mut [f32], accum: &mut [f32]) {
    dispatch!(adagrad_step(lr, g, dir, param, accum))
}

pub(crate) mod atomic_rows;

/// Portable reference kernels: the fallback on targets without SIMD, and the reference the
/// SIMD versions are tested against. Same contracts as the dispatching functions above.
pub mod scalar;

/// AVX2 + FMA kernels (8 lanes, fused multiply-add).
///
/// # Safety
/// Every function requires a CPU with AVX2 and FMA; slice bounds are checked as in [`scalar`].
#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
))]
mod avx2;

/// wasm `simd128` kernels (4 lanes; wasm has no fused multiply-add in simd128).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

#[cfg(test)]
mod tests;
