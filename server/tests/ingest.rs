//! `reco ingest` and the dataset readers: the real binary in temporary folders, plus the
//! library API (`Dataset::read`, `read_pair`, `load_features`).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use reco_server::dataset::{Dataset, Preset, ReadOptions, RejectReason};
use reco_server::ServerError;

mod cli_common;
use cli_common::{stderr, stdout};

/// `reco args…` in `dir` (see [`cli_common::reco`]).
fn reco(dir: &Path, args: &[&str]) -> Output {
    cli_common::reco(dir, &[], args)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// (user id, item id, weight) of every stored entry, in index order.
fn triples(d: &Dataset) -> Vec<(String, String, f32)> {
    let it = &d.interactions;
    let mut out = Vec::new();
    for r in 0..it.matrix.n_rows() {
        let (cols, vals) = it.matrix.row(r);
        for (&c, &v) in cols.iter().zip(vals) {
            out.push((it.users.ids()[r].clone(), it.items.ids()[c as usize].clone(), v));
        }
    }
    out
}

fn t(u: &str, i: &str, w: f32) -> (String, String, f32) {
    (u.into(), i.into(), w)
}

const MALFORMED: &[u8] = b"user_id\titem_id\tweight\n\
u1\ti1\t2\n\
u1\ti2\n\
u2\ti1\tabc\n\
u\xff2\ti2\t1\n\
\ti3\t1\n\
u2\ti2\t1.5\n";

#[test]
fn malformed_rows_are_counted_with_reasons_and_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.tsv", MALFORMED);
    let (d, report) = Dataset::read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        (report.rows_read, report.rows_kept, report.rows_rejected()),
        (6, 2, 4)
    );
    let lines = |r: RejectReason| -> Vec<u64> { report.rejected[&r].examples.iter().map(|e| e.0).collect() };
    assert_eq!(lines(RejectReason::WrongColumnCount), [3]);
    assert_eq!(lines(RejectReason::BadNumber), [4]);
    assert_eq!(lines(RejectReason::BadUtf8), [5]);
    assert_eq!(lines(RejectReason::MissingUser), [6]);
    assert_eq!(triples(&d), [t("u1", "i1", 2.0), t("u2", "i2", 1.5)]);

    let o = reco(dir.path(), &["ingest", "bad.tsv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "rows rejected          4",
        "wrong column count",
        "line 3: expected 3 fields, found 2",
        "line 4: weight \"abc\" is not a number",
        "bad UTF-8",
        "line 5:",
        "missing user",
        "line 6: empty user",
    ] {
        assert!(out.contains(needle), "{needle:?} not in\n{out}");
    }
}

#[test]
fn strict_fails_on_the_first_malformed_row() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.tsv", MALFORMED);
    let o = reco(dir.path(), &["ingest", "bad.tsv", "--strict"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("error: bad.tsv:3: wrong column count"), "{err}");
    assert!(!dir.path().join("data/features").exists());
    // Rule-based drops are not malformed: --strict accepts the online-retail fixture.
    let o = reco(
        dir.path(),
        &[
            "ingest",
            fixture("online_retail_small.csv").to_str().unwrap(),
            "--strict",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn empty_file_header_only_and_no_usable_rows_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.csv", b"");
    write(dir.path(), "empty.csv.gz", &gzip(b""));
    write(dir.path(), "header.csv", b"user_id,item_id\n");
    write(dir.path(), "allbad.csv", b"user_id,item_id,weight\na,b,x\n");
    for (file, msg) in [
        ("empty.csv", "empty.csv is empty"),
        ("empty.csv.gz", "empty.csv.gz is empty"),
        (
            "header.csv",
            "header.csv has no usable rows (a header line and no data rows)",
        ),
        (
            "allbad.csv",
            "has no usable rows (1 rows read, rejected: 1 bad number)",
        ),
        ("missing.csv", "missing.csv: "),
    ] {
        let o = reco(dir.path(), &["ingest", file]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        assert!(stderr(&o).starts_with("error: "), "{file}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{file}: {}", stderr(&o));
    }
    let err = Dataset::read(&dir.path().join("header.csv"), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ServerError::NoUsableRows { .. }), "{err}");
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: [&[u8]; 7] = [
        b"\x1f\x8b\x08garbage",
        b"\x00\x01\x02\xff\xfe",
        b"\n\n\n",
        b"a\n",
        b"\"unterminated,quote\nx,y\n",
        b"user,item\n1,2\n3\n,\n\xff,\xff\n4,5,6,7,8\n",
        b"1::2::3\n::\n1::\n",
    ];
    for (k, bytes) in inputs.iter().enumerate() {
        let name = format!("g{k}.dat");
        write(dir.path(), &name, bytes);
        let o = reco(dir.path(), &["ingest", &name]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name}: {}", stderr(&o));
    }
}

#[test]
fn gzip_and_plain_inputs_give_the_same_result_and_duplicates_are_summed() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"user,item,weight\nb,x,1\na,y,2\nb,x,3\na,y,0.5\n";
    let plain = write(dir.path(), "r.csv", csv);
    // A gzip file is recognised by its magic bytes, whatever its name.
    let gz = write(dir.path(), "r_gz.csv", &gzip(csv));
    let (a, ra) = Dataset::read(&plain, &ReadOptions::default()).unwrap();
    let (b, rb) = Dataset::read(&gz, &ReadOptions::default()).unwrap();
    assert_eq!(a, b);
    assert!(rb.format.starts_with("gzip"), "{}", rb.format);
    assert_eq!((ra.rows_kept, ra.n_interactions), (4, 2));
    assert_eq!(triples(&a), [t("a", "y", 2.5), t("b", "x", 4.0)]);
}

#[test]
fn online_retail_rules_on_a_small_fixture() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let raw = std::fs::read(fixture("online_retail_small.csv")).unwrap();
    write(dir.path(), "data/online_retail.csv.gz", &gzip(&raw));
    // No arguments: the default input with the online-retail preset and default outputs.
    let o = reco(dir.path(), &["ingest"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("preset online-retail"), "{out}");
    for (reason, line) in [
        ("cancellation", 5),
        ("missing CustomerID", 6),
        ("non-product stock code", 7),
        ("quantity <= 0", 8),
        ("unit price <= 0", 9),
    ] {
        let at = out
            .find(reason)
            .unwrap_or_else(|| panic!("{reason} not in {out}"));
        assert!(out[at..].contains(&format!("line {line}:")), "{reason}: {out}");
    }
    let d = Dataset::load_features(&dir.path().join("data/features")).unwrap();
    assert_eq!(
        triples(&d),
        [
            t("12583", "71053", 1.0),
            t("12583", "85123A", 1.0),
            t("17850", "71053", 1.0),
            t("17850", "85123A", 2.0),
        ]
    );
    assert_eq!(
        d.item_names,
        ["WHITE METAL LANTERN", "WHITE HANGING HEART T-LIGHT HOLDER"]
    );
    assert_eq!(d.item_prices, [Some(3.39), Some(2.95)]);
    assert_eq!(
        d.timestamps.as_deref(),
        Some(&[1_291_543_200, 1_291_543_200, 1_291_191_960, 1_291_191_960][..])
    );
    let tsv = std::fs::read_to_string(dir.path().join("data/processed/interactions.tsv")).unwrap();
    assert_eq!(
        tsv.lines().collect::<Vec<_>>(),
        [
            "user_id\titem_id\tweight\tfirst_timestamp\tlast_timestamp",
            "12583\t71053\t1\t1291543200\t1291543200",
            "12583\t85123A\t1\t1291543200\t1291543200",
            "17850\t71053\t1\t1291191960\t1291191960",
            "17850\t85123A\t2\t1291191960\t1291280400",
        ]
    );
    let items = std::fs::read_to_string(dir.path().join("data/features/items.tsv")).unwrap();
    assert_eq!(
        items.lines().collect::<Vec<_>>(),
        [
            "index\titem_id\tname\tunit_price\tn_users\tn_purchases",
            "0\t71053\tWHITE METAL LANTERN\t3.39\t2\t2",
            "1\t85123A\tWHITE HANGING HEART T-LIGHT HOLDER\t2.95\t2\t3",
        ]
    );
}

#[test]
fn movielens_u_data_and_ratings_dat_with_min_rating() {
    let opts = |min: Option<f64>| ReadOptions {
        preset: Preset::Movielens,
        min_rating: min,
        ..ReadOptions::default()
    };
    let (u4, r) = Dataset::read(&fixture("u.data"), &opts(None)).unwrap();
    assert_eq!(r.rejected[&RejectReason::BelowMinRating].count, 3);
    assert_eq!(
        triples(&u4),
        [t("22", "51", 1.0), t("186", "242", 1.0), t("196", "51", 1.0)]
    );
    let (d4, _) = Dataset::read(&fixture("ratings.dat"), &opts(None)).unwrap();
    assert_eq!(d4, u4);
    assert_eq!(u4.timestamps, Some(vec![878_887_200, 891_717_800, 881_251_000]));
    let (u3, _) = Dataset::read(&fixture("u.data"), &opts(Some(3.0))).unwrap();
    let (d3, _) = Dataset::read(&fixture("ratings.dat"), &opts(Some(3.0))).unwrap();
    assert_eq!(u3, d3);
    assert_eq!(u3.interactions.matrix.nnz(), 5);
    // The binary: ratings.dat through the preset.
    let dir = tempfile::tempdir().unwrap();
    let o = reco(
        dir.path(),
        &[
            "ingest",
            fixture("ratings.dat").to_str().unwrap(),
            "--preset",
            "movielens",
            "--min-rating",
            "3",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("'::' separated, no header, preset movielens"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        Dataset::load_features(&dir.path().join("data/features")).unwrap(),
        u3
    );
}

#[test]
fn headerless_two_column_tsv_reads_with_no_flags() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "split-train.tsv",
        b"12346\t23166\n12347\t16008\n12347\t85123A\n",
    );
    let o = reco(dir.path(), &["ingest", "split-train.tsv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("tab separated, no header"), "{}", stdout(&o));
    let d = Dataset::load_features(&dir.path().join("data/features")).unwrap();
    assert_eq!(
        triples(&d),
        [
            t("12346", "23166", 1.0),
            t("12347", "16008", 1.0),
            t("12347", "85123A", 1.0)
        ]
    );
    assert_eq!(d.timestamps, None);
    // A header with unknown names and a non-numeric third field is not taken for data.
    write(dir.path(), "odd.csv", b"a,b,c\n1,2,3\n");
    let o = reco(dir.path(), &["ingest", "odd.csv"]);
    assert!(
        stderr(&o).contains("names no user and item columns"),
        "{}",
        stderr(&o)
    );
    // Explicit columns and --no-header.
    write(
        dir.path(),
        "cols.csv",
        b"who,what,when\nu1,i1,2020-01-01T00:00:00\n",
    );
    let opts = ReadOptions {
        user_col: Some("who".into()),
        item_col: Some("what".into()),
        time_col: Some("when".into()),
        ..ReadOptions::default()
    };
    let (d, _) = Dataset::read(&dir.path().join("cols.csv"), &opts).unwrap();
    assert_eq!(d.timestamps, Some(vec![1_577_836_800]));
    // --no-header: even a line that looks like a header is data.
    let nh = write(dir.path(), "nh.csv", b"user,item\nu1,i1\n");
    let opts = ReadOptions {
        no_header: true,
        ..ReadOptions::default()
    };
    let (d, _) = Dataset::read(&nh, &opts).unwrap();
    assert_eq!(d.interactions.users.ids(), ["u1", "user"]);
    let o = reco(dir.path(), &["ingest", "cols.csv", "--user-col", "nobody"]);
    assert!(
        stderr(&o).contains(r#"no column `nobody` in the header (columns: "who", "what", "when")"#),
        "{}",
        stderr(&o)
    );
}

#[test]
fn indices_follow_sorted_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.tsv", b"user\titem\n100\tb\n9\t10\n10\ta\n9\t9\n");
    let (d, _) = Dataset::read(&p, &ReadOptions::default()).unwrap();
    // Users are all integers: numeric order. Items mix letters: byte-wise order.
    assert_eq!(d.interactions.users.ids(), ["9", "10", "100"]);
    assert_eq!(d.interactions.items.ids(), ["10", "9", "a", "b"]);
    assert_eq!(d.interactions.matrix.indptr(), &[0, 2, 3, 4]);
    assert_eq!(d.interactions.matrix.indices(), &[0, 1, 2, 3]);
}

#[test]
fn features_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("online_retail_small.csv");
    let o = reco(
        dir.path(),
        &[
            "ingest",
            input.to_str().unwrap(),
            "--features",
            "f",
            "--interactions",
            "i.tsv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let loaded = Dataset::load_features(&dir.path().join("f")).unwrap();
    let (read, _) = Dataset::read(&input, &ReadOptions::default()).unwrap();
    assert_eq!(loaded, read);
    // A missing or corrupted folder gives an error that says what to do.
    let err = Dataset::load_features(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("nope not found: run `reco ingest` first"), "{err}");
    let m = dir.path().join("f/matrix.safetensors");
    let bytes = std::fs::read(&m).unwrap();
    std::fs::write(&m, &bytes[..bytes.len() - 3]).unwrap();
    let err = Dataset::load_features(&dir.path().join("f"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("re-run `reco ingest`"), "{err}");
}

#[test]
fn read_pair_shares_one_id_space() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "train.tsv", b"2\tb\n1\ta\n");
    let test = write(dir.path(), "test.tsv", b"3\tc\n1\tb\n");
    let tt = Dataset::read_pair(&train, &test, &ReadOptions::default()).unwrap();
    let it = &tt.train.interactions;
    assert_eq!(it.users.ids(), ["1", "2", "3"]);
    assert_eq!(it.items.ids(), ["a", "b", "c"]);
    assert_eq!((tt.test.n_rows(), tt.test.n_cols()), (3, 3));
    assert_eq!((it.matrix.n_rows(), it.matrix.n_cols()), (3, 3));
    assert_eq!(it.matrix.indices(), &[0, 1]);
    assert_eq!(tt.test.indptr(), &[0, 1, 1, 2]);
    assert_eq!(tt.test.indices(), &[1, 2]);
    assert_eq!((tt.train_report.rows_kept, tt.test_report.rows_kept), (2, 2));
}

#[test]
fn help_describes_every_option() {
    let dir = tempfile::tempdir().unwrap();
    let o = reco(dir.path(), &["ingest", "--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    for opt in [
        "--preset",
        "--user-col",
        "--item-col",
        "--weight-col",
        "--time-col",
        "--name-col",
        "--no-header",
        "--min-rating",
        "--strict",
        "--no-quotes",
        "--features",
        "--interactions",
    ] {
        assert!(help.contains(opt), "{opt}");
    }
}
