//! Property tests of every parser duplex owns, in process: for any input, no panic and an
//! answer that is one of the documented ones. `fuzz/` runs the same parsers under libFuzzer.

use std::time::{Duration, SystemTime};

use duplex::apps::guide::items::get_item;
use duplex::protocol::login::{Credentials, login_request};
use duplex::protocol::pyjson;
use http::HeaderValue;
use proptest::prelude::*;

// The fuzz targets' helpers, so both check answers the same way.
#[path = "../../fuzz/fuzz_targets/common.rs"]
mod common;
use common::answer;

/// JSON documents of every shape, as `serde_json` writes them.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Any path segment: 200 for the one item, 404 with a detail for other integers, 422 with
    /// pydantic's error list for everything else.
    #[test]
    fn item_ids_get_a_documented_answer(raw in any::<String>()) {
        common::check_item_id(&raw);
    }

    /// Every integer parses as Python's `int()` would: 1 is the item, the rest are not found.
    #[test]
    fn integer_item_ids_are_found_or_not_found(n in any::<i64>(), pad in "[ \t]{0,2}") {
        let (status, body) = answer(get_item(&format!("{pad}{n}{pad}")));
        if n == 1 {
            prop_assert_eq!(status, 200);
        } else {
            prop_assert_eq!(status, 404);
            let expected = format!(r#"{{"detail":"Item with ID {n} not found."}}"#);
            prop_assert_eq!(&body[..], expected.as_bytes());
        }
    }

    /// Any bytes decode or fail like `json.loads`: a syntax error's position is inside the text.
    #[test]
    fn json_decoding_never_panics_and_positions_stay_in_the_text(body in any::<Vec<u8>>()) {
        common::check_json_decoding(&body);
    }

    /// Every document `serde_json` writes is accepted.
    #[test]
    fn valid_json_is_accepted(value in json_value()) {
        let text = serde_json::to_string(&value).unwrap_or_default();
        prop_assert!(pyjson::loads(text.as_bytes()).is_ok(), "refused {text}");
    }

    /// `POST /items` with any body: 201, or 400/422 in FastAPI's shape.
    #[test]
    fn item_bodies_get_a_documented_answer(body in any::<Vec<u8>>(), json in any::<bool>()) {
        let content_type = HeaderValue::from_static(if json { "application/json" } else { "text/plain" });
        common::check_create_item(&content_type, &body);
    }

    /// Objects with any `name` and `is_offer` values: created exactly when the name is a string
    /// and `is_offer` is absent, null or a boolean.
    #[test]
    fn item_models_validate_their_fields(name in json_value(), is_offer in json_value()) {
        let body = serde_json::json!({"name": name, "is_offer": is_offer}).to_string();
        let content_type = HeaderValue::from_static("application/json");
        let status = common::check_create_item(&content_type, body.as_bytes());
        let valid = name.is_string() && (is_offer.is_null() || is_offer.is_boolean());
        // pydantic's lax mode also takes "yes", 0, 1.0 and friends for a boolean.
        if valid {
            prop_assert_eq!(status, 201);
        } else if !name.is_string() {
            prop_assert_eq!(status, 422);
        }
    }

    /// Any `Range` value: the whole file, sorted non-overlapping ranges inside the file, or one
    /// of the documented refusals.
    #[test]
    fn range_headers_give_ranges_inside_the_file(header in any::<String>(), size in 0u64..100_000) {
        common::check_range_header(&header, size);
    }

    /// Range-shaped values, which reach deeper into the parser than arbitrary text does.
    #[test]
    fn range_shaped_headers_give_ranges_inside_the_file(
        header in r"(bytes|BYTES|items)?=?( ?[0-9]{0,6}-?[0-9]{0,6},?){0,5}",
        size in 0u64..1_000,
    ) {
        common::check_range_header(&header, size);
    }

    /// Any login message is refused without a panic unless it is signed with the secret.
    #[test]
    fn login_messages_are_refused_unless_signed(message in any::<String>()) {
        let credentials = Credentials::demo();
        prop_assert!(credentials.verify(&message, SystemTime::now()).is_err());
    }

    /// A signed login passes for the demo key only, and only while it is fresh (±30 s).
    #[test]
    fn signed_logins_pass_only_for_the_right_key_and_time(
        api_key in prop_oneof![Just("abc".to_owned()), any::<String>()],
        skew in -120i64..120,
    ) {
        // Whole seconds, like the timestamp, so the boundary (±30 s) is exact.
        let now = SystemTime::UNIX_EPOCH
            + Duration::from_secs(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
        let then = if skew >= 0 {
            now + Duration::from_secs(skew.unsigned_abs())
        } else {
            now - Duration::from_secs(skew.unsigned_abs())
        };
        let timestamp = then
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default();
        let message = login_request(&api_key, "def", "pw", &timestamp);
        let verdict = Credentials::demo().verify(&message, now);
        let expected = api_key == "abc" && skew.abs() <= 30;
        prop_assert_eq!(verdict.is_ok(), expected, "{:?}", verdict);
    }

    /// Any credentials file: loaded, or refused with a message that names its origin.
    #[test]
    fn credentials_files_load_or_say_why(text in any::<String>()) {
        if let Err(err) = Credentials::from_json(&text, "from test") {
            prop_assert!(err.to_string().contains("from test"), "{err}");
        }
    }

    /// Credential-shaped files, so the field checks are reached.
    #[test]
    fn credential_shaped_files_load_or_say_why(
        entries in prop::collection::vec(
            (any::<String>(), any::<String>(), prop::option::of(any::<String>())), 0..4),
    ) {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|(key, secret, passphrase)| {
                serde_json::json!({"api_key": key, "secret": secret, "passphrase": passphrase})
            })
            .collect();
        let text = serde_json::Value::from(list).to_string();
        match Credentials::from_json(&text, "from test") {
            Ok(credentials) => prop_assert_eq!(credentials.len(), entries.len()),
            Err(err) => prop_assert!(err.to_string().contains("from test"), "{err}"),
        }
    }
}

/// The fuzz input that once failed the shared check: a 400-digit integer that duplex echoes
/// exactly in its 422, as the original does, and that `serde_json` could not read back.
#[test]
fn fuzz_regression_a_400_digit_integer_is_echoed_in_the_422() {
    let digits = "9".repeat(400);
    let body = format!(r#"{{"name": {digits}}}"#);
    let content_type = http::HeaderValue::from_static("application/json");
    assert_eq!(
        common::check_create_item(&content_type, body.as_bytes()),
        422
    );
    let (_, answer) = answer(duplex::apps::guide::items::create_item(
        Some(&content_type),
        body.as_bytes(),
    ));
    assert!(String::from_utf8_lossy(&answer).contains(&format!(r#""input":{digits}"#)));
}
