//! The requests the REST server parses, sent to a real `reco serve` (started once, in
//! process, on a free port, over two small models): the first input byte picks the route and
//! model, the rest is the JSON body of `POST /recommend/{model}` (a basket) or the query
//! string of `GET /recommend/{model}/{user}` and `GET /similar/{model}/{item}`. A panic in a
//! handler becomes a 500 (the server catches it) and is reported here as a crash; so is a
//! request that gets no answer.
//!
//! It uses only the public `serve` API, so it keeps working whatever the handlers' request
//! types look like.
#![no_main]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use reco_server::serve::{serve, ServeConfig};

const MODELS: [(&str, &[u8]); 2] = [
    (
        "als",
        include_bytes!("../seeds/model_from_bytes/als-f32.safetensors"),
    ),
    (
        "item-knn",
        include_bytes!("../seeds/model_from_bytes/item-knn-f32.safetensors"),
    ),
];

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("reco-fuzz-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in MODELS {
            std::fs::write(dir.join(format!("{name}.safetensors")), bytes).unwrap();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut config = ServeConfig::new(PathBuf::from(&dir));
                config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
                config.reload_on_sighup = false;
                let server = serve(config).await.expect("the fuzz server starts");
                tx.send(server.addr()).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (model, user, item) = MODELS
        .iter()
        .map(|(name, _)| (*name, "u1", "i1"))
        .nth(selector as usize % MODELS.len())
        .unwrap();
    let mut request = Vec::with_capacity(rest.len() + 200);
    match (selector / 2) % 3 {
        0 => {
            request.extend_from_slice(
                format!(
                    "POST /recommend/{model} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    rest.len()
                )
                .as_bytes(),
            );
            request.extend_from_slice(rest);
        }
        route => {
            let path = if route == 1 {
                format!("/recommend/{model}/{user}?")
            } else {
                format!("/similar/{model}/{item}?")
            };
            // Bytes a request line cannot hold are percent-encoded, as a client would.
            let mut query = String::new();
            for &b in rest {
                if b.is_ascii_graphic() && b != b'#' {
                    query.push(b as char);
                } else {
                    query.push_str(&format!("%{b:02X}"));
                }
            }
            request.extend_from_slice(
                format!("GET {path}{query} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n").as_bytes(),
            );
        }
    }
    let mut stream = TcpStream::connect(server()).expect("connect to the fuzz server");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(&request).unwrap();
    let mut response = Vec::new();
    if let Err(e) = stream.read_to_end(&mut response) {
        panic!("no answer within 30 s: {e}");
    }
    let status = response.get(9..12).unwrap_or_default();
    assert!(
        !response.is_empty(),
        "the server closed the connection without an answer"
    );
    assert_ne!(
        status,
        b"500",
        "a handler panicked: {}",
        String::from_utf8_lossy(&response[..response.len().min(2000)])
    );
});
