//! `reco generate`: a seeded synthetic interactions file with planted low-rank preferences and
//! power-law item popularity, in the CSV layout `reco ingest` reads as is.
//!
//! # Model
//! - **Items** `sku-000000 … `: each item gets a latent vector `v_i ~ N(0, I/√r)` (rank `r`)
//!   and a popularity `p_i ∝ 1 / rank_iˢ` (Zipf with exponent `s`), where the popularity
//!   ranks are a seeded shuffle of the items (the most popular item is not `sku-000000`).
//! - **Users** `u00000000 …`: a latent vector `x_u ~ N(0, I/√r)` (so `x_u·v_i` has variance
//!   about 1) and an activity weight `a_u ~ LogNormal(0, 1)` (heavy-tailed). The requested
//!   number of interactions is shared out in proportion to `a_u`, every user getting at least
//!   1 and at most [`max_per_user`] (`items / 4`, at least 1); the total is exact.
//! - **Interactions**: a user with `n` interactions takes `n` *distinct* items (no duplicate
//!   rows; with `--weights` each row carries a purchase count instead) drawn, approximately,
//!   from `P(i | u) ∝ p_i · exp(τ · x_u·v_i)` with affinity strength `τ`. Exact sampling
//!   costs O(items) per user, so it is done by sampling-importance-resampling: draw
//!   `max(16n, 256)` candidates from the proposal `q = ½·popularity + ½·uniform` (popularity
//!   through an alias table, O(1) per draw; the uniform half lets a user reach unpopular
//!   items it likes), merge duplicates into a multiplicity `m`, and keep the `n` candidates
//!   with the largest `ln m + ln(p_i/q_i) + τ·x_u·v_i + Gumbel` (Gumbel-top-k: sampling
//!   without replacement proportional to the importance weight `m·p_i·exp(τ·x_u·v_i)/q_i`).
//!   Cost per user: O(max(16n, 256)·r) whatever the catalog size. With `τ = 0` or rank 0
//!   the file has no planted structure, only popularity. If the candidates hold fewer than
//!   `n` distinct items, more are drawn (terminates: half the draws are uniform and
//!   `n <= items / 4`).
//! - **Power law**: with `τ = 0` the fitted rank-frequency slope of the items (ranks 10-500)
//!   is the requested exponent within 0.1; planted preferences flatten it (users also take
//!   unpopular items they like): at the default `τ = 2`, `--zipf 1` gives a slope of about
//!   -0.84 (tests/synth.rs).
//! - **Optional columns**: `weight` = 1 + Geometric(0.6) (mean 1.67); `timestamp` = unix
//!   seconds uniform over `--days` days from 2024-01-01 UTC (each user's rows in time order);
//!   `name` = a fixed name per item ("Blue Mug 42").
//!
//! Every user draws from its own random stream ([`Rng::for_stream`]), so the file is the same
//! for a seed whatever the thread count. Users are generated in blocks in parallel and written
//! in user order: memory is the item table (about `items × (4r + 16)` bytes) plus one block,
//! never the file.
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, Geometric, Gumbel, LogNormal, StandardNormal};
use rand_xoshiro::rand_core::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use reco_core::rng::Rng;

use crate::error::{Result, ServerError};

/// Largest supported rank (as for ALS factors).
pub const MAX_RANK: usize = 1024;
/// Candidates drawn per requested interaction (see the module docs).
pub const OVERSAMPLE: usize = 16;
/// Share of the candidates drawn uniformly rather than by popularity (see the module docs).
pub const UNIFORM_SHARE: f64 = 0.5;
const UNIFORM_SHARE_U64: u64 = 1 << 63;
/// Fewest candidates drawn for one user.
pub const MIN_CANDIDATES: usize = 256;
/// First timestamp: 2024-01-01 00:00:00 UTC.
pub const START_TIME: i64 = 1_704_067_200;
/// Users generated per parallel block.
const BLOCK_USERS: usize = 4096;

/// Arguments of `reco generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Number of users (ids u00000000, u00000001, …).
    #[arg(long, default_value_t = 10_000)]
    pub users: u32,
    /// Number of items (ids sku-000000, sku-000001, …).
    #[arg(long, default_value_t = 5_000)]
    pub items: u32,
    /// Number of rows (distinct user-item pairs). At least --users (every user has one) and at
    /// most --users × max(1, items / 4).
    #[arg(long, default_value_t = 200_000)]
    pub interactions: u64,
    /// Rank of the planted user and item vectors (0 = no planted structure, popularity only).
    #[arg(long, default_value_t = 16)]
    pub rank: usize,
    /// Zipf exponent of item popularity (0 = uniform; 1 = the classic long tail).
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Strength τ of the planted preferences: a user picks item i with odds
    /// popularity_i × exp(τ · user·item); 0 = no planted structure.
    #[arg(long, default_value_t = 2.0)]
    pub affinity: f64,
    /// Seed: the same seed and options write the same bytes, whatever the thread count.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Add a `weight` column: a purchase count 1 + Geometric(0.6), mean 1.67.
    #[arg(long)]
    pub weights: bool,
    /// Add a `timestamp` column: unix seconds, uniform over --days days from 2024-01-01 UTC.
    #[arg(long)]
    pub timestamps: bool,
    /// Length of the period the timestamps cover, in days.
    #[arg(long, default_value_t = 365, value_name = "DAYS")]
    pub days: u32,
    /// Add a `name` column with a fixed product name per item.
    #[arg(long)]
    pub names: bool,
    /// Output CSV file, gzip-compressed when it ends in .gz; written atomically.
    #[arg(long, value_name = "FILE", default_value = "data/synthetic.csv.gz")]
    pub out: PathBuf,
}

impl Default for GenerateArgs {
    fn default() -> Self {
        GenerateArgs {
            users: 10_000,
            items: 5_000,
            interactions: 200_000,
            rank: 16,
            zipf: 1.0,
            affinity: 2.0,
            seed: 42,
            weights: false,
            timestamps: false,
            days: 365,
            names: false,
            out: PathBuf::from("data/synthetic.csv.gz"),
        }
    }
}

/// Most interactions one user can have among `items` items.
pub fn max_per_user(items: u32) -> u64 {
    (items as u64 / 4).max(1)
}

/// One generated row (before formatting).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Item index.
    pub item: u32,
    /// Purchase count (1 without `--weights`).
    pub weight: u32,
    /// Unix seconds (0 without `--timestamps`).
    pub time: i64,
}

/// The generator: the item table and every user's interaction count.
pub struct Generator {
    args: GenerateArgs,
    /// Row-major items × rank.
    item_factors: Vec<f32>,
    popularity: WeightedAliasIndex<f64>,
    /// ln(p_i / q_i): target popularity over the candidate proposal, per item.
    log_ratio: Vec<f32>,
    counts: Vec<u32>,
    user_width: usize,
    item_width: usize,
}

/// An independent generator for (seed, stream).
fn stream(seed: u64, k: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(Rng::for_stream(seed, k).next_u64())
}

const ITEM_STREAM: u64 = 0;
const RANK_STREAM: u64 = 1;
const ACTIVITY_STREAM: u64 = 2;
const FIRST_USER_STREAM: u64 = 3;

/// Uniform integer in `0..n` (`n > 0`).
fn below(rng: &mut Xoshiro256PlusPlus, n: u64) -> u64 {
    ((rng.next_u64() as u128 * n as u128) >> 64) as u64
}

fn usage(msg: String) -> ServerError {
    ServerError::Usage(msg)
}

fn digits(n: u64) -> usize {
    n.max(1).ilog10() as usize + 1
}

impl Generator {
    /// Checks the arguments and builds the item table and the per-user counts.
    pub fn new(args: &GenerateArgs) -> Result<Generator> {
        let (users, items, k) = (args.users as u64, args.items, args.interactions);
        if users == 0 || items == 0 {
            return Err(usage("--users and --items must be at least 1".into()));
        }
        if k < users {
            return Err(usage(format!(
                "--interactions {k} is below --users {users}: every user has at least one interaction; \
                 raise --interactions or lower --users"
            )));
        }
        let cap = max_per_user(items);
        if k > users * cap {
            return Err(usage(format!(
                "--interactions {k} is more than {users} users × {cap} distinct items each (a user takes \
                 at most max(1, items / 4) = {cap} items); raise --users or --items"
            )));
        }
        if args.rank > MAX_RANK {
            return Err(usage(format!(
                "--rank {} is above the limit {MAX_RANK}",
                args.rank
            )));
        }
        if !(args.zipf.is_finite() && args.zipf >= 0.0) {
            return Err(usage(format!(
                "--zipf {} must be a finite number >= 0",
                args.zipf
            )));
        }
        if !(args.affinity.is_finite() && args.affinity >= 0.0) {
            return Err(usage(format!(
                "--affinity {} must be a finite number >= 0",
                args.affinity
            )));
        }
        if args.timestamps && args.days == 0 {
            return Err(usage("--days must be at least 1".into()));
        }
        let r = args.rank;
        // Entries N(0, r^-1/2): x·v then has variance about 1 whatever the rank.
        let scale = (r.max(1) as f64).powf(-0.25) as f32;
        let mut rng = stream(args.seed, ITEM_STREAM);
        let item_factors: Vec<f32> = (0..items as usize * r)
            .map(|_| scale * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut rng))
            .collect();

        let mut ranks: Vec<u32> = (0..items).collect();
        let mut rng = stream(args.seed, RANK_STREAM);
        for i in (1..ranks.len()).rev() {
            ranks.swap(i, below(&mut rng, i as u64 + 1) as usize);
        }
        let weights: Vec<f64> = ranks
            .iter()
            .map(|&rank| (rank as f64 + 1.0).powf(-args.zipf))
            .collect();
        let total: f64 = weights.iter().sum();
        let uniform = 1.0 / items as f64;
        let log_ratio = weights
            .iter()
            .map(|&w| {
                let p = w / total;
                (p / ((1.0 - UNIFORM_SHARE) * p + UNIFORM_SHARE * uniform)).ln() as f32
            })
            .collect();
        let popularity = WeightedAliasIndex::new(weights)
            .map_err(|e| usage(format!("cannot build the popularity table ({e}); lower --zipf")))?;

        let counts = allocate(users as usize, k, cap, args.seed);
        Ok(Generator {
            args: args.clone(),
            item_factors,
            popularity,
            log_ratio,
            counts,
            user_width: digits(users - 1).max(8),
            item_width: digits(items as u64 - 1).max(6),
        })
    }

    /// Interactions of each user.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// The user's planted vector (empty at rank 0).
    fn user_vector(&self, rng: &mut Xoshiro256PlusPlus) -> Vec<f32> {
        let r = self.args.rank;
        let scale = (r.max(1) as f64).powf(-0.25) as f32;
        (0..r)
            .map(|_| scale * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, rng))
            .collect()
    }

    /// The rows of user `u`, in output order (time order with timestamps, else item order).
    pub fn user_rows(&self, u: u32) -> Vec<Row> {
        let n = self.counts[u as usize] as usize;
        let mut rng = stream(self.args.seed, FIRST_USER_STREAM + u as u64);
        let x = self.user_vector(&mut rng);
        let items = self.args.items as usize;
        let want = (OVERSAMPLE * n).max(MIN_CANDIDATES);
        let mut drawn: Vec<u32> = Vec::with_capacity(want);
        let mut cands: Vec<(u32, u32)> = Vec::new(); // (item, multiplicity)
        loop {
            drawn.extend((0..want).map(|_| {
                if rng.next_u64() < UNIFORM_SHARE_U64 {
                    below(&mut rng, items as u64) as u32
                } else {
                    self.popularity.sample(&mut rng) as u32
                }
            }));
            drawn.sort_unstable();
            cands.clear();
            for &i in &drawn {
                match cands.last_mut() {
                    Some((last, m)) if *last == i => *m += 1,
                    _ => cands.push((i, 1)),
                }
            }
            // Terminates: half the draws are uniform and n <= items / 4.
            if cands.len() >= n {
                break;
            }
        }
        let gumbel = Gumbel::new(0.0f64, 1.0).expect("Gumbel(0, 1) is valid");
        let tau = self.args.affinity;
        let r = self.args.rank;
        let mut keyed: Vec<(f64, u32)> = cands
            .iter()
            .map(|&(i, m)| {
                let mut key = (m as f64).ln() + self.log_ratio[i as usize] as f64 + gumbel.sample(&mut rng);
                if r > 0 && tau > 0.0 {
                    let v = &self.item_factors[i as usize * r..(i as usize + 1) * r];
                    let dot: f32 = x.iter().zip(v).map(|(a, b)| a * b).sum();
                    key += tau * dot as f64;
                }
                (key, i)
            })
            .collect();
        if keyed.len() > n {
            keyed.select_nth_unstable_by(n - 1, |a, b| b.0.total_cmp(&a.0));
            keyed.truncate(n);
        }
        let mut chosen: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
        chosen.sort_unstable();
        let purchases = Geometric::new(0.6).expect("Geometric(0.6) is valid");
        let period = self.args.days as u64 * 86_400;
        let mut rows: Vec<Row> = chosen
            .into_iter()
            .map(|item| Row {
                item,
                weight: if self.args.weights {
                    1 + purchases.sample(&mut rng).min(u32::MAX as u64 - 1) as u32
                } else {
                    1
                },
                time: if self.args.timestamps {
                    START_TIME + below(&mut rng, period) as i64
                } else {
                    0
                },
            })
            .collect();
        if self.args.timestamps {
            rows.sort_by_key(|r| (r.time, r.item));
        }
        rows
    }

    /// The header line (with its newline).
    pub fn header(&self) -> String {
        let mut h = String::from("user_id,item_id");
        if self.args.weights {
            h.push_str(",weight");
        }
        if self.args.timestamps {
            h.push_str(",timestamp");
        }
        if self.args.names {
            h.push_str(",name");
        }
        h.push('\n');
        h
    }

    /// The id of user `u`.
    pub fn user_id(&self, u: u32) -> String {
        format!("u{u:0w$}", w = self.user_width)
    }

    /// The id of item `i`.
    pub fn item_id(&self, i: u32) -> String {
        format!("sku-{i:0w$}", w = self.item_width)
    }

    fn format_user(&self, u: u32, out: &mut String) {
        use std::fmt::Write as _;
        let uid = self.user_id(u);
        for row in self.user_rows(u) {
            let _ = write!(out, "{uid},sku-{:0w$}", row.item, w = self.item_width);
            if self.args.weights {
                let _ = write!(out, ",{}", row.weight);
            }
            if self.args.timestamps {
                let _ = write!(out, ",{}", row.time);
            }
            if self.args.names {
                out.push(',');
                push_name(out, row.item);
            }
            out.push('\n');
        }
    }

    /// Writes the whole CSV to `w`, calling `progress(rows written, total)` after every block.
    pub fn write_csv(&self, w: &mut dyn Write, progress: &mut dyn FnMut(u64, u64)) -> io::Result<u64> {
        w.write_all(self.header().as_bytes())?;
        let total = self.args.interactions;
        let mut written = 0u64;
        let n_users = self.args.users;
        let mut start = 0u32;
        while start < n_users {
            let end = (start as u64 + BLOCK_USERS as u64).min(n_users as u64) as u32;
            let texts: Vec<String> = (start..end)
                .into_par_iter()
                .map(|u| {
                    let mut s = String::new();
                    self.format_user(u, &mut s);
                    s
                })
                .collect();
            for t in &texts {
                w.write_all(t.as_bytes())?;
            }
            written += self.counts[start as usize..end as usize]
                .iter()
                .map(|&c| c as u64)
                .sum::<u64>();
            progress(written, total);
            start = end;
        }
        Ok(written)
    }
}

/// Shares `k` interactions among `users` in proportion to LogNormal(0, 1) weights, each user
/// getting between 1 and `cap`; the total is exactly `k` (`users <= k <= users·cap`).
fn allocate(users: usize, k: u64, cap: u64, seed: u64) -> Vec<u32> {
    let mut rng = stream(seed, ACTIVITY_STREAM);
    let dist = LogNormal::new(0.0f64, 1.0).expect("LogNormal(0, 1) is valid");
    let a: Vec<f64> = (0..users).map(|_| dist.sample(&mut rng)).collect();
    let sum: f64 = a.iter().sum();
    let spare = (k - users as u64) as f64;
    let mut counts: Vec<u64> = a
        .iter()
        .map(|&w| (1 + (spare * w / sum).floor() as u64).min(cap))
        .collect();
    let mut left = k - counts.iter().sum::<u64>();
    // Rounding and the cap leave a remainder: one more each, round robin, to users below cap.
    while left > 0 {
        for c in counts.iter_mut() {
            if left == 0 {
                break;
            }
            if *c < cap {
                *c += 1;
                left -= 1;
            }
        }
    }
    counts.into_iter().map(|c| c as u32).collect()
}

const ADJECTIVES: &[&str] = &[
    "Blue", "Red", "Green", "Vintage", "Small", "Large", "Wooden", "Glass", "Silver", "Golden", "Striped",
    "Floral", "Retro", "Classic", "Mini", "Jumbo",
];
const NOUNS: &[&str] = &[
    "Mug", "Lantern", "Candle", "Notebook", "Bag", "Frame", "Clock", "Vase", "Cushion", "Tin", "Bowl",
    "Plate", "Basket", "Mirror", "Lamp", "Box", "Card", "Ribbon", "Jar", "Teapot",
];

/// A fixed product name for item `i` ("Blue Mug 42"): no commas or quotes.
fn push_name(out: &mut String, i: u32) {
    use std::fmt::Write as _;
    let a = ADJECTIVES[i as usize % ADJECTIVES.len()];
    let n = NOUNS[(i as usize / ADJECTIVES.len()) % NOUNS.len()];
    let _ = write!(out, "{a} {n} {i}");
}

/// Prints a progress line to stderr at most every 5 s (and never for runs under 5 s).
/// The only place the generator reports progress, so it can be swapped for a shared module.
/// Progress of the interactions written (a bar on a terminal, periodic lines otherwise; see
/// [`crate::progress`]).
fn progress_printer(total: u64) -> (crate::progress::Progress, impl FnMut(u64, u64)) {
    let bar = crate::progress::Progress::count("generate", "interactions", total);
    let handle = bar.clone();
    let mut shown = 0;
    (bar, move |done: u64, _total: u64| {
        handle.inc(done.saturating_sub(shown));
        shown = shown.max(done);
    })
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Writes the generated CSV (gzip when `path` ends in .gz) atomically.
pub fn write_file(generator: &Generator, path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
    let mut rows = 0;
    reco_core::model_file::write_atomic_with(path, |w| {
        if is_gzip(path) {
            let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
            rows = generator.write_csv(&mut gz, progress)?;
            gz.finish()?;
        } else {
            rows = generator.write_csv(w, progress)?;
        }
        Ok(())
    })
    .map_err(|e| ServerError::io(path, e))?;
    Ok(rows)
}

/// Runs `reco generate`.
pub fn run(args: &GenerateArgs) -> Result<()> {
    let start = Instant::now();
    let generator = Generator::new(args)?;
    let (bar, mut on_rows) = progress_printer(args.interactions);
    let rows = write_file(&generator, &args.out, &mut on_rows)?;
    bar.finish();
    println!(
        "wrote {}: {rows} interactions, {} users, {} items, rank {}, zipf {}, affinity {}, seed {} in {:.1} s",
        args.out.display(),
        args.users,
        args.items,
        args.rank,
        args.zipf,
        args.affinity,
        args.seed,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_exact_bounded_and_heavy_tailed() {
        let c = allocate(1000, 20_000, 250, 7);
        assert_eq!(c.iter().map(|&x| x as u64).sum::<u64>(), 20_000);
        assert!(c.iter().all(|&x| (1..=250).contains(&x)));
        let mut s = c.clone();
        s.sort_unstable();
        // Heavy tail: the top 10 % of users hold far more than 10 % of the interactions.
        let top: u64 = s[900..].iter().map(|&x| x as u64).sum();
        assert!(top > 5_000, "top decile holds {top}");
        // Extremes: every user at the cap, every user at 1.
        assert!(allocate(10, 100, 10, 1).iter().all(|&x| x == 10));
        assert!(allocate(10, 10, 10, 1).iter().all(|&x| x == 1));
    }

    #[test]
    fn rows_are_distinct_and_counted() {
        let args = GenerateArgs {
            users: 50,
            items: 40,
            interactions: 500,
            zipf: 2.5,
            ..GenerateArgs::default()
        };
        let g = Generator::new(&args).unwrap();
        let mut total = 0;
        for u in 0..50 {
            let rows = g.user_rows(u);
            let mut items: Vec<u32> = rows.iter().map(|r| r.item).collect();
            items.sort_unstable();
            items.dedup();
            assert_eq!(items.len(), rows.len(), "duplicate item for user {u}");
            assert_eq!(rows.len(), g.counts()[u as usize] as usize);
            total += rows.len();
        }
        assert_eq!(total, 500);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        let base = GenerateArgs::default();
        for (args, needle) in [
            (
                GenerateArgs {
                    interactions: 10,
                    ..base.clone()
                },
                "below --users",
            ),
            (
                GenerateArgs {
                    items: 8,
                    interactions: 30_000,
                    ..base.clone()
                },
                "raise --users or --items",
            ),
            (
                GenerateArgs {
                    zipf: f64::NAN,
                    ..base.clone()
                },
                "--zipf",
            ),
            (
                GenerateArgs {
                    affinity: -1.0,
                    ..base.clone()
                },
                "--affinity",
            ),
            (
                GenerateArgs {
                    rank: 5000,
                    ..base.clone()
                },
                "--rank",
            ),
            (
                GenerateArgs {
                    users: 0,
                    ..base.clone()
                },
                "at least 1",
            ),
        ] {
            let e = Generator::new(&args).err().expect("must fail").to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
