//! The HTTP probes: each case's response, written as the case says (in pieces, cut short, …).

use std::fmt::Write as _;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::catalogue::{Case, body};
use super::{Next, ProbeRequest, write_all};
use crate::server::raw::RawIo;

/// The headers every probe response starts with.
fn head(status_line: &str, extra: &[(&str, String)]) -> String {
    let mut head = format!(
        "{status_line}\r\nServer: duplex-probe\r\nContent-Type: text/plain; charset=utf-8\r\n"
    );
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    head
}

/// `body` as chunks of the given sizes (the rest as one last chunk), each size line written by
/// `size_line`, then the last chunk and `trailer` lines.
fn chunked(
    body: &[u8],
    sizes: &[usize],
    size_line: impl Fn(usize) -> String,
    trailer: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut rest = body;
    let mut sizes = sizes.iter().copied();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).min(rest.len());
        out.extend_from_slice(size_line(size).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..size]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[size..];
    }
    out.extend_from_slice(b"0\r\n");
    out.extend_from_slice(trailer.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

const SIZES: [usize; 4] = [1, 2, 3, 100];

/// Writes `bytes` in pieces of `piece` bytes, `pause` apart.
async fn in_pieces(
    io: &mut Box<dyn RawIo>,
    bytes: &[u8],
    piece: usize,
    pause: Duration,
) -> Result<(), String> {
    for part in bytes.chunks(piece.max(1)) {
        write_all(io, part).await?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

pub(super) async fn respond(
    case: &Case,
    _request: &ProbeRequest,
    io: &mut Box<dyn RawIo>,
) -> Result<Next, String> {
    let body = body();
    let bytes = body.as_bytes();
    let length = bytes.len().to_string();
    let with_length = |status_line: &str| {
        let mut out = head(status_line, &[("Content-Length", length.clone())]).into_bytes();
        out.extend_from_slice(bytes);
        out
    };
    let chunked_head = head(
        "HTTP/1.1 200 OK",
        &[("Transfer-Encoding", "chunked".to_owned())],
    );
    let response: Vec<u8> = match case.id {
        "content-length" => with_length("HTTP/1.1 200 OK"),
        "chunked" => [
            chunked_head.into_bytes(),
            chunked(bytes, &SIZES, |n| format!("{n:x}"), ""),
        ]
        .concat(),
        "chunked-uppercase-hex" => [
            chunked_head.into_bytes(),
            chunked(bytes, &[10, 255, 31], |n| format!("{n:04X}"), ""),
        ]
        .concat(),
        "chunked-extensions" => [
            chunked_head.into_bytes(),
            chunked(bytes, &SIZES, |n| format!("{n:x};name=value;flag"), ""),
        ]
        .concat(),
        "chunked-trailers" => {
            let head = head(
                "HTTP/1.1 200 OK",
                &[
                    ("Transfer-Encoding", "chunked".to_owned()),
                    ("Trailer", "x-checksum".to_owned()),
                ],
            );
            [
                head.into_bytes(),
                chunked(
                    bytes,
                    &SIZES,
                    |n| format!("{n:x}"),
                    "x-checksum: 5ca1ab1e\r\n",
                ),
            ]
            .concat()
        }
        "one-byte-writes" => {
            in_pieces(
                io,
                &with_length("HTTP/1.1 200 OK"),
                1,
                Duration::from_millis(1),
            )
            .await?;
            return Ok(Next::Close);
        }
        "reset-mid-body" => {
            let mut out =
                head("HTTP/1.1 200 OK", &[("Content-Length", length.clone())]).into_bytes();
            out.extend_from_slice(&bytes[..bytes.len() / 2]);
            write_all(io, &out).await?;
            // Let the half arrive before the reset, which would otherwise discard it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !io.reset_on_close() {
                return Err("this transport cannot send a TCP reset (a Unix socket)".to_owned());
            }
            return Ok(Next::Reset);
        }
        "chunked-pieces" => {
            let all = [
                chunked_head.into_bytes(),
                chunked(bytes, &SIZES, |n| format!("{n:x}"), ""),
            ]
            .concat();
            in_pieces(io, &all, 7, Duration::from_millis(2)).await?;
            return Ok(Next::Close);
        }
        "close-delimited" => [head("HTTP/1.1 200 OK", &[]).into_bytes(), bytes.to_vec()].concat(),
        "content-length-and-extra" => {
            let mut out = with_length("HTTP/1.1 200 OK");
            out.extend_from_slice(&[b'X'; 40]);
            out
        }
        "content-length-long" => {
            let mut out = head(
                "HTTP/1.1 200 OK",
                &[("Content-Length", (bytes.len() + 100).to_string())],
            )
            .into_bytes();
            out.extend_from_slice(bytes);
            out
        }
        "content-length-conflict" => {
            let mut out = head(
                "HTTP/1.1 200 OK",
                &[
                    ("Content-Length", length.clone()),
                    ("Content-Length", (bytes.len() + 1).to_string()),
                ],
            )
            .into_bytes();
            out.extend_from_slice(bytes);
            out
        }
        "eof-in-head" => b"HTTP/1.1 200 OK\r\nServer: duplex-probe\r\nContent-Ty".to_vec(),
        "eof-in-chunk" => {
            let mut out = chunked_head.into_bytes();
            out.extend_from_slice(b"64\r\n");
            out.extend_from_slice(&bytes[..50]);
            out
        }
        "eof-before-last-chunk" => {
            let mut all = chunked(bytes, &SIZES, |n| format!("{n:x}"), "");
            // Without "0\r\n\r\n".
            all.truncate(all.len() - 5);
            [chunked_head.into_bytes(), all].concat()
        }
        "chunked-over-content-length" => [
            head(
                "HTTP/1.1 200 OK",
                &[
                    ("Content-Length", "5".to_owned()),
                    ("Transfer-Encoding", "chunked".to_owned()),
                ],
            )
            .into_bytes(),
            chunked(bytes, &SIZES, |n| format!("{n:x}"), ""),
        ]
        .concat(),
        "lf-only" => {
            let head = head("HTTP/1.1 200 OK", &[("Content-Length", length.clone())]);
            [head.replace("\r\n", "\n").into_bytes(), bytes.to_vec()].concat()
        }
        "obs-fold" => {
            let head = head(
                "HTTP/1.1 200 OK",
                &[
                    ("X-Folded", "first part\r\n  second part".to_owned()),
                    ("Content-Length", length.clone()),
                ],
            );
            [head.into_bytes(), bytes.to_vec()].concat()
        }
        "many-headers" => {
            let mut extra: Vec<(&str, String)> = Vec::with_capacity(151);
            let names: Vec<String> = (1..=150).map(|n| format!("X-Probe-{n:03}")).collect();
            for name in &names {
                extra.push((name.as_str(), "v".to_owned()));
            }
            extra.push(("Content-Length", length.clone()));
            [head("HTTP/1.1 200 OK", &extra).into_bytes(), bytes.to_vec()].concat()
        }
        "large-header" => {
            let head = head(
                "HTTP/1.1 200 OK",
                &[
                    ("X-Large", "a".repeat(32 * 1024)),
                    ("Content-Length", length.clone()),
                ],
            );
            [head.into_bytes(), bytes.to_vec()].concat()
        }
        "204-with-body" => [
            head("HTTP/1.1 204 No Content", &[]).into_bytes(),
            b"these bytes are not the content of a 204\r\n".to_vec(),
        ]
        .concat(),
        "304-with-body" => [
            head(
                "HTTP/1.1 304 Not Modified",
                &[
                    ("ETag", "\"probe\"".to_owned()),
                    ("Content-Length", length.clone()),
                ],
            )
            .into_bytes(),
            bytes.to_vec(),
        ]
        .concat(),
        "early-hints" => [
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
                .to_vec(),
            with_length("HTTP/1.1 200 OK"),
        ]
        .concat(),
        "several-1xx" => [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n".to_vec(),
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n".to_vec(),
            with_length("HTTP/1.1 200 OK"),
        ]
        .concat(),
        "1xx-then-eof" => b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        "empty-reason" => with_length("HTTP/1.1 200 "),
        "no-reason-no-space" => with_length("HTTP/1.1 200"),
        "http10-response" => with_length("HTTP/1.0 200 OK"),
        other => return Err(format!("no HTTP probe {other}")),
    };
    write_all(io, &response).await?;
    // Everything is sent: the close is the end of a close-delimited body.
    let _ = io.shutdown().await;
    Ok(Next::Close)
}

/// The reuse cases: a 307 to the same case with `step=2` (kept alive, closed with
/// `Connection: close`, or closed without a word), then the body for step 2.
pub(super) async fn reuse(
    case: &Case,
    request: &ProbeRequest,
    io: &mut Box<dyn RawIo>,
) -> Result<Next, String> {
    if request.param("step") == Some("2") {
        let body = body();
        let response = format!(
            "HTTP/1.1 200 OK\r\nServer: duplex-probe\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        write_all(io, response.as_bytes()).await?;
        return Ok(Next::Close);
    }
    let mut location = format!("/probe/{}?step=2", case.path());
    if let Some(token) = request.param("run") {
        let _ = write!(location, "&run={token}");
    }
    let close = if case.id == "redirect-close" {
        "Connection: close\r\n"
    } else {
        ""
    };
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nServer: duplex-probe\r\nLocation: {location}\r\n\
         Content-Length: 0\r\n{close}\r\n"
    );
    write_all(io, redirect.as_bytes()).await?;
    Ok(match case.id {
        "redirect-keep-alive" => Next::KeepAlive(super::KEEP_ALIVE),
        // `stale-keep-alive` promised nothing and closes anyway: the client's next request on
        // this connection meets a closed socket.
        _ => Next::Close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_sizes_and_end_with_the_last_chunk() {
        let out = chunked(b"abcdefg", &[1, 2], |n| format!("{n:x}"), "");
        assert_eq!(out, b"1\r\na\r\n2\r\nbc\r\n4\r\ndefg\r\n0\r\n\r\n");
        let out = chunked(b"ab", &[5], |n| format!("{n:x}"), "t: 1\r\n");
        assert_eq!(out, b"2\r\nab\r\n0\r\nt: 1\r\n\r\n");
    }
}
