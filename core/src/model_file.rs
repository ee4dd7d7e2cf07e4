//! Versioned, self-describing model files in the safetensors container.
//!
//! A model file is a standard safetensors file (8-byte little-endian header length, JSON
//! header, raw little-endian tensor bytes), so Python reads it with `safetensors.numpy`.
//! reco's own information lives in the header's `__metadata__` (string → string):
//!
//! | key | value |
//! |---|---|
//! | `reco.format` | `reco-model` (marks the file as ours) |
//! | `reco.format_version` | integer; this build reads up to [`FORMAT_VERSION`] |
//! | `reco.kind` | [`ModelKind`] name: `als`, `popularity`, `lightfm`, `knn`, `item-knn` |
//! | `reco.params` | JSON object: the hyperparameters used for training |
//! | `reco.training` | JSON object: training data summary (users, items, interactions, time) |
//! | `reco.item_ids`, `reco.item_names`, `reco.user_ids` | JSON arrays of strings |
//!
//! Tensors are f32 (or f16 when written with [`Precision::F16`]; always f32 in memory), u32
//! or u64. Each model kind documents the tensors it stores.
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use crate::error::{RecoError, Result};
use crate::matrix::CsrMatrix;

/// The newest model-file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const MARKER: &str = "reco-model";

/// The model families a file can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelKind {
    /// Implicit alternating least squares.
    Als,
    /// Most-interacted items.
    Popularity,
    /// LightFM-style hybrid matrix factorization (WARP / BPR).
    LightFm,
    /// User-based cosine KNN.
    UserKnn,
    /// Item-based cosine KNN.
    ItemKnn,
}

impl ModelKind {
    /// Every kind, in a stable order.
    pub const ALL: [ModelKind; 5] = [
        ModelKind::Als,
        ModelKind::Popularity,
        ModelKind::LightFm,
        ModelKind::UserKnn,
        ModelKind::ItemKnn,
    ];

    /// The name used in files, on the command line and in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Als => "als",
            ModelKind::Popularity => "popularity",
            ModelKind::LightFm => "lightfm",
            ModelKind::UserKnn => "knn",
            ModelKind::ItemKnn => "item-knn",
        }
    }

    /// Parses a name written by [`ModelKind::as_str`].
    pub fn parse(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How f32 tensors are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// 4 bytes per value, exact.
    #[default]
    F32,
    /// 2 bytes per value (IEEE half); converted back to f32 when loaded.
    F16,
}

/// A tensor held in memory.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    /// 32-bit floats.
    F32 {
        /// Dimensions, row-major.
        shape: Vec<usize>,
        /// Values.
        data: Vec<f32>,
    },
    /// 32-bit unsigned integers (indices).
    U32 {
        /// Dimensions, row-major.
        shape: Vec<usize>,
        /// Values.
        data: Vec<u32>,
    },
    /// 64-bit unsigned integers (offsets).
    U64 {
        /// Dimensions, row-major.
        shape: Vec<usize>,
        /// Values.
        data: Vec<u64>,
    },
}

/// The contents of a model file: kind, metadata and named tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// Which model family this is.
    pub kind: ModelKind,
    /// Hyperparameters used for training (a JSON object).
    pub params: Value,
    /// Training data summary (a JSON object).
    pub training: Value,
    /// External item ids, by dense item index.
    pub item_ids: Vec<String>,
    /// Product names, by dense item index (empty strings where unknown).
    pub item_names: Vec<String>,
    /// External user ids, by dense user index (may be empty for item-only models).
    pub user_ids: Vec<String>,
    /// Named tensors.
    pub tensors: BTreeMap<String, Tensor>,
}

struct Raw<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: alloc::borrow::Cow<'a, [u8]>,
}

impl safetensors::View for Raw<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> alloc::borrow::Cow<'_, [u8]> {
        alloc::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn corrupt(msg: impl Into<String>) -> RecoError {
    RecoError::CorruptModel(msg.into())
}

impl ModelFile {
    /// An empty file of the given kind.
    pub fn new(kind: ModelKind) -> Self {
        ModelFile {
            kind,
            params: Value::Object(Default::default()),
            training: Value::Object(Default::default()),
            item_ids: Vec::new(),
            item_names: Vec::new(),
            user_ids: Vec::new(),
            tensors: BTreeMap::new(),
        }
    }

    /// Fails with [`RecoError::WrongModelKind`] unless the file holds `kind`.
    pub fn expect_kind(&self, kind: ModelKind) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(RecoError::WrongModelKind {
                expected: kind.to_string(),
                found: self.kind.to_string(),
            })
        }
    }

    /// Stores an f32 tensor (`data.len()` must equal the product of `shape`).
    pub fn put_f32(&mut self, name: &str, shape: &[usize], data: Vec<f32>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors.insert(
            name.to_string(),
            Tensor::F32 {
                shape: shape.to_vec(),
                data,
            },
        );
    }

    /// Stores a u32 tensor.
    pub fn put_u32(&mut self, name: &str, shape: &[usize], data: Vec<u32>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors.insert(
            name.to_string(),
            Tensor::U32 {
                shape: shape.to_vec(),
                data,
            },
        );
    }

    /// Stores a u64 tensor.
    pub fn put_u64(&mut self, name: &str, shape: &[usize], data: Vec<u64>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors.insert(
            name.to_string(),
            Tensor::U64 {
                shape: shape.to_vec(),
                data,
            },
        );
    }

    /// Stores a CSR matrix as `{prefix}.indptr` (u64), `{prefix}.indices` (u32),
    /// `{prefix}.data` (f32) and `{prefix}.shape` (u64, `[rows, cols]`).
    pub fn put_csr(&mut self, prefix: &str, m: &CsrMatrix) {
        let indptr = m.indptr().iter().map(|&p| p as u64).collect::<Vec<_>>();
        self.put_u64(
            &format!("{prefix}.shape"),
            &[2],
            alloc::vec![m.n_rows() as u64, m.n_cols() as u64],
        );
        self.put_u64(&format!("{prefix}.indptr"), &[indptr.len()], indptr);
        self.put_u32(&format!("{prefix}.indices"), &[m.nnz()], m.indices().to_vec());
        self.put_f32(&format!("{prefix}.data"), &[m.nnz()], m.data().to_vec());
    }

    fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| corrupt(format!("{} model file has no tensor `{name}`", self.kind)))
    }

    fn check_shape(&self, name: &str, found: &[usize], expected: &[Option<usize>]) -> Result<()> {
        let ok = found.len() == expected.len()
            && found.iter().zip(expected).all(|(f, e)| e.is_none_or(|e| e == *f));
        if ok {
            Ok(())
        } else {
            Err(corrupt(format!(
                "tensor `{name}` has shape {found:?}, expected {expected:?} (None = any)"
            )))
        }
    }

    /// The f32 tensor `name`, checking its shape (`None` matches any length).
    pub fn f32(&self, name: &str, shape: &[Option<usize>]) -> Result<&[f32]> {
        match self.tensor(name)? {
            Tensor::F32 { shape: s, data } => self.check_shape(name, s, shape).map(|_| data.as_slice()),
            _ => Err(corrupt(format!("tensor `{name}` is not f32"))),
        }
    }

    /// The u32 tensor `name`, checking its shape.
    pub fn u32(&self, name: &str, shape: &[Option<usize>]) -> Result<&[u32]> {
        match self.tensor(name)? {
            Tensor::U32 { shape: s, data } => self.check_shape(name, s, shape).map(|_| data.as_slice()),
            _ => Err(corrupt(format!("tensor `{name}` is not u32"))),
        }
    }

    /// The u64 tensor `name`, checking its shape.
    pub fn u64(&self, name: &str, shape: &[Option<usize>]) -> Result<&[u64]> {
        match self.tensor(name)? {
            Tensor::U64 { shape: s, data } => self.check_shape(name, s, shape).map(|_| data.as_slice()),
            _ => Err(corrupt(format!("tensor `{name}` is not u64"))),
        }
    }

    /// The CSR matrix stored by [`ModelFile::put_csr`], fully validated.
    pub fn csr(&self, prefix: &str) -> Result<CsrMatrix> {
        let shape = self.u64(&format!("{prefix}.shape"), &[Some(2)])?;
        let (rows, cols) = (shape[0] as usize, shape[1] as usize);
        let indptr = self.u64(&format!("{prefix}.indptr"), &[Some(rows.saturating_add(1))])?;
        let indices = self.u32(&format!("{prefix}.indices"), &[None])?;
        let data = self.f32(&format!("{prefix}.data"), &[Some(indices.len())])?;
        CsrMatrix::from_parts(
            rows,
            cols,
            indptr.iter().map(|&p| p as usize).collect(),
            indices.to_vec(),
            data.to_vec(),
        )
        .map_err(|e| corrupt(format!("matrix `{prefix}`: {e}")))
    }

    /// A string parameter from `params`, if present.
    pub fn param_f64(&self, key: &str) -> Option<f64> {
        self.params.get(key).and_then(Value::as_f64)
    }

    /// Serializes to safetensors bytes.
    pub fn to_bytes(&self, precision: Precision) -> Result<Vec<u8>> {
        let json = |v: &dyn erased::Ser| v.to_json();
        let meta: Vec<(String, String)> = alloc::vec![
            ("reco.format".into(), MARKER.into()),
            ("reco.format_version".into(), FORMAT_VERSION.to_string()),
            ("reco.kind".into(), self.kind.as_str().into()),
            ("reco.params".into(), json(&self.params)),
            ("reco.training".into(), json(&self.training)),
            ("reco.item_ids".into(), json(&self.item_ids)),
            ("reco.item_names".into(), json(&self.item_names)),
            ("reco.user_ids".into(), json(&self.user_ids)),
        ];
        let raws = self.tensors.iter().map(|(name, t)| {
            let raw = match t {
                Tensor::F32 { shape, data } => match precision {
                    Precision::F32 => Raw {
                        dtype: Dtype::F32,
                        shape: shape.clone(),
                        bytes: data
                            .iter()
                            .flat_map(|v| v.to_le_bytes())
                            .collect::<Vec<u8>>()
                            .into(),
                    },
                    Precision::F16 => Raw {
                        dtype: Dtype::F16,
                        shape: shape.clone(),
                        bytes: data
                            .iter()
                            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                            .collect::<Vec<u8>>()
                            .into(),
                    },
                },
                Tensor::U32 { shape, data } => Raw {
                    dtype: Dtype::U32,
                    shape: shape.clone(),
                    bytes: data
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect::<Vec<u8>>()
                        .into(),
                },
                Tensor::U64 { shape, data } => Raw {
                    dtype: Dtype::U64,
                    shape: shape.clone(),
                    bytes: data
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect::<Vec<u8>>()
                        .into(),
                },
            };
            (name.clone(), raw)
        });
        safetensors::serialize(raws, Some(meta.into_iter().collect()))
            .map_err(|e| RecoError::InvalidData(format!("cannot serialize model: {e}")))
    }

    /// Parses safetensors bytes written by [`ModelFile::to_bytes`]. Truncated or corrupt bytes,
    /// a file that is not a reco model, or one from a newer format version give an error that
    /// says which; never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile> {
        if bytes.len() < 8 {
            return Err(corrupt(format!(
                "file is truncated: {} bytes, not even a header length",
                bytes.len()
            )));
        }
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        if header_len > (bytes.len() - 8) as u64 {
            return Err(corrupt(format!(
                "file is truncated: header claims {header_len} bytes but only {} follow (or this is not a safetensors file)",
                bytes.len() - 8
            )));
        }
        let st = SafeTensors::deserialize(bytes).map_err(|e| match e {
            safetensors::SafeTensorError::MetadataIncompleteBuffer => {
                corrupt("file is truncated: tensor data ends early")
            }
            other => corrupt(format!("not a valid safetensors file: {other}")),
        })?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| corrupt(format!("unreadable header: {e}")))?;
        let meta = header
            .metadata()
            .as_ref()
            .ok_or_else(|| corrupt("not a reco model file: no metadata"))?;
        let get = |k: &str| meta.get(k).map(String::as_str);
        if get("reco.format") != Some(MARKER) {
            return Err(corrupt(
                "not a reco model file: metadata has no `reco.format: reco-model`",
            ));
        }
        let version: u32 = get("reco.format_version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt("missing or malformed `reco.format_version`"))?;
        if version == 0 || version > FORMAT_VERSION {
            return Err(RecoError::IncompatibleModel {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let kind_name = get("reco.kind").ok_or_else(|| corrupt("missing `reco.kind`"))?;
        let kind = ModelKind::parse(kind_name).ok_or_else(|| {
            corrupt(format!(
                "unknown model kind `{kind_name}` (known: als, popularity, lightfm, knn, item-knn)"
            ))
        })?;
        let parse_json = |k: &str| -> Result<Value> {
            match get(k) {
                None => Ok(Value::Null),
                Some(s) => serde_json::from_str(s)
                    .map_err(|e| corrupt(format!("metadata `{k}` is not valid JSON: {e}"))),
            }
        };
        let strings = |k: &str| -> Result<Vec<String>> {
            match parse_json(k)? {
                Value::Null => Ok(Vec::new()),
                v => serde_json::from_value(v)
                    .map_err(|e| corrupt(format!("metadata `{k}` is not a list of strings: {e}"))),
            }
        };
        let mut file = ModelFile {
            kind,
            params: parse_json("reco.params")?,
            training: parse_json("reco.training")?,
            item_ids: strings("reco.item_ids")?,
            item_names: strings("reco.item_names")?,
            user_ids: strings("reco.user_ids")?,
            tensors: BTreeMap::new(),
        };
        for (name, view) in st.iter() {
            let shape = view.shape().to_vec();
            let b = view.data();
            let tensor = match view.dtype() {
                Dtype::F32 => Tensor::F32 {
                    shape,
                    data: b
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                },
                Dtype::F16 => Tensor::F32 {
                    shape,
                    data: b
                        .chunks_exact(2)
                        .map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32())
                        .collect(),
                },
                Dtype::U32 => Tensor::U32 {
                    shape,
                    data: b
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                },
                Dtype::U64 => Tensor::U64 {
                    shape,
                    data: b
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                },
                other => {
                    return Err(corrupt(format!(
                        "tensor `{name}` has unsupported dtype {other:?}"
                    )))
                }
            };
            file.tensors.insert(name.to_string(), tensor);
        }
        if !file.item_names.is_empty() && file.item_names.len() != file.item_ids.len() {
            return Err(corrupt(format!(
                "{} item names for {} item ids",
                file.item_names.len(),
                file.item_ids.len()
            )));
        }
        Ok(file)
    }
}

mod erased {
    use alloc::string::String;
    /// Serializes metadata values to JSON (serde_json cannot fail on these types).
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
/// A crash or error never leaves a half-written file at `path`.
#[cfg(feature = "std")]
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelFile {
        let mut f = ModelFile::new(ModelKind::Als);
        f.item_ids = alloc::vec!["a".into(), "b".into()];
        f.item_names = alloc::vec!["Apple".into(), "Banana".into()];
        f.user_ids = alloc::vec!["u1".into()];
        f.params = serde_json::json!({"factors": 2});
        f.put_f32("item_factors", &[2, 2], alloc::vec![1.0, 2.0, 3.0, 0.333]);
        let m = CsrMatrix::from_triples(1, 2, &[(0, 1, 2.0)]).unwrap();
        f.put_csr("seen", &m);
        f
    }

    #[test]
    fn roundtrip_f32_exact_and_f16_close() {
        let f = sample();
        let back = ModelFile::from_bytes(&f.to_bytes(Precision::F32).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(back.csr("seen").unwrap().get(0, 1), 2.0);
        let half = ModelFile::from_bytes(&f.to_bytes(Precision::F16).unwrap()).unwrap();
        let v = half.f32("item_factors", &[Some(2), Some(2)]).unwrap();
        assert!((v[3] - 0.333).abs() < 1e-3 && v[3] != 0.333);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample().to_bytes(Precision::F32).unwrap();
        for len in 0..bytes.len() {
            let err = ModelFile::from_bytes(&bytes[..len]).unwrap_err();
            assert!(matches!(err, RecoError::CorruptModel(_)), "{len}: {err}");
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let bytes = sample().to_bytes(Precision::F32).unwrap();
        for pos in 0..bytes.len() {
            let mut b = bytes.clone();
            b[pos] ^= 0x5a;
            let _ = ModelFile::from_bytes(&b);
        }
    }

    #[test]
    fn future_version_wrong_kind_and_foreign_files() {
        let bytes = sample().to_bytes(Precision::F32).unwrap();
        let key = b"\"reco.format_version\":\"1\"";
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
        let mut future = bytes.clone();
        future[at + key.len() - 2] = b'9';
        let err = ModelFile::from_bytes(&future).unwrap_err();
        assert_eq!(
            err,
            RecoError::IncompatibleModel {
                found: 9,
                supported: FORMAT_VERSION
            }
        );
        let f = ModelFile::from_bytes(&bytes).unwrap();
        assert!(matches!(
            f.expect_kind(ModelKind::Popularity),
            Err(RecoError::WrongModelKind { .. })
        ));
        let foreign = safetensors::serialize(
            [(
                "x",
                Raw {
                    dtype: Dtype::F32,
                    shape: alloc::vec![1],
                    bytes: alloc::vec![0u8; 4].into(),
                },
            )],
            None,
        )
        .unwrap();
        assert!(ModelFile::from_bytes(&foreign)
            .unwrap_err()
            .to_string()
            .contains("not a reco model file"));
        assert!(f.f32("missing", &[None]).is_err());
        assert!(f.f32("item_factors", &[Some(3), Some(2)]).is_err());
    }
}
