//! Any `Range` header for a file of any size (the first 4 bytes): the whole file, sorted and
//! merged ranges inside it, 400 or 416.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((size, header)) = data.split_first_chunk::<4>() else {
        return;
    };
    let size = u64::from(u32::from_le_bytes(*size) % 100_000);
    common::check_range_header(&String::from_utf8_lossy(header), size);
});
