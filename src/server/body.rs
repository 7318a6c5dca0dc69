//! The response body: bytes in memory, or segments streamed from a file.

use std::collections::VecDeque;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::access::Meter;

/// Read size for file bodies: large enough for few syscalls, small enough to bound memory.
const FILE_CHUNK: u64 = 64 * 1024;

/// One piece of a streamed body.
#[derive(Debug)]
pub(crate) enum Segment {
    Bytes(Bytes),
    /// `len` bytes of the file starting at `offset`.
    File {
        offset: u64,
        len: u64,
    },
}

type ChunkStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A response body; hyper drives it.
pub struct Body {
    kind: Kind,
    /// The access log's count of what is sent, written out when the body is dropped.
    meter: Option<Box<Meter>>,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(ChunkStream),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Full(bytes) => f.debug_tuple("Body::Full").field(bytes).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl Body {
    pub(crate) fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
            meter: None,
        }
    }

    pub(crate) fn full(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
            meter: None,
        }
    }

    /// `segments` of a file already in memory (`content`): one slice without copying, or the
    /// parts of a multipart body joined. A segment outside `content` is left out (the caller
    /// computed the ranges from its length, so none is).
    pub(crate) fn from_memory(content: &Bytes, segments: Vec<Segment>) -> Self {
        let slice = |offset: u64, len: u64| -> Bytes {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let end = usize::try_from(offset.saturating_add(len)).unwrap_or(usize::MAX);
            if start <= end && end <= content.len() {
                content.slice(start..end)
            } else {
                Bytes::new()
            }
        };
        if let [Segment::File { offset, len }] = segments.as_slice() {
            return Self::full(slice(*offset, *len));
        }
        let mut joined = BytesMut::new();
        for segment in segments {
            match segment {
                Segment::Bytes(bytes) => joined.extend_from_slice(&bytes),
                Segment::File { offset, len } => joined.extend_from_slice(&slice(offset, len)),
            }
        }
        Self::full(joined.freeze())
    }

    /// Counts what is sent for the access log, which `meter` writes when the body is dropped.
    pub(crate) fn metered(&mut self, mut meter: Box<Meter>) {
        // hyper never polls a body that is empty from the start, nor one whose promised length
        // has gone out.
        meter.ended = self.is_end_stream_now();
        meter.expected = meter
            .expected
            .or_else(|| http_body::Body::size_hint(self).exact());
        self.meter = Some(meter);
    }

    /// Streamed (hyper polls it over time), not in memory (written in one go).
    pub(crate) fn is_streamed(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }

    /// For a streamed body, has `done` run once hyper is done with it (sent, or given up).
    pub(crate) fn when_streamed(&mut self, done: impl FnOnce() + Send + Unpin + 'static) {
        if let Kind::Stream(stream) = &mut self.kind {
            let inner = std::mem::replace(stream, Box::pin(futures_util::stream::empty()));
            *stream = Box::pin(Finally {
                inner,
                done: Some(done),
            });
        }
    }

    fn is_end_stream_now(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    /// Streams `segments` in order, reading file segments from `file` chunk by chunk.
    pub(crate) fn file_segments(file: tokio::fs::File, segments: Vec<Segment>) -> Self {
        let state = FileState {
            file,
            segments: segments.into(),
            remaining: 0,
        };
        let stream = futures_util::stream::unfold(state, |mut state| async move {
            let chunk = state.next_chunk().await?;
            Some((chunk, state))
        });
        Self {
            kind: Kind::Stream(Box::pin(stream)),
            meter: None,
        }
    }
}

/// A stream that runs `done` when dropped.
struct Finally<F: FnOnce()> {
    inner: ChunkStream,
    done: Option<F>,
}

impl<F: FnOnce()> Drop for Finally<F> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done();
        }
    }
}

impl<F: FnOnce() + Unpin> Stream for Finally<F> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct FileState {
    file: tokio::fs::File,
    segments: VecDeque<Segment>,
    /// Bytes still to read from the current file segment.
    remaining: u64,
}

impl FileState {
    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            if self.remaining > 0 {
                let want = self.remaining.min(FILE_CHUNK);
                let mut buf = BytesMut::with_capacity(want as usize);
                let read = (&mut self.file).take(want).read_buf(&mut buf).await;
                return Some(match read {
                    // The file shrank under us: fail the body so hyper aborts the connection
                    // instead of sending fewer bytes than content-length promised.
                    Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => {
                        self.remaining -= n as u64;
                        Ok(buf.freeze())
                    }
                    Err(err) => Err(err),
                });
            }
            match self.segments.pop_front()? {
                Segment::Bytes(bytes) => return Some(Ok(bytes)),
                Segment::File { offset, len } => {
                    if let Err(err) = self.file.seek(SeekFrom::Start(offset)).await {
                        return Some(Err(err));
                    }
                    self.remaining = len;
                }
            }
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let polled = match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(stream) => stream
                .as_mut()
                .poll_next(cx)
                .map(|chunk| chunk.map(|c| c.map(Frame::data))),
        };
        if self.meter.is_some() {
            let ended = self.is_end_stream_now();
            if let Some(meter) = self.meter.as_mut() {
                meter.count(&polled, ended);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.is_end_stream_now()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
