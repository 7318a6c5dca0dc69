//! Any `--credentials` file: loaded, or refused with a message naming where it came from.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(err) = duplex::protocol::login::Credentials::from_json(&text, "from fuzz") {
        assert!(err.to_string().contains("from fuzz"), "{err}");
    }
});
