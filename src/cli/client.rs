//! The `duplex client` commands: the guide's `manual_ws_client.py` (echo, stream, private) and
//! its `curl -k` examples (get, post), printing what they print.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rustls::ClientConfig;
use tokio::io::AsyncBufReadExt;

use super::config::{BenchArgs, BenchCommand, ClientArgs, ClientCommand, HttpArgs};
use crate::client::bench::{self, EchoLoad, HandshakeLoad, IdleLoad, StreamLoad, WorkerCommand};
use crate::client::http::{self as client_http, Outgoing, Response};
use crate::client::ws::{self, Connection, Received, WsOptions};
use crate::client::{ClientError, Target, TlsOptions};
use crate::protocol::ws::CloseCode;
use crate::protocol::ws::{CloseFrame, Message};

/// Exit status of a command that ran but did not succeed (login refused, abnormal close).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status of `get`/`post --fail` on a 4xx/5xx answer, as curl's.
pub(crate) const EXIT_HTTP_ERROR: u8 = 22;
/// Exit status when Ctrl+C ends a command before its session opened, as a shell reports it.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Runs a `duplex client` command; returns the process exit status. Errors are printed as one
/// line on stderr.
pub async fn run(args: ClientArgs) -> u8 {
    match run_command(args).await {
        Ok(status) => status,
        Err(err) => {
            eprintln!("duplex client: {err}");
            EXIT_FAILED
        }
    }
}

async fn run_command(args: ClientArgs) -> Result<u8, ClientError> {
    let tls = TlsOptions {
        insecure: args.insecure,
        cacert: args.cacert,
        client_cert: args.cert.zip(args.key),
    };
    let ws_options = |no_compression: bool| WsOptions {
        compression: !no_compression,
        timeout: args.timeout,
        http2: args.http2,
        ..WsOptions::default()
    };
    let outgoing = |outgoing: Outgoing| {
        if args.http2 {
            outgoing.over_http2()
        } else {
            outgoing
        }
    };
    match args.command {
        ClientCommand::Echo {
            url,
            no_compression,
        } => {
            let options = ws_options(no_compression);
            let session = open_session(url.as_deref(), "/ws/echo", &tls, &options, false).await?;
            let Some((conn, mut interrupt)) = session else {
                return Ok(EXIT_INTERRUPTED);
            };
            echo(conn, &mut interrupt).await
        }
        ClientCommand::Stream {
            url,
            count,
            no_compression,
            raw,
        } => {
            let options = ws_options(no_compression);
            let session = open_session(url.as_deref(), "/ws/stream", &tls, &options, raw).await?;
            let Some((conn, mut interrupt)) = session else {
                return Ok(EXIT_INTERRUPTED);
            };
            stream(conn, count, raw, &mut interrupt).await
        }
        ClientCommand::Private {
            url,
            api_key,
            secret,
            passphrase,
        } => {
            let target = Target::parse_or(url.as_deref(), "/ws/v5/private")?;
            let conn = open(&target, &tls, &ws_options(false), false).await?;
            let timestamp = now_millis().to_string();
            let login =
                crate::protocol::login::login_request(&api_key, &secret, &passphrase, &timestamp);
            private(conn, &login, args.timeout).await
        }
        ClientCommand::Autobahn {
            url,
            agent,
            no_compression,
        } => {
            let target = Target::parse(&url)?;
            let config = if target.tls {
                Some(tls.client_config()?)
            } else {
                None
            };
            let driven = crate::client::autobahn::drive(
                &url,
                &agent,
                config.as_ref(),
                &ws_options(no_compression),
            )
            .await?;
            eprintln!("duplex client: ran {} cases as {agent}", driven.cases);
            Ok(0)
        }
        ClientCommand::Get(http) => send(http, outgoing(Outgoing::get()), &tls, args.timeout).await,
        ClientCommand::Post { http, json } => {
            send(
                http,
                outgoing(Outgoing::post_json(json)),
                &tls,
                args.timeout,
            )
            .await
        }
    }
}

/// Runs a `duplex bench` command; returns the process exit status.
pub async fn run_bench(args: BenchArgs) -> u8 {
    let tls = TlsOptions {
        insecure: args.insecure,
        cacert: args.cacert,
        ..TlsOptions::default()
    };
    let result = match args.command {
        BenchCommand::Echo {
            url,
            connections,
            size,
            warmup,
            duration,
            compression,
            http2,
            json,
        } => {
            let load = EchoLoad {
                connections: connections as usize,
                message_size: size,
                warmup,
                duration,
                compression,
                http2,
            };
            bench_echo(url.as_deref(), &tls, &load, json).await
        }
        BenchCommand::Stream {
            url,
            subscribers,
            processes,
            window,
            server_pid,
            compression,
            json,
        } => {
            let load = StreamLoad {
                subscribers: subscribers as usize,
                processes: processes.map(|n| n as usize),
                window_secs: window,
                compression,
                server_pid,
            };
            bench_stream(url.as_deref(), &tls, &load, json).await
        }
        BenchCommand::Idle {
            url,
            server_pid,
            connections,
            websocket,
            settle,
            json,
        } => {
            let load = IdleLoad {
                connections: connections as usize,
                websocket,
                server_pid,
                settle,
            };
            bench_idle(url.as_deref(), &tls, &load, json).await
        }
        BenchCommand::Handshake {
            url,
            resume,
            connections,
            duration,
            request,
            json,
        } => {
            let load = HandshakeLoad {
                connections: connections as usize,
                duration,
                resume,
                request,
            };
            bench_handshake(url.as_deref(), &tls, &load, json).await
        }
        BenchCommand::StreamWorker {
            url,
            subscribers,
            bind,
            compression,
        } => bench_stream_worker(&url, &tls, subscribers as usize, bind, compression).await,
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("duplex bench: {err}");
            EXIT_FAILED
        }
    }
}

async fn bench_echo(
    url: Option<&str>,
    tls: &TlsOptions,
    load: &EchoLoad,
    json: bool,
) -> Result<(), ClientError> {
    let target = Target::parse_or(url, "/ws/echo")?;
    let config = tls_config(&target, tls)?;
    let report = bench::echo(&target, config.as_ref(), load).await?;
    if json {
        say(&serde_json::json!({
            "round_trips_per_s": report.per_second(),
            "round_trips": report.round_trips,
            "seconds": report.seconds,
            "p50_us": report.p50_us,
            "p99_us": report.p99_us,
            "failed": report.failed,
        })
        .to_string())
    } else {
        say(&report.to_string())
    }
}

async fn bench_idle(
    url: Option<&str>,
    tls: &TlsOptions,
    load: &IdleLoad,
    json: bool,
) -> Result<(), ClientError> {
    let target = Target::parse_or(url, "/status")?;
    let config = tls_config(&target, tls)?;
    let report = bench::idle(&target, config.as_ref(), load).await?;
    let per_connection = serde_json::json!(report.bytes_per_connection());
    print_report(&report, json, ("bytes_per_connection", per_connection))
}

async fn bench_handshake(
    url: Option<&str>,
    tls: &TlsOptions,
    load: &HandshakeLoad,
    json: bool,
) -> Result<(), ClientError> {
    let target = Target::parse_or(url, "/status")?;
    let config = tls.client_config()?;
    let report = bench::handshake(&target, &config, load).await?;
    let per_second = serde_json::json!(report.per_second());
    print_report(&report, json, ("handshakes_per_s", per_second))
}

/// A load generator's report: one JSON object, with `derived` (a figure the report computes)
/// added, or its one line of text.
fn print_report<R: serde::Serialize + std::fmt::Display>(
    report: &R,
    json: bool,
    (name, value): (&str, serde_json::Value),
) -> Result<(), ClientError> {
    if !json {
        return say(&report.to_string());
    }
    let mut object = serde_json::to_value(report)
        .map_err(|err| ClientError::Bench(format!("cannot encode the result: {err}")))?;
    object[name] = value;
    say(&object.to_string())
}

async fn bench_stream(
    url: Option<&str>,
    tls: &TlsOptions,
    load: &StreamLoad,
    json: bool,
) -> Result<(), ClientError> {
    let target = Target::parse_or(url, "/ws/stream")?;
    // Workers get the same TLS flags; a --cacert is checked here first so a bad one fails once.
    tls_config(&target, tls)?;
    let mut tls_args = Vec::new();
    if tls.insecure {
        tls_args.push("-k".to_owned());
    }
    if let Some(cacert) = &tls.cacert {
        tls_args.push("--cacert".to_owned());
        tls_args.push(cacert.display().to_string());
    }
    let command = WorkerCommand {
        url: target.ws_url(),
        tls_args,
    };
    let report = bench::stream(&target, &command, load).await?;
    if json {
        let t = &report.tally;
        say(&serde_json::json!({
            "subscribers": t.subscribers,
            "connected": t.connected,
            "connect_errors": t.connect_errors,
            "dropped": t.dropped,
            "expected": t.expected,
            "received": t.received,
            "lost": t.lost,
            "late": t.late,
            "late_seconds": t.late_by_second.len(),
            "arrived": t.arrived,
            "p50_ms": t.percentile_ms(50),
            "p99_ms": t.percentile_ms(99),
            "max_ms": t.max_ms(),
            "window_s": report.window_secs,
            "processes": report.processes,
            "server_rss_before_kib": report.server_rss_before_kib,
            "server_rss_during_kib": report.server_rss_during_kib,
            "rss_per_subscriber_kib": report.rss_per_subscriber_kib(),
            "on_time": report.on_time(),
            "first_error": t.first_error,
        })
        .to_string())
    } else {
        say(&report.to_string())
    }
}

/// A `stream` worker: says `ready` once connected, then prints its tally as JSON.
async fn bench_stream_worker(
    url: &str,
    tls: &TlsOptions,
    subscribers: usize,
    bind: Option<std::net::IpAddr>,
    compression: bool,
) -> Result<(), ClientError> {
    let target = Target::parse(url)?;
    let config = tls_config(&target, tls)?;
    let options = WsOptions {
        compression,
        bind,
        // Thousands of handshakes queue up behind each other.
        timeout: Duration::from_secs(60),
        close_timeout: Duration::from_secs(2),
        ..WsOptions::default()
    };
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let tally = bench::stream_worker(
        &target,
        config.as_ref(),
        subscribers,
        &options,
        stdin,
        || say(bench::READY),
    )
    .await?;
    let line = serde_json::to_string(&tally)
        .map_err(|err| ClientError::Bench(format!("cannot encode the result: {err}")))?;
    say(&line)
}

/// The rustls configuration when the target uses TLS (so a `--cacert` is read only then).
fn tls_config(target: &Target, tls: &TlsOptions) -> Result<Option<Arc<ClientConfig>>, ClientError> {
    target.tls.then(|| tls.client_config()).transpose()
}

/// Connects; says so on stdout unless `quiet` (stdout then carries only messages).
async fn open(
    target: &Target,
    tls: &TlsOptions,
    options: &WsOptions,
    quiet: bool,
) -> Result<Connection, ClientError> {
    let config = tls_config(target, tls)?;
    let conn = ws::connect(target, config.as_ref(), options).await?;
    if !quiet {
        say(&format!("Connected to {}", target.ws_url()))?;
    }
    Ok(conn)
}

/// One line on stdout.
fn say(line: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(ClientError::Output)
}

/// `< Received: ...` as the guide's script prints it; binary as hex.
fn say_received(message: &Message) -> Result<(), ClientError> {
    match message {
        Message::Text(text) => say(&format!("< Received: {text}")),
        Message::Binary(data) => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            say(&format!("< Received {} bytes (binary): {hex}", data.len()))
        }
    }
}

/// The server ended the session: a 1000/1001 close is a normal end, anything else a failure.
fn closed_by_server(what: &str, frame: &CloseFrame) -> Result<u8, ClientError> {
    say(&format!("{what} closed by server ({frame})."))?;
    Ok(if frame.is_clean() { 0 } else { EXIT_FAILED })
}

/// Closes with 1000; the session succeeded if the server answered the close.
async fn close_normally(conn: Connection) -> Result<u8, ClientError> {
    conn.close(CloseCode::NORMAL, "").await?;
    Ok(0)
}

/// Opens a session that Ctrl+C can end: the listener comes first, so a Ctrl+C while the
/// connection opens gives `None` instead of killing the process.
async fn open_session(
    url: Option<&str>,
    default_path: &str,
    tls: &TlsOptions,
    options: &WsOptions,
    quiet: bool,
) -> Result<Option<(Connection, Interrupt)>, ClientError> {
    let target = Target::parse_or(url, default_path)?;
    let mut interrupt = Interrupt::listen();
    let conn = tokio::select! {
        conn = open(&target, tls, options, quiet) => conn?,
        () = interrupt.recv() => return Ok(None),
    };
    Ok(Some((conn, interrupt)))
}

/// Ctrl+C, listened for from before the connection opens to the end of the session. One
/// listener for the whole session: a fresh `ctrl_c()` per wait would leave gaps in which a
/// Ctrl+C either kills the process without a close frame (before the first listener exists)
/// or is swallowed (between two listeners).
struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    fn listen() -> Self {
        Self {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
        }
    }

    /// Completes on Ctrl+C; never, if no listener could be installed. Cancel-safe.
    async fn recv(&mut self) {
        #[cfg(unix)]
        let received = match &mut self.signal {
            Some(signal) => signal.recv().await.is_some(),
            None => false,
        };
        #[cfg(not(unix))]
        let received = tokio::signal::ctrl_c().await.is_ok();
        if !received {
            std::future::pending::<()>().await;
        }
    }
}

async fn echo(mut conn: Connection, interrupt: &mut Interrupt) -> Result<u8, ClientError> {
    // Prompts only for a person; piped input gets just the replies.
    let interactive = std::io::stdin().is_terminal();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            let mut out = std::io::stdout().lock();
            write!(out, "Message to send (or 'exit'): ")
                .and_then(|()| out.flush())
                .map_err(ClientError::Output)?;
        }
        let line = tokio::select! {
            line = lines.next_line() => line.map_err(ClientError::Input)?,
            () = interrupt.recv() => None,
        };
        let Some(line) = line else {
            if interactive {
                say("")?;
            }
            break;
        };
        if line.to_lowercase() == "exit" {
            break;
        }
        conn.send_text(&line).await?;
        let received = tokio::select! {
            received = conn.recv() => received?,
            () = interrupt.recv() => break,
        };
        match received {
            Received::Message(message) => say_received(&message)?,
            Received::Closed(frame) => return closed_by_server("Connection", &frame),
        }
    }
    close_normally(conn).await
}

async fn stream(
    mut conn: Connection,
    count: Option<u64>,
    raw: bool,
    interrupt: &mut Interrupt,
) -> Result<u8, ClientError> {
    let mut received = 0u64;
    while count.is_none_or(|count| received < count) {
        let next = tokio::select! {
            next = conn.recv() => next?,
            () = interrupt.recv() => break,
        };
        match next {
            Received::Message(message) if raw => {
                received += 1;
                if let Message::Text(text) = &message
                    && say(text.as_str()).is_err()
                {
                    break;
                }
            }
            // Any close handshake is a clean end for a raw listener.
            Received::Closed(_) if raw => return Ok(0),
            Received::Message(message) => {
                received += 1;
                if say_received(&message).is_err() {
                    // Nobody reads our output any more (`| head`): end politely.
                    break;
                }
            }
            Received::Closed(frame) => return closed_by_server("Stream connection", &frame),
        }
    }
    close_normally(conn).await
}

async fn private(mut conn: Connection, login: &str, timeout: Duration) -> Result<u8, ClientError> {
    say(&format!("> Sending login request: {login}"))?;
    conn.send_text(login).await?;
    let reply = tokio::time::timeout(timeout, conn.recv())
        .await
        .map_err(|_| ClientError::Timeout {
            what: "waiting for the login reply".to_owned(),
            after: timeout,
        })??;
    let success = match &reply {
        Received::Message(message) => {
            say_received(message)?;
            matches!(message, Message::Text(text) if login_succeeded(text.as_bytes()))
        }
        Received::Closed(frame) => {
            return closed_by_server("Connection", frame).map(|_| EXIT_FAILED);
        }
    };
    // The server closes a refused login itself (1008); answering that close is enough.
    match conn.close(CloseCode::NORMAL, "").await {
        Ok(_) | Err(ClientError::Dropped) => {}
        Err(err) if success => return Err(err),
        Err(_) => {}
    }
    Ok(if success { 0 } else { EXIT_FAILED })
}

/// `{"event":"login","success":true}`, however it is spaced.
fn login_succeeded(reply: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(reply).is_ok_and(|value| {
        value["event"] == "login" && value["success"] == serde_json::Value::Bool(true)
    })
}

/// Most redirects `--location` follows.
const MAX_REDIRECTS: u32 = 10;

async fn send(
    args: HttpArgs,
    mut outgoing: Outgoing,
    tls: &TlsOptions,
    timeout: Duration,
) -> Result<u8, ClientError> {
    let mut target = Target::parse(&args.url)?;
    for header in &args.headers {
        outgoing.headers.push(parse_header(header)?);
    }
    let mut hops = 0;
    let response = loop {
        let config = tls_config(&target, tls)?;
        let response =
            client_http::request(&target, config.as_ref(), outgoing.clone(), timeout).await?;
        let status = response.status.as_u16();
        let location = response
            .headers
            .get(http::header::LOCATION)
            .and_then(|value| value.to_str().ok());
        let (true, Some(location), true) = (
            args.location,
            location,
            matches!(status, 301 | 302 | 303 | 307 | 308),
        ) else {
            break response;
        };
        if hops == MAX_REDIRECTS {
            return Err(ClientError::TooManyRedirects {
                hops: MAX_REDIRECTS,
                location: location.to_owned(),
            });
        }
        hops += 1;
        if args.include {
            print_response(&response, true)?;
        }
        // RFC 9110 §15.4: 303 always, and 301/302 after a POST by custom, become GET.
        if status == 303 || (matches!(status, 301 | 302) && outgoing.method == http::Method::POST) {
            outgoing = Outgoing {
                http2: outgoing.http2,
                ..Outgoing::get()
            };
        }
        target = if location.starts_with('/') {
            Target::parse(&format!(
                "{}{location}",
                target
                    .http_url()
                    .trim_end_matches(target.path_and_query.as_str())
            ))?
        } else {
            Target::parse(location)?
        };
    };
    print_response(&response, args.include)?;
    Ok(
        if args.fail && (response.status.is_client_error() || response.status.is_server_error()) {
            EXIT_HTTP_ERROR
        } else {
            0
        },
    )
}

fn print_response(response: &Response, include_head: bool) -> Result<(), ClientError> {
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = stdout.lock();
    let mut write = || -> std::io::Result<()> {
        if include_head {
            out.write_all(response.head().as_bytes())?;
        }
        out.write_all(&response.body)?;
        // Like curl, the body is written as is; a terminal gets a newline so the prompt
        // starts on its own line.
        if terminal && !response.body.ends_with(b"\n") && !response.body.is_empty() {
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    write().map_err(ClientError::Output)
}

/// `Name: value`, as curl's `-H`.
fn parse_header(header: &str) -> Result<(HeaderName, HeaderValue), ClientError> {
    let bad = |why: String| ClientError::Header {
        header: header.to_owned(),
        why,
    };
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| bad("expected `Name: value`".to_owned()))?;
    let name = HeaderName::try_from(name.trim()).map_err(|err| bad(err.to_string()))?;
    let value = HeaderValue::try_from(value.trim()).map_err(|err| bad(err.to_string()))?;
    Ok((name, value))
}

/// Unix time in milliseconds, as the guide's `get_auth_payload` takes it.
fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_like_curls() {
        let parsed = parse_header("Range:  bytes=0-3 ").ok();
        assert_eq!(
            parsed.map(|(n, v)| (n.to_string(), v.to_str().map(str::to_owned).ok())),
            Some(("range".to_owned(), Some("bytes=0-3".to_owned())))
        );
        for bad in ["no colon", "bad name: x", ": empty"] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_replies_are_read_by_meaning() {
        assert!(login_succeeded(br#"{"event":"login","success":true}"#));
        assert!(login_succeeded(br#"{"event": "login", "success": true}"#));
        assert!(!login_succeeded(
            br#"{"event":"login","success":false,"message":"Authentication failed"}"#
        ));
        assert!(!login_succeeded(b"not json"));
    }
}
