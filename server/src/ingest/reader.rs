//! Raw interaction files → aggregated (user, item) pairs, with every rejected row counted.
//!
//! Input: CSV/TSV/`;`/`|` or MovieLens `::` text, gzip (detected by its magic bytes) or plain;
//! or Parquet (`PAR1` magic bytes, or a folder of `*.parquet` files; see [`super::parquet`]),
//! read as records with a header line.
//! The delimiter comes from `--delimiter`, else the extension (`.tsv`/`.tab` → tab, `.csv` →
//! comma, after stripping `.gz`), else it is sniffed from the first line (`::` if present, else
//! the most frequent of tab, comma, `;`, `|`).
//!
//! Columns: by name from a header line (options, a preset, or well-known aliases such as
//! `user_id`/`userId`/`CustomerID` and `item_id`/`movieId`/`StockCode`), or positional
//! `user, item, [weight], [timestamp]` with `--no-header` — and automatically when the first
//! line names no user/item columns but has 2–4 fields (a third field must then be a number).
//! A column that is used must be named once: a header naming it twice is refused.
//!
//! Limits (see [`super::guard`]): a record is at most 1 MiB, a quoted field spans at most 1,000
//! lines and must be closed before the end of the file (else the file is refused, naming the
//! line where the quote opened; `--no-quotes` reads quotes as ordinary characters); the
//! delimiter is sniffed from the first line within the first 256 KiB. Ids are at most
//! [`MAX_ID_BYTES`] bytes with no control characters; weights and prices must be finite as
//! 32-bit floats (|x| ≤ 3.4e38), and so must the sum of a (user, item) pair's weights. Input
//! echoed in a message is escaped and cut (see [`super::guard::shown`]).
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

use super::guard::{shown_str, Guard};
use super::time::parse_timestamp;
use crate::error::{Result, ServerError};
use crate::limits::MAX_ID_BYTES;
use crate::progress::Progress;

/// Rule sets for known datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Preset {
    /// `online-retail` if the header has InvoiceNo, StockCode and CustomerID, else `generic`.
    #[default]
    Auto,
    /// Columns by option, alias or position; weight from the weight column (default 1).
    Generic,
    /// UCI Online Retail: purchases only, product codes only, weight = purchase rows.
    OnlineRetail,
    /// MovieLens `u.data` / `ratings.dat` / `ratings.csv`: ratings ≥ --min-rating (default 4), weight 1.
    Movielens,
}

/// A field separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// One byte, e.g. `\t` or `,` (quoted fields are understood).
    Byte(u8),
    /// The two-byte `::` of MovieLens `ratings.dat` (lines are split, no quoting).
    DoubleColon,
}

impl Delimiter {
    /// Parses `tab`, `\t`, `comma`, `,`, `;`, `|`, `::`, `space` or any single ASCII character.
    pub fn parse(s: &str) -> std::result::Result<Delimiter, String> {
        Ok(match s {
            "tab" | "\\t" | "\t" => Delimiter::Byte(b'\t'),
            "comma" => Delimiter::Byte(b','),
            "space" => Delimiter::Byte(b' '),
            "::" => Delimiter::DoubleColon,
            _ if s.len() == 1 && s.is_ascii() => Delimiter::Byte(s.as_bytes()[0]),
            _ => {
                return Err(format!(
                    "unknown delimiter {s:?}: use tab, comma, ';', '|', '::' or one ASCII character"
                ))
            }
        })
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delimiter::Byte(b'\t') => f.write_str("tab"),
            Delimiter::Byte(b) => write!(f, "'{}'", char::from(*b)),
            Delimiter::DoubleColon => f.write_str("'::'"),
        }
    }
}

/// How to read a raw interactions file. `Default` reads any file with auto-detection.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Dataset rules (default: auto-detect Online Retail from its header, else generic).
    pub preset: Preset,
    /// Header name of the user column.
    pub user_col: Option<String>,
    /// Header name of the item column.
    pub item_col: Option<String>,
    /// Header name of the weight (or rating) column; without one every row weighs 1.
    pub weight_col: Option<String>,
    /// Header name of the timestamp column (unix seconds or `YYYY-MM-DD HH:MM:SS`).
    pub time_col: Option<String>,
    /// Header name of the item name column (the most common name per item is kept).
    pub name_col: Option<String>,
    /// Header name of the unit price column (the median per item is kept).
    pub price_col: Option<String>,
    /// The file has no header: columns are user, item, [weight], [timestamp].
    pub no_header: bool,
    /// Field separator; detected from the extension or the first line when `None`.
    pub delimiter: Option<Delimiter>,
    /// Keep rows whose weight/rating is ≥ this (movielens preset default: 4).
    pub min_rating: Option<f64>,
    /// Fail on the first malformed row instead of skipping it.
    pub strict: bool,
    /// Read `"` as an ordinary character (no CSV quoting).
    pub no_quotes: bool,
    /// Show the bytes read on stderr (see [`crate::progress`]).
    pub progress: bool,
}

/// Why a row was not used. Malformed rows ([`RejectReason::is_malformed`]) are fatal with
/// `--strict`; the others are dropped by a dataset rule and never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// The row has a different number of fields than the header (or first line).
    WrongColumnCount,
    /// A field that is used is not valid UTF-8.
    BadUtf8,
    /// A weight, rating, quantity or price that is not a finite number.
    BadNumber,
    /// A timestamp that is neither unix seconds nor `YYYY-MM-DD[ HH:MM[:SS]]`.
    BadTimestamp,
    /// The user field is empty.
    MissingUser,
    /// The item field is empty.
    MissingItem,
    /// A user or item id contains a tab, line break or other control character (ids are
    /// written to TSV files and shown in terminals).
    BadId,
    /// A user or item id is longer than [`MAX_ID_BYTES`] bytes.
    LongId,
    /// A weight that is finite but would add up to more than the f32 range for its
    /// (user, item) pair.
    WeightOverflow,
    /// Online Retail: the invoice number starts with `C`.
    Cancellation,
    /// Online Retail: CustomerID is empty (guest purchases).
    NoCustomer,
    /// Online Retail: Quantity ≤ 0.
    NonPositiveQuantity,
    /// Online Retail: the stock code is not a product (postage, fees, discounts, …).
    NonProductCode,
    /// Online Retail: UnitPrice ≤ 0.
    NonPositivePrice,
    /// The rating is below `--min-rating`.
    BelowMinRating,
    /// The weight is zero or negative.
    NonPositiveWeight,
}

impl RejectReason {
    /// A short human-readable label.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::WrongColumnCount => "wrong column count",
            RejectReason::BadUtf8 => "bad UTF-8",
            RejectReason::BadNumber => "bad number",
            RejectReason::BadTimestamp => "bad timestamp",
            RejectReason::MissingUser => "missing user",
            RejectReason::MissingItem => "missing item",
            RejectReason::BadId => "control character (tab, line break, NUL, ...) in an id",
            RejectReason::LongId => "id too long",
            RejectReason::WeightOverflow => "weight sum too large for f32",
            RejectReason::Cancellation => "cancellation (invoice C…)",
            RejectReason::NoCustomer => "missing CustomerID",
            RejectReason::NonPositiveQuantity => "quantity <= 0",
            RejectReason::NonProductCode => "non-product stock code",
            RejectReason::NonPositivePrice => "unit price <= 0",
            RejectReason::BelowMinRating => "rating below --min-rating",
            RejectReason::NonPositiveWeight => "weight <= 0",
        }
    }

    /// True for rows that are broken (fatal with `--strict`), false for rows a rule drops.
    pub fn is_malformed(self) -> bool {
        matches!(
            self,
            RejectReason::WrongColumnCount
                | RejectReason::BadUtf8
                | RejectReason::BadNumber
                | RejectReason::BadTimestamp
                | RejectReason::MissingUser
                | RejectReason::MissingItem
                | RejectReason::BadId
                | RejectReason::LongId
                | RejectReason::WeightOverflow
        )
    }
}

/// Count and first examples of one rejection reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rejections {
    /// Number of rows rejected for this reason.
    pub count: u64,
    /// Up to [`MAX_EXAMPLES`] `(1-based line number, detail)` pairs, in file order.
    pub examples: Vec<(u64, String)>,
}

/// How many example rows are kept per rejection reason.
pub const MAX_EXAMPLES: usize = 5;

/// What reading one raw file did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// The input file.
    pub path: PathBuf,
    /// How the file was read, e.g. `gzip, ',' separated, header line, preset online-retail`.
    pub format: String,
    /// Data rows read (the header line excluded).
    pub rows_read: u64,
    /// Rows used.
    pub rows_kept: u64,
    /// Rejected rows by reason.
    pub rejected: BTreeMap<RejectReason, Rejections>,
    /// Distinct users kept.
    pub n_users: usize,
    /// Distinct items kept.
    pub n_items: usize,
    /// Distinct (user, item) pairs kept.
    pub n_interactions: usize,
}

impl IngestReport {
    /// Total rejected rows.
    pub fn rows_rejected(&self) -> u64 {
        self.rejected.values().map(|r| r.count).sum()
    }

    fn reject(&mut self, reason: RejectReason, line: u64, detail: String) {
        let r = self.rejected.entry(reason).or_default();
        r.count += 1;
        if r.examples.len() < MAX_EXAMPLES {
            r.examples.push((line, detail));
        }
    }

    fn summary(&self) -> String {
        if self.rows_read == 0 {
            return "a header line and no data rows".into();
        }
        let reasons: Vec<String> = self
            .rejected
            .iter()
            .map(|(k, r)| format!("{} {}", r.count, k.label()))
            .collect();
        format!("{} rows read, rejected: {}", self.rows_read, reasons.join(", "))
    }
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "input         {} ({})", self.path.display(), self.format)?;
        writeln!(f, "rows read     {:>10}", self.rows_read)?;
        writeln!(f, "rows kept     {:>10}", self.rows_kept)?;
        writeln!(f, "rows rejected {:>10}", self.rows_rejected())?;
        for (reason, r) in &self.rejected {
            let kind = if reason.is_malformed() {
                "malformed"
            } else {
                "rule"
            };
            writeln!(f, "  {:>10}  {} [{kind}]", r.count, reason.label())?;
            for (line, detail) in &r.examples {
                writeln!(f, "              line {line}: {detail}")?;
            }
        }
        writeln!(f, "users         {:>10}", self.n_users)?;
        writeln!(f, "items         {:>10}", self.n_items)?;
        write!(
            f,
            "interactions  {:>10} (distinct user-item pairs)",
            self.n_interactions
        )
    }
}

/// One aggregated (user, item) pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub weight: f64,
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// Catalog information gathered per item.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemMeta {
    /// How often each name was seen.
    pub names: HashMap<String, u64>,
    /// Every unit price seen.
    pub prices: Vec<f32>,
    /// Rows kept for this item.
    pub rows: u64,
}

impl ItemMeta {
    fn merge(&mut self, other: ItemMeta) {
        for (name, n) in other.names {
            *self.names.entry(name).or_default() += n;
        }
        self.prices.extend(other.prices);
        self.rows += other.rows;
    }

    /// The most common name (ties: the smallest), "" if none.
    pub fn name(&self) -> String {
        self.names
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    }

    /// The median price (mean of the two middle values for an even count).
    pub fn median_price(&self) -> Option<f32> {
        let mut p = self.prices.clone();
        p.sort_by(f32::total_cmp);
        let n = p.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(p[n / 2]),
            _ => Some(((f64::from(p[n / 2 - 1]) + f64::from(p[n / 2])) / 2.0) as f32),
        }
    }
}

/// Ids in order of first appearance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interner {
    pub ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_owned());
        self.index.insert(id.to_owned(), i);
        i
    }
}

/// Everything read from one file, indexed in order of first appearance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Collected {
    pub users: Interner,
    pub items: Interner,
    pub pairs: HashMap<(u32, u32), Pair>,
    pub item_meta: Vec<ItemMeta>,
}

impl Collected {
    /// Adds a row; refuses it (changing nothing) if its pair's weight sum would not fit in f32.
    fn push(&mut self, row: &Row<'_>) -> Result<(), Reject> {
        if let (Some(&u), Some(&i)) = (self.users.index.get(row.user), self.items.index.get(row.item)) {
            if let Some(p) = self.pairs.get(&(u, i)) {
                let sum = p.weight + row.weight;
                if !(sum as f32).is_finite() {
                    return Err((
                        RejectReason::WeightOverflow,
                        format!(
                            "weight {} makes the sum for user {} and item {} {sum:e}, above the f32 maximum 3.4e38",
                            row.weight,
                            shown_str(row.user),
                            shown_str(row.item)
                        ),
                    ));
                }
            }
        }
        let u = self.users.intern(row.user);
        let i = self.items.intern(row.item);
        if i as usize == self.item_meta.len() {
            self.item_meta.push(ItemMeta::default());
        }
        let meta = &mut self.item_meta[i as usize];
        meta.rows += 1;
        if let Some(name) = row.name.filter(|n| !n.is_empty()) {
            match meta.names.get_mut(name) {
                Some(n) => *n += 1,
                None => {
                    let clean = name.replace(char::is_control, " ");
                    *meta.names.entry(clean).or_default() += 1;
                }
            }
        }
        meta.prices.extend(row.price);
        let p = self.pairs.entry((u, i)).or_insert(Pair {
            weight: 0.0,
            first: None,
            last: None,
        });
        p.weight += row.weight;
        if let Some(t) = row.time {
            p.first = Some(p.first.map_or(t, |f| f.min(t)));
            p.last = Some(p.last.map_or(t, |l| l.max(t)));
        }
        Ok(())
    }

    /// Adds `other`'s ids (not its pairs) and item catalog to this one; returns `other`'s
    /// pairs re-indexed into this id space.
    pub fn absorb(&mut self, other: Collected) -> HashMap<(u32, u32), Pair> {
        let umap: Vec<u32> = other.users.ids.iter().map(|id| self.users.intern(id)).collect();
        let imap: Vec<u32> = other.items.ids.iter().map(|id| self.items.intern(id)).collect();
        self.item_meta
            .resize_with(self.items.ids.len(), ItemMeta::default);
        for (i, meta) in other.item_meta.into_iter().enumerate() {
            self.item_meta[imap[i] as usize].merge(meta);
        }
        other
            .pairs
            .into_iter()
            .map(|((u, i), p)| ((umap[u as usize], imap[i as usize]), p))
            .collect()
    }
}

/// One accepted row.
struct Row<'a> {
    user: &'a str,
    item: &'a str,
    weight: f64,
    time: Option<i64>,
    name: Option<&'a str>,
    price: Option<f32>,
}

type Reject = (RejectReason, String);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rules {
    Generic,
    OnlineRetail,
    Movielens,
}

/// Which field holds what, and the rules to apply.
#[derive(Debug, Clone)]
struct Plan {
    n_fields: usize,
    user: usize,
    item: usize,
    weight: Option<usize>,
    time: Option<usize>,
    name: Option<usize>,
    price: Option<usize>,
    invoice: Option<usize>,
    quantity: Option<usize>,
    rules: Rules,
    min_rating: Option<f64>,
}

fn field<'r>(rec: &'r ByteRecord, i: usize, what: &str) -> Result<&'r str, Reject> {
    let b = rec.get(i).unwrap_or_default();
    std::str::from_utf8(b).map(str::trim).map_err(|e| {
        (
            RejectReason::BadUtf8,
            format!(
                "{what} field {} has an invalid byte at offset {}",
                i + 1,
                e.valid_up_to()
            ),
        )
    })
}

fn number(s: &str, what: &str) -> Result<f64, Reject> {
    s.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
        (
            RejectReason::BadNumber,
            format!("{what} {} is not a number", shown_str(s)),
        )
    })
}

/// A number stored as f32 (weights, prices): it must also be finite as an f32.
fn number_f32(s: &str, what: &str) -> Result<f64, Reject> {
    let v = number(s, what)?;
    if !(v as f32).is_finite() {
        return Err((
            RejectReason::BadNumber,
            format!("{what} {} is outside the f32 range (|x| <= 3.4e38)", shown_str(s)),
        ));
    }
    Ok(v)
}

fn id<'r>(rec: &'r ByteRecord, i: usize, what: &str, missing: RejectReason) -> Result<&'r str, Reject> {
    let s = field(rec, i, what)?;
    if s.is_empty() {
        return Err((missing, format!("empty {what}")));
    }
    if s.len() > MAX_ID_BYTES {
        return Err((
            RejectReason::LongId,
            format!("{what} {} is longer than {MAX_ID_BYTES} bytes", shown_str(s)),
        ));
    }
    if s.contains(char::is_control) {
        return Err((RejectReason::BadId, format!("{what} {}", shown_str(s))));
    }
    Ok(s)
}

/// Online Retail product codes: five digits, optionally followed by letters (`85123A`).
/// Everything else (POST, DOT, M, D, C2, BANK CHARGES, AMAZONFEE, CRUK, PADS, B, S, m,
/// gift_0001_*, DCGS*) is a fee, postage, discount, voucher or adjustment.
pub fn is_product_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() >= 5 && b[..5].iter().all(u8::is_ascii_digit) && b[5..].iter().all(u8::is_ascii_alphabetic)
}

impl Plan {
    fn parse<'r>(&self, rec: &'r ByteRecord) -> Result<Row<'r>, Reject> {
        if rec.len() != self.n_fields {
            return Err((
                RejectReason::WrongColumnCount,
                format!("expected {} fields, found {}", self.n_fields, rec.len()),
            ));
        }
        if self.rules == Rules::OnlineRetail {
            if let Some(c) = self.invoice {
                let inv = field(rec, c, "invoice")?;
                if inv.starts_with(['C', 'c']) {
                    return Err((RejectReason::Cancellation, format!("invoice {}", shown_str(inv))));
                }
            }
        }
        let user = match self.rules {
            Rules::OnlineRetail => id(rec, self.user, "CustomerID", RejectReason::NoCustomer)?,
            _ => id(rec, self.user, "user", RejectReason::MissingUser)?,
        };
        if let Some(c) = self.quantity {
            let q = number(field(rec, c, "quantity")?, "quantity")?;
            if q <= 0.0 {
                return Err((RejectReason::NonPositiveQuantity, format!("quantity {q}")));
            }
        }
        let item = id(rec, self.item, "item", RejectReason::MissingItem)?;
        if self.rules == Rules::OnlineRetail && !is_product_code(item) {
            return Err((
                RejectReason::NonProductCode,
                format!("stock code {}", shown_str(item)),
            ));
        }
        let price = match self.price {
            Some(c) => match field(rec, c, "price")? {
                "" => None,
                s => Some(number_f32(s, "price")?),
            },
            None => None,
        };
        if self.rules == Rules::OnlineRetail && price.is_some_and(|p| p <= 0.0) {
            return Err((
                RejectReason::NonPositivePrice,
                format!("unit price {}", price.unwrap_or_default()),
            ));
        }
        let mut weight = match self.weight {
            Some(c) => number_f32(field(rec, c, "weight")?, "weight")?,
            None => 1.0,
        };
        if let Some(min) = self.min_rating {
            if weight < min {
                return Err((RejectReason::BelowMinRating, format!("rating {weight} < {min}")));
            }
        }
        if self.rules == Rules::Movielens {
            weight = 1.0;
        }
        if weight <= 0.0 {
            return Err((RejectReason::NonPositiveWeight, format!("weight {weight}")));
        }
        let time = match self.time {
            Some(c) => match field(rec, c, "timestamp")? {
                "" => None,
                s => Some(parse_timestamp(s).ok_or_else(|| {
                    (
                        RejectReason::BadTimestamp,
                        format!(
                            "timestamp {} is neither unix seconds nor YYYY-MM-DD HH:MM:SS",
                            shown_str(s)
                        ),
                    )
                })?),
            },
            None => None,
        };
        let name = match self.name {
            Some(c) => Some(field(rec, c, "name")?),
            None => None,
        };
        Ok(Row {
            user,
            item,
            weight,
            time,
            name,
            price: price.map(|p| p as f32),
        })
    }
}

/// Records of a CSV-like file, of a `::`-separated one, or of Parquet files.
enum Records {
    Csv(csv::Reader<Guard<Box<dyn BufRead>>>),
    DoubleColon {
        input: BufReader<Guard<Box<dyn BufRead>>>,
        line: u64,
        buf: Vec<u8>,
    },
    Parquet(super::parquet::ParquetRecords),
}

impl Records {
    /// Reads the next non-empty record into `rec`; returns its 1-based line number.
    fn next(&mut self, rec: &mut ByteRecord) -> io::Result<Option<u64>> {
        match self {
            Records::Csv(r) => match r.read_byte_record(rec) {
                Ok(true) => Ok(Some(rec.position().map_or(0, |p| p.line()))),
                Ok(false) => Ok(None),
                Err(e) => Err(match e.into_kind() {
                    csv::ErrorKind::Io(e) => e,
                    other => io::Error::other(format!("{other:?}")),
                }),
            },
            Records::DoubleColon { input, line, buf } => loop {
                buf.clear();
                if input.read_until(b'\n', buf)? == 0 {
                    return Ok(None);
                }
                *line += 1;
                let l = buf.trim_ascii_end();
                if l.is_empty() {
                    continue;
                }
                rec.clear();
                let (mut start, mut i) = (0, 0);
                while i + 1 < l.len() {
                    if l[i] == b':' && l[i + 1] == b':' {
                        rec.push_field(&l[start..i]);
                        i += 2;
                        start = i;
                    } else {
                        i += 1;
                    }
                }
                rec.push_field(&l[start..]);
                return Ok(Some(*line));
            },
            Records::Parquet(p) => p.next(rec),
        }
    }
}

/// Counts the bytes read from the (compressed) file into the progress bar.
struct Counting<R> {
    inner: R,
    bar: Progress,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn progress_bar(len: u64, path: &Path, show: bool) -> Progress {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if show {
        Progress::bytes(format!("reading {name}"), len)
    } else {
        Progress::hidden()
    }
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

const USER_ALIASES: &[&str] = &["user", "userid", "customerid", "customer", "visitorid", "uid"];
const ITEM_ALIASES: &[&str] = &[
    "item",
    "itemid",
    "movieid",
    "movie",
    "stockcode",
    "productid",
    "product",
    "sku",
    "iid",
];
const WEIGHT_ALIASES: &[&str] = &["weight", "rating", "count", "score", "value"];
const TIME_ALIASES: &[&str] = &[
    "timestamp",
    "firsttimestamp",
    "time",
    "ts",
    "datetime",
    "date",
    "invoicedate",
];
const NAME_ALIASES: &[&str] = &["name", "title", "description", "itemname", "productname"];
const PRICE_ALIASES: &[&str] = &["price", "unitprice"];

/// Finds columns in a header line: exact name first, then case/punctuation-insensitive.
struct Header<'a> {
    path: &'a Path,
    names: Vec<String>,
    norm: Vec<String>,
}

impl Header<'_> {
    fn find_alias(&self, aliases: &[&str]) -> Option<usize> {
        aliases.iter().find_map(|a| self.norm.iter().position(|n| n == a))
    }

    /// The header's names for a message (escaped, at most 20).
    fn available(&self) -> String {
        let mut list: Vec<String> = self.names.iter().take(20).map(|n| shown_str(n)).collect();
        if self.names.len() > 20 {
            list.push(format!("… {} more", self.names.len() - 20));
        }
        list.join(", ")
    }

    /// The column named by an option, else the first alias present. A name found twice
    /// (exactly, or ignoring case and punctuation when that is how it was found) is an error.
    fn column(
        &self,
        explicit: Option<&str>,
        option: &'static str,
        aliases: &[&str],
    ) -> Result<Option<usize>> {
        let exact = explicit.and_then(|name| self.names.iter().position(|n| n == name));
        let found = match (exact, explicit) {
            (Some(c), _) => Some(c),
            (None, Some(name)) => Some(self.norm.iter().position(|n| *n == normalize(name)).ok_or_else(
                || ServerError::MissingColumn {
                    path: self.path.to_path_buf(),
                    column: name.to_owned(),
                    option,
                    available: self.available(),
                },
            )?),
            (None, None) => self.find_alias(aliases),
        };
        let Some(c) = found else { return Ok(None) };
        let same: Vec<usize> = match exact {
            Some(_) => (0..self.names.len())
                .filter(|&k| self.names[k] == self.names[c])
                .collect(),
            None => (0..self.norm.len())
                .filter(|&k| self.norm[k] == self.norm[c])
                .collect(),
        };
        if same.len() > 1 {
            let fields: Vec<String> = same.iter().map(|k| (k + 1).to_string()).collect();
            return Err(ServerError::UnknownLayout {
                path: self.path.to_path_buf(),
                reason: format!(
                    "the header names column {} more than once (fields {}), so it is ambiguous; rename or remove the duplicate{}",
                    shown_str(&self.names[c]),
                    fields.join(", "),
                    if option.ends_with("-col") {
                        format!(", or pass --{option} with an exact, unique name")
                    } else {
                        String::new()
                    }
                ),
            });
        }
        Ok(Some(c))
    }

    fn required(&self, explicit: Option<&str>, option: &'static str, aliases: &[&str]) -> Result<usize> {
        self.column(explicit, option, aliases)?
            .ok_or_else(|| ServerError::MissingColumn {
                path: self.path.to_path_buf(),
                column: aliases[0].to_owned(),
                option,
                available: self.available(),
            })
    }
}

/// Decides the column plan from the first record; `true` when that record is data.
fn plan(path: &Path, opts: &ReadOptions, first: &ByteRecord) -> Result<(Plan, Rules, bool)> {
    let names: Vec<String> = first
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let s = String::from_utf8_lossy(f);
            let s = if i == 0 {
                s.trim_start_matches('\u{feff}')
            } else {
                &s
            };
            s.trim().to_owned()
        })
        .collect();
    let header = Header {
        path,
        norm: names.iter().map(|n| normalize(n)).collect(),
        names,
    };
    let is_online_retail_header = ["invoiceno", "stockcode", "customerid"]
        .iter()
        .all(|c| header.norm.iter().any(|n| n == c));
    let rules = match opts.preset {
        Preset::OnlineRetail => Rules::OnlineRetail,
        Preset::Movielens => Rules::Movielens,
        Preset::Generic => Rules::Generic,
        Preset::Auto if !opts.no_header && is_online_retail_header => Rules::OnlineRetail,
        Preset::Auto => Rules::Generic,
    };
    let min_rating = match rules {
        Rules::Movielens => Some(opts.min_rating.unwrap_or(4.0)),
        _ => opts.min_rating,
    };
    let explicit = [
        &opts.user_col,
        &opts.item_col,
        &opts.weight_col,
        &opts.time_col,
        &opts.name_col,
        &opts.price_col,
    ]
    .iter()
    .any(|c| c.is_some());
    let n = first.len();
    let positional = |n_fields: usize| Plan {
        n_fields,
        user: 0,
        item: 1,
        weight: (n_fields > 2).then_some(2),
        time: (n_fields > 3).then_some(3),
        name: None,
        price: None,
        invoice: None,
        quantity: None,
        rules,
        min_rating,
    };
    let layout_err = |reason: String| ServerError::UnknownLayout {
        path: path.to_path_buf(),
        reason,
    };
    if opts.no_header {
        if explicit {
            return Err(ServerError::Usage(
                "--no-header files have positional columns (user, item, [weight], [timestamp]); drop the --*-col options".into(),
            ));
        }
        if rules == Rules::OnlineRetail {
            return Err(ServerError::Usage(
                "the online-retail preset needs the file's header line; drop --no-header".into(),
            ));
        }
        if n < 2 {
            return Err(layout_err(format!(
                "the first line has {n} field(s); at least user and item are needed (is --delimiter right?)"
            )));
        }
        return Ok((positional(n), rules, true));
    }
    fn o(c: &Option<String>) -> Option<&str> {
        c.as_deref()
    }
    if rules == Rules::OnlineRetail {
        let col = |c: &Option<String>, default: &str, option| {
            header.required(Some(o(c).unwrap_or(default)), option, &[default])
        };
        let plan = Plan {
            n_fields: n,
            user: col(&opts.user_col, "CustomerID", "user-col")?,
            item: col(&opts.item_col, "StockCode", "item-col")?,
            weight: header.column(o(&opts.weight_col), "weight-col", &[])?,
            time: Some(col(&opts.time_col, "InvoiceDate", "time-col")?),
            name: Some(col(&opts.name_col, "Description", "name-col")?),
            price: Some(col(&opts.price_col, "UnitPrice", "price-col")?),
            invoice: Some(header.required(Some("InvoiceNo"), "preset", &["InvoiceNo"])?),
            quantity: Some(header.required(Some("Quantity"), "preset", &["Quantity"])?),
            rules,
            min_rating,
        };
        return Ok((plan, rules, false));
    }
    let user = header.column(o(&opts.user_col), "user-col", USER_ALIASES)?;
    let item = header.column(o(&opts.item_col), "item-col", ITEM_ALIASES)?;
    if !explicit && (user.is_none() || item.is_none()) {
        let third_is_number = first
            .get(2)
            .and_then(|f| std::str::from_utf8(f).ok())
            .is_none_or(|s| s.trim().parse::<f64>().is_ok());
        if (2..=4).contains(&n) && third_is_number {
            return Ok((positional(n), rules, true));
        }
        return Err(layout_err(format!(
            "the first line ({}) names no user and item columns; pass --user-col and --item-col, or --no-header for positional columns user, item, [weight], [timestamp]",
            header.available()
        )));
    }
    let plan = Plan {
        n_fields: n,
        user: header.required(o(&opts.user_col), "user-col", USER_ALIASES)?,
        item: header.required(o(&opts.item_col), "item-col", ITEM_ALIASES)?,
        weight: header.column(o(&opts.weight_col), "weight-col", WEIGHT_ALIASES)?,
        time: header.column(o(&opts.time_col), "time-col", TIME_ALIASES)?,
        name: header.column(o(&opts.name_col), "name-col", NAME_ALIASES)?,
        price: header.column(o(&opts.price_col), "price-col", PRICE_ALIASES)?,
        invoice: None,
        quantity: None,
        rules,
        min_rating,
    };
    Ok((plan, rules, false))
}

fn detect_delimiter(path: &Path, head: &[u8]) -> Delimiter {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("tsv" | "tab") => return Delimiter::Byte(b'\t'),
        Some("csv") => return Delimiter::Byte(b','),
        _ => {}
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if line.windows(2).any(|w| w == b"::") {
        return Delimiter::DoubleColon;
    }
    [b'\t', b',', b';', b'|']
        .into_iter()
        .map(|d| (line.iter().filter(|&&b| b == d).count(), d))
        .filter(|&(n, _)| n > 0)
        .max_by_key(|&(n, d)| (n, std::cmp::Reverse(d)))
        .map_or(Delimiter::Byte(b','), |(_, d)| Delimiter::Byte(d))
}

/// Bytes read before the delimiter is sniffed from the first line (and the most of it looked at).
pub const SNIFF_BYTES: usize = 1 << 18;

/// Reads one raw file into aggregated pairs and a report.
pub(crate) fn collect(path: &Path, opts: &ReadOptions) -> Result<(Collected, IngestReport)> {
    let io_err = |e| ServerError::io(path, e);
    if path.is_dir() {
        return collect_parquet(path, opts);
    }
    let mut file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match file.read(&mut magic[got..]).map_err(io_err)? {
            0 => break,
            n => got += n,
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    if got == 4 && &magic == super::parquet::MAGIC {
        return collect_parquet(path, opts);
    }
    let gzip = got >= 2 && magic[..2] == [0x1f, 0x8b];
    collect_from(path, file, len, gzip, opts)
}

/// Reads a Parquet file, or a folder of them (as Spark writes), like a CSV file with a header.
fn collect_parquet(path: &Path, opts: &ReadOptions) -> Result<(Collected, IngestReport)> {
    let (records, len, files) = super::parquet::ParquetRecords::open(path)?;
    let bar = progress_bar(len, path, opts.progress);
    let label = if files == 1 {
        "parquet".to_string()
    } else {
        format!("parquet ({files} files)")
    };
    let records = Records::Parquet(records.with_progress(bar.clone()));
    collect_records(path, records, bar, label, opts)
}

/// Reads raw file bytes held in memory; `path` names them in messages and its extension
/// chooses the delimiter as for a file.
pub(crate) fn collect_bytes(
    path: &Path,
    bytes: &[u8],
    opts: &ReadOptions,
) -> Result<(Collected, IngestReport)> {
    if bytes.starts_with(super::parquet::MAGIC) {
        let records = Records::Parquet(super::parquet::ParquetRecords::from_bytes(path, bytes)?);
        return collect_records(path, records, Progress::hidden(), "parquet".into(), opts);
    }
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    collect_from(
        path,
        io::Cursor::new(bytes.to_vec()),
        bytes.len() as u64,
        gzip,
        opts,
    )
}

fn collect_from(
    path: &Path,
    file: impl Read + 'static,
    len: u64,
    gzip: bool,
    opts: &ReadOptions,
) -> Result<(Collected, IngestReport)> {
    let io_err = |e| ServerError::io(path, e);
    let bar = progress_bar(len, path, opts.progress);
    let counted = Counting {
        inner: file,
        bar: bar.clone(),
    };
    let raw: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            counted,
        )))
    } else {
        Box::new(counted)
    };
    // The delimiter is sniffed from this first buffer (at most SNIFF_BYTES).
    let mut input: Box<dyn BufRead> = Box::new(BufReader::with_capacity(SNIFF_BYTES, raw));
    let head = input.fill_buf().map_err(io_err)?;
    if head.is_empty() {
        return Err(ServerError::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    let delimiter = opts.delimiter.unwrap_or_else(|| detect_delimiter(path, head));
    let records = match delimiter {
        Delimiter::DoubleColon => Records::DoubleColon {
            input: BufReader::with_capacity(1 << 16, Guard::new(input, None, None)),
            line: 0,
            buf: Vec::new(),
        },
        Delimiter::Byte(d) => {
            let quote = (!opts.no_quotes).then_some(b'"');
            Records::Csv(
                csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .delimiter(d)
                    .quoting(quote.is_some())
                    .from_reader(Guard::new(input, quote, Some(d))),
            )
        }
    };
    let label = format!("{}{} separated", if gzip { "gzip, " } else { "" }, delimiter);
    collect_records(path, records, bar, label, opts)
}

/// Reads every record: the first is the header (or data, see [`plan`]), each other a row.
fn collect_records(
    path: &Path,
    mut records: Records,
    bar: Progress,
    label: String,
    opts: &ReadOptions,
) -> Result<(Collected, IngestReport)> {
    let io_err = |e| ServerError::io(path, e);
    let mut rec = ByteRecord::new();
    let Some(first_line) = records.next(&mut rec).map_err(io_err)? else {
        return Err(ServerError::EmptyInput {
            path: path.to_path_buf(),
        });
    };
    let (plan, rules, first_is_data) = plan(path, opts, &rec)?;
    // Parquet column names are never data, even when they name no known column.
    let first_is_data = first_is_data && !matches!(records, Records::Parquet(_));
    let mut report = IngestReport {
        path: path.to_path_buf(),
        format: format!(
            "{label}, {}, preset {}",
            if first_is_data { "no header" } else { "header line" },
            match rules {
                Rules::Generic => "generic",
                Rules::OnlineRetail => "online-retail",
                Rules::Movielens => "movielens",
            }
        ),
        ..IngestReport::default()
    };
    let mut out = Collected::default();
    let mut line = first_line;
    let mut have = first_is_data;
    loop {
        if have {
            report.rows_read += 1;
            match plan.parse(&rec).and_then(|row| out.push(&row)) {
                Ok(()) => report.rows_kept += 1,
                Err((reason, detail)) => {
                    if opts.strict && reason.is_malformed() {
                        bar.finish_and_clear();
                        return Err(ServerError::StrictRejected {
                            path: path.to_path_buf(),
                            line,
                            reason: reason.label().into(),
                            detail,
                        });
                    }
                    report.reject(reason, line, detail);
                }
            }
        }
        match records.next(&mut rec).map_err(io_err)? {
            Some(l) => {
                line = l;
                have = true;
            }
            None => break,
        }
    }
    bar.finish_and_clear();
    if report.rows_kept == 0 {
        return Err(ServerError::NoUsableRows {
            path: path.to_path_buf(),
            summary: report.summary(),
        });
    }
    report.n_users = out.users.ids.len();
    report.n_items = out.items.ids.len();
    report.n_interactions = out.pairs.len();
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_codes() {
        for ok in ["85123A", "71053", "85099b", "84029G"] {
            assert!(is_product_code(ok), "{ok}");
        }
        for bad in [
            "POST",
            "DOT",
            "M",
            "C2",
            "BANK CHARGES",
            "gift_0001_20",
            "DCGS0003",
            "DCGSSGIRL",
            "1234",
            "12345-1",
            "",
        ] {
            assert!(!is_product_code(bad), "{bad}");
        }
    }

    #[test]
    fn delimiter_detection() {
        let p = |s: &str| Path::new(s).to_path_buf();
        assert_eq!(detect_delimiter(&p("a.tsv.gz"), b"a,b"), Delimiter::Byte(b'\t'));
        assert_eq!(detect_delimiter(&p("a.CSV"), b"a\tb"), Delimiter::Byte(b','));
        assert_eq!(
            detect_delimiter(&p("ratings.dat"), b"1::2::5::9\n"),
            Delimiter::DoubleColon
        );
        assert_eq!(
            detect_delimiter(&p("u.data"), b"1\t2\t5\t9\n"),
            Delimiter::Byte(b'\t')
        );
        assert_eq!(detect_delimiter(&p("x"), b"a;b;c"), Delimiter::Byte(b';'));
        assert_eq!(Delimiter::parse("tab"), Ok(Delimiter::Byte(b'\t')));
        assert!(Delimiter::parse("ab").is_err());
    }

    #[test]
    fn median_and_name() {
        let mut m = ItemMeta {
            prices: vec![3.0, 1.0, 2.0, 10.0],
            ..ItemMeta::default()
        };
        m.names.insert("B".into(), 2);
        m.names.insert("A".into(), 2);
        m.names.insert("C".into(), 1);
        assert_eq!(m.median_price(), Some(2.5));
        assert_eq!(m.name(), "A");
    }
}
