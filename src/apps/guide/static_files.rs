//! `GET /static/data.txt`: the lifespan's file, streamed from disk with Starlette's `FileResponse`
//! rules for ranges (single, multipart, 416, the 400 messages, `If-Range`) plus conditional GET.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE,
};
use http::{Response, StatusCode};

use crate::server::response::{self, TEXT_PLAIN};
use crate::server::{Body, Segment};

use super::file_watch::Watch;

/// Starlette ignores a `Range` header with more parts than this and sends the whole file.
const MAX_RANGES: usize = 100;

/// Files up to this size are opened, checked and read whole in one trip to the blocking pool;
/// larger ones are streamed. (Each `tokio::fs` step is its own trip, and for the guide's
/// 38-byte file those trips were most of the cost of a request.)
const READ_WHOLE_UP_TO: u64 = 64 * 1024;

/// A file version is trusted from its metadata only once it is this old: file times tick
/// coarsely (a few ms on many kernels), so two writes within one tick can leave the same times
/// behind (git's "racy" index entries have the same fix).
const SETTLED_AFTER: Duration = Duration::from_millis(50);

/// The file, read or ready to stream.
enum Source {
    Whole(Bytes),
    Stream(tokio::fs::File),
}

/// What identifies one version of a file without reading it: a write changes the change time
/// (which no user can set back), a replacement the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Old enough that a later write would show in the times.
    fn settled(&self) -> bool {
        let changed = UNIX_EPOCH
            + Duration::new(
                u64::try_from(self.ctime.0).unwrap_or(0),
                u32::try_from(self.ctime.1).unwrap_or(0),
            );
        SystemTime::now()
            .duration_since(changed)
            .is_ok_and(|age| age >= SETTLED_AFTER)
    }
}

/// The small file's bytes and validators, served while the file is the version they were
/// read from: no trip to the blocking pool, and a change on disk (content, size, times, modes,
/// a replacement, a removal) shows in the very next response.
///
/// Freshness is asked of a [`Watch`] on Linux (one read that finds no event) and of a `stat`
/// where there is none (another system, or the watch could not be made).
#[derive(Debug, Default)]
pub(crate) struct FileCache {
    state: Mutex<CacheState>,
    /// Tests turn the watch off to prove the `stat` fallback.
    #[cfg(test)]
    unwatched: bool,
}

#[derive(Debug, Default)]
struct CacheState {
    entry: Option<Arc<Cached>>,
    /// Of the file the entry was read from, started before it was read.
    watch: Option<Watch>,
    /// Changes the watch has reported: a load that began before one must not fill the cache
    /// (it may have read the file before the change and finish after a fresher load).
    changes: u64,
}

impl CacheState {
    fn watches(&self, path: &Path) -> bool {
        self.watch.as_ref().is_some_and(|watch| watch.is_of(path))
    }

    /// Asks the watch whether the file is unchanged; if not (or if it cannot tell, or there
    /// is no watch) forgets the entry and the watch, which follows the old file.
    fn unchanged(&mut self) -> bool {
        let Some(watch) = &self.watch else {
            return false;
        };
        match watch.changed() {
            Ok(false) => true,
            answer => {
                if let Err(err) = answer {
                    tracing::warn!(
                        "cannot read the change watch of {}: {err}; asking the file's metadata",
                        watch.path().display()
                    );
                }
                self.watch = None;
                self.entry = None;
                self.changes += 1;
                false
            }
        }
    }
}

/// What [`FileCache::begin_load`] hands to [`FileCache::put`].
#[derive(Debug, Clone, Copy)]
struct LoadTicket {
    changes: u64,
    watched: bool,
}

#[derive(Debug)]
struct Cached {
    version: Version,
    content: Bytes,
    validators: Validators,
    /// The headers of a plain GET's answer (200, the whole file), made once with the file:
    /// each such answer is a copy, dated now. Building the seven headers anew cost about
    /// 3,000 instructions per request (callgrind), most of the static file's extra over
    /// `/status`.
    head: HeaderMap,
}

impl Cached {
    fn new(version: Version, content: Bytes, validators: Validators) -> Self {
        // The headers exactly as `answer` makes them for a request with no condition or range.
        let sample = answer(
            Source::Whole(Bytes::new()),
            version.len,
            validators.clone(),
            &HeaderMap::new(),
            true,
        );
        Self {
            version,
            content,
            validators,
            head: sample.into_parts().0.headers,
        }
    }

    /// The file as `load` gives it: its bytes, size and validators.
    fn loaded(&self) -> (Source, u64, Validators) {
        (
            Source::Whole(self.content.clone()),
            self.version.len,
            self.validators.clone(),
        )
    }

    /// The answer to a request with no condition and no range: the template's headers with
    /// today's date, and the whole file (nothing for HEAD).
    fn whole(&self, head: bool) -> Response<Body> {
        let mut headers = self.head.clone();
        // `date` is the first field (`response::base`).
        if let Some(date) = headers.values_mut().next() {
            *date = response::date_now();
        }
        let body = if head {
            Body::empty()
        } else {
            Body::full(self.content.clone())
        };
        let mut response = Response::new(body);
        *response.headers_mut() = headers;
        response
    }
}

impl FileCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry, if it is of the file at `path` as it is now. The watch is asked under the
    /// lock: a worker that read the change and one that did not could otherwise answer
    /// differently.
    fn get(&self, path: &Path) -> Option<Arc<Cached>> {
        let mut state = self.lock();
        let entry = state.entry.clone()?;
        if state.watches(path) {
            return state.unchanged().then_some(entry);
        }
        drop(state);
        let meta = std::fs::metadata(path).ok()?;
        (entry.version == Version::of(&meta)).then_some(entry)
    }

    /// Called before the file is read: a watch on it from now on (made if there is none),
    /// and the count of changes seen so far. The watch is made outside the lock (its calls
    /// walk the path) so that a slow disk stalls this request only.
    fn begin_load(&self, path: &Path) -> LoadTicket {
        let mut state = self.lock();
        if state.watches(path) {
            state.unchanged();
        } else if state.watch.take().is_some() {
            state.changes += 1;
        }
        if state.watch.is_none() {
            // An entry is trusted only under a watch that began before it was read.
            state.entry = None;
            drop(state);
            let made = if self.watch_off() {
                None
            } else {
                match Watch::new(path) {
                    Ok(watch) => Some(watch),
                    // A missing file is answered with a 500 by the caller; other failures (a
                    // path through a symlink, a network file system, the watch limit) leave
                    // the cache to `stat`.
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                    Err(err) => {
                        tracing::debug!(
                            "no change watch on {}: {err}; its cache asks a `stat` per request",
                            path.display()
                        );
                        None
                    }
                }
            };
            state = self.lock();
            // Another load may have put its own meanwhile, made before this one's read too.
            if state.watch.is_none() {
                state.watch = made;
            }
        }
        LoadTicket {
            changes: state.changes,
            watched: state.watch.is_some(),
        }
    }

    /// Fills the cache with what a load read, unless a change was seen since it began. Without
    /// a watch only a settled version is kept: its times would show a later write.
    fn put(&self, ticket: LoadTicket, cached: Cached) {
        let mut state = self.lock();
        let fresh = match (ticket.watched, state.watch.is_some()) {
            (true, true) => state.changes == ticket.changes,
            (false, false) => cached.version.settled(),
            // The watch came or went meanwhile: the next load decides.
            _ => false,
        };
        if fresh {
            state.entry = Some(Arc::new(cached));
        }
    }

    #[cfg(test)]
    fn watch_off(&self) -> bool {
        self.unwatched
    }

    #[cfg(not(test))]
    fn watch_off(&self) -> bool {
        false
    }
}

/// Opens `path` (a regular file) and reads it whole if it is small: its contents, size,
/// modification time and version.
async fn open(path: &Path) -> std::io::Result<(Source, u64, SystemTime, Version)> {
    use std::io::Read as _;
    let path = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let version = Version::of(&meta);
        if meta.len() > READ_WHOLE_UP_TO {
            let file = tokio::fs::File::from_std(file);
            return Ok((Source::Stream(file), meta.len(), modified, version));
        }
        // At most the size just read, so the length we announce is the length we send even
        // if the file grows meanwhile.
        let mut content = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(meta.len()).read_to_end(&mut content)?;
        let size = content.len() as u64;
        Ok((Source::Whole(Bytes::from(content)), size, modified, version))
    });
    opened.await.map_err(std::io::Error::other)?
}

/// The file from the cache when it is unchanged, else from disk (and cached when it is small).
async fn load(path: &Path, cache: &FileCache) -> std::io::Result<(Source, u64, Validators)> {
    if let Some(hit) = cache.get(path) {
        return Ok(hit.loaded());
    }
    let ticket = cache.begin_load(path);
    let (source, size, modified, version) = open(path).await?;
    let validators = Validators::new(size, modified);
    if let Source::Whole(content) = &source
        && content.len() as u64 == version.len
    {
        cache.put(
            ticket,
            Cached::new(version, content.clone(), validators.clone()),
        );
    }
    Ok((source, size, validators))
}

/// Serves the file at `path` for a GET (`head` = false) or HEAD request.
pub(crate) async fn respond(
    path: &Path,
    cache: &FileCache,
    request: &HeaderMap,
    head: bool,
) -> Response<Body> {
    match load(path, cache).await {
        Ok((source, size, validators)) => answer(source, size, validators, request, head),
        Err(err) => internal_error(path, &err),
    }
}

/// Serves the file at `path` at once if the cache holds it as it is on disk now.
pub(crate) fn respond_cached(
    path: &Path,
    cache: &FileCache,
    request: &HeaderMap,
    head: bool,
) -> Option<Response<Body>> {
    let hit = cache.get(path)?;
    if !request.contains_key(RANGE) && !hit.validators.not_modified(request) {
        return Some(hit.whole(head));
    }
    let (source, size, validators) = hit.loaded();
    Some(answer(source, size, validators, request, head))
}

/// The answer to a GET or HEAD of the file loaded as `source`.
fn answer(
    source: Source,
    size: u64,
    validators: Validators,
    request: &HeaderMap,
    head: bool,
) -> Response<Body> {
    if validators.not_modified(request) {
        let builder = response::base(StatusCode::NOT_MODIFIED)
            .header(LAST_MODIFIED, validators.last_modified.clone())
            .header(ETAG, validators.etag.clone());
        return response::finish(builder, Body::empty());
    }

    let selection = match request.get(RANGE) {
        Some(range) if validators.if_range_allows(request.get(IF_RANGE)) => {
            match std::str::from_utf8(range.as_bytes()) {
                Ok(range) => parse_range_header(range, size),
                // Starlette reads headers as latin-1: non-ASCII can never spell "bytes".
                Err(_) => Err(RangeError::Malformed("Only support bytes range")),
            }
        }
        _ => Ok(Vec::new()),
    };
    let ranges = match selection {
        Ok(ranges) => ranges,
        Err(RangeError::Malformed(message)) => {
            return response::plain(StatusCode::BAD_REQUEST, message);
        }
        Err(RangeError::NotSatisfiable) => return not_satisfiable(size),
    };

    let (status, content_type, content_range, length, segments) = match ranges.as_slice() {
        [] => (
            StatusCode::OK,
            TEXT_PLAIN,
            None,
            size,
            vec![Segment::File {
                offset: 0,
                len: size,
            }],
        ),
        &[(start, end)] => (
            StatusCode::PARTIAL_CONTENT,
            TEXT_PLAIN,
            Some(format!("bytes {start}-{}/{size}", end - 1)),
            end - start,
            vec![Segment::File {
                offset: start,
                len: end - start,
            }],
        ),
        many => {
            let (content_type, length, segments) = multipart(many, size);
            (
                StatusCode::PARTIAL_CONTENT,
                content_type,
                None,
                length,
                segments,
            )
        }
    };

    let mut builder = response::base(status)
        .header(CONTENT_TYPE, content_type)
        .header(ACCEPT_RANGES, HeaderValue::from_static("bytes"))
        .header(CONTENT_LENGTH, response::content_length(length))
        .header(LAST_MODIFIED, validators.last_modified)
        .header(ETAG, validators.etag);
    if let Some(content_range) = content_range {
        builder = builder.header(CONTENT_RANGE, content_range);
    }
    // HEAD: hyper sends the headers only; skip the read entirely.
    let body = if head || length == 0 {
        Body::empty()
    } else {
        match source {
            Source::Whole(content) => Body::from_memory(&content, segments),
            Source::Stream(file) => Body::file_segments(file, segments),
        }
    };
    response::finish(builder, body)
}

fn internal_error(path: &Path, err: &std::io::Error) -> Response<Body> {
    tracing::error!(path = %path.display(), error = %err, "cannot serve the static file");
    response::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

fn not_satisfiable(size: u64) -> Response<Body> {
    let builder = response::base(StatusCode::RANGE_NOT_SATISFIABLE)
        .header(CONTENT_RANGE, format!("bytes */{size}"))
        .header(CONTENT_LENGTH, 0)
        .header(CONTENT_TYPE, TEXT_PLAIN);
    let mut response = response::finish(builder, Body::empty());
    // Python 3.11's phrase, as the original sends it.
    response
        .extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(
            b"Requested Range Not Satisfiable",
        ));
    response
}

/// The `multipart/byteranges` body of Starlette's `_handle_multiple_ranges`.
fn multipart(ranges: &[(u64, u64)], size: u64) -> (HeaderValue, u64, Vec<Segment>) {
    let boundary = random_boundary();
    let mut segments = Vec::with_capacity(ranges.len() * 3 + 1);
    let mut length = 0u64;
    let mut push = |segments: &mut Vec<Segment>, text: String| {
        length += text.len() as u64;
        segments.push(Segment::Bytes(Bytes::from(text)));
    };
    for (i, &(start, end)) in ranges.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        push(
            &mut segments,
            format!(
                "{lead}--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Range: bytes {start}-{}/{size}\r\n\r\n",
                end - 1
            ),
        );
        segments.push(Segment::File {
            offset: start,
            len: end - start,
        });
    }
    push(&mut segments, format!("\r\n--{boundary}--"));
    length += ranges.iter().map(|(start, end)| end - start).sum::<u64>();
    let content_type = HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
        .unwrap_or(TEXT_PLAIN);
    (content_type, length, segments)
}

/// 26 hex digits like Python's `secrets.token_hex(13)`; uniqueness, not secrecy, is what matters.
fn random_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut words = [0u64; 2];
    for (i, word) in words.iter_mut().enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_usize(i);
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        *word = hasher.finish();
    }
    let hex = format!("{:016x}{:016x}", words[0], words[1]);
    hex[..26].to_owned()
}

/// The validators of one file version.
#[derive(Debug, Clone)]
struct Validators {
    etag: HeaderValue,
    last_modified: HeaderValue,
    modified: SystemTime,
}

impl Validators {
    fn new(size: u64, modified: SystemTime) -> Self {
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        // Strong: a new mtime or size gives a new tag. (The original hashes the same inputs with
        // MD5; the value itself is not part of the contract.)
        let etag = format!(
            "\"{:x}-{:x}-{:x}\"",
            since_epoch.as_secs(),
            since_epoch.subsec_nanos(),
            size
        );
        Self {
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            last_modified: response::http_date(modified),
            modified,
        }
    }

    /// RFC 9110 §13.1.2/§13.1.3: `If-None-Match` (weak comparison) wins over `If-Modified-Since`.
    fn not_modified(&self, request: &HeaderMap) -> bool {
        let if_none_match: Vec<&HeaderValue> = request.get_all(IF_NONE_MATCH).iter().collect();
        if !if_none_match.is_empty() {
            let ours = strip_weak(self.etag.as_bytes());
            return if_none_match.iter().any(|value| {
                value.as_bytes().split(|&b| b == b',').any(|tag| {
                    let tag = tag.trim_ascii();
                    tag == b"*" || strip_weak(tag) == ours
                })
            });
        }
        let Some(since) = request
            .get(IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        else {
            return false;
        };
        // Last-Modified has one-second resolution; compare at that resolution.
        let modified_secs = self
            .modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let since_secs = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        modified_secs <= since_secs
    }

    /// Starlette's `_should_use_range`: exact match with the ETag or Last-Modified, never `W/`.
    fn if_range_allows(&self, if_range: Option<&HeaderValue>) -> bool {
        match if_range {
            None => true,
            Some(value) => {
                let value = value.as_bytes();
                !value.starts_with(b"W/")
                    && (value == self.etag.as_bytes() || value == self.last_modified.as_bytes())
            }
        }
    }
}

fn strip_weak(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

/// Why a `Range` header was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeError {
    /// 400 with Starlette's plain-text message.
    Malformed(&'static str),
    /// 416 with `content-range: bytes */size`.
    NotSatisfiable,
}

/// Starlette's `_parse_range_header`: half-open `(start, end)` ranges, sorted and merged; empty
/// means "send the whole file".
///
/// # Errors
/// [`RangeError`] with the original's message or status.
pub fn parse_range_header(header: &str, size: u64) -> Result<Vec<(u64, u64)>, RangeError> {
    let Some((units, spec)) = header.split_once('=') else {
        return Err(RangeError::Malformed("Malformed range header."));
    };
    if !units.trim().eq_ignore_ascii_case("bytes") {
        return Err(RangeError::Malformed("Only support bytes range"));
    }
    if spec.matches(',').count() + 1 > MAX_RANGES {
        return Ok(Vec::new());
    }
    let size_i = i128::from(size);
    let mut ranges: Vec<(i128, i128)> = spec
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            let (start, end) = part.split_once('-')?;
            let (start, end) = (start.trim(), end.trim());
            if start.is_empty() {
                let suffix = py_int(end)?;
                Some(((size_i - suffix).max(0), size_i))
            } else {
                let start = py_int(start)?;
                let end = if end.is_empty() {
                    size_i
                } else {
                    let last = py_int(end)?;
                    if last < size_i { last + 1 } else { size_i }
                };
                Some((start, end))
            }
        })
        .collect();
    if ranges.is_empty() {
        return Err(RangeError::Malformed(
            "Range header: range must be requested",
        ));
    }
    if ranges
        .iter()
        .any(|&(start, _)| !(0..size_i).contains(&start))
    {
        return Err(RangeError::NotSatisfiable);
    }
    if ranges.iter().any(|&(start, end)| start >= end) {
        return Err(RangeError::Malformed(
            "Range header: start must be less than end",
        ));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        // Both bounds are within 0..=size here.
        let (start, end) = (start as u64, end as u64);
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Ok(merged)
}

/// Python's `int(str)` for the forms a range can hold: optional sign, ASCII digits with single
/// underscores between them. Saturates instead of growing without bound.
fn py_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i128 = 0;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => {
                value = value
                    .saturating_mul(10)
                    .saturating_add(i128::from(b - b'0'))
            }
            b'_' => {}
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_follow_starlette() {
        assert_eq!(parse_range_header("bytes=0-3", 38), Ok(vec![(0, 4)]));
        assert_eq!(parse_range_header("bytes=5-", 38), Ok(vec![(5, 38)]));
        assert_eq!(parse_range_header("bytes=-4", 38), Ok(vec![(34, 38)]));
        assert_eq!(parse_range_header("bytes=0-1000", 38), Ok(vec![(0, 38)]));
        assert_eq!(parse_range_header("bytes=-100", 38), Ok(vec![(0, 38)]));
        assert_eq!(parse_range_header(" BYTES = 1-2", 38), Ok(vec![(1, 3)]));
    }

    #[test]
    fn multiple_ranges_are_sorted_and_merged() {
        assert_eq!(
            parse_range_header("bytes=0-1,4-5", 38),
            Ok(vec![(0, 2), (4, 6)])
        );
        assert_eq!(
            parse_range_header("bytes=10-20,0-3,2-5", 38),
            Ok(vec![(0, 6), (10, 21)])
        );
    }

    #[test]
    fn bad_ranges_get_the_original_errors() {
        assert_eq!(
            parse_range_header("bytes=3-1", 38),
            Err(RangeError::Malformed(
                "Range header: start must be less than end"
            ))
        );
        assert_eq!(
            parse_range_header("items=0-3", 38),
            Err(RangeError::Malformed("Only support bytes range"))
        );
        assert_eq!(
            parse_range_header("bytes=abc", 38),
            Err(RangeError::Malformed(
                "Range header: range must be requested"
            ))
        );
        assert_eq!(
            parse_range_header("bytes", 38),
            Err(RangeError::Malformed("Malformed range header."))
        );
        assert_eq!(
            parse_range_header("bytes=100-200", 38),
            Err(RangeError::NotSatisfiable)
        );
        assert_eq!(
            parse_range_header("bytes=-0", 38),
            Err(RangeError::NotSatisfiable)
        );
    }

    #[test]
    fn more_than_a_hundred_parts_mean_the_whole_file() {
        let many = vec!["0-1"; 101].join(",");
        assert_eq!(parse_range_header(&format!("bytes={many}"), 38), Ok(vec![]));
    }

    #[test]
    fn boundaries_are_26_hex_digits_and_differ() {
        let (a, b) = (random_boundary(), random_boundary());
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    /// The same answers whether the file is read whole (small) or streamed (large).
    #[tokio::test]
    async fn small_and_large_files_give_the_same_ranges() -> Result<(), Box<dyn std::error::Error>>
    {
        use http_body_util::BodyExt as _;
        let dir = tempfile::tempdir()?;
        for size in [38_usize, 200 * 1024] {
            let content: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &content)?;
            let get = |range: Option<&'static str>| {
                let mut headers = HeaderMap::new();
                if let Some(range) = range {
                    headers.insert(RANGE, HeaderValue::from_static(range));
                }
                let path = path.clone();
                async move {
                    let response = respond(&path, &FileCache::default(), &headers, false).await;
                    let status = response.status();
                    let content_type = response.headers().get(CONTENT_TYPE).cloned();
                    let body = response.into_body().collect().await?.to_bytes();
                    Ok::<_, std::io::Error>((status, content_type, body))
                }
            };
            let (status, _, body) = get(None).await?;
            assert_eq!(
                (status, &body[..]),
                (StatusCode::OK, &content[..]),
                "{size}"
            );
            let (status, _, body) = get(Some("bytes=5-9")).await?;
            assert_eq!(
                (status, &body[..]),
                (StatusCode::PARTIAL_CONTENT, &content[5..10])
            );
            let (status, content_type, body) = get(Some("bytes=0-1, 30-")).await?;
            assert_eq!(status, StatusCode::PARTIAL_CONTENT);
            let content_type = content_type.ok_or("no content-type")?;
            let boundary = content_type
                .to_str()?
                .rsplit("boundary=")
                .next()
                .ok_or("no boundary")?
                .to_owned();
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.starts_with(&format!("--{boundary}\r\n")),
                "{size}: {text:.200}"
            );
            assert!(
                text.contains(&format!("\r\n\r\nab\r\n--{boundary}")),
                "{size}"
            );
            let tail = String::from_utf8_lossy(&content[30..]).into_owned();
            assert!(
                text.ends_with(&format!("{tail}\r\n--{boundary}--")),
                "{size}"
            );
        }
        Ok(())
    }

    /// The cache never serves an old version: a rewrite of the same size within the file
    /// times' tick, a new size, new times, a replacement by rename, a removal and a new file
    /// all show at once; with the watch, and with a `stat` per request where there is none.
    #[tokio::test]
    async fn every_change_on_disk_shows_in_the_next_response()
    -> Result<(), Box<dyn std::error::Error>> {
        use http_body_util::BodyExt as _;
        // Watched; unwatched; and reached through a symlink, which the watch refuses.
        for (watch_on, through_link) in [(true, false), (false, false), (true, true)] {
            let dir = tempfile::tempdir()?;
            let mut path = dir.path().join("data.txt");
            if through_link {
                let link = dir.path().join("current");
                std::os::unix::fs::symlink(dir.path(), &link)?;
                path = link.join("data.txt");
            }
            let cache = FileCache {
                unwatched: !watch_on,
                ..FileCache::default()
            };
            let watched = watch_on && !through_link && cfg!(target_os = "linux");
            let get = || async {
                let response = respond(&path, &cache, &HeaderMap::new(), false).await;
                let status = response.status();
                let modified = response.headers().get(LAST_MODIFIED).cloned();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, std::io::Error>((status, body, modified))
            };
            std::fs::write(&path, "version 1")?;
            if !watched {
                // Settled: old enough to be cached.
                std::thread::sleep(SETTLED_AFTER + Duration::from_millis(20));
            }
            assert_eq!(get().await?.1, "version 1");
            assert!(cache.lock().entry.is_some(), "watched: {watched}");
            assert_eq!(cache.lock().watch.is_some(), watched);
            assert_eq!(get().await?.1, "version 1");
            // The same size, at once: ctime moves (or the entry was never trusted).
            std::fs::write(&path, "version 2")?;
            assert_eq!(get().await?.1, "version 2");
            std::fs::write(&path, "a longer version 3")?;
            let (_, body, modified) = get().await?;
            assert_eq!(body, "a longer version 3");
            std::fs::File::options()
                .write(true)
                .open(&path)?
                .set_modified(UNIX_EPOCH + Duration::from_secs(784_111_777))?;
            assert_ne!(get().await?.2, modified);
            assert_eq!(
                get().await?.2.as_ref().map(HeaderValue::as_bytes),
                Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..])
            );
            let other = dir.path().join("new.txt");
            std::fs::write(&other, "replaced")?;
            std::fs::rename(&other, &path)?;
            assert_eq!(get().await?.1, "replaced");
            std::fs::remove_file(&path)?;
            assert_eq!(get().await?.0, StatusCode::INTERNAL_SERVER_ERROR);
            std::fs::write(&path, "back again")?;
            assert_eq!(get().await?.1, "back again");
        }
        Ok(())
    }

    /// A copy read without a watch is not kept once a watch exists (it may be older than the
    /// watch), nor one read under a watch that has gone.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_copy_read_under_another_watch_is_not_kept() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("data.txt");
        let cache = FileCache::default();
        // The file is missing: no watch.
        let unwatched = cache.begin_load(&path);
        assert!(!unwatched.watched);
        std::fs::write(&path, "version 1")?;
        let old = cached_copy(&path)?;
        std::fs::write(&path, "version 2")?;
        let watched = cache.begin_load(&path);
        assert!(watched.watched);
        cache.put(unwatched, old);
        assert!(cache.lock().entry.is_none(), "an unwatched copy was kept");
        cache.put(watched, cached_copy(&path)?);
        assert_eq!(
            cache
                .get(&path)
                .ok_or("the watched copy was not kept")?
                .content,
            "version 2"
        );
        // Another path's load replaces the watch: a copy of the first one's is not kept.
        let first = cache.begin_load(&path);
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "other")?;
        let _ = cache.begin_load(&other);
        cache.put(first, cached_copy(&path)?);
        assert!(
            cache.lock().entry.is_none(),
            "a copy of a dropped watch was kept"
        );
        Ok(())
    }

    /// A file time the HTTP date cannot spell (before 1970) is shown as the earliest it can,
    /// not a panic.
    #[test]
    fn a_file_time_before_1970_is_served() -> Result<(), Box<dyn std::error::Error>> {
        let validators = Validators::new(1, UNIX_EPOCH - Duration::from_secs(86_400));
        assert_eq!(
            validators.last_modified.as_bytes(),
            b"Thu, 01 Jan 1970 00:00:00 GMT"
        );
        Ok(())
    }

    /// A load that read the file before a change, and finishes after a load that read it
    /// since, does not put its old copy in the cache; nor does a load whose file changed
    /// before it finished keep its copy past the next request.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_load_older_than_a_change_is_not_served() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("data.txt");
        let cache = FileCache::default();
        std::fs::write(&path, "version 1")?;

        let slow = cache.begin_load(&path);
        let old = cached_copy(&path)?;
        std::fs::write(&path, "version 2")?;
        let fast = cache.begin_load(&path);
        cache.put(fast, cached_copy(&path)?);
        cache.put(slow, old);
        let hit = cache.get(&path).ok_or("the fresh copy was not kept")?;
        assert_eq!(hit.content, "version 2");

        let ticket = cache.begin_load(&path);
        let old = cached_copy(&path)?;
        std::fs::write(&path, "version 3")?;
        cache.put(ticket, old);
        assert!(
            cache.get(&path).is_none(),
            "a copy older than the file was served"
        );
        Ok(())
    }

    /// The file at `path` as `load` caches it.
    fn cached_copy(path: &Path) -> std::io::Result<Cached> {
        let meta = std::fs::metadata(path)?;
        Ok(Cached::new(
            Version::of(&meta),
            Bytes::from(std::fs::read(path)?),
            Validators::new(meta.len(), meta.modified()?),
        ))
    }

    /// A cached file's kept head answers as `answer` does: the same status, the same fields in
    /// the same order, the same body, for GET and HEAD; conditions and ranges go to `answer`.
    #[tokio::test]
    async fn a_cached_answer_is_the_answer_made_anew() -> Result<(), Box<dyn std::error::Error>> {
        use http_body_util::BodyExt as _;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("data.txt");
        let cache = FileCache::default();
        std::fs::write(&path, "This is a test file served by FastAPI.")?;
        // Put in the cache as `load` puts it, without waiting for it to settle.
        let _watching = cache.begin_load(&path);
        cache.lock().entry = Some(Arc::new(cached_copy(&path)?));
        let hit = cache.get(&path).ok_or("the file was not cached")?;
        let requests = [
            (None, false),
            (None, true),
            (Some((IF_NONE_MATCH, hit.validators.etag.clone())), false),
            (
                Some((IF_MODIFIED_SINCE, hit.validators.last_modified.clone())),
                true,
            ),
            (Some((RANGE, HeaderValue::from_static("bytes=0-3"))), false),
            (Some((RANGE, HeaderValue::from_static("bytes=9-0"))), false),
        ];
        let mut statuses = Vec::new();
        for (field, head) in requests {
            let request: HeaderMap = field.into_iter().collect();
            let kept = respond_cached(&path, &cache, &request, head).ok_or("no answer")?;
            let (source, size, validators) = hit.loaded();
            let made = answer(source, size, validators, &request, head);
            let (kept, kept_body) = kept.into_parts();
            let (made, made_body) = made.into_parts();
            assert_eq!(kept.status, made.status);
            // The date is read for each; the rest must match field by field.
            let fields = |headers: &HeaderMap| -> Vec<(String, HeaderValue)> {
                headers
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.clone()))
                    .collect()
            };
            let (kept_fields, made_fields) = (fields(&kept.headers), fields(&made.headers));
            assert_eq!(kept_fields.len(), made_fields.len());
            for (kept, made) in kept_fields.iter().zip(&made_fields) {
                assert_eq!(kept.0, made.0);
                if kept.0 != "date" {
                    assert_eq!(kept.1, made.1);
                }
            }
            let kept_body = kept_body.collect().await?.to_bytes();
            assert_eq!(kept_body, made_body.collect().await?.to_bytes());
            statuses.push(kept.status.as_u16());
        }
        assert_eq!(statuses, [200, 200, 304, 304, 206, 400]);
        Ok(())
    }

    /// The kept head's date is replaced on every answer, not the one of when it was made.
    #[test]
    fn a_kept_head_is_dated_now() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        std::fs::write(&path, "x")?;
        let mut cached = cached_copy(&path)?;
        let old = HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT");
        cached.head.insert(http::header::DATE, old.clone());
        let response = cached.whole(false);
        let first = response.headers().iter().next().ok_or("no fields")?;
        assert_eq!(first.0, http::header::DATE);
        assert_ne!(first.1, old);
        Ok(())
    }

    #[test]
    fn a_fresh_version_is_not_trusted_yet() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        std::fs::write(&path, "x")?;
        assert!(!Version::of(&std::fs::metadata(&path)?).settled());
        Ok(())
    }
}
