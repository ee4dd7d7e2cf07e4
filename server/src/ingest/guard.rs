//! Bounds on raw input, checked on the decompressed byte stream before the CSV parser sees it,
//! and [`shown`], the only way input bytes are echoed in messages.
//!
//! - A record (one line, or several when a quoted field holds line breaks) may be at most
//!   [`MAX_RECORD_BYTES`] long; a longer one (a binary file, a file of zeros, a huge first line)
//!   fails at once, so reading holds at most that much of one record in memory.
//! - A quoted field may hold at most [`MAX_QUOTED_LINES`] line breaks and must be closed before
//!   the end of the file. A stray `"` at the start of a field otherwise swallows every later row
//!   into one field; the error names the line where the quote opened.
//!
//! The quote rules are those of the `csv` crate's parser: a quote is special only as the first
//! byte of a field, `""` inside a quoted field is a literal quote, and a quote followed by
//! anything else closes the field.
use std::io::{self, Read};

/// Longest record accepted (bytes, line breaks inside quoted fields included): 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// Most line breaks a quoted field may span.
pub const MAX_QUOTED_LINES: u64 = 1000;
/// Characters of an input value shown in a message before it is cut.
pub const MAX_SHOWN_CHARS: usize = 60;
/// Bytes of a record's start kept for messages.
const HEAD_BYTES: usize = 4 * MAX_SHOWN_CHARS;

/// `bytes` for a message: quoted, control characters and invalid UTF-8 escaped (`\0`,
/// `\u{1b}`, `\xFF`), and cut after [`MAX_SHOWN_CHARS`] characters with `…(N bytes)`.
pub fn shown(bytes: &[u8]) -> String {
    shown_with(bytes, Some(bytes.len()))
}

/// Like [`shown`] for the first bytes of a value `total` bytes long (`None`: unknown, longer).
fn shown_with(bytes: &[u8], total: Option<usize>) -> String {
    let mut out = String::from("\"");
    let mut chars = 0;
    let mut cut = false;
    'outer: for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if chars == MAX_SHOWN_CHARS {
                cut = true;
                break 'outer;
            }
            chars += 1;
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push(c),
                c if c.is_control() || c.escape_debug().len() > 1 => {
                    out.extend(c.escape_debug());
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            if chars == MAX_SHOWN_CHARS {
                cut = true;
                break 'outer;
            }
            chars += 1;
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out.push('"');
    match total {
        None => out.push('…'),
        Some(total) if cut || total > bytes.len() => out.push_str(&format!("…({total} bytes)")),
        Some(_) => {}
    }
    out
}

/// `s` for a message, see [`shown`].
pub fn shown_str(s: &str) -> String {
    shown(s.as_bytes())
}

/// Line breaks in `s`; counted in u8 lanes 255 bytes at a time, which compilers vectorize.
fn count_newlines(s: &[u8]) -> u64 {
    s.chunks(255)
        .map(|c| u64::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside a quoted field.
    Field,
    /// Inside a quoted field.
    Quoted,
    /// A quote inside a quoted field: `""` (literal quote) or the end of the field.
    QuoteSeen,
}

/// A reader that fails (with an [`io::ErrorKind::InvalidData`] error naming the line) on a
/// record longer than [`MAX_RECORD_BYTES`], a quoted field spanning more than
/// [`MAX_QUOTED_LINES`] lines, or a quoted field still open at the end of the input.
pub(crate) struct Guard<R> {
    inner: R,
    quote: Option<u8>,
    delimiter: Option<u8>,
    state: State,
    /// The byte before the next one (`None` at the start of the input).
    prev: Option<u8>,
    /// 1-based line of the next byte.
    line: u64,
    /// Line where the current record started.
    record_line: u64,
    record_bytes: usize,
    head: Vec<u8>,
    quote_line: u64,
    quoted_lines: u64,
}

impl<R: Read> Guard<R> {
    /// Guards `inner`; `quote` is the quote byte (`None`: quotes are ordinary characters),
    /// `delimiter` the field separator byte (`None` for `::`).
    pub fn new(inner: R, quote: Option<u8>, delimiter: Option<u8>) -> Self {
        Guard {
            inner,
            quote,
            delimiter,
            state: State::Field,
            prev: None,
            line: 1,
            record_line: 1,
            record_bytes: 0,
            head: Vec::new(),
            quote_line: 0,
            quoted_lines: 0,
        }
    }

    fn fail(msg: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    fn quote_hint(&self) -> String {
        format!(
            "fix the quote on line {} (a literal quote inside a quoted field is written \"\"), or pass --no-quotes if quotes in this file are ordinary characters",
            self.quote_line
        )
    }

    /// Counts `seg` (bytes of the current record) against the record limit.
    fn take(&mut self, seg: &[u8]) -> io::Result<()> {
        if self.head.len() < HEAD_BYTES {
            let n = seg.len().min(HEAD_BYTES - self.head.len());
            self.head.extend_from_slice(&seg[..n]);
        }
        self.record_bytes += seg.len();
        if self.record_bytes <= MAX_RECORD_BYTES {
            return Ok(());
        }
        let limit = MAX_RECORD_BYTES >> 20;
        Err(Self::fail(if self.state == State::Field {
            format!(
                "line {} is longer than the {limit} MiB limit of a record (it starts with {}); is this a text CSV/TSV file?",
                self.record_line,
                shown_with(&self.head, None)
            )
        } else {
            format!(
                "line {}: a quoted field opened here runs over more than {limit} MiB (the record starts with {}); {}",
                self.quote_line,
                shown_with(&self.head, None),
                self.quote_hint()
            )
        }))
    }

    fn end_record(&mut self) {
        self.record_bytes = 0;
        self.record_line = self.line;
        self.head.clear();
    }

    /// Bytes outside quoted fields (at most [`MAX_RECORD_BYTES`]): counts line breaks and
    /// checks the length of the records they end and start.
    fn plain(&mut self, run: &[u8]) -> io::Result<()> {
        let Some(&last_byte) = run.last() else {
            return Ok(());
        };
        match memchr::memchr2(b'\n', b'\r', run) {
            None => self.take(run)?,
            Some(first) => {
                // Records inside the run are shorter than the run, so within the limit.
                self.take(&run[..first])?;
                let last = memchr::memrchr2(b'\n', b'\r', run).unwrap_or(first);
                self.line += count_newlines(&run[first..=last]);
                self.end_record();
                self.take(&run[last + 1..])?;
            }
        }
        self.prev = Some(last_byte);
        Ok(())
    }

    fn scan(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < buf.len() {
            let rest = &buf[i..];
            match (self.state, self.quote) {
                (State::Field, quote) => {
                    // Only a quote can change the state: jump to the next one and check the
                    // plain bytes before it a whole run at a time.
                    let hit = quote.and_then(|q| memchr::memchr(q, rest));
                    let end = hit.unwrap_or(rest.len());
                    for run in rest[..end].chunks(MAX_RECORD_BYTES) {
                        self.plain(run)?;
                    }
                    let Some(k) = hit else {
                        return Ok(());
                    };
                    let field_start = match self.prev {
                        None => true,
                        Some(p) => p == b'\n' || p == b'\r' || Some(p) == self.delimiter,
                    };
                    self.take(&rest[k..=k])?;
                    self.prev = Some(rest[k]);
                    i += k + 1;
                    if field_start {
                        self.state = State::Quoted;
                        self.quote_line = self.line;
                        self.quoted_lines = 0;
                    }
                }
                (State::Quoted, Some(q)) => {
                    let hit = memchr::memchr2(b'\n', q, rest);
                    let seg = hit.unwrap_or(rest.len());
                    self.take(&rest[..seg])?;
                    let Some(seg) = hit else {
                        self.prev = rest.last().copied();
                        return Ok(());
                    };
                    let b = rest[seg];
                    i += seg + 1;
                    self.take(&[b])?;
                    self.prev = Some(b);
                    if b == b'\n' {
                        self.line += 1;
                        self.quoted_lines += 1;
                        if self.quoted_lines > MAX_QUOTED_LINES {
                            return Err(Self::fail(format!(
                                "line {}: a quoted field opened here is still open {MAX_QUOTED_LINES} lines later (line {}); {}",
                                self.quote_line,
                                self.line,
                                self.quote_hint()
                            )));
                        }
                    } else {
                        self.state = State::QuoteSeen;
                    }
                }
                (State::QuoteSeen, Some(q)) if rest[0] == q => {
                    self.take(&rest[..1])?;
                    self.prev = Some(q);
                    self.state = State::Quoted;
                    i += 1;
                }
                // The quoted field is closed; the byte is read as outside a quoted field.
                (State::QuoteSeen, _) | (State::Quoted, None) => self.state = State::Field,
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.state == State::Quoted {
            return Err(Self::fail(format!(
                "line {}: a quoted field opened here is never closed (it runs to the end of the file, line {}); {}",
                self.quote_line,
                self.line,
                self.quote_hint()
            )));
        }
        self.scan(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], quote: Option<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        // Tiny reads exercise state carried across buffer boundaries.
        let mut g = Guard::new(input, quote, Some(b','));
        let mut buf = [0u8; 3];
        loop {
            match g.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn well_formed_quotes_pass_through() {
        let ok: &[u8] = b"a,\"b,\"\"c\"\"\nd\",e\r\nf,g\"h,\"\"\n\"x\"y,z\n";
        assert_eq!(run(ok, Some(b'"')).unwrap(), ok);
    }

    #[test]
    fn unclosed_quote_names_its_line() {
        let e = run(b"u,i\n1,2\n3,\"4\n5,6\n", Some(b'"')).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 3: a quoted field opened here is never closed"),
            "{e}"
        );
        assert!(run(b"u,i\n1,2\n3,\"4\n5,6\n", None).is_ok());
        let many = format!("u,i\n\"{}", "a\n".repeat(MAX_QUOTED_LINES as usize + 1));
        let e = run(many.as_bytes(), Some(b'"')).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 2: a quoted field opened here is still open 1000 lines later"),
            "{e}"
        );
    }

    #[test]
    fn long_records_fail_with_an_escaped_preview() {
        let mut big = b"\x1b[31m\0".to_vec();
        big.resize(MAX_RECORD_BYTES + 10, 0);
        let e = run(&big, Some(b'"')).unwrap_err().to_string();
        assert!(e.starts_with("line 1 is longer than the 1 MiB limit"), "{e}");
        assert!(e.contains(r#""\u{1b}[31m\0\0"#), "{e}");
        assert!(!e.contains('\x1b') && !e.contains('\0') && e.len() < 400, "{e}");
    }

    /// Per byte, the obvious way: the line where an unclosed quote opened, if any.
    fn reference(input: &[u8]) -> Option<u64> {
        let (mut line, mut state, mut prev, mut open) = (1, State::Field, None, 0);
        for &b in input {
            if state == State::QuoteSeen {
                state = if b == b'"' { State::Quoted } else { State::Field };
                if state == State::Quoted {
                    prev = Some(b);
                    continue;
                }
            }
            match state {
                State::Field if b == b'"' && matches!(prev, None | Some(b'\n' | b'\r' | b',')) => {
                    state = State::Quoted;
                    open = line;
                }
                State::Quoted if b == b'"' => state = State::QuoteSeen,
                _ => {}
            }
            if b == b'\n' {
                line += 1;
            }
            prev = Some(b);
        }
        (state == State::Quoted).then_some(open)
    }

    #[test]
    fn agrees_with_a_per_byte_reference_on_random_input() {
        let alphabet = b"a,\"\n\r";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len).map(|_| alphabet[(next() % 5) as usize]).collect();
            let chunk = 1 + (next() % 7) as usize;
            let mut g = Guard::new(input.as_slice(), Some(b'"'), Some(b','));
            let mut buf = vec![0u8; chunk];
            let got = loop {
                match g.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(_) => {}
                    Err(e) => break Some(e.to_string()),
                }
            };
            let want = reference(&input);
            let lines = 1 + input.iter().filter(|&&b| b == b'\n').count() as u64;
            match (want, got) {
                (None, None) => assert_eq!(g.line, lines, "{input:?}"),
                (Some(open), Some(e)) => assert!(e.starts_with(&format!("line {open}: ")), "{input:?}: {e}"),
                (w, g) => panic!("{input:?}: reference {w:?}, guard {g:?}"),
            }
        }
    }

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(shown(b"ab\"c\\"), r#""ab\"c\\""#);
        assert_eq!(shown(b"\0\x1b\xff\t\xe2\x80\xae"), r#""\0\u{1b}\xFF\t\u{202e}""#);
        let long = "é".repeat(100);
        assert_eq!(
            shown_str(&long),
            format!("\"{}\"…(200 bytes)", "é".repeat(MAX_SHOWN_CHARS))
        );
    }
}
