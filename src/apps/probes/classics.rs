//! The httpbin classics under `/probe/`, so a client author needs no other server: status codes
//! (with a weighted random choice), redirects, delay, drip, bytes/stream/range from a seed,
//! gzip/deflate/brotli, a JSON view of the request, cookies, basic and bearer auth, ETag and
//! cache validation, server-sent events. Every answer closes its connection, and every size and
//! delay is capped (see the constants).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{ProbeRequest, write_all};
use crate::server::raw::RawConnection;

/// Longest `/delay` and `/drip` wait.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10);
/// Largest generated body (`/bytes`, `/drip`, `/range`).
pub(crate) const MAX_BYTES: usize = 1 << 20;
/// Most lines of `/stream` and events of `/sse`.
pub(crate) const MAX_LINES: usize = 100;
/// Most hops of `/redirect`.
pub(crate) const MAX_HOPS: u32 = 20;
/// Largest request body `/anything` reads.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The classic named by `path` (under `/probe/`), if it is one.
pub(crate) fn claims(path: &str) -> bool {
    let name = path.split('/').next().unwrap_or_default();
    matches!(
        name,
        "status"
            | "redirect"
            | "relative-redirect"
            | "absolute-redirect"
            | "redirect-to"
            | "delay"
            | "drip"
            | "bytes"
            | "stream"
            | "range"
            | "gzip"
            | "deflate"
            | "brotli"
            | "headers"
            | "anything"
            | "get"
            | "cookies"
            | "basic-auth"
            | "bearer"
            | "etag"
            | "cache"
            | "sse"
    )
}

/// A complete response that closes the connection; HEAD gets the head only.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.into(),
        }
    }

    fn json(status: u16, value: &Value) -> Self {
        let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
        text.push('\n');
        Self::new(status, "application/json", text)
    }

    fn error(status: u16, why: &str) -> Self {
        Self::json(status, &json!({ "error": why }))
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nServer: duplex-probe\r\n",
            self.status,
            reason(self.status)
        );
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let _ = write!(
            out,
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        );
        let mut bytes = out.into_bytes();
        if !head_only && !matches!(self.status, 204 | 304) {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
}

/// A small deterministic generator (splitmix64): the same seed gives the same bytes on every
/// machine. Not Python's `random`, so not httpbin's bytes for a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// A float in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// httpbin's JSON view of a request: args, headers, origin, url (plus method, data and json for
/// `/anything`).
fn view(request: &ProbeRequest, conn: &RawConnection, body: Option<&[u8]>) -> Value {
    let mut args = Map::new();
    for pair in request.query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        args.insert(decode(key), Value::String(decode(value)));
    }
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        headers.insert(name.clone(), Value::String(value.clone()));
    }
    let host = request.header("host").unwrap_or("localhost");
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let mut view = json!({
        "args": args,
        "headers": headers,
        "origin": conn.label.peer.map_or_else(|| "unix".to_owned(), |p| p.ip().to_string()),
        "url": format!("http://{host}{target}"),
    });
    if let (Some(body), Value::Object(map)) = (body, &mut view) {
        let text = String::from_utf8_lossy(body).into_owned();
        map.insert("method".into(), Value::String(request.method.clone()));
        map.insert(
            "json".into(),
            serde_json::from_slice(body).unwrap_or(Value::Null),
        );
        map.insert("data".into(), Value::String(text));
    }
    view
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The path's segments after the classic's name.
fn segments(path: &str) -> Vec<&str> {
    path.split('/').skip(1).filter(|s| !s.is_empty()).collect()
}

fn number<T: std::str::FromStr>(text: Option<&str>) -> Option<T> {
    text.and_then(|t| t.parse().ok())
}

/// Answers one classic. `path` is what follows `/probe/`.
pub(crate) async fn respond(
    path: &str,
    request: &ProbeRequest,
    conn: &mut RawConnection,
    body: Vec<u8>,
) -> Result<(), String> {
    let name = path.split('/').next().unwrap_or_default();
    let args = segments(path);
    let head_only = request.method == "HEAD";
    let answer = match name {
        "status" => status(args.first().copied().unwrap_or("200"), request),
        "redirect" | "relative-redirect" | "absolute-redirect" => {
            redirect(name, args.first().copied(), request)
        }
        "redirect-to" => redirect_to(request),
        "delay" => {
            let seconds: f64 = number(args.first().copied()).unwrap_or(1.0);
            let wait = Duration::from_secs_f64(seconds.clamp(0.0, MAX_DELAY.as_secs_f64()));
            tokio::time::sleep(wait).await;
            Answer::json(200, &view(request, conn, None))
        }
        "drip" => return drip(request, conn).await,
        "bytes" => {
            let n = number::<usize>(args.first().copied())
                .unwrap_or(1024)
                .min(MAX_BYTES);
            let mut rng = Rng::new(number(request.param("seed")));
            Answer::new(200, "application/octet-stream", rng.fill(n))
        }
        "stream" => return stream(args.first().copied(), request, conn).await,
        "range" => range(args.first().copied(), request),
        "gzip" | "deflate" | "brotli" => encoded(name, request, conn),
        "headers" => {
            let view = view(request, conn, None);
            Answer::json(200, &json!({ "headers": view["headers"] }))
        }
        "get" => Answer::json(200, &view(request, conn, None)),
        "anything" => Answer::json(200, &view(request, conn, Some(&body))),
        "cookies" => cookies(args.first().copied(), request),
        "basic-auth" => basic_auth(&args, request),
        "bearer" => bearer(request),
        "etag" => etag(args.first().copied().unwrap_or("duplex"), request),
        "cache" => cache(args.first().copied(), request),
        "sse" => return sse(request, conn).await,
        _ => Answer::error(404, "no such probe"),
    };
    write_all(&mut conn.io, &answer.bytes(head_only)).await
}

/// `/status/418`, or a weighted choice: `/status/200:0.7,500:0.3` (`?seed=` to repeat it).
fn status(spec: &str, request: &ProbeRequest) -> Answer {
    let mut choices: Vec<(u16, f64)> = Vec::new();
    for part in spec.split(',') {
        let (code, weight) = part.split_once(':').unwrap_or((part, "1"));
        match (code.parse::<u16>(), weight.parse::<f64>()) {
            (Ok(code), Ok(weight)) if (100..=599).contains(&code) && weight >= 0.0 => {
                choices.push((code, weight));
            }
            _ => return Answer::error(400, "status codes are 100 to 599, weights numbers >= 0"),
        }
    }
    let total: f64 = choices.iter().map(|(_, w)| w).sum();
    let mut pick = Rng::new(number(request.param("seed"))).unit() * total;
    let code = choices
        .iter()
        .find(|(_, weight)| {
            pick -= weight;
            pick < 0.0
        })
        .or(choices.last())
        .map_or(200, |(code, _)| *code);
    let mut answer = Answer::new(code, "text/plain; charset=utf-8", Vec::new());
    match code {
        // A 1xx cannot be a final answer; say so rather than send one.
        100..=199 => {
            return Answer::error(400, "1xx codes are interim; see /probe/http/early-hints");
        }
        301 | 302 | 303 | 307 | 308 => answer = answer.header("Location", "/probe/redirect/1"),
        401 => answer = answer.header("WWW-Authenticate", "Basic realm=\"Fake Realm\""),
        _ => {}
    }
    answer
}

/// `/redirect/n` (relative), `/absolute-redirect/n`; `?status=307` picks the code.
fn redirect(kind: &str, n: Option<&str>, request: &ProbeRequest) -> Answer {
    let Some(n) = number::<u32>(n).filter(|n| *n <= MAX_HOPS) else {
        return Answer::error(400, &format!("give a number of hops from 0 to {MAX_HOPS}"));
    };
    let code = number::<u16>(request.param("status")).unwrap_or(302);
    if !matches!(code, 301 | 302 | 303 | 307 | 308) {
        return Answer::error(400, "status is one of 301, 302, 303, 307, 308");
    }
    if n == 0 {
        return Answer::json(200, &json!({ "redirects": "done" }));
    }
    let query = request
        .param("status")
        .map_or_else(String::new, |s| format!("?status={s}"));
    let next = format!("/probe/{kind}/{}{query}", n - 1);
    let location = if kind == "absolute-redirect" {
        format!(
            "http://{}{next}",
            request.header("host").unwrap_or("localhost")
        )
    } else {
        next
    };
    Answer::new(code, "text/plain; charset=utf-8", Vec::new()).header("Location", location)
}

/// `/redirect-to?url=/probe/anything&status_code=307`: only to this server (a relative URL or
/// this Host), so a probe never sends a client elsewhere.
fn redirect_to(request: &ProbeRequest) -> Answer {
    let url = decode(request.param("url").unwrap_or("/probe/get"));
    let host = request.header("host").unwrap_or("");
    let here = url.starts_with('/') && !url.starts_with("//")
        || ["http://", "https://"].iter().any(|scheme| {
            url.strip_prefix(scheme)
                .is_some_and(|rest| rest.split('/').next() == Some(host))
        });
    if !here {
        return Answer::error(
            400,
            "redirect-to only redirects to this server (a path or this Host)",
        );
    }
    let code = number::<u16>(request.param("status_code")).unwrap_or(302);
    if !(300..=399).contains(&code) {
        return Answer::error(400, "status_code is a 3xx");
    }
    Answer::new(code, "text/plain; charset=utf-8", Vec::new()).header("Location", url)
}

/// `/drip?numbytes=10&duration=2&delay=0&code=200`: the bytes spread evenly over `duration`.
async fn drip(request: &ProbeRequest, conn: &mut RawConnection) -> Result<(), String> {
    let n = number::<usize>(request.param("numbytes"))
        .unwrap_or(10)
        .min(MAX_BYTES);
    let duration = Duration::from_secs_f64(
        number::<f64>(request.param("duration"))
            .unwrap_or(2.0)
            .clamp(0.0, MAX_DELAY.as_secs_f64()),
    );
    let delay = Duration::from_secs_f64(
        number::<f64>(request.param("delay"))
            .unwrap_or(0.0)
            .clamp(0.0, MAX_DELAY.as_secs_f64()),
    );
    let code = number::<u16>(request.param("code"))
        .filter(|c| (200..=599).contains(c))
        .unwrap_or(200);
    tokio::time::sleep(delay).await;
    let head = format!(
        "HTTP/1.1 {code} {}\r\nServer: duplex-probe\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n",
        reason(code)
    );
    write_all(&mut conn.io, head.as_bytes()).await?;
    if n == 0 {
        return Ok(());
    }
    // At most 1000 writes, whatever numbytes is.
    let piece = n.div_ceil(1000).max(1);
    let pieces = n.div_ceil(piece);
    let pause = duration / u32::try_from(pieces).unwrap_or(u32::MAX);
    let bytes = vec![b'*'; n];
    for part in bytes.chunks(piece) {
        write_all(&mut conn.io, part).await?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// `/stream/n`: n JSON lines, each its own chunk.
async fn stream(
    n: Option<&str>,
    request: &ProbeRequest,
    conn: &mut RawConnection,
) -> Result<(), String> {
    let n = number::<usize>(n).unwrap_or(10).min(MAX_LINES);
    let head = "HTTP/1.1 200 OK\r\nServer: duplex-probe\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    write_all(&mut conn.io, head.as_bytes()).await?;
    let base = view(request, conn, None);
    for id in 0..n {
        let mut line = base.clone();
        if let Value::Object(map) = &mut line {
            map.insert("id".into(), Value::from(id));
        }
        let mut text = line.to_string();
        text.push('\n');
        write_all(
            &mut conn.io,
            format!("{:x}\r\n{text}\r\n", text.len()).as_bytes(),
        )
        .await?;
    }
    write_all(&mut conn.io, b"0\r\n\r\n").await
}

/// `/range/n`: n bytes `abc…z` repeated, honouring one `Range: bytes=a-b` (206, or 416).
fn range(n: Option<&str>, request: &ProbeRequest) -> Answer {
    let n = number::<usize>(n).unwrap_or(26).min(MAX_BYTES);
    let body: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
    let etag = format!("\"range{n}\"");
    let full = Answer::new(200, "application/octet-stream", body.clone())
        .header("Accept-Ranges", "bytes")
        .header("ETag", etag.clone());
    let Some(spec) = request
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
    else {
        return full;
    };
    if spec.contains(',') {
        // Several ranges: answering the whole is allowed (RFC 9110 §14.2).
        return full;
    }
    let (start, end) = spec.split_once('-').unwrap_or((spec, ""));
    let (start, end) = match (start.trim().parse::<usize>(), end.trim().parse::<usize>()) {
        (Ok(s), Ok(e)) => (s, e.min(n.saturating_sub(1))),
        (Ok(s), Err(_)) => (s, n.saturating_sub(1)),
        (Err(_), Ok(suffix)) => (n.saturating_sub(suffix), n.saturating_sub(1)),
        _ => return full,
    };
    if n == 0 || start >= n || start > end {
        return Answer::new(416, "text/plain; charset=utf-8", Vec::new())
            .header("Content-Range", format!("bytes */{n}"));
    }
    Answer::new(206, "application/octet-stream", body[start..=end].to_vec())
        .header("Accept-Ranges", "bytes")
        .header("ETag", etag)
        .header("Content-Range", format!("bytes {start}-{end}/{n}"))
}

/// `/gzip`, `/deflate` (zlib, as httpbin), `/brotli`: the JSON view, encoded.
fn encoded(name: &str, request: &ProbeRequest, conn: &RawConnection) -> Answer {
    let mut value = view(request, conn, None);
    if let Value::Object(map) = &mut value {
        let flag = match name {
            "gzip" => "gzipped",
            "deflate" => "deflated",
            _ => "brotli",
        };
        map.insert(flag.into(), Value::Bool(true));
        map.insert("method".into(), Value::String(request.method.clone()));
    }
    let text = serde_json::to_vec_pretty(&value).unwrap_or_default();
    let compressed = match name {
        "gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&text).and_then(|()| encoder.finish())
        }
        "deflate" => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&text).and_then(|()| encoder.finish())
        }
        _ => brotli_compress(&text),
    };
    match compressed {
        Ok(bytes) => Answer::new(200, "application/json", bytes).header(
            "Content-Encoding",
            if name == "deflate" {
                "deflate"
            } else if name == "gzip" {
                "gzip"
            } else {
                "br"
            },
        ),
        Err(err) => Answer::error(500, &format!("cannot compress: {err}")),
    }
}

/// Brotli's encoder state is large: kept on the heap and out of the callers' stack frames.
#[inline(never)]
fn brotli_compress(text: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = Box::new(brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22));
    encoder.write_all(text)?;
    encoder.flush()?;
    Ok(encoder.into_inner())
}

/// `/cookies`, `/cookies/set?name=value`, `/cookies/delete?name`.
fn cookies(action: Option<&str>, request: &ProbeRequest) -> Answer {
    let pairs = || request.query.split('&').filter(|p| !p.is_empty());
    match action {
        None => {
            let mut cookies = Map::new();
            for pair in request
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
                .flat_map(|(_, v)| v.split(';'))
            {
                let (name, value) = pair.trim().split_once('=').unwrap_or((pair.trim(), ""));
                if !name.is_empty() {
                    cookies.insert(name.to_owned(), Value::String(value.to_owned()));
                }
            }
            Answer::json(200, &json!({ "cookies": cookies }))
        }
        Some("set") => {
            let mut answer = Answer::new(302, "text/plain; charset=utf-8", Vec::new())
                .header("Location", "/probe/cookies");
            for pair in pairs() {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                answer = answer.header(
                    "Set-Cookie",
                    format!("{}={}; Path=/", cookie_safe(name), cookie_safe(value)),
                );
            }
            answer
        }
        Some("delete") => {
            let mut answer = Answer::new(302, "text/plain; charset=utf-8", Vec::new())
                .header("Location", "/probe/cookies");
            for pair in pairs() {
                let name = pair.split_once('=').map_or(pair, |(n, _)| n);
                answer = answer.header(
                    "Set-Cookie",
                    format!(
                        "{}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
                        cookie_safe(name)
                    ),
                );
            }
            answer
        }
        Some(_) => Answer::error(404, "cookies, cookies/set or cookies/delete"),
    }
}

/// A cookie name or value as given, minus what would break the header.
fn cookie_safe(text: &str) -> String {
    decode(text)
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',' | '"' | '\\'))
        .collect()
}

fn basic_auth(args: &[&str], request: &ProbeRequest) -> Answer {
    let (Some(user), Some(password)) = (args.first(), args.get(1)) else {
        return Answer::error(404, "basic-auth/USER/PASSWORD");
    };
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let given = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::trim);
    if given == Some(expected.as_str()) {
        Answer::json(200, &json!({ "authenticated": true, "user": user }))
    } else {
        Answer::new(401, "text/plain; charset=utf-8", Vec::new())
            .header("WWW-Authenticate", "Basic realm=\"Fake Realm\"")
    }
}

fn bearer(request: &ProbeRequest) -> Answer {
    match request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(token) => Answer::json(200, &json!({ "authenticated": true, "token": token })),
        None => Answer::new(401, "text/plain; charset=utf-8", Vec::new())
            .header("WWW-Authenticate", "Bearer"),
    }
}

/// `/etag/{etag}`: 304 when If-None-Match has it (or `*`), 412 when If-Match lacks it.
fn etag(tag: &str, request: &ProbeRequest) -> Answer {
    let quoted = format!("\"{}\"", tag.replace('"', ""));
    let listed = |header: &str| {
        request.header(header).map(|value| {
            value
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == quoted || t == "*")
        })
    };
    if listed("if-none-match") == Some(true) {
        return Answer::new(304, "application/json", Vec::new()).header("ETag", quoted);
    }
    if listed("if-match") == Some(false) {
        return Answer::new(412, "application/json", Vec::new());
    }
    Answer::json(200, &json!({ "etag": tag })).header("ETag", quoted)
}

/// `/cache`: 304 to any conditional request; `/cache/n`: `Cache-Control: public, max-age=n`.
fn cache(max_age: Option<&str>, request: &ProbeRequest) -> Answer {
    if let Some(n) = number::<u64>(max_age) {
        return Answer::json(200, &json!({ "max_age": n }))
            .header("Cache-Control", format!("public, max-age={n}"));
    }
    if request.header("if-modified-since").is_some() || request.header("if-none-match").is_some() {
        return Answer::new(304, "application/json", Vec::new());
    }
    Answer::json(200, &json!({ "cached": false }))
        .header("Last-Modified", "Tue, 01 Dec 2026 00:00:00 GMT")
        .header("ETag", "\"duplex-cache\"")
}

/// `/sse?count=5&delay_ms=500`: server-sent events, chunked.
async fn sse(request: &ProbeRequest, conn: &mut RawConnection) -> Result<(), String> {
    let count = number::<usize>(request.param("count"))
        .unwrap_or(5)
        .min(MAX_LINES);
    let delay = Duration::from_millis(number::<u64>(request.param("delay_ms")).unwrap_or(500))
        .min(MAX_DELAY / 2);
    let head = "HTTP/1.1 200 OK\r\nServer: duplex-probe\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    write_all(&mut conn.io, head.as_bytes()).await?;
    for id in 0..count {
        let event = format!("id: {id}\nevent: tick\ndata: {{\"n\":{id}}}\n\n");
        write_all(
            &mut conn.io,
            format!("{:x}\r\n{event}\r\n", event.len()).as_bytes(),
        )
        .await?;
        if id + 1 < count {
            tokio::time::sleep(delay).await;
        }
    }
    write_all(&mut conn.io, b"0\r\n\r\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, headers: &[(&str, &str)]) -> ProbeRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        ProbeRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            request_line: format!("GET {target} HTTP/1.1"),
        }
    }

    #[test]
    fn a_seed_repeats_bytes_and_status_choices() {
        assert_eq!(Rng::new(Some(7)).fill(100), Rng::new(Some(7)).fill(100));
        assert_ne!(Rng::new(Some(7)).fill(100), Rng::new(Some(8)).fill(100));
        let pick = |seed: &str| {
            status(
                "200:1,500:1",
                &request(&format!("/probe/status?seed={seed}"), &[]),
            )
            .status
        };
        let picks: Vec<u16> = (0..40).map(|s| pick(&s.to_string())).collect();
        assert!(picks.contains(&200) && picks.contains(&500), "{picks:?}");
        assert_eq!(pick("3"), pick("3"));
        assert_eq!(status("418", &request("/", &[])).status, 418);
        assert_eq!(status("99", &request("/", &[])).status, 400);
    }

    #[test]
    fn ranges_are_honoured_or_refused() {
        let get = |range: &str| range_answer(range);
        fn range_answer(range: &str) -> (u16, Vec<u8>, Option<String>) {
            let answer = super::range(Some("26"), &request("/probe/range/26", &[("Range", range)]));
            let content_range = answer
                .headers
                .iter()
                .find(|(n, _)| *n == "Content-Range")
                .map(|(_, v)| v.clone());
            (answer.status, answer.body, content_range)
        }
        assert_eq!(
            get("bytes=0-2"),
            (206, b"abc".to_vec(), Some("bytes 0-2/26".into()))
        );
        assert_eq!(
            get("bytes=24-"),
            (206, b"yz".to_vec(), Some("bytes 24-25/26".into()))
        );
        assert_eq!(
            get("bytes=-3"),
            (206, b"xyz".to_vec(), Some("bytes 23-25/26".into()))
        );
        assert_eq!(get("bytes=30-40").0, 416);
        assert_eq!(get("bytes=0-1,3-4").0, 200);
    }

    #[test]
    fn redirects_stay_on_this_server() {
        let to = |url: &str| {
            redirect_to(&request(
                &format!("/probe/redirect-to?url={url}"),
                &[("Host", "127.0.0.1:8000")],
            ))
            .status
        };
        assert_eq!(to("/probe/get"), 302);
        assert_eq!(to("http://127.0.0.1:8000/probe/get"), 302);
        assert_eq!(to("http://example.com/"), 400);
        assert_eq!(to("//example.com/"), 400);
        let hop = redirect(
            "absolute-redirect",
            Some("2"),
            &request("/x?status=307", &[("Host", "h:1")]),
        );
        assert_eq!(hop.status, 307);
        assert!(hop.headers.iter().any(
            |(n, v)| *n == "Location" && v == "http://h:1/probe/absolute-redirect/1?status=307"
        ));
        assert_eq!(
            redirect("redirect", Some("21"), &request("/", &[])).status,
            400
        );
    }

    #[test]
    fn validators_answer_304_and_412() {
        let etag_status =
            |headers: &[(&str, &str)]| etag("abc", &request("/probe/etag/abc", headers)).status;
        assert_eq!(etag_status(&[]), 200);
        assert_eq!(etag_status(&[("If-None-Match", "\"abc\"")]), 304);
        assert_eq!(etag_status(&[("If-None-Match", "W/\"abc\", \"x\"")]), 304);
        assert_eq!(etag_status(&[("If-Match", "\"x\"")]), 412);
        assert_eq!(
            cache(None, &request("/", &[("If-Modified-Since", "x")])).status,
            304
        );
    }

    #[test]
    fn auth_checks_the_credentials() {
        let auth = |value: &str| {
            basic_auth(&["u", "p"], &request("/", &[("Authorization", value)])).status
        };
        assert_eq!(auth("Basic dTpw"), 200);
        assert_eq!(auth("Basic dTpx"), 401);
        assert_eq!(
            bearer(&request("/", &[("Authorization", "Bearer t")])).status,
            200
        );
        assert_eq!(bearer(&request("/", &[])).status, 401);
    }
}
