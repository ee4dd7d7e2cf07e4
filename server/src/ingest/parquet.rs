//! Parquet input: a `.parquet` file (recognised by its `PAR1` magic bytes, whatever its name) or
//! a folder of them as Spark writes (`part-*.parquet`; names starting with `.` or `_` are
//! skipped), read as records for the same reader as CSV: the header is the top-level column
//! names (every file must have the same), each row's fields are turned into text (numbers in
//! their shortest exact form; timestamps and dates as unix seconds; null as an empty field),
//! so column options, presets, validation and the rejected-row report are those of CSV. Row
//! numbers in messages count the header as line 1, as for CSV. Codecs: uncompressed and snappy
//! (the default of Spark, pandas and pyarrow); a file with another codec is refused by name.
use std::fs::File;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;

use crate::error::{Result, ServerError};
use crate::progress::Progress;

/// The first (and last) four bytes of a Parquet file.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// The rows of one Parquet file or of a folder of them.
pub struct ParquetRecords {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, RowIter<'static>, u64)>,
    header: Vec<String>,
    header_sent: bool,
    rows: u64,
    bar: Option<Progress>,
}

fn unusable(path: &Path, reason: String) -> ServerError {
    ServerError::UnknownLayout {
        path: path.to_path_buf(),
        reason,
    }
}

/// Opens one Parquet file (a `File` or bytes in memory): its top-level column names and rows.
fn open_reader<R: ChunkReader + 'static>(input: R) -> io::Result<(Vec<String>, RowIter<'static>)> {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        let reader = SerializedFileReader::new(input)
            .map_err(|e| io::Error::other(format!("not a readable Parquet file: {e}")))?;
        let names = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect::<Vec<_>>();
        Ok::<_, io::Error>((names, RowIter::from_file_into(Box::new(reader))))
    }));
    match opened {
        Ok(result) => result,
        Err(_) => Err(io::Error::other(
            "the Parquet reader failed on this file (corrupt?)",
        )),
    }
}

/// Opens one Parquet file: its column names, its rows and its size.
fn open_file(path: &Path) -> io::Result<(Vec<String>, RowIter<'static>, u64)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let (names, rows) = open_reader(file)?;
    Ok((names, rows, len))
}

/// The message of a caught panic (the parquet crate panics on some corrupt pages).
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// `field` as the text a CSV file would hold.
fn push_field(rec: &mut ByteRecord, field: &Field) {
    match field {
        Field::Null => rec.push_field(b""),
        Field::Str(s) => rec.push_field(s.as_bytes()),
        Field::Bytes(b) => rec.push_field(b.data()),
        Field::Bool(b) => rec.push_field(if *b { b"true" } else { b"false" }),
        Field::Byte(x) => rec.push_field(x.to_string().as_bytes()),
        Field::Short(x) => rec.push_field(x.to_string().as_bytes()),
        Field::Int(x) => rec.push_field(x.to_string().as_bytes()),
        Field::Long(x) => rec.push_field(x.to_string().as_bytes()),
        Field::UByte(x) => rec.push_field(x.to_string().as_bytes()),
        Field::UShort(x) => rec.push_field(x.to_string().as_bytes()),
        Field::UInt(x) => rec.push_field(x.to_string().as_bytes()),
        Field::ULong(x) => rec.push_field(x.to_string().as_bytes()),
        Field::Float(x) => rec.push_field(x.to_string().as_bytes()),
        Field::Double(x) => rec.push_field(x.to_string().as_bytes()),
        Field::Date(days) => rec.push_field((*days as i64 * 86_400).to_string().as_bytes()),
        Field::TimestampMillis(ms) => rec.push_field(ms.div_euclid(1_000).to_string().as_bytes()),
        Field::TimestampMicros(us) => rec.push_field(us.div_euclid(1_000_000).to_string().as_bytes()),
        other => rec.push_field(other.to_string().as_bytes()),
    }
}

impl ParquetRecords {
    /// Opens `path` (a file or a folder of `*.parquet` files); returns the records, the
    /// total size in bytes and the number of files.
    pub fn open(path: &Path) -> Result<(ParquetRecords, u64, usize)> {
        let files = if path.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(|e| ServerError::io(path, e))? {
                let entry = entry.map_err(|e| ServerError::io(path, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".parquet") && !name.starts_with(['.', '_']) {
                    files.push(entry.path());
                }
            }
            files.sort();
            if files.is_empty() {
                return Err(unusable(
                    path,
                    "a folder, but with no *.parquet files in it (pass a CSV/TSV or Parquet file, or a folder of Parquet files)".into(),
                ));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut total = 0;
        for f in &files {
            total += std::fs::metadata(f).map_err(|e| ServerError::io(f, e))?.len();
        }
        let count = files.len();
        let mut files = files.into_iter();
        let first = files.next().unwrap_or_default();
        let (header, rows, len) = open_file(&first).map_err(|e| ServerError::io(&first, e))?;
        if header.is_empty() {
            return Err(unusable(&first, "the Parquet schema has no columns".into()));
        }
        Ok((
            ParquetRecords {
                files,
                current: Some((first, rows, len)),
                header,
                header_sent: false,
                rows: 0,
                bar: None,
            },
            total,
            count,
        ))
    }

    /// The rows of a Parquet file held in memory; `name` stands for it in messages.
    pub fn from_bytes(name: &Path, bytes: &[u8]) -> Result<ParquetRecords> {
        let (header, rows) =
            open_reader(bytes::Bytes::copy_from_slice(bytes)).map_err(|e| ServerError::io(name, e))?;
        if header.is_empty() {
            return Err(unusable(name, "the Parquet schema has no columns".into()));
        }
        Ok(ParquetRecords {
            files: Vec::new().into_iter(),
            current: Some((name.to_path_buf(), rows, bytes.len() as u64)),
            header,
            header_sent: false,
            rows: 0,
            bar: None,
        })
    }

    /// Advances `bar` by each file's size as it is finished.
    pub fn with_progress(mut self, bar: Progress) -> Self {
        self.bar = Some(bar);
        self
    }

    /// The header (column names), then one record per row; returns its line number (the
    /// header is line 1).
    pub fn next(&mut self, rec: &mut ByteRecord) -> io::Result<Option<u64>> {
        if !self.header_sent {
            self.header_sent = true;
            rec.clear();
            for name in &self.header {
                rec.push_field(name.as_bytes());
            }
            return Ok(Some(1));
        }
        loop {
            let Some((path, rows, len)) = &mut self.current else {
                let Some(next) = self.files.next() else {
                    return Ok(None);
                };
                let (names, rows, len) = open_file(&next)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", next.display())))?;
                if names != self.header {
                    return Err(io::Error::other(format!(
                        "{}: columns {} differ from the first file's ({}); a folder must hold one table",
                        next.display(),
                        names.join(", "),
                        self.header.join(", ")
                    )));
                }
                self.current = Some((next, rows, len));
                continue;
            };
            let row = catch_unwind(AssertUnwindSafe(|| rows.next()));
            match row {
                Ok(Some(Ok(row))) => {
                    rec.clear();
                    for (_, field) in row.get_column_iter() {
                        push_field(rec, field);
                    }
                    self.rows += 1;
                    return Ok(Some(self.rows + 1));
                }
                Ok(Some(Err(e))) => {
                    return Err(io::Error::other(format!(
                        "{}: cannot read Parquet row {}: {e}",
                        path.display(),
                        self.rows + 1
                    )))
                }
                Ok(None) => {
                    if let Some(bar) = &self.bar {
                        bar.inc(*len);
                    }
                    self.current = None;
                }
                Err(panic) => {
                    return Err(io::Error::other(format!(
                        "{}: the Parquet reader failed after row {} ({}); the file is corrupt",
                        path.display(),
                        self.rows,
                        panic_text(&*panic)
                    )))
                }
            }
        }
    }
}
