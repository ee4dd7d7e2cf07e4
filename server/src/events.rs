//! Live events and their durable log.
//!
//! `reco serve --events-dir DIR` appends every accepted event to this log before it answers;
//! `reco train --events DIR` and the server's retrain merge the log into the training data.
//!
//! # Folder layout
//! - `DIR/<first seq, 20 digits>.events`: live segments, appended in sequence order; a new one
//!   starts at 64 MiB and at every retrain.
//! - `DIR/archive/`: segments whose events a retrained model already contains (compaction
//!   moves them here; training still reads them, start-up does not replay them).
//!
//! # Segment format (little-endian)
//! A segment starts with the 8 bytes `RECOEV01`, then records, each
//! `u32 payload length | u32 CRC-32 (IEEE) of the payload | payload`, the payload being
//! `u64 seq | i64 ts (Unix seconds) | f32 weight | u16 user length | user | u16 item length | item`.
//! Sequence numbers start at 1 and grow by one per event across segments.
//!
//! # Guarantees
//! A batch is written with one `write` and made durable with one `fdatasync` before any of
//! its events is acknowledged (concurrent requests share that sync: group commit). A crash
//! mid-write leaves at most a torn last record in the last segment: on opening it is
//! detected by its length or checksum, cut off, and reported; records before it are intact.
//! A bad record anywhere else (disk corruption) stops the reading of that segment there and
//! is reported as an error; no record is ever returned that does not match its checksum.
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, ServerError};

/// Segment magic (format version 1).
const MAGIC: &[u8; 8] = b"RECOEV01";
/// A new segment starts once the current one reaches this size.
pub const SEGMENT_BYTES: u64 = 64 << 20;
/// Largest payload of one record (two 256-byte ids plus the fixed fields, with room).
const MAX_PAYLOAD: u32 = 4096;
/// The archive subfolder.
pub const ARCHIVE: &str = "archive";

/// One interaction event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// User id.
    pub user: String,
    /// Item id (may be unknown to every model: it is stored and trained on at the next retrain).
    pub item: String,
    /// Weight, as an ingested interaction's (1 = one purchase).
    pub weight: f32,
    /// Unix seconds.
    pub ts: i64,
}

/// An event with its sequence number in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position in the log (1, 2, …).
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// How reading one segment ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentEnd {
    /// Every byte was a valid record.
    Clean,
    /// The last record was cut short or fails its checksum: `bytes` bytes from `offset` on
    /// are not a record (a crash mid-write, when in the last segment).
    Torn {
        /// Where the bad record starts.
        offset: u64,
        /// Bytes from there to the end of the file.
        bytes: u64,
        /// Why it is not a record.
        reason: String,
    },
}

/// What opening or reading the log found, for the start-up report.
#[derive(Debug, Clone, Default)]
pub struct LogReport {
    /// Live segments read.
    pub segments: usize,
    /// Valid records read.
    pub records: usize,
    /// A torn tail cut off the last segment: (file, offset, bytes dropped, reason).
    pub torn_tail: Option<(PathBuf, u64, u64, String)>,
    /// Bad records before the end of the log: (file, offset, reason). Reading that segment
    /// stopped there.
    pub corrupt: Vec<(PathBuf, u64, String)>,
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.events")
}

/// The segments of `dir` as (first seq, path), sorted by first seq.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(ServerError::io(dir, e)),
    };
    for entry in entries {
        let path = entry.map_err(|e| ServerError::io(dir, e))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".events"))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first.filter(|_| path.is_file()) {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Encodes `record` (header and payload) onto `buf`.
pub fn encode(record: &Record, buf: &mut Vec<u8>) {
    let e = &record.event;
    let start = buf.len();
    buf.extend_from_slice(&[0; 8]);
    buf.extend_from_slice(&record.seq.to_le_bytes());
    buf.extend_from_slice(&e.ts.to_le_bytes());
    buf.extend_from_slice(&e.weight.to_le_bytes());
    for id in [&e.user, &e.item] {
        // Ids are checked to be at most 256 bytes before they get here.
        let len = id.len().min(u16::MAX as usize);
        buf.extend_from_slice(&(len as u16).to_le_bytes());
        buf.extend_from_slice(&id.as_bytes()[..len]);
    }
    let payload_len = (buf.len() - start - 8) as u32;
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn decode_payload(p: &[u8]) -> std::result::Result<Record, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> std::result::Result<&[u8], String> {
        let s = p.get(at..at + n).ok_or("payload too short")?;
        at += n;
        Ok(s)
    };
    let seq = u64::from_le_bytes(take(8)?.try_into().map_err(|_| "seq")?);
    let ts = i64::from_le_bytes(take(8)?.try_into().map_err(|_| "ts")?);
    let weight = f32::from_le_bytes(take(4)?.try_into().map_err(|_| "weight")?);
    let mut id = || -> std::result::Result<String, String> {
        let len = u16::from_le_bytes(take(2)?.try_into().map_err(|_| "id length")?) as usize;
        String::from_utf8(take(len)?.to_vec()).map_err(|_| "an id is not UTF-8".to_string())
    };
    let user = id()?;
    let item = id()?;
    if at != p.len() {
        return Err(format!("{} bytes after the record's fields", p.len() - at));
    }
    if !(weight.is_finite() && weight > 0.0) || user.is_empty() || item.is_empty() || seq == 0 {
        return Err("a field is out of range".into());
    }
    Ok(Record {
        seq,
        event: Event {
            user,
            item,
            weight,
            ts,
        },
    })
}

/// Reads the records of one segment and how it ended. Fails only when the file cannot be
/// read or does not start with the segment magic.
pub fn read_segment(path: &Path) -> Result<(Vec<Record>, SegmentEnd, u64)> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| ServerError::io(path, e))?;
    if bytes.len() < MAGIC.len() {
        // Created, then crashed before the magic was synced: an empty segment.
        let end = if bytes.is_empty() {
            SegmentEnd::Clean
        } else {
            SegmentEnd::Torn {
                offset: 0,
                bytes: bytes.len() as u64,
                reason: "a partial segment header".into(),
            }
        };
        return Ok((Vec::new(), end, 0));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(ServerError::Usage(format!(
            "{} is not a reco event segment (it does not start with {:?}); move it out of the events folder",
            path.display(),
            std::str::from_utf8(MAGIC).unwrap_or("")
        )));
    }
    let mut records = Vec::new();
    let mut at = MAGIC.len();
    let mut last_seq = 0u64;
    while at < bytes.len() {
        let torn = |reason: String| SegmentEnd::Torn {
            offset: at as u64,
            bytes: (bytes.len() - at) as u64,
            reason,
        };
        let Some(head) = bytes.get(at..at + 8) else {
            return Ok((records, torn("a partial record header".into()), at as u64));
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_PAYLOAD {
            return Ok((
                records,
                torn(format!("a record length of {len} bytes")),
                at as u64,
            ));
        }
        let Some(payload) = bytes.get(at + 8..at + 8 + len as usize) else {
            return Ok((records, torn("a partial record".into()), at as u64));
        };
        if crc32fast::hash(payload) != crc {
            return Ok((records, torn("a checksum mismatch".into()), at as u64));
        }
        match decode_payload(payload) {
            Ok(r) if r.seq > last_seq => {
                last_seq = r.seq;
                records.push(r);
            }
            Ok(r) => {
                return Ok((
                    records,
                    torn(format!("sequence number {} after {last_seq}", r.seq)),
                    at as u64,
                ))
            }
            Err(reason) => return Ok((records, torn(reason), at as u64)),
        }
        at += 8 + len as usize;
    }
    Ok((records, SegmentEnd::Clean, at as u64))
}

/// Every record of `dir` (archived segments first, then the live ones) with `seq <= through`,
/// for training. Bad records are skipped as [`read_segment`] does and reported.
pub fn read_all(dir: &Path, through: u64) -> Result<(Vec<Record>, LogReport)> {
    if !dir.is_dir() {
        return Err(ServerError::Usage(format!(
            "the events folder {} does not exist (reco serve --events-dir writes it)",
            dir.display()
        )));
    }
    let mut report = LogReport::default();
    let mut out = Vec::new();
    let mut all = segments(&dir.join(ARCHIVE))?;
    all.extend(segments(dir)?);
    let last = all.len().saturating_sub(1);
    for (k, (_, path)) in all.into_iter().enumerate() {
        let (records, end, _) = read_segment(&path)?;
        report.segments += 1;
        match end {
            // The open segment of a running server may end in a record being written.
            SegmentEnd::Torn { .. } if k == last => {}
            SegmentEnd::Torn { offset, reason, .. } => report.corrupt.push((path.clone(), offset, reason)),
            SegmentEnd::Clean => {}
        }
        out.extend(records.into_iter().filter(|r| r.seq <= through));
    }
    // Segments are in sequence order, but a segment moved by hand could break it.
    out.sort_by_key(|r| r.seq);
    out.dedup_by_key(|r| r.seq);
    report.records = out.len();
    Ok((out, report))
}

/// The appending end of the log (one per events folder; the server's writer thread owns it).
pub struct EventLog {
    dir: PathBuf,
    file: File,
    segment_first: u64,
    segment_size: u64,
    closed_bytes: u64,
    next_seq: u64,
    /// A failed write could not be undone: every later append fails until a restart.
    poisoned: bool,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

impl EventLog {
    /// Opens (creating) the log in `dir`: reads every live segment, cuts a torn tail off the
    /// last one, and continues after the last valid record. Returns the log, the live records
    /// (in sequence order) and what was found.
    pub fn open(dir: &Path) -> Result<(EventLog, Vec<Record>, LogReport)> {
        std::fs::create_dir_all(dir.join(ARCHIVE)).map_err(|e| ServerError::io(dir, e))?;
        let segs = segments(dir)?;
        let mut report = LogReport::default();
        let mut records: Vec<Record> = Vec::new();
        let mut closed_bytes = 0u64;
        let mut append_to: Option<(u64, PathBuf, u64)> = None;
        for (i, (first, path)) in segs.iter().enumerate() {
            let (recs, end, good) = read_segment(path)?;
            report.segments += 1;
            let last = i + 1 == segs.len();
            match end {
                SegmentEnd::Torn {
                    offset,
                    bytes,
                    reason,
                } if last => {
                    // A crash mid-write: cut the torn record off so appends continue cleanly.
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| ServerError::io(path, e))?;
                    f.set_len(good.max(MAGIC.len() as u64))
                        .and_then(|()| f.sync_all())
                        .map_err(|e| ServerError::io(path, e))?;
                    report.torn_tail = Some((path.clone(), offset, bytes, reason));
                }
                SegmentEnd::Torn { offset, reason, .. } => {
                    report.corrupt.push((path.clone(), offset, reason))
                }
                SegmentEnd::Clean => {}
            }
            // Records must continue the sequence; anything else is reported, not replayed.
            let prev = records.last().map_or(0, |r| r.seq);
            let (ok, bad): (Vec<Record>, Vec<Record>) = recs.into_iter().partition(|r| r.seq > prev);
            if let Some(r) = bad.first() {
                report.corrupt.push((
                    path.clone(),
                    0,
                    format!("sequence number {} repeats an earlier segment's", r.seq),
                ));
            }
            records.extend(ok);
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if last && size >= MAGIC.len() as u64 && report.corrupt.iter().all(|(p, ..)| p != path) {
                append_to = Some((*first, path.clone(), size));
            } else {
                closed_bytes += size;
            }
        }
        let mut next_seq = records.last().map_or(0, |r| r.seq) + 1;
        if records.is_empty() {
            // Everything may be archived: continue after the archive's last record.
            if let Some((_, path)) = segments(&dir.join(ARCHIVE))?.last() {
                let (recs, _, _) = read_segment(path)?;
                if let Some(r) = recs.last() {
                    next_seq = next_seq.max(r.seq + 1);
                }
            }
            if let Some((first, ..)) = segs.last() {
                next_seq = next_seq.max(*first);
            }
        }
        report.records = records.len();
        let log = match append_to {
            Some((first, path, size)) => EventLog {
                file: OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| ServerError::io(&path, e))?,
                dir: dir.to_path_buf(),
                segment_first: first,
                segment_size: size,
                closed_bytes,
                next_seq,
                poisoned: false,
            },
            None => {
                let (file, first) = Self::new_segment(dir, next_seq)?;
                EventLog {
                    file,
                    dir: dir.to_path_buf(),
                    segment_first: first,
                    segment_size: MAGIC.len() as u64,
                    closed_bytes,
                    next_seq,
                    poisoned: false,
                }
            }
        };
        Ok((log, records, report))
    }

    fn new_segment(dir: &Path, first: u64) -> Result<(File, u64)> {
        let path = dir.join(segment_name(first));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| ServerError::io(&path, e))?;
        file.write_all(MAGIC)
            .and_then(|()| file.sync_all())
            .and_then(|()| sync_dir(dir))
            .map_err(|e| ServerError::io(&path, e))?;
        Ok((file, first))
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Bytes in the live segments.
    pub fn live_bytes(&self) -> u64 {
        self.closed_bytes + self.segment_size
    }

    /// Appends `events` as one write and one sync; returns their records. On failure nothing
    /// of the batch stays in the log (the file is cut back), and the error names the file.
    pub fn append(&mut self, events: Vec<Event>) -> Result<Vec<Record>> {
        let path = self.dir.join(segment_name(self.segment_first));
        if self.poisoned {
            return Err(ServerError::io(
                &path,
                std::io::Error::other("an earlier write failed and could not be undone; restart the server"),
            ));
        }
        if self.segment_size >= SEGMENT_BYTES {
            self.rotate()?;
        }
        let records: Vec<Record> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| Record {
                seq: self.next_seq + i as u64,
                event,
            })
            .collect();
        let mut buf = Vec::with_capacity(records.len() * 64);
        for r in &records {
            encode(r, &mut buf);
        }
        let path = self.dir.join(segment_name(self.segment_first));
        let written = self.file.write_all(&buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut back to the last acknowledged record, so a retry does not follow garbage.
            if self
                .file
                .set_len(self.segment_size)
                .and_then(|()| self.file.sync_data())
                .is_err()
            {
                self.poisoned = true;
            }
            return Err(ServerError::io(&path, e));
        }
        self.segment_size += buf.len() as u64;
        self.next_seq += records.len() as u64;
        Ok(records)
    }

    /// Closes the current segment and starts a new one (unless the current one is empty);
    /// returns the sequence number of the last event written so far (0 if none).
    pub fn rotate(&mut self) -> Result<u64> {
        if self.segment_size > MAGIC.len() as u64 {
            let (file, first) = Self::new_segment(&self.dir, self.next_seq)?;
            self.closed_bytes += self.segment_size;
            self.file = file;
            self.segment_first = first;
            self.segment_size = MAGIC.len() as u64;
        }
        Ok(self.next_seq - 1)
    }

    /// Moves to `archive/` every closed segment whose events all have `seq <= through`;
    /// returns how many moved.
    pub fn archive_through(&mut self, through: u64) -> Result<usize> {
        let segs = segments(&self.dir)?;
        let mut moved = 0;
        for (i, (first, path)) in segs.iter().enumerate() {
            if *first == self.segment_first {
                break;
            }
            // A segment's events end where the next one begins.
            let next_first = segs.get(i + 1).map_or(self.next_seq, |(f, _)| *f);
            if next_first == 0 || next_first - 1 > through {
                break;
            }
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let target = self.dir.join(ARCHIVE).join(segment_name(*first));
            std::fs::rename(path, &target).map_err(|e| ServerError::io(path, e))?;
            self.closed_bytes = self.closed_bytes.saturating_sub(size);
            moved += 1;
        }
        if moved > 0 {
            sync_dir(&self.dir)
                .and_then(|()| sync_dir(&self.dir.join(ARCHIVE)))
                .map_err(|e| ServerError::io(&self.dir, e))?;
        }
        Ok(moved)
    }
}

/// The interactions of `base` plus `events` (weights added; new users and items appended
/// after the existing ones, so existing indices keep their meaning).
pub fn merge(base: &reco_core::Interactions, events: &[Record]) -> Result<reco_core::Interactions> {
    let mut b = reco_core::InteractionsBuilder::with_maps(base.users.clone(), base.items.clone());
    let m = &base.matrix;
    for u in 0..m.n_rows() {
        let user = base.users.id(u as u32).unwrap_or("");
        let (items, weights) = m.row(u);
        for (&i, &w) in items.iter().zip(weights) {
            b.push(user, base.items.id(i).unwrap_or(""), w);
        }
    }
    for r in events {
        b.push(&r.event.user, &r.event.item, r.event.weight);
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: &str, item: &str) -> Event {
        Event {
            user: user.into(),
            item: item.into(),
            weight: 1.0,
            ts: 1_700_000_000,
        }
    }

    #[test]
    fn records_round_trip_and_sequence_continues_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, recs, _) = EventLog::open(dir.path()).unwrap();
        assert!(recs.is_empty());
        let a = log.append(vec![ev("u1", "i1"), ev("u2", "Café ☕")]).unwrap();
        assert_eq!(a.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        drop(log);
        let (mut log, recs, report) = EventLog::open(dir.path()).unwrap();
        assert_eq!(recs, a);
        assert!(report.torn_tail.is_none() && report.corrupt.is_empty());
        let b = log.append(vec![ev("u3", "i3")]).unwrap();
        assert_eq!(b[0].seq, 3);
        let (all, _) = read_all(dir.path(), u64::MAX).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(read_all(dir.path(), 2).unwrap().0, a);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_reported_at_every_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, ..) = EventLog::open(dir.path()).unwrap();
        log.append(vec![ev("u1", "i1"), ev("u2", "i2")]).unwrap();
        drop(log);
        let (_, path) = segments(dir.path()).unwrap().pop().unwrap();
        let full = std::fs::read(&path).unwrap();
        let one_record = (full.len() - MAGIC.len()) / 2;
        // Every cut inside the second record: the first survives, the second is dropped.
        for cut in MAGIC.len() + one_record + 1..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (mut log, recs, report) = EventLog::open(dir.path()).unwrap();
            assert_eq!(recs.len(), 1, "cut at {cut}");
            let (_, offset, bytes, _) = report.torn_tail.clone().expect("torn tail reported");
            assert_eq!(offset as usize, MAGIC.len() + one_record);
            assert_eq!(bytes as usize, cut - offset as usize);
            // Appending continues cleanly after the cut.
            let r = log.append(vec![ev("u9", "i9")]).unwrap();
            assert_eq!(r[0].seq, 2);
            drop(log);
            let (_, recs, report) = EventLog::open(dir.path()).unwrap();
            assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
            assert!(report.torn_tail.is_none());
            std::fs::write(&path, &full).unwrap();
        }
    }

    #[test]
    fn a_flipped_byte_never_yields_a_wrong_record() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, ..) = EventLog::open(dir.path()).unwrap();
        let written = log
            .append((0..5).map(|i| ev(&format!("u{i}"), "item")).collect())
            .unwrap();
        drop(log);
        let (_, path) = segments(dir.path()).unwrap().pop().unwrap();
        let full = std::fs::read(&path).unwrap();
        for at in MAGIC.len()..full.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = full.clone();
                bad[at] ^= bit;
                std::fs::write(&path, &bad).unwrap();
                let (recs, end, _) = read_segment(&path).unwrap();
                assert!(
                    matches!(end, SegmentEnd::Torn { .. }),
                    "flip at {at} went unnoticed"
                );
                assert!(
                    recs.iter().all(|r| written.contains(r)),
                    "flip at {at} gave a wrong record"
                );
            }
        }
    }

    #[test]
    fn rotation_and_archiving_keep_every_event_readable() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, ..) = EventLog::open(dir.path()).unwrap();
        log.append(vec![ev("a", "1"), ev("b", "2")]).unwrap();
        assert_eq!(log.rotate().unwrap(), 2);
        log.append(vec![ev("c", "3")]).unwrap();
        assert_eq!(log.rotate().unwrap(), 3);
        log.append(vec![ev("d", "4")]).unwrap();
        // Through 2: only the first segment is fully contained.
        assert_eq!(log.archive_through(2).unwrap(), 1);
        assert_eq!(log.archive_through(2).unwrap(), 0);
        assert_eq!(segments(&dir.path().join(ARCHIVE)).unwrap().len(), 1);
        let (all, _) = read_all(dir.path(), u64::MAX).unwrap();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        drop(log);
        // Start-up replays only the live segments and continues the sequence.
        let (mut log, recs, _) = EventLog::open(dir.path()).unwrap();
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(log.append(vec![ev("e", "5")]).unwrap()[0].seq, 5);
        // Through 4: the segment of 3 moves; 4 and 5 share the open segment, which stays.
        assert_eq!(log.archive_through(4).unwrap(), 1);
        drop(log);
        let (mut log, recs, _) = EventLog::open(dir.path()).unwrap();
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
        log.rotate().unwrap();
        log.archive_through(5).unwrap();
        drop(log);
        // Everything archived: the sequence still continues.
        let (mut log, recs, _) = EventLog::open(dir.path()).unwrap();
        assert!(recs.is_empty());
        assert_eq!(log.append(vec![ev("f", "6")]).unwrap()[0].seq, 6);
    }

    #[test]
    fn a_foreign_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(segment_name(1)), b"hello world, not events").unwrap();
        let err = EventLog::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not a reco event segment"), "{err}");
    }

    #[test]
    fn merge_adds_weights_and_appends_new_ids() {
        let mut b = reco_core::InteractionsBuilder::new();
        b.push("u1", "i1", 2.0);
        b.push("u2", "i2", 1.0);
        let base = b.build().unwrap();
        let recs = [
            Record {
                seq: 1,
                event: ev("u1", "i1"),
            },
            Record {
                seq: 2,
                event: ev("u3", "i9"),
            },
        ];
        let m = merge(&base, &recs).unwrap();
        assert_eq!(m.users.ids(), ["u1", "u2", "u3"]);
        assert_eq!(m.items.ids(), ["i1", "i2", "i9"]);
        assert_eq!(m.matrix.get(0, 0), 3.0);
        assert_eq!(m.matrix.get(2, 2), 1.0);
    }
}
