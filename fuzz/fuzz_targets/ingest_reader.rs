//! The raw-interactions reader (`reco ingest`, `train --input`: CSV/TSV/`;`/`|`/`::`, gzip,
//! header sniffing, presets) on arbitrary file contents. The first input byte picks the file
//! name (extension-based delimiter detection) and the reading options; the rest is the file.
//! Kept thin: it only calls the public `Dataset::read`, so it follows the reader's changes.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use reco_server::dataset::{Dataset, Delimiter, Preset, ReadOptions};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // /dev/shm keeps the per-input file off the disk where it exists.
        let base = ["/dev/shm", "/tmp"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("reco-fuzz-ingest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, contents)) = data.split_first() else {
        return;
    };
    let name = ["x.csv", "x.tsv", "ratings.dat", "x.txt", "x.csv.gz"][selector as usize % 5];
    let mut opts = ReadOptions::default();
    match (selector / 5) % 6 {
        1 => opts.no_header = true,
        2 => opts.delimiter = Some(Delimiter::DoubleColon),
        3 => opts.preset = Preset::Movielens,
        4 => opts.preset = Preset::OnlineRetail,
        5 => opts.strict = true,
        _ => {}
    }
    let path = dir().join(name);
    std::fs::write(&path, contents).unwrap();
    let _ = Dataset::read(&path, &opts);
});
