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

#[inline]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_i8_rows(codes: &[i8], q: &[i16], out: &mut [i32]) {
    let d = q.len();
    let rows = out.len().min(codes.len() / d);
    let pq = q.as_ptr();
    for (r, o) in out[..rows].iter_mut().enumerate() {
        let row = &codes[r * d..(r + 1) * d];
        let pr = row.as_ptr();
        let mut acc = _mm256_setzero_si256();
        let mut k = 0;
        while k + 16 <= d {
            // 16 int8 codes widened to int16, multiplied by the query's int16 values and summed
            // in pairs into 8 int32 lanes.
            let a = _mm256_cvtepi8_epi16(_mm_loadu_si128(pr.add(k) as *const __m128i));
            let b = _mm256_loadu_si256(pq.add(k) as *const __m256i);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
            k += 16;
        }
        let s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        let mut total = _mm_cvtsi128_si32(s);
        while k < d {
            total = total.wrapping_add(i32::from(row[k]) * i32::from(q[k]));
            k += 1;
        }
        *o = total;
    }
}
