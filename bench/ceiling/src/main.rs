//! The benchmark ceilings: the least a server on duplex's stack can do, with the same runtime
//! flavour, TLS configuration and socket options as `duplex serve`, so `bench/run.sh` can tell
//! how much of the stack's cost is duplex's own code.
//!
//! - HTTP (the default): every request gets `{"status":"ok"}` (the 15 bytes of `GET /status`)
//!   straight from a hyper service.
//! - `--http2`: the same answer from hyper's HTTP/2 server (RFC 9113), with duplex's default
//!   HTTP/2 limits (100 concurrent streams, 1 MiB windows, 16 KiB header lists). Over TLS the
//!   protocol is chosen by ALPN as duplex chooses it (`h2`, then `http/1.1`); over plain TCP it
//!   is HTTP/2 with prior knowledge (h2c) only, with no look at the preface: the bare cost.
//! - `--ws LIB`: a WebSocket echo server on a bare Rust WebSocket library (tokio-tungstenite or
//!   fastwebsockets), measured against duplex's `/ws/mirror`. Every text or binary message
//!   comes back as is, on any path; pings are answered and a close is returned, as each
//!   library does by default. No permessage-deflate.
//!
//! `cargo run --release -p ceiling -- [--http2 | --ws tungstenite|fastwebsockets] [--port 8002]
//! [--workers 1] [--cert C --key K]`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const BODY: &[u8] = br#"{"status":"ok"}"#;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WsLib {
    /// tokio-tungstenite (its own handshake on the stream).
    Tungstenite,
    /// fastwebsockets (the handshake through hyper, as its own echo example does).
    Fastwebsockets,
}

#[derive(Debug, Parser)]
struct Args {
    /// Serve WebSocket echo on this library instead of HTTP.
    #[arg(long, value_enum, conflicts_with = "http2")]
    ws: Option<WsLib>,
    /// Serve HTTP/2: by ALPN over TLS, with prior knowledge (h2c) over plain TCP.
    #[arg(long)]
    http2: bool,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    #[arg(long, default_value_t = 8002)]
    port: u16,
    /// Runtime worker threads (default: one per core), as `duplex serve --workers`.
    #[arg(long)]
    workers: Option<usize>,
    /// Serve TLS with this certificate chain (needs --key).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    duplex::transport::tls::install_crypto_provider();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers);
    }
    let result = runtime
        .enable_all()
        .build()
        .map_err(|err| err.to_string())
        .and_then(|runtime| runtime.block_on(serve(&args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ceiling: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &Args) -> Result<(), String> {
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let config = duplex::transport::tls::load(cert, key)
                .map_err(|err| err.to_string())?
                .config;
            let mut config = Arc::unwrap_or_clone(config);
            if args.http2 {
                // As `duplex serve` offers them: h2 first (RFC 9113 §3.2).
                config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            }
            Some(TlsAcceptor::from(Arc::new(config)))
        }
        _ => None,
    };
    let mode = match (args.ws, args.http2) {
        (Some(lib), _) => Mode::Ws(lib),
        (None, true) => Mode::Http2,
        (None, false) => Mode::Http1,
    };
    let listener = TcpListener::bind(SocketAddr::new(args.host, args.port))
        .await
        .map_err(|err| format!("cannot listen on {}:{}: {err}", args.host, args.port))?;
    let scheme = match (tls.is_some(), args.ws.is_some()) {
        (false, false) => "http",
        (true, false) => "https",
        (false, true) => "ws",
        (true, true) => "wss",
    };
    eprintln!(
        "ceiling listening on {scheme}://{}",
        listener.local_addr().map_err(|err| err.to_string())?
    );
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        // ALPN decides, as in duplex: HTTP/1.1 unless the client chose h2.
                        let mode = match mode {
                            Mode::Http2 if stream.get_ref().1.alpn_protocol() != Some(b"h2") => {
                                Mode::Http1
                            }
                            mode => mode,
                        };
                        serve_connection(stream, mode).await;
                    }
                }
                None => serve_connection(tcp, mode).await,
            }
        });
    }
}

/// What a connection is served.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Http1,
    Http2,
    Ws(WsLib),
}

async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    mode: Mode,
) {
    let service = service_fn(|_: Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(BODY)))
                .unwrap_or_default(),
        )
    });
    match mode {
        Mode::Ws(lib) => ws_echo(lib, stream).await,
        Mode::Http1 => {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
        Mode::Http2 => {
            // duplex's defaults (`Http2Limits::default()` in src/server/settings.rs), so both
            // announce the same SETTINGS and update windows at the same pace.
            let mut h2 = http2::Builder::new(TokioExecutor::new());
            h2.timer(TokioTimer::new())
                .max_concurrent_streams(100)
                .max_header_list_size(16 * 1024)
                .initial_stream_window_size(1024 * 1024)
                .initial_connection_window_size(1024 * 1024);
            let _ = h2.serve_connection(TokioIo::new(stream), service).await;
        }
    }
}

async fn ws_echo<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(lib: WsLib, stream: S) {
    match lib {
        WsLib::Tungstenite => {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    return;
                }
            }
        }
        WsLib::Fastwebsockets => {
            let service = service_fn(|mut request| async move {
                let (response, upgrade) = fastwebsockets::upgrade::upgrade(&mut request)?;
                tokio::spawn(async move {
                    let Ok(ws) = upgrade.await else {
                        return;
                    };
                    let mut ws = fastwebsockets::FragmentCollector::new(ws);
                    while let Ok(frame) = ws.read_frame().await {
                        let echoed = match frame.opcode {
                            fastwebsockets::OpCode::Close => return,
                            fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => {
                                ws.write_frame(frame).await
                            }
                            _ => Ok(()),
                        };
                        if echoed.is_err() {
                            return;
                        }
                    }
                });
                Ok::<_, fastwebsockets::WebSocketError>(response)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        }
    }
}
