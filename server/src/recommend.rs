//! `reco recommend`: answers from a model file on the command line.
use std::path::PathBuf;

use clap::Args;
use reco_core::model_file::ModelKind;
use reco_core::recommender::{RecommendOptions, Recommendations, RecommendedItem, Recommender, Scratch};
use serde_json::json;

use crate::error::{Result, ServerError};

/// `reco recommend` options.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["user", "items", "similar"])))]
pub struct RecommendArgs {
    /// Model file written by `reco train` (or `reco export`).
    #[arg(long)]
    pub model: PathBuf,
    /// A user id from the training data (an unknown id gets the popularity fallback).
    #[arg(long)]
    pub user: Option<String>,
    /// An anonymous basket of item ids, comma-separated (fold-in).
    #[arg(long, value_delimiter = ',')]
    pub items: Option<Vec<String>>,
    /// Items similar to this item id.
    #[arg(long)]
    pub similar: Option<String>,
    /// Number of items to return.
    #[arg(short, long, default_value_t = 10)]
    pub n: usize,
    /// Item ids never to return, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Only return these item ids, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub candidates: Option<Vec<String>>,
    /// Also return items the user (or basket) already has.
    #[arg(long)]
    pub include_seen: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Score every item even when the file has an approximate top-N index.
    #[arg(long)]
    pub exact: bool,
}

/// The answer as JSON: `{"model", "fallback", "unknown_items", "items": [{item_id, product, score, fallback}]}`
/// (`score` of a fallback item is its popularity: the number of training users who have it).
pub fn to_json(rec: &Recommender, recs: &Recommendations) -> serde_json::Value {
    let items: Vec<_> = recs
        .items
        .iter()
        .map(|i| {
            json!({
                "item_id": rec.item_id(i.index),
                "product": rec.item_name(i.index),
                "score": i.score,
                "fallback": i.fallback,
            })
        })
        .collect();
    json!({
        "model": rec.kind().as_str(),
        "fallback": recs.fallback.as_str(),
        "unknown_items": recs.unknown_items,
        "items": items,
    })
}

/// Runs `reco recommend`.
pub fn run(args: &RecommendArgs) -> Result<()> {
    let bytes = crate::model_bytes::ModelBytes::open(&args.model)
        .map_err(|e| ServerError::model_file(&args.model, e))?;
    let mut rec = Recommender::from_bytes(&bytes)
        .map_err(|e| ServerError::Usage(format!("{}: {e}", args.model.display())))?;
    if args.exact {
        rec.set_approximate(false, None);
    }
    let opts = RecommendOptions {
        include_seen: args.include_seen,
        exclude: args.exclude.clone(),
        candidates: args.candidates.clone(),
    };
    let mut scratch = Scratch::default();
    let recs = if let Some(user) = &args.user {
        rec.recommend_user(user, args.n, &opts, &mut scratch)?
    } else if let Some(items) = &args.items {
        rec.recommend_items(items, args.n, &opts, &mut scratch)?
    } else {
        let item = args.similar.as_deref().unwrap_or_default();
        rec.similar_items(item, args.n, &mut scratch)?
    };
    if args.json {
        println!("{}", to_json(&rec, &recs));
        return Ok(());
    }
    if !recs.unknown_items.is_empty() {
        eprintln!("unknown item ids (ignored): {}", recs.unknown_items.join(", "));
    }
    if recs.fallback.as_str() == "popularity" {
        eprintln!("no model evidence for this query: showing the most popular items");
    }
    println!("{:>4}  {:<10} {:<40} {:>9}", "rank", "item", "product", "score");
    for (rank, i) in recs.items.iter().enumerate() {
        println!(
            "{:>4}  {:<10} {:<40} {:>9}",
            rank + 1,
            rec.item_id(i.index),
            truncate(rec.item_name(i.index), 40),
            score_cell(rec.kind(), i)
        );
    }
    Ok(())
}

/// The score column: the model score, or for a popularity-fallback item (whose score is its
/// popularity) `popular (312 users)`; a popularity model's own scores read `312 users`.
pub fn score_cell(kind: ModelKind, item: &RecommendedItem) -> String {
    if item.fallback {
        format!("popular ({} users)", item.score)
    } else if kind == ModelKind::Popularity {
        format!("{} users", item.score)
    } else {
        format!("{:.4}", item.score)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).chain(['…']).collect()
    }
}
