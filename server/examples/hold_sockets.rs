//! Holds hostile connections open against a server, for resilience checks:
//!
//! `cargo run -p reco-server --example hold_sockets -- 127.0.0.1:8000 300 silent,partial,idle 30`
//!
//! opens 300 sockets (cycling through the kinds: `silent` sends nothing, `partial` half a
//! request head, `idle` one request then nothing), holds them for 30 s, then prints how many
//! connected and how many the server had closed by then.
#[path = "../tests/support/sockets.rs"]
mod sockets;

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: hold_sockets ADDR N KINDS SECONDS   (KINDS: comma-separated silent,partial,idle)";
    let [addr, n, kinds, secs] = args.as_slice() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (Ok(addr), Ok(n), Ok(secs)) = (addr.parse(), n.parse::<usize>(), secs.parse::<f64>()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let kinds: Option<Vec<sockets::Kind>> = kinds.split(',').map(sockets::Kind::parse).collect();
    let Some(kinds) = kinds.filter(|k| !k.is_empty()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (mut held, failed) = sockets::open_many(addr, &kinds, n);
    println!(
        "opened {} of {n} sockets ({failed} failed to connect)",
        held.len()
    );
    std::thread::sleep(Duration::from_secs_f64(secs));
    let closed = held
        .iter_mut()
        .map(|s| sockets::closed_within(s, Duration::from_millis(1)))
        .filter(Option::is_some)
        .count();
    println!("after {secs} s the server had closed {closed} of them");
}
