//! The benchmark ceiling: the least a server on duplex's stack can do. Every request gets
//! `{"status":"ok"}` (the 15 bytes of `GET /status`) straight from a hyper service, with the
//! same runtime flavour, TLS configuration and socket options as `duplex serve`, so
//! `bench/run.sh` can tell how much of the stack's speed duplex's own code costs.
//!
//! `cargo run --release --example ceiling -- [--port 8002] [--workers 1] [--cert C --key K]`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const BODY: &[u8] = br#"{"status":"ok"}"#;

#[derive(Debug, Parser)]
struct Args {
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
    let scheme = if tls.is_some() { "https" } else { "http" };
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
            let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(BODY)))
                        .unwrap_or_default(),
                )
            });
            let builder = http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
            }
        });
    }
}
