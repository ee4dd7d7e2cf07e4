//! The raw-interactions reader (`reco ingest`, `train --input`: CSV/TSV/`;`/`|`/`::`, gzip,
//! header sniffing, the input guard, presets) on arbitrary file contents. The first input byte
//! picks the file name (extension-based delimiter detection) and the reading options; the rest
//! is the file. Kept thin: it only calls the public `Dataset::read_bytes` (the same code path
//! as `Dataset::read` after the file is opened, without a file per input).
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reco_server::dataset::{Dataset, Delimiter, Preset, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, contents)) = data.split_first() else {
        return;
    };
    // Not Parquet: the parquet crate's row reader panics on some corrupt pages (e.g. "Decoder
    // for dict should have been set"); reco catches that (catch_unwind, an error naming the
    // file; server/tests/ingest_parquet.rs), but libFuzzer aborts on any panic.
    if contents.starts_with(b"PAR1") {
        return;
    }
    let name = ["x.csv", "x.tsv", "ratings.dat", "x.txt", "x.csv.gz"][selector as usize % 5];
    let mut opts = ReadOptions::default();
    match (selector / 5) % 7 {
        1 => opts.no_header = true,
        2 => opts.delimiter = Some(Delimiter::DoubleColon),
        3 => opts.preset = Preset::Movielens,
        4 => opts.preset = Preset::OnlineRetail,
        5 => opts.strict = true,
        6 => opts.no_quotes = true,
        _ => {}
    }
    let _ = Dataset::read_bytes(Path::new(name), std::hint::black_box(contents), &opts);
});
