//! Kernels over f32 rows held in relaxed atomics, two values per [`AtomicU64`] (the Hogwild
//! parameter cells of `lightfm::train`): they read and write the shared rows directly, so a
//! row is not first copied into a scratch buffer and then read back.
//!
//! Every access to the shared rows is a relaxed 64-bit atomic load or store (on x86-64 a
//! `vmovsd` between the cell and a vector register, see `avx2::in_xmm`), never a plain or
//! SIMD load of memory another thread may write: the 8-lane vectors are assembled from (and
//! split into) 64-bit pairs in registers. A pair holds its two f32 values in memory order
//! (the low half first on a little-endian target).
//!
//! The AVX2 versions need `out.len()` / `dir.len()` to be a multiple of 8 (else the portable
//! one runs) and give the same bits as copying the rows out and applying the AVX2
//! [`super::axpy`] (fused multiply-add) and [`super::adagrad_step`] kernels; the portable
//! versions give the same bits as the scalar ones.
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The two values of a pair cell, in memory order.
#[inline(always)]
fn split(x: u64) -> [f32; 2] {
    let (lo, hi) = (f32::from_bits(x as u32), f32::from_bits((x >> 32) as u32));
    if cfg!(target_endian = "little") {
        [lo, hi]
    } else {
        [hi, lo]
    }
}

/// The pair cell holding `a` then `b` in memory order.
#[inline(always)]
fn join(a: f32, b: f32) -> u64 {
    let (lo, hi) = if cfg!(target_endian = "little") {
        (a, b)
    } else {
        (b, a)
    };
    (hi.to_bits() as u64) << 32 | lo.to_bits() as u64
}

/// `out = Σ_t (wts[t] · scale) · row(idx[t])`, where `row(f)` is the `out.len() / 2` pairs of
/// `rows` from `f · stride` (in order of `t`, as a sum of [`super::axpy`] calls from zero).
/// `out.len()` must be even; panics if a row is out of range.
#[inline]
pub(crate) fn weighted_row_sum(
    rows: &[AtomicU64],
    stride: usize,
    idx: &[u32],
    wts: &[f32],
    scale: f32,
    out: &mut [f32],
) {
    assert!(out.len().is_multiple_of(2), "weighted_row_sum: odd row length");
    #[cfg(all(
        target_arch = "x86_64",
        any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
    ))]
    {
        if out.len().is_multiple_of(8) && super::avx2_fma_available() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::weighted_row_sum(rows, stride, idx, wts, scale, out) };
        }
    }
    portable::weighted_row_sum(rows, stride, idx, wts, scale, out)
}

/// One Adagrad step of the shared row `param` (accumulators `accum`) with gradient `g·dir`:
/// for every `c`, `gc = g·dir[c]; param[c] −= lr / sqrt(accum[c]) · gc; accum[c] += gc²`
/// (the bits of [`super::adagrad_step`]), each row loaded and stored back once. `dir.len()`
/// must be even and the rows hold `dir.len() / 2` pairs.
#[inline]
pub(crate) fn adagrad_step(lr: f32, g: f32, dir: &[f32], param: &[AtomicU64], accum: &[AtomicU64]) {
    let n = dir.len();
    assert!(
        n.is_multiple_of(2) && param.len() == n / 2 && accum.len() == n / 2,
        "adagrad_step: bad sizes"
    );
    #[cfg(all(
        target_arch = "x86_64",
        any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
    ))]
    {
        if n.is_multiple_of(8) && super::avx2_fma_available() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2::adagrad_step(lr, g, dir, param, accum) };
        }
    }
    portable::adagrad_step(lr, g, dir, param, accum)
}

mod portable {
    use super::*;

    pub(super) fn weighted_row_sum(
        rows: &[AtomicU64],
        stride: usize,
        idx: &[u32],
        wts: &[f32],
        scale: f32,
        out: &mut [f32],
    ) {
        out.fill(0.0);
        let half = out.len() / 2;
        for (&f, &w) in idx.iter().zip(wts) {
            let w = w * scale;
            let start = f as usize * stride;
            for (o, c) in out.chunks_exact_mut(2).zip(&rows[start..start + half]) {
                let [a, b] = split(c.load(Relaxed));
                o[0] += w * a;
                o[1] += w * b;
            }
        }
    }

    pub(super) fn adagrad_step(lr: f32, g: f32, dir: &[f32], param: &[AtomicU64], accum: &[AtomicU64]) {
        for ((d, p), a) in dir.chunks_exact(2).zip(param).zip(accum) {
            let mut ps = split(p.load(Relaxed));
            let mut acc = split(a.load(Relaxed));
            for l in 0..2 {
                let gc = g * d[l];
                ps[l] -= lr / sqrt(acc[l]) * gc;
                acc[l] += gc * gc;
            }
            p.store(join(ps[0], ps[1]), Relaxed);
            a.store(join(acc[0], acc[1]), Relaxed);
        }
    }

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

#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
))]
mod avx2 {
    use super::*;
    use core::arch::x86_64::*;

    /// `x`, in an SSE register: an empty `asm!` that takes and returns `x` in one, so that
    /// LLVM selects the SSE forms (`vmovsd` from / to memory) for the relaxed atomic load
    /// feeding it or the relaxed atomic store it feeds, rather than a general register and a
    /// transfer to or from the vector unit (one transfer per pair, the bottleneck of a row
    /// copy). It is still the same 64-bit atomic access in the program (an aligned 8-byte
    /// load or store is single-copy atomic on x86-64, whichever register it uses); the
    /// assembly itself touches no memory and no bits.
    #[inline(always)]
    fn in_xmm(mut x: f64) -> f64 {
        // SAFETY: the template is a comment: no instruction, no memory access, no flags.
        unsafe {
            core::arch::asm!("/* {0} */", inout(xmm_reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }

    /// The 8 values of the 4 pair cells `p[..4]` (four relaxed 64-bit loads).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load8(p: &[AtomicU64]) -> __m256 {
        let p = &p[..4];
        // The pair's 64 bits, moved as a scalar f64 (no arithmetic touches them).
        let q = |i: usize| _mm_set_sd(in_xmm(f64::from_bits(p[i].load(Relaxed))));
        let (lo, hi) = (_mm_unpacklo_pd(q(0), q(1)), _mm_unpacklo_pd(q(2), q(3)));
        _mm256_castpd_ps(_mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(lo), hi))
    }

    /// Stores the 8 values of `v` into the 4 pair cells `p[..4]` (four relaxed 64-bit stores).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store8(p: &[AtomicU64], v: __m256) {
        let p = &p[..4];
        let v = _mm256_castps_pd(v);
        let (lo, hi) = (_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        let put = |c: &AtomicU64, x: __m128d| c.store(in_xmm(_mm_cvtsd_f64(x)).to_bits(), Relaxed);
        put(&p[0], lo);
        put(&p[1], _mm_unpackhi_pd(lo, lo));
        put(&p[2], hi);
        put(&p[3], _mm_unpackhi_pd(hi, hi));
    }

    /// `out[..8·C] = Σ_t w_t · row(idx[t])[..8·C]` with the sums in `C` registers.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sum_block<const C: usize>(
        rows: &[AtomicU64],
        stride: usize,
        idx: &[u32],
        wts: &[f32],
        scale: f32,
        out: &mut [f32],
    ) {
        let mut acc = [_mm256_setzero_ps(); C];
        for (&f, &w) in idx.iter().zip(wts) {
            let w = _mm256_set1_ps(w * scale);
            let start = f as usize * stride;
            let row = &rows[start..start + 4 * C];
            for (c, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(w, load8(&row[4 * c..]), *a);
            }
        }
        let out = &mut out[..8 * C];
        for (c, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * c), *a);
        }
    }

    /// Blocks of 64 values (8 registers of sums), then of 8.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn weighted_row_sum(
        rows: &[AtomicU64],
        stride: usize,
        idx: &[u32],
        wts: &[f32],
        scale: f32,
        out: &mut [f32],
    ) {
        let n = out.len();
        let mut k = 0;
        while k + 64 <= n {
            sum_block::<8>(&rows[k / 2..], stride, idx, wts, scale, &mut out[k..]);
            k += 64;
        }
        while k < n {
            sum_block::<1>(&rows[k / 2..], stride, idx, wts, scale, &mut out[k..]);
            k += 8;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn adagrad_step(
        lr: f32,
        g: f32,
        dir: &[f32],
        param: &[AtomicU64],
        accum: &[AtomicU64],
    ) {
        let (vlr, vg) = (_mm256_set1_ps(lr), _mm256_set1_ps(g));
        for ((d, p), a) in dir
            .chunks_exact(8)
            .zip(param.chunks_exact(4))
            .zip(accum.chunks_exact(4))
        {
            let gc = _mm256_mul_ps(vg, _mm256_loadu_ps(d.as_ptr()));
            let acc = load8(a);
            let rate = _mm256_div_ps(vlr, _mm256_sqrt_ps(acc));
            store8(p, _mm256_sub_ps(load8(p), _mm256_mul_ps(rate, gc)));
            store8(a, _mm256_add_ps(acc, _mm256_mul_ps(gc, gc)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
    }

    fn cells(v: &[f32]) -> Vec<AtomicU64> {
        v.chunks_exact(2)
            .map(|p| AtomicU64::new(join(p[0], p[1])))
            .collect()
    }

    fn floats(c: &[AtomicU64]) -> Vec<f32> {
        c.iter().flat_map(|p| split(p.load(Relaxed))).collect()
    }

    /// Bit-identical to copying the rows out and summing with `kernels::axpy` from zero (the
    /// scalar one for lengths the SIMD path leaves to the portable one), and the Adagrad step
    /// to `kernels::adagrad_step`, for row lengths with and without SIMD.
    #[test]
    fn match_the_copying_kernels() {
        for k in [2usize, 4, 6, 8, 10, 16, 24, 64, 72, 136] {
            let n_rows = 7;
            let data = values(n_rows * k, k as u64);
            let rows = cells(&data);
            let (idx, wts) = ([3u32, 0, 6, 3], [0.25f32, 1.0, -0.5, 0.125]);
            let mut got = alloc::vec![1.0; k];
            weighted_row_sum(&rows, k / 2, &idx, &wts, 0.5, &mut got);
            let mut want = alloc::vec![0.0; k];
            for (&f, &w) in idx.iter().zip(&wts) {
                let row = &data[f as usize * k..(f as usize + 1) * k];
                if k.is_multiple_of(8) {
                    crate::kernels::axpy(w * 0.5, row, &mut want);
                } else {
                    crate::kernels::scalar::axpy(w * 0.5, row, &mut want);
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "k = {k}");

            let dir = values(k, 99);
            let acc_data: Vec<f32> = values(k, 7).iter().map(|v| 1.0 + v.abs()).collect();
            let (param, accum) = (cells(&data[..k]), cells(&acc_data));
            adagrad_step(0.05, 0.3, &dir, &param, &accum);
            let (mut p, mut a) = (data[..k].to_vec(), acc_data.clone());
            crate::kernels::adagrad_step(0.05, 0.3, &dir, &mut p, &mut a);
            assert_eq!(bits(&floats(&param)), bits(&p), "k = {k}");
            assert_eq!(bits(&floats(&accum)), bits(&a), "k = {k}");
        }
    }
}
