//! `reco replay`: does reacting to live events pay? Trains on every (customer, product) pair
//! first bought before a cut-off date, then replays the later first purchases in time order
//! and, for each, asks whether the product was in the customer's top-N just before it:
//! - `frozen`: the model trained at the cut-off, as a server without events answers;
//! - `live`: the same model plus every replayed event so far, through
//!   [`Recommender::recommend_user_live`] — the code path of `reco serve --events-dir`;
//! - `live+retrain`: as `live`, and every `--retrain-every` of event time the model is
//!   retrained on the training pairs plus the events so far (as `--retrain-every` does).
//!
//! HR@N = share of replayed purchases found in the top N; NDCG@N = mean of 1/log2(rank + 2)
//! over them (0 when missed). A product no model knows yet counts as a miss for all three.
use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use reco_core::recommender::{LiveHistory, RecommendOptions, Recommender, Scratch};
use reco_core::{IdMap, Interactions, InteractionsBuilder};

use crate::dataset::Dataset;
use crate::error::{Result, ServerError};
use crate::progress::Progress;
use crate::train::{fit, set_threads, ModelArgs, ModelChoice};

/// `reco replay` options.
#[derive(Debug, Args)]
#[command(after_help = crate::progress::HELP)]
pub struct ReplayArgs {
    /// The features folder written by `reco ingest` (it must hold interaction times).
    #[arg(long, default_value = crate::ingest::DEFAULT_FEATURES)]
    pub features: PathBuf,
    /// Models to compare (comma-separated or repeated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ModelChoice::Als, ModelChoice::ItemKnn, ModelChoice::Popularity])]
    pub model: Vec<ModelChoice>,
    /// Cut-off date (YYYY-MM-DD, UTC): pairs first bought before it train the model, later
    /// ones are replayed [default: the date before which 80 % of the pairs were first bought].
    #[arg(long)]
    pub cutoff: Option<String>,
    /// Event time between retrains of the `live+retrain` mode (e.g. 7d, 24h).
    #[arg(long, default_value = "7d", value_parser = crate::serve::parse_duration)]
    pub retrain_every: std::time::Duration,
    /// List length N of HR@N and NDCG@N.
    #[arg(long, default_value_t = 10)]
    pub n: usize,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Hyperparameters of the models.
    #[command(flatten)]
    pub hyper: ModelArgs,
}

/// One replayed purchase.
struct Purchase {
    ts: i64,
    user: String,
    item: String,
}

/// Hits of one mode.
#[derive(Default, Clone, Copy)]
struct Score {
    hits: u64,
    gain: f64,
}

impl Score {
    fn record(&mut self, rank: Option<usize>) {
        if let Some(r) = rank {
            self.hits += 1;
            self.gain += 1.0 / ((r + 2) as f64).log2();
        }
    }
}

/// Unix seconds of a `--cutoff` (a date `YYYY-MM-DD` at 00:00 UTC, a date-time, or Unix
/// seconds).
fn parse_date(s: &str) -> Result<i64> {
    crate::ingest::time::parse_timestamp(s)
        .ok_or_else(|| ServerError::Usage(format!("--cutoff `{s}` is not a date like 2011-10-01")))
}

/// The `YYYY-MM-DD` of Unix seconds `ts` (UTC).
fn date(ts: i64) -> String {
    crate::ingest::time::format_utc(ts)[..10].to_string()
}

/// Trains `model` on `base` plus `events`, with names and prices looked up by item id.
fn train(
    model: ModelChoice,
    base: &[(String, String, f32)],
    events: &[Purchase],
    catalog: &HashMap<&str, (String, Option<f32>)>,
    hyper: &ModelArgs,
) -> Result<Recommender> {
    let mut b = InteractionsBuilder::with_maps(IdMap::new(), IdMap::new());
    for (u, i, w) in base {
        b.push(u, i, *w);
    }
    for p in events {
        b.push(&p.user, &p.item, 1.0);
    }
    let data: Interactions = b.build()?;
    let (names, prices): (Vec<String>, Vec<Option<f32>>) = data
        .items
        .ids()
        .iter()
        .map(|id| catalog.get(id.as_str()).cloned().unwrap_or_default())
        .unzip();
    let trained = crate::progress::muted(|| fit(model, &data, &names, &prices, hyper))?;
    Ok(Recommender::from_model_file(trained.file)?)
}

/// Rank of `item` in the top `n` of `user` (with live history), if there.
fn rank(
    rec: &Recommender,
    user: &str,
    item: &str,
    live: LiveHistory<'_>,
    n: usize,
    s: &mut Scratch,
) -> Result<Option<usize>> {
    let Some(target) = rec.items().index_of(item) else {
        return Ok(None);
    };
    let recs = rec.recommend_user_live(user, live, n, &RecommendOptions::default(), s)?;
    Ok(recs.items.iter().position(|r| r.index == target))
}

/// The events of each user and the popularity deltas, as the server keeps them for `rec`.
#[derive(Default)]
struct LiveState {
    users: HashMap<String, Vec<(u32, f32)>>,
    popularity: HashMap<u32, f32>,
}

impl LiveState {
    fn add(&mut self, rec: &Recommender, p: &Purchase) {
        let Some(i) = rec.items().index_of(&p.item) else {
            return;
        };
        let list = self.users.entry(p.user.clone()).or_default();
        let had = list.iter().any(|&(j, _)| j == i)
            || rec
                .users()
                .index_of(&p.user)
                .is_some_and(|u| rec.seen_items(u).binary_search(&i).is_ok());
        if !had {
            *self.popularity.entry(i).or_default() += 1.0;
        }
        list.push((i, 1.0));
    }
}

/// Runs `reco replay`.
pub fn run(args: &ReplayArgs) -> Result<()> {
    set_threads(args.threads)?;
    if args.n == 0 || args.n > reco_core::recommender::MAX_N {
        return Err(ServerError::Usage(format!(
            "--n must be between 1 and {}",
            reco_core::recommender::MAX_N
        )));
    }
    let data = Dataset::load_features(&args.features)?;
    let Some(times) = data.timestamps.as_ref() else {
        return Err(ServerError::Usage(format!(
            "{} has no interaction times; ingest a file with a time column (--time-col) to replay it",
            args.features.display()
        )));
    };
    let m = &data.interactions.matrix;
    let mut pairs: Vec<(i64, u32, u32, f32)> = Vec::with_capacity(m.nnz());
    for u in 0..m.n_rows() {
        let start = m.indptr()[u];
        let (items, weights) = m.row(u);
        for (k, (&i, &w)) in items.iter().zip(weights).enumerate() {
            pairs.push((times[start + k], u as u32, i, w));
        }
    }
    pairs.sort_by_key(|&(t, u, i, _)| (t, u, i));
    let cutoff = match &args.cutoff {
        Some(s) => parse_date(s)?,
        None => {
            let t = pairs.get(pairs.len() * 8 / 10).map_or(0, |p| p.0);
            t - t.rem_euclid(86_400)
        }
    };
    let id = |map: &IdMap, k: u32| map.id(k).unwrap_or("").to_string();
    let (users, items) = (&data.interactions.users, &data.interactions.items);
    let base: Vec<(String, String, f32)> = pairs
        .iter()
        .filter(|p| p.0 < cutoff)
        .map(|&(_, u, i, w)| (id(users, u), id(items, i), w))
        .collect();
    let replay: Vec<Purchase> = pairs
        .iter()
        .filter(|p| p.0 >= cutoff)
        .map(|&(ts, u, i, _)| Purchase {
            ts,
            user: id(users, u),
            item: id(items, i),
        })
        .collect();
    if base.is_empty() || replay.is_empty() {
        return Err(ServerError::Usage(format!(
            "the cut-off {} leaves {} training pairs and {} to replay; choose a date inside the data ({} to {})",
            date(cutoff),
            base.len(),
            replay.len(),
            date(pairs.first().map_or(0, |p| p.0)),
            date(pairs.last().map_or(0, |p| p.0)),
        )));
    }
    let catalog: HashMap<&str, (String, Option<f32>)> = items
        .ids()
        .iter()
        .enumerate()
        .map(|(k, id)| (id.as_str(), (data.item_names[k].clone(), data.item_prices[k])))
        .collect();
    let known_users: std::collections::HashSet<&str> = base.iter().map(|(u, _, _)| u.as_str()).collect();
    let new_user_events = replay
        .iter()
        .filter(|p| !known_users.contains(p.user.as_str()))
        .count();
    let period = args.retrain_every.as_secs() as i64;
    eprintln!(
        "replay: {} training pairs before {}, {} first purchases to replay up to {} ({} by customers new after the cut-off); retrain every {} days",
        base.len(),
        date(cutoff),
        replay.len(),
        date(replay.last().map_or(0, |p| p.ts)),
        new_user_events,
        period as f64 / 86_400.0
    );
    let mut rows = Vec::new();
    for &model in &args.model {
        let frozen_model = train(model, &base, &[], &catalog, &args.hyper)?;
        let mut retrained = train(model, &base, &[], &catalog, &args.hyper)?;
        let (mut live, mut live_rt) = (LiveState::default(), LiveState::default());
        let mut scores = [Score::default(); 3];
        let mut s = Scratch::default();
        let mut next_retrain = cutoff + period;
        let mut retrains = 0;
        let progress = Progress::count(format!("replay {}", model.kind()), "event", replay.len() as u64);
        let empty: &[(u32, f32)] = &[];
        for (k, p) in replay.iter().enumerate() {
            if p.ts >= next_retrain {
                retrained = train(model, &base, &replay[..k], &catalog, &args.hyper)?;
                live_rt = LiveState::default();
                retrains += 1;
                while next_retrain <= p.ts {
                    next_retrain += period;
                }
            }
            let frozen = LiveHistory::default();
            scores[0].record(rank(&frozen_model, &p.user, &p.item, frozen, args.n, &mut s)?);
            for (score, rec, state) in [(1, &frozen_model, &live), (2, &retrained, &live_rt)] {
                let pop: Vec<(u32, f32)> = if rec.kind() == reco_core::model_file::ModelKind::Popularity {
                    state.popularity.iter().map(|(&i, &c)| (i, c)).collect()
                } else {
                    Vec::new()
                };
                let history = LiveHistory {
                    items: state.users.get(&p.user).map_or(empty, Vec::as_slice),
                    popularity: &pop,
                };
                scores[score].record(rank(rec, &p.user, &p.item, history, args.n, &mut s)?);
            }
            live.add(&frozen_model, p);
            live_rt.add(&retrained, p);
            progress.inc(1);
        }
        progress.finish();
        rows.push((model, scores, retrains));
    }
    let total = replay.len() as f64;
    let n = args.n;
    println!(
        "| model | frozen HR@{n} | live HR@{n} | live+retrain HR@{n} | frozen NDCG@{n} | live NDCG@{n} | live+retrain NDCG@{n} | retrains |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (model, s, retrains) in rows {
        let hr = |x: &Score| x.hits as f64 / total;
        let ndcg = |x: &Score| x.gain / total;
        println!(
            "| {} | {:.4} | {:.4} ({:+.1} %) | {:.4} ({:+.1} %) | {:.4} | {:.4} | {:.4} | {retrains} |",
            model.kind(),
            hr(&s[0]),
            hr(&s[1]),
            100.0 * (hr(&s[1]) / hr(&s[0]).max(1e-12) - 1.0),
            hr(&s[2]),
            100.0 * (hr(&s[2]) / hr(&s[0]).max(1e-12) - 1.0),
            ndcg(&s[0]),
            ndcg(&s[1]),
            ndcg(&s[2]),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2011-10-01").unwrap(), 1_317_427_200);
        assert_eq!(date(1_317_427_200 + 3600), "2011-10-01");
        for bad in ["2011-13-01", "2011/10/01", "x", "2011-10-"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
