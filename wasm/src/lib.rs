//! reco-wasm: the reco serving facade ([`reco_core::recommender::Recommender`]) for
//! JavaScript — browsers, workers and Node — via wasm-bindgen.
//!
//! The bindings are thin type conversions: every answer comes from the same code as the
//! native `reco recommend`, so the same model file gives the same items in the same order.
//! A basket folded in with [`Recommender::recommend_for_items`] never leaves the device.
//! Inference is single-threaded; dot products use wasm `simd128` when the crate is built with
//! `-C target-feature=+simd128` (see `.cargo/config.toml`).
use js_sys::{Float32Array, Object, Reflect, Uint32Array};
use reco_core::recommender::{self as core_rec, RecommendOptions, Recommendations, Scratch};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `recommend` and `recommendForItems`. */
export interface RecommendOptions {
  /** Also return items the user (or the basket) already has. Default false. */
  includeSeen?: boolean;
  /** Item ids never to return. */
  exclude?: string[];
  /** When given, only these item ids may be returned. */
  candidates?: string[];
}

/** Which part of an answer came from the popularity fallback. */
export type Fallback = "none" | "partial" | "popularity";

/** One recommended item. */
export interface Recommendation {
  /** Product name ("" when the model file has none). */
  product: string;
  /** External item id. */
  itemId: string;
  /** Model score; for a fallback item its popularity (training users who have it). */
  score: number;
  /** Dense item index (position in `itemIds()`). */
  index: number;
  /** True when this item came from the popularity fallback. */
  fallback: boolean;
}

/** An answer: items best first, which fallback applied, and the request ids that are unknown. */
export interface Recommendations {
  items: Recommendation[];
  fallback: Fallback;
  /** Ids in the request (basket, exclude or candidates) that the model does not know. */
  unknownItems: string[];
}

/** The same answer as typed arrays, for callers that need speed. */
export interface TypedRecommendations {
  /** Dense item indices, best first (look names up with `itemId(i)` / `itemName(i)`). */
  indices: Uint32Array;
  /** Scores, parallel to `indices`. */
  scores: Float32Array;
  fallback: Fallback;
  unknownItems: string[];
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `RecommendOptions` (TypeScript interface above).
    #[wasm_bindgen(typescript_type = "RecommendOptions")]
    pub type JsRecommendOptions;
    /// `Recommendations` (TypeScript interface above).
    #[wasm_bindgen(typescript_type = "Recommendations")]
    pub type JsRecommendations;
    /// `TypedRecommendations` (TypeScript interface above).
    #[wasm_bindgen(typescript_type = "TypedRecommendations")]
    pub type JsTypedRecommendations;
}

/// The keys of [`Options`] as JavaScript spells them; any other key is an error (catches typos).
const OPTION_KEYS: [&str; 3] = ["includeSeen", "exclude", "candidates"];

/// The wire form of [`JsRecommendOptions`].
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Options {
    include_seen: Option<bool>,
    exclude: Option<Vec<String>>,
    candidates: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    product: &'a str,
    item_id: &'a str,
    score: f32,
    index: u32,
    fallback: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    items: Vec<Item<'a>>,
    fallback: &'static str,
    unknown_items: &'a [String],
}

/// The kernel family compiled in: `"simd128"` for the shipped package, else `"scalar"`.
#[wasm_bindgen(js_name = simdBackend)]
pub fn simd_backend() -> String {
    reco_core::kernels::simd_backend().into()
}

/// A model file loaded in memory, answering by external ids.
#[wasm_bindgen]
pub struct Recommender {
    inner: core_rec::Recommender,
    scratch: Scratch,
}

fn options(js: Option<JsRecommendOptions>) -> Result<RecommendOptions, JsError> {
    let raw: Options = match js {
        None => Options::default(),
        Some(v) => {
            let v: JsValue = v.into();
            if let Some(obj) = v.dyn_ref::<Object>() {
                let keys = Object::keys(obj);
                if let Some(bad) = keys.iter().find(|k| !OPTION_KEYS.iter().any(|o| k == o)) {
                    let bad = bad.as_string().unwrap_or_default();
                    return Err(JsError::new(&format!(
                        "invalid options: unknown key `{bad}` (known: {})",
                        OPTION_KEYS.join(", ")
                    )));
                }
            }
            serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("invalid options: {e}")))?
        }
    };
    Ok(RecommendOptions {
        include_seen: raw.include_seen.unwrap_or(false),
        exclude: raw.exclude.unwrap_or_default(),
        candidates: raw.candidates,
    })
}

fn n_arg(n: f64) -> Result<usize, JsError> {
    if n.fract() == 0.0 && n >= 1.0 && n <= core_rec::MAX_N as f64 {
        Ok(n as usize)
    } else {
        Err(JsError::new(&format!(
            "invalid n = {n}: must be an integer between 1 and {}",
            core_rec::MAX_N
        )))
    }
}

fn core_err(e: reco_core::RecoError) -> JsError {
    JsError::new(&e.to_string())
}

impl Recommender {
    fn to_js(&self, r: &Recommendations) -> Result<JsRecommendations, JsError> {
        let answer = Answer {
            items: r
                .items
                .iter()
                .map(|it| Item {
                    product: self.inner.item_name(it.index),
                    item_id: self.inner.item_id(it.index),
                    score: it.score,
                    index: it.index,
                    fallback: it.fallback,
                })
                .collect(),
            fallback: r.fallback.as_str(),
            unknown_items: &r.unknown_items,
        };
        let value = answer.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?;
        Ok(value.unchecked_into())
    }

    fn to_typed(r: &Recommendations) -> Result<JsTypedRecommendations, JsError> {
        let indices: Vec<u32> = r.items.iter().map(|it| it.index).collect();
        let scores: Vec<f32> = r.items.iter().map(|it| it.score).collect();
        let out = Object::new();
        let unknown: js_sys::Array = r.unknown_items.iter().map(|s| JsValue::from_str(s)).collect();
        let set = |k: &str, v: &JsValue| Reflect::set(&out, &JsValue::from_str(k), v).map(|_| ());
        set("indices", &Uint32Array::from(indices.as_slice()))
            .and_then(|_| set("scores", &Float32Array::from(scores.as_slice())))
            .and_then(|_| set("fallback", &JsValue::from_str(r.fallback.as_str())))
            .and_then(|_| set("unknownItems", &unknown))
            .map_err(|_| JsError::new("cannot build the result object"))?;
        Ok(JsValue::from(out).unchecked_into())
    }

    fn basket(
        &mut self,
        item_ids: &[String],
        n: f64,
        opts: Option<JsRecommendOptions>,
    ) -> Result<Recommendations, JsError> {
        let (n, opts) = (n_arg(n)?, options(opts)?);
        self.inner
            .recommend_items(item_ids, n, &opts, &mut self.scratch)
            .map_err(core_err)
    }

    fn user(
        &mut self,
        user_id: &str,
        n: f64,
        opts: Option<JsRecommendOptions>,
    ) -> Result<Recommendations, JsError> {
        let (n, opts) = (n_arg(n)?, options(opts)?);
        self.inner
            .recommend_user(user_id, n, &opts, &mut self.scratch)
            .map_err(core_err)
    }
}

#[wasm_bindgen]
impl Recommender {
    /// Loads a model file (a web model from `reco export`, or any reco model file). A corrupt,
    /// truncated or newer-version file throws an `Error` whose message says which.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Recommender, JsError> {
        let inner = core_rec::Recommender::from_bytes(bytes).map_err(core_err)?;
        Ok(Recommender {
            inner,
            scratch: Scratch::default(),
        })
    }

    /// Top-`n` for a user id in the file; an unknown user gets the most popular items
    /// (`fallback: "popularity"`).
    pub fn recommend(
        &mut self,
        #[wasm_bindgen(js_name = userId)] user_id: &str,
        n: f64,
        options: Option<JsRecommendOptions>,
    ) -> Result<JsRecommendations, JsError> {
        let r = self.user(user_id, n, options)?;
        self.to_js(&r)
    }

    /// `recommend` as typed arrays (`indices`, `scores`).
    #[wasm_bindgen(js_name = recommendTyped)]
    pub fn recommend_typed(
        &mut self,
        #[wasm_bindgen(js_name = userId)] user_id: &str,
        n: f64,
        options: Option<JsRecommendOptions>,
    ) -> Result<JsTypedRecommendations, JsError> {
        Self::to_typed(&self.user(user_id, n, options)?)
    }

    /// Top-`n` for an anonymous basket (fold-in, computed here: the basket never leaves the
    /// device). Basket items are excluded unless `includeSeen`; unknown ids are listed in
    /// `unknownItems`; a basket with no known item gets the popularity fallback.
    #[wasm_bindgen(js_name = recommendForItems)]
    pub fn recommend_for_items(
        &mut self,
        #[wasm_bindgen(js_name = itemIds)] item_ids: Vec<String>,
        n: f64,
        options: Option<JsRecommendOptions>,
    ) -> Result<JsRecommendations, JsError> {
        let r = self.basket(&item_ids, n, options)?;
        self.to_js(&r)
    }

    /// `recommendForItems` as typed arrays (`indices`, `scores`).
    #[wasm_bindgen(js_name = recommendForItemsTyped)]
    pub fn recommend_for_items_typed(
        &mut self,
        #[wasm_bindgen(js_name = itemIds)] item_ids: Vec<String>,
        n: f64,
        options: Option<JsRecommendOptions>,
    ) -> Result<JsTypedRecommendations, JsError> {
        Self::to_typed(&self.basket(&item_ids, n, options)?)
    }

    /// The `n` items most similar to `itemId` (itself excluded). Throws for an unknown item id
    /// or a model without item similarity (popularity).
    #[wasm_bindgen(js_name = similarItems)]
    pub fn similar_items(
        &mut self,
        #[wasm_bindgen(js_name = itemId)] item_id: &str,
        n: f64,
    ) -> Result<JsRecommendations, JsError> {
        let r = self
            .inner
            .similar_items(item_id, n_arg(n)?, &mut self.scratch)
            .map_err(core_err)?;
        self.to_js(&r)
    }

    /// The model family: `als`, `popularity`, `lightfm`, `knn`, `item-knn`, `ease` or `rp3beta`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.inner.kind().as_str().into()
    }

    /// Number of items in the catalog.
    #[wasm_bindgen(getter, js_name = itemCount)]
    pub fn item_count(&self) -> usize {
        self.inner.n_items()
    }

    /// Number of users the file knows by id (0 for a `--no-users` export).
    #[wasm_bindgen(getter, js_name = userCount)]
    pub fn user_count(&self) -> usize {
        self.inner.n_users()
    }

    /// Every item id, by dense index.
    #[wasm_bindgen(js_name = itemIds)]
    pub fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }

    /// Every product name, by dense index ("" where unknown).
    #[wasm_bindgen(js_name = itemNames)]
    pub fn item_names(&self) -> Vec<String> {
        (0..self.inner.n_items() as u32)
            .map(|i| self.inner.item_name(i).to_string())
            .collect()
    }

    /// Every user id the file knows, by dense index.
    #[wasm_bindgen(js_name = userIds)]
    pub fn user_ids(&self) -> Vec<String> {
        self.inner.users().ids().to_vec()
    }

    /// The dense index of item `itemId`, `undefined` when unknown.
    #[wasm_bindgen(js_name = itemIndex)]
    pub fn item_index(&self, #[wasm_bindgen(js_name = itemId)] item_id: &str) -> Option<u32> {
        self.inner.items().index_of(item_id)
    }

    /// The id of item `index`, `undefined` when out of range.
    #[wasm_bindgen(js_name = itemId)]
    pub fn item_id(&self, index: u32) -> Option<String> {
        self.inner.items().id(index).map(str::to_string)
    }

    /// The product name of item `index` ("" when unknown or out of range).
    #[wasm_bindgen(js_name = itemName)]
    pub fn item_name(&self, index: u32) -> String {
        self.inner.item_name(index).into()
    }

    /// True when the file knows user `userId` (so `recommend` is personal, not popularity).
    #[wasm_bindgen(js_name = hasUser)]
    pub fn has_user(&self, #[wasm_bindgen(js_name = userId)] user_id: &str) -> bool {
        self.inner.users().index_of(user_id).is_some()
    }

    /// The item ids user `userId` had in training (empty when unknown).
    #[wasm_bindgen(js_name = userItems)]
    pub fn user_items(&self, #[wasm_bindgen(js_name = userId)] user_id: &str) -> Vec<String> {
        let Some(u) = self.inner.users().index_of(user_id) else {
            return Vec::new();
        };
        self.inner
            .seen_items(u)
            .iter()
            .map(|&i| self.inner.item_id(i).to_string())
            .collect()
    }

    /// Popularity (number of training users) per item, by dense index.
    pub fn popularity(&self) -> Float32Array {
        Float32Array::from(self.inner.popularity())
    }
}
