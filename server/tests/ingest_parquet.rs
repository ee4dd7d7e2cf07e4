//! `reco ingest` on Parquet: a file written by pyarrow (snappy; int ids with nulls, a
//! timestamp column) and a folder written by Spark (`part-*.snappy.parquet`, `_SUCCESS`,
//! `.crc` files) read exactly as the CSV they came from — same rows kept, same rejections with
//! the same line numbers, same dataset and timestamps; damaged files fail with a message.
mod cli_common;

use std::path::{Path, PathBuf};

use cli_common::{reco, stderr, stdout};
use reco_server::dataset::{Dataset, ReadOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(path: &Path) -> (Dataset, reco_server::dataset::IngestReport) {
    Dataset::read(path, &ReadOptions::default()).unwrap()
}

#[test]
fn parquet_file_and_spark_folder_read_as_their_csv() {
    for (csv, parquet) in [
        ("online_retail_small.csv", "online_retail_small.parquet"),
        ("spark-als/events.csv", "spark-events.parquet"),
    ] {
        let (a, ra) = read(&fixture(csv));
        let (b, rb) = read(&fixture(parquet));
        assert_eq!(a, b, "{parquet}: dataset differs from {csv}");
        assert_eq!(
            (ra.rows_read, ra.rows_kept, &ra.rejected, ra.n_interactions),
            (rb.rows_read, rb.rows_kept, &rb.rejected, rb.n_interactions),
            "{parquet}"
        );
        assert!(rb.format.starts_with("parquet"), "{}", rb.format);
    }
    let (_, report) = read(&fixture("spark-events.parquet"));
    assert!(
        report.format.starts_with("parquet (2 files)"),
        "{}",
        report.format
    );
    let (d, _) = read(&fixture("online_retail_small.parquet"));
    assert!(d.timestamps.is_some(), "the timestamp column is read");
    // The same bytes held in memory (the fuzzed path) read the same.
    let bytes = std::fs::read(fixture("online_retail_small.parquet")).unwrap();
    let (m, _) = Dataset::read_bytes(Path::new("x.csv"), &bytes, &ReadOptions::default()).unwrap();
    assert_eq!(m, d);
}

#[test]
fn ingest_command_reads_parquet_and_refuses_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = fixture("online_retail_small.parquet");
    let o = reco(d, &[], &["-q", "ingest", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("(parquet, header line, preset online-retail)"),
        "{out}"
    );
    assert!(out.contains("line 5: invoice \"C536379\""), "{out}");
    assert!(d.join("data/features/matrix.safetensors").exists());

    // Truncated and bit-flipped copies: an error or (for a harmless flip) a result, never a panic.
    let bytes = std::fs::read(&input).unwrap();
    let bad = d.join("bad.parquet");
    for len in (4..bytes.len()).step_by(97) {
        std::fs::write(&bad, &bytes[..len]).unwrap();
        let o = reco(
            d,
            &[],
            &[
                "-q",
                "ingest",
                "bad.parquet",
                "--features",
                "f2",
                "--interactions",
                "i2.tsv",
            ],
        );
        assert!(!o.status.success(), "truncated at {len}");
        let err = stderr(&o);
        assert!(err.starts_with("error: ") && err.contains("bad.parquet"), "{err}");
        assert_eq!(o.status.code(), Some(1), "{err}");
    }
    for at in (0..bytes.len()).step_by(41) {
        let mut b = bytes.clone();
        b[at] ^= 0x24;
        std::fs::write(&bad, &b).unwrap();
        let o = reco(
            d,
            &[],
            &[
                "-q",
                "ingest",
                "bad.parquet",
                "--features",
                "f2",
                "--interactions",
                "i2.tsv",
            ],
        );
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "flip at {at}: {}",
            stderr(&o)
        );
    }

    // A file on which the parquet crate's row reader panics (found by fuzzing): reco catches
    // it and exits with an error naming the file.
    let panics = fixture("parquet-panics-reader.parquet");
    let o = reco(
        d,
        &[],
        &[
            "-q",
            "ingest",
            panics.to_str().unwrap(),
            "--features",
            "f4",
            "--interactions",
            "i4.tsv",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("error: ") && err.contains("parquet-panics-reader.parquet"),
        "{err}"
    );
    assert!(err.contains("the file is corrupt"), "{err}");

    // A folder without Parquet files; a folder mixing two tables.
    std::fs::create_dir(d.join("empty")).unwrap();
    let o = reco(d, &[], &["-q", "ingest", "empty"]);
    assert!(stderr(&o).contains("no *.parquet files"), "{}", stderr(&o));
    std::fs::create_dir(d.join("mixed")).unwrap();
    std::fs::copy(&input, d.join("mixed/a.parquet")).unwrap();
    let spark = fixture("spark-events.parquet");
    let part = std::fs::read_dir(&spark)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("part-"))
        .unwrap();
    std::fs::copy(part, d.join("mixed/b.parquet")).unwrap();
    let o = reco(
        d,
        &[],
        &[
            "-q",
            "ingest",
            "mixed",
            "--features",
            "f3",
            "--interactions",
            "i3.tsv",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("differ from the first file's"),
        "{}",
        stderr(&o)
    );
}
