//! JSON exactly as the FastAPI original reads and writes it.
//!
//! The original decodes request bodies with CPython's `json.loads(bytes)` (encoding sniffed from the
//! first bytes, `NaN`/`Infinity` accepted, exact big integers, duplicate keys keep their first
//! position and their last value) and reports syntax errors with CPython's messages at *code-point*
//! offsets. It encodes responses with `json.dumps(ensure_ascii=False, separators=(",", ":"))`.
//! Clients compare those bytes, so this module reproduces both directions; serde_json's error
//! messages, positions and number model differ and cannot be used here.

use std::fmt::Write as _;

/// Nesting deeper than this is refused like CPython's `RecursionError` (FastAPI answers 400).
pub(crate) const MAX_DEPTH: usize = 512;

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
    /// Not text in the sniffed encoding, a lone surrogate, an integer over 4300 digits or nesting
    /// deeper than `MAX_DEPTH`: FastAPI's "There was an error parsing the body".
    Undecodable,
}

/// Decodes a request body like CPython's `json.loads(bytes)`.
///
/// # Errors
/// [`DecodeError::Syntax`] with CPython's message and code-point position, or
/// [`DecodeError::Undecodable`] when the bytes are not text or exceed Python's limits.
pub fn loads(body: &[u8]) -> Result<Value, DecodeError> {
    let text = decode_text(body)?;
    let mut parser = Parser {
        s: text.as_bytes(),
        depth: 0,
    };
    let result = parser.document();
    result.map_err(|err| match err {
        Failure::Syntax { byte_pos, msg } => DecodeError::Syntax {
            pos: text
                .get(..byte_pos)
                .map_or(byte_pos, |prefix| prefix.chars().count()),
            msg,
        },
        Failure::Undecodable => DecodeError::Undecodable,
    })
}

/// `json.detect_encoding` followed by `bytes.decode(encoding)`.
fn decode_text(b: &[u8]) -> Result<std::borrow::Cow<'_, str>, DecodeError> {
    use std::borrow::Cow;
    const BOM_UTF8: &[u8] = b"\xef\xbb\xbf";
    let utf32 = |b: &[u8], big: bool| -> Result<Cow<'_, str>, DecodeError> {
        if !b.len().is_multiple_of(4) {
            return Err(DecodeError::Undecodable);
        }
        b.chunks_exact(4)
            .map(|c| {
                let word = [c[0], c[1], c[2], c[3]];
                let n = if big {
                    u32::from_be_bytes(word)
                } else {
                    u32::from_le_bytes(word)
                };
                char::from_u32(n).ok_or(DecodeError::Undecodable)
            })
            .collect::<Result<String, _>>()
            .map(Cow::Owned)
    };
    let utf16 = |b: &[u8], big: bool| -> Result<Cow<'_, str>, DecodeError> {
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
        // Python decodes lone surrogates here ('surrogatepass'); we refuse them up front because
        // a str holding one can never be written back out (the original then fails with 500).
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(Cow::Owned)
            .map_err(|_| DecodeError::Undecodable)
    };
    let utf8 = |b| {
        std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|_| DecodeError::Undecodable)
    };

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
/// ASCII, so byte offsets convert to code-point offsets only when an error is reported).
struct Parser<'a> {
    s: &'a [u8],
    depth: usize,
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

    fn value(&mut self, idx: usize) -> Result<(Value, usize), Failure> {
        let s = self.s;
        let rest = &s[idx.min(s.len())..];
        match rest.first() {
            None => Err(syntax(idx, EXPECTING_VALUE)),
            Some(b'"') => {
                let (text, end) = self.string(idx + 1)?;
                Ok((Value::Str(text), end))
            }
            Some(b'{') => self.nested(|p| p.object(idx + 1)),
            Some(b'[') => self.nested(|p| p.array(idx + 1)),
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

    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<(Value, usize), Failure>,
    ) -> Result<(Value, usize), Failure> {
        if self.depth >= MAX_DEPTH {
            return Err(Failure::Undecodable);
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
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
    fn string(&self, mut end: usize) -> Result<(String, usize), Failure> {
        let s = self.s;
        let len = s.len();
        let begin = end - 1;
        let unterminated = || syntax(begin, "Unterminated string starting at");
        let mut out = String::new();
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
            // Chunks split only at ASCII bytes, so they stay valid UTF-8.
            out.push_str(std::str::from_utf8(&s[end..next]).map_err(|_| Failure::Undecodable)?);
            let terminator = s[next];
            next += 1;
            if terminator == b'"' {
                return Ok((out, next));
            }
            if next == len {
                return Err(unterminated());
            }
            if s[next] != b'u' {
                end = next + 1;
                let c = match s[next] {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
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
            // A lone surrogate can be decoded by Python but never encoded again (the original
            // answers 500); refuse it here as undecodable text.
            out.push(char::from_u32(c).ok_or(Failure::Undecodable)?);
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.s.get(at..at + 4)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            let v = char::from(d).to_digit(16)?;
            Some(acc << 4 | v)
        })
    }

    fn object(&mut self, idx: usize) -> Result<(Value, usize), Failure> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        let mut idx = self.skip_ws(idx);
        if self.at(idx) == Some(b'}') {
            return Ok((Value::Object(fields), idx + 1));
        }
        loop {
            if self.at(idx) != Some(b'"') {
                return Err(syntax(
                    idx,
                    "Expecting property name enclosed in double quotes",
                ));
            }
            let (key, next) = self.string(idx + 1)?;
            idx = self.skip_ws(next);
            if self.at(idx) != Some(b':') {
                return Err(syntax(idx, "Expecting ':' delimiter"));
            }
            idx = self.skip_ws(idx + 1);
            let (value, next) = self.value(idx)?;
            match fields.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => fields.push((key, value)),
            }
            idx = self.skip_ws(next);
            match self.at(idx) {
                Some(b'}') => return Ok((Value::Object(fields), idx + 1)),
                Some(b',') => idx = self.skip_ws(idx + 1),
                _ => return Err(syntax(idx, "Expecting ',' delimiter")),
            }
        }
    }

    fn array(&mut self, idx: usize) -> Result<(Value, usize), Failure> {
        let mut items = Vec::new();
        let mut idx = self.skip_ws(idx);
        if self.at(idx) == Some(b']') {
            return Ok((Value::Array(items), idx + 1));
        }
        loop {
            let (value, next) = self.value(idx)?;
            items.push(value);
            idx = self.skip_ws(next);
            match self.at(idx) {
                Some(b']') => return Ok((Value::Array(items), idx + 1)),
                Some(b',') => idx = self.skip_ws(idx + 1),
                _ => return Err(syntax(idx, "Expecting ',' delimiter")),
            }
        }
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

    fn dumps_bytes(body: &[u8]) -> String {
        let value = loads(body).unwrap_or_else(|e| panic!("{body:?}: {e:?}"));
        let mut out = String::new();
        write_value(&mut out, &value);
        out
    }

    #[test]
    fn python_limits_are_undecodable() {
        assert_eq!(loads(br#"["\ud800"]"#), Err(DecodeError::Undecodable));
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(loads(deep.as_bytes()), Err(DecodeError::Undecodable));
        let big = "9".repeat(MAX_INT_DIGITS + 1);
        assert_eq!(loads(big.as_bytes()), Err(DecodeError::Undecodable));
        assert!(loads("9".repeat(MAX_INT_DIGITS).as_bytes()).is_ok());
    }
}
