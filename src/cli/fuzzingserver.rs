//! `duplex fuzzingserver`: flags (Autobahn's `wstest -m fuzzingserver -s FILE` spelled
//! `duplex fuzzingserver --spec FILE`) and the command itself.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::apps::fuzzingserver::{self, FuzzingServer, Overrides};

/// Options of `duplex fuzzingserver`.
#[derive(Debug, Clone, Args)]
pub struct FuzzingserverArgs {
    /// Autobahn's fuzzingserver spec file (url, outdir, cases, exclude-cases,
    /// exclude-agent-cases, options). Without it: every case on ws://127.0.0.1:9001.
    #[arg(long, short = 's', value_name = "FILE")]
    pub(crate) spec: Option<PathBuf>,

    /// Listen on this port instead of the spec url's.
    #[arg(long)]
    pub(crate) port: Option<u16>,

    /// Write reports here instead of the spec's outdir.
    #[arg(long, value_name = "DIR")]
    pub(crate) outdir: Option<PathBuf>,

    /// Print the case catalogue (id, group, description) and exit; with -v, what a client
    /// must do in each.
    #[arg(long)]
    pub(crate) list: bool,

    /// With --list: each case's expectation too.
    #[arg(long, short = 'v')]
    pub(crate) verbose: bool,

    /// Seconds to wait for a client's close frame after the server's (Autobahn: 1).
    #[arg(long, value_name = "SECS")]
    pub(crate) close_timeout: Option<f64>,

    /// Seconds a client has to complete its opening handshake (Autobahn: 5).
    #[arg(long, value_name = "SECS")]
    pub(crate) open_timeout: Option<f64>,

    /// Multiply every case's own time limit (killAfter, closeAfter, the 9.*/12.*/13.* limits)
    /// by this; the delays that are part of a case (5.19, 6.4.*) are kept.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub(crate) timeout_scale: f64,

    /// Certificate (PEM) for a wss:// url, instead of the spec's "cert" (wstest's -c).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) cert: Option<PathBuf>,

    /// Private key (PEM) for a wss:// url, instead of the spec's "key" (wstest's -k).
    #[arg(long, short = 'k', value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,

    /// Autobahn's testdata directory: use its files for the 12.*/13.* payloads instead of
    /// duplex's generated stand-ins.
    #[arg(long, value_name = "DIR")]
    pub(crate) testdata: Option<PathBuf>,
}

/// Runs `duplex fuzzingserver`; the exit status.
pub async fn run(args: FuzzingserverArgs) -> ExitCode {
    if args.list {
        return match fuzzingserver::catalogue_listing(args.verbose) {
            Ok(listing) => {
                use std::io::Write as _;
                let _ = std::io::stdout().write_all(listing.as_bytes());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("duplex fuzzingserver: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let text = match &args.spec {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => {
                eprintln!(
                    "duplex fuzzingserver: cannot read {}: {err}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        },
        None => "{}".to_owned(),
    };
    let overrides = Overrides {
        port: args.port,
        outdir: args.outdir,
        close_timeout: args.close_timeout,
        open_timeout: args.open_timeout,
        timeout_scale: Some(args.timeout_scale),
        testdata: args.testdata,
        cert: args.cert,
        key: args.key,
    };
    let server = match FuzzingServer::new(&text, overrides) {
        Ok(server) => Arc::new(server),
        Err(err) => {
            eprintln!("duplex fuzzingserver: {err}");
            return ExitCode::from(2);
        }
    };
    let addr = server.listen_addr();
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("duplex fuzzingserver: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(
        "fuzzingserver on {}: {} cases per agent; reports go to {} on /updateReports; \
         live results at {}/results",
        server.url(addr),
        server.case_count(),
        server.outdir().display(),
        server.url(addr).replacen("ws", "http", 1)
    );
    fuzzingserver::serve(listener, server.clone(), stop_signal()).await;
    ExitCode::SUCCESS
}

/// Ctrl+C or SIGTERM. (Not `startup::shutdown_signals`: nothing here drains gracefully.)
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
