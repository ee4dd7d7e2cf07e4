//! Hostile sockets for the connection tests and `examples/hold_sockets.rs`: connections that
//! send nothing, half a request head, or one request and then sit idle (keep-alive).
#![allow(dead_code)]
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What a held socket does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request line and one header, never the blank line that ends the head.
    PartialHead,
    /// Sends one complete request, reads the answer, keeps the connection open.
    KeptAlive,
}

impl Kind {
    /// Parses `silent`, `partial` or `idle`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "silent" => Some(Kind::Silent),
            "partial" => Some(Kind::PartialHead),
            "idle" => Some(Kind::KeptAlive),
            _ => None,
        }
    }
}

/// Opens one socket of `kind` to `addr`.
pub fn open(addr: SocketAddr, kind: Kind) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    match kind {
        Kind::Silent => {}
        Kind::PartialHead => s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")?,
        Kind::KeptAlive => {
            s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut buf = [0u8; 4096];
            // The health answer is one small packet; a server at its cap may also close us.
            let _ = s.read(&mut buf)?;
        }
    }
    Ok(s)
}

/// Opens `n` sockets, cycling through `kinds`; returns those that connected and how many
/// failed.
pub fn open_many(addr: SocketAddr, kinds: &[Kind], n: usize) -> (Vec<TcpStream>, usize) {
    let mut held = Vec::with_capacity(n);
    let mut failed = 0;
    for i in 0..n {
        match open(addr, kinds[i % kinds.len()]) {
            Ok(s) => held.push(s),
            Err(_) => failed += 1,
        }
    }
    (held, failed)
}

/// How long until the server closes `s` (reads until end of file), or `None` if it is still
/// open after `wait`.
pub fn closed_within(s: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = wait.checked_sub(start.elapsed())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return None,
            // Reset by the server: closed too.
            Err(_) => return Some(start.elapsed()),
        }
    }
}

/// Sends raw `request` bytes on a new connection and returns everything the server answers
/// until it closes the connection or `wait` passes.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.write_all(request)?;
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Some(left) = wait.checked_sub(start.elapsed()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    Ok(out)
}
