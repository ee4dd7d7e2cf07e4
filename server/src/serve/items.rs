//! The JSON of recommended items: the answer's item shape and its pre-serialized fragments.
use serde::Serialize;
use utoipa::ToSchema;

/// One recommended or similar item.
#[derive(Serialize, ToSchema)]
pub struct ItemOut<'a> {
    /// Product name ("" when the catalog has none).
    #[schema(example = "WHITE HANGING HEART T-LIGHT HOLDER")]
    pub product: &'a str,
    /// Item id.
    #[schema(example = "85123A")]
    pub item_id: &'a str,
    /// Model score, higher is better; a fallback item's popularity (training users who have it).
    #[schema(example = 0.91)]
    pub score: f32,
    /// Present and true when this item came from the popularity fallback (user-KNN).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

/// Pre-serialized JSON of every item up to its score (`{"product":…,"item_id":…,"score":`),
/// so answers are built by copying bytes instead of escaping strings per request.
pub struct ItemJson {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl ItemJson {
    /// The fragments of every item of `rec`.
    pub fn new(rec: &reco_core::recommender::Recommender) -> Self {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(rec.n_items());
        for i in 0..rec.n_items() as u32 {
            let item = ItemOut {
                product: rec.item_name(i),
                item_id: rec.item_id(i),
                score: 0.0,
                fallback: false,
            };
            // `{"product":…,"score":0.0}` minus the placeholder score and the closing brace.
            let json = serde_json::to_vec(&item).unwrap_or_default();
            bytes.extend_from_slice(json.strip_suffix(b"0.0}").unwrap_or(b"{\"score\":"));
            ends.push(bytes.len());
        }
        ItemJson { bytes, ends }
    }

    /// The fragment of item `index` (empty when out of range).
    pub fn get(&self, index: u32) -> &[u8] {
        let i = index as usize;
        match self.ends.get(i) {
            Some(&end) => &self.bytes[if i == 0 { 0 } else { self.ends[i - 1] }..end],
            None => b"{\"score\":",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_fragments_serialize_like_the_item_struct() {
        let mut b = reco_core::InteractionsBuilder::new();
        b.push("u", "A\"1", 1.0);
        b.push("u", "B", 1.0);
        let d = b.build().unwrap();
        let mut file = reco_core::popularity::PopularityModel::fit(&d.matrix)
            .unwrap()
            .to_model_file();
        let names = vec!["Café \"x\"\n".to_string(), String::new()];
        reco_core::recommender::attach_catalog(&mut file, &d, &names);
        let rec = reco_core::recommender::Recommender::from_model_file(file).unwrap();
        let frags = ItemJson::new(&rec);
        for i in 0..2u32 {
            let mut got = frags.get(i).to_vec();
            serde_json::to_writer(&mut got, &0.25f32).unwrap();
            got.push(b'}');
            let item = ItemOut {
                product: rec.item_name(i),
                item_id: rec.item_id(i),
                score: 0.25,
                fallback: false,
            };
            assert_eq!(
                String::from_utf8(got).unwrap(),
                serde_json::to_string(&item).unwrap()
            );
        }
    }
}
