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
//! | `reco.kind` | [`ModelKind`] name: `als`, `popularity`, `lightfm`, `knn`, `item-knn`, `ease`, `rp3beta` |
//! | `reco.params` | JSON object: the hyperparameters used for training |
//! | `reco.training` | JSON object: training data summary (users, items, interactions, time) |
//! | `reco.item_ids`, `reco.item_names`, `reco.user_ids` | JSON arrays of strings |
//!
//! Tensors are f32 (or f16 when written with [`Precision::F16`], or int8 rows with a scale per
//! row with [`Precision::Int8`]; always f32 in memory), u32 or u64. Each model kind documents
//! the tensors it stores; the approximate top-N index ([`crate::ann`]) adds `ann.*` tensors.
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use crate::error::{RecoError, Result};
use crate::matrix::CsrMatrix;

/// The newest model-file format version this build reads. Files are written with the oldest
/// version that can hold them ([`ModelFile::format_version`]): 2 for a file with an
/// approximate top-N index (tensors named `ann.*`, see [`crate::ann`]), else 1, so builds that
/// read only version 1 still load every file without an index.
pub const FORMAT_VERSION: u32 = 2;
/// Tensor names of the approximate top-N index start with this.
pub const INDEX_TENSOR_PREFIX: &str = "ann.";
const MARKER: &str = "reco-model";

/// An f32 as the JSON number with the same shortest decimal form (0.05, not 0.0500000007).
pub(crate) fn f32_to_json(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

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
    /// EASE: closed-form item-item regression (sparse top-k weights).
    Ease,
    /// RP3beta: item-item weights from a popularity-discounted random walk.
    Rp3Beta,
}

impl ModelKind {
    /// Every kind, in a stable order.
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Als,
        ModelKind::Popularity,
        ModelKind::LightFm,
        ModelKind::UserKnn,
        ModelKind::ItemKnn,
        ModelKind::Ease,
        ModelKind::Rp3Beta,
    ];

    /// The name used in files, on the command line and in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Als => "als",
            ModelKind::Popularity => "popularity",
            ModelKind::LightFm => "lightfm",
            ModelKind::UserKnn => "knn",
            ModelKind::ItemKnn => "item-knn",
            ModelKind::Ease => "ease",
            ModelKind::Rp3Beta => "rp3beta",
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
    /// 2 bytes per value (IEEE half); converted back to f32 when loaded. A tensor holding a
    /// value beyond f16's range (|v| > 65504, e.g. a popularity count) is kept in f32.
    F16,
    /// Factor matrices (2-d f32 tensors, the ANN index's centroids excepted) as int8 rows,
    /// each with an f32 scale (tensor `NAME.row_scale`, `[rows]`): `scale = max|v| / 127`,
    /// `q = round(v / scale)`, loaded as `q·scale` (error at most `scale / 2` per value);
    /// every other float tensor as with [`Precision::F16`]. Needs format version 2.
    Int8,
}

/// Suffix of the per-row scale tensor of an int8 tensor.
const ROW_SCALE: &str = ".row_scale";

/// `data` (rows of `cols` values) as int8 bytes and one scale per row.
fn quantize_rows(data: &[f32], cols: usize) -> (Vec<u8>, Vec<u8>) {
    let mut q = Vec::with_capacity(data.len());
    let mut scales = Vec::with_capacity(4 * data.len() / cols.max(1));
    for row in data.chunks_exact(cols) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = max / 127.0;
        for &v in row {
            let x = if scale > 0.0 {
                libm::roundf(v / scale).clamp(-127.0, 127.0)
            } else {
                0.0
            };
            q.push(x as i8 as u8);
        }
        scales.extend_from_slice(&scale.to_le_bytes());
    }
    (q, scales)
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

/// The little-endian bytes of `data` (the file format's byte order): borrowed on
/// little-endian targets (every one reco ships for), so serializing a model does not hold a
/// second copy of its tensors; converted elsewhere.
fn le_bytes<T: bytemuck::Pod, const N: usize>(
    data: &[T],
    to_le: fn(T) -> [u8; N],
) -> alloc::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        alloc::borrow::Cow::Borrowed(bytemuck::cast_slice(data))
    } else {
        alloc::borrow::Cow::Owned(converted_le_bytes(data, to_le))
    }
}

/// [`le_bytes`]' path for big-endian targets: each value converted.
fn converted_le_bytes<T: Copy, const N: usize>(data: &[T], to_le: fn(T) -> [u8; N]) -> Vec<u8> {
    data.iter().flat_map(|&v| to_le(v)).collect()
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

    /// Removes the f32 tensor `name` and returns its values (`None`, and the file unchanged,
    /// when there is no such f32 tensor): loaders move large tensors out instead of copying.
    pub fn take_f32(&mut self, name: &str) -> Option<Vec<f32>> {
        match self.tensors.remove(name)? {
            Tensor::F32 { data, .. } => Some(data),
            other => {
                self.tensors.insert(name.to_string(), other);
                None
            }
        }
    }

    /// Removes the u32 tensor `name` and returns its values (see [`ModelFile::take_f32`]).
    pub fn take_u32(&mut self, name: &str) -> Option<Vec<u32>> {
        match self.tensors.remove(name)? {
            Tensor::U32 { data, .. } => Some(data),
            other => {
                self.tensors.insert(name.to_string(), other);
                None
            }
        }
    }

    /// [`ModelFile::csr`] that moves the matrix's `indices` and `data` out of the file instead
    /// of copying them (its `shape` and `indptr` stay). After an error the file may have lost
    /// them.
    pub fn take_csr(&mut self, prefix: &str) -> Result<CsrMatrix> {
        // Names, dtypes and shapes are checked before anything is moved.
        let (rows, cols, indptr) = self.csr_layout(prefix)?;
        let indices = self.take_u32(&format!("{prefix}.indices")).unwrap_or_default();
        let data = self.take_f32(&format!("{prefix}.data")).unwrap_or_default();
        Self::csr_from(prefix, rows, cols, indptr, indices, data)
    }

    /// The CSR matrix stored by [`ModelFile::put_csr`], fully validated (see
    /// [`CsrMatrix::from_parts`]); errors name the matrix and the broken invariant.
    pub fn csr(&self, prefix: &str) -> Result<CsrMatrix> {
        let (rows, cols, indptr) = self.csr_layout(prefix)?;
        let indices = self.u32(&format!("{prefix}.indices"), &[None])?.to_vec();
        let data = self.f32(&format!("{prefix}.data"), &[None])?.to_vec();
        Self::csr_from(prefix, rows, cols, indptr, indices, data)
    }

    /// The checked shape and row starts of the CSR matrix `prefix` (dtypes and lengths of its
    /// `indices` and `data` checked too).
    fn csr_layout(&self, prefix: &str) -> Result<(usize, usize, Vec<usize>)> {
        let in_memory = |what: &str, v: u64| {
            usize::try_from(v).map_err(|_| {
                corrupt(format!(
                    "matrix `{prefix}`: {what} {v} does not fit in this platform's memory"
                ))
            })
        };
        let shape = self.u64(&format!("{prefix}.shape"), &[Some(2)])?;
        let (rows, cols) = (
            in_memory("row count", shape[0])?,
            in_memory("column count", shape[1])?,
        );
        let indptr = self.u64(&format!("{prefix}.indptr"), &[Some(rows.saturating_add(1))])?;
        let indices = self.u32(&format!("{prefix}.indices"), &[None])?;
        self.f32(&format!("{prefix}.data"), &[Some(indices.len())])?;
        let indptr = indptr
            .iter()
            .map(|&p| in_memory("indptr entry", p))
            .collect::<Result<Vec<usize>>>()?;
        Ok((rows, cols, indptr))
    }

    fn csr_from(
        prefix: &str,
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<CsrMatrix> {
        CsrMatrix::from_parts(rows, cols, indptr, indices, data).map_err(|e| match e {
            RecoError::InvalidData(m) => corrupt(format!("matrix `{prefix}`: {m}")),
            other => corrupt(format!("matrix `{prefix}`: {other}")),
        })
    }

    /// A string parameter from `params`, if present.
    pub fn param_f64(&self, key: &str) -> Option<f64> {
        self.params.get(key).and_then(Value::as_f64)
    }

    /// The format version this file is written with: 2 when it carries an approximate top-N
    /// index (a tensor named `ann.*`), else 1.
    pub fn format_version(&self) -> u32 {
        if self.tensors.keys().any(|k| k.starts_with(INDEX_TENSOR_PREFIX)) {
            2
        } else {
            1
        }
    }

    /// Serializes to safetensors bytes.
    pub fn to_bytes(&self, precision: Precision) -> Result<Vec<u8>> {
        let json = |v: &dyn erased::Ser| v.to_json();
        let version = match precision {
            Precision::Int8 => 2,
            Precision::F32 | Precision::F16 => self.format_version(),
        };
        let meta: Vec<(String, String)> = alloc::vec![
            ("reco.format".into(), MARKER.into()),
            ("reco.format_version".into(), version.to_string()),
            ("reco.kind".into(), self.kind.as_str().into()),
            ("reco.params".into(), json(&self.params)),
            ("reco.training".into(), json(&self.training)),
            ("reco.item_ids".into(), json(&self.item_ids)),
            ("reco.item_names".into(), json(&self.item_names)),
            ("reco.user_ids".into(), json(&self.user_ids)),
        ];
        for (name, t) in &self.tensors {
            if let Tensor::F32 { data, .. } = t {
                if let Some(k) = data.iter().position(|v| !v.is_finite()) {
                    return Err(RecoError::InvalidData(format!(
                        "cannot save the model: tensor `{name}` holds the non-finite value {} at \
                         position {k} (did training diverge?)",
                        data[k]
                    )));
                }
            }
        }
        let fits_f16 = |data: &[f32]| data.iter().all(|v| v.abs() <= half::f16::MAX.to_f32());
        let raws = self.tensors.iter().flat_map(|(name, t)| {
            let raw = match t {
                Tensor::F32 { shape, data }
                    if precision == Precision::Int8
                        && shape.len() == 2
                        && shape[1] > 0
                        && !name.starts_with(INDEX_TENSOR_PREFIX) =>
                {
                    let (q, scales) = quantize_rows(data, shape[1]);
                    let scale = Raw {
                        dtype: Dtype::F32,
                        shape: alloc::vec![shape[0]],
                        bytes: scales.into(),
                    };
                    let q = Raw {
                        dtype: Dtype::I8,
                        shape: shape.clone(),
                        bytes: q.into(),
                    };
                    return alloc::vec![(name.clone(), q), (format!("{name}{ROW_SCALE}"), scale)];
                }
                Tensor::F32 { shape, data } => match precision {
                    // A tensor with values beyond f16's range (e.g. popularity counts above
                    // 65504) would turn into infinities: it stays f32.
                    Precision::F16 | Precision::Int8 if fits_f16(data) => Raw {
                        dtype: Dtype::F16,
                        shape: shape.clone(),
                        bytes: data
                            .iter()
                            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                            .collect::<Vec<u8>>()
                            .into(),
                    },
                    Precision::F32 | Precision::F16 | Precision::Int8 => Raw {
                        dtype: Dtype::F32,
                        shape: shape.clone(),
                        bytes: le_bytes(data, f32::to_le_bytes),
                    },
                },
                Tensor::U32 { shape, data } => Raw {
                    dtype: Dtype::U32,
                    shape: shape.clone(),
                    bytes: le_bytes(data, u32::to_le_bytes),
                },
                Tensor::U64 { shape, data } => Raw {
                    dtype: Dtype::U64,
                    shape: shape.clone(),
                    bytes: le_bytes(data, u64::to_le_bytes),
                },
            };
            alloc::vec![(name.clone(), raw)]
        });
        safetensors::serialize(raws, Some(meta.into_iter().collect()))
            .map_err(|e| RecoError::InvalidData(format!("cannot serialize model: {e}")))
    }

    /// Parses safetensors bytes written by [`ModelFile::to_bytes`]. Truncated or corrupt bytes,
    /// a file that is not a reco model, or one from a newer format version give an error that
    /// says which; never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile> {
        if bytes.is_empty() {
            return Err(corrupt("the file is empty"));
        }
        if let Some(&first) = bytes.get(8) {
            // Every safetensors header is a JSON object: byte 8 is `{`. A CSV, a PNG, ... is
            // reported as such before its first 8 bytes are read as a (nonsense) length.
            if first != b'{' {
                return Err(corrupt(format!(
                    "not a safetensors / reco model file: it does not start with a safetensors \
                     header (first bytes {})",
                    preview(bytes)
                )));
            }
        }
        if bytes.len() < 8 {
            return Err(corrupt(format!(
                "file is truncated: {} bytes, not even a header length",
                bytes.len()
            )));
        }
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        if header_len > MAX_HEADER_BYTES {
            return Err(corrupt(format!(
                "not a safetensors / reco model file: its header length {header_len} is \
                 implausible (at most {MAX_HEADER_BYTES} bytes; first bytes {})",
                preview(bytes)
            )));
        }
        if header_len > (bytes.len() - 8) as u64 {
            return Err(corrupt(format!(
                "file is truncated: header claims {header_len} bytes but only {} follow",
                bytes.len() - 8
            )));
        }
        let st = SafeTensors::deserialize(bytes).map_err(|e| match e {
            safetensors::SafeTensorError::MetadataIncompleteBuffer => {
                corrupt("file is truncated: tensor data ends early")
            }
            other => corrupt(format!("not a valid safetensors file: {other}")),
        })?;
        check_unique_keys(&bytes[8..8 + header_len as usize])?;
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
        let (mut int8, mut scales) = (Vec::new(), Vec::new());
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
                // Scaled by its `.row_scale` below.
                Dtype::I8 => {
                    int8.push(name.to_string());
                    Tensor::F32 {
                        shape,
                        data: b.iter().map(|&q| q as i8 as f32).collect(),
                    }
                }
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
            if let Tensor::F32 { data, .. } = &tensor {
                if let Some(k) = data.iter().position(|v| !v.is_finite()) {
                    return Err(corrupt(format!(
                        "tensor `{name}` holds the non-finite value {} at position {k}",
                        data[k]
                    )));
                }
            }
            // The scales of an int8 tensor are kept aside, not as a tensor of the file.
            let int8_base = name
                .strip_suffix(ROW_SCALE)
                .filter(|base| st.tensor(base).is_ok_and(|t| t.dtype() == Dtype::I8));
            match (int8_base, tensor) {
                (Some(base), Tensor::F32 { data, .. }) => scales.push((base.to_string(), data)),
                (_, tensor) => {
                    file.tensors.insert(name.to_string(), tensor);
                }
            }
        }
        for name in int8 {
            let k = scales.iter().position(|(base, _)| *base == name);
            file.dequantize(&name, k.map(|k| scales.swap_remove(k).1))?;
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

impl ModelFile {
    /// Scales the rows of the int8 tensor `name` (loaded as its raw integers) by `scales`, the
    /// values of its `.row_scale` tensor.
    fn dequantize(&mut self, name: &str, scales: Option<Vec<f32>>) -> Result<()> {
        let scale_name = format!("{name}{ROW_SCALE}");
        let Some(scales) = scales else {
            return Err(corrupt(format!("int8 tensor `{name}` has no `{scale_name}`")));
        };
        let rows = match self.tensors.get_mut(name) {
            Some(Tensor::F32 { shape, data }) if shape.len() == 2 && shape[0] == scales.len() => {
                data.chunks_exact_mut(shape[1].max(1))
            }
            _ => {
                return Err(corrupt(format!(
                    "int8 tensor `{name}` is not [rows, columns] with one scale per row in \
                     `{scale_name}`"
                )))
            }
        };
        if scales.iter().any(|&s| s < 0.0) {
            return Err(corrupt(format!("tensor `{scale_name}` holds a negative scale")));
        }
        for (row, &s) in rows.zip(&scales) {
            for v in row {
                *v *= s;
            }
        }
        Ok(())
    }
}

/// The largest header [`ModelFile::from_bytes`] accepts (the safetensors crate's own limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The first bytes of a file, escaped, for error messages (never raw control bytes).
fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    let text: String = head
        .iter()
        .flat_map(|&b| core::ascii::escape_default(b))
        .map(char::from)
        .collect();
    format!("\"{text}\"")
}

/// Fails on a tensor name or `__metadata__` key that appears twice in the header JSON:
/// serde_json (and so the safetensors crate) silently keeps the last of repeated keys.
fn check_unique_keys(header: &[u8]) -> Result<()> {
    use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, Visitor};

    #[derive(Clone, Copy)]
    struct UniqueKeys {
        /// The header itself (keys are tensor names), not `__metadata__`.
        top: bool,
    }
    impl<'de> DeserializeSeed<'de> for UniqueKeys {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> core::result::Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for UniqueKeys {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_unit<E: Error>(self) -> core::result::Result<(), E> {
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> core::result::Result<(), A::Error> {
            let mut seen = alloc::collections::BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if self.top && key == "__metadata__" {
                    map.next_value_seed(UniqueKeys { top: false })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
                if seen.contains(&key) {
                    let what = if self.top { "tensor name" } else { "metadata key" };
                    return Err(A::Error::custom(format!("duplicate {what} `{key}`")));
                }
                seen.insert(key);
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(header);
    UniqueKeys { top: true }
        .deserialize(&mut de)
        .map_err(|e| corrupt(format!("invalid header: {e}")))
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

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
#[cfg(feature = "std")]
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes `path` atomically through a buffered writer: a temporary file
/// `.NAME.PID.tmp` (`.NAME.PID-SEQ.tmp` for a process's later writes) in the same folder, fsync, rename over `path`, fsync of the folder (so
/// the rename itself survives a power cut). A crash or error never leaves a half-written file
/// at `path`; on error the temporary file is removed.
///
/// Temporary files of the same `NAME` left by a killed writer (`kill -9`, power cut) are
/// removed first: those whose process is gone (Linux: no `/proc/PID`), or, where process ids
/// cannot be checked, that are more than a day old. A live concurrent writer's file is kept.
#[cfg(feature = "std")]
pub fn write_atomic_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    remove_stale_temp_files(dir, &name);
    // Concurrent writes of one process to the same target get distinct temporary files.
    let tmp = match SEQ.fetch_add(1, Ordering::Relaxed) {
        0 => dir.join(format!(".{name}.{}.tmp", std::process::id())),
        seq => dir.join(format!(".{name}.{}-{seq}.tmp", std::process::id())),
    };
    let result = (|| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)
}

/// The writer's process id in a temporary file name `.NAME.PID.tmp` or `.NAME.PID-SEQ.tmp`
/// (never a temporary file of another name such as `NAME.7`: the last segment must be
/// `PID` or `PID-SEQ`).
#[cfg(feature = "std")]
fn temp_file_pid(file_name: &str, name: &str) -> Option<u32> {
    let rest = file_name
        .strip_prefix('.')?
        .strip_prefix(name)?
        .strip_prefix('.')?;
    let middle = rest.strip_suffix(".tmp")?;
    let (pid, seq) = middle.split_once('-').unwrap_or((middle, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(pid) && digits(seq)) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporary files of `name` in `dir` whose writer is gone (best effort: errors
/// are ignored, the write goes ahead either way).
#[cfg(feature = "std")]
fn remove_stale_temp_files(dir: &std::path::Path, name: &str) {
    const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let proc_available = std::path::Path::new("/proc/self").exists();
    let own = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|f| temp_file_pid(f, name)) else {
            continue;
        };
        if pid == own {
            continue; // another thread of this process may be writing it
        }
        let stale = if proc_available {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > MAX_AGE)
        };
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Flushes a folder's entries (a rename) to disk. Not supported on every platform and file
/// system (Windows cannot open a folder as a file; some file systems refuse): those cases are
/// skipped, other errors are returned.
#[cfg(feature = "std")]
pub(crate) fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
            Err(e)
                if e.kind() == std::io::ErrorKind::InvalidInput
                    || e.kind() == std::io::ErrorKind::Unsupported =>
            {
                Ok(())
            }
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
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
    fn tensor_bytes_are_little_endian_values_whether_borrowed_or_converted() {
        let mut f = sample();
        f.put_u64("offsets", &[3], alloc::vec![0, 1 << 40, u64::MAX]);
        let bytes = f.to_bytes(Precision::F32).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let want: Vec<u8> = [1.0f32, 2.0, 3.0, 0.333]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(st.tensor("item_factors").unwrap().data(), &want[..]);
        let want: Vec<u8> = [0u64, 1 << 40, u64::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(st.tensor("offsets").unwrap().data(), &want[..]);
        // The path this target takes and the big-endian targets' converting one give the same
        // bytes, and both are the values' little-endian bytes.
        let data = [1.5f32, -0.0, f32::MAX];
        let converted: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(&*le_bytes(&data, f32::to_le_bytes), &converted[..]);
        assert_eq!(converted_le_bytes(&data, f32::to_le_bytes), converted);
        assert_eq!(converted_le_bytes(&[1u32 << 24], u32::to_le_bytes), [0, 0, 0, 1]);
    }

    #[test]
    fn take_moves_tensors_out_after_checking_them() {
        let f = sample();
        let mut g = f.clone();
        assert_eq!(g.take_csr("seen").unwrap(), f.csr("seen").unwrap());
        assert!(!g.tensors.contains_key("seen.indices") && !g.tensors.contains_key("seen.data"));
        assert!(g.tensors.contains_key("seen.shape"));
        assert_eq!(
            g.take_f32("item_factors"),
            Some(alloc::vec![1.0, 2.0, 3.0, 0.333])
        );
        assert_eq!(g.take_f32("item_factors"), None);
        // A tensor of another type stays in the file.
        assert_eq!(g.take_f32("seen.indptr"), None);
        assert!(g.tensors.contains_key("seen.indptr"));
        // A broken matrix is refused before anything is moved.
        let mut bad = f.clone();
        bad.put_f32("seen.data", &[2], alloc::vec![1.0, 2.0]);
        assert!(bad.take_csr("seen").is_err());
        assert!(bad.tensors.contains_key("seen.indices") && bad.tensors.contains_key("seen.data"));
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

#[cfg(test)]
mod hardening_tests {
    use super::*;
    use alloc::vec;

    fn sample_bytes() -> Vec<u8> {
        let mut f = ModelFile::new(ModelKind::Als);
        f.item_ids = vec!["a".into(), "b".into()];
        f.put_f32("item_factors", &[2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        f.put_f32("user_factors", &[1, 2], vec![0.5, 0.25]);
        f.to_bytes(Precision::F32).unwrap()
    }

    /// The header JSON text and the tensor data of safetensors bytes.
    fn split(bytes: &[u8]) -> (String, Vec<u8>) {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        (
            String::from_utf8(bytes[8..8 + n].to_vec()).unwrap(),
            bytes[8 + n..].to_vec(),
        )
    }

    fn join(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn message(bytes: &[u8]) -> String {
        ModelFile::from_bytes(bytes).unwrap_err().to_string()
    }

    #[test]
    fn foreign_files_are_named_before_any_length_is_read() {
        for foreign in [
            &b"user_id,item_id,rating\nu1,i1,5\nu2,i2,4\n"[..],
            &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10"[..],
            &b"{\"user\": \"u1\", \"item\": \"i1\"}\n"[..],
        ] {
            let m = message(foreign);
            assert!(m.contains("not a safetensors / reco model file"), "{m}");
            assert!(!m.contains("truncated"), "{m}");
            assert!(
                !m.contains('\n') && !m.contains('\0') && !m.contains('\x1a'),
                "{m}"
            );
        }
        assert!(message(b"").contains("empty"));
        // A real file cut short keeps the truncation message.
        let bytes = sample_bytes();
        for len in [9, 40, bytes.len() / 2] {
            let m = message(&bytes[..len]);
            assert!(m.contains("truncated"), "{len}: {m}");
        }
    }

    #[test]
    fn duplicate_tensor_names_and_metadata_keys_are_refused() {
        let bytes = sample_bytes();
        let (header, data) = split(&bytes);
        let start = header.find("\"item_factors\":").unwrap();
        let end = start + header[start..].find('}').unwrap() + 1;
        let entry = &header[start..end];
        let twice = header.replacen(entry, &format!("{entry},{entry}"), 1);
        let m = message(&join(&twice, &data));
        assert!(m.contains("duplicate tensor name `item_factors`"), "{m}");

        let kind = "\"reco.kind\":\"als\"";
        assert!(header.contains(kind));
        let twice = header.replacen(kind, &format!("{kind},\"reco.kind\":\"popularity\""), 1);
        let m = message(&join(&twice, &data));
        assert!(m.contains("duplicate metadata key `reco.kind`"), "{m}");
        // The untouched file still loads.
        assert!(ModelFile::from_bytes(&join(&header, &data)).is_ok());
    }

    #[test]
    fn non_finite_values_are_refused_at_load_and_save() {
        let bytes = sample_bytes();
        let (header, mut data) = split(&bytes);
        // Tensors are stored in name order: item_factors first; overwrite its second value.
        data[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        let m = message(&join(&header, &data));
        assert!(
            m.contains("tensor `item_factors` holds the non-finite value NaN at position 1"),
            "{m}"
        );
        let mut f = ModelFile::new(ModelKind::Popularity);
        f.put_f32("scores", &[2], vec![1.0, f32::INFINITY]);
        let err = f.to_bytes(Precision::F32).unwrap_err().to_string();
        assert!(
            err.contains("tensor `scores` holds the non-finite value inf"),
            "{err}"
        );
    }

    #[test]
    fn f16_keeps_tensors_beyond_its_range_in_f32() {
        let mut f = ModelFile::new(ModelKind::Popularity);
        f.put_f32("big", &[2], vec![100_000.0, 3.0]);
        f.put_f32("small", &[2], vec![0.5, 3.0]);
        let back = ModelFile::from_bytes(&f.to_bytes(Precision::F16).unwrap()).unwrap();
        assert_eq!(back.f32("big", &[Some(2)]).unwrap(), &[100_000.0, 3.0]);
        assert_eq!(back.f32("small", &[Some(2)]).unwrap(), &[0.5, 3.0]);
    }

    #[test]
    fn int8_rows_round_trip_within_half_a_step_and_need_their_scales() {
        let mut f = ModelFile::new(ModelKind::Als);
        let rows = vec![1.0, -2.0, 0.5, 0.0, 0.0, 0.0, -0.001, 0.3, 1e-4];
        f.put_f32("item_factors", &[3, 3], rows.clone());
        f.put_f32("popularity", &[2], vec![100_000.0, 3.0]);
        f.put_f32("ann.centroids", &[1, 3], vec![0.1, 0.2, 0.3]);
        let bytes = f.to_bytes(Precision::Int8).unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains(r#""reco.format_version":"2""#));
        let back = ModelFile::from_bytes(&bytes).unwrap();
        let got = back.f32("item_factors", &[Some(3), Some(3)]).unwrap();
        for (row, want) in got.chunks(3).zip(rows.chunks(3)) {
            let step = want.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (g, w) in row.iter().zip(want) {
                assert!((g - w).abs() <= step / 2.0 + 1e-7, "{g} vs {w}");
            }
        }
        assert_eq!(&got[3..6], &[0.0; 3]);
        // 1-d tensors as with f16, the index's centroids too; no scale tensor remains.
        assert_eq!(back.f32("popularity", &[Some(2)]).unwrap(), &[100_000.0, 3.0]);
        assert!(back.tensors.contains_key("ann.centroids"));
        assert!(!back.tensors.keys().any(|k| k.ends_with(ROW_SCALE)));
        assert_eq!(back.tensors.len(), 3);
        // The int8 rows without their scales, or with a negative one, are refused.
        let text = |b: &[u8]| match ModelFile::from_bytes(b) {
            Err(RecoError::CorruptModel(m)) => m,
            other => panic!("{other:?}"),
        };
        let (header, data) = split(&bytes);
        let renamed = header.replace("item_factors.row_scale", "item_factors.row_scalX");
        assert!(text(&join(&renamed, &data)).contains("has no `item_factors.row_scale`"));
        let mut g = f.clone();
        g.tensors.clear();
        g.put_f32("x", &[1, 2], vec![1.0, -1.0]);
        let mut bad = g.to_bytes(Precision::Int8).unwrap();
        let scale = (1.0f32 / 127.0).to_le_bytes();
        let at = bad.windows(4).position(|w| w == scale).unwrap();
        bad[at..at + 4].copy_from_slice(&(-1.0f32).to_le_bytes());
        assert!(text(&bad).contains("negative scale"));
    }

    #[cfg(feature = "std")]
    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("reco-core-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(feature = "std")]
    #[test]
    fn atomic_write_removes_temp_files_of_dead_writers_only() {
        let dir = temp_dir("atomic");
        let target = dir.join("als.safetensors");
        // 999999999 is above Linux's pid_max (4194304): that writer is certainly gone.
        let dead = dir.join(".als.safetensors.999999999.tmp");
        let dead_seq = dir.join(".als.safetensors.999999999-3.tmp");
        // A temporary file of the target `als.safetensors.5`, not ours.
        let longer_name = dir.join(".als.safetensors.5.999999999.tmp");
        // Process 1 is alive wherever this runs; our own pid may be another thread's write.
        let live = dir.join(".als.safetensors.1.tmp");
        let own = dir.join(format!(".als.safetensors.{}-7.tmp", std::process::id()));
        let other_target = dir.join(".pop.safetensors.999999999.tmp");
        for p in [&dead, &dead_seq, &live, &own, &other_target, &longer_name] {
            std::fs::write(p, b"partial").unwrap();
        }
        write_atomic(&target, b"model").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"model");
        let proc_available = std::path::Path::new("/proc/self").exists();
        assert_eq!(dead.exists(), !proc_available);
        assert_eq!(dead_seq.exists(), !proc_available);
        assert!(live.exists() && own.exists() && other_target.exists() && longer_name.exists());
        // No temporary file of this write is left behind.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| temp_file_pid(n, "als.safetensors").is_some_and(|pid| pid != 1))
            .collect();
        assert_eq!(
            left,
            vec![format!(".als.safetensors.{}-7.tmp", std::process::id())]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(feature = "std")]
    #[test]
    fn temp_file_names_parse_and_the_folder_sync_runs() {
        assert_eq!(temp_file_pid(".m.safetensors.42.tmp", "m.safetensors"), Some(42));
        assert_eq!(
            temp_file_pid(".m.safetensors.42-9.tmp", "m.safetensors"),
            Some(42)
        );
        assert_eq!(temp_file_pid(".m.safetensors.42.9.tmp", "m.safetensors"), None);
        assert_eq!(temp_file_pid(".m.safetensors.-9.tmp", "m.safetensors"), None);
        assert_eq!(temp_file_pid(".m.safetensors.x.tmp", "m.safetensors"), None);
        assert_eq!(temp_file_pid(".m.safetensors.42.tmp", "m"), None);
        assert_eq!(temp_file_pid("m.safetensors.42.tmp", "m.safetensors"), None);
        let dir = temp_dir("sync");
        sync_dir(&dir).unwrap();
        write_atomic_with(&dir.join("nested/out.txt"), |w| {
            use std::io::Write;
            w.write_all(b"x")
        })
        .unwrap();
        assert_eq!(std::fs::read(dir.join("nested/out.txt")).unwrap(), b"x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
