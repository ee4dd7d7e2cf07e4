//! The crate's seedable, portable random number generator: xoshiro256++ (Blackman & Vigna)
//! from `rand_xoshiro`, seeded by SplitMix64, with the few draws the models need.
//!
//! Training must give identical results for a seed on every platform and thread count, so the
//! generator is a fixed algorithm rather than a platform-dependent source; the tests pin its
//! output for a seed, so a dependency update that changed the stream would fail them.

use rand_xoshiro::rand_core::{Rng as _, SeedableRng};
use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};

/// xoshiro256++ with 256 bits of state, seeded by SplitMix64 from a `u64`.
#[derive(Debug, Clone)]
pub struct Rng(Xoshiro256PlusPlus);

impl Rng {
    /// A generator fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// An independent stream for (seed, stream): used to give every row its own generator so
    /// results do not depend on how rows are split across threads.
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        let mixed = SplitMix64::seed_from_u64(stream.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64();
        Rng::new(seed ^ mixed)
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    #[inline]
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (Lemire's multiply-shift; `n` must be > 0).
    #[inline]
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }

    /// Standard normal sample (Box–Muller).
    pub fn next_normal(&mut self) -> f32 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2)) as f32
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream for a seed is part of the model-file contract (seeded training must give the
    /// same model after an update): these values are xoshiro256++ seeded by SplitMix64, as the
    /// crate's own implementation produced them before it moved to `rand_xoshiro`.
    #[test]
    fn stream_is_pinned() {
        let mut r = Rng::new(42);
        assert_eq!(
            [r.next_u64(), r.next_u64(), r.next_u64()],
            [
                0xd076_4d4f_4476_689f,
                0x519e_4174_576f_3791,
                0xfbe0_7cfb_0c24_ed8c
            ]
        );
        let mut s = Rng::for_stream(7, 3);
        assert_eq!(
            [s.next_u64(), s.next_u64()],
            [0x8d08_f05c_287b_e8c9, 0x0130_fd04_7d10_edc2]
        );
    }

    #[test]
    fn same_seed_same_stream_and_uniform_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            let x = a.next_f32();
            assert_eq!(x, b.next_f32());
            assert!((0.0..1.0).contains(&x));
        }
        assert_ne!(Rng::for_stream(7, 1).next_u64(), Rng::for_stream(7, 2).next_u64());
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let k = r.below(5) as usize;
            seen[k] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
