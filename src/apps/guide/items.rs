//! `GET /items/{item_id}` and `POST /items`, with FastAPI's and pydantic's exact answers.

use http::{HeaderValue, Response, StatusCode};

use crate::protocol::pyjson::{self, DecodeError, Value};
use crate::server::Body;
use crate::server::response;

const THE_ONE_ITEM: &str = r#"{"item_id":1,"name":"The One Item"}"#;

/// jiter refuses a run of more digits than this (`int_parsing_size`), as CPython's `int()` does.
const MAX_ID_DIGITS: usize = 4300;

/// An item id parsed with pydantic's lax integer rules; the only way to build one is [`ItemId::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemId {
    /// `str(int(value))`: no sign for zero, no leading zeros, no underscores.
    canonical: String,
}

/// Why a path segment is not an item id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemIdError {
    /// `int_parsing`
    NotAnInteger,
    /// `int_parsing_size`
    TooLong,
}

impl ItemId {
    /// pydantic-core 2.50's `str_as_int`: the text as a strict JSON integer; failing that (but
    /// not for being too long), the same after `clean_int_str` (whitespace, `+`, leading zeros,
    /// `.0…` and underscores removed), where any failure is `int_parsing`.
    ///
    /// # Errors
    /// [`ItemIdError`] naming the pydantic error type.
    pub(crate) fn parse(raw: &str) -> Result<Self, ItemIdError> {
        match json_int(raw) {
            Err(ItemIdError::NotAnInteger) => {}
            parsed => return parsed,
        }
        let cleaned = clean_int_str(raw).ok_or(ItemIdError::NotAnInteger)?;
        json_int(&cleaned).map_err(|_| ItemIdError::NotAnInteger)
    }

    pub(crate) fn is_one(&self) -> bool {
        self.canonical == "1"
    }
}

/// jiter's `NumberInt::from_bytes`: exactly `-?(0|[1-9][0-9]*)`. A run of more than 4300 digits
/// after a non-zero first digit is out of range whatever follows it.
fn json_int(text: &str) -> Result<ItemId, ItemIdError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    match digits.as_bytes().first() {
        Some(b'0') if digits.len() == 1 => Ok(ItemId {
            canonical: "0".to_owned(),
        }),
        Some(b'1'..=b'9') => {
            let run = digits.bytes().take_while(u8::is_ascii_digit).count();
            if run > MAX_ID_DIGITS {
                Err(ItemIdError::TooLong)
            } else if run < digits.len() {
                Err(ItemIdError::NotAnInteger)
            } else {
                Ok(ItemId {
                    canonical: if negative {
                        format!("-{digits}")
                    } else {
                        digits.to_owned()
                    },
                })
            }
        }
        _ => Err(ItemIdError::NotAnInteger),
    }
}

/// pydantic-core's `clean_int_str`: `None` when nothing was cleaned or the text cannot be an
/// integer. Its quirks are kept, e.g. `0-1` becomes `-1`.
fn clean_int_str(raw: &str) -> Option<String> {
    let mut s = raw.trim();
    if let Some(rest) = s.strip_prefix('+') {
        if rest.starts_with('-') {
            return None;
        }
        s = rest;
    }
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        if rest.starts_with(['-', '+']) {
            return None;
        }
        negative = true;
        s = rest;
    }
    s = strip_leading_zeros(s)?;
    if let Some(point) = s.find('.') {
        let decimals = &s[point + 1..];
        if !decimals.is_empty() && decimals.bytes().all(|b| b == b'0') {
            s = &s[..point];
        }
    }
    let sign = if negative { "-" } else { "" };
    if let Some(stripped) = strip_underscores(s) {
        return Some(format!("{sign}{stripped}"));
    }
    if s.len() == raw.len() {
        return None;
    }
    Some(format!("{sign}{s}"))
}

/// pydantic-core's `strip_leading_zeros`: zeros and underscores before the first other digit,
/// `-` or `.` go (one zero stays before a `.`, and the last character of an all-zero text).
fn strip_leading_zeros(s: &str) -> Option<&str> {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '0')) => {}
        Some((_, '1'..='9' | '-')) => return Some(s),
        _ => return None,
    }
    for (i, c) in chars {
        match c {
            '0' | '_' => {}
            '1'..='9' | '-' => return Some(&s[i..]),
            // The previous character is an ASCII '0' or '_', so `i - 1` is a boundary.
            '.' => return s.get(i - 1..),
            _ => return None,
        }
    }
    s.get(s.len() - 1..)
}

/// pydantic-core's `strip_underscores`: single underscores between characters, as Python's
/// `int()` allows them; `None` when there are none or they are misplaced.
fn strip_underscores(s: &str) -> Option<String> {
    if s.starts_with('_') || s.ends_with('_') || !s.contains('_') || s.contains("__") {
        None
    } else {
        Some(s.replace('_', ""))
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// `GET /items/{item_id}`; `raw` is the percent-decoded path segment.
pub fn get_item(raw: &str) -> Response<Body> {
    match ItemId::parse(raw) {
        Ok(id) if id.is_one() => response::json(StatusCode::OK, THE_ONE_ITEM),
        Ok(id) => response::detail(
            StatusCode::NOT_FOUND,
            &format!("Item with ID {id} not found."),
        ),
        Err(err) => {
            let (kind, msg) = match err {
                ItemIdError::NotAnInteger => (
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                ),
                ItemIdError::TooLong => (
                    "int_parsing_size",
                    "Unable to parse input string as an integer, exceeded maximum size",
                ),
            };
            let mut errors = ErrorList::default();
            errors.push(kind, &["path", "item_id"], msg, &Value::Str(raw.to_owned()));
            errors.into_response()
        }
    }
}

/// `POST /items`: FastAPI's body decision order, then the `CreateItemRequest` model.
pub fn create_item(content_type: Option<&HeaderValue>, body: &[u8]) -> Response<Body> {
    if body.is_empty() {
        let mut errors = ErrorList::default();
        errors.push("missing", &["body"], "Field required", &Value::Null);
        return errors.into_response();
    }
    let input = if is_json(content_type) {
        match pyjson::loads(body) {
            Ok(value) => value,
            Err(DecodeError::Syntax { pos, msg }) => return json_invalid(pos, msg),
            Err(DecodeError::Undecodable) => return body_parse_error(),
        }
    } else {
        // Not JSON: the model receives the raw bytes and rejects them, echoing them as text.
        match std::str::from_utf8(body) {
            Ok(text) => Value::Str(text.to_owned()),
            Err(_) => return body_parse_error(),
        }
    };
    match validate(&input) {
        // The original fails to encode such a name (500); duplex gives FastAPI's answer for text
        // it cannot decode.
        Ok(NewItem { name: None, .. }) => body_parse_error(),
        Ok(NewItem {
            name: Some(name),
            is_offer,
        }) => {
            let mut out = String::with_capacity(80 + name.len());
            out.push_str(r#"{"message":"Item created successfully","item_data":{"name":"#);
            pyjson::write_str(&mut out, name);
            out.push_str(match is_offer {
                Some(true) => r#","is_offer":true}}"#,
                Some(false) => r#","is_offer":false}}"#,
                None => r#","is_offer":null}}"#,
            });
            response::json(StatusCode::CREATED, out)
        }
        Err(errors) => errors.into_response(),
    }
}

/// 400 `{"detail":"There was an error parsing the body"}`, FastAPI's answer for bodies it cannot
/// decode.
fn body_parse_error() -> Response<Body> {
    response::detail(
        StatusCode::BAD_REQUEST,
        "There was an error parsing the body",
    )
}

/// FastAPI with `strict_content_type`: JSON only for `application/json` and `application/*+json`,
/// parsed like `email.message.Message.get_content_type()`.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let value = value.as_bytes();
    let essence = value.split(|&b| b == b';').next().unwrap_or_default();
    let essence = String::from_utf8_lossy(essence).to_lowercase();
    let essence = essence.trim();
    let mut parts = essence.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("application"), Some(subtype), None) => {
            subtype == "json" || subtype.ends_with("+json")
        }
        _ => false,
    }
}

/// A valid `CreateItemRequest`.
#[derive(Debug, PartialEq, Eq)]
struct NewItem<'a> {
    /// `None` for a str holding a lone surrogate: valid, but it cannot be written back.
    name: Option<&'a str>,
    is_offer: Option<bool>,
}

fn validate(input: &Value) -> Result<NewItem<'_>, ErrorList> {
    let Value::Object(fields) = input else {
        let mut errors = ErrorList::default();
        errors.push(
            "model_attributes_type",
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            input,
        );
        return Err(errors);
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let mut errors = ErrorList::default();

    let name = match field("name") {
        Some(Value::Str(name)) => Some(Some(name.as_str())),
        Some(Value::Unencodable) => Some(None),
        Some(other) => {
            errors.push(
                "string_type",
                &["body", "name"],
                "Input should be a valid string",
                other,
            );
            None
        }
        None => {
            errors.push("missing", &["body", "name"], "Field required", input);
            None
        }
    };

    let is_offer = match field("is_offer") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => lax_bool(value).map(Some).map_err(|err| {
            errors.push(err.kind(), &["body", "is_offer"], err.msg(), value);
        }),
    };

    match (name, is_offer) {
        (Some(name), Ok(is_offer)) => Ok(NewItem { name, is_offer }),
        _ => Err(errors),
    }
}

/// Why a value is not a lax bool: pydantic's two error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BoolError {
    /// `bool_parsing`: a string, or a number that is an integer, other than the accepted ones.
    Parsing,
    /// `bool_type`: anything pydantic does not even try to interpret.
    Type,
}

impl BoolError {
    fn kind(self) -> &'static str {
        match self {
            Self::Parsing => "bool_parsing",
            Self::Type => "bool_type",
        }
    }

    fn msg(self) -> &'static str {
        match self {
            Self::Parsing => "Input should be a valid boolean, unable to interpret input",
            Self::Type => "Input should be a valid boolean",
        }
    }
}

/// pydantic-core's lax (Python-mode) bool, as FastAPI applies it to the output of `json.loads`.
fn lax_bool(value: &Value) -> Result<bool, BoolError> {
    match value {
        Value::Bool(b) => Ok(*b),
        // `str_as_bool`: exact words, ASCII case folded, no trimming.
        Value::Str(s) => {
            let is = |words: &[&str]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
            if is(&["0", "off", "f", "false", "n", "no"]) {
                Ok(false)
            } else if is(&["1", "on", "t", "true", "y", "yes"]) {
                Ok(true)
            } else {
                Err(BoolError::Parsing)
            }
        }
        // A str, and not one of the words.
        Value::Unencodable => Err(BoolError::Parsing),
        Value::Int(int) => match int.as_i64() {
            Some(small) => int_as_bool(small),
            // An int that does not fit an i64 is tried as a float, and every such float is
            // outside the range `float_as_int` accepts.
            None => Err(BoolError::Type),
        },
        Value::Float(f) => float_as_bool(*f),
        Value::Null | Value::Array(_) | Value::Object(_) => Err(BoolError::Type),
    }
}

/// `int_as_bool`: only 0 and 1 mean something.
fn int_as_bool(int: i64) -> Result<bool, BoolError> {
    match int {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(BoolError::Parsing),
    }
}

/// pydantic-core's `float_as_int` then `int_as_bool`: a finite float with no fraction strictly
/// inside the i64 range is judged as that integer (so `100.0` is `bool_parsing`); any other float
/// is `bool_type`.
fn float_as_bool(f: f64) -> Result<bool, BoolError> {
    // Both bounds are exclusive in pydantic-core; `i64::MAX as f64` rounds up to 2^63.
    let in_range = (i64::MIN as f64) < f && f < (i64::MAX as f64);
    if !f.is_finite() || f.fract() != 0.0 || !in_range {
        return Err(BoolError::Type);
    }
    int_as_bool(f as i64)
}

/// A FastAPI 422 body under construction: `{"detail":[{type, loc, msg, input[, ctx]}, ...]}`.
#[derive(Debug, Default)]
struct ErrorList {
    json: String,
    /// An input holds a lone surrogate: the original fails to encode this list (500).
    unencodable: bool,
}

impl ErrorList {
    fn push(&mut self, kind: &str, loc: &[&str], msg: &str, input: &Value) {
        self.unencodable |= !input.is_encodable();
        self.open(kind, loc, msg);
        pyjson::write_value(&mut self.json, input);
        self.json.push('}');
    }

    fn open(&mut self, kind: &str, loc: &[&str], msg: &str) {
        self.json.push_str(if self.json.is_empty() {
            "{\"detail\":["
        } else {
            ","
        });
        self.json.push_str("{\"type\":");
        pyjson::write_str(&mut self.json, kind);
        self.json.push_str(",\"loc\":[");
        for (i, part) in loc.iter().enumerate() {
            if i > 0 {
                self.json.push(',');
            }
            pyjson::write_str(&mut self.json, part);
        }
        self.json.push_str("],\"msg\":");
        pyjson::write_str(&mut self.json, msg);
        self.json.push_str(",\"input\":");
    }

    fn into_response(mut self) -> Response<Body> {
        if self.unencodable {
            return body_parse_error();
        }
        self.json.push_str("]}");
        response::json(StatusCode::UNPROCESSABLE_ENTITY, self.json)
    }
}

/// 422 `json_invalid` with CPython's message at its code-point position.
fn json_invalid(pos: usize, msg: &str) -> Response<Body> {
    let mut json = String::with_capacity(160);
    json.push_str(r#"{"detail":[{"type":"json_invalid","loc":["body","#);
    json.push_str(&pos.to_string());
    json.push_str(r#"],"msg":"JSON decode error","input":{},"ctx":{"error":"#);
    pyjson::write_str(&mut json, msg);
    json.push_str("}}]}");
    response::json(StatusCode::UNPROCESSABLE_ENTITY, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> Result<String, ItemIdError> {
        ItemId::parse(raw).map(|id| id.to_string())
    }

    #[test]
    fn item_ids_follow_pydantic_lax_integers() {
        for (raw, canonical) in [
            ("1", "1"),
            ("01", "1"),
            ("+1", "1"),
            ("1.0", "1"),
            ("1.00", "1"),
            (" 1", "1"),
            ("1 ", "1"),
            ("\t\n1", "1"),
            ("-0", "0"),
            ("1_000", "1000"),
            ("-1.0", "-1"),
            ("99999999999999999999999", "99999999999999999999999"),
            ("-9223372036854775809", "-9223372036854775809"),
        ] {
            assert_eq!(id(raw), Ok(canonical.to_owned()), "{raw:?}");
        }
        for raw in [
            "abc", "1.5", "1e3", "1.", ".0", "0x10", "-", "+", "--1", "1__0", "_1", "1_", "true",
            " ", "é", "１", "1e0", "",
        ] {
            assert_eq!(id(raw), Err(ItemIdError::NotAnInteger), "{raw:?}");
        }
        assert!(id(&"9".repeat(4300)).is_ok());
        assert_eq!(id(&"9".repeat(4301)), Err(ItemIdError::TooLong));
    }

    #[test]
    fn whitespace_before_a_long_id_makes_it_int_parsing_not_size() {
        // Only a bare digit run is measured; the cleaned-up retry fails as plain int_parsing.
        assert_eq!(
            id(&format!(" {}", "9".repeat(4301))),
            Err(ItemIdError::NotAnInteger)
        );
    }

    #[test]
    fn whitespace_around_4300_digits_is_still_an_id() {
        assert!(id(&format!("\u{b}{}\u{2003}", "9".repeat(4300))).is_ok());
    }

    #[test]
    fn leading_zeros_do_not_count_toward_the_size_limit() {
        assert_eq!(id(&format!("{}1", "0".repeat(5000))), Ok("1".to_owned()));
    }

    #[test]
    fn a_minus_sign_does_not_count_toward_the_size_limit() {
        let digits = "9".repeat(4300);
        assert_eq!(id(&format!("-{digits}")), Ok(format!("-{digits}")));
        assert_eq!(id(&format!("-{digits}9")), Err(ItemIdError::TooLong));
    }

    #[test]
    fn a_digit_run_over_4300_is_too_long_whatever_follows() {
        assert_eq!(
            id(&format!("{}.0", "9".repeat(4301))),
            Err(ItemIdError::TooLong)
        );
        assert_eq!(
            id(&format!("{}x", "9".repeat(4301))),
            Err(ItemIdError::TooLong)
        );
    }

    #[test]
    fn underscores_that_hide_more_than_4300_digits_are_int_parsing() {
        assert_eq!(
            id(&format!("1_{}", "9".repeat(4300))),
            Err(ItemIdError::NotAnInteger)
        );
    }

    #[test]
    fn a_plus_sign_before_4300_digits_is_an_id() {
        assert!(id(&format!("+{}", "9".repeat(4300))).is_ok());
    }

    #[test]
    fn leading_zeros_may_hide_a_minus_sign() {
        // pydantic-core's strip_leading_zeros stops at '-' and keeps it: "0-1" is -1.
        for (raw, canonical) in [("0-1", "-1"), ("00-1", "-1"), ("0_-1", "-1"), ("0-0", "0")] {
            assert_eq!(id(raw), Ok(canonical.to_owned()), "{raw:?}");
        }
        for raw in ["-0-1", "0-", "0.0-1", "0.-1"] {
            assert_eq!(id(raw), Err(ItemIdError::NotAnInteger), "{raw:?}");
        }
    }

    #[test]
    fn underscores_among_leading_zeros_are_skipped() {
        assert_eq!(id("0__1"), Ok("1".to_owned()));
        assert_eq!(id("0_"), Err(ItemIdError::NotAnInteger));
        assert_eq!(id("0._0"), Err(ItemIdError::NotAnInteger));
    }

    async fn post(content_type: Option<&'static str>, body: &str) -> (StatusCode, String) {
        let content_type = content_type.map(HeaderValue::from_static);
        let response = create_item(content_type.as_ref(), body.as_bytes());
        let status = response.status();
        (status, body_text(response).await)
    }

    async fn body_text(response: Response<Body>) -> String {
        use http_body_util::BodyExt;
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    const JSON: Option<&str> = Some("application/json");

    #[tokio::test]
    async fn valid_items_are_echoed_with_is_offer_normalised() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":"YES","extra":NaN}"#).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            body,
            r#"{"message":"Item created successfully","item_data":{"name":"x","is_offer":true}}"#
        );
    }

    #[tokio::test]
    async fn both_field_errors_are_reported_in_field_order() {
        let (status, body) = post(JSON, r#"{"name":123,"is_offer":"maybe"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            concat!(
                r#"{"detail":[{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":123},"#,
                r#"{"type":"bool_parsing","loc":["body","is_offer"],"msg":"Input should be a valid boolean, unable to interpret input","input":"maybe"}]}"#
            )
        );
    }

    #[test]
    fn lax_bools_match_pydantic() {
        for (input, expected) in [
            ("0", Ok(false)),
            ("1", Ok(true)),
            ("0.0", Ok(false)),
            ("1e0", Ok(true)),
            ("\"Off\"", Ok(false)),
            ("2", Err(BoolError::Parsing)),
            ("-1", Err(BoolError::Parsing)),
            ("\" yes\"", Err(BoolError::Parsing)),
            ("\"\"", Err(BoolError::Parsing)),
            ("0.5", Err(BoolError::Type)),
            ("100000000000000000000", Err(BoolError::Type)),
            ("[]", Err(BoolError::Type)),
            ("{}", Err(BoolError::Type)),
        ] {
            let value = pyjson::loads(input.as_bytes()).unwrap_or(Value::Null);
            assert_eq!(lax_bool(&value), expected, "{input}");
        }
    }

    /// The 422 body the original sends for one `is_offer` error.
    fn is_offer_error(kind: &str, input: &str) -> String {
        let msg = match kind {
            "bool_parsing" => "Input should be a valid boolean, unable to interpret input",
            _ => "Input should be a valid boolean",
        };
        format!(
            r#"{{"detail":[{{"type":"{kind}","loc":["body","is_offer"],"msg":"{msg}","input":{input}}}]}}"#
        )
    }

    #[tokio::test]
    async fn integral_floats_other_than_0_and_1_are_bool_parsing() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":100.0}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_parsing", "100.0"));
    }

    #[tokio::test]
    async fn integral_floats_in_exponent_form_are_bool_parsing() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":1e16}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_parsing", "1e+16"));
    }

    #[tokio::test]
    async fn negative_integral_floats_are_bool_parsing() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":-1.0}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_parsing", "-1.0"));
    }

    #[tokio::test]
    async fn the_largest_float_below_2_pow_63_is_bool_parsing() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":9223372036854774784.0}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            is_offer_error("bool_parsing", "9.223372036854775e+18")
        );
    }

    #[tokio::test]
    async fn integral_floats_outside_i64_are_bool_type() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":1e19}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_type", "1e+19"));
    }

    #[tokio::test]
    async fn minus_2_pow_63_as_a_float_is_bool_type() {
        // pydantic's float-to-int bound is exclusive at both ends.
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":-9223372036854775808.0}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_type", "-9.223372036854776e+18"));
    }

    #[tokio::test]
    async fn the_smallest_i64_as_an_integer_is_bool_parsing() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":-9223372036854775808}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_parsing", "-9223372036854775808"));
    }

    #[tokio::test]
    async fn integers_beyond_i64_are_bool_type() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":9223372036854775808}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_type", "9223372036854775808"));
    }

    #[tokio::test]
    async fn negative_zero_float_is_false() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":-0.0}"#).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            body,
            r#"{"message":"Item created successfully","item_data":{"name":"x","is_offer":false}}"#
        );
    }

    #[tokio::test]
    async fn bool_strings_are_not_trimmed() {
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":" 1 "}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_parsing", r#"" 1 ""#));
    }

    #[tokio::test]
    async fn bool_strings_ignore_ascii_case_only() {
        // U+212A KELVIN SIGN and U+017F LONG S fold to ASCII letters under Unicode rules.
        let (status, body) = post(JSON, r#"{"name":"x","is_offer":"yeſ"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_parsing", "\"ye\u{17f}\""));
    }

    #[tokio::test]
    async fn booleans_are_not_names() {
        let (status, body) = post(JSON, r#"{"name":true}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            r#"{"detail":[{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":true}]}"#
        );
    }

    #[tokio::test]
    async fn a_repeated_name_keeps_the_last_value() {
        let (status, body) = post(JSON, r#"{"name":1,"name":"y"}"#).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            body,
            r#"{"message":"Item created successfully","item_data":{"name":"y","is_offer":null}}"#
        );
    }

    const CREATED_X: &str =
        r#"{"message":"Item created successfully","item_data":{"name":"x","is_offer":null}}"#;

    #[tokio::test]
    async fn a_lone_surrogate_in_an_ignored_field_is_accepted() {
        let (status, body) = post(JSON, r#"{"name":"x","extra":"\ud800"}"#).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body, CREATED_X);
    }

    #[tokio::test]
    async fn a_lone_surrogate_in_an_ignored_key_is_accepted() {
        let (status, body) = post(JSON, r#"{"name":"x","\ud800":1,"\ufffd":2}"#).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body, CREATED_X);
    }

    #[tokio::test]
    async fn encoded_surrogate_bytes_in_an_ignored_field_are_accepted() {
        let response = create_item(
            Some(&HeaderValue::from_static("application/json")),
            b"{\"name\":\"x\",\"e\":\"\xed\xa0\x80\"}",
        );
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(body_text(response).await, CREATED_X);
    }

    #[tokio::test]
    async fn a_lone_surrogate_name_is_valid_when_another_error_is_reported() {
        let (status, body) = post(JSON, r#"{"name":"\ud800","is_offer":2}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body, is_offer_error("bool_parsing", "2"));
    }

    #[tokio::test]
    async fn a_lone_surrogate_replaced_by_a_repeated_key_is_forgotten() {
        let (status, body) = post(JSON, r#"{"a":"\ud800","a":1}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            r#"{"detail":[{"type":"missing","loc":["body","name"],"msg":"Field required","input":{"a":1}}]}"#
        );
    }

    #[tokio::test]
    async fn an_echoed_lone_surrogate_gets_the_parse_error_400() {
        // The original answers 500; the README lists this difference.
        for body in [
            r#"{"name":"\ud800"}"#,
            r#"{"name":"x","is_offer":"\ud800"}"#,
            r#"{"\ud800":1}"#,
            r#"["\ud800"]"#,
        ] {
            let (status, answer) = post(JSON, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(
                answer,
                r#"{"detail":"There was an error parsing the body"}"#
            );
        }
    }

    #[tokio::test]
    async fn a_syntax_error_after_a_lone_surrogate_is_json_invalid() {
        let (status, body) = post(JSON, r#"{"name":"\ud800",}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            r#"{"detail":[{"type":"json_invalid","loc":["body",17],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}"#
        );
    }

    #[tokio::test]
    async fn nesting_of_956_levels_in_an_ignored_field_is_accepted() {
        let deep = format!("{}{}", "[".repeat(956), "]".repeat(956));
        let (status, body) = post(JSON, &format!(r#"{{"name":"x","extra":{deep}}}"#)).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body, CREATED_X);
    }

    #[tokio::test]
    async fn input_nested_deeper_than_python_can_encode_is_echoed() {
        // The original answers 500 beyond 952 levels; the README lists this difference.
        let deep = format!("{}{}", "[".repeat(956), "]".repeat(956));
        let (status, body) = post(JSON, &format!(r#"{{"name":{deep}}}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            format!(
                r#"{{"detail":[{{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":{deep}}}]}}"#
            )
        );
    }

    #[tokio::test]
    async fn nesting_of_958_levels_gets_the_parse_error_400() {
        let deep = format!("{}{}", "[".repeat(957), "]".repeat(957));
        let (status, body) = post(JSON, &format!(r#"{{"name":"x","extra":{deep}}}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, r#"{"detail":"There was an error parsing the body"}"#);
    }

    #[test]
    fn content_types_decide_whether_the_body_is_json() {
        for json in [
            "application/json",
            "APPLICATION/JSON",
            " application/json ",
            "application/json;charset=latin-1",
            "application/vnd.api+json",
        ] {
            assert!(is_json(Some(&HeaderValue::from_static(json))), "{json}");
        }
        for raw in [
            "",
            "text/plain",
            "text/json",
            "application/jsonx",
            "application/json/x",
        ] {
            assert!(!is_json(Some(&HeaderValue::from_static(raw))), "{raw}");
        }
        assert!(!is_json(None));
    }

    #[tokio::test]
    async fn raw_bodies_reach_the_model_as_text() {
        let (status, body) = post(Some("text/plain"), "abc").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains(r#""type":"model_attributes_type","loc":["body"]"#));
        assert!(body.ends_with(r#""input":"abc"}]}"#));
    }

    #[tokio::test]
    async fn undecodable_bodies_get_400() {
        let response = create_item(None, b"\xff");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body_text(response).await,
            r#"{"detail":"There was an error parsing the body"}"#
        );
    }

    #[tokio::test]
    async fn syntax_errors_carry_position_and_message() {
        let (status, body) = post(JSON, r#"{"name":"\q"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            r#"{"detail":[{"type":"json_invalid","loc":["body",9],"msg":"JSON decode error","input":{},"ctx":{"error":"Invalid \\escape"}}]}"#
        );
    }
}
