//! `reco ingest`: read a raw interactions file, clean it, and write
//! `data/processed/interactions.tsv` plus the `data/features/` folder (formats in
//! [`crate::dataset`]; reading rules in [`reader`]).
//!
//! With no arguments it reads `data/online_retail.csv.gz` with the `online-retail` preset:
//! purchases only (drops `C…` cancellation invoices, empty CustomerID, Quantity ≤ 0,
//! UnitPrice ≤ 0 and stock codes that are not five digits plus optional letters — POST,
//! DOT, M, BANK CHARGES, AMAZONFEE, gift vouchers, …); weight = purchase rows per
//! (customer, stock code); item name = most common trimmed description; price = median.
pub mod guard;
pub mod output;
pub mod parquet;
pub mod reader;
pub mod time;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::dataset::{Ingested, ReadOptions};
use crate::error::{Result, ServerError};
use reader::{Delimiter, Preset};

/// The raw file read when `reco ingest` gets no input.
pub const DEFAULT_INPUT: &str = "data/online_retail.csv.gz";
/// Where `reco ingest` writes the clean interactions by default.
pub const DEFAULT_INTERACTIONS: &str = "data/processed/interactions.tsv";
/// Where `reco ingest` writes the features folder by default (and `train` reads it).
pub const DEFAULT_FEATURES: &str = "data/features";

/// Column and parsing options shared by every command that reads raw files.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Dataset rules (which rows to keep, how to weigh them).
    #[arg(long, value_enum, default_value_t = Preset::Auto)]
    pub preset: Preset,
    /// Header name of the user column [default: an alias such as user_id, userId, CustomerID].
    #[arg(long, value_name = "NAME")]
    pub user_col: Option<String>,
    /// Header name of the item column [default: an alias such as item_id, movieId, StockCode].
    #[arg(long, value_name = "NAME")]
    pub item_col: Option<String>,
    /// Header name of the weight or rating column [default: weight/rating/count/score if present, else 1 per row].
    #[arg(long, value_name = "NAME")]
    pub weight_col: Option<String>,
    /// Header name of the timestamp column: unix seconds or YYYY-MM-DD[ HH:MM:SS], UTC.
    #[arg(long, value_name = "NAME")]
    pub time_col: Option<String>,
    /// Header name of the item name column (the most common name per item is kept).
    #[arg(long, value_name = "NAME")]
    pub name_col: Option<String>,
    /// Header name of the unit price column (the median per item is kept).
    #[arg(long, value_name = "NAME")]
    pub price_col: Option<String>,
    /// The file has no header line: columns are user, item, [weight], [timestamp].
    /// (Detected automatically when the first line has 2-4 fields and names no columns.)
    #[arg(long)]
    pub no_header: bool,
    /// Field separator: tab, comma, ';', '|', '::' or one ASCII character
    /// [default: from the extension (.tsv/.tab tab, .csv comma), else sniffed].
    #[arg(long, value_name = "SEP", value_parser = Delimiter::parse)]
    pub delimiter: Option<Delimiter>,
    /// Keep only rows whose rating/weight is at least this [default: 4 with --preset movielens].
    #[arg(long, value_name = "R")]
    pub min_rating: Option<f64>,
    /// Fail on the first malformed row (wrong column count, bad number/timestamp/UTF-8,
    /// missing id) instead of skipping it. Rows dropped by preset rules never fail.
    #[arg(long)]
    pub strict: bool,
    /// Read `"` as an ordinary character instead of CSV quoting (for files whose fields are
    /// never quoted but may start with a quote, such as `12" ruler`).
    #[arg(long)]
    pub no_quotes: bool,
}

impl ReadArgs {
    /// The equivalent [`ReadOptions`].
    pub fn to_options(&self, progress: bool) -> ReadOptions {
        ReadOptions {
            preset: self.preset,
            user_col: self.user_col.clone(),
            item_col: self.item_col.clone(),
            weight_col: self.weight_col.clone(),
            time_col: self.time_col.clone(),
            name_col: self.name_col.clone(),
            price_col: self.price_col.clone(),
            no_header: self.no_header,
            delimiter: self.delimiter,
            min_rating: self.min_rating,
            strict: self.strict,
            no_quotes: self.no_quotes,
            progress,
        }
    }
}

/// Arguments of `reco ingest`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = crate::progress::HELP)]
pub struct IngestArgs {
    /// Raw interactions file: CSV, TSV or MovieLens '::' text, gzip or plain; or Parquet
    /// (snappy or uncompressed), a file or a folder of `*.parquet` files as Spark writes
    /// [default: data/online_retail.csv.gz with the online-retail preset].
    pub input: Option<PathBuf>,
    /// How to read the input.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Where to write the clean (user, item) interactions TSV: a symbolic link to the copy in
    /// the features folder, so both always come from the same ingest.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_INTERACTIONS)]
    pub interactions: PathBuf,
    /// Folder for matrix.safetensors, users.tsv, items.tsv and interactions.tsv. It is written
    /// beside as .NAME.PID.tmp and swapped in as a whole: a failed or killed ingest leaves the
    /// old folder as it was.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_FEATURES)]
    pub features: PathBuf,
}

/// Runs `reco ingest`: reads, writes the outputs as one set ([`output`]), prints the report.
pub fn run(args: &IngestArgs) -> Result<()> {
    let start = Instant::now();
    let mut opts = args.read.to_options(true);
    let input = match &args.input {
        Some(p) => p.clone(),
        None => {
            if opts.preset == Preset::Auto {
                opts.preset = Preset::OnlineRetail;
            }
            PathBuf::from(DEFAULT_INPUT)
        }
    };
    if !input.exists() {
        return Err(ServerError::io(
            &input,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file (pass the raw data file as the first argument)",
            ),
        ));
    }
    let (ingested, report) = Ingested::read(&input, &opts)?;
    let written = output::write_outputs(&ingested, &args.interactions, &args.features, &input)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{report}");
    let with_time = if ingested.dataset.timestamps.is_some() {
        "with"
    } else {
        "without"
    };
    let _ = writeln!(out, "timestamps    {with_time} first-interaction times");
    for p in written {
        let _ = writeln!(out, "wrote         {}", p.display());
    }
    let _ = writeln!(out, "done in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
