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
pub mod scalar {
    /// `Σ a[k]·b[k]` over the common length, in 8 interleaved partial sums.
    #[inline]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let mut a_chunks = a.chunks_exact(8);
        let mut b_chunks = b.chunks_exact(8);
        for (ca, cb) in (&mut a_chunks).zip(&mut b_chunks) {
            for l in 0..8 {
                acc[l] += ca[l] * cb[l];
            }
        }
        let tail: f32 = a_chunks
            .remainder()
            .iter()
            .zip(b_chunks.remainder())
            .map(|(p, q)| p * q)
            .sum();
        acc.iter().sum::<f32>() + tail
    }

    /// `y += alpha·x` over the common length.
    #[inline]
    pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        for (yk, &xk) in y.iter_mut().zip(x) {
            *yk += alpha * xk;
        }
    }

    /// `x *= alpha`.
    #[inline]
    pub fn scale(alpha: f32, x: &mut [f32]) {
        for xk in x {
            *xk *= alpha;
        }
    }

    /// `out[i] = a[i, ..] · x`, `a` row-major `out.len() × x.len()`.
    pub fn matvec(a: &[f32], x: &[f32], out: &mut [f32]) {
        let n = x.len();
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot(&a[i * n..(i + 1) * n], x);
        }
    }

    /// `y = A·x` for a symmetric `n × n` `A` (row `i` of `A` is column `i`).
    pub fn symmetric_matvec(a: &[f32], x: &[f32], y: &mut [f32]) {
        matvec(a, x, y)
    }

    /// `out += coeff(k, row·x)·row` for `row = rows[indices[k]]`.
    pub fn accumulate_projections<F: FnMut(usize, f32) -> f32>(
        rows: &[f32],
        dim: usize,
        indices: &[u32],
        x: &[f32],
        out: &mut [f32],
        mut coeff: F,
    ) {
        for (k, &i) in indices.iter().enumerate() {
            let row = &rows[i as usize * dim..(i as usize + 1) * dim];
            let c = coeff(k, dot(row, x));
            axpy(c, row, out);
        }
    }

    /// `A += alpha·x·xᵀ` on the lower triangle of the row-major `n × n` `a`.
    pub fn add_outer_product_lower(alpha: f32, x: &[f32], a: &mut [f32]) {
        let n = x.len();
        for (j, &xj) in x.iter().enumerate() {
            axpy(alpha * xj, &x[..=j], &mut a[j * n..j * n + j + 1]);
        }
    }

    /// `A += Σ_r r·rᵀ` on the lower triangle of `a` (rows of `rows` are `dim` wide).
    pub fn add_gram_lower(rows: &[f32], dim: usize, a: &mut [f32]) {
        for row in rows.chunks_exact(dim) {
            add_outer_product_lower(1.0, row, a);
        }
    }

    /// One Adagrad step of `param` with gradient `g·dir` (see [`super::adagrad_step`]).
    #[inline]
    pub fn adagrad_step(lr: f32, g: f32, dir: &[f32], param: &mut [f32], accum: &mut [f32]) {
        for ((p, a), &d) in param.iter_mut().zip(accum.iter_mut()).zip(dir) {
            let gc = g * d;
            *p -= lr / sqrt(*a) * gc;
            *a += gc * gc;
        }
    }

    /// `x.sqrt()` (correctly rounded, as the SIMD square roots).
    #[inline]
    fn sqrt(x: f32) -> f32 {
        #[cfg(feature = "std")]
        {
            x.sqrt()
        }
        #[cfg(not(feature = "std"))]
        {
            libm::sqrtf(x)
        }
    }
}

/// AVX2 + FMA kernels (8 lanes, fused multiply-add).
///
/// # Safety
/// Every function requires a CPU with AVX2 and FMA; slice bounds are checked as in [`scalar`].
#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
))]
mod avx2 {
    use core::arch::x86_64::*;

    /// Sum of the 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut k = 0;
        while k + 32 <= n {
            for (l, acc_l) in acc.iter_mut().enumerate() {
                let off = k + 8 * l;
                *acc_l = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(off)), _mm256_loadu_ps(pb.add(off)), *acc_l);
            }
            k += 32;
        }
        while k + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(k)), _mm256_loadu_ps(pb.add(k)), acc[0]);
            k += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = horizontal_sum(sum);
        while k < n {
            total += a[k] * b[k];
            k += 1;
        }
        total
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        let va = _mm256_set1_ps(alpha);
        let mut k = 0;
        while k + 8 <= n {
            let v = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(k)), _mm256_loadu_ps(py.add(k)));
            _mm256_storeu_ps(py.add(k), v);
            k += 8;
        }
        while k < n {
            y[k] += alpha * x[k];
            k += 1;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scale(alpha: f32, x: &mut [f32]) {
        let n = x.len();
        let px = x.as_mut_ptr();
        let va = _mm256_set1_ps(alpha);
        let mut k = 0;
        while k + 8 <= n {
            _mm256_storeu_ps(px.add(k), _mm256_mul_ps(va, _mm256_loadu_ps(px.add(k))));
            k += 8;
        }
        while k < n {
            x[k] *= alpha;
            k += 1;
        }
    }

    /// Rows per block of [`matvec`]: one accumulator each, so 8 independent FMA chains, and each
    /// load of `x` feeds 8 FMAs.
    const MATVEC_ROWS: usize = 8;

    /// Lanes `0..len % 8` set: masks the last, partial chunk of a row of `len` floats.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tail_mask(len: usize) -> __m256i {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32((len % 8) as i32), lanes)
    }

    /// Per-lane partial sums of `row_r · x` for the `R` consecutive rows starting at `rows`
    /// (row stride `n = x.len()`): lane sums of result `r` add up to the dot product of row `r`.
    /// The partial last chunk is read with a masked load (masked lanes are neither read nor
    /// counted), so no row is read past its end.
    ///
    /// # Safety
    /// AVX2 + FMA; `rows` must be valid for reading `R · n` floats.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_block<const R: usize>(rows: *const f32, x: &[f32], mask: __m256i) -> [__m256; R] {
        let n = x.len();
        let (px, full) = (x.as_ptr(), n - n % 8);
        let mut acc = [_mm256_setzero_ps(); R];
        let mut k = 0;
        while k < full {
            let vx = _mm256_loadu_ps(px.add(k));
            for (r, acc_r) in acc.iter_mut().enumerate() {
                *acc_r = _mm256_fmadd_ps(_mm256_loadu_ps(rows.add(r * n + k)), vx, *acc_r);
            }
            k += 8;
        }
        if full < n {
            let vx = _mm256_maskload_ps(px.add(full), mask);
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let v = _mm256_maskload_ps(rows.add(r * n + full), mask);
                *acc_r = _mm256_fmadd_ps(v, vx, *acc_r);
            }
        }
        acc
    }

    /// The 4 lane sums of `v[0..4]` in one vector: `[Σv0, Σv1, Σv2, Σv3]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn horizontal_sums4(v: &[__m256; 4]) -> __m128 {
        // Each 128-bit half of `s` holds that half's partial sums of v0..v3.
        let s = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
        _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1))
    }

    /// The 8 lane sums of `v[0..8]` in one vector: `[Σv0, …, Σv7]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn horizontal_sums8(v: &[__m256; 8]) -> __m256 {
        let lo = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
        let hi = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
        // Low 128-bit halves of lo and hi, plus their high halves.
        _mm256_add_ps(
            _mm256_permute2f128_ps(lo, hi, 0x20),
            _mm256_permute2f128_ps(lo, hi, 0x31),
        )
    }

    /// Blocks of 8 rows (8 outputs per store), then a block of 4, then single rows.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec(a: &[f32], x: &[f32], out: &mut [f32]) {
        let (n, rows) = (x.len(), out.len());
        assert!(a.len() >= rows * n, "matvec: matrix too small");
        let (pa, po, mask) = (a.as_ptr(), out.as_mut_ptr(), tail_mask(n));
        let mut i = 0;
        while i + MATVEC_ROWS <= rows {
            let acc = row_block::<MATVEC_ROWS>(pa.add(i * n), x, mask);
            _mm256_storeu_ps(po.add(i), horizontal_sums8(&acc));
            i += MATVEC_ROWS;
        }
        if i + 4 <= rows {
            let acc = row_block::<4>(pa.add(i * n), x, mask);
            _mm_storeu_ps(po.add(i), horizontal_sums4(&acc));
            i += 4;
        }
        while i < rows {
            let [acc] = row_block::<1>(pa.add(i * n), x, mask);
            *po.add(i) = horizontal_sum(acc);
            i += 1;
        }
    }

    /// `y[c..c + 8·W] = Σ_j x[j]·a[j, c..c + 8·W]`: W accumulators stay in registers.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn column_block<const W: usize>(a: &[f32], x: &[f32], y: &mut [f32], c: usize) {
        let n = x.len();
        debug_assert!(c + 8 * W <= n && a.len() >= n * n && y.len() == n);
        let pa = a.as_ptr();
        let mut acc = [_mm256_setzero_ps(); W];
        for (j, &xj) in x.iter().enumerate() {
            let vx = _mm256_set1_ps(xj);
            let row = pa.add(j * n + c);
            for (l, acc_l) in acc.iter_mut().enumerate() {
                *acc_l = _mm256_fmadd_ps(vx, _mm256_loadu_ps(row.add(8 * l)), *acc_l);
            }
        }
        for (l, acc_l) in acc.iter().enumerate() {
            _mm256_storeu_ps(y.as_mut_ptr().add(c + 8 * l), *acc_l);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn symmetric_matvec(a: &[f32], x: &[f32], y: &mut [f32]) {
        let n = x.len();
        // `column_block` reads and writes through raw pointers: bounds are checked here.
        assert!(a.len() >= n * n && y.len() == n, "symmetric_matvec: bad sizes");
        let mut c = 0;
        while c + 64 <= n {
            column_block::<8>(a, x, y, c);
            c += 64;
        }
        while c + 8 <= n {
            column_block::<1>(a, x, y, c);
            c += 8;
        }
        // Remaining columns equal the remaining rows (A is symmetric): plain dot products.
        while c < n {
            y[c] = dot(&a[c * n..(c + 1) * n], x);
            c += 1;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn accumulate_projections<F: FnMut(usize, f32) -> f32>(
        rows: &[f32],
        dim: usize,
        indices: &[u32],
        x: &[f32],
        out: &mut [f32],
        mut coeff: F,
    ) {
        match dim {
            8 => return projections_in_registers::<1, F>(rows, indices, x, out, coeff),
            16 => return projections_in_registers::<2, F>(rows, indices, x, out, coeff),
            24 => return projections_in_registers::<3, F>(rows, indices, x, out, coeff),
            32 => return projections_in_registers::<4, F>(rows, indices, x, out, coeff),
            40 => return projections_in_registers::<5, F>(rows, indices, x, out, coeff),
            48 => return projections_in_registers::<6, F>(rows, indices, x, out, coeff),
            56 => return projections_in_registers::<7, F>(rows, indices, x, out, coeff),
            64 => return projections_in_registers::<8, F>(rows, indices, x, out, coeff),
            _ => {}
        }
        for (k, &i) in indices.iter().enumerate() {
            let row = &rows[i as usize * dim..(i as usize + 1) * dim];
            let c = coeff(k, dot(row, x));
            axpy(c, row, out);
        }
    }

    /// `row · x` for rows of `8·C` floats, in two independent chains.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_fixed<const C: usize>(row: *const f32, x: *const f32) -> f32 {
        let mut chains = [_mm256_setzero_ps(); 2];
        for c in 0..C {
            let (r, v) = (_mm256_loadu_ps(row.add(8 * c)), _mm256_loadu_ps(x.add(8 * c)));
            chains[c % 2] = _mm256_fmadd_ps(r, v, chains[c % 2]);
        }
        horizontal_sum(_mm256_add_ps(chains[0], chains[1]))
    }

    /// [`accumulate_projections`] for `dim = 8·C ≤ 64`: `out` stays in C registers for the whole
    /// loop. Software-pipelined: the dot product of row `k + 1` is computed before row `k` is
    /// added, so the two uses of a row load are in different iterations (loading it twice from
    /// L1 is cheaper than keeping it in registers, which would spill).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn projections_in_registers<const C: usize, F: FnMut(usize, f32) -> f32>(
        rows: &[f32],
        indices: &[u32],
        x: &[f32],
        out: &mut [f32],
        mut coeff: F,
    ) {
        let dim = 8 * C;
        assert!(x.len() == dim && out.len() == dim);
        let row_start = |i: u32| rows[i as usize * dim..(i as usize + 1) * dim].as_ptr();
        let Some(&first) = indices.first() else {
            return;
        };
        let (px, po) = (x.as_ptr(), out.as_mut_ptr());
        let mut acc = [_mm256_setzero_ps(); C];
        for (c, acc_c) in acc.iter_mut().enumerate() {
            *acc_c = _mm256_loadu_ps(po.add(8 * c));
        }
        let mut row = row_start(first);
        let mut d = dot_fixed::<C>(row, px);
        for k in 0..indices.len() {
            let (next_row, next_d) = match indices.get(k + 1) {
                Some(&next) => {
                    let next_row = row_start(next);
                    (next_row, dot_fixed::<C>(next_row, px))
                }
                None => (row, 0.0),
            };
            let scale = _mm256_set1_ps(coeff(k, d));
            for (c, acc_c) in acc.iter_mut().enumerate() {
                *acc_c = _mm256_fmadd_ps(scale, _mm256_loadu_ps(row.add(8 * c)), *acc_c);
            }
            (row, d) = (next_row, next_d);
        }
        for (c, acc_c) in acc.iter().enumerate() {
            _mm256_storeu_ps(po.add(8 * c), *acc_c);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn add_outer_product_lower(alpha: f32, x: &[f32], a: &mut [f32]) {
        let n = x.len();
        for (j, &xj) in x.iter().enumerate() {
            axpy(alpha * xj, &x[..=j], &mut a[j * n..j * n + j + 1]);
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn adagrad_step(lr: f32, g: f32, dir: &[f32], param: &mut [f32], accum: &mut [f32]) {
        let n = dir.len().min(param.len()).min(accum.len());
        let (pd, pp, pa) = (dir.as_ptr(), param.as_mut_ptr(), accum.as_mut_ptr());
        let (vlr, vg) = (_mm256_set1_ps(lr), _mm256_set1_ps(g));
        let mut k = 0;
        while k + 8 <= n {
            let gc = _mm256_mul_ps(vg, _mm256_loadu_ps(pd.add(k)));
            let a = _mm256_loadu_ps(pa.add(k));
            let rate = _mm256_div_ps(vlr, _mm256_sqrt_ps(a));
            let p = _mm256_sub_ps(_mm256_loadu_ps(pp.add(k)), _mm256_mul_ps(rate, gc));
            _mm256_storeu_ps(pp.add(k), p);
            _mm256_storeu_ps(pa.add(k), _mm256_add_ps(a, _mm256_mul_ps(gc, gc)));
            k += 8;
        }
        super::scalar::adagrad_step(lr, g, &dir[k..n], &mut param[k..n], &mut accum[k..n]);
    }

    /// Input rows per pass over the output tiles (32 rows of 64 floats = 8 KB, L1-resident).
    const GRAM_ROW_BLOCK: usize = 32;

    /// For `dim` a multiple of 8: the lower triangle in 8×8 tiles, each tile's 8 rows held in
    /// registers while a block of input rows streams through (one load + 8 broadcasts per
    /// 8 FMAs). Diagonal tiles are computed whole, so they also update the upper triangle.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn add_gram_lower(rows: &[f32], dim: usize, a: &mut [f32]) {
        if !dim.is_multiple_of(8) {
            for row in rows.chunks_exact(dim) {
                add_outer_product_lower(1.0, row, a);
            }
            return;
        }
        let pa = a.as_mut_ptr();
        for block in rows.chunks(GRAM_ROW_BLOCK * dim) {
            let pb = block.as_ptr();
            let n_rows = block.len() / dim;
            for band in (0..dim).step_by(8) {
                for col in (0..=band).step_by(8) {
                    let mut tile = [_mm256_setzero_ps(); 8];
                    for (jj, t) in tile.iter_mut().enumerate() {
                        *t = _mm256_loadu_ps(pa.add((band + jj) * dim + col));
                    }
                    for r in 0..n_rows {
                        let row = pb.add(r * dim);
                        let v = _mm256_loadu_ps(row.add(col));
                        for (jj, t) in tile.iter_mut().enumerate() {
                            *t = _mm256_fmadd_ps(_mm256_set1_ps(*row.add(band + jj)), v, *t);
                        }
                    }
                    for (jj, t) in tile.iter().enumerate() {
                        _mm256_storeu_ps(pa.add((band + jj) * dim + col), *t);
                    }
                }
            }
        }
    }
}

/// wasm `simd128` kernels (4 lanes; wasm has no fused multiply-add in simd128).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use alloc::vec::Vec;
    use core::arch::wasm32::*;

    #[inline]
    fn load(s: &[f32], k: usize) -> v128 {
        let lanes = &s[k..k + 4];
        // SAFETY: `lanes` is exactly 4 f32 (16 bytes) in bounds; v128_load has no alignment
        // requirement.
        unsafe { v128_load(lanes.as_ptr() as *const v128) }
    }

    #[inline]
    fn store(s: &mut [f32], k: usize, v: v128) {
        assert!(k + 4 <= s.len());
        // SAFETY: in bounds (checked); v128_store has no alignment requirement.
        unsafe { v128_store(s.as_mut_ptr().add(k) as *mut v128, v) }
    }

    #[inline]
    fn horizontal_sum(v: v128) -> f32 {
        f32x4_extract_lane::<0>(v)
            + f32x4_extract_lane::<1>(v)
            + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
    }

    #[inline]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [f32x4_splat(0.0); 4];
        let mut k = 0;
        while k + 16 <= n {
            for (l, acc_l) in acc.iter_mut().enumerate() {
                let off = k + 4 * l;
                *acc_l = f32x4_add(*acc_l, f32x4_mul(load(a, off), load(b, off)));
            }
            k += 16;
        }
        while k + 4 <= n {
            acc[0] = f32x4_add(acc[0], f32x4_mul(load(a, k), load(b, k)));
            k += 4;
        }
        let sum = f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3]));
        let mut total = horizontal_sum(sum);
        while k < n {
            total += a[k] * b[k];
            k += 1;
        }
        total
    }

    #[inline]
    pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let va = f32x4_splat(alpha);
        let mut k = 0;
        while k + 4 <= n {
            let v = f32x4_add(load(y, k), f32x4_mul(va, load(x, k)));
            store(y, k, v);
            k += 4;
        }
        while k < n {
            y[k] += alpha * x[k];
            k += 1;
        }
    }

    #[inline]
    pub fn scale(alpha: f32, x: &mut [f32]) {
        let va = f32x4_splat(alpha);
        let mut k = 0;
        while k + 4 <= x.len() {
            let v = f32x4_mul(va, load(x, k));
            store(x, k, v);
            k += 4;
        }
        while k < x.len() {
            x[k] *= alpha;
            k += 1;
        }
    }

    /// `[Σv0, Σv1, Σv2, Σv3]`: the lane sums of 4 vectors, by a 4×4 transpose-and-add.
    #[inline]
    fn horizontal_sums4(v0: v128, v1: v128, v2: v128, v3: v128) -> v128 {
        // [v0₀+v0₂, v1₀+v1₂, v0₁+v0₃, v1₁+v1₃] and the same for v2, v3.
        let s01 = f32x4_add(
            i32x4_shuffle::<0, 4, 1, 5>(v0, v1),
            i32x4_shuffle::<2, 6, 3, 7>(v0, v1),
        );
        let s23 = f32x4_add(
            i32x4_shuffle::<0, 4, 1, 5>(v2, v3),
            i32x4_shuffle::<2, 6, 3, 7>(v2, v3),
        );
        f32x4_add(
            i32x4_shuffle::<0, 1, 4, 5>(s01, s23),
            i32x4_shuffle::<2, 3, 6, 7>(s01, s23),
        )
    }

    /// Lane sums of `R` rows dotted with `x`, 4-wide: `R` independent add chains sharing
    /// each load of `x`. Lane sums of result `r` plus the scalar `tails[r]` (the products past
    /// the last full chunk of 4) add up to `rows[r] · x`.
    #[inline]
    fn row_block<const R: usize>(rows: [&[f32]; R], x: &[f32]) -> ([v128; R], [f32; R]) {
        let n = x.len();
        let full = n - n % 4;
        let rows = rows.map(|r| &r[..n]);
        let mut acc = [f32x4_splat(0.0); R];
        let mut k = 0;
        while k < full {
            let vx = load(x, k);
            for (acc_r, row) in acc.iter_mut().zip(rows) {
                *acc_r = f32x4_add(*acc_r, f32x4_mul(load(row, k), vx));
            }
            k += 4;
        }
        let tails = rows.map(|row| row[full..].iter().zip(&x[full..]).map(|(p, q)| p * q).sum());
        (acc, tails)
    }

    /// Blocks of 8 rows (8 chains, two 4-wide stores), then a block of 4, then single rows.
    pub fn matvec(a: &[f32], x: &[f32], out: &mut [f32]) {
        let n = x.len();
        let row = |i: usize| &a[i * n..(i + 1) * n];
        let mut i = 0;
        while i + 8 <= out.len() {
            let (acc, tails) = row_block::<8>(core::array::from_fn(|r| row(i + r)), x);
            let lo = horizontal_sums4(acc[0], acc[1], acc[2], acc[3]);
            let hi = horizontal_sums4(acc[4], acc[5], acc[6], acc[7]);
            store(
                out,
                i,
                f32x4_add(lo, f32x4(tails[0], tails[1], tails[2], tails[3])),
            );
            store(
                out,
                i + 4,
                f32x4_add(hi, f32x4(tails[4], tails[5], tails[6], tails[7])),
            );
            i += 8;
        }
        if i + 4 <= out.len() {
            let (acc, tails) = row_block::<4>(core::array::from_fn(|r| row(i + r)), x);
            let sums = horizontal_sums4(acc[0], acc[1], acc[2], acc[3]);
            store(
                out,
                i,
                f32x4_add(sums, f32x4(tails[0], tails[1], tails[2], tails[3])),
            );
            i += 4;
        }
        while i < out.len() {
            out[i] = dot(row(i), x);
            i += 1;
        }
    }

    /// Rows of the row-major `a` (`cols` columns) in panels of [`PANEL_ROWS`]: panel `p`, chunk
    /// `c` holds rows `8p..8p + 8`, columns `4c..4c + 4`, row after row. Rows past the last
    /// full panel stay in `a` only. Empty when `cols` is not a multiple of 4.
    pub fn pack_panels(a: &[f32], cols: usize) -> Vec<f32> {
        if cols == 0 || !cols.is_multiple_of(4) {
            return Vec::new();
        }
        let full_rows = a.len() / cols / PANEL_ROWS * PANEL_ROWS;
        let mut panels = Vec::with_capacity(full_rows * cols);
        for block in a[..full_rows * cols].chunks_exact(PANEL_ROWS * cols) {
            for c in (0..cols).step_by(4) {
                for row in block.chunks_exact(cols) {
                    panels.extend_from_slice(&row[c..c + 4]);
                }
            }
        }
        panels
    }

    /// Rows per panel of [`pack_panels`].
    const PANEL_ROWS: usize = 8;

    /// `matvec` reading full panels from `panels` (built by [`pack_panels`] from `a` with
    /// `x.len()` columns) and the remaining rows from `a`; row-major only when there are no
    /// panels or `out` is shorter than the panels.
    pub fn matvec_panels(panels: &[f32], a: &[f32], x: &[f32], out: &mut [f32]) {
        let cols = x.len();
        let panel_len = PANEL_ROWS * cols;
        if panels.is_empty() || panels.len() > out.len() * cols {
            return matvec(a, x, out);
        }
        let done = panels.len() / cols;
        for (panel, o) in panels
            .chunks_exact(panel_len)
            .zip(out.chunks_exact_mut(PANEL_ROWS))
        {
            let mut acc = [f32x4_splat(0.0); PANEL_ROWS];
            for (chunk, xc) in panel.chunks_exact(4 * PANEL_ROWS).zip(x.chunks_exact(4)) {
                let vx = load(xc, 0);
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    *acc_r = f32x4_add(*acc_r, f32x4_mul(load(chunk, 4 * r), vx));
                }
            }
            store(o, 0, horizontal_sums4(acc[0], acc[1], acc[2], acc[3]));
            store(o, 4, horizontal_sums4(acc[4], acc[5], acc[6], acc[7]));
        }
        matvec(&a[done * cols..], x, &mut out[done..]);
    }

    /// `y[c..c + 4·W] = Σ_j x[j]·a[j, c..c + 4·W]` with W accumulators.
    #[inline]
    fn column_block<const W: usize>(a: &[f32], x: &[f32], y: &mut [f32], c: usize) {
        let n = x.len();
        let mut acc = [f32x4_splat(0.0); W];
        for (j, &xj) in x.iter().enumerate() {
            let vx = f32x4_splat(xj);
            let row = &a[j * n + c..j * n + c + 4 * W];
            for (l, acc_l) in acc.iter_mut().enumerate() {
                *acc_l = f32x4_add(*acc_l, f32x4_mul(vx, load(row, 4 * l)));
            }
        }
        for (l, acc_l) in acc.iter().enumerate() {
            store(y, c + 4 * l, *acc_l);
        }
    }

    pub fn symmetric_matvec(a: &[f32], x: &[f32], y: &mut [f32]) {
        let n = x.len();
        let mut c = 0;
        while c + 32 <= n {
            column_block::<8>(a, x, y, c);
            c += 32;
        }
        while c + 4 <= n {
            column_block::<1>(a, x, y, c);
            c += 4;
        }
        while c < n {
            y[c] = dot(&a[c * n..(c + 1) * n], x);
            c += 1;
        }
    }

    pub fn accumulate_projections<F: FnMut(usize, f32) -> f32>(
        rows: &[f32],
        dim: usize,
        indices: &[u32],
        x: &[f32],
        out: &mut [f32],
        mut coeff: F,
    ) {
        for (k, &i) in indices.iter().enumerate() {
            let row = &rows[i as usize * dim..(i as usize + 1) * dim];
            let c = coeff(k, dot(row, x));
            axpy(c, row, out);
        }
    }

    pub fn add_outer_product_lower(alpha: f32, x: &[f32], a: &mut [f32]) {
        let n = x.len();
        for (j, &xj) in x.iter().enumerate() {
            axpy(alpha * xj, &x[..=j], &mut a[j * n..j * n + j + 1]);
        }
    }

    pub fn add_gram_lower(rows: &[f32], dim: usize, a: &mut [f32]) {
        for row in rows.chunks_exact(dim) {
            add_outer_product_lower(1.0, row, a);
        }
    }

    pub fn adagrad_step(lr: f32, g: f32, dir: &[f32], param: &mut [f32], accum: &mut [f32]) {
        let n = dir.len().min(param.len()).min(accum.len());
        let (vlr, vg) = (f32x4_splat(lr), f32x4_splat(g));
        let mut k = 0;
        while k + 4 <= n {
            let gc = f32x4_mul(vg, load(dir, k));
            let a = load(accum, k);
            let rate = f32x4_div(vlr, f32x4_sqrt(a));
            let p = f32x4_sub(load(param, k), f32x4_mul(rate, gc));
            store(param, k, p);
            store(accum, k, f32x4_add(a, f32x4_mul(gc, gc)));
            k += 4;
        }
        super::scalar::adagrad_step(lr, g, &dir[k..n], &mut param[k..n], &mut accum[k..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Deterministic values in [-1, 1) with varied magnitudes.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
    }

    /// `|got − want| ≤ 1e-5 · scale` where `scale` bounds the magnitude of the summed terms.
    fn assert_close(got: f32, want: f32, scale: f32, what: &str) {
        let tol = 1e-5 * scale.max(1.0);
        assert!((got - want).abs() <= tol, "{what}: {got} vs {want} (tol {tol})");
    }

    fn assert_all_close(got: &[f32], want: &[f32], scale: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert_close(g, w, scale, &alloc::format!("{what}[{k}]"));
        }
    }

    /// Every length 0..=70 at offsets 0..3 (so slices start misaligned).
    fn cases() -> impl Iterator<Item = (usize, usize)> {
        (0..=70).flat_map(|n| (0..3).map(move |off| (n, off)))
    }

    #[test]
    fn dot_norm_axpy_scale_match_scalar() {
        let a = values(80, 1);
        let b = values(80, 2);
        for (n, off) in cases() {
            let (x, y) = (&a[off..off + n], &b[3 - off..3 - off + n]);
            let scale: f32 = x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum();
            assert_close(dot(x, y), scalar::dot(x, y), scale, "dot");
            assert_close(squared_norm(x), scalar::dot(x, x), scalar::dot(x, x), "norm");
            let (mut got, mut want) = (b.clone(), b.clone());
            axpy(0.7, x, &mut got[off..off + n]);
            scalar::axpy(0.7, x, &mut want[off..off + n]);
            assert_all_close(&got, &want, 1.0, "axpy");
            scale_and_compare(&mut got[off..off + n], &mut want[off..off + n]);
        }
    }

    fn scale_and_compare(got: &mut [f32], want: &mut [f32]) {
        scale(-1.3, got);
        scalar::scale(-1.3, want);
        assert_all_close(got, want, 1.0, "scale");
    }

    #[test]
    fn matrix_kernels_match_scalar() {
        for (n, off) in cases().filter(|&(n, _)| n % 3 == 0 || !(10..=60).contains(&n)) {
            let x = &values(n + 3, n as u64)[off..off + n];
            let a_full = values(n * n + 3, 7 + n as u64);
            // Symmetrize so symmetric_matvec's contract holds.
            let mut sym = a_full[off..off + n * n].to_vec();
            for i in 0..n {
                for j in 0..i {
                    sym[j * n + i] = sym[i * n + j];
                }
            }
            let scale = n as f32;
            let (mut got, mut want) = (alloc::vec![0f32; n], alloc::vec![0f32; n]);
            symmetric_matvec(&sym, x, &mut got);
            scalar::symmetric_matvec(&sym, x, &mut want);
            assert_all_close(&got, &want, scale, "symmetric_matvec");

            let rows = n / 2 + 1;
            let mut got = alloc::vec![0f32; rows];
            let mut want = alloc::vec![0f32; rows];
            matvec(&a_full[off..], x, &mut got);
            scalar::matvec(&a_full[off..], x, &mut want);
            assert_all_close(&got, &want, scale, "matvec");

            let before = values(n * n, 3);
            let mut got = before.clone();
            let mut want = before.clone();
            add_outer_product_lower(0.3, x, &mut got);
            scalar::add_outer_product_lower(0.3, x, &mut want);
            assert_all_close(&got, &want, 1.0, "add_outer_product_lower");
            for i in 0..n {
                for j in i + 1..n {
                    assert_eq!(got[i * n + j], before[i * n + j], "upper triangle changed");
                }
            }
        }
    }

    #[test]
    fn matvec_matches_scalar_for_every_block_shape() {
        let a = values(20 * 70 + 3, 31);
        let x = values(70 + 3, 32);
        for rows in 0..=20 {
            for n in 1..=70 {
                for off in 0..3 {
                    let (a, x) = (&a[off..off + rows * n], &x[3 - off..3 - off + n]);
                    // Values past the last row must not be read: NaN there would show.
                    let mut padded = a.to_vec();
                    padded.extend([f32::NAN; 8]);
                    let mut got = alloc::vec![f32::NAN; rows];
                    let mut want = alloc::vec![0f32; rows];
                    matvec(&padded, x, &mut got);
                    scalar::matvec(a, x, &mut want);
                    let what = alloc::format!("matvec {rows}x{n} off {off}");
                    assert_all_close(&got, &want, n as f32, &what);
                }
            }
        }
        let mut empty: [f32; 0] = [];
        matvec(&[], &x[..5], &mut empty);
        let mut zero_dim = [f32::NAN; 3];
        matvec(&[], &[], &mut zero_dim);
        assert_eq!(zero_dim, [0.0; 3]);
    }

    #[test]
    fn gram_matches_scalar_on_the_lower_triangle() {
        for dim in [1, 3, 8, 13, 16, 24, 64, 70] {
            for n_rows in [0, 1, 5, 33, 70] {
                let rows = values(n_rows * dim + 1, (dim * 100 + n_rows) as u64);
                let rows = &rows[1..];
                let start = values(dim * dim, 9);
                let (mut got, mut want) = (start.clone(), start);
                add_gram_lower(rows, dim, &mut got);
                scalar::add_gram_lower(rows, dim, &mut want);
                for j in 0..dim {
                    let (g, w) = (&got[j * dim..j * dim + j + 1], &want[j * dim..j * dim + j + 1]);
                    assert_all_close(g, w, n_rows as f32, "add_gram_lower");
                }
            }
        }
    }

    #[test]
    fn accumulate_projections_matches_scalar() {
        for (dim, off) in cases() {
            let rows = values(dim * 9 + 3, 11 + dim as u64);
            let rows = &rows[off..off + dim * 9];
            let x = values(dim, 5);
            let indices = [8u32, 0, 3, 3, 5];
            let coeff = |k: usize, d: f32| (k as f32 + 1.0) - 0.5 * d;
            let mut got = values(dim, 6);
            let mut want = got.clone();
            accumulate_projections(rows, dim, &indices, &x, &mut got, coeff);
            scalar::accumulate_projections(rows, dim, &indices, &x, &mut want, coeff);
            assert_all_close(&got, &want, 10.0 * (dim as f32 + 1.0), "accumulate_projections");
        }
    }

    #[test]
    fn adagrad_step_matches_scalar_bit_for_bit() {
        for (n, off) in cases() {
            let dir = &values(n + 3, 21)[off..off + n];
            let param = values(n, 22);
            let accum: Vec<f32> = values(n, 23).iter().map(|v| 1.0 + 3.0 * v.abs()).collect();
            let (mut p1, mut a1) = (param.clone(), accum.clone());
            let (mut p2, mut a2) = (param.clone(), accum.clone());
            adagrad_step(0.05, -1.7, dir, &mut p1, &mut a1);
            scalar::adagrad_step(0.05, -1.7, dir, &mut p2, &mut a2);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!((bits(&p1), bits(&a1)), (bits(&p2), bits(&a2)), "n {n} off {off}");
            for c in 0..n {
                let gc = -1.7 * dir[c];
                assert_close(p2[c], param[c] - 0.05 / accum[c].sqrt() * gc, 1.0, "param");
                assert_close(a2[c], accum[c] + gc * gc, 1.0, "accum");
            }
        }
    }

    #[test]
    fn scalar_kernels_are_correct() {
        assert_eq!(scalar::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0, 7.0]), 32.0);
        let mut y = [1.0, 1.0];
        scalar::axpy(2.0, &[1.0, 2.0], &mut y);
        assert_eq!(y, [3.0, 5.0]);
        let a = [2.0, 1.0, 1.0, 3.0];
        let mut y = [0.0; 2];
        scalar::symmetric_matvec(&a, &[1.0, -1.0], &mut y);
        assert_eq!(y, [1.0, -2.0]);
        let mut a = [0.0; 4];
        scalar::add_outer_product_lower(2.0, &[1.0, 3.0], &mut a);
        assert_eq!(a, [2.0, 0.0, 6.0, 18.0]);
        let mut out = [0.0; 2];
        scalar::accumulate_projections(&[1.0, 0.0, 0.0, 2.0], 2, &[1], &[1.0, 1.0], &mut out, |_, d| d);
        assert_eq!(out, [0.0, 4.0]);
    }

    #[test]
    fn backend_is_reported() {
        let backend = simd_backend();
        assert!(["avx2+fma", "simd128", "scalar"].contains(&backend));
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            assert_eq!(backend, "avx2+fma");
        }
    }
}
