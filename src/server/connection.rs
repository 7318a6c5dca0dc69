//! One connection's task: the TLS handshake (in the task, under its timeout), HTTP/1.1 through
//! hyper with upgrades or HTTP/2 (chosen once per connection: by ALPN over TLS, by the
//! connection preface on the plain port), and the idle timer that closes a silent connection.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::future::Either;
use http::{Request, Response, StatusCode};
use hyper::body::Body as HttpBody;
use hyper::body::Incoming;
use hyper::rt::bounds::Http2ServerConnExec;
use hyper::server::conn::{http1, http2};
use hyper::service::{HttpService, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

use super::access::{Entry, Meter};
use super::diagnose::{self, Diagnosis};
use super::listener::{Accepted, Stream};
use super::log::{ConnLabel, Log, TraceKind, escape};
use super::raw::{self, RawConnection, Resettable, Sniffed};
use super::refusal::{refuse_h2, starts_with_h2_preface};
use super::tls_probe::{TlsProbeConn, TlsProbeListener};
use super::websocket::{Reclaim, Upgraded, as_upgraded, is_upgrade_request, is_websocket_request};
use super::wire::{Framing, Wire};
use super::{
    Answer, Body, ConnInfo, ConnectionGuard, Exchange, FAST_MAX_HEADERS, Handler, Http2Limits,
    Settings,
};
use crate::protocol::http2::{error_name, explain_connection_error};
use crate::transport::stop::Stop;
use crate::transport::timer::poll_sleep;

/// What every connection task needs.
pub(super) struct ConnectionContext<A> {
    http: http1::Builder,
    /// With `--max-headers` above hyper's inline 100: the parser sized for it, which takes a
    /// connection over once a head needs it (see [`Wire::gate`]).
    http_long: Option<http1::Builder>,
    /// `None` with `--no-http2`.
    h2: Option<http2::Builder<TokioExecutor>>,
    tls: Option<TlsAcceptor>,
    app: Arc<A>,
    settings: Settings,
    log: Log,
    stop: Stop,
    /// The number the next connection gets in the log.
    next_id: AtomicU64,
}

/// One connection's view of the application: handed to every request on it.
struct PerConnection<A> {
    app: Arc<A>,
    info: ConnInfo,
    guard: ConnectionGuard,
    log: Log,
    label: ConnLabel,
    wire: Arc<Wire>,
    max_head: usize,
    /// Requests received on this connection so far.
    requests: AtomicU64,
    /// HTTP/2 requests being answered (their handlers running).
    open: AtomicUsize,
    /// On a TLS probe's port: the case and the client's ClientHello.
    tls_probe: Option<Arc<TlsProbeConn>>,
    /// How an upgrade on this connection takes its stream back from hyper.
    reclaim: Reclaim,
}

impl<A: Handler> ConnectionContext<A> {
    pub(super) fn new(
        tls: Option<TlsAcceptor>,
        app: Arc<A>,
        settings: Settings,
        log: Log,
        stop: Stop,
    ) -> Self {
        let mut http = http1::Builder::new();
        // The header timeout is `drive`'s: hyper's timer started at the end of each response,
        // so it also closed idle keep-alive connections (as heads "not complete") before a
        // longer --keep-alive-timeout, and it cost a timer per request.
        http.header_read_timeout(None)
            .max_buf_size(settings.max_head);
        // hyper's own default is the fast in-place limit; setting it above that takes the
        // allocating path (two arrays of that size per request), so a connection starts with
        // the default and switches only for a head that needs more.
        let mut http_long = None;
        if settings.max_headers > FAST_MAX_HEADERS {
            let mut long = http.clone();
            long.max_headers(settings.max_headers);
            http_long = Some(long);
        } else if settings.max_headers != FAST_MAX_HEADERS {
            http.max_headers(settings.max_headers);
        }
        Self {
            http,
            http_long,
            h2: settings.http2.map(http2_builder),
            tls,
            app,
            settings,
            log,
            stop,
            next_id: AtomicU64::new(1),
        }
    }

    pub(super) fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves one accepted connection; `probe` when it came in on a TLS probe's port.
    pub(super) async fn run(
        self: Arc<Self>,
        accepted: Accepted,
        guard: ConnectionGuard,
        probe: Option<Arc<TlsProbeListener>>,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // How long a new connection may stay silent while its first bytes are looked at (for
        // the HTTP/2 preface): the fate `drive` would give it (its first head is due within
        // the header timeout, and any silence ends at the keep-alive timeout).
        let first_byte = self
            .settings
            .header_read_timeout
            .min(self.settings.keep_alive_timeout);
        match accepted {
            Accepted::Tcp {
                stream,
                local,
                peer,
            } => {
                let _ = stream.set_nodelay(true);
                let info = ConnInfo {
                    local: Some(local),
                    peer: Some(peer),
                    tls: self.tls.is_some() || probe.is_some(),
                };
                let label = ConnLabel {
                    id,
                    peer: Some(peer),
                };
                let opened = Instant::now();
                if self.log.tracing() {
                    let scheme = if info.tls { "TLS" } else { "plain TCP" };
                    self.log.trace(
                        &label,
                        Duration::ZERO,
                        TraceKind::Open,
                        &format!("connection from {peer} to {local} ({scheme})"),
                    );
                    guard.on_close(self.log.clone(), label, opened);
                }
                let mut h2c = false;
                if !info.tls {
                    let sniffed = tokio::select! {
                        // A silent new connection must not hold up a graceful stop.
                        () = self.stop.token().cancelled() => return,
                        sniffed = starts_with_h2_preface(&stream, first_byte) => sniffed,
                    };
                    match sniffed {
                        Some(false) => {}
                        Some(true) if self.h2.is_some() => h2c = true,
                        Some(true) => {
                            self.log.refused(
                                &label,
                                "505",
                                "the client opened with the HTTP/2 connection preface (\"PRI * \
                                 HTTP/2.0\"); this server speaks HTTP/1.1 only (--no-http2), so \
                                 clients must not assume prior knowledge of HTTP/2 here (RFC \
                                 9113 §3.3)",
                            );
                            // Boxed, as every path but plain HTTP: the connection's future is as
                            // large as its largest path, and it lives as long as the connection.
                            return Box::pin(refuse_h2(stream, &info)).await;
                        }
                        // Silent that long: the fate hyper's timers would give it.
                        None => return,
                    }
                }
                let handshake_deadline =
                    tokio::time::Instant::now() + self.settings.tls_handshake_timeout;
                let mut first_bytes = [0u8; 32];
                // A probe keeps every byte of the handshake itself.
                let seen = if info.tls && probe.is_none() {
                    // Peeked for the diagnosis of a failed handshake (plain HTTP on the TLS
                    // port); the handshake reads the same bytes again.
                    tokio::select! {
                        () = self.stop.token().cancelled() => return,
                        peeked = tokio::time::timeout_at(handshake_deadline, stream.peek(&mut first_bytes)) => {
                            peeked.ok().and_then(Result::ok).unwrap_or(0)
                        }
                    }
                } else {
                    0
                };
                let conn = Conn {
                    info,
                    label,
                    opened,
                    handshake_deadline,
                    first_bytes: &first_bytes[..seen],
                };
                if h2c {
                    return Box::pin(self.run_h2(stream, conn, guard)).await;
                }
                if let Some(probe) = probe {
                    return Box::pin(async {
                        let handshake = probe
                            .handshake(
                                stream,
                                handshake_deadline,
                                self.stop.token(),
                                &self.log,
                                &label,
                            )
                            .await;
                        if let Some((stream, probe)) = handshake {
                            self.trace_tls(&conn, stream.get_ref().1);
                            self.run_http(stream, conn, guard, Some(probe)).await;
                        }
                    })
                    .await;
                }
                self.run_stream(stream, conn, guard).await;
            }
            Accepted::Unix(stream) => {
                let info = ConnInfo {
                    local: None,
                    peer: None,
                    tls: self.tls.is_some(),
                };
                let label = ConnLabel { id, peer: None };
                let opened = Instant::now();
                if self.log.tracing() {
                    self.log.trace(
                        &label,
                        Duration::ZERO,
                        TraceKind::Open,
                        "connection on the Unix socket",
                    );
                    guard.on_close(self.log.clone(), label, opened);
                }
                let conn = Conn {
                    info,
                    label,
                    opened,
                    handshake_deadline: tokio::time::Instant::now()
                        + self.settings.tls_handshake_timeout,
                    first_bytes: &[],
                };
                if info.tls || self.h2.is_none() {
                    return Box::pin(self.run_stream(stream, conn, guard)).await;
                }
                // h2c with prior knowledge, as on the plain TCP port; Unix streams cannot be
                // peeked, so the bytes read to tell are put back for whoever serves them.
                Box::pin(async {
                    let deadline = tokio::time::Instant::now() + first_byte;
                    let sniffed = tokio::select! {
                        () = self.stop.token().cancelled() => return,
                        sniffed = raw::sniff_h2_preface(stream, deadline) => sniffed,
                    };
                    match sniffed {
                        Some((true, io)) => self.run_h2(io, conn, guard).await,
                        Some((false, io)) => self.run_stream(io, conn, guard).await,
                        None => {}
                    }
                })
                .await;
            }
        }
    }

    /// TLS first if configured (under its timeout, cut short by shutdown), then HTTP.
    async fn run_stream<S: Stream + Resettable>(
        &self,
        stream: S,
        conn: Conn<'_>,
        guard: ConnectionGuard,
    ) {
        let Some(acceptor) = self.tls.clone() else {
            // The common case calls run_http straight: a layer of future less on every poll.
            let Some(prefix) = self.app.raw_prefix() else {
                return self.run_http(stream, conn, guard, None).await;
            };
            return Box::pin(self.take_over_or_serve(stream, prefix, conn, guard)).await;
        };
        // Boxed: the TLS path's future (rustls' state, the handshake, hyper over TLS) is several
        // times the plain one's, and inline it would size every connection's task.
        Box::pin(self.run_tls(acceptor, stream, conn, guard)).await;
    }

    /// The TLS handshake (under its timeout, cut short by shutdown), then HTTP over it.
    async fn run_tls<S: Stream + Resettable>(
        &self,
        acceptor: TlsAcceptor,
        stream: S,
        conn: Conn<'_>,
        guard: ConnectionGuard,
    ) {
        let handshake = tokio::time::timeout_at(conn.handshake_deadline, acceptor.accept(stream));
        let stream = tokio::select! {
            () = self.stop.token().cancelled() => return,
            result = handshake => match result {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    let diagnosis = diagnose::explain_tls_failure(&err, conn.first_bytes);
                    self.log.refused(&conn.label, "TLS", &diagnosis);
                    return;
                }
                Err(_) => {
                    self.log.refused(
                        &conn.label,
                        "TLS",
                        &format!(
                            "the TLS handshake was not complete within {:?} \
                             (--tls-handshake-timeout); closed",
                            self.settings.tls_handshake_timeout
                        ),
                    );
                    return;
                }
            },
        };
        self.trace_tls(&conn, stream.get_ref().1);
        // HTTP/2 and the raw prefix are boxed: inline, their futures would size this one, the
        // memory of every HTTP/1.1 connection over TLS (written in full when it is boxed).
        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
            return Box::pin(self.run_h2(stream, conn, guard)).await;
        }
        let Some(prefix) = self.app.raw_prefix() else {
            return self.run_http(stream, conn, guard, None).await;
        };
        Box::pin(self.take_over_or_serve(stream, prefix, conn, guard)).await;
    }

    /// For an application that takes connections to its raw `prefix`: the connection goes to it
    /// if its first request targets the prefix, else to HTTP with the bytes looked at put back.
    async fn take_over_or_serve<S: Stream + Resettable>(
        &self,
        io: S,
        prefix: &'static str,
        conn: Conn<'_>,
        guard: ConnectionGuard,
    ) {
        let deadline = tokio::time::Instant::now() + self.settings.header_read_timeout;
        match raw::sniff(io, prefix, deadline, self.stop.token()).await {
            Sniffed::Raw(io, received) => {
                self.log.trace(
                    &conn.label,
                    conn.opened.elapsed(),
                    TraceKind::Other,
                    &format!("the first request targets {prefix}: taken over before HTTP"),
                );
                // Boxed: a probe's future is large, and inline it would make every
                // connection's future (and so its memory) that large.
                Box::pin(self.app.run_raw(RawConnection {
                    io: Box::new(io),
                    received,
                    label: conn.label,
                    log: self.log.clone(),
                    stop: self.stop.token().clone(),
                    header_timeout: self.settings.header_read_timeout,
                }))
                .await;
                // The guard (the connection's place) is held until here.
                drop(guard);
            }
            Sniffed::Http(io) => self.run_http(io, conn, guard, None).await,
            Sniffed::Gone => {}
        }
    }

    /// The trace line of a completed TLS handshake: version, cipher suite, ALPN, SNI.
    fn trace_tls(&self, conn: &Conn<'_>, session: &rustls::ServerConnection) {
        if !self.log.tracing() {
            return;
        }
        let version = session
            .protocol_version()
            .map_or_else(|| "?".to_owned(), |v| format!("{v:?}"));
        let suite = session
            .negotiated_cipher_suite()
            .map_or_else(|| "?".to_owned(), |s| format!("{:?}", s.suite()));
        let alpn = session
            .alpn_protocol()
            .map_or_else(|| "none".to_owned(), |p| escape(p, 64));
        let sni = session.server_name().unwrap_or("none").to_owned();
        self.log.trace(
            &conn.label,
            conn.opened.elapsed(),
            TraceKind::Tls,
            &format!("TLS {version}, cipher {suite}, ALPN {alpn}, SNI {sni}"),
        );
    }

    /// Serves HTTP/1.1 on `io`. hyper's connection is built before the future, which holds it
    /// once: as an `async fn` argument, `io` (over TLS, the whole session) kept its own slot in
    /// the future beside the copy inside the connection, and the connection another in `drive`'s
    /// (TLS future 7,296 -> 4,104 bytes, each connection's task 3,072 -> 2,304).
    fn run_http<I: Stream>(
        &self,
        io: I,
        conn: Conn<'_>,
        guard: ConnectionGuard,
        probe: Option<Arc<TlsProbeConn>>,
    ) -> impl Future<Output = ()> {
        let label = conn.label;
        let (connection, wire) = self.per_connection(&conn, guard, probe, reclaim::<I>);
        let service = service_fn(move |request: Request<Incoming>| connection.serve(request));
        let (io, activity) = self.watched(io, &wire);
        if self.http_long.is_some() {
            wire.gate();
        }
        let mut connection = self
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        async move {
            loop {
                let (wire, activity) = (&wire, &activity);
                let rules = Rules {
                    head_timeout: Some(self.settings.header_read_timeout),
                    // Never busy: hyper's graceful shutdown lets the request in flight finish,
                    // and an upgrade ends this future (the session holds the guard from then on).
                    busy: || false,
                    // A long head waits, held back, until hyper is idle: every response done
                    // and written out of its buffer (it flushes the stream only once that is
                    // empty). Only a gated wire has one.
                    switch: move || {
                        wire.long_head_next() && activity.flushed() && wire.ready_for_long_head()
                    },
                };
                let driven = self
                    .drive(&mut connection, activity, wire, label, rules)
                    .await;
                return match driven {
                    Driven::Ended(result) => self.http_ended(result, wire, activity, &conn),
                    Driven::Abandoned => {}
                    Driven::HeadTimeout => self.head_timed_out(wire, &conn),
                    Driven::Switch => {
                        // Only an upgraded connection has no parts, and it ends the drive.
                        let (Some(long), Some(parts)) = (&self.http_long, connection.into_parts())
                        else {
                            return;
                        };
                        let mut io = parts.io.into_inner();
                        io.ungate(parts.read_buf);
                        wire.trace(TraceKind::Other, || {
                            format!(
                                "a request head with more than {FAST_MAX_HEADERS} header fields: \
                                 the parser sized for --max-headers ({}) takes the connection \
                                 over",
                                self.settings.max_headers
                            )
                        });
                        connection = long
                            .serve_connection(TokioIo::new(io), parts.service)
                            .with_upgrades();
                        continue;
                    }
                };
            }
        }
    }

    /// Traces or diagnoses how an HTTP/1.1 connection ended.
    fn http_ended(
        &self,
        result: hyper::Result<()>,
        wire: &Wire,
        activity: &Activity,
        conn: &Conn<'_>,
    ) {
        match result {
            Ok(()) if wire.upgraded() => {
                activity.stop_watching();
                wire.trace(TraceKind::HttpEnd, || {
                    format!(
                        "HTTP over after {} bytes received: the connection switched protocols",
                        wire.received()
                    )
                });
            }
            Ok(()) => wire.trace(TraceKind::HttpEnd, || {
                format!("connection closed; {} bytes received", wire.received())
            }),
            Err(err) => self.connection_error(&err, wire, conn),
        }
    }

    /// What every request on a connection shares, and the connection's [`Wire`].
    fn per_connection(
        &self,
        conn: &Conn<'_>,
        guard: ConnectionGuard,
        tls_probe: Option<Arc<TlsProbeConn>>,
        reclaim: Reclaim,
    ) -> (Arc<PerConnection<A>>, Arc<Wire>) {
        let wire = Wire::new(
            self.settings.max_head,
            self.log.tracing().then(|| (self.log.clone(), conn.label)),
        );
        let connection = Arc::new(PerConnection {
            app: Arc::clone(&self.app),
            info: conn.info,
            guard,
            log: self.log.clone(),
            label: conn.label,
            wire: Arc::clone(&wire),
            max_head: self.settings.max_head,
            requests: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            tls_probe,
            reclaim,
        });
        (connection, wire)
    }

    /// The connection's stream, watched for activity (the idle timer) and for the wire.
    fn watched<I>(&self, io: I, wire: &Arc<Wire>) -> (Watched<I>, Arc<Activity>) {
        let activity = Arc::new(Activity::new());
        let io = Watched {
            inner: io,
            activity: Arc::clone(&activity),
            wire: Arc::clone(wire),
            held: None,
        };
        (io, activity)
    }

    /// Drives `connection` to its end: on shutdown, or once it has been silent (no byte in or
    /// out) for the keep-alive timeout while not [`Rules::busy`], it is asked to finish
    /// gracefully; past that, silent even longer, it is dropped. With a
    /// [`Rules::head_timeout`] (HTTP/1.1), a request head unfinished that long is dropped too
    /// (see [`Activity::head_waited`]).
    ///
    /// `connection` is borrowed and polled where the caller keeps it: taken by value and pinned
    /// here, it would be moved into this future, and it (with the TLS session inside) is most of
    /// what an idle connection keeps.
    async fn drive<C: Graceful + Unpin>(
        &self,
        connection: &mut C,
        activity: &Activity,
        wire: &Wire,
        label: ConnLabel,
        rules: Rules<impl Fn() -> bool, impl Fn() -> bool>,
    ) -> Driven {
        let Rules {
            head_timeout,
            busy,
            switch,
        } = rules;
        let keep_alive = self.settings.keep_alive_timeout;
        // Past this much silence even a request in progress is given up: its response cannot
        // be written (the client does not read) or its body stopped coming before the body
        // timeout could answer.
        let abandon_after = keep_alive
            + self
                .settings
                .header_read_timeout
                .max(self.settings.body_timeout);
        let mut closing = false;
        // Polled on every wake of the connection's task: filed once, not on each poll.
        let mut stop = self.stop.wait();
        // How long the head being received has waited, if one is unfinished.
        let head_waited = || {
            wire.unfinished_head_began()
                .map(|began| activity.head_waited(began))
        };
        loop {
            let silent = activity.silent_for();
            let wait = if closing { abandon_after } else { keep_alive };
            let mut sleep = wait.saturating_sub(silent);
            if let Some(limit) = head_timeout {
                // Looked at least this often: a head that begins now is due then.
                sleep = sleep.min(limit.saturating_sub(head_waited().unwrap_or_default()));
            }
            let timer = self.settings.timers.sleep(sleep);
            tokio::pin!(timer);
            let mut polled_by = None;
            tokio::select! {
                // The connection first: nearly every wake is for it.
                biased;
                result = std::future::poll_fn(|cx| {
                    activity.new_poll();
                    match Pin::new(&mut *connection).poll(cx) {
                        Poll::Pending if switch() => Poll::Ready(None),
                        polled => polled.map(Some),
                    }
                }) => return result.map_or(Driven::Switch, Driven::Ended),
                () = stop.stopped(), if !closing => {
                    // Finish the requests in flight, then close; idle keep-alives close now.
                    // HTTP/2 says so with GOAWAY.
                    Pin::new(&mut *connection).shut_down();
                    closing = true;
                }
                () = std::future::poll_fn(|cx| poll_sleep(timer.as_mut(), &mut polled_by, cx)) => {
                    if let Some(limit) = head_timeout
                        && head_waited().is_some_and(|waited| waited >= limit)
                    {
                        return Driven::HeadTimeout;
                    }
                    if activity.silent_for() < wait || (!closing && busy()) {
                        continue;
                    }
                    if closing {
                        self.log.note(
                            &label,
                            &format!("connection silent for {abandon_after:?} with a request \
                                      in progress; dropped"),
                        );
                        return Driven::Abandoned;
                    }
                    wire.trace(TraceKind::HttpEnd, || format!("idle for {keep_alive:?} (--keep-alive-timeout); closing"));
                    // Idle keep-alives close now; a request in progress finishes first.
                    Pin::new(&mut *connection).shut_down();
                    closing = true;
                }
            }
        }
    }

    /// Serves HTTP/2 on a connection that chose it. The requests are the same hyper requests
    /// the routes get over HTTP/1.1; a WebSocket is an extended CONNECT stream (RFC 8441).
    async fn run_h2<I: Stream>(&self, io: I, conn: Conn<'_>, guard: ConnectionGuard) {
        let Some(h2) = &self.h2 else {
            return;
        };
        let label = conn.label;
        let (connection, wire) = self.per_connection(&conn, guard, None, as_upgraded);
        // Frames, not text heads: the wire counts bytes, follows header blocks, traces frames.
        let block_opened = wire.start_h2();
        wire.trace(TraceKind::Other, || "HTTP/2 (RFC 9113)".to_owned());
        let streams = Arc::clone(&connection);
        let service = service_fn(move |request: Request<Incoming>| {
            let connection = Arc::clone(&connection);
            async move { Ok::<_, Infallible>(connection.serve_h2(request).await) }
        });
        let (io, activity) = self.watched(io, &wire);
        let mut connection = h2.serve_connection(TokioIo::new(io), service);
        // Busy while a handler runs or a WebSocket session holds the connection's guard.
        let busy = || streams.open.load(Ordering::Relaxed) > 0 || streams.guard.is_handed_on();
        let rules = Rules {
            head_timeout: None,
            busy,
            switch: || false,
        };
        let driven = self.drive(&mut connection, &activity, &wire, label, rules);
        let timeout = self.settings.header_read_timeout;
        let ended = tokio::select! {
            ended = driven => ended,
            // Dropping the connection closes it, as hyper's HTTP/1.1 header timer does.
            why = header_deadline(&wire, &streams.requests, &block_opened, timeout) => {
                return self.log.refused(&label, "closed", &why);
            }
        };
        match ended {
            Driven::Abandoned | Driven::HeadTimeout | Driven::Switch => {}
            Driven::Ended(Ok(())) => wire.trace(TraceKind::HttpEnd, || {
                format!(
                    "HTTP/2 connection closed after {} requests; {} bytes received",
                    streams.requests.load(Ordering::Relaxed),
                    wire.received()
                )
            }),
            Driven::Ended(Err(err)) => {
                self.h2_error(&err, &wire, label, streams.requests.load(Ordering::Relaxed));
            }
        }
    }

    /// Explains how an HTTP/2 connection ended badly: a GOAWAY the server sent for the client's
    /// error (a framing rule, an abuse limit) is a refusal with its rule, named from the frame
    /// itself when the trace decoded it; anything else (the transport, the client's own GOAWAY)
    /// is a note.
    fn h2_error(&self, err: &hyper::Error, wire: &Wire, label: ConnLabel, requests: u64) {
        let Some(code) = diagnose::h2_goaway(err) else {
            return self.log.note(
                &label,
                &format!(
                    "the HTTP/2 connection ended with an error after {requests} requests: {}",
                    diagnose::error_chain(err)
                ),
            );
        };
        // h2 closes without GOAWAY when the preface is wrong (it has no connection yet).
        if let Some(first) = wire.h2_bad_preface() {
            // Most often an HTTP/1.1 request from a client that let ALPN pick h2.
            let http1 = first.windows(7).any(|w| w == b" HTTP/1");
            return self.log.refused(
                &label,
                "closed",
                &format!(
                    "the client's first bytes are not the HTTP/2 connection preface \
                     \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\" (RFC 9113 §3.4): \"{}\"{}",
                    escape(&first, 64),
                    if http1 {
                        ", an HTTP/1.1 request: a client that chose h2 (by ALPN or prior \
                         knowledge) must speak HTTP/2 from its first byte (RFC 9113 §3.2, §3.3)"
                    } else {
                        ""
                    }
                ),
            );
        }
        // The debug data names the abuse limit; only the trace saw it go out.
        let (violation, debug) = wire.h2_findings();
        let what = violation.unwrap_or_else(|| {
            explain_connection_error(code, debug.as_deref().unwrap_or_default(), requests)
        });
        self.log.refused(
            &label,
            &format!("GOAWAY {}", error_name(code)),
            &format!("{what}; the connection is closed after {requests} requests"),
        );
    }

    /// Logs the close of a connection whose request head was unfinished at the header timeout.
    fn head_timed_out(&self, wire: &Wire, conn: &Conn<'_>) {
        let (head, dropped) = wire.unfinished_head();
        self.log.refused(
            &conn.label,
            "closed",
            &format!(
                "the request head was not complete within {:?} (--header-timeout; {} bytes of it \
                 received); closed without an answer",
                self.settings.header_read_timeout,
                head.len() as u64 + dropped
            ),
        );
    }

    /// Explains how a connection ended badly: a head hyper refused (with the access line it
    /// never got), a head never finished, or a transport error.
    fn connection_error(&self, err: &hyper::Error, wire: &Wire, conn: &Conn<'_>) {
        let (head, dropped) = wire.unfinished_head();
        if let Some(status) = diagnose::hyper_status(err) {
            let diagnosis = diagnose::explain_refused_head(
                &head,
                dropped,
                (self.settings.max_head, self.settings.max_headers),
                status,
                err,
            );
            self.log.refused(&conn.label, status.as_str(), &diagnosis);
            if self.log.access() {
                let line = diagnose::first_line(&head);
                let mut words = line.splitn(3, |&b| b == b' ');
                let method = String::from_utf8_lossy(words.next().unwrap_or_default());
                let target = String::from_utf8_lossy(words.next().unwrap_or_default());
                let version = escape(words.next().unwrap_or_default(), 16);
                self.log.http(
                    &conn.label,
                    &super::log::HttpEntry {
                        request: wire.heads() + 1,
                        method: &escape(method.as_bytes(), 32),
                        target: &target,
                        version: &version,
                        status,
                        bytes: 0,
                        duration: Duration::ZERO,
                        incomplete: false,
                    },
                );
            }
        } else if err.is_incomplete_message() {
            self.log.note(
                &conn.label,
                &format!(
                    "the client closed the connection in the middle of a request head ({} bytes: \
                     \"{}\")",
                    head.len() as u64 + dropped,
                    escape(&head, 80)
                ),
            );
        } else if err.is_parse_version_h2() {
            self.log.refused(
                &conn.label,
                "closed",
                "the client sent the HTTP/2 connection preface over TLS without negotiating h2 \
                 by ALPN (RFC 9113 §3.2); this connection speaks HTTP/1.1",
            );
        } else {
            wire.trace(TraceKind::HttpEnd, || format!("connection ended: {err}"));
            tracing::debug!(peer = ?conn.info.peer, error = %err, "connection ended with an error");
        }
    }
}

/// What a connection task knows about its connection before HTTP starts.
struct Conn<'a> {
    info: ConnInfo,
    label: ConnLabel,
    opened: Instant,
    /// When the TLS handshake must be complete.
    handshake_deadline: tokio::time::Instant,
    /// The first bytes the client sent over TLS, peeked for a failed handshake's diagnosis.
    first_bytes: &'a [u8],
}

impl<A: Handler> PerConnection<A> {
    /// Answers one request: its raw head taken off the wire, the handler, then the access line,
    /// the diagnosis of a refusal and the notes.
    ///
    /// What needs no waiting happens before the future is made, and the future holds the
    /// request once: hyper keeps a box of this future's size for every connection (its memory
    /// when idle) and moves each request's future into it. As an `async fn` (and again in a
    /// closure's `async move`) each layer kept its own copy of the 248-byte request. The
    /// waiting branch is boxed: unboxed, it made that future 1 KiB, and every idle connection
    /// kept that much for it (about 930 bytes more RSS each), to save one allocation on the
    /// requests that wait anyway.
    fn serve(
        self: &Arc<Self>,
        request: Request<Incoming>,
    ) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + use<A> {
        // Requests on one connection come one at a time.
        let number = self.requests.load(Ordering::Relaxed) + 1;
        self.requests.store(number, Ordering::Relaxed);
        self.wire.take_head(framing(request.body()));
        if let Some(probe) = &self.tls_probe {
            probe.requested(request.method(), request.uri());
        }
        let access = self.log.access();
        // Boxed: it lives across the handler's await, in every request's future.
        let described = access.then(|| {
            Box::new(Described {
                started: Instant::now(),
                method: request.method().clone(),
                target: request.uri().clone(),
                version: request.version(),
                websocket: is_upgrade_request(request.headers()),
            })
        });
        let exchange = self.exchange(number, Some(&self.wire));
        let request = match self.app.answer_now(request, &exchange) {
            Answer::Now(mut response) => {
                self.answered(&mut response, number, access, described);
                return Either::Left(std::future::ready(Ok(response)));
            }
            Answer::Later(request) => request,
        };
        let connection = Arc::clone(self);
        Either::Right(Box::pin(async move {
            let exchange = connection.exchange(number, Some(&connection.wire));
            let mut response = connection.app.handle(request, &exchange).await;
            connection.answered(&mut response, number, access, described);
            Ok(response)
        }))
    }

    /// What the handler gets to know of request `number` and its connection.
    fn exchange<'a>(&'a self, number: u64, wire: Option<&'a Wire>) -> Exchange<'a> {
        Exchange {
            conn: &self.info,
            guard: &self.guard,
            log: &self.log,
            label: self.label,
            request: number,
            wire,
            tls_probe: self.tls_probe.as_deref(),
            reclaim: self.reclaim,
        }
    }

    /// After the handler: the diagnosis or notes, the access line (when the body is done).
    fn answered(
        &self,
        response: &mut Response<Body>,
        number: u64,
        access: bool,
        described: Option<Box<Described>>,
    ) {
        let status = response.status();
        if diagnose::is_refusal(status) {
            let diagnosis = match response.extensions().get::<Diagnosis>() {
                Some(diagnosis) => diagnosis.0.clone(),
                None => self
                    .wire
                    .with_head(|head| diagnose::explain_head(head, self.max_head))
                    .flatten()
                    .unwrap_or_else(|| "refused; no rule found to explain it".to_owned()),
            };
            self.log.refused(&self.label, status.as_str(), &diagnosis);
        } else if access {
            // Once per distinct head: the same request again says nothing new.
            let notes = self
                .wire
                .with_new_head(|head| diagnose::notes(head, self.max_head))
                .unwrap_or_default();
            for note in notes {
                self.log.note(&self.label, &note);
            }
        }
        if status == StatusCode::SWITCHING_PROTOCOLS {
            // What follows the 101 is WebSocket frames, not HTTP.
            self.wire.leave_http();
        }
        if response.body().is_streamed() {
            let wire = Arc::clone(&self.wire);
            response
                .body_mut()
                .when_streamed(move || wire.response_done());
        } else {
            self.wire.response_done();
        }
        let opened_websocket = status == StatusCode::SWITCHING_PROTOCOLS;
        self.logged(response, described, number, opened_websocket)
    }

    /// Answers one HTTP/2 request (streams come concurrently): the handler, then the access
    /// line and the diagnosis of a refusal. There is no raw head to show: HPACK decoded it.
    async fn serve_h2(&self, request: Request<Incoming>) -> Response<Body> {
        let number = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let _open = Open::new(&self.open);
        let access = self.log.access();
        let described = access.then(|| {
            Box::new(Described {
                started: Instant::now(),
                method: request.method().clone(),
                // The path as an HTTP/1.1 request line has it; `:scheme` and `:authority`
                // are not part of the target.
                target: request
                    .uri()
                    .path_and_query()
                    .map_or_else(|| request.uri().clone(), |path| path.clone().into()),
                version: request.version(),
                websocket: is_websocket_request(
                    request.method(),
                    request.headers(),
                    request.extensions(),
                ),
            })
        });
        let exchange = self.exchange(number, None);
        let head = request.method() == http::Method::HEAD;
        let mut response = match self.app.answer_now(request, &exchange) {
            Answer::Now(response) => response,
            Answer::Later(request) => self.app.handle(request, &exchange).await,
        };
        if head {
            // RFC 9110 §9.3.2: headers only. hyper's HTTP/1.1 drops the body of a HEAD
            // answer; its HTTP/2 would send it as DATA.
            *response.body_mut() = Body::empty();
        }
        // Connection-specific (RFC 9113 §8.2.2): the routes' `connection: close` means nothing
        // here, and hyper would warn about it on every such answer.
        response.headers_mut().remove(http::header::CONNECTION);
        let status = response.status();
        if diagnose::is_refusal(status) {
            let diagnosis = response.extensions().get::<Diagnosis>().map_or_else(
                || "refused; no rule found to explain it".to_owned(),
                |diagnosis| diagnosis.0.clone(),
            );
            self.log.refused(&self.label, status.as_str(), &diagnosis);
        }
        // RFC 8441 §5: a 200 to the extended CONNECT opens the WebSocket.
        let opened_websocket = status == StatusCode::OK
            && described
                .as_ref()
                .is_some_and(|described| described.websocket);
        self.logged(&mut response, described, number, opened_websocket);
        response
    }

    /// The access record of an answered request (when the access log is on): a WebSocket that
    /// opened is logged now, as its session's start; any other answer once its body is sent.
    fn logged(
        &self,
        response: &mut Response<Body>,
        described: Option<Box<Described>>,
        number: u64,
        opened_websocket: bool,
    ) {
        let Some(described) = described else {
            return;
        };
        if opened_websocket {
            return self.log.ws_accepted(
                &self.label,
                number,
                &super::access::target_text(&described.target),
            );
        }
        self.metered(response, *described, number);
    }

    /// Has the response's body write the access line once it is sent.
    fn metered(&self, response: &mut Response<Body>, described: Described, number: u64) {
        let status = response.status();
        let entry = Entry {
            log: self.log.clone(),
            conn: self.label,
            request: number,
            method: described.method,
            target: described.target,
            version: described.version,
            websocket: described.websocket,
            status,
            started: described.started,
        };
        let length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse().ok());
        response.body_mut().metered(Meter::new(entry, length));
    }
}

/// How the body after a request head is framed (RFC 9112 §6.3). hyper has decided it already: no body, a length, or chunks; reading its decision costs no
/// header lookup.
fn framing(body: &Incoming) -> Framing {
    if body.is_end_stream() {
        return Framing::None;
    }
    match body.size_hint().exact() {
        Some(len) => Framing::Length(len),
        None => Framing::Chunked,
    }
}

/// Resolves, with the diagnosis, once an HTTP/2 client has held a header block open for
/// `timeout` (nothing else can cross the connection meanwhile, RFC 9113 §6.10), or has sent no
/// complete request that long after the connection opened: `--header-timeout`, as for an
/// HTTP/1.1 head.
async fn header_deadline(
    wire: &Wire,
    requests: &AtomicU64,
    block_opened: &tokio::sync::Notify,
    timeout: Duration,
) -> String {
    loop {
        let (since, stream) = match wire.h2_block_open() {
            Some((since, stream)) => (since, Some(stream)),
            None if requests.load(Ordering::Relaxed) == 0 => (wire.opened(), None),
            None => {
                // A permit left from a block already seen only costs one more look.
                block_opened.notified().await;
                continue;
            }
        };
        let deadline = since + timeout;
        if Instant::now() < deadline {
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            continue;
        }
        return match stream {
            Some(stream) => format!(
                "the client began a header block (HEADERS on stream {stream}) and did not end \
                 it (no END_HEADERS) within {timeout:?} (--header-timeout); nothing else may \
                 cross the connection until it ends (RFC 9113 §6.10); closed without an answer"
            ),
            None => format!(
                "the client sent no complete request within {timeout:?} of opening the HTTP/2 \
                 connection (--header-timeout; {} bytes received); closed without an answer",
                wire.received()
            ),
        };
    }
}

/// Counts an HTTP/2 handler while it runs.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(open: &'a AtomicUsize) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An HTTP connection of either version that can be asked to finish what it has and close.
trait Graceful: Future<Output = hyper::Result<()>> {
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for http1::UpgradeableConnection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: HttpBody + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for http2::Connection<I, S, E>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: HttpBody + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Http2ServerConnExec<S::Future, B>,
{
    fn shut_down(self: Pin<&mut Self>) {
        // Sends GOAWAY; the streams already open are answered.
        self.graceful_shutdown();
    }
}

/// hyper's HTTP/2 server with duplex's limits, and the extended CONNECT of RFC 8441 on.
fn http2_builder(limits: Http2Limits) -> http2::Builder<TokioExecutor> {
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_size)
        .initial_stream_window_size(limits.stream_window)
        .initial_connection_window_size(limits.connection_window)
        .max_pending_accept_reset_streams(limits.max_pending_resets)
        .max_local_error_reset_streams(limits.max_error_resets);
    h2
}

/// What the access line says about a request, taken before the handler consumes it.
struct Described {
    started: Instant,
    method: http::Method,
    target: http::Uri,
    version: http::Version,
    websocket: bool,
}

/// How [`ConnectionContext::drive`] left a connection.
enum Driven {
    /// hyper finished it.
    Ended(hyper::Result<()>),
    /// Silent past the keep-alive timeout and then some, with a request in progress: dropped.
    Abandoned,
    /// A request head stayed unfinished for the header timeout: dropped.
    HeadTimeout,
    /// A long head waits for a parser sized for it, and hyper is idle (see [`Wire::gate`]).
    Switch,
}

/// What [`ConnectionContext::drive`] asks of the protocol it drives.
struct Rules<B, S> {
    /// HTTP/1.1: a request head unfinished this long is dropped.
    head_timeout: Option<Duration>,
    /// A request is in progress though the connection is silent (HTTP/2: a handler runs).
    busy: B,
    /// Checked when the connection waits: leave it to the caller (an HTTP/1.1 parser swap,
    /// see [`Wire::gate`]).
    switch: S,
}

/// When a connection last moved a byte, in either direction.
struct Activity {
    start: std::time::Instant,
    /// Milliseconds since `start`.
    last: AtomicU64,
    /// When the connection last wrote a byte (milliseconds since `start`): a response ending
    /// starts the wait for the next head.
    last_write: AtomicU64,
    /// Cleared once an HTTP/1.1 connection has become a WebSocket: nothing reads the times
    /// any more, and two clock reads were a twentieth of an echo round trip (callgrind).
    watching: AtomicBool,
    /// The time the first touch of the connection's current poll read (`u64::MAX`: none yet).
    /// The reads and writes of one poll (a request and its response, most often) share it:
    /// a clock read is about 100 instructions (callgrind), a poll a few microseconds.
    this_poll: AtomicU64,
    /// See [`Activity::flushed`].
    flushed: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
            last: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
            watching: AtomicBool::new(true),
            this_poll: AtomicU64::new(u64::MAX),
            flushed: AtomicBool::new(true),
        }
    }

    /// hyper's write buffer was empty when it last touched the stream: it flushes the stream
    /// only once it has written all it holds.
    fn flushed(&self) -> bool {
        self.flushed.load(Ordering::Relaxed)
    }

    /// A poll of the connection begins: its first touch reads the clock.
    fn new_poll(&self) {
        self.this_poll.store(u64::MAX, Ordering::Relaxed);
    }

    /// Notes a byte moved now; returns now (milliseconds since `start`; 0 once not watching).
    fn touch(&self) -> u64 {
        if !self.watching.load(Ordering::Relaxed) {
            return 0;
        }
        let mut now = self.this_poll.load(Ordering::Relaxed);
        if now == u64::MAX {
            now = self.now();
            self.this_poll.store(now, Ordering::Relaxed);
        }
        self.last.store(now, Ordering::Relaxed);
        now
    }

    fn touch_write(&self) {
        let now = self.touch();
        self.last_write.store(now, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long the unfinished head that began arriving at `began` (milliseconds since
    /// `start`) has been waited for: from its first byte, or from the last write if later (the
    /// head waited behind the response before it, as pipelined heads do).
    fn head_waited(&self, began: u64) -> Duration {
        let since = began.max(self.last_write.load(Ordering::Relaxed));
        Duration::from_millis(self.now().saturating_sub(since))
    }

    fn stop_watching(&self) {
        self.watching.store(false, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// The connection's byte stream, noting each read and write in [`Activity`] and handing what
/// it reads (and, when tracing, writes) to the connection's [`Wire`]. While the wire gates the
/// connection, bytes hyper may not read yet are held here.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
    wire: Arc<Wire>,
    /// Bytes read from the client and not yet handed to hyper (boxed: rarely there).
    held: Option<Box<Held>>,
}

struct Held {
    bytes: BytesMut,
    /// Where `bytes` begin in the stream received (all before them went to hyper).
    at: u64,
    /// The client closed its side: hyper is told once it has everything held.
    eof: bool,
}

/// Socket reads into held bytes, at most this much at a time.
const HELD_READ: usize = 8 * 1024;

impl<I: AsyncRead + Unpin> Watched<I> {
    /// Keeps the bytes of `buf` past its first `before + handed` out of hyper's sight; returns
    /// what the read returns to hyper.
    #[cold]
    #[inline(never)]
    fn hold(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        before: usize,
        handed: usize,
    ) -> Poll<io::Result<()>> {
        let rest = &buf.filled()[before + handed..];
        let at = self.wire.received() - rest.len() as u64;
        self.wire.handed(at);
        self.held = Some(Box::new(Held {
            bytes: BytesMut::from(rest),
            at,
            eof: false,
        }));
        buf.set_filled(before + handed);
        if handed > 0 {
            return Poll::Ready(Ok(()));
        }
        // Nothing read, to hyper: not the end of the stream.
        self.poll_held(cx, buf).unwrap_or(Poll::Pending)
    }

    /// Reads while bytes are held: hands hyper what the wire lets it have, else reads on into
    /// the held bytes (up to the wire's limit). `None` once nothing is held (any more).
    #[inline(never)]
    fn poll_held(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Option<Poll<io::Result<()>>> {
        let polled = self.poll_held_bytes(cx, buf);
        if polled.is_none() {
            self.held = None;
        }
        polled
    }

    fn poll_held_bytes(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Option<Poll<io::Result<()>>> {
        let Self {
            inner,
            activity,
            wire,
            held: Some(held),
            ..
        } = self
        else {
            return None;
        };
        loop {
            if held.bytes.is_empty() {
                if !held.eof {
                    return None;
                }
                // The end of the stream, told once hyper has all there was.
                return Some(Poll::Ready(Ok(())));
            }
            let boundary = wire.may_read(held.at, cx.waker());
            let may = usize::try_from(boundary.saturating_sub(held.at)).unwrap_or(usize::MAX);
            let handed = may.min(held.bytes.len()).min(buf.remaining());
            if handed > 0 {
                buf.put_slice(&held.bytes.split_to(handed));
                held.at += handed as u64;
                wire.handed(held.at);
                return Some(Poll::Ready(Ok(())));
            }
            // The wire wakes the task when hyper may read more; meanwhile the client's bytes
            // are read on, up to a bound (past it they wait in the socket).
            let room = wire.hold_limit().saturating_sub(held.bytes.len());
            if held.eof || room == 0 {
                return Some(Poll::Pending);
            }
            // No more than the limit: the wire keeps the head and what follows it, and must
            // see all of it to tell where the head ends.
            let want = room.min(HELD_READ);
            held.bytes.reserve(want);
            let len = held.bytes.len();
            let mut limited = (&mut held.bytes).limit(want);
            match tokio_util::io::poll_read_buf(Pin::new(&mut *inner), cx, &mut limited) {
                Poll::Pending => return Some(Poll::Pending),
                Poll::Ready(Err(err)) => return Some(Poll::Ready(Err(err))),
                Poll::Ready(Ok(0)) => held.eof = true,
                Poll::Ready(Ok(_)) => {
                    let now = activity.touch();
                    wire.on_read(&held.bytes[len..], now);
                }
            }
        }
    }

    /// hyper's parser is replaced: it gets back what it had not parsed (`unparsed`: the start
    /// of the long head, behind any body bytes it had not drained, which are dropped), then
    /// everything held, ungated.
    fn ungate(&mut self, unparsed: Bytes) {
        let head_at = self.wire.ungate();
        let held = self.held.get_or_insert_with(|| {
            Box::new(Held {
                bytes: BytesMut::new(),
                at: 0,
                eof: false,
            })
        });
        let handed = if held.bytes.is_empty() && !held.eof {
            self.wire.received()
        } else {
            held.at
        };
        // The long head's bytes hyper already had.
        let had = usize::try_from(handed.saturating_sub(head_at)).unwrap_or(usize::MAX);
        let unparsed = unparsed.slice(unparsed.len().saturating_sub(had)..);
        // Held bytes before the head (none: the switch waits until hyper has read them) are
        // a body no handler read.
        let unread = usize::try_from(head_at.saturating_sub(handed)).unwrap_or(usize::MAX);
        held.bytes.advance(unread.min(held.bytes.len()));
        let mut bytes = BytesMut::with_capacity(unparsed.len() + held.bytes.len());
        bytes.extend_from_slice(&unparsed);
        bytes.extend_from_slice(&held.bytes);
        held.bytes = bytes;
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.held.is_some()
            && let Some(polled) = this.poll_held(cx, buf)
        {
            return polled;
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            let now = this.activity.touch();
            let handed = this.wire.on_read(&buf.filled()[before..], now);
            if handed < read {
                return this.hold(cx, buf, before, handed);
            }
        }
        polled
    }
}

/// [`Reclaim`] for an HTTP/1.1 connection served on `I`: the connection's own stream, and the
/// bytes read from it that hyper did not parse. Unwatched, unless the wire traces it: nothing
/// reads the activity of an upgraded connection, and the wire passes its bytes through.
/// hyper's stream as it is if it is not that stream.
fn reclaim<I: Stream>(upgraded: hyper::upgrade::Upgraded) -> (Upgraded, Bytes) {
    let parts = match upgraded.downcast::<TokioIo<Watched<I>>>() {
        Ok(parts) => parts,
        Err(upgraded) => return as_upgraded(upgraded),
    };
    let watched = parts.io.into_inner();
    // The wire traces every read it sees.
    if watched.wire.tracing() {
        return (Box::new(watched), parts.read_buf);
    }
    // Held bytes (a gated wire's) were read after those hyper had.
    match watched.held {
        Some(held) if !held.bytes.is_empty() => {
            let mut received = BytesMut::with_capacity(parts.read_buf.len() + held.bytes.len());
            received.extend_from_slice(&parts.read_buf);
            received.extend_from_slice(&held.bytes);
            (Box::new(watched.inner), received.freeze())
        }
        _ => (Box::new(watched.inner), parts.read_buf),
    }
}

/// hyper hands a response over as its head and its body, two slices: up to this many bytes in
/// all, they are copied into one and sent with one `write`, which the kernel takes for less
/// than a `writev` of the parts (about 0.2 µs per response on loopback).
const JOIN_WRITES_UP_TO: usize = 4096;

/// Whether `bufs` go out joined, in one `write`.
fn joins(bufs: &[io::IoSlice<'_>]) -> bool {
    bufs.len() > 1 && bufs.iter().map(|buf| buf.len()).sum::<usize>() <= JOIN_WRITES_UP_TO
}

thread_local! {
    /// Where [`JOIN_WRITES_UP_TO`] joins the parts: one buffer per worker thread, not per
    /// connection, so an idle connection keeps none.
    static JOINED: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(JOIN_WRITES_UP_TO));
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.activity.flushed.store(false, Ordering::Relaxed);
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.activity.touch_write();
            if self.wire.tracing() {
                self.wire.on_write(&buf[..n]);
            }
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.flushed.store(false, Ordering::Relaxed);
        let polled = if joins(bufs) {
            JOINED.with_borrow_mut(|joined| {
                joined.clear();
                for buf in bufs {
                    joined.extend_from_slice(buf);
                }
                // A short write is the joined bytes' prefix: the same count `writev` returns.
                Pin::new(&mut self.inner).poll_write(cx, joined)
            })
        } else {
            Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
        };
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.activity.touch_write();
            if self.wire.tracing() {
                let mut left = n;
                let mut written = Vec::with_capacity(n);
                for buf in bufs {
                    let take = left.min(buf.len());
                    written.extend_from_slice(&buf[..take]);
                    left -= take;
                }
                self.wire.on_write(&written);
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.activity.flushed.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::AsyncWriteExt;

    /// hyper keeps a box of the service's future for every connection, idle or not: its size
    /// is memory per idle connection (1 KiB while the waiting branch was not boxed).
    #[test]
    fn the_future_every_connection_keeps_is_small() {
        fn returned<A, R>(_: fn(&Arc<PerConnection<A>>, Request<Incoming>) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        let size = returned(PerConnection::<crate::apps::Site>::serve);
        assert!(size <= 256, "the service's future is {size} bytes");
    }

    /// A stream that records each write and how it came (vectored or not), taking at most
    /// `accept` bytes of each.
    struct Recorder {
        writes: Vec<(&'static str, Vec<u8>)>,
        accept: usize,
    }

    impl Recorder {
        fn record(&mut self, how: &'static str, bytes: Vec<u8>) -> Poll<io::Result<usize>> {
            let taken = bytes.len().min(self.accept);
            self.writes.push((how, bytes[..taken].to_vec()));
            Poll::Ready(Ok(taken))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.record("write", buf.to_vec())
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let joined = bufs.iter().flat_map(|buf| buf.iter().copied()).collect();
            self.record("writev", joined)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn watched(accept: usize) -> Watched<Recorder> {
        Watched {
            inner: Recorder {
                writes: Vec::new(),
                accept,
            },
            activity: Arc::new(Activity::new()),
            wire: Wire::new(1024, None),
            held: None,
        }
    }

    #[tokio::test]
    async fn a_head_and_a_short_body_go_out_in_one_write() -> io::Result<()> {
        let mut io = watched(usize::MAX);
        let parts = [
            io::IoSlice::new(b"HTTP/1.1 200 OK\r\n\r\n"),
            io::IoSlice::new(b"{}"),
        ];
        assert_eq!(io.write_vectored(&parts).await?, 21);
        assert_eq!(
            io.inner.writes,
            [("write", b"HTTP/1.1 200 OK\r\n\r\n{}".to_vec())]
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_short_write_of_the_joined_parts_counts_what_went_out() -> io::Result<()> {
        let mut io = watched(6);
        let parts = [io::IoSlice::new(b"head"), io::IoSlice::new(b"body")];
        assert_eq!(io.write_vectored(&parts).await?, 6);
        assert_eq!(io.inner.writes, [("write", b"headbo".to_vec())]);
        Ok(())
    }

    #[tokio::test]
    async fn long_or_single_parts_stay_vectored() -> io::Result<()> {
        let mut io = watched(usize::MAX);
        let body = vec![b'x'; JOIN_WRITES_UP_TO];
        let long = [io::IoSlice::new(b"head"), io::IoSlice::new(&body)];
        assert_eq!(io.write_vectored(&long).await?, JOIN_WRITES_UP_TO + 4);
        let single = [io::IoSlice::new(b"one")];
        assert_eq!(io.write_vectored(&single).await?, 3);
        let how: Vec<_> = io.inner.writes.iter().map(|(how, _)| *how).collect();
        assert_eq!(how, ["writev", "writev"]);
        Ok(())
    }
}
