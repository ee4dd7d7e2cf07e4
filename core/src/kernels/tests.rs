//! Every SIMD kernel against the scalar reference, and the scalar kernels against hand values.
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

#[test]
fn dot_i8_rows_is_exact_on_every_backend() {
    let mut rng = crate::rng::Rng::new(7);
    for d in [1usize, 3, 15, 16, 17, 31, 32, 33, 64, 65, 100] {
        let rows = 5;
        let codes: Vec<i8> = (0..rows * d + 3)
            .map(|k| match k % 7 {
                0 => 127,
                1 => -127,
                _ => (rng.below(255) as i32 - 127) as i8,
            })
            .collect();
        let q: Vec<i16> = (0..d)
            .map(|k| {
                if k % 5 == 0 {
                    -32767
                } else {
                    (rng.below(65535) as i32 - 32767) as i16
                }
            })
            .collect();
        let mut got = [0i32; 5];
        dot_i8_rows(&codes[..rows * d], &q, &mut got);
        for (r, &g) in got.iter().enumerate() {
            let want: i64 = (0..d)
                .map(|k| i64::from(codes[r * d + k]) * i64::from(q[k]))
                .sum();
            assert_eq!(i64::from(g), want, "d {d} row {r}");
        }
        let mut reference = [0i32; 5];
        scalar::dot_i8_rows(&codes[..rows * d], &q, &mut reference);
        assert_eq!(got, reference);
    }
    // Hand value: [1, -2, 3]·[4, 5, -6] = 4 − 10 − 18.
    let mut one = [0i32; 1];
    dot_i8_rows(&[1, -2, 3], &[4, 5, -6], &mut one);
    assert_eq!(one, [-24]);
}
