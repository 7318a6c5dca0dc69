//! Replays every exchange captured from the FastAPI original (`tests/fixtures/golden_http.json`,
//! a copy of `shared/reference/golden_http.json`) against duplex over plain HTTP, and compares
//! status, body and the headers that carry meaning. Exchanges listed in the README's
//! "Differences from the FastAPI original" are checked against duplex's documented answer.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{RawResponse, TestApp, TestResult, spawn_app, spawn_app_with};

const GOLDEN: &str = include_str!("../fixtures/golden_http.json");

/// Headers whose values are part of the contract (`date`, `server`, `etag`, `last-modified` and
/// multipart boundaries change per run).
const MEANINGFUL: &[&str] = &[
    "content-type",
    "content-length",
    "allow",
    "location",
    "accept-ranges",
    "content-range",
    "connection",
];

/// The validators the original happened to send during the capture; requests that quote them
/// are re-pointed at duplex's own.
const REFERENCE_ETAG: &str = "\"9c2e9b9344e6afb3a9848bae29fb0607\"";
const REFERENCE_LAST_MODIFIED: &str = "Mon, 23 Nov 2026 21:30:15 GMT";

/// The documentation pages with local asset paths.
const SWAGGER_UI_PAGE: &str = include_str!("../../src/apps/guide/docs/docs.html");
const SWAGGER_UI_LENGTH: &str = "918";
const REDOC_PAGE: &str = include_str!("../../src/apps/guide/docs/redoc.html");
const REDOC_LENGTH: &str = "715";

/// duplex's OpenAPI document: the original's, plus `/echo/raw`.
const OPENAPI: &str = include_str!("../../src/apps/guide/docs/openapi.json");
const OPENAPI_LENGTH: &str = "8178";

/// duplex's documented answer where it deliberately differs from the original.
struct Documented {
    status: u16,
    body: DocBody,
    /// Meaningful headers that differ: `None` means absent.
    headers: &'static [(&'static str, Option<&'static str>)],
}

enum DocBody {
    /// Same bytes as the original.
    Same,
    Exact(&'static str),
}

const INVALID: DocBody = DocBody::Exact("Invalid HTTP request received.");
/// hyper's own answer to a request head it cannot parse: a status, `content-length: 0`, close.
const HYPER_400: Documented = Documented {
    status: 400,
    body: DocBody::Exact(""),
    headers: &[
        ("content-length", Some("0")),
        ("content-type", None),
        ("connection", Some("close")),
    ],
};
const HYPER_431: Documented = Documented {
    status: 431,
    body: DocBody::Exact(""),
    headers: &[
        ("content-length", Some("0")),
        ("content-type", None),
        ("connection", Some("close")),
    ],
};
const ALLOW_GET_HEAD: Documented = Documented {
    status: 405,
    body: DocBody::Same,
    headers: &[("allow", Some("GET, HEAD"))],
};
const NOT_MODIFIED: Documented = Documented {
    status: 304,
    body: DocBody::Exact(""),
    headers: &[
        ("content-type", None),
        ("content-length", None),
        ("accept-ranges", None),
    ],
};
const PARSE_ERROR_400: Documented = Documented {
    status: 400,
    body: DocBody::Exact(r#"{"detail":"There was an error parsing the body"}"#),
    headers: &[
        ("content-type", Some("application/json")),
        ("content-length", Some("48")),
    ],
};
/// duplex's own 400 for a framing error: h11's text with a length, then close.
const OWN_400: Documented = Documented {
    status: 400,
    body: INVALID,
    headers: &[
        ("content-length", Some("30")),
        ("connection", Some("close")),
    ],
};

/// 422 where the original fails to encode NaN/Infinity: pydantic's JSON-mode `null` instead.
const fn non_finite_as_null(body: &'static str) -> Documented {
    Documented {
        status: 422,
        body: DocBody::Exact(body),
        headers: &[("content-type", Some("application/json"))],
    }
}

/// HEAD answered with GET's headers and no body.
const fn head_like_get(
    status: u16,
    headers: &'static [(&'static str, Option<&'static str>)],
) -> Documented {
    Documented {
        status,
        body: DocBody::Exact(""),
        headers,
    }
}

/// Every deliberate difference, keyed by the exchange's name. The README lists the same ones.
fn documented(name: &str) -> Option<Documented> {
    Some(match name {
        // HEAD is answered like GET, without a body (the original: 405).
        "HEAD /status" => head_like_get(200, &[("allow", None), ("content-length", Some("15"))]),
        "HEAD /" => head_like_get(200, &[("allow", None)]),
        "HEAD /items/1" => head_like_get(200, &[("allow", None), ("content-length", Some("35"))]),
        "HEAD /static/data.txt" => head_like_get(
            200,
            &[
                ("allow", None),
                ("content-length", Some("38")),
                ("content-type", Some("text/plain; charset=utf-8")),
                ("accept-ranges", Some("bytes")),
            ],
        ),
        "HEAD /static/data.txt Range: bytes=0-3" => head_like_get(
            206,
            &[
                ("allow", None),
                ("content-length", Some("4")),
                ("content-type", Some("text/plain; charset=utf-8")),
                ("accept-ranges", Some("bytes")),
                ("content-range", Some("bytes 0-3/38")),
            ],
        ),
        // 405 lists HEAD too, because it is served.
        "POST /static/data.txt"
        | "POST /status (405)"
        | "PUT /status"
        | "DELETE /items/1"
        | "OPTIONS /"
        | "PATCH /"
        | "get / (lowercase method)"
        | "FOO / (unknown method)" => ALLOW_GET_HEAD,
        // Conditional GET (the original always sends 200).
        "GET /static/data.txt If-None-Match: *"
        | "GET /static/data.txt If-Modified-Since: future"
        | "GET /static/data.txt If-None-Match: <etag>"
        | "GET /static/data.txt If-Modified-Since: <last-modified>" => NOT_MODIFIED,
        // Output Python cannot encode (the original: 500).
        "POST /items '{\"name\":\"x\",\"is_offer\":NaN}'"
        | "POST /items '{\"name\":\"x\",\"is_offer\":Infinity}'"
        | "POST /items '{\"name\":\"x\",\"is_offer\":-Infinity}'" => non_finite_as_null(
            r#"{"detail":[{"type":"bool_type","loc":["body","is_offer"],"msg":"Input should be a valid boolean","input":null}]}"#,
        ),
        "POST /items '{\"name\":NaN}'" | "POST /items '{\"name\":1e400}'" => non_finite_as_null(
            r#"{"detail":[{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":null}]}"#,
        ),
        "POST /items {\"is_offer\":NaN} (NaN echoed in missing-input)" => {
            non_finite_as_null(concat!(
                r#"{"detail":[{"type":"missing","loc":["body","name"],"msg":"Field required","input":{"is_offer":null}},"#,
                r#"{"type":"bool_type","loc":["body","is_offer"],"msg":"Input should be a valid boolean","input":null}]}"#
            ))
        }
        "POST /items lone surrogate {\"name\":\"\\ud800\"}"
        | "POST /items Content-Type: text/plain + invalid UTF-8 body" => PARSE_ERROR_400,
        // Malformed requests that duplex detects itself: a complete 400 with a length, then close.
        "POST /items Transfer-Encoding: chunked (bad chunk size)"
        | "missing Host header (HTTP/1.1)"
        | "two Host headers"
        | "non-ASCII raw bytes in path" => OWN_400,
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
        "empty request line then GET" => Documented {
            status: 200,
            body: DocBody::Exact(r#"{"status":"ok"}"#),
            headers: &[
                ("content-type", Some("application/json")),
                ("content-length", Some("15")),
            ],
        },
        // HTTP/2 prior knowledge with --no-http2: one 505 explaining it, then close (the
        // original answers the preface's `PRI *` line with 404, then 400).
        "HTTP/2 prior-knowledge preface" => Documented {
            status: 505,
            body: DocBody::Exact(
                "HTTP/2 is not supported; this server speaks HTTP/1.1 (and HTTP/1.0).",
            ),
            headers: &[
                ("connection", Some("close")),
                ("content-type", Some("text/plain; charset=utf-8")),
            ],
        },
        // Malformed request heads: hyper's 400 (no body) instead of h11's.
        "HTTP/0.9 style 'GET /'"
        | "header line without colon"
        | "header with space before colon"
        | "header name with invalid char"
        | "header value with NUL"
        | "GARBAGE request line"
        | "space in path"
        | "POST /items Transfer-Encoding: gzip (unsupported)"
        | "POST /items two Content-Length (different)"
        | "POST /items Content-Length: -1"
        | "POST /items Content-Length: abc" => HYPER_400,
        // Accepted by h11, refused here (RFC 9112 allows rejecting obs-fold; only HTTP/1.0 and
        // 1.1 exist for HTTP/1.x syntax).
        "obs-fold header continuation" | "HTTP/2.0 request line" | "HTTP/1.2 request line" => {
            HYPER_400
        }
        // Request heads over 16 KiB: 431 (the original accepts them when they arrive in one read).
        "100 KB header value"
        | "16384 B header value"
        | "17000 B header value"
        | "65000 B header value"
        | "20 KB URL" => HYPER_431,
        // The OpenAPI document also describes duplex's own routes: /echo/raw, the inspector's
        // (with --inspect), the probes (with --probes) and /tls/clienthello (--tls-probes).
        "GET /openapi.json" => Documented {
            status: 200,
            body: DocBody::Exact(OPENAPI),
            headers: &[("content-length", Some(OPENAPI_LENGTH))],
        },
        "HEAD /openapi.json" => Documented {
            status: 200,
            body: DocBody::Exact(""),
            headers: &[("content-length", Some(OPENAPI_LENGTH))],
        },
        // The documentation pages load their assets from duplex, not from CDNs (offline).
        "GET /docs" => Documented {
            status: 200,
            body: DocBody::Exact(SWAGGER_UI_PAGE),
            headers: &[("content-length", Some(SWAGGER_UI_LENGTH))],
        },
        "GET /redoc" => Documented {
            status: 200,
            body: DocBody::Exact(REDOC_PAGE),
            headers: &[("content-length", Some(REDOC_LENGTH))],
        },
        // RFC 9112 §3.2.2: a server MUST accept the absolute form (the original: 404).
        "GET http://127.0.0.1/status (absolute-form)" => Documented {
            status: 200,
            body: DocBody::Exact(r#"{"status":"ok"}"#),
            headers: &[("content-length", Some("15"))],
        },
        _ => return None,
    })
}

/// Documented answers with fewer responses than the original sent.
fn documented_count(name: &str) -> Option<usize> {
    (name == "HTTP/2 prior-knowledge preface").then_some(1)
}

/// Exchanges with more than one response and a documented difference in a later one.
fn documented_later(name: &str, index: usize) -> Option<Documented> {
    match (name, index) {
        ("pipelined GET after 400-error (garbage)", 1) => Some(HYPER_400),
        _ => None,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The exact request bytes of an exchange, rebuilt and checked against its recorded hash.
fn request_bytes(entry: &Value) -> Result<Vec<u8>, String> {
    let bytes = if let Some(text) = entry["request"].as_str() {
        // UTF-8 text; the hash check below proves these are the captured bytes.
        text.as_bytes().to_vec()
    } else if let Some(b64) = entry["request_b64"].as_str() {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())?
    } else if let Some(head) = entry["request_head"].as_str() {
        // A body of one repeated letter inside `{"name":"…"}`, optionally followed by a field.
        let total = entry["request_len"].as_u64().ok_or("no request_len")? as usize;
        let letter = head.chars().last().ok_or("empty head")?;
        let suffix = if entry["name"]
            .as_str()
            .is_some_and(|n| n.contains("is_offer"))
        {
            "\",\"is_offer\":\"maybe\"}"
        } else {
            "\"}"
        };
        let mut bytes = head.as_bytes().to_vec();
        let fill = total - bytes.len() - suffix.len();
        bytes.extend(std::iter::repeat_n(letter as u8, fill));
        bytes.extend_from_slice(suffix.as_bytes());
        bytes
    } else {
        return Err("no request".into());
    };
    let expected = entry["request_sha256"].as_str().unwrap_or_default();
    if sha256_hex(&bytes) != expected {
        return Err(format!(
            "rebuilt request does not match its sha256 ({} bytes)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// A reference response: status, meaningful headers, body hash.
struct Reference {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body_sha256: String,
    body: Option<Vec<u8>>,
}

fn reference(entry: &Value) -> Reference {
    let status = entry["status_line"]
        .as_str()
        .and_then(|s| s.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in entry["headers"].as_array().into_iter().flatten() {
        let name = pair[0].as_str().unwrap_or_default().to_ascii_lowercase();
        let value = pair[1].as_str().unwrap_or_default().to_owned();
        headers.entry(name).or_default().push(value);
    }
    let body = entry
        .get("body_dechunked")
        .or(entry.get("body"))
        .and_then(Value::as_str)
        .filter(|_| entry.get("body_omitted").is_none())
        .map(|s| s.as_bytes().to_vec());
    let body_sha256 = match (&body, entry.get("body_dechunked")) {
        (Some(body), Some(_)) => sha256_hex(body),
        _ => entry["body_sha256"].as_str().unwrap_or_default().to_owned(),
    };
    Reference {
        status,
        headers,
        body_sha256,
        body,
    }
}

fn meaningful(headers: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if MEANINGFUL.contains(&name.as_str()) {
            map.entry(name.clone()).or_default().push(value.clone());
        }
    }
    map
}

/// Replaces a multipart boundary and a redirect's ephemeral port so they compare equal.
fn normalise(value: &str, port: u16) -> String {
    if let Some((prefix, _)) = value.split_once("boundary=") {
        return format!("{prefix}boundary=<B>");
    }
    if let Some(at) = value.find("127.0.0.1:") {
        let rest = &value[at + 10..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            return format!("{}127.0.0.1:{port}{}", &value[..at], &rest[digits..]);
        }
    }
    value.to_owned()
}

fn boundary(response: &RawResponse) -> Option<String> {
    response
        .header("content-type")?
        .split_once("boundary=")
        .map(|(_, b)| b.to_owned())
}

/// Compares one response; returns the differences found.
fn compare(
    ours: &RawResponse,
    reference: &Reference,
    documented: Option<&Documented>,
    port: u16,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expected_headers: BTreeMap<String, Vec<String>> = reference
        .headers
        .iter()
        .filter(|(name, _)| MEANINGFUL.contains(&name.as_str()))
        .map(|(name, values)| {
            (
                name.clone(),
                values.iter().map(|v| normalise(v, port)).collect(),
            )
        })
        .collect();
    let expected_status = documented.map_or(reference.status, |d| d.status);
    if ours.status != expected_status {
        problems.push(format!(
            "status {} (expected {expected_status})",
            ours.status
        ));
    }

    // Body.
    match documented.map(|d| &d.body) {
        Some(DocBody::Exact(text)) => {
            if ours.body != text.as_bytes() {
                problems.push(format!("body {:?} (expected {text:?})", ours.text()));
            }
            // A documented body has its own length (HEAD keeps GET's length).
            if let Some(doc) = documented
                && !doc.headers.iter().any(|(n, _)| *n == "content-length")
                && expected_headers.contains_key("content-length")
                && !text.is_empty()
            {
                expected_headers.insert("content-length".into(), vec![text.len().to_string()]);
            }
        }
        _ => {
            let mut body = ours.body.clone();
            if let (Some(ours_b), Some(reference_body)) = (boundary(ours), &reference.body) {
                // Put the reference boundary into our body so the bytes compare.
                let text = String::from_utf8_lossy(reference_body);
                if let Some(reference_b) =
                    text.strip_prefix("--").and_then(|t| t.split("\r\n").next())
                {
                    body = String::from_utf8_lossy(&body)
                        .replace(&ours_b, reference_b)
                        .into_bytes();
                }
            }
            if sha256_hex(&body) != reference.body_sha256 {
                let shown: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                let expected: String = reference
                    .body
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).chars().take(200).collect())
                    .unwrap_or_else(|| "<omitted>".into());
                problems.push(format!("body {shown:?} (expected {expected:?})"));
            }
        }
    }

    // Headers.
    if let Some(doc) = documented {
        for (name, value) in doc.headers {
            match value {
                Some(value) => {
                    expected_headers.insert((*name).to_owned(), vec![(*value).to_owned()]);
                }
                None => {
                    expected_headers.remove(*name);
                }
            }
        }
    }
    let ours_headers: BTreeMap<String, Vec<String>> = meaningful(&ours.headers)
        .into_iter()
        .map(|(n, vs)| (n, vs.iter().map(|v| normalise(v, port)).collect()))
        .collect();
    if ours_headers != expected_headers {
        problems.push(format!(
            "headers {ours_headers:?} (expected {expected_headers:?})"
        ));
    }
    problems
}

/// The validators duplex sends for the data file, to substitute for the original's.
async fn our_validators(app: &TestApp) -> std::io::Result<(String, String)> {
    let response = app.get("/static/data.txt").await?;
    Ok((
        response.header("etag").unwrap_or_default().to_owned(),
        response
            .header("last-modified")
            .unwrap_or_default()
            .to_owned(),
    ))
}

fn replace_bytes(haystack: &[u8], from: &str, to: &str) -> Vec<u8> {
    let from = from.as_bytes();
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to.as_bytes());
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[tokio::test]
#[expect(
    clippy::print_stdout,
    reason = "the issue asks for this summary line in the test output"
)]
async fn golden_exchanges_match_the_original_or_the_documented_difference() -> TestResult {
    let entries: Vec<Value> = serde_json::from_str(GOLDEN)?;
    // HTTP/1.1 only, as the original: by default the HTTP/2 preface starts h2c (tests/api/http2.rs).
    let app = spawn_app_with(false, &["--no-http2"]).await;
    let port = app.addr.port();
    let (etag, last_modified) = our_validators(&app).await?;
    let (mut identical, mut differences, mut mismatches) = (0, 0, Vec::new());

    for entry in &entries {
        let name = entry["name"].as_str().unwrap_or_default();
        let note = entry["note"].as_str().unwrap_or_default();
        // Timing probes: `golden_timing_probes_match_the_original_or_the_documented_limit`.
        if note.starts_with("SLOW") || note.starts_with("IDLE") || note.starts_with("server waits")
        {
            continue;
        }
        let request = match request_bytes(entry) {
            Ok(request) => request,
            Err(err) => {
                mismatches.push(format!("{name}: {err}"));
                continue;
            }
        };
        let request = replace_bytes(&request, REFERENCE_ETAG, &etag);
        let request = replace_bytes(&request, REFERENCE_LAST_MODIFIED, &last_modified);

        let mut expected = vec![reference(entry)];
        for further in entry["further_responses"].as_array().into_iter().flatten() {
            expected.push(reference(further));
        }
        expected.truncate(documented_count(name).unwrap_or(expected.len()));
        let responses = match app.exchange(&request, expected.len()).await {
            Ok(responses) => responses,
            Err(err) => {
                mismatches.push(format!("{name}: {err}"));
                continue;
            }
        };
        if responses.len() != expected.len() {
            mismatches.push(format!(
                "{name}: {} responses (expected {})",
                responses.len(),
                expected.len()
            ));
            continue;
        }
        let mut is_documented = false;
        let mut problems = Vec::new();
        for (index, (ours, reference)) in responses.iter().zip(&expected).enumerate() {
            let doc = if index == 0 {
                documented(name)
            } else {
                documented_later(name, index)
            };
            is_documented |= doc.is_some();
            problems.extend(compare(ours, reference, doc.as_ref(), port));
        }
        if !problems.is_empty() {
            mismatches.push(format!("{name}: {}", problems.join("; ")));
        } else if is_documented {
            differences += 1;
        } else {
            identical += 1;
        }
    }

    println!(
        "golden: {identical} identical, {differences} documented differences, {} mismatches",
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );
    Ok(())
}

/// duplex's answer to a captured request sent in pieces: the same limits as when it arrives at
/// once (16 KiB heads), where the original's depended on how the bytes arrived. `None`: the
/// original's own answer (its status and body digest), as for the 1 MiB body.
fn slow_expectation(name: &str) -> Option<(u16, &'static str)> {
    Some(match name {
        "16000 B header value sent slowly (1 KiB pieces)" => (200, r#"{"status":"ok"}"#),
        "17000 B header value sent slowly (1 KiB pieces)"
        | "100000 B header value sent slowly (1 KiB pieces)"
        | "20 KB URL sent slowly (1 KiB pieces)" => (431, ""),
        _ => return None,
    })
}

/// The captured timing probes: requests sent in pieces, a body shorter than its
/// `content-length` (the server waits) and the idle keep-alive probe (closed after 5 s).
#[tokio::test]
async fn golden_timing_probes_match_the_original_or_the_documented_limit() -> TestResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let entries: Vec<Value> = serde_json::from_str(GOLDEN)?;
    let app = spawn_app(false).await;
    let mut probes = 0;
    for entry in &entries {
        let name = entry["name"].as_str().unwrap_or_default();
        let note = entry["note"].as_str().unwrap_or_default();
        let request = request_bytes(entry)?;
        if note.starts_with("SLOW") {
            let expected = slow_expectation(name);
            let piece = if note == "SLOW64" { 64 * 1024 } else { 1024 };
            let (mut reader, mut writer) = tokio::io::split(app.connect().await?);
            // The server may answer (431, 413) and close before the last piece; the writer
            // then stops while the response is read.
            let writer = tokio::spawn(async move {
                for chunk in request.chunks(piece) {
                    if writer.write_all(chunk).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            });
            let responses = crate::helpers::read_responses(&mut reader, 1, false).await?;
            writer.abort();
            let response = responses.first().ok_or(format!("{name}: no response"))?;
            let Some((status, body)) = expected else {
                let original = entry["status_line"].as_str().unwrap_or_default();
                assert!(
                    original.starts_with(&format!("HTTP/1.1 {} ", response.status)),
                    "{name}: {} where the original said {original}",
                    response.status
                );
                assert_eq!(
                    sha256_hex(&response.body),
                    entry["body_sha256"].as_str().unwrap_or_default(),
                    "{name}: the body differs from the original's"
                );
                probes += 1;
                continue;
            };
            assert_eq!(response.status, status, "{name}");
            assert_eq!(response.text(), body, "{name}");
            assert_eq!(
                response.header("content-length"),
                Some(body.len().to_string().as_str()),
                "{name}"
            );
            probes += 1;
        } else if note.starts_with("server waits") {
            // Like the original: no answer while the body is incomplete (until the body
            // timeout, 30 s by default; `limits.rs` tests that answer).
            let mut io = app.connect().await?;
            io.write_all(&request).await?;
            let mut byte = [0u8; 1];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(2), io.read(&mut byte)).await;
            assert!(read.is_err(), "{name}: answered before 2 s: {read:?}");
            probes += 1;
        } else if note.starts_with("IDLE") {
            let mut io = app.connect().await?;
            io.write_all(&request).await?;
            let responses = crate::helpers::read_responses(&mut io, 1, false).await?;
            assert_eq!(responses.first().map(|r| r.status), Some(200), "{name}");
            let answered = std::time::Instant::now();
            let mut rest = Vec::new();
            let closed = tokio::time::timeout(
                std::time::Duration::from_secs(15),
                io.read_to_end(&mut rest),
            )
            .await;
            let idle = answered.elapsed().as_secs_f64();
            assert!(closed.is_ok(), "{name}: still open after 15 s");
            assert!(rest.is_empty(), "{name}: unexpected bytes {rest:?}");
            // The original closed after 5.008 s.
            assert!(
                (4.5..8.0).contains(&idle),
                "{name}: closed after {idle:.3} s"
            );
            probes += 1;
        }
    }
    assert_eq!(probes, 7, "the fixture's timing probes");
    Ok(())
}

/// A documented difference found by `scripts/differential.sh`, not in the capture: a raw `#` in
/// the target. The original routes `/status#x` as a path (404); hyper drops the fragment.
#[tokio::test]
async fn a_fragment_in_the_target_is_dropped() -> TestResult {
    let app = spawn_app(false).await;
    let response = app.get("/status#x").await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), r#"{"status":"ok"}"#);
    Ok(())
}

#[test]
fn the_openapi_document_is_the_originals_plus_duplexs_own_routes() -> TestResult {
    assert_eq!(OPENAPI.len().to_string(), OPENAPI_LENGTH);
    assert_eq!(SWAGGER_UI_PAGE.len().to_string(), SWAGGER_UI_LENGTH);
    assert_eq!(REDOC_PAGE.len().to_string(), REDOC_LENGTH);
    let ours: serde_json::Value = serde_json::from_str(OPENAPI)?;
    let paths = ours["paths"].as_object().ok_or("no paths")?;
    let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "/",
            "/_duplex/",
            "/_duplex/events.json",
            "/echo/raw",
            "/items",
            "/items/{item_id}",
            "/probe/",
            "/probe/{probe}",
            "/static/data.txt",
            "/status",
            "/tls/clienthello"
        ]
    );
    assert!(
        paths["/echo/raw"]["get"]["description"]
            .as_str()
            .is_some_and(|text| text.contains("exact bytes of the request"))
    );
    Ok(())
}
