//! Item side features for the LightFM-style model, derived from the item catalog.
//!
//! For every item: its identity feature, one `word:<w>` feature per distinct word of its
//! product name (lower-cased ASCII letters, at least 3 long, not a stop word, and shared by at
//! least 2 items — a word of one item adds nothing its identity feature does not), and one
//! `price:<band>` feature for its median unit price in power-of-two bands (`price:1-2` for
//! 1 ≤ p < 2, `price:<0.25`, `price:>=64`). Each item's row is normalized to sum to 1 (as
//! LightFM's `Dataset` does), so its representation is the mean of its feature embeddings.
use std::collections::{BTreeMap, BTreeSet};

use reco_core::lightfm::with_identity;
use reco_core::CsrMatrix;

const STOP_WORDS: [&str; 8] = ["and", "the", "for", "with", "set", "of", "in", "size"];

/// Lower-case words of a product name that can be features.
fn words(name: &str) -> BTreeSet<String> {
    name.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3)
        .map(|w| w.to_ascii_lowercase())
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// The price band name of a unit price.
fn price_band(price: f32) -> String {
    if price < 0.25 {
        return "price:<0.25".into();
    }
    if price >= 64.0 {
        return "price:>=64".into();
    }
    let lo = 2f32.powi(price.log2().floor() as i32);
    format!("price:{}-{}", lo, lo * 2.0)
}

/// Item features (identity + words + price band, rows summing to 1) and their names.
pub fn derive(names: &[String], prices: &[Option<f32>]) -> (CsrMatrix, Vec<String>) {
    let n = names.len();
    let per_item: Vec<Vec<String>> = (0..n)
        .map(|i| {
            let mut f: Vec<String> = words(&names[i])
                .into_iter()
                .map(|w| format!("word:{w}"))
                .collect();
            if let Some(p) = prices
                .get(i)
                .copied()
                .flatten()
                .filter(|p| p.is_finite() && *p > 0.0)
            {
                f.push(price_band(p));
            }
            f
        })
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in per_item.iter().flatten() {
        *counts.entry(f).or_default() += 1;
    }
    let vocabulary: Vec<&str> = counts.iter().filter(|(_, &c)| c >= 2).map(|(f, _)| *f).collect();
    let column: BTreeMap<&str, u32> = vocabulary
        .iter()
        .enumerate()
        .map(|(c, f)| (*f, c as u32))
        .collect();
    let triples: Vec<(u32, u32, f32)> = per_item
        .iter()
        .enumerate()
        .flat_map(|(i, fs)| {
            fs.iter()
                .filter_map(|f| column.get(f.as_str()))
                .map(move |&c| (i as u32, c, 1.0))
        })
        .collect();
    let extra = CsrMatrix::from_triples(n, vocabulary.len(), &triples).expect("indices are in range");
    let mut feature_names: Vec<String> = (0..n).map(|i| format!("item:{i}")).collect();
    feature_names.extend(vocabulary.iter().map(|f| f.to_string()));
    (with_identity(&extra, true), feature_names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_words_and_price_bands_become_normalized_features() {
        let names = vec![
            "WHITE HEART T-LIGHT".to_string(),
            "RED HEART".into(),
            "Lamp".into(),
        ];
        let prices = vec![Some(2.55), Some(3.0), None];
        let (m, names) = derive(&names, &prices);
        // Shared: word:heart (items 0, 1) and price:2-4 (items 0, 1); "white", "red", "light",
        // "lamp" occur once and are dropped.
        assert_eq!(&names[3..], ["price:2-4", "word:heart"]);
        assert_eq!(m.n_cols(), 5);
        let (cols, vals) = m.row(0);
        assert_eq!(cols, [0, 3, 4]);
        assert!(vals.iter().all(|&v| (v - 1.0 / 3.0).abs() < 1e-6));
        assert_eq!(m.row(2), (&[2u32][..], &[1.0f32][..]));
        assert_eq!(price_band(0.1), "price:<0.25");
        assert_eq!(price_band(0.5), "price:0.5-1");
        assert_eq!(price_band(100.0), "price:>=64");
    }
}
