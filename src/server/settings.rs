//! The connection layer's limits and timeouts, and the default connection cap read from the
//! process's open-file limit.

use std::time::Duration;

use crate::transport::timer::Timers;

/// Limits and timeouts of the connection layer.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Connections served at once; more are closed right after accepting them.
    pub(crate) max_connections: usize,
    /// How long a client may take to complete the TLS handshake.
    pub(crate) tls_handshake_timeout: Duration,
    /// How long a client may take to send a complete request head, counted from the start
    /// of the connection or the end of the previous response.
    pub(crate) header_read_timeout: Duration,
    /// How long a connection may be silent (no byte in or out) between requests.
    pub(crate) keep_alive_timeout: Duration,
    /// How long a request body may take to arrive (the application answers 408 past it); a
    /// connection silent for longer than this plus the keep-alive timeout is dropped.
    pub(crate) body_timeout: Duration,
    /// How long in-flight connections get after the shutdown signal.
    pub(crate) shutdown_timeout: Duration,
    /// Request heads above this many bytes get 431.
    pub(crate) max_head: usize,
    /// Header lines above this get 431.
    pub(crate) max_headers: usize,
    /// HTTP/2's limits; `None` speaks HTTP/1.1 only (`--no-http2`).
    pub(crate) http2: Option<Http2Limits>,
    /// Where the keep-alive and head timers run.
    pub(crate) timers: Timers,
}

/// The limits of an HTTP/2 connection (RFC 9113 §6.5.2), each a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Http2Limits {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: requests (and WebSockets) open at once per connection.
    pub(crate) max_concurrent_streams: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`: a larger header block (also one spread over
    /// CONTINUATION frames) is refused with 431 and never buffered whole.
    pub(crate) max_header_list_size: u32,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: bytes a client may send on one stream unacknowledged.
    pub(crate) stream_window: u32,
    /// Bytes a client may send on the whole connection unacknowledged.
    pub(crate) connection_window: u32,
    /// Streams the client opened and reset before they were served; past it, GOAWAY
    /// (ENHANCE_YOUR_CALM). The rapid-reset attack's bound (CVE-2023-44487).
    pub(crate) max_pending_resets: usize,
    /// Streams the server had to reset for the client's errors; past it, GOAWAY.
    pub(crate) max_error_resets: usize,
}

impl Default for Http2Limits {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            max_header_list_size: 16 * 1024,
            stream_window: 1024 * 1024,
            connection_window: 1024 * 1024,
            max_pending_resets: 20,
            max_error_resets: 1024,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            max_head: DEFAULT_MAX_HEAD,
            max_headers: DEFAULT_MAX_HEADERS,
            http2: Some(Http2Limits::default()),
            timers: Timers::default(),
        }
    }
}

/// Request heads above this get 431 by default (hyper's read buffer limit; its minimum is 8 KiB).
pub(crate) const DEFAULT_MAX_HEAD: usize = 16 * 1024;
/// Header lines above this get 431 by default: room for the 200 headers the original accepts.
pub(crate) const DEFAULT_MAX_HEADERS: usize = 256;
/// hyper parses up to this many headers in place; a higher limit costs it a heap allocation
/// and the initialisation of two arrays of that length per request (about 10 % of the
/// throughput of `GET /status` at 256).
pub(crate) const FAST_MAX_HEADERS: usize = 100;

/// Descriptors kept free for what is not a connection: the listener, the static file, the
/// certificate files, logs.
const RESERVED_DESCRIPTORS: usize = 64;
/// The cap when the open-file limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 10_000;

/// The process's open-file limit minus a reserve: past that, `accept` fails with EMFILE and the
/// server can no longer even refuse connections cleanly.
pub(crate) fn default_max_connections() -> usize {
    open_file_limit().map_or(FALLBACK_MAX_CONNECTIONS, |limit| {
        limit.saturating_sub(RESERVED_DESCRIPTORS).max(1)
    })
}

/// The soft `RLIMIT_NOFILE`, read from `/proc` (no `unsafe` `getrlimit` call needed).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    // "Max open files            20000                20000                files"
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_descriptors_for_the_rest() {
        let settings = Settings::default();
        match open_file_limit() {
            Some(limit) => assert_eq!(
                settings.max_connections,
                limit.saturating_sub(RESERVED_DESCRIPTORS).max(1)
            ),
            None => assert_eq!(settings.max_connections, FALLBACK_MAX_CONNECTIONS),
        }
        assert!(settings.max_head >= 8192 && settings.max_headers >= 200);
    }
}
