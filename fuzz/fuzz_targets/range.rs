//! Any `Range` header for a file of any size (the first 4 bytes): the whole file, sorted and
//! merged ranges inside it, 400 or 416.
#![no_main]

use duplex::http::static_files::{RangeError, parse_range_header};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let size = u64::from(u32::from_le_bytes([data[0], data[1], data[2], data[3]]) % 100_000);
    let header = String::from_utf8_lossy(&data[4..]);
    match parse_range_header(&header, size) {
        Ok(ranges) => {
            let mut previous_end = None;
            for &(start, end) in &ranges {
                assert!(start < end && end <= size, "({start}, {end}) of {size}");
                if let Some(previous) = previous_end {
                    assert!(start > previous, "unmerged {ranges:?}");
                }
                previous_end = Some(end);
            }
        }
        Err(RangeError::Malformed(message)) => assert!(!message.is_empty()),
        Err(RangeError::NotSatisfiable) => {}
    }
});
