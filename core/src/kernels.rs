//! Dense f32 kernels used by the hot loops (dot products, axpy).
//!
//! Portable scalar versions; see the SIMD dispatch below them.

/// `Σ a[k]·b[k]` over the common length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut tail = 0f32;
    for k in chunks * 8..n {
        tail += a[k] * b[k];
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += alpha·x` over the common length.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yk, &xk) in y.iter_mut().zip(x) {
        *yk += alpha * xk;
    }
}
