//! `reco ingest` against hostile input (issue 10): unclosed quotes, huge or binary lines,
//! weights beyond f32, duplicate header names, control characters and huge ids.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use reco_server::dataset::{Dataset, ReadOptions, RejectReason};

mod cli_common;
use cli_common::text;

/// `reco args…` in `dir` (see [`cli_common::reco`]).
fn reco(dir: &Path, args: &[&str]) -> Output {
    cli_common::reco(dir, &[], args)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// No raw control characters other than line breaks reach the terminal.
fn assert_clean(s: &str) {
    assert!(
        !s.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters in {s:?}"
    );
}

/// The issue's case: a stray `"` on row 102 of a 10,101-row CSV.
fn stray_quote_csv() -> Vec<u8> {
    let mut s = String::from("user_id,item_id\n");
    for r in 1..=10_101 {
        if r == 102 {
            s.push_str(&format!("u{r},\"i{}\n", r % 50));
        } else {
            s.push_str(&format!("u{r},i{}\n", r % 50));
        }
    }
    s.into_bytes()
}

#[test]
fn an_unclosed_quote_fails_naming_the_line_where_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "stray.csv", &stray_quote_csv());
    let o = reco(dir.path(), &["ingest", "stray.csv"]);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "exit 0 with rows lost: {}", text(&o.stdout));
    assert!(
        err.contains("line 103: a quoted field opened here")
            && err.contains("fix the quote on line 103")
            && err.contains("--no-quotes"),
        "{err}"
    );
    assert!(!dir.path().join("data/features").exists());
    // The library says the same.
    let e = Dataset::read(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 103"), "{e}");
    // With --no-quotes every row is read; the quote is part of the item id.
    let o = reco(dir.path(), &["ingest", "stray.csv", "--no-quotes"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (d, report) = Dataset::read(
        &p,
        &ReadOptions {
            no_quotes: true,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!((report.rows_read, report.rows_kept), (10_101, 10_101));
    assert!(d.interactions.items.ids().contains(&"\"i2".to_string()));
    // A quoted field spanning more than 1000 lines fails before the end of the file.
    let mut long = String::from("user_id,item_id,name\nu1,i1,\"");
    long.push_str(&"x\n".repeat(5000));
    long.push_str("\"\nu2,i2,y\n");
    write(dir.path(), "long.csv", long.as_bytes());
    let o = reco(dir.path(), &["ingest", "long.csv"]);
    let err = text(&o.stderr);
    assert!(
        err.contains("line 2: a quoted field opened here is still open 1000 lines later"),
        "{err}"
    );
    // Quoted fields with a few line breaks and "" are fine.
    write(
        dir.path(),
        "ok.csv",
        b"user_id,item_id,name\nu1,i1,\"two\nlines, \"\"quoted\"\"\"\nu2,\"i,2\",\"\"\n",
    );
    let (d, report) = Dataset::read(&dir.path().join("ok.csv"), &ReadOptions::default()).unwrap();
    assert_eq!((report.rows_read, report.rows_kept), (2, 2));
    assert_eq!(d.interactions.items.ids(), ["i,2", "i1"]);
    assert_eq!(d.item_names[1], "two lines, \"quoted\"");
}

#[test]
fn a_huge_zero_file_fails_fast_with_a_short_escaped_message() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.csv");
    // A sparse 100 MB file of zero bytes, like `truncate -s 100M x.csv`.
    std::fs::File::create(&p).unwrap().set_len(100 << 20).unwrap();
    let start = Instant::now();
    let o = reco(dir.path(), &["ingest", "x.csv"]);
    let took = start.elapsed();
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(err.len() < 500, "{} bytes of stderr", err.len());
    assert!(err.contains("line 1 is longer than the 1 MiB limit"), "{err}");
    assert!(err.contains(r#""\0\0\0"#) && err.contains("\"…"), "{err}");
    assert_clean(&err);
    assert!(!dir.path().join("data").exists());
    // A gzip bomb of the same is stopped the same way.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &vec![0u8; 20 << 20]).unwrap();
    write(dir.path(), "z.csv.gz", &e.finish().unwrap());
    let o = reco(dir.path(), &["ingest", "z.csv.gz"]);
    assert!(text(&o.stderr).contains("line 1 is longer than the 1 MiB limit"));
}

#[test]
fn garbage_bytes_are_escaped_and_cut_in_every_message() {
    let dir = tempfile::tempdir().unwrap();
    // A header of terminal escapes and NULs: the error lists the columns, escaped.
    let long = "L".repeat(5000);
    let header = format!("\x1b]0;pwned\x07,\0\0,\x1b[2J,\u{202e}x,{long}\n1,2,3,4,5\n");
    write(dir.path(), "g.csv", header.as_bytes());
    let o = reco(dir.path(), &["ingest", "g.csv"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(r#""\u{1b}]0;pwned\u{7}", "\0\0", "\u{1b}[2J", "\u{202e}x""#),
        "{err}"
    );
    assert!(err.contains("…(5000 bytes)") && err.len() < 1000, "{err}");
    assert_clean(&err);
    // Rejected rows: ids with control characters and invalid numbers are shown escaped.
    let rows = b"user_id,item_id,weight\nu\x001,i1,1\nu2,i\x1b[31m,1\nu3,i3,\x1b[2J\nu4,i4,1\n";
    write(dir.path(), "r.csv", rows);
    let o = reco(dir.path(), &["ingest", "r.csv"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains(r#"user "u\01""#) && out.contains(r#"item "i\u{1b}[31m""#),
        "{out}"
    );
    assert!(out.contains(r#"weight "\u{1b}[2J" is not a number"#), "{out}");
    assert_clean(&out);
    // Item names (written to items.tsv, shown by `reco recommend`) lose control characters.
    let p = write(
        dir.path(),
        "n.csv",
        b"user_id,item_id,name\nu1,i1,\x1b[31mRed\x00\n",
    );
    let (d, _) = Dataset::read(&p, &ReadOptions::default()).unwrap();
    assert_eq!(d.item_names, [" [31mRed "]);
    let o = reco(dir.path(), &["ingest", "r.csv", "--strict"]);
    let err = text(&o.stderr);
    assert!(err.contains(r#":2: control character"#), "{err}");
    assert_clean(&err);
}

#[test]
fn weights_beyond_f32_are_rejected_per_row_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "w.csv",
        b"user_id,item_id,weight\nu1,i1,1e39\nu2,i1,1e308\nu3,i1,3e38\nu3,i1,3e38\nu4,i2,1\nu5,i2,-1e39\n",
    );
    // The command line exits 0 (it used to abort with "value inf is not finite") and reports them; --strict stops at the first one.
    let o = reco(dir.path(), &["ingest", "w.csv"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("line 2: weight \"1e39\" is outside the f32 range"));
    let o = reco(dir.path(), &["ingest", "w.csv", "--strict"]);
    assert!(
        text(&o.stderr).contains("w.csv:2: bad number"),
        "{}",
        text(&o.stderr)
    );
    let (d, report) = Dataset::read(&p, &ReadOptions::default()).unwrap();
    assert_eq!((report.rows_read, report.rows_kept), (6, 2));
    let lines = |r: RejectReason| -> Vec<u64> { report.rejected[&r].examples.iter().map(|e| e.0).collect() };
    assert_eq!(lines(RejectReason::BadNumber), [2, 3, 7]);
    assert_eq!(lines(RejectReason::WeightOverflow), [5]);
    let detail = &report.rejected[&RejectReason::WeightOverflow].examples[0].1;
    assert!(detail.contains(r#"user "u3" and item "i1""#), "{detail}");
    assert_eq!(d.interactions.matrix.data(), &[3e38, 1.0]);
    // Prices too (a price of 1e39 would be stored as inf).
    let p = write(
        dir.path(),
        "p.csv",
        b"user_id,item_id,price\nu1,i1,1e39\nu2,i1,2.5\n",
    );
    let (d, report) = Dataset::read(&p, &ReadOptions::default()).unwrap();
    assert_eq!(report.rows_kept, 1);
    assert_eq!(d.item_prices, [Some(2.5)]);
}

#[test]
fn a_used_column_named_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.csv", b"user_id,item_id,user_id\nu1,i1,u9\n");
    let o = reco(dir.path(), &["ingest", "d.csv"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(r#"the header names column "user_id" more than once (fields 1, 3)"#),
        "{err}"
    );
    // Also when the names differ only in case or punctuation and an alias found them.
    write(dir.path(), "n.csv", b"userId,item_id,user_id\nu1,i1,u9\n");
    let err = text(&reco(dir.path(), &["ingest", "n.csv"]).stderr);
    assert!(
        err.contains(r#"column "userId" more than once (fields 1, 3)"#),
        "{err}"
    );
    // An exact --user-col picks one of them unambiguously.
    let o = reco(dir.path(), &["ingest", "n.csv", "--user-col", "user_id"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Duplicates among unused columns (e.g. empty names from trailing commas) are fine.
    write(dir.path(), "u.csv", b"user_id,item_id,,\nu1,i1,,\n");
    let o = reco(dir.path(), &["ingest", "u.csv"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn ids_with_control_characters_or_over_the_cap_are_rejected_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let max = reco_server::limits::MAX_ID_BYTES;
    let ok = "a".repeat(max);
    let long = "b".repeat(max + 1);
    let huge = "c".repeat(1 << 19);
    let input = format!("user_id,item_id\nu\01,i1\n{ok},i1\n{long},i1\nu2,{huge}\nu3,i\u{7f}\nu4,i4\n");
    let p = write(dir.path(), "ids.csv", input.as_bytes());
    let o = reco(dir.path(), &["ingest", "ids.csv"]);
    let out = text(&o.stdout);
    assert!(
        out.contains("2  id too long") && out.contains("2  control character"),
        "{out}"
    );
    let (d, report) = Dataset::read(&p, &ReadOptions::default()).unwrap();
    assert_eq!((report.rows_read, report.rows_kept), (6, 2));
    let lines = |r: RejectReason| -> Vec<u64> { report.rejected[&r].examples.iter().map(|e| e.0).collect() };
    assert_eq!(lines(RejectReason::BadId), [2, 6]);
    assert_eq!(lines(RejectReason::LongId), [4, 5]);
    assert!(d.interactions.users.ids().contains(&ok));
    let detail = &report.rejected[&RejectReason::LongId].examples[1].1;
    assert!(
        detail.contains("…(524288 bytes)") && detail.len() < 200,
        "{detail}"
    );
}

#[test]
fn read_bytes_matches_read_and_no_mutation_panics() {
    let dir = tempfile::tempdir().unwrap();
    let seed: &[u8] = b"user_id,item_id,weight,timestamp,name\nu1,i1,2,1300000000,\"a, b\"\nu2,\"i\"\"2\",1.5,2011-01-01 10:00,x\nu1,i2,1,,\"two\nlines\"\n";
    let p = write(dir.path(), "s.csv", seed);
    let from_file = Dataset::read(&p, &ReadOptions::default()).unwrap();
    let from_bytes = Dataset::read_bytes(Path::new("s.csv"), seed, &ReadOptions::default()).unwrap();
    assert_eq!(from_file.0, from_bytes.0);
    assert_eq!(
        (from_file.1.rows_read, from_file.1.format),
        (from_bytes.1.rows_read, from_bytes.1.format)
    );
    // Random byte flips, insertions of structural bytes and truncations, under several options.
    let options = [
        ReadOptions::default(),
        ReadOptions {
            no_quotes: true,
            ..ReadOptions::default()
        },
        ReadOptions {
            strict: true,
            ..ReadOptions::default()
        },
        ReadOptions {
            no_header: true,
            ..ReadOptions::default()
        },
    ];
    let names = ["s.csv", "s.tsv", "s.dat"];
    let special = [b'"', b',', b'\n', b'\r', b'\t', b':', 0, 0xff, b'e', b'9'];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3000 {
        let mut b = seed.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % b.len().max(1);
            match next() % 4 {
                0 => b[at] ^= 1 << (next() % 8),
                1 => b.insert(at, special[(next() as usize) % special.len()]),
                2 => b.truncate(at),
                _ => b[at] = special[(next() as usize) % special.len()],
            }
            if b.is_empty() {
                b.push(b'"');
            }
        }
        let opts = &options[round % options.len()];
        let name = Path::new(names[round % names.len()]);
        let _ = Dataset::read_bytes(name, &b, opts);
    }
}
