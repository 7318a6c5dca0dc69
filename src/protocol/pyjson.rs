//! JSON exactly as the FastAPI original reads and writes it.
//!
//! The original decodes request bodies with CPython's `json.loads(bytes)` (encoding sniffed from the
//! first bytes and decoded with `surrogatepass`, `NaN`/`Infinity` accepted, exact big integers,
//! duplicate keys keep their first position and their last value, lone surrogates kept) and
//! reports syntax errors with CPython's messages at *code-point* offsets. It encodes responses
//! with `json.dumps(ensure_ascii=False, separators=(",", ":"))`.
//! Clients compare those bytes, so this module reproduces both directions; serde_json's error
//! messages, positions and number model differ and cannot be used here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Nesting deeper than this is refused like CPython's `RecursionError` (FastAPI answers 400).
/// The limit is what is left of Python's recursion limit (1000) below the original's call stack
/// when it decodes a body: measured as 957 levels with the pinned versions (Python 3.11.7,
/// FastAPI 0.165, uvicorn 0.54).
pub(crate) const MAX_DEPTH: usize = 957;

/// Python's default `sys.int_info.str_digits_check_threshold`: longer integer literals raise
/// `ValueError`, which FastAPI turns into 400.
pub(crate) const MAX_INT_DIGITS: usize = 4300;

/// A decoded JSON value with Python's data model.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// An integer literal, kept exactly (normalised: no `-0`).
    Int(Int),
    Float(f64),
    Str(String),
    /// A `str` holding a lone surrogate (from a `\ud800` escape, or bytes that `surrogatepass`
    /// lets through). Python accepts it as text, but can never encode it again: the original
    /// answers 500 wherever it would be echoed. As an object key, it becomes this value's key
    /// with U+FFFD in place of the surrogates, and its value is replaced by this variant.
    Unencodable,
    Array(Vec<Value>),
    /// Keys in first-insertion order; a repeated key replaces the value in place (Python `dict`).
    Object(Vec<(String, Value)>),
}

/// An exact integer: `small` when it fits an `i64`, the decimal text always.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Int {
    digits: String,
    small: Option<i64>,
}

impl Int {
    /// Parses a JSON integer literal (`-?(0|[1-9][0-9]*)`) already checked by the scanner.
    fn from_literal(text: &str) -> Self {
        let digits = if text == "-0" { "0" } else { text };
        Self {
            digits: digits.to_owned(),
            small: digits.parse().ok(),
        }
    }

    /// The value as an `i64`, if it fits.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        self.small
    }
}

impl std::fmt::Display for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.digits)
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A syntax error, as CPython's `JSONDecodeError` reports it.
    Syntax {
        /// Offset in code points of the decoded text.
        pos: usize,
        msg: &'static str,
    },
    /// Not text in the sniffed encoding, an integer over 4300 digits or nesting deeper than
    /// `MAX_DEPTH`: FastAPI's "There was an error parsing the body".
    Undecodable,
}

/// Decodes a request body like CPython's `json.loads(bytes)`.
///
/// # Errors
/// [`DecodeError::Syntax`] with CPython's message and code-point position, or
/// [`DecodeError::Undecodable`] when the bytes are not text or exceed Python's limits.
pub fn loads(body: &[u8]) -> Result<Value, DecodeError> {
    let text = decode_text(body)?;
    let mut parser = Parser { s: &text };
    let result = parser.document();
    result.map_err(|err| match err {
        Failure::Syntax { byte_pos, msg } => DecodeError::Syntax {
            // One code point per byte that does not continue a sequence.
            pos: text[..byte_pos.min(text.len())]
                .iter()
                .filter(|&&b| b & 0xc0 != 0x80)
                .count(),
            msg,
        },
        Failure::Undecodable => DecodeError::Undecodable,
    })
}

/// `json.detect_encoding` followed by `bytes.decode(encoding, "surrogatepass")`, as UTF-8 in which
/// a surrogate code point is written like any other (three bytes, `ED A0 80` to `ED BF BF`): the
/// form in which Python's `str` can hold them.
fn decode_text(b: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    const BOM_UTF8: &[u8] = b"\xef\xbb\xbf";
    let utf32 = |b: &[u8], big: bool| -> Result<Cow<'_, [u8]>, DecodeError> {
        if !b.len().is_multiple_of(4) {
            return Err(DecodeError::Undecodable);
        }
        let mut out = Vec::with_capacity(b.len());
        for c in b.chunks_exact(4) {
            let word = [c[0], c[1], c[2], c[3]];
            let n = if big {
                u32::from_be_bytes(word)
            } else {
                u32::from_le_bytes(word)
            };
            push_code_point(&mut out, n).ok_or(DecodeError::Undecodable)?;
        }
        Ok(Cow::Owned(out))
    };
    let utf16 = |b: &[u8], big: bool| -> Result<Cow<'_, [u8]>, DecodeError> {
        if !b.len().is_multiple_of(2) {
            return Err(DecodeError::Undecodable);
        }
        let units = b.chunks_exact(2).map(|c| {
            if big {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        });
        let mut out = Vec::with_capacity(b.len());
        for unit in char::decode_utf16(units) {
            let n = unit.map_or_else(|lone| u32::from(lone.unpaired_surrogate()), u32::from);
            push_code_point(&mut out, n).ok_or(DecodeError::Undecodable)?;
        }
        Ok(Cow::Owned(out))
    };
    fn utf8(b: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
        let mut rest = b;
        while let Err(err) = std::str::from_utf8(rest) {
            let bad = &rest[err.valid_up_to()..];
            // What `surrogatepass` accepts beyond UTF-8: an encoded surrogate.
            match bad {
                [0xed, 0xa0..=0xbf, 0x80..=0xbf, ..] => rest = &bad[3..],
                _ => return Err(DecodeError::Undecodable),
            }
        }
        Ok(Cow::Borrowed(b))
    }

    if let Some(rest) = b.strip_prefix(b"\x00\x00\xfe\xff") {
        return utf32(rest, true);
    }
    if let Some(rest) = b.strip_prefix(b"\xff\xfe\x00\x00") {
        return utf32(rest, false);
    }
    if let Some(rest) = b.strip_prefix(b"\xfe\xff") {
        return utf16(rest, true);
    }
    if let Some(rest) = b.strip_prefix(b"\xff\xfe") {
        return utf16(rest, false);
    }
    if let Some(rest) = b.strip_prefix(BOM_UTF8) {
        return utf8(rest);
    }
    match *b {
        [0, b1, ..] if b.len() >= 4 => {
            if b1 != 0 {
                utf16(b, true)
            } else {
                utf32(b, true)
            }
        }
        [_, 0, b2, b3, ..] => {
            if b2 != 0 || b3 != 0 {
                utf16(b, false)
            } else {
                utf32(b, false)
            }
        }
        [0, _] => utf16(b, true),
        [_, 0] => utf16(b, false),
        _ => utf8(b),
    }
}

/// Python's `dict[key] = value`: a new key goes last, a repeated one keeps its place. A key with a
/// lone surrogate is stored as its text with U+FFFD, holding `Value::Unencodable`.
fn insert(
    fields: &mut Vec<(String, Value)>,
    positions: &mut HashMap<Vec<u8>, usize>,
    key: Text,
    value: Value,
) {
    let (exact, key, value) = match key {
        Text::Clean(key) => (key.clone().into_bytes(), key, value),
        Text::LoneSurrogate(exact) => {
            let key = replace_surrogates(&exact);
            (exact, key, Value::Unencodable)
        }
    };
    match positions.get(&exact) {
        Some(&at) => fields[at].1 = value,
        None => {
            positions.insert(exact, fields.len());
            fields.push((key, value));
        }
    }
}

/// Appends code point `n` as UTF-8, surrogates included; `None` above U+10FFFF.
fn push_code_point(out: &mut Vec<u8>, n: u32) -> Option<()> {
    if let Some(c) = char::from_u32(n) {
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        return Some(());
    }
    if !(0xd800..0xe000).contains(&n) {
        return None;
    }
    // The three-byte pattern UTF-8 would use; only surrogates reach here, so each part fits.
    let [_, _, hi, lo] = n.to_be_bytes();
    out.extend_from_slice(&[
        0xe0 | (hi >> 4),
        0x80 | ((hi & 0x0f) << 2) | (lo >> 6),
        0x80 | (lo & 0x3f),
    ]);
    Some(())
}

/// Text from [`decode_text`] with U+FFFD for each surrogate (and for anything else that is not
/// UTF-8, which it never holds).
fn replace_surrogates(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return out;
            }
            Err(err) => {
                let (valid, bad) = bytes.split_at(err.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                let skip = match bad {
                    [0xed, 0xa0..=0xbf, 0x80..=0xbf, ..] => 3,
                    _ => err.error_len().unwrap_or(bad.len()),
                };
                bytes = &bad[skip..];
            }
        }
    }
}

/// A decoded JSON string: Rust text, or Python text holding a lone surrogate, kept as the exact
/// bytes [`decode_text`] uses so that two keys compare as Python compares them.
enum Text {
    Clean(String),
    LoneSurrogate(Vec<u8>),
}

impl Text {
    fn from_bytes(bytes: Vec<u8>) -> Self {
        match String::from_utf8(bytes) {
            Ok(text) => Self::Clean(text),
            Err(err) => Self::LoneSurrogate(err.into_bytes()),
        }
    }
}

enum Failure {
    Syntax { byte_pos: usize, msg: &'static str },
    Undecodable,
}

/// CPython's scanner raises `StopIteration(idx)` where no value starts; the caller turns it into
/// "Expecting value" at that index.
const EXPECTING_VALUE: &str = "Expecting value";

fn syntax(byte_pos: usize, msg: &'static str) -> Failure {
    Failure::Syntax { byte_pos, msg }
}

/// A port of CPython 3.11's `_json.c` scanner over UTF-8 bytes (every structural character is
/// ASCII, so byte offsets convert to code-point offsets only when an error is reported). Open
/// containers live on an explicit stack rather than the call stack: `MAX_DEPTH` levels of
/// recursion would need most of a thread's stack in a debug build.
struct Parser<'a> {
    s: &'a [u8],
}

/// A container being parsed.
enum Open {
    Array(Vec<Value>),
    Object {
        fields: Vec<(String, Value)>,
        /// Each key's exact text and its position in `fields`: a repeated key replaces the
        /// value in place, in constant time however many keys a body sends.
        positions: HashMap<Vec<u8>, usize>,
        /// The key whose value is being parsed.
        key: Text,
    },
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl Parser<'_> {
    fn skip_ws(&self, mut idx: usize) -> usize {
        while idx < self.s.len() && is_ws(self.s[idx]) {
            idx += 1;
        }
        idx
    }

    fn at(&self, idx: usize) -> Option<u8> {
        self.s.get(idx).copied()
    }

    fn document(&mut self) -> Result<Value, Failure> {
        let start = self.skip_ws(0);
        let (value, end) = self.value(start)?;
        let end = self.skip_ws(end);
        if end != self.s.len() {
            return Err(syntax(end, "Extra data"));
        }
        Ok(value)
    }

    /// `scan_once_unicode` from `idx`: the value and the index just past it.
    fn value(&mut self, mut idx: usize) -> Result<(Value, usize), Failure> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            // A value starts at `idx`: a scalar, an empty container, or the first member of one.
            let (mut value, mut end) = match self.at(idx) {
                Some(bracket @ (b'[' | b'{')) => {
                    // CPython's RecursionError, raised on entering the container.
                    if open.len() >= MAX_DEPTH {
                        return Err(Failure::Undecodable);
                    }
                    let first = self.skip_ws(idx + 1);
                    match (bracket, self.at(first)) {
                        (b'[', Some(b']')) => (Value::Array(Vec::new()), first + 1),
                        (b'{', Some(b'}')) => (Value::Object(Vec::new()), first + 1),
                        (b'[', _) => {
                            open.push(Open::Array(Vec::new()));
                            idx = first;
                            continue;
                        }
                        _ => {
                            let (key, next) = self.key(first)?;
                            open.push(Open::Object {
                                fields: Vec::new(),
                                positions: HashMap::new(),
                                key,
                            });
                            idx = next;
                            continue;
                        }
                    }
                }
                _ => self.scalar(idx)?,
            };
            // A complete value: store it in its container, closing containers that end here.
            loop {
                let Some(container) = open.last_mut() else {
                    return Ok((value, end));
                };
                let after = self.skip_ws(end);
                let closer = match container {
                    Open::Array(items) => {
                        items.push(value);
                        b']'
                    }
                    Open::Object {
                        fields,
                        positions,
                        key,
                    } => {
                        let key = std::mem::replace(key, Text::Clean(String::new()));
                        insert(fields, positions, key, value);
                        b'}'
                    }
                };
                match self.at(after) {
                    Some(c) if c == closer => {
                        value = match open.pop() {
                            Some(Open::Array(items)) => Value::Array(items),
                            Some(Open::Object { fields, .. }) => Value::Object(fields),
                            None => Value::Null,
                        };
                        end = after + 1;
                    }
                    Some(b',') => {
                        let next = self.skip_ws(after + 1);
                        idx = match open.last_mut() {
                            Some(Open::Object { key, .. }) => {
                                let (next_key, value_at) = self.key(next)?;
                                *key = next_key;
                                value_at
                            }
                            _ => next,
                        };
                        break;
                    }
                    _ => return Err(syntax(after, "Expecting ',' delimiter")),
                }
            }
        }
    }

    /// An object's `"key":` from `idx`; returns the key and where its value starts.
    fn key(&self, idx: usize) -> Result<(Text, usize), Failure> {
        if self.at(idx) != Some(b'"') {
            return Err(syntax(
                idx,
                "Expecting property name enclosed in double quotes",
            ));
        }
        let (key, next) = self.string(idx + 1)?;
        let colon = self.skip_ws(next);
        if self.at(colon) != Some(b':') {
            return Err(syntax(colon, "Expecting ':' delimiter"));
        }
        Ok((key, self.skip_ws(colon + 1)))
    }

    /// Any value but an array or object.
    fn scalar(&self, idx: usize) -> Result<(Value, usize), Failure> {
        let s = self.s;
        let rest = &s[idx.min(s.len())..];
        match rest.first() {
            None => Err(syntax(idx, EXPECTING_VALUE)),
            Some(b'"') => {
                let (text, end) = self.string(idx + 1)?;
                let value = match text {
                    Text::Clean(text) => Value::Str(text),
                    Text::LoneSurrogate(_) => Value::Unencodable,
                };
                Ok((value, end))
            }
            Some(b'n') if rest.starts_with(b"null") => Ok((Value::Null, idx + 4)),
            Some(b't') if rest.starts_with(b"true") => Ok((Value::Bool(true), idx + 4)),
            Some(b'f') if rest.starts_with(b"false") => Ok((Value::Bool(false), idx + 5)),
            Some(b'N') if rest.starts_with(b"NaN") => Ok((Value::Float(f64::NAN), idx + 3)),
            Some(b'I') if rest.starts_with(b"Infinity") => {
                Ok((Value::Float(f64::INFINITY), idx + 8))
            }
            Some(b'-') if rest.starts_with(b"-Infinity") => {
                Ok((Value::Float(f64::NEG_INFINITY), idx + 9))
            }
            Some(_) => self.number(idx),
        }
    }

    /// `_match_number_unicode`: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`.
    fn number(&self, start: usize) -> Result<(Value, usize), Failure> {
        let s = self.s;
        let digit = |i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
        let mut idx = start;
        if s[idx] == b'-' {
            idx += 1;
        }
        match s.get(idx) {
            Some(b'1'..=b'9') => {
                idx += 1;
                while digit(idx) {
                    idx += 1;
                }
            }
            Some(b'0') => idx += 1,
            _ => return Err(syntax(start, EXPECTING_VALUE)),
        }
        let mut is_float = false;
        if s.get(idx) == Some(&b'.') && digit(idx + 1) {
            is_float = true;
            idx += 2;
            while digit(idx) {
                idx += 1;
            }
        }
        if matches!(s.get(idx), Some(b'e' | b'E')) {
            let e_start = idx;
            idx += 1;
            if matches!(s.get(idx), Some(b'-' | b'+')) {
                idx += 1;
            }
            while digit(idx) {
                idx += 1;
            }
            if digit(idx - 1) {
                is_float = true;
            } else {
                idx = e_start;
            }
        }
        // The slice is ASCII by construction.
        let text = std::str::from_utf8(&s[start..idx]).map_err(|_| Failure::Undecodable)?;
        if is_float {
            // Rust and CPython both round correctly; out-of-range literals become ±inf or 0.0.
            let value: f64 = text.parse().map_err(|_| Failure::Undecodable)?;
            Ok((Value::Float(value), idx))
        } else if text.trim_start_matches('-').len() > MAX_INT_DIGITS {
            Err(Failure::Undecodable)
        } else {
            Ok((Value::Int(Int::from_literal(text)), idx))
        }
    }

    /// `scanstring_unicode` with `strict=True`; `end` is just past the opening quote.
    fn string(&self, mut end: usize) -> Result<(Text, usize), Failure> {
        let s = self.s;
        let len = s.len();
        let begin = end - 1;
        let unterminated = || syntax(begin, "Unterminated string starting at");
        let mut out = Vec::new();
        loop {
            let mut next = end;
            while next < len && s[next] != b'"' && s[next] != b'\\' {
                if s[next] <= 0x1f {
                    return Err(syntax(next, "Invalid control character at"));
                }
                next += 1;
            }
            if next == len {
                return Err(unterminated());
            }
            // Chunks split only at ASCII bytes, so each one holds whole code points.
            out.extend_from_slice(&s[end..next]);
            let terminator = s[next];
            next += 1;
            if terminator == b'"' {
                return Ok((Text::from_bytes(out), next));
            }
            if next == len {
                return Err(unterminated());
            }
            if s[next] != b'u' {
                end = next + 1;
                let c = match s[next] {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    _ => return Err(syntax(end - 2, "Invalid \\escape")),
                };
                out.push(c);
                continue;
            }
            next += 1;
            end = next + 4;
            if end >= len {
                return Err(syntax(next - 1, "Invalid \\uXXXX escape"));
            }
            let mut c = self
                .hex4(next)
                .ok_or_else(|| syntax(end - 5, "Invalid \\uXXXX escape"))?;
            next = end;
            if (0xd800..0xdc00).contains(&c)
                && end + 6 < len
                && s[next] == b'\\'
                && s[next + 1] == b'u'
            {
                end += 6;
                let low = self
                    .hex4(next + 2)
                    .ok_or_else(|| syntax(end - 5, "Invalid \\uXXXX escape"))?;
                if (0xdc00..0xe000).contains(&low) {
                    c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
                } else {
                    end -= 6;
                }
            }
            // Four hex digits are at most U+FFFF, and a pair at most U+10FFFF.
            push_code_point(&mut out, c).ok_or(Failure::Undecodable)?;
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.s.get(at..at + 4)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            let v = char::from(d).to_digit(16)?;
            Some(acc << 4 | v)
        })
    }
}

/// Appends `value` as `json.dumps(ensure_ascii=False, separators=(",", ":"))` would, except that
/// NaN and ±Infinity, which Python refuses to encode (the original answers 500), are written as
/// `null` like pydantic's JSON mode does.
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(int) => out.push_str(&int.digits),
        Value::Float(f) => write_float(out, *f),
        Value::Str(s) => write_str(out, s),
        // Callers check `is_encodable` first; `null` keeps the output well-formed regardless.
        Value::Unencodable => out.push_str("null"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A JSON string with Python's escapes: `\" \\ \n \r \t \b \f`, other C0 controls as lower-case
/// `\u00xx`, everything else (U+007F, U+2028, `/`, non-ASCII) raw.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain_from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain_from = i + 1;
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

/// Python's `str(float)`: `repr` for finite values, `nan`, `inf` and `-inf` otherwise.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let mut out = String::new();
    write_float(&mut out, f);
    out
}

impl Value {
    /// The value of `key` in an object (`dict.get`); `None` for other types.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether Python could encode the value as UTF-8 JSON: no lone surrogate anywhere in it.
    pub(crate) fn is_encodable(&self) -> bool {
        match self {
            Self::Unencodable => false,
            Self::Array(items) => items.iter().all(Self::is_encodable),
            Self::Object(fields) => fields.iter().all(|(_, value)| value.is_encodable()),
            _ => true,
        }
    }

    /// The text of a string value.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form when the decimal exponent is
/// below -4 or above 16 (`1e+16`, `1.5e-07`), otherwise fixed with at least one fraction digit.
fn write_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    // `{:e}` yields the shortest round-trip digits, e.g. "-1.5e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp + 1;
    out.push_str(sign);
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let point = decpt as usize;
        if point < digits.len() {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        } else {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
            out.push_str(".0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> (usize, &'static str) {
        match loads(body.as_bytes()) {
            Err(DecodeError::Syntax { pos, msg }) => (pos, msg),
            other => panic!("{body:?} gave {other:?}"),
        }
    }

    fn dumps(body: &str) -> String {
        let value = loads(body.as_bytes()).unwrap_or_else(|e| panic!("{body:?}: {e:?}"));
        let mut out = String::new();
        write_value(&mut out, &value);
        out
    }

    #[test]
    fn syntax_errors_match_cpython_messages_and_code_point_positions() {
        // Expected values produced by CPython 3.11's json.loads.
        let cases: &[(&str, usize, &str)] = &[
            ("{\"name\":", 8, "Expecting value"),
            ("nul", 0, "Expecting value"),
            ("   ", 3, "Expecting value"),
            ("", 0, "Expecting value"),
            ("[", 1, "Expecting value"),
            ("[1,", 3, "Expecting value"),
            ("[1,]", 3, "Expecting value"),
            ("-", 0, "Expecting value"),
            ("-Inf", 0, "Expecting value"),
            ("{", 1, "Expecting property name enclosed in double quotes"),
            (
                "{\"name\":\"x\",}",
                12,
                "Expecting property name enclosed in double quotes",
            ),
            (
                "{\"name\":\"é\",}",
                12,
                "Expecting property name enclosed in double quotes",
            ),
            (
                "{'name':'x'}",
                1,
                "Expecting property name enclosed in double quotes",
            ),
            ("{\"a\"", 4, "Expecting ':' delimiter"),
            ("{\"name\" \"x\"}", 8, "Expecting ':' delimiter"),
            ("{\"name\":\"x\" \"y\"}", 12, "Expecting ',' delimiter"),
            ("[1,2", 4, "Expecting ',' delimiter"),
            (
                "{\"name\":\"x\",\"is_offer\":01}",
                24,
                "Expecting ',' delimiter",
            ),
            ("{\"name\":\"x\"} x", 13, "Extra data"),
            ("1.", 1, "Extra data"),
            ("1e+", 1, "Extra data"),
            ("{\"name\":\"x", 8, "Unterminated string starting at"),
            ("{\"name\":\"a\u{1}\"}", 10, "Invalid control character at"),
            ("{\"name\":\"\\q\"}", 9, "Invalid \\escape"),
            ("{\"name\":\"\\u12\"}", 10, "Invalid \\uXXXX escape"),
            ("\"\\u0041", 2, "Invalid \\uXXXX escape"),
        ];
        for &(body, pos, msg) in cases {
            assert_eq!(err(body), (pos, msg), "body {body:?}");
        }
    }

    #[test]
    fn values_round_trip_like_python_dumps() {
        assert_eq!(
            dumps(r#"{"a":1.50,"b":-0,"c":"\u00e9"}"#),
            r#"{"a":1.5,"b":0,"c":"é"}"#
        );
        assert_eq!(
            dumps(r#"{"name":"x","name":"y","z":1}"#),
            r#"{"name":"y","z":1}"#
        );
        assert_eq!(
            dumps("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(dumps(r#""\ud83d\ude00""#), "\"😀\"");
        assert_eq!(
            dumps(r#""\u2028\u007f\u001f\b\f\r/""#),
            "\"\u{2028}\u{7f}\\u001f\\b\\f\\r/\""
        );
        assert_eq!(
            dumps("[NaN,Infinity,-Infinity,1e400]"),
            "[null,null,null,null]"
        );
    }

    #[test]
    fn floats_use_python_repr() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (100.0, "100.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1234567890123456.0, "1234567890123456.0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.456, "123.456"),
        ];
        for &(f, text) in cases {
            let mut out = String::new();
            write_float(&mut out, f);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn encodings_are_sniffed_like_json_detect_encoding() {
        let utf16le: Vec<u8> = "{\"name\":\"x\"}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(dumps_bytes(&utf16le), r#"{"name":"x"}"#);
        let mut utf16be_bom = vec![0xfe, 0xff];
        utf16be_bom.extend("[1]".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(dumps_bytes(&utf16be_bom), "[1]");
        assert_eq!(dumps_bytes(b"\xef\xbb\xbf{\"a\":1}"), r#"{"a":1}"#);
        assert_eq!(loads(b"{\"a\":\"\xff\"}"), Err(DecodeError::Undecodable));
        assert_eq!(err("ab"), (0, "Expecting value"));
    }

    #[test]
    fn nesting_of_957_levels_decodes() {
        let deep = format!("{}{}", "[".repeat(957), "]".repeat(957));
        assert!(loads(deep.as_bytes()).is_ok());
    }

    #[test]
    fn nesting_of_958_levels_is_undecodable() {
        let deep = format!("{}{}", "[".repeat(958), "]".repeat(958));
        assert_eq!(loads(deep.as_bytes()), Err(DecodeError::Undecodable));
    }

    #[test]
    fn lone_surrogate_escapes_decode_to_unencodable_strings() {
        let value = loads(br#"["\ud800", "\udc00x", "a\ud83d"]"#);
        assert_eq!(value, Ok(Value::Array(vec![Value::Unencodable; 3])),);
    }

    #[test]
    fn surrogate_pairs_still_decode_to_text() {
        assert_eq!(
            loads(br#""\ud83d\ude00""#),
            Ok(Value::Str("\u{1f600}".to_owned()))
        );
    }

    #[test]
    fn encoded_surrogates_in_utf8_decode_like_surrogatepass() {
        assert_eq!(loads(b"\"\xed\xa0\x80\""), Ok(Value::Unencodable));
        assert_eq!(loads(b"\"\xed\xa0\""), Err(DecodeError::Undecodable));
    }

    #[test]
    fn lone_surrogates_in_utf16_decode_like_surrogatepass() {
        let body: Vec<u8> = [u16::from(b'"'), 0xd800, u16::from(b'"')]
            .into_iter()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(loads(&body), Ok(Value::Unencodable));
    }

    #[test]
    fn syntax_errors_after_a_lone_surrogate_count_code_points() {
        // CPython: 17 for the escape (6 characters), 12 for the encoded surrogate (1 character).
        assert_eq!(
            err(r#"{"name":"\ud800",}"#),
            (17, "Expecting property name enclosed in double quotes")
        );
        match loads(b"{\"name\":\"\xed\xa0\x80\",}") {
            Err(DecodeError::Syntax { pos, .. }) => assert_eq!(pos, 12),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_with_lone_surrogates_stay_apart_from_their_lossy_text() {
        let value = loads(br#"{"\ud800":1,"\ufffd":2,"\ud800":3}"#);
        assert_eq!(
            value,
            Ok(Value::Object(vec![
                ("\u{fffd}".to_owned(), Value::Unencodable),
                ("\u{fffd}".to_owned(), Value::Int(Int::from_literal("2"))),
            ]))
        );
    }

    #[test]
    fn a_lone_surrogate_anywhere_makes_a_value_unencodable() {
        let decoded = |body: &str| loads(body.as_bytes()).unwrap_or(Value::Null);
        assert!(!decoded(r#"{"a":[1,{"b":"\ud800"}]}"#).is_encodable());
        assert!(!decoded(r#"{"\udfff":1}"#).is_encodable());
        assert!(decoded(r#"{"a":"\ud800","a":1}"#).is_encodable());
    }

    fn dumps_bytes(body: &[u8]) -> String {
        let value = loads(body).unwrap_or_else(|e| panic!("{body:?}: {e:?}"));
        let mut out = String::new();
        write_value(&mut out, &value);
        out
    }

    #[test]
    fn python_limits_are_undecodable() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(loads(deep.as_bytes()), Err(DecodeError::Undecodable));
        let big = "9".repeat(MAX_INT_DIGITS + 1);
        assert_eq!(loads(big.as_bytes()), Err(DecodeError::Undecodable));
        assert!(loads("9".repeat(MAX_INT_DIGITS).as_bytes()).is_ok());
    }
}
