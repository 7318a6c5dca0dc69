//! Command line and environment: every flag has a `DUPLEX_*` variable.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::server::log::{LogFormat, LogOptions};
use crate::transport::tls::{CertRequest, KeyKind};

/// duplex: the guide's HTTP + WebSocket server over TLS, strict and fast.
#[derive(Debug, Parser)]
#[command(
    name = "duplex",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    /// `serve` options, accepted without the subcommand too (`serve` is the default).
    #[command(flatten)]
    pub(crate) serve: ServeArgs,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, global = true, env = "DUPLEX_LOG", default_value = "info")]
    pub log_level: String,

    /// Log lines as text (uvicorn's shape; colours only on a terminal) or as one JSON object
    /// per line (timestamp, level, event, conn, peer and the event's fields).
    #[arg(long, global = true, env = "DUPLEX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per process; boxing buys nothing"
)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Write a self-signed cert.pem and key.pem, like the guide's gen_certs.sh.
    Cert(CertArgs),
    /// Talk to a duplex (or the FastAPI original) server: the guide's manual_ws_client.py and
    /// curl commands.
    Client(ClientArgs),
    /// Load generators for the benchmarks (bench/run.sh): bounded in time, loopback or not.
    Bench(BenchArgs),
    /// Test an HTTP or WebSocket client against the client probes: runs it once per case with
    /// the case's URL and judges what it did (`duplex check-client -- ./myclient {url}`).
    CheckClient(CheckClientArgs),
    /// A drop-in Autobahn|Testsuite fuzzingserver: test a WebSocket client with Autobahn's
    /// cases and client drivers (`wstest -m fuzzingserver -s FILE` → `--spec FILE`).
    Fuzzingserver(crate::cli::fuzzingserver::FuzzingserverArgs),
}

/// `duplex check-client`.
#[derive(Debug, Args)]
pub struct CheckClientArgs {
    /// Only these groups (repeat the flag): http-framing, http-1xx, http-status, ws-handshake,
    /// ws-server.
    #[arg(long, value_name = "GROUP")]
    pub(crate) only: Vec<String>,

    /// Seconds each run of the client may take before it counts as hung and is killed
    /// (default 10; with --autobahn, the driver's whole run: default 1800).
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,

    /// Run an Autobahn fuzzingserver driver instead of the probes: the command runs once
    /// with `{url}` (the in-process fuzzingserver) and `{agent}`, and every case's verdict is
    /// printed.
    #[arg(long, conflicts_with = "only")]
    pub(crate) autobahn: bool,

    /// With --autobahn: only these cases (comma-separated Autobahn patterns, `*` matches any
    /// run of characters: `1.*,2.1`). Default: all 517.
    #[arg(
        long,
        value_name = "PATTERNS",
        value_delimiter = ',',
        requires = "autobahn"
    )]
    pub(crate) cases: Vec<String>,

    /// With --autobahn: skip these cases (comma-separated patterns, e.g. `12.*,13.*` for a
    /// client without permessage-deflate).
    #[arg(
        long,
        value_name = "PATTERNS",
        value_delimiter = ',',
        requires = "autobahn"
    )]
    pub(crate) exclude: Vec<String>,

    /// With --autobahn: write the fuzzingserver's reports (index.html, a JSON and an HTML
    /// report per case) into this directory.
    #[arg(long, value_name = "DIR", requires = "autobahn")]
    pub(crate) reports: Option<PathBuf>,

    /// Write the results as JUnit XML to this file (for CI).
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,

    /// Write the results as JSON to this file (each case's output, exit status, what the server
    /// observed and its log lines).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,

    /// Print the cases (group, id, what the probe does, what a correct client does, the rule)
    /// and exit.
    #[arg(long)]
    pub(crate) list: bool,

    /// The client and its arguments; `{url}` is replaced by the case's URL (appended when no
    /// argument has it).
    #[arg(last = true, value_name = "CLIENT")]
    pub(crate) command: Vec<String>,
}

impl Cli {
    /// `--log-level`, except that `check-client` logs warnings only unless told otherwise: its
    /// table is its output, and its in-process server's startup lines would be noise.
    pub fn effective_log_level(&self) -> &str {
        match self.command {
            Some(Command::CheckClient(_)) if self.log_level == "info" => "warn",
            _ => &self.log_level,
        }
    }

    /// The chosen subcommand; `serve` when none was spelled out.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }

    /// The `serve` arguments, whether or not the subcommand was spelled out (their defaults
    /// when another subcommand was chosen).
    pub fn into_serve(self) -> ServeArgs {
        match self.command {
            Some(Command::Serve(args)) => args,
            _ => self.serve,
        }
    }
}

/// Options of `duplex cert`.
#[derive(Debug, Clone, Args)]
pub struct CertArgs {
    /// Directory to write cert.pem and key.pem into (created if missing).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub(crate) out_dir: PathBuf,

    /// An RSA 4096 key instead of ED25519, like gen_certs_legacy.sh (browsers accept it).
    #[arg(long, conflicts_with = "ecdsa")]
    pub(crate) rsa: bool,

    /// An ECDSA P-256 key instead of ED25519 (browsers accept it; ED25519 they refuse).
    #[arg(long)]
    pub(crate) ecdsa: bool,

    /// Sign with a local CA instead of self-signing (mkcert-style; ECDSA P-256). The CA is made
    /// once in the development certificate's directory (its key mode 0600); trust it once and
    /// browsers accept every certificate it signs, including the one `duplex serve` then uses.
    /// Nothing is installed in any trust store.
    #[arg(long, conflicts_with_all = ["rsa"])]
    pub(crate) ca: bool,

    /// Where the local CA and the development certificate are kept
    /// [default: $XDG_DATA_HOME/duplex, else ~/.local/share/duplex].
    #[arg(long, env = "DUPLEX_DEV_CERT_DIR", value_name = "DIR")]
    pub(crate) dev_cert_dir: Option<PathBuf>,

    /// Days the certificate is valid.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub(crate) days: u32,

    /// Another DNS name or IP address for the certificate, besides localhost and 127.0.0.1
    /// (repeatable).
    #[arg(long = "host", value_name = "NAME")]
    pub(crate) hosts: Vec<String>,

    /// Replace existing cert.pem / key.pem.
    #[arg(long)]
    pub(crate) force: bool,
}

impl CertArgs {
    /// What `duplex cert` is asked to write.
    pub fn to_request(&self) -> CertRequest {
        CertRequest {
            out_dir: self.out_dir.clone(),
            kind: if self.rsa {
                KeyKind::Rsa4096
            } else if self.ecdsa {
                KeyKind::EcdsaP256
            } else {
                KeyKind::Ed25519
            },
            ca_dir: self.ca.then(|| {
                self.dev_cert_dir
                    .clone()
                    .unwrap_or_else(default_dev_cert_dir)
            }),
            days: self.days,
            hosts: self.hosts.clone(),
            force: self.force,
        }
    }
}

/// Options of `duplex client`. The connection options are accepted before or after the
/// command (`duplex client -k get /status` = `duplex client get /status -k`).
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub(crate) command: ClientCommand,

    /// Do not verify the server's certificate (like curl -k).
    #[arg(short = 'k', long, global = true)]
    pub(crate) insecure: bool,

    /// Trust the certificates in this PEM file (instead of the system's) when verifying.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,

    /// A client certificate (PEM), sent when the server asks for one (like curl --cert).
    #[arg(long, global = true, value_name = "FILE", requires = "key")]
    pub(crate) cert: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,

    /// Seconds allowed for connecting, the TLS handshake and the HTTP exchange or upgrade.
    #[arg(long, global = true, default_value = "10", value_name = "SECONDS",
          value_parser = parse_seconds)]
    pub(crate) timeout: Duration,

    /// Speak HTTP/2 where the server takes it: ALPN `h2` over TLS (HTTP/1.1 when the server
    /// does not choose it), prior knowledge over plain TCP; WebSockets by extended CONNECT
    /// (RFC 8441).
    #[arg(long, global = true)]
    pub(crate) http2: bool,
}

/// What `duplex client` does. URL arguments take a full URL (http, https, ws, wss) or a path
/// on https://localhost:8000 / wss://localhost:8000.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum ClientCommand {
    /// Send each line typed (or piped) to /ws/echo and print the reply.
    Echo {
        /// [default: wss://localhost:8000/ws/echo]
        url: Option<String>,
        /// Do not offer permessage-deflate.
        #[arg(long)]
        no_compression: bool,
    },
    /// Print the messages of /ws/stream as they arrive; Ctrl+C closes with 1000.
    Stream {
        /// [default: wss://localhost:8000/ws/stream]
        url: Option<String>,
        /// Close (1000) after this many messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Do not offer permessage-deflate.
        #[arg(long)]
        no_compression: bool,
        /// Print each text message as it is, one per line, and nothing else on stdout; exit 0
        /// when the server ends with a close handshake, whatever its code (the contract of
        /// `duplex check-client`).
        #[arg(long)]
        raw: bool,
    },
    /// Log in to /ws/v5/private with a signed request, like the guide's script.
    Private {
        /// [default: wss://localhost:8000/ws/v5/private]
        url: Option<String>,
        /// The API key to log in with (the guide's demo key by default).
        #[arg(long, env = "DUPLEX_API_KEY", default_value = crate::protocol::login::DEMO_API_KEY)]
        api_key: String,
        /// The secret the login is signed with [default: the demo secret, def].
        #[arg(long, env = "DUPLEX_SECRET", default_value = crate::protocol::login::DEMO_SECRET,
              hide_env_values = true, hide_default_value = true)]
        secret: String,
        /// Sent as given; the guide's script sends "pw".
        #[arg(
            long,
            env = "DUPLEX_PASSPHRASE",
            default_value = "pw",
            hide_env_values = true
        )]
        passphrase: String,
    },
    /// Run every case of an Autobahn fuzzingserver (`duplex fuzzingserver` or `wstest -m
    /// fuzzingserver`) with this client, echoing each message; then have it write its reports.
    Autobahn {
        /// The fuzzing server [default: ws://127.0.0.1:9001].
        #[arg(default_value = "ws://127.0.0.1:9001")]
        url: String,
        /// The agent name the reports use.
        #[arg(long, default_value = "duplex")]
        agent: String,
        /// Do not offer permessage-deflate (12.* and 13.* are then UNIMPLEMENTED).
        #[arg(long)]
        no_compression: bool,
    },
    /// GET a URL and print the body (like curl).
    Get(HttpArgs),
    /// POST a JSON body and print the response body (like curl --json).
    Post {
        #[command(flatten)]
        http: HttpArgs,
        /// The request body, sent with content-type: application/json.
        #[arg(long, value_name = "JSON")]
        json: String,
    },
}

/// Options of `duplex bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub(crate) command: BenchCommand,

    /// Do not verify the server's certificate.
    #[arg(short = 'k', long, global = true)]
    pub(crate) insecure: bool,

    /// Trust the certificates in this PEM file when verifying.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,

    /// Runtime worker threads of the load generator [default: one per core].
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum BenchCommand {
    /// WebSocket echo round trips: each connection sends a message and waits for the reply.
    Echo {
        /// [default: wss://localhost:8000/ws/echo]
        url: Option<String>,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        connections: u32,
        /// Message size in bytes.
        #[arg(long, default_value_t = 20)]
        size: usize,
        /// Seconds of load before measuring.
        #[arg(long, default_value = "1", value_name = "SECONDS", value_parser = parse_seconds)]
        warmup: Duration,
        /// Seconds measured.
        #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = parse_seconds)]
        duration: Duration,
        /// Offer permessage-deflate.
        #[arg(long)]
        compression: bool,
        /// Each connection a WebSocket over HTTP/2 (RFC 8441): ALPN h2 over TLS, prior
        /// knowledge over plain TCP.
        #[arg(long)]
        http2: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// /ws/stream fan-out: how many subscribers get every tick within 100 ms of schedule.
    Stream {
        /// [default: wss://localhost:8000/ws/stream]
        url: Option<String>,
        /// Concurrent subscribers.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        subscribers: u32,
        /// Worker processes to spread them over [default: one per 8,000 subscribers].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=250))]
        processes: Option<u32>,
        /// Seconds measured once everyone is connected.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        window: u64,
        /// The server's process id, to report its memory per subscriber (Linux).
        #[arg(long, value_name = "PID")]
        server_pid: Option<u32>,
        /// Offer permessage-deflate.
        #[arg(long)]
        compression: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Server memory per idle connection: opens N connections, each after one keep-alive
    /// request (or a WebSocket handshake), and reads the server's RSS before and after (Linux).
    Idle {
        /// [default: wss://localhost:8000/status]
        url: Option<String>,
        /// The server's process id.
        #[arg(long, value_name = "PID")]
        server_pid: u32,
        /// Connections to open and hold.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        connections: u32,
        /// Open WebSocket connections (a handshake on the URL) instead of HTTP keep-alives.
        #[arg(long)]
        websocket: bool,
        /// Seconds the connections stay idle before the memory is read.
        #[arg(long, default_value = "2", value_name = "SECONDS", value_parser = parse_seconds)]
        settle: Duration,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// TLS handshakes per second, full or resumed: each connection does the handshake
    /// (optionally one GET of the URL's path), closes, and the next one starts.
    Handshake {
        /// [default: https://localhost:8000/status]
        url: Option<String>,
        /// Offer the session of each connection's previous handshake, so handshakes resume
        /// (a run in which none resumed is an error).
        #[arg(long)]
        resume: bool,
        /// Connections open at once, each a sequence of handshakes.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        connections: u32,
        /// Seconds of load.
        #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = parse_seconds)]
        duration: Duration,
        /// Send one GET of the URL's path (Connection: close) on each connection, expecting 2xx.
        #[arg(long)]
        request: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// One worker process of `stream` (started by it).
    #[command(hide = true)]
    StreamWorker {
        url: String,
        #[arg(long)]
        subscribers: u32,
        /// Source address to connect from.
        #[arg(long)]
        bind: Option<IpAddr>,
        #[arg(long)]
        compression: bool,
    },
}

/// What `get` and `post` share.
#[derive(Debug, Clone, Args)]
pub(crate) struct HttpArgs {
    /// A path like /status, or a full URL.
    pub(crate) url: String,
    /// Print the status line and headers too (like curl -i).
    #[arg(short = 'i', long)]
    pub(crate) include: bool,
    /// Exit with 22 on a 4xx or 5xx answer (like curl -f); the body is still printed.
    #[arg(short = 'f', long)]
    pub(crate) fail: bool,
    /// An extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub(crate) headers: Vec<String>,
    /// Follow redirects (301, 302, 303, 307, 308; at most 10), each on a new connection, like
    /// curl -L: 303 (and 301/302 after a POST) become GET without a body.
    #[arg(short = 'L', long)]
    pub(crate) location: bool,
}

/// Options of `duplex serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address or host name to listen on; a name is resolved at startup and every address it
    /// resolves to is bound (`localhost`: 127.0.0.1 and ::1).
    #[arg(
        long,
        env = "DUPLEX_HOST",
        default_value = "127.0.0.1",
        value_name = "HOST"
    )]
    pub(crate) host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "DUPLEX_PORT", default_value_t = 8000)]
    pub(crate) port: u16,

    /// Listen on this Unix domain socket instead of TCP (uvicorn's --uds). A socket file left
    /// by a crashed server is replaced; the file is removed when the server stops.
    #[arg(long, env = "DUPLEX_UDS", value_name = "PATH")]
    pub(crate) uds: Option<PathBuf>,

    /// Permissions of the --uds socket file, in octal.
    #[arg(long, env = "DUPLEX_UDS_MODE", default_value = "660", value_name = "MODE",
          value_parser = parse_mode)]
    pub(crate) uds_mode: u32,

    /// PEM certificate chain. Without --cert/--key, ./cert.pem and ./key.pem are used if both
    /// exist, else a generated development certificate.
    #[arg(long, env = "DUPLEX_CERT", requires = "key", value_name = "FILE")]
    pub(crate) cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --cert.
    #[arg(long, env = "DUPLEX_KEY", requires = "cert", value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,

    /// Serve plain HTTP and WS instead of HTTPS and WSS.
    #[arg(long, env = "DUPLEX_NO_TLS", conflicts_with_all = ["cert", "key"])]
    pub(crate) no_tls: bool,

    /// Where the generated development certificate is kept
    /// [default: $XDG_DATA_HOME/duplex, else ~/.local/share/duplex].
    #[arg(long, env = "DUPLEX_DEV_CERT_DIR", value_name = "DIR")]
    pub(crate) dev_cert_dir: Option<PathBuf>,

    /// Directory for the lifespan's data.txt (created and removed with the server).
    #[arg(
        long,
        env = "DUPLEX_STATIC_DIR",
        default_value = "static",
        value_name = "DIR"
    )]
    pub(crate) static_dir: PathBuf,

    /// Seconds in-flight requests and WebSocket sessions get to finish after a shutdown
    /// signal; a second Ctrl+C or SIGTERM ends the server at once.
    #[arg(long, env = "DUPLEX_SHUTDOWN_TIMEOUT", default_value = "10", value_name = "SECONDS",
          value_parser = parse_seconds)]
    pub(crate) shutdown_timeout: Duration,

    /// Most connections served at once (HTTP, WebSocket and TLS handshakes); beyond it a new
    /// connection is closed at once (plain HTTP first gets a 503)
    /// [default: the open-file limit minus 64].
    #[arg(long, env = "DUPLEX_MAX_CONNECTIONS", value_name = "COUNT",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: Option<u32>,

    /// Seconds a client has to complete the TLS handshake.
    #[arg(long, env = "DUPLEX_TLS_HANDSHAKE_TIMEOUT", default_value = "10", value_name = "SECONDS",
          value_parser = parse_timeout)]
    pub(crate) tls_handshake_timeout: Duration,

    /// Seconds a client has to send a complete request head, counted from the connection's
    /// start or the end of the previous response (slowloris); then the connection is closed.
    #[arg(long, env = "DUPLEX_HEADER_TIMEOUT", default_value = "10", value_name = "SECONDS",
          value_parser = parse_timeout)]
    pub(crate) header_timeout: Duration,

    /// Seconds a connection may stay silent between requests before it is closed (uvicorn's
    /// default is 5 s too).
    #[arg(long, env = "DUPLEX_KEEP_ALIVE_TIMEOUT", default_value = "5", value_name = "SECONDS",
          value_parser = parse_timeout)]
    pub(crate) keep_alive_timeout: Duration,

    /// Seconds a client has to send a request body, counted from the end of its head; then it
    /// gets 408.
    #[arg(long, env = "DUPLEX_BODY_TIMEOUT", default_value = "30", value_name = "SECONDS",
          value_parser = parse_timeout)]
    pub(crate) body_timeout: Duration,

    /// Largest request head (request line and headers) in bytes; larger gets 431.
    #[arg(long, env = "DUPLEX_MAX_HEAD", default_value_t = crate::server::DEFAULT_MAX_HEAD,
          value_name = "BYTES", value_parser = parse_head_limit)]
    pub(crate) max_head: usize,

    /// Most header lines a request may have; more get 431. 100 is hyper's fastest setting
    /// (about 10 % more requests/s); the default leaves room for the 200 the original accepts.
    #[arg(long, env = "DUPLEX_MAX_HEADERS", default_value_t = crate::server::DEFAULT_MAX_HEADERS,
          value_name = "COUNT", value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=4096), usize::from))]
    pub(crate) max_headers: usize,

    /// Speak HTTP/1.1 only: ALPN offers only `http/1.1` and the HTTP/2 preface on the plain
    /// port gets a 505.
    #[arg(long, env = "DUPLEX_NO_HTTP2")]
    pub(crate) no_http2: bool,

    /// HTTP/2: most streams (requests and WebSockets) open at once on one connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, env = "DUPLEX_H2_MAX_STREAMS", default_value_t = 100, value_name = "COUNT",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) h2_max_streams: u32,

    /// HTTP/2: largest request header list in bytes (SETTINGS_MAX_HEADER_LIST_SIZE; RFC 7541
    /// counts 32 bytes per field on top); larger gets 431, and a header block spread over
    /// CONTINUATION frames is never buffered past it.
    #[arg(long, env = "DUPLEX_H2_MAX_HEADER_LIST", default_value_t = 16 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub(crate) h2_max_header_list: u32,

    /// HTTP/2: flow-control window of each stream in bytes (SETTINGS_INITIAL_WINDOW_SIZE).
    #[arg(long, env = "DUPLEX_H2_STREAM_WINDOW", default_value_t = 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(65_535..=2_147_483_647))]
    pub(crate) h2_stream_window: u32,

    /// HTTP/2: flow-control window of the whole connection in bytes.
    #[arg(long, env = "DUPLEX_H2_CONNECTION_WINDOW", default_value_t = 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(65_535..=2_147_483_647))]
    pub(crate) h2_connection_window: u32,

    /// HTTP/2: streams a client may open and reset before the server serves them; past it the
    /// connection gets GOAWAY (rapid reset, CVE-2023-44487).
    #[arg(long, env = "DUPLEX_H2_MAX_PENDING_RESETS", default_value_t = 20, value_name = "COUNT",
          value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |n| n as usize))]
    pub(crate) h2_max_pending_resets: usize,

    /// HTTP/2: streams the server may reset for a client's protocol errors before the
    /// connection gets GOAWAY.
    #[arg(long, env = "DUPLEX_H2_MAX_ERROR_RESETS", default_value_t = 1024, value_name = "COUNT",
          value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..), |n| n as usize))]
    pub(crate) h2_max_error_resets: usize,

    /// Largest accepted request body in bytes; larger ones get 413. The default takes every
    /// body the guide's captures send the original (and matches the WebSocket message limit).
    #[arg(long, env = "DUPLEX_MAX_BODY", default_value_t = 16 * 1024 * 1024, value_name = "BYTES",
          value_parser = parse_body_limit)]
    pub(crate) max_body: usize,

    /// Bytes of request bodies held at once across all connections; a body that does not fit
    /// gets 503 with `retry-after: 1`. Never less than --max-body.
    #[arg(long, env = "DUPLEX_MAX_BODY_MEMORY", default_value_t = 256 * 1024 * 1024,
          value_name = "BYTES", value_parser = parse_body_memory)]
    pub(crate) max_body_memory: usize,

    /// Largest accepted WebSocket message in bytes (after decompression); larger ones close the
    /// connection with 1009.
    #[arg(long, env = "DUPLEX_WS_MAX_MESSAGE", default_value_t = 16 * 1024 * 1024, value_name = "BYTES",
          value_parser = parse_message_limit)]
    pub(crate) ws_max_message: usize,

    /// Do not negotiate permessage-deflate, even when a client offers it.
    #[arg(long, env = "DUPLEX_NO_WS_COMPRESSION")]
    pub(crate) no_ws_compression: bool,

    /// Seconds between keepalive pings to WebSocket clients (0: no pings).
    #[arg(long, env = "DUPLEX_WS_PING_INTERVAL", default_value = "20", value_name = "SECONDS",
          value_parser = parse_interval)]
    pub(crate) ws_ping_interval: Duration,

    /// Seconds a client has to answer a keepalive ping before the server closes with 1011.
    #[arg(long, env = "DUPLEX_WS_PING_TIMEOUT", default_value = "20", value_name = "SECONDS",
          value_parser = parse_timeout)]
    pub(crate) ws_ping_timeout: Duration,

    /// Seconds a WebSocket send may stay blocked (the client reads nothing) before the
    /// connection is dropped.
    #[arg(long, env = "DUPLEX_WS_SEND_TIMEOUT", default_value = "20", value_name = "SECONDS",
          value_parser = parse_timeout)]
    pub(crate) ws_send_timeout: Duration,

    /// Seconds /ws/v5/private keeps a connection that sends nothing.
    #[arg(long, env = "DUPLEX_WS_PRIVATE_IDLE", default_value = "30", value_name = "SECONDS",
          value_parser = parse_timeout)]
    pub(crate) ws_private_idle: Duration,

    /// JSON file of API keys for /ws/v5/private:
    /// [{"api_key": "...", "secret": "...", "passphrase": "..." (optional)}, ...].
    /// Without it (or --credentials-json) the guide's demo pair abc/def is accepted.
    #[arg(
        long,
        env = "DUPLEX_CREDENTIALS",
        value_name = "FILE",
        conflicts_with = "credentials_json"
    )]
    pub(crate) credentials: Option<PathBuf>,

    /// The same list as --credentials, inline (handy in an environment variable).
    #[arg(
        long,
        env = "DUPLEX_CREDENTIALS_JSON",
        value_name = "JSON",
        hide_env_values = true
    )]
    pub(crate) credentials_json: Option<String>,

    /// Runtime worker threads [default: one per core].
    #[arg(long, env = "DUPLEX_WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,

    /// No access log: no line per request or WebSocket session, and no notes on accepted
    /// requests (refusals are still diagnosed). The benchmarks run this way, as uvicorn's do.
    #[arg(long, env = "DUPLEX_NO_ACCESS_LOG")]
    pub(crate) no_access_log: bool,

    /// Log a wire trace of every connection: TLS parameters, each read and write, raw request
    /// and response heads, and every WebSocket frame decoded. For debugging a client; slow.
    #[arg(long, env = "DUPLEX_TRACE")]
    pub(crate) trace: bool,

    /// Serve the live inspector at /_duplex/: connections, requests with their raw heads,
    /// WebSocket frames and diagnoses as they happen, and a panel to try the WebSocket routes.
    /// Only loopback clients may open it, unless --inspect-token is set. Every connection is
    /// traced for it (as with --trace, without the lines on stderr), which costs speed.
    #[arg(long, env = "DUPLEX_INSPECT")]
    pub(crate) inspect: bool,

    /// Let any client that presents this token open the inspector (`?token=` or
    /// `Authorization: Bearer`); without it only loopback clients may, and with it every client
    /// must present it. Implies --inspect.
    #[arg(long, env = "DUPLEX_INSPECT_TOKEN", value_name = "TOKEN", hide_env_values = true,
          value_parser = parse_token)]
    pub(crate) inspect_token: Option<String>,

    /// Serve the client probes under /probe/ (GET /probe/ lists them): responses and
    /// WebSocket handshakes a demanding server may produce, each with what a correct client
    /// does. A connection whose first request targets /probe/ is taken over before HTTP
    /// parsing, so with this flag every connection's first bytes are looked at first.
    #[arg(long, env = "DUPLEX_PROBES")]
    pub(crate) probes: bool,

    /// Also open the TLS probes, a local badssl for testing a client's certificate checks: one
    /// loopback port per case from --tls-probes-port (expired, not yet valid, wrong host,
    /// self-signed, untrusted root, incomplete chain, complete chain, TLS 1.2 only, TLS 1.3
    /// only, client certificate required, and a good control), with certificates made at
    /// start under the local CA (made in the dev-cert directory if missing, as `duplex cert
    /// --ca` does), and `GET /tls/clienthello` on each. Every handshake is judged in the log.
    #[arg(long, env = "DUPLEX_TLS_PROBES")]
    pub(crate) tls_probes: bool,

    /// First port of the TLS probes; the cases take consecutive ports from it (0: a free port
    /// each).
    #[arg(
        long,
        env = "DUPLEX_TLS_PROBES_PORT",
        default_value_t = 8443,
        value_name = "PORT"
    )]
    pub(crate) tls_probes_port: u16,
}

impl ServeArgs {
    /// Whether the inspector is on (`--inspect`, or a token for it).
    pub(crate) fn inspects(&self) -> bool {
        self.inspect || self.inspect_token.is_some()
    }

    /// What the server logs, in `format`, with colours if `colour`, up to the most verbose
    /// level the `--log-level` filter lets through.
    pub fn log_options(&self, format: LogFormat, colour: bool) -> LogOptions {
        LogOptions {
            access: !self.no_access_log,
            trace: self.trace,
            inspect: self.inspects(),
            format,
            colour,
            max_level: tracing::level_filters::LevelFilter::current(),
        }
    }
}

/// The tracing filter for `--log-level`. rustls's own messages are capped at errors unless the
/// filter names rustls: any client can trigger its warnings (an IP address sent as SNI, as wrk
/// and curl do, is one WARN line per handshake), which would let it flood the log. The same
/// for the HPACK decoder of the HTTP/2 trace, whose debug lines come one per header field.
pub fn log_filter(level: &str) -> String {
    let mut filter = level.to_owned();
    for noisy in ["rustls", "loona_hpack"] {
        if !level.contains(noisy) {
            filter.push_str(&format!(",{noisy}=error"));
        }
    }
    filter
}

/// 1 byte to 1 GiB: a limit above the memory the server can give one message is no limit.
fn parse_message_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if (1..=1 << 30).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "`{text}` is not a number of bytes from 1 to 1073741824"
        )),
    }
}

/// hyper's read buffer cannot be smaller than 8 KiB; 1 MiB of headers is no limit.
fn parse_head_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if (8192..=1 << 20).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "`{text}` is not a number of bytes from 8192 to 1048576"
        )),
    }
}

/// 0 to 1 GiB (0 refuses every body; bodies are held in memory whole).
fn parse_body_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if bytes <= 1 << 30 => Ok(bytes),
        _ => Err(format!(
            "`{text}` is not a number of bytes from 0 to 1073741824"
        )),
    }
}

/// File permissions in octal, as chmod takes them (`660`, `0600`).
fn parse_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("`{text}` is not an octal mode from 0 to 777")),
    }
}

fn parse_body_memory(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if bytes <= 1 << 40 => Ok(bytes),
        _ => Err(format!(
            "`{text}` is not a number of bytes from 0 to 1099511627776"
        )),
    }
}

/// An inspector token: long enough not to be guessed, and safe in a URL query as it is.
fn parse_token(text: &str) -> Result<String, String> {
    if text.len() < 16 || text.len() > 256 {
        return Err(format!(
            "the token is {} characters; use 16 to 256 (e.g. `openssl rand -hex 16`)",
            text.len()
        ));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return Err(
            "the token may use letters, digits and - _ . ~ only (it travels in a URL)".to_owned(),
        );
    }
    Ok(text.to_owned())
}

/// A timeout: more than zero (zero would close every connection at once) and at most a day.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_seconds(text)?;
    if duration.is_zero() || duration > Duration::from_secs(86_400) {
        return Err(format!(
            "`{text}` is not a number of seconds above 0 and up to 86400"
        ));
    }
    Ok(duration)
}

/// Like [`parse_timeout`], and 0 turns it off.
fn parse_interval(text: &str) -> Result<Duration, String> {
    match parse_seconds(text)? {
        off if off.is_zero() => Ok(off),
        _ => parse_timeout(text),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a valid duration"))
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsSource {
    Off,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Generate (once) and reuse the development certificate in this directory.
    Dev(PathBuf),
}

impl ServeArgs {
    /// Resolves the certificate rule: flags, then `./cert.pem` + `./key.pem`, then the dev cert.
    pub(crate) fn tls_source(&self) -> TlsSource {
        if self.no_tls {
            return TlsSource::Off;
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            return TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            };
        }
        let (cert, key) = (PathBuf::from("cert.pem"), PathBuf::from("key.pem"));
        if cert.is_file() && key.is_file() {
            return TlsSource::Files { cert, key };
        }
        TlsSource::Dev(
            self.dev_cert_dir
                .clone()
                .unwrap_or_else(default_dev_cert_dir),
        )
    }
}

/// `$XDG_DATA_HOME/duplex`, else `$HOME/.local/share/duplex`, else `./.duplex`.
pub(crate) fn default_dev_cert_dir() -> PathBuf {
    let non_empty = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(data) = non_empty("XDG_DATA_HOME") {
        return data.join("duplex");
    }
    if let Some(home) = non_empty("HOME") {
        return home.join(".local/share/duplex");
    }
    PathBuf::from(".duplex")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("duplex").chain(args.iter().copied()))
    }

    #[test]
    fn serve_is_the_default_subcommand() -> Result<(), clap::Error> {
        let bare = parse(&["--port", "9000"])?.into_serve();
        let explicit = parse(&["serve", "--port", "9000"])?.into_serve();
        assert_eq!(bare.port, 9000);
        assert_eq!(explicit.port, 9000);
        assert_eq!(bare.host, "127.0.0.1");
        Ok(())
    }

    #[test]
    fn invalid_flags_are_usage_errors() {
        for args in [
            &["--port", "eighty"][..],
            &["--bogus"],
            &["--cert", "c.pem"],
            &["--no-tls", "--cert", "c", "--key", "k"],
            &["--max-head", "4096"],
            &["--max-connections", "0"],
            &["--header-timeout", "0"],
            &["--keep-alive-timeout", "-1"],
            &["--body-timeout", "NaN"],
            &["--max-body", "2000000000"],
            &["--max-body-memory", "lots"],
            &["--uds-mode", "999"],
            &["--uds-mode", "rw"],
            // Past a day, deadlines would overflow `Instant` in every session.
            &["--ws-ping-interval", "1e19"],
            &["--ws-ping-timeout", "0"],
            &["--ws-private-idle", "1e19"],
        ] {
            let err = parse(args).err();
            assert_eq!(err.map(|e| e.exit_code()), Some(2), "{args:?}");
        }
    }

    #[test]
    fn rustls_logs_are_capped_unless_asked_for() {
        assert_eq!(log_filter("info"), "info,rustls=error,loona_hpack=error");
        assert_eq!(log_filter("debug"), "debug,rustls=error,loona_hpack=error");
        assert_eq!(
            log_filter("info,rustls=debug"),
            "info,rustls=debug,loona_hpack=error"
        );
        // Every form stays a valid filter.
        for level in ["info", "warn", "duplex=trace", "info,rustls=debug"] {
            let filter = tracing_subscriber::EnvFilter::try_new(log_filter(level));
            assert!(filter.is_ok(), "{level}");
        }
    }

    #[test]
    fn explicit_files_win_and_no_tls_turns_tls_off() -> Result<(), clap::Error> {
        let files = parse(&["--cert", "c.pem", "--key", "k.pem"])?.into_serve();
        assert_eq!(
            files.tls_source(),
            TlsSource::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            }
        );
        assert_eq!(
            parse(&["--no-tls"])?.into_serve().tls_source(),
            TlsSource::Off
        );
        let dev = parse(&["--dev-cert-dir", "/tmp/x"])?.into_serve();
        if !PathBuf::from("cert.pem").exists() {
            assert_eq!(dev.tls_source(), TlsSource::Dev("/tmp/x".into()));
        }
        Ok(())
    }
}
