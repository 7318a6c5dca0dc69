//! Any first message on `/ws/v5/private`: refused (never accepted unsigned), no panic.
#![no_main]

use std::sync::LazyLock;
use std::time::SystemTime;

static CREDENTIALS: LazyLock<duplex::protocol::login::Credentials> =
    LazyLock::new(duplex::protocol::login::Credentials::demo);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let message = String::from_utf8_lossy(data);
    assert!(CREDENTIALS.verify(&message, SystemTime::now()).is_err());
});
