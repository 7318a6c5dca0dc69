//! The WebSocket benchmark ceilings: an echo server on a bare Rust WebSocket library, with the
//! same runtime flavour, TLS configuration and socket options as `duplex serve`, so
//! `bench/run.sh` can put duplex's echo round trip (`/ws/mirror`) next to the cheapest
//! library's. Every text or binary message comes back as is, on any path; pings are answered
//! and a close is returned, as each library does by default. No permessage-deflate.
//!
//! `cargo run --release --example ws_ceiling -- --lib tungstenite|fastwebsockets [--port 8003]
//! [--workers 1] [--cert C --key K]`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Lib {
    /// tokio-tungstenite (its own handshake on the stream).
    Tungstenite,
    /// fastwebsockets (the handshake through hyper, as its own echo example does).
    Fastwebsockets,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum)]
    lib: Lib,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    #[arg(long, default_value_t = 8003)]
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
            eprintln!("ws_ceiling: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &Args) -> Result<(), String> {
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(TlsAcceptor::from(Arc::clone(
            &duplex::transport::tls::load(cert, key)
                .map_err(|err| err.to_string())?
                .config,
        ))),
        _ => None,
    };
    let listener = TcpListener::bind(SocketAddr::new(args.host, args.port))
        .await
        .map_err(|err| format!("cannot listen on {}:{}: {err}", args.host, args.port))?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    eprintln!(
        "ws_ceiling ({:?}) listening on {scheme}://{}",
        args.lib,
        listener.local_addr().map_err(|err| err.to_string())?
    );
    let lib = args.lib;
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
                        echo(lib, stream).await;
                    }
                }
                None => echo(lib, tcp).await,
            }
        });
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(lib: Lib, stream: S) {
    match lib {
        Lib::Tungstenite => {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    return;
                }
            }
        }
        Lib::Fastwebsockets => {
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
