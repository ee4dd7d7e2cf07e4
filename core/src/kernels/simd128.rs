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

#[inline]
pub fn dot_i8_rows(codes: &[i8], q: &[i16], out: &mut [i32]) {
    let d = q.len();
    for (o, row) in out.iter_mut().zip(codes.chunks_exact(d)) {
        let mut acc = i32x4_splat(0);
        let mut k = 0;
        while k + 16 <= d {
            let (a, q0, q1) = (&row[k..k + 16], &q[k..k + 8], &q[k + 8..k + 16]);
            // SAFETY: each slice is exactly 16 bytes in bounds; v128_load has no alignment
            // requirement.
            let (a, q0, q1) = unsafe {
                (
                    v128_load(a.as_ptr() as *const v128),
                    v128_load(q0.as_ptr() as *const v128),
                    v128_load(q1.as_ptr() as *const v128),
                )
            };
            acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_low_i8x16(a), q0));
            acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(a), q1));
            k += 16;
        }
        let mut total = i32x4_extract_lane::<0>(acc)
            .wrapping_add(i32x4_extract_lane::<1>(acc))
            .wrapping_add(i32x4_extract_lane::<2>(acc))
            .wrapping_add(i32x4_extract_lane::<3>(acc));
        while k < d {
            total = total.wrapping_add(i32::from(row[k]) * i32::from(q[k]));
            k += 1;
        }
        *o = total;
    }
}
