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

/// `out[r] = Σ_k codes[r·d + k]·q[k]`, `d = q.len() > 0`, wrapping i32 sums.
#[inline]
pub fn dot_i8_rows(codes: &[i8], q: &[i16], out: &mut [i32]) {
    for (o, row) in out.iter_mut().zip(codes.chunks_exact(q.len())) {
        *o = row
            .iter()
            .zip(q)
            .fold(0i32, |s, (&a, &b)| s.wrapping_add(i32::from(a) * i32::from(b)));
    }
}
