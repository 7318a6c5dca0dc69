//! Any bytes from a WebSocket client, fed in pieces, with and without permessage-deflate:
//! messages within the limit, or a close code from RFC 6455's list; never a panic.
#![no_main]

use bytes::BytesMut;
use duplex::protocol::ws::Agreement;
use duplex::protocol::ws::{Decoder, Inbound, Role};

const LIMIT: usize = 4096;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let agreement = Agreement {
        response: String::new(),
        server_no_context_takeover: flags & 1 != 0,
        client_no_context_takeover: flags & 2 != 0,
        server_max_window_bits: 15,
        client_max_window_bits: None,
    };
    let deflate = (flags & 4 != 0).then_some(&agreement);
    let mut decoder = Decoder::new(Role::Server, LIMIT, deflate);
    let piece = usize::from(flags >> 3).max(1);
    let mut buf = BytesMut::new();
    for chunk in data.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Inbound::Message(message))) => {
                    let len = message.as_bytes().len();
                    assert!(len <= LIMIT, "{len} bytes passed the limit");
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    assert!(
                        matches!(err.code.as_u16(), 1002 | 1003 | 1007 | 1009),
                        "{err:?}"
                    );
                    return;
                }
            }
        }
    }
});
